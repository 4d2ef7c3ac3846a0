//! `keruj-host check <file.wasm> [--sidecar F]`: whether the host would load
//! a plugin, and why not, without starting a host: the sidecar, the
//! compile (size, time), the world it exports and each import with whether
//! the host provides it (the same inspection as a load, see
//! [`crate::runtime::inspect`]).

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::runtime::inspect::app_world;
use crate::runtime::{Checker, Inspection};
use crate::settings::{AppSettings, is_app_name};

/// What `check` found.
pub struct Report {
    pub path: PathBuf,
    /// The app id the host would give the file (its stem), if valid.
    pub app: Option<String>,
    pub size: u64,
    /// The sidecar read, if any, and whether it is valid.
    pub sidecar: Option<(PathBuf, Result<AppSettings, String>)>,
    /// The compile: its time, then the inspection; or why it failed.
    pub compiled: Result<(Duration, Inspection), String>,
}

/// Checks the plugin at `path` with `sidecar`, else `<file>.toml` beside it
/// when there is one (as the host would read it).
pub fn check(path: &Path, sidecar: Option<&Path>) -> anyhow::Result<Report> {
    let wasm =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let stem = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    let app = is_app_name(stem).then(|| stem.to_owned());
    let sidecar_path = match sidecar {
        Some(sidecar) => {
            anyhow::ensure!(
                sidecar.is_file(),
                "no sidecar file at {}",
                sidecar.display()
            );
            Some(sidecar.to_path_buf())
        }
        None => Some(path.with_extension("toml")).filter(|beside| beside.is_file()),
    };
    let sidecar = sidecar_path.map(|sidecar_path| {
        let settings = AppSettings::load(app.as_deref().unwrap_or(stem), &sidecar_path)
            .map_err(|e| format!("{e:#}"));
        (sidecar_path, settings)
    });
    let checker = Checker::new()?;
    let started = Instant::now();
    let compiled = checker
        .compile(&wasm)
        .map(|component| (started.elapsed(), checker.inspect(&component)))
        .map_err(|e| format!("{e:#}"));
    Ok(Report {
        path: path.to_path_buf(),
        app,
        size: wasm.len() as u64,
        sidecar,
        compiled,
    })
}

impl Report {
    /// Whether the host would load the plugin (exit status 0).
    pub fn loadable(&self) -> bool {
        let sidecar_ok = self
            .sidecar
            .as_ref()
            .is_none_or(|(_, settings)| settings.is_ok());
        sidecar_ok
            && self
                .compiled
                .as_ref()
                .is_ok_and(|(_, inspection)| inspection.loadable())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.loadable() {
            true => "loadable by this host",
            false => "NOT loadable by this host",
        };
        writeln!(f, "{}: {verdict}", self.path.display())?;
        match &self.app {
            Some(app) => writeln!(
                f,
                "  app id     {app} (the file stem; serve it as {app}.wasm)"
            )?,
            None => writeln!(
                f,
                "  app id     none: the host skips a file whose stem is not an app id \
                 (^[a-z0-9][a-z0-9_-]{{0,62}}$); rename it"
            )?,
        }
        writeln!(f, "  size       {}", size(self.size))?;
        match &self.sidecar {
            None => writeln!(f, "  sidecar    none (defaults; no outbound HTTP allowed)")?,
            Some((path, Ok(settings))) => writeln!(
                f,
                "  sidecar    {}: ok ({})",
                path.display(),
                describe(settings)
            )?,
            Some((path, Err(error))) => {
                writeln!(f, "  sidecar    {}: INVALID: {error}", path.display())?
            }
        }
        let (took, inspection) = match &self.compiled {
            Ok(compiled) => compiled,
            Err(error) => return writeln!(f, "  compile    FAILED: {error}"),
        };
        writeln!(f, "  compile    {} ms", took.as_millis())?;
        match &inspection.world {
            Ok(()) => writeln!(
                f,
                "  world      {} (exports handle-event, health)",
                app_world(&inspection.contract)
            )?,
            Err(why) => writeln!(
                f,
                "  world      NOT {}: {why}",
                app_world(&inspection.contract)
            )?,
        }
        let ignored: Vec<&str> = inspection.ignored_exports().collect();
        if !ignored.is_empty() {
            writeln!(
                f,
                "  ignored    {} (exported; the host never calls them)",
                ignored.join(", ")
            )?;
        }
        writeln!(f, "  imports    {}", inspection.imports.len())?;
        for import in &inspection.imports {
            match &import.missing {
                None => writeln!(f, "    provided   {}", import.name)?,
                Some(missing) => {
                    writeln!(f, "    MISSING    {}: {}", import.name, missing.cause)?;
                    writeln!(f, "               what to do: {}", missing.hint)?;
                }
            }
        }
        Ok(())
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} bytes"),
        1024..1_048_576 => format!("{:.1} KiB ({bytes} bytes)", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB ({bytes} bytes)", bytes as f64 / 1_048_576.0),
    }
}

fn describe(settings: &AppSettings) -> String {
    let mut text = String::new();
    let hosts = match settings.allowed_hosts.is_empty() {
        true => "none".to_owned(),
        false => settings.allowed_hosts.join(", "),
    };
    let _ = write!(
        text,
        "allowed_hosts: {hosts}; timeout {} ms; memory {} MiB; http_timeout {} ms",
        settings.limits.timeout.as_millis(),
        settings.limits.memory_bytes / (1024 * 1024),
        settings.http_timeout.as_millis()
    );
    text
}
