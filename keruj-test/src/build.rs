//! Building an app crate for the test: `cargo metadata` says what the crate
//! is called and where its target folder is; `cargo build` makes the `.wasm`.
//!
//! The build is a debug one (`dev` profile) in the crate's own target
//! folder, on purpose: the `cargo test` that runs the test has just compiled
//! the same proc macros (`serde_derive` and its `syn`) for the host there,
//! and this build reuses them, so it compiles only the few crates the
//! component itself holds: seconds, where a release build in a folder of its
//! own compiled them all again.
//! Cargo reuses them only when the `dev` profile's `debug` matches the one
//! cargo gives proc macros built for another target (none): the scaffold
//! sets `[profile.dev] debug = false`. Cargo does not hold the folder's
//! lock while the tests run, so the nested build does not wait.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::Error;

/// The target every Keruj app is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// A built app.
#[derive(Debug, Clone)]
pub struct Built {
    /// The crate's name (the app id unless the test names another).
    pub crate_name: String,
    /// The component.
    pub wasm: PathBuf,
}

/// The cargo profile an app is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `dev`: what [`TestApp::build`](crate::TestApp::build) uses (seconds;
    /// see the module's comment).
    Dev,
    /// `release`: what the app ships as.
    Release,
}

/// Where the build's target folder is.
#[derive(Debug, Clone, Copy)]
pub enum Folder<'a> {
    /// This folder.
    At(&'a Path),
    /// The crate's own target folder.
    Crate,
    /// A folder of that name inside the crate's target folder.
    WithinCrate(&'a str),
}

/// `cargo build --target wasm32-wasip2` of the crate at `path` (a folder or
/// a `Cargo.toml`) with `profile`, into `folder`: the app's component and
/// its crate's name. `keruj_host::testing` builds with it too.
pub fn build_app(path: &Path, folder: Folder, profile: Profile) -> Result<Built, Error> {
    let manifest = match path.is_dir() {
        true => path.join("Cargo.toml"),
        false => path.to_path_buf(),
    };
    let manifest = manifest.canonicalize().map_err(|_| {
        Error::new(format!(
            "no Cargo.toml at {}: give the app crate's folder or manifest",
            manifest.display()
        ))
    })?;
    let metadata = cargo(
        &["metadata", "--format-version", "1", "--no-deps"],
        &manifest,
    )
    .output()
    .map_err(|_| Error::new("cannot run cargo: is it installed and on PATH?"))?;
    if !metadata.status.success() {
        return Err(Error::new(format!(
            "cargo metadata failed for {}:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&metadata.stderr)
        )));
    }
    let metadata: Value = serde_json::from_slice(&metadata.stdout)
        .map_err(|error| Error::new(format!("cargo metadata gave no JSON: {error}")))?;
    let (crate_name, target) = read_metadata(&metadata, &manifest)?;
    let target_dir = match folder {
        Folder::At(dir) => dir.to_path_buf(),
        Folder::Crate => target,
        Folder::WithinCrate(name) => target.join(name),
    };
    let (args, output): (&[&str], _) = match profile {
        Profile::Dev => (&["build", "--target", TARGET], "debug"),
        Profile::Release => (&["build", "--release", "--target", TARGET], "release"),
    };
    eprintln!(
        "building {crate_name} for {TARGET} (cargo {})…",
        args.join(" ")
    );
    let built = cargo(args, &manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|_| Error::new("cannot run cargo: is it installed and on PATH?"))?;
    if !built.status.success() {
        let stderr = String::from_utf8_lossy(&built.stderr);
        let hint = match stderr.contains(TARGET) && stderr.contains("target may not be installed") {
            true => format!("\nthe {TARGET} target is missing: run `rustup target add {TARGET}`"),
            false => String::new(),
        };
        return Err(Error::new(format!(
            "building {crate_name} for {TARGET} failed:\n{stderr}{hint}"
        )));
    }
    let file = format!("{}.wasm", crate_name.replace('-', "_"));
    let wasm = target_dir.join(TARGET).join(output).join(&file);
    if !wasm.is_file() {
        return Err(Error::new(format!(
            "cargo built {crate_name} but made no {file}: an app crate needs \
             `[lib] crate-type = [\"cdylib\"]` in its Cargo.toml"
        )));
    }
    Ok(Built { crate_name, wasm })
}

/// The package whose manifest is `manifest`, and the target folder.
fn read_metadata(metadata: &Value, manifest: &Path) -> Result<(String, PathBuf), Error> {
    let target = metadata["target_directory"]
        .as_str()
        .ok_or_else(|| Error::new("cargo metadata gave no target_directory"))?;
    let packages = metadata["packages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let package = packages
        .iter()
        .find(|package| {
            package["manifest_path"]
                .as_str()
                .and_then(|path| Path::new(path).canonicalize().ok())
                .is_some_and(|path| path == manifest)
        })
        .ok_or_else(|| {
            Error::new(format!(
                "{} is a workspace without a package of its own: give the app crate's folder",
                manifest.display()
            ))
        })?;
    let name = package["name"]
        .as_str()
        .ok_or_else(|| Error::new("cargo metadata gave a package without a name"))?;
    Ok((name.to_owned(), PathBuf::from(target)))
}

/// `cargo <args> --manifest-path <manifest>`, with the cargo running the
/// tests if any.
fn cargo(args: &[&str], manifest: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.args(args).arg("--manifest-path").arg(manifest);
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_names_the_package_of_the_manifest() {
        let dir = crate::TempDir::new().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "").unwrap();
        let manifest = manifest.canonicalize().unwrap();
        let metadata = json!({
            "target_directory": "/t",
            "packages": [
                {"name": "other", "manifest_path": "/nowhere/Cargo.toml"},
                {"name": "my-app", "manifest_path": manifest},
            ],
        });
        let (name, target) = read_metadata(&metadata, &manifest).unwrap();
        assert_eq!(name, "my-app");
        assert_eq!(target, Path::new("/t"));
        let none = json!({"target_directory": "/t", "packages": []});
        let error = read_metadata(&none, &manifest).unwrap_err().to_string();
        assert!(error.contains("without a package"), "{error}");
    }
}
