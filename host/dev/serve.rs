//! Starting `keruj-host serve` as a process and learning its address from
//! the line it prints once it accepts connections, `listening on
//! http://IP:PORT`. Shared by the end-to-end tests, the benchmarks and the
//! soak test, which are separate build targets: each includes this file with
//! `#[path]`.

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
        .args(["serve", "--listen", "127.0.0.1:0", "--plugins"])
        .arg(plugins)
        .arg("--data")
        .arg(data);
    command
}

/// Waits up to `timeout` for `child` to print `listening on http://…` on its
/// stdout (which must be piped) and returns that URL, without a trailing
/// slash. The rest of its stdout is read in a thread until it exits, so the
/// child never blocks on a full pipe.
pub fn wait_for_listening(child: &mut Child, timeout: Duration) -> Result<String, String> {
    let stdout = child
        .stdout
        .take()
        .ok_or("the child's stdout is not piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, url)) = line.split_once("listening on ") {
                let url = url.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    match rx.recv_timeout(timeout) {
        Ok(url) if url.starts_with("http://") => Ok(url),
        Ok(other) => Err(format!(
            "it said `listening on {other}`, not an http:// URL"
        )),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("it did not listen within {timeout:?}"))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("it exited before listening".into()),
    }
}
