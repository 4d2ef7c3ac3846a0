//! The function cache: Cranelift's incremental compilation, kept in a
//! folder across runs, so that after an edit only the functions that changed
//! compile again.
//!
//! Where it pays: an app's edit-build-test loop. A JavaScript or Python
//! component is mostly its language's engine (about 12 and 18 MB), identical
//! from one build to the next, and a fresh test host compiled all of it each
//! time (seconds of CPU on every run). With this folder the engine's
//! functions come from disk. `keruj-host dev --function-cache DIR` turns it
//! on; the test harnesses give it `~/.cache/keruj-host/functions`. A serving host has no use for it: its compile cache keeps whole
//! components.
//!
//! Each entry is one file named by the SHA-256 of Cranelift's key (which
//! covers the function's code and the compiler's settings), written to a
//! temporary file and renamed, so that hosts sharing the folder (tests run
//! in parallel) see a whole entry or none. An entry that cannot be read is a
//! miss: Cranelift compiles the function and writes it again.
//!
//! The folder is bounded: a few of a component's functions get a new key on
//! every compile (about 5 to 10% here), so each run adds some. When a host
//! opens the folder and finds it over [`MAX_BYTES`], a background thread
//! deletes the oldest entries until it is under three quarters of that; a
//! deleted entry costs one compile of its function.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::CacheStore;

/// A folder of compiled functions, for [`wasmtime::Config::enable_incremental_compilation`].
#[derive(Debug)]
pub struct FunctionCache {
    dir: PathBuf,
}

impl FunctionCache {
    /// The cache in `dir`, created if missing (readable by this user only);
    /// pruned in the background when it holds more than [`MAX_BYTES`].
    ///
    /// Refused unless `dir` is a folder of this user's that no one else may
    /// write: its entries are machine code the host runs, so a folder
    /// another user prepared (a name taken first in a shared temporary
    /// folder, say) must never be read.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<FunctionCache> {
        let dir = dir.into();
        create_private(&dir)?;
        check_private(&dir)?;
        let pruned = dir.clone();
        std::thread::Builder::new()
            .name("function-cache-prune".into())
            .spawn(move || prune(&pruned, MAX_BYTES))?;
        Ok(FunctionCache { dir })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry of `key` lives: fanned out over 256 folders, so that
    /// no folder holds tens of thousands of files.
    fn path(&self, key: &[u8]) -> PathBuf {
        let name = hex::encode(Sha256::digest(key));
        self.dir.join(&name[..2]).join(&name[2..])
    }
}

#[cfg(unix)]
fn create_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// `dir` itself (not a symbolic link) is owned by this user, and neither
/// its group nor others may write to it.
#[cfg(unix)]
fn check_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.is_dir() && metadata.uid() == me && metadata.mode() & 0o022 == 0 {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "{} is not a folder of this user's that only it may write: the host runs the \
             compiled code it holds, so it is not used (delete it, or name another)",
            dir.display()
        ),
    ))
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// How much the folder may hold: about a dozen language engines' worth.
pub const MAX_BYTES: u64 = 1 << 30;

/// Deletes the oldest entries under `dir` while it holds more than `max`
/// bytes, down to three quarters of `max`. Returns the entries deleted.
fn prune(dir: &Path, max: u64) -> usize {
    let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    let folders = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for folder in folders.filter(|entry| entry.path().is_dir()) {
        for entry in std::fs::read_dir(folder.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            let written = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push((written, metadata.len(), entry.path()));
        }
    }
    let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
    if total <= max {
        return 0;
    }
    entries.sort();
    let mut deleted = 0;
    for (_, len, path) in entries {
        if total <= max / 4 * 3 {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            deleted += 1;
        }
    }
    tracing::info!(dir = %dir.display(), deleted, "function cache pruned");
    deleted
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        std::fs::read(self.path(key)).ok().map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let path = self.path(key);
        let Some(folder) = path.parent() else {
            return false;
        };
        let temporary = folder.join(format!(
            ".{}-{}.tmp",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::create_dir_all(folder)
            .and_then(|()| std::fs::write(&temporary, &value))
            .and_then(|()| std::fs::rename(&temporary, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_and_a_missing_one_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FunctionCache::open(dir.path().join("functions")).unwrap();
        assert!(cache.get(b"key").is_none());
        assert!(cache.insert(b"key", b"compiled".to_vec()));
        assert_eq!(cache.get(b"key").as_deref(), Some(&b"compiled"[..]));
        // Another host on the same folder sees it.
        let other = FunctionCache::open(cache.dir()).unwrap();
        assert_eq!(other.get(b"key").as_deref(), Some(&b"compiled"[..]));
        assert!(other.get(b"other key").is_none());
    }

    #[test]
    fn a_second_compile_takes_most_functions_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/plugins/hello-0.1.0.wasm"
        );
        let wasm = std::fs::read(fixture).unwrap();
        let engine = |cache: &std::sync::Arc<FunctionCache>| {
            let mut config = wasmtime::Config::new();
            config.wasm_component_model(true);
            config
                .enable_incremental_compilation(cache.clone())
                .unwrap();
            wasmtime::Engine::new(&config).unwrap()
        };
        let cache = std::sync::Arc::new(FunctionCache::open(dir.path()).unwrap());
        let first = wasmtime::component::Component::new(&engine(&cache), &wasm).unwrap();
        let entries = |dir: &Path| walk(dir).len();
        let stored = entries(dir.path());
        assert!(stored > 0, "compiling stored no function");
        let again = wasmtime::component::Component::new(&engine(&cache), &wasm).unwrap();
        // Most functions came from the cache; a few get new keys each time.
        let added = entries(dir.path()) - stored;
        assert!(
            added < stored / 4,
            "a second compile stored {added} of {stored} again"
        );
        assert_eq!(
            first.serialize().unwrap().len(),
            again.serialize().unwrap().len()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = FunctionCache::open(&shared).unwrap_err().to_string();
        assert!(error.contains("only it may write"), "{error}");
        // A link to a folder is refused too: the name must be the folder.
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(dir.path().join("own"), &linked).unwrap();
        std::fs::create_dir(dir.path().join("own")).unwrap();
        assert!(FunctionCache::open(&linked).is_err());
        // A new one is this user's alone.
        let made = FunctionCache::open(dir.path().join("made/functions")).unwrap();
        let mode = std::fs::metadata(made.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn the_oldest_entries_go_when_the_folder_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FunctionCache::open(dir.path()).unwrap();
        let day = std::time::Duration::from_secs(86_400);
        for age in 0..8u32 {
            let key = age.to_le_bytes();
            assert!(cache.insert(&key, vec![0; 1000]));
            let written = SystemTime::now() - day * age;
            let file = std::fs::File::options()
                .write(true)
                .open(cache.path(&key))
                .unwrap();
            file.set_modified(written).unwrap();
        }
        assert_eq!(prune(dir.path(), 8_000), 0, "not over the bound");
        // Over 6,000 bytes: down to 4,500, the four oldest first.
        assert_eq!(prune(dir.path(), 6_000), 4);
        for age in 0..8u32 {
            let kept = cache.get(&age.to_le_bytes()).is_some();
            assert_eq!(kept, age < 4, "the entry {age} days old");
        }
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            match entry.path().is_dir() {
                true => files.extend(walk(&entry.path())),
                false => files.push(entry.path()),
            }
        }
        files
    }
}
