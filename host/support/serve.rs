//! Starting `keruj-host serve` as a process and learning its address from
//! the line it prints once it accepts connections, `listening on
//! http://IP:PORT`, then waiting for `apps loaded` (every app compiled).
//! Shared by the end-to-end tests, the benchmarks and the soak test, which
//! are separate build targets: each includes this file with `#[path]`.

// Each target that includes this file uses only what it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;

/// `bin serve` on a free loopback port with these folders, without the
/// `KERUJ_*` variables of the caller's environment (an operator's settings
/// must not change what a test or a benchmark sees). Add flags, variables
/// and stdio, then spawn it and [`wait_for_listening`].
pub fn serve_command(bin: &Path, plugins: &Path, data: &Path) -> Command {
    let mut command = Command::new(bin);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("KERUJ_")) {
        command.env_remove(name);
    }
    command
        // Its own admin port too: hosts started side by side must not clash.
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--plugins")
        .arg(plugins)
        .arg("--data")
        .arg(data);
    command
}

/// Waits up to `timeout` for `child` to print `listening on http://…` on its
/// stdout (which must be piped), then for `apps loaded` (the apps that were
/// not in the compile cache are compiled too), and returns that URL, without
/// a trailing slash. The rest of its stdout is read in a thread until it
/// exits, so the child never blocks on a full pipe.
pub fn wait_for_listening(child: &mut Child, timeout: Duration) -> Result<String, String> {
    wait_for_lines(child, timeout, true).map(|ready| ready.url)
}

/// [`wait_for_listening`], with the admin listener's URL (`keruj-host admin
/// on http://…`, printed before the public one) if it printed one.
pub fn wait_for_ready(child: &mut Child, timeout: Duration) -> Result<Ready, String> {
    wait_for_lines(child, timeout, true)
}

/// Where a started host listens.
pub struct Ready {
    /// The public listener, `http://IP:PORT`.
    pub url: String,
    /// The admin listener (`/metrics`), when it has one.
    pub admin: Option<String>,
}

/// [`wait_for_listening`] without waiting for `apps loaded`: for a test of
/// what the host serves while it still compiles.
pub fn wait_for_listening_only(child: &mut Child, timeout: Duration) -> Result<String, String> {
    wait_for_lines(child, timeout, false).map(|ready| ready.url)
}

/// [`wait_for_listening_only`], with the admin listener's URL.
pub fn wait_for_ready_only(child: &mut Child, timeout: Duration) -> Result<Ready, String> {
    wait_for_lines(child, timeout, false)
}

fn wait_for_lines(child: &mut Child, timeout: Duration, loaded: bool) -> Result<Ready, String> {
    let stdout = child
        .stdout
        .take()
        .ok_or("the child's stdout is not piped")?;
    let deadline = std::time::Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, url)) = line.split_once("keruj-host admin on ") {
                let _ = tx.send(Line::Admin(url.trim().trim_end_matches('/').to_owned()));
            } else if let Some((_, url)) = line.split_once("listening on ") {
                let url = url.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(Line::Listening(url.trim_end_matches('/').to_owned()));
            } else if line.contains("apps loaded") {
                let _ = tx.send(Line::Loaded);
            }
        }
    });
    let next =
        || match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(line) => Ok(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("it did not get ready within {timeout:?}"))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("it exited before it was ready".to_owned())
            }
        };
    let mut admin = None;
    let mut first = next()?;
    if let Line::Admin(url) = first {
        admin = Some(url);
        first = next()?;
    }
    let url = match first {
        Line::Listening(url) if url.starts_with("http://") => url,
        Line::Admin(_) => return Err("it said `admin on` twice".into()),
        Line::Listening(other) => {
            return Err(format!(
                "it said `listening on {other}`, not an http:// URL"
            ));
        }
        Line::Loaded => return Err("it said `apps loaded` before `listening on`".into()),
    };
    if loaded {
        match next()? {
            Line::Loaded => {}
            Line::Listening(_) | Line::Admin(_) => {
                return Err("it said `listening on` twice".into());
            }
        }
    }
    Ok(Ready { url, admin })
}

/// The lines of the host's stdout that tell how far it got.
enum Line {
    Admin(String),
    Listening(String),
    Loaded,
}
