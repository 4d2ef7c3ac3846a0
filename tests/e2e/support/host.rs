//! A `keruj-host serve` process for one test, in its own temporary folder.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::TOKEN;
use super::serve::{Ready, serve_command, wait_for_listening_only, wait_for_ready};

/// How long a host may take to start and compile its plugins (a large
/// JavaScript or Python app compiles for tens of seconds on shared cores).
const START_TIMEOUT: Duration = Duration::from_secs(240);
/// How long a host may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The plugins folder and environment a host starts with.
#[derive(Default)]
pub struct Setup {
    apps: Vec<App>,
    env: Vec<(String, String)>,
    descriptor_limit: Option<u64>,
    store: Option<String>,
}

struct App {
    name: String,
    wasm: PathBuf,
    sidecar: Option<String>,
    token: bool,
}

impl Setup {
    pub fn new() -> Self {
        Setup::default()
    }

    /// Installs `wasm` as `<name>.wasm`, with [`TOKEN`] in `KERUJ_APP_TOKEN_<NAME>`.
    pub fn app(mut self, name: &str, wasm: &Path) -> Self {
        self.apps.push(App {
            name: name.into(),
            wasm: wasm.into(),
            sidecar: None,
            token: true,
        });
        self
    }

    /// Gives the last app the sidecar `<name>.toml` with this content.
    pub fn sidecar(mut self, toml: &str) -> Self {
        self.last_app().sidecar = Some(toml.into());
        self
    }

    /// Sets no `KERUJ_APP_TOKEN_<NAME>` for the last app.
    pub fn without_token(mut self) -> Self {
        self.last_app().token = false;
        self
    }

    /// Starts the host with this many file descriptors at most (soft and
    /// hard limit), so it cannot raise them.
    pub fn descriptor_limit(mut self, limit: u64) -> Self {
        self.descriptor_limit = Some(limit);
        self
    }

    /// Serves from this store (`--store`: `sled` or a PostgreSQL URL)
    /// instead of the default one: sled in the data folder, or with
    /// `KERUJ_E2E_STORE=postgres` a new database of the test process's
    /// PostgreSQL server ([`super::shared_postgres`]).
    pub fn store(mut self, url: &str) -> Self {
        self.store = Some(url.into());
        self
    }

    /// Sets an environment variable for the host.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    fn last_app(&mut self) -> &mut App {
        self.apps.last_mut().expect("call app() first")
    }
}

/// What the host answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.body, self.status))
    }

    /// Checks this is the contract's error: `status`, with the JSON body
    /// `{"error": "...", "request_id": "..."}`.
    pub fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "wrong status, body: {}", self.body);
        assert!(
            self.content_type.starts_with("application/json"),
            "{self:?}"
        );
        let body = self.json();
        assert!(body["error"].is_string(), "no string `error`: {body}");
        assert!(
            body["request_id"].is_string(),
            "no string `request_id`: {body}"
        );
        assert!(
            !self.body.contains(TOKEN),
            "the token is in the body: {body}"
        );
    }
}

/// A running `keruj-host serve`; killed when dropped.
pub struct Host {
    dir: TempDir,
    env: Vec<(String, String)>,
    /// The PostgreSQL store's URL; `None`: sled in the data folder.
    store: Option<String>,
    descriptor_limit: Option<u64>,
    child: Option<Child>,
    base: String,
    admin: Option<String>,
    http: reqwest::blocking::Client,
}

impl Host {
    /// Starts a host with these apps in a new temporary folder.
    pub fn start(setup: Setup) -> Host {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let plugins = dir.path().join("plugins");
        fs::create_dir_all(&plugins).unwrap();
        let mut env = setup.env;
        let store = setup.store.or_else(super::default_store);
        if let Some(url) = &store {
            env.push(("KERUJ_STORE".into(), url.clone()));
        }
        let store = store.filter(|url| url != "sled");
        for app in &setup.apps {
            fs::copy(&app.wasm, plugins.join(format!("{}.wasm", app.name)))
                .unwrap_or_else(|e| panic!("copying {:?}: {e}", app.wasm));
            if let Some(toml) = &app.sidecar {
                fs::write(plugins.join(format!("{}.toml", app.name)), toml).unwrap();
            }
            if app.token {
                let var = format!(
                    "KERUJ_APP_TOKEN_{}",
                    app.name.to_uppercase().replace('-', "_")
                );
                env.push((var, TOKEN.into()));
            }
        }
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut host = Host {
            dir,
            env,
            store,
            descriptor_limit: setup.descriptor_limit,
            child: None,
            base: String::new(),
            admin: None,
            http,
        };
        host.start_again();
        host
    }

    /// Starts the host again (after [`Host::stop`]) on the same folders.
    pub fn start_again(&mut self) {
        self.start_with(wait_for_ready);
    }

    /// [`Host::start_again`], returning once the host listens, while apps
    /// missing from its compile cache may still compile.
    pub fn start_again_listening(&mut self) {
        self.start_with(|child, timeout| {
            wait_for_listening_only(child, timeout).map(|url| Ready { url, admin: None })
        });
    }

    fn start_with(
        &mut self,
        wait: fn(&mut std::process::Child, Duration) -> Result<Ready, String>,
    ) {
        assert!(self.child.is_none(), "the host is running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut child = self
            .serve_command()
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("keruj-host starts");
        let listening = wait(&mut child, START_TIMEOUT);
        self.child = Some(child);
        match listening {
            Ok(ready) => (self.base, self.admin) = (ready.url, ready.admin),
            Err(why) => panic!("the host did not start: {why}\nlog:\n{}", self.log()),
        }
    }

    /// `keruj-host serve` on this host's folders, with its environment.
    fn serve_command(&self) -> Command {
        let bin = Path::new(env!("CARGO_BIN_EXE_keruj-host"));
        let mut command = serve_command(bin, &self.dir.path().join("plugins"), &self.data_dir());
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        if let Some(limit) = self.descriptor_limit {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
            unsafe {
                command.pre_exec(move || match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                });
            }
        }
        command
    }

    /// Sends SIGTERM and checks the host stops cleanly (exit 0).
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("the host is running");
        let pid = child.id() as libc::pid_t;
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "the host did not stop within {STOP_TIMEOUT:?}\nlog:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "the host exited with {status}\nlog:\n{}",
            self.log()
        );
    }

    /// Sends `signal` (say `libc::SIGKILL`) to the running host, without waiting.
    pub fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("the host is running");
        let pid = child.id() as libc::pid_t;
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
    }

    /// Waits for the host to exit (after [`Host::signal`]) and returns how.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the host is running");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "the host did not exit within {STOP_TIMEOUT:?}\nlog:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the host with SIGKILL, as a crash or the OOM killer would.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        self.wait_exit();
    }

    /// Sets (or replaces) an environment variable for the next start.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(key, _)| key != name);
        self.env.push((name.into(), value.into()));
    }

    /// Runs `keruj-host ARGS` to its end with the host's environment;
    /// returns its exit status and what it printed (stdout, then stderr).
    pub fn run_command(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        super::run_keruj_host(args, &self.env)
    }

    /// Starts `keruj-host serve` on the host's folders expecting it to refuse:
    /// returns its exit status and output. Panics if it still runs after
    /// [`START_TIMEOUT`] (it serves instead of refusing).
    pub fn start_refused(&self) -> (std::process::ExitStatus, String) {
        assert!(self.child.is_none(), "the host is running");
        let output_path = self.dir.path().join("refused.log");
        let output = File::create(&output_path).unwrap();
        let mut child = self
            .serve_command()
            .arg("--no-watch")
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("keruj-host starts");
        let deadline = Instant::now() + START_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the host did not refuse to start: {}",
                    fs::read_to_string(&output_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, fs::read_to_string(&output_path).unwrap_or_default())
    }

    /// The running host's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the host is running").id()
    }

    /// `http://IP:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts `body` to `/apps/<app>/events`, with the token header if given.
    pub fn post(&self, app: &str, token: Option<&str>, body: impl Into<String>) -> Answer {
        let mut request = self
            .http
            .post(self.url(&format!("/apps/{app}/events")))
            .header("content-type", "application/json")
            .body(body.into());
        if let Some(token) = token {
            request = request.header("x-keruj-app-token", token);
        }
        answer(request.send())
    }

    /// Sends a Keruj event to `app` with the right token.
    pub fn send(&self, app: &str, event: &Value) -> Answer {
        self.post(app, Some(TOKEN), event.to_string())
    }

    pub fn get(&self, path: &str) -> Answer {
        answer(self.http.get(self.url(path)).send())
    }

    /// `GET path` on the admin listener (`--admin-listen`).
    pub fn get_admin(&self, path: &str) -> Answer {
        let admin = self
            .admin
            .as_deref()
            .expect("the host printed its admin address (start it with start_again)");
        answer(self.http.get(format!("{admin}{path}")).send())
    }

    /// Whether the host serves from PostgreSQL (else sled in its data folder).
    pub fn uses_postgres(&self) -> bool {
        self.store.is_some()
    }

    /// The plugins folder (`--plugins`).
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// The data folder (`--data`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Everything the host wrote to stderr, over all its starts.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("host.log")
    }

    /// Every key and every value in every tree of the host's database (every
    /// column of every row of its tables, with PostgreSQL). Only once the
    /// host has stopped: sled allows one process at a time.
    pub fn db_entries(&self) -> Vec<Vec<u8>> {
        assert!(
            self.child.is_none(),
            "stop the host before opening its database"
        );
        if let Some(url) = &self.store {
            return postgres_entries(url);
        }
        let db = sled::open(self.data_dir().join("db")).expect("the database opens");
        let mut entries = Vec::new();
        for name in db.tree_names() {
            for entry in db.open_tree(&name).unwrap().iter() {
                let (key, value) = entry.unwrap();
                entries.push(key.to_vec());
                entries.push(value.to_vec());
            }
        }
        entries
    }

    /// Whether any key or value in the database contains `needle`.
    pub fn db_contains(&self, needle: &str) -> bool {
        self.db_entries()
            .iter()
            .any(|entry| contains(entry, needle.as_bytes()))
    }
}

/// The host's tables as sled's keys and values: each row's key as
/// `app 0x00 company 0x00 name`, then its value (an install: its columns).
fn postgres_entries(url: &str) -> Vec<Vec<u8>> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("the store connects");
    let scope = |app: String, company: String| format!("{app}\0{company}\0");
    let mut entries = Vec::new();
    let installs = "SELECT app, company, account_id || ' ' || generation FROM keruj_installs";
    for row in client.query(installs, &[]).unwrap() {
        entries.push(scope(row.get(0), row.get(1)).into_bytes());
        entries.push(row.get::<_, String>(2).into_bytes());
    }
    for table in ["keruj_data", "keruj_credentials"] {
        let sql = format!("SELECT app, company, key, value FROM {table}");
        for row in client.query(&sql, &[]).unwrap() {
            let key = scope(row.get(0), row.get(1)) + row.get::<_, &str>(2);
            entries.push(key.into_bytes());
            entries.push(row.get::<_, Vec<u8>>(3));
        }
    }
    entries
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn answer(result: reqwest::Result<reqwest::blocking::Response>) -> Answer {
    let response = result.expect("the host answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body = response.text().expect("a body");
    Answer {
        status,
        content_type,
        body,
    }
}

/// Whether `haystack` holds the bytes of `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
