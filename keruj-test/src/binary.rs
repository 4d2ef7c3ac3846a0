//! The engine: the `keruj-host` binary the author already installed, run as
//! `keruj-host dev` on `127.0.0.1:0` over temporary folders. Using it, not
//! the `keruj-host` crate, is what keeps an app's test build small: wasmtime
//! was compiled once, when the binary was installed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::Error;

/// The variable that names the binary, ahead of `PATH`.
pub const BIN_VAR: &str = "KERUJ_HOST_BIN";

/// How long the host may take to start and compile the app.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The checkout this crate was built from, when it is one: the install
/// command can then name it.
const CHECKOUT_HOST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../host");

/// `KERUJ_HOST_BIN`, else `keruj-host` on `PATH`; else an error with the
/// command that installs it.
pub fn find() -> Result<PathBuf, Error> {
    if let Some(named) = std::env::var_os(BIN_VAR).filter(|v| !v.is_empty()) {
        let named = PathBuf::from(named);
        return match named.is_file() {
            true => Ok(named),
            false => Err(Error::new(format!(
                "{BIN_VAR} is {}, which is not a file: point it at the keruj-host binary, \
                 or unset it to use the one on PATH",
                named.display()
            ))),
        };
    }
    let file = format!("keruj-host{}", std::env::consts::EXE_SUFFIX);
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|folder| folder.join(&file))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::new(missing()))
}

/// What to do when there is no binary.
fn missing() -> String {
    let checkout = Path::new(CHECKOUT_HOST);
    let from_checkout = match checkout.join("Cargo.toml").is_file() {
        true => format!(
            "    cargo install --locked --path {}\n",
            checkout.canonicalize().unwrap_or(checkout.into()).display()
        ),
        false => String::new(),
    };
    format!(
        "keruj-test runs the app in the keruj-host binary, and none was found: not in \
         {BIN_VAR}, not on PATH. Install it once (it compiles wasmtime: minutes), then run \
         the tests again:\n{from_checkout}    cargo install --locked --git \
         <keruj-host repository URL> keruj-host\nor set {BIN_VAR} to a keruj-host binary \
         you built (target/release/keruj-host of a checkout)."
    )
}

/// The variable that names the host's function cache (`keruj-host dev
/// --function-cache`), read by the binary itself.
const FUNCTION_CACHE_VAR: &str = "KERUJ_FUNCTION_CACHE";

/// Where the host keeps compiled functions across test runs unless
/// `KERUJ_FUNCTION_CACHE` names a folder: after an edit only what changed
/// in the app compiles again. The user's cache folder
/// (`~/.cache/keruj-host/functions`), which no other user can have
/// prepared; the host refuses a folder others may write.
fn function_cache() -> PathBuf {
    let home_cache = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let cache = home_cache("XDG_CACHE_HOME")
        .or_else(|| home_cache("HOME").map(|home| home.join(".cache")))
        .or_else(|| home_cache("LOCALAPPDATA"))
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(std::env::temp_dir);
    cache.join("keruj-host").join("functions")
}

/// A running `keruj-host dev`, stopped when dropped.
pub struct Running {
    child: Child,
    /// Held open: `--stop-with-stdin` ends the host when it closes, so the
    /// host goes with this process even when a test is killed, not only
    /// when it drops the app.
    _stdin: Option<ChildStdin>,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Running {
    /// Starts `binary` serving `plugins`, its data in `data`, its log in
    /// `log`, every outbound call posted to `answer_url`; returns once the
    /// apps are loaded.
    pub fn start(
        binary: &Path,
        plugins: &Path,
        data: &Path,
        log: &Path,
        answer_url: &str,
        keruj_api_url: &str,
    ) -> Result<Running, Error> {
        let log_file = std::fs::File::create(log)
            .map_err(|error| Error::new(format!("cannot write {}: {error}", log.display())))?;
        let mut command = Command::new(binary);
        if std::env::var_os(FUNCTION_CACHE_VAR).is_none() {
            command.env(FUNCTION_CACHE_VAR, function_cache());
        }
        let mut child = command
            .arg("dev")
            .arg("--plugins")
            .arg(plugins)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(["--answer-outbound", answer_url])
            .args(["--keruj-api-url", keruj_api_url])
            .arg("--stop-with-stdin")
            .env("KERUJ_LOG_FORMAT", "human")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|error| Error::new(format!("cannot start {}: {error}", binary.display())))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Nobody listening any more: keep draining, the pipe must not fill.
                let _ = lines.send(line);
            }
        });
        let stdin = child.stdin.take();
        let mut running = Running {
            child,
            _stdin: stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: log.to_path_buf(),
        };
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match seen.recv_timeout(left) {
                // `keruj-host dev console listening on http://127.0.0.1:PORT/`
                Ok(line) if line.contains(" listening on http://") => {
                    let address = line.rsplit("http://").next().unwrap_or_default();
                    running.addr = address.trim_end_matches('/').parse().map_err(|_| {
                        Error::new(format!("keruj-host printed an address unread: {line}"))
                    })?;
                }
                // Every app in the folder compiled (or refused, with a reason).
                Ok(line) if line.starts_with("keruj-host apps loaded") => break,
                Ok(_) => {}
                Err(_) => return Err(running.failed(binary)),
            }
        }
        if running.addr.port() == 0 {
            return Err(running.failed(binary));
        }
        Ok(running)
    }

    /// Why the host did not start: its exit and its last log lines.
    fn failed(&mut self, binary: &Path) -> Error {
        let exited = match self.child.try_wait() {
            Ok(Some(status)) => format!("it exited ({status})"),
            _ => format!("it was not ready in {} s", START_TIMEOUT.as_secs()),
        };
        let log = self.log_tail();
        let hint = match log.contains("unexpected argument") {
            true => {
                "\nthis keruj-host is older than keruj-test: install the newer one (see \
                     the install command in keruj-test's README)"
            }
            false => "",
        };
        Error::new(format!(
            "{} dev did not start: {exited}; its log:\n{log}{hint}",
            binary.display()
        ))
    }

    /// The last lines the host logged.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_a_binary_the_message_says_how_to_install_one() {
        let message = super::missing();
        assert!(
            message.contains("cargo install --locked --path "),
            "{message}"
        );
        assert!(message.contains("host"), "{message}");
        assert!(message.contains("KERUJ_HOST_BIN"), "{message}");
    }
}
