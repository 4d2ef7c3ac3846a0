//! The compile cache: `DATA/cache/` holds every plugin the host compiled, as
//! wasmtime's serialized native code, so that a restart with many plugins
//! loads them in milliseconds instead of compiling each one again.
//!
//! An entry is named `<sha256 of the .wasm>-<engine tag>.cwasm`. The engine
//! tag digests [`Engine::precompile_compatibility_hash`] (the wasmtime version
//! and every setting that changes the code), so a wasmtime upgrade or a
//! configuration change never even looks at an older artifact: it misses and
//! compiles again. Each file is `MAGIC`, then the SHA-256 of the artifact,
//! then the artifact; the checksum is verified before the artifact is handed
//! to wasmtime. A missing, truncated, corrupt or stale entry costs one
//! compile: it is logged, deleted and rebuilt, never trusted.
//!
//! Entries are written to a temporary file in the same folder, then renamed:
//! a reader sees a whole entry or none, even if the host dies mid-write.

use std::collections::HashSet;
use std::hash::Hasher;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The first bytes of every entry (the format's version is its last digit).
const MAGIC: &[u8; 8] = b"KERUJCC1";
/// What precedes the artifact: the magic and the artifact's SHA-256.
const HEADER_LEN: usize = MAGIC.len() + 32;
/// The extension of entries; anything else in the folder is left alone.
const EXTENSION: &str = "cwasm";

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Deserialized from a verified cache entry: no compile.
    Cache,
    /// Compiled now (and stored in the cache for next time, if it could be).
    Compiled,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cache => "cache",
            Origin::Compiled => "compiled",
        }
    }
}

/// A folder of compiled components for one engine.
#[derive(Debug)]
pub struct CompileCache {
    dir: PathBuf,
    /// Hex digest of the engine's compatibility hash: part of every key.
    engine_tag: String,
}

impl CompileCache {
    /// Uses (and creates) `dir` for `engine`'s artifacts.
    pub fn open(dir: impl Into<PathBuf>, engine: &Engine) -> std::io::Result<CompileCache> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(CompileCache {
            dir,
            engine_tag: engine_tag(engine),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for a `.wasm` whose hex SHA-256 is `wasm_digest`.
    pub fn entry_path(&self, wasm_digest: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_digest}-{}.{EXTENSION}", self.engine_tag))
    }

    /// The component for these `.wasm` bytes: from the cache when a valid
    /// entry exists, else compiled now and stored. CPU-heavy on a miss.
    pub fn compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_digest: &str,
    ) -> anyhow::Result<(Component, Origin)> {
        if let Some(component) = self.load(engine, wasm_digest) {
            return Ok((component, Origin::Cache));
        }
        let component = Component::new(engine, wasm)?;
        self.store(wasm_digest, &component);
        Ok((component, Origin::Compiled))
    }

    /// A valid entry's component, or `None` (a miss; a bad entry is logged
    /// and deleted so the next store rebuilds it).
    pub fn load(&self, engine: &Engine, wasm_digest: &str) -> Option<Component> {
        let path = self.entry_path(wasm_digest);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "compile cache entry unreadable, compiling");
                return None;
            }
        };
        let Some(artifact) = verified_artifact(&bytes) else {
            self.discard(&path, "corrupt (bad header or checksum)");
            return None;
        };
        // SAFETY: `Component::deserialize` trusts its input to be an artifact
        // that `Component::serialize` produced for a compatible engine, since
        // it maps it as native code. These bytes are: the cache folder is the
        // host's own (inside DATA, beside the database and the identity, so
        // whoever can write it could replace those too); the host wrote this
        // file itself with `store`, from `serialize`; the SHA-256 just
        // verified proves the bytes are the ones it wrote (not truncated or
        // damaged on disk); the key's engine tag matched this engine's
        // compatibility hash, and wasmtime checks that hash again inside the
        // artifact, refusing (with an error, not UB) one from another
        // version or configuration.
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Some(component),
            Err(error) => {
                self.discard(&path, &format!("stale ({error})"));
                None
            }
        }
    }

    /// Stores `component` as the entry for `wasm_digest`, atomically. A
    /// failure only costs a compile next time, so it is logged, not returned.
    pub fn store(&self, wasm_digest: &str, component: &Component) {
        let path = self.entry_path(wasm_digest);
        let result = component
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|artifact| write_atomically(&path, &artifact));
        if let Err(error) = result {
            tracing::warn!(path = %path.display(), %error, "cannot write a compile cache entry");
        }
    }

    /// Deletes every entry but those of `keep` (hex SHA-256 of `.wasm` files)
    /// for this engine: versions no longer in the folder and artifacts of
    /// other engines. Temporary files left by a crash go too.
    pub fn retain(&self, keep: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let keep: HashSet<PathBuf> = keep.iter().map(|d| self.entry_path(d)).collect();
        for entry in entries.flatten() {
            let path = entry.path();
            let is_entry = path.extension().is_some_and(|e| e == EXTENSION);
            let is_temp = path.extension().is_some_and(|e| e == "tmp");
            if (is_entry || is_temp) && !keep.contains(&path) {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::debug!(path = %path.display(), "compile cache entry pruned")
                    }
                    Err(error) => {
                        tracing::debug!(path = %path.display(), %error, "cannot prune")
                    }
                }
            }
        }
    }

    fn discard(&self, path: &Path, why: &str) {
        tracing::warn!(path = %path.display(), "compile cache entry {why}: ignored, rebuilding");
        let _ = std::fs::remove_file(path);
    }
}

/// The artifact inside an entry, if the header and checksum are right.
fn verified_artifact(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (checksum, artifact) = bytes[MAGIC.len()..].split_at(32);
    (Sha256::digest(artifact).as_slice() == checksum).then_some(artifact)
}

/// Writes `MAGIC`, the checksum and `artifact` to a temporary file beside
/// `path`, then renames it over `path`.
fn write_atomically(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let temp = path.with_extension(format!(
        "{}-{}.tmp",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let mut bytes = Vec::with_capacity(HEADER_LEN + artifact.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&Sha256::digest(artifact));
    bytes.extend_from_slice(artifact);
    // No fsync: a crash may leave a short or empty file behind the rename,
    // and the checksum turns that into a miss, never into a bad load.
    let written = std::fs::write(&temp, &bytes).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The first 16 hex digits of the SHA-256 of the engine's compatibility hash.
fn engine_tag(engine: &Engine) -> String {
    /// Feeds `Hash` output into SHA-256, which, unlike `DefaultHasher`, is
    /// the same in every build of the host.
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            unreachable!("only the digest is read")
        }
    }
    let mut sha = Sha(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut sha);
    sha.0.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::Config;

    const WAT: &str = r#"(component (core module (func (export "f") (result i32) i32.const 7)))"#;

    fn digest(wasm: &[u8]) -> String {
        Sha256::digest(wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn setup() -> (tempfile::TempDir, Engine, Vec<u8>, String) {
        let dir = tempfile::tempdir().unwrap();
        let wasm = wat::parse_str(WAT).unwrap();
        let digest = digest(&wasm);
        (dir, Engine::default(), wasm, digest)
    }

    #[test]
    fn miss_compiles_and_stores_then_hits() {
        let (dir, engine, wasm, digest) = setup();
        let cache = CompileCache::open(dir.path().join("cache"), &engine).unwrap();
        assert!(cache.load(&engine, &digest).is_none(), "empty cache hit");
        let (_, origin) = cache.compile(&engine, &wasm, &digest).unwrap();
        assert_eq!(origin, Origin::Compiled);
        assert!(cache.entry_path(&digest).is_file());
        let (_, origin) = cache.compile(&engine, &wasm, &digest).unwrap();
        assert_eq!(origin, Origin::Cache);
        let leftovers = std::fs::read_dir(cache.dir()).unwrap().count();
        assert_eq!(leftovers, 1, "only the entry, no temporary file");
    }

    #[test]
    fn corrupt_or_truncated_entry_is_rebuilt() {
        let (dir, engine, wasm, digest) = setup();
        let cache = CompileCache::open(dir.path(), &engine).unwrap();
        cache.compile(&engine, &wasm, &digest).unwrap();
        let path = cache.entry_path(&digest);
        let good = std::fs::read(&path).unwrap();

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        for bad in [flipped, good[..good.len() / 2].to_vec(), Vec::new()] {
            std::fs::write(&path, &bad).unwrap();
            assert!(cache.load(&engine, &digest).is_none(), "bad entry trusted");
            assert!(!path.exists(), "bad entry kept");
            let (_, origin) = cache.compile(&engine, &wasm, &digest).unwrap();
            assert_eq!(origin, Origin::Compiled);
            assert_eq!(std::fs::read(&path).unwrap(), good, "entry rebuilt");
        }
    }

    #[test]
    fn another_engine_misses_and_refuses_forged_entries() {
        let (dir, engine, wasm, digest) = setup();
        let mut config = Config::new();
        config.consume_fuel(true);
        let other = Engine::new(&config).unwrap();
        let cache = CompileCache::open(dir.path(), &engine).unwrap();
        let other_cache = CompileCache::open(dir.path(), &other).unwrap();
        assert_ne!(cache.engine_tag, other_cache.engine_tag);

        cache.compile(&engine, &wasm, &digest).unwrap();
        assert!(
            other_cache.load(&other, &digest).is_none(),
            "other engine hit"
        );

        // Even under the other engine's name, wasmtime's own check refuses it.
        std::fs::copy(cache.entry_path(&digest), other_cache.entry_path(&digest)).unwrap();
        assert!(
            other_cache.load(&other, &digest).is_none(),
            "stale entry loaded"
        );
        let (_, origin) = other_cache.compile(&other, &wasm, &digest).unwrap();
        assert_eq!(origin, Origin::Compiled);
        let (_, origin) = other_cache.compile(&other, &wasm, &digest).unwrap();
        assert_eq!(origin, Origin::Cache);
    }

    #[test]
    fn retain_prunes_other_versions() {
        let (dir, engine, wasm, digest) = setup();
        let cache = CompileCache::open(dir.path(), &engine).unwrap();
        cache.compile(&engine, &wasm, &digest).unwrap();
        let gone = "0".repeat(64);
        std::fs::write(cache.entry_path(&gone), b"old").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
        cache.retain(&HashSet::from([digest.clone()]));
        assert!(cache.entry_path(&digest).exists());
        assert!(!cache.entry_path(&gone).exists());
        assert!(dir.path().join("notes.txt").exists());
    }
}
