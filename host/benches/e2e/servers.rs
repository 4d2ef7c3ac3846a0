//! The servers under test, each a child process on a loopback port, killed
//! when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::{Conn, Req, Stats};
use crate::serve::{serve_command, wait_for_ready_only};
use crate::{COMPANY, TOKEN, configure_body, post};

/// How long a server may take to start (keruj-host compiles its plugins first).
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Server {
    pub name: &'static str,
    pub addr: String,
    /// The admin listener (`/metrics`), `http://IP:PORT`, for keruj-host.
    pub admin: Option<String>,
    child: Child,
    /// The server's files (plugins, data, log), if it has any: kept while it runs.
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// The native baseline: this benchmark binary, in its server mode.
    pub fn native() -> Server {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.args(["--native-serve", "127.0.0.1:0"]);
        Server::spawn("native", command, None)
    }

    /// keruj-host serving `hello`, with [`COMPANY`] installed.
    pub fn keruj(hello: &[u8]) -> Server {
        Server::keruj_binary(&keruj_binary(), hello)
    }

    /// [`Server::keruj`] with this keruj-host binary.
    pub fn keruj_binary(binary: &Path, hello: &[u8]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        write_apps(&dir.path().join("plugins"), hello, &["hello"]);
        let server = Server::keruj_run(binary, dir, &["hello".to_owned()], &[]);
        let install = install_body(COMPANY);
        let (status, body) = post(&server.addr, "/apps/hello/events", &install);
        assert_eq!(status, 200, "install answered {status}: {body}");
        server
    }

    /// `binary` serving `apps` copies of `wasm` (`app-000`, ...), each with
    /// [`COMPANY`] installed, and the configure event to each, for load
    /// spread over every app.
    pub fn keruj_apps(binary: &Path, wasm: &[u8], apps: usize) -> (Server, Vec<Req>) {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..apps).map(|i| format!("app-{i:03}")).collect();
        write_apps(&dir.path().join("plugins"), wasm, &names);
        let server = Server::keruj_run(binary, dir, &names, &[]);
        let mut conn = Conn::open(&server.addr).expect("connect");
        let reqs = names
            .iter()
            .map(|app| {
                let path = format!("/apps/{app}/events");
                let status = conn.post(&path, TOKEN, &install_body(COMPANY));
                assert!(matches!(status, Ok(200)), "install {app}: {status:?}");
                Req {
                    path,
                    body: configure_body(COMPANY),
                    ..Req::default()
                }
            })
            .collect();
        (server, reqs)
    }

    /// keruj-host on `dir/plugins` and `dir/data`, with a token for each app.
    pub fn keruj_in(dir: tempfile::TempDir, apps: &[String]) -> Server {
        Server::keruj_run(&keruj_binary(), dir, apps, &[])
    }

    /// [`Server::keruj_in`] with these environment variables.
    pub fn keruj_in_env(dir: tempfile::TempDir, apps: &[String], env: &[(&str, &str)]) -> Server {
        Server::keruj_run(&keruj_binary(), dir, apps, env)
    }

    fn keruj_run(
        binary: &Path,
        dir: tempfile::TempDir,
        apps: &[String],
        env: &[(&str, &str)],
    ) -> Server {
        let log = std::fs::File::create(dir.path().join("host.log")).unwrap();
        let mut command = serve_command(
            binary,
            &dir.path().join("plugins"),
            &dir.path().join("data"),
        );
        command.envs(env.iter().copied());
        command.arg("--no-watch").stderr(log);
        for app in apps {
            command.env(keruj_host::settings::default_token_env(app), TOKEN);
        }
        let server = Server::spawn("keruj-host", command, Some(dir));
        // Apps not in the compile cache compile after the host listens (a
        // host from before that compiled first): wait until each answers
        // something else than 503.
        let deadline = Instant::now() + START_TIMEOUT;
        for app in apps {
            let path = format!("/apps/{app}/events");
            while post(&server.addr, &path, &configure_body("bench-ready")).0 == 503 {
                assert!(
                    Instant::now() < deadline,
                    "{app} did not load within {START_TIMEOUT:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        server
    }

    /// The Extism host of `bench/peers` serving `extism_hello.wasm`.
    pub fn extism(peers: &Path) -> Server {
        let mut command = Command::new(peers.join("extism-host"));
        command
            .args(["--listen", "127.0.0.1:0", "--plugin"])
            .arg(peers.join("extism_hello.wasm"))
            .env("KERUJ_TOKEN", TOKEN)
            .stderr(Stdio::null());
        Server::spawn("extism", command, None)
    }

    /// `wasmtime serve` with the wasi-http `http_hello.wasm` (its defaults:
    /// a fresh instance per request, pooling allocator where available).
    pub fn wasmtime_serve(cli: &Path, peers: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(cli)
            .args(["serve", "--addr", &addr, "-Scli", "--env"])
            .arg(format!("KERUJ_TOKEN={TOKEN}"))
            .arg(peers.join("http_hello.wasm"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wasmtime serve starts");
        let started = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "wasmtime serve never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            name: "wasmtime serve",
            addr,
            admin: None,
            child,
            _dir: None,
        }
    }

    /// Spawns `command` and waits for its `listening on http://IP:PORT` line.
    fn spawn(name: &'static str, mut command: Command, dir: Option<tempfile::TempDir>) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let ready = wait_for_ready_only(&mut child, START_TIMEOUT)
            .unwrap_or_else(|why| panic!("{name} did not start: {why}"));
        Server {
            name,
            addr: ready.url.trim_start_matches("http://").to_owned(),
            admin: ready.admin,
            child,
            _dir: dir,
        }
    }

    /// Where the server's log goes (keruj-host only).
    pub fn log_path(&self) -> PathBuf {
        self._dir
            .as_ref()
            .map_or_else(PathBuf::new, |dir| dir.path().join("host.log"))
    }

    /// CPU time the process has used so far (user + system, every thread),
    /// in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (in parentheses, may hold spaces):
        // utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        // SAFETY: sysconf only reads a constant of the system.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some(ticks / per_second)
    }

    /// Runs `load` against this server and adds the server's CPU time per
    /// answered request, in µs: how much work a request costs the server,
    /// whatever share of the cores it got on a busy machine.
    pub fn measure(&self, load: impl FnOnce() -> Stats, seconds: u64) -> Stats {
        let before = self.cpu_seconds();
        let mut stats = load();
        if let (Some(before), Some(after)) = (before, self.cpu_seconds()) {
            let requests = stats.rps * seconds as f64;
            if requests > 0.0 {
                stats.cpu_us = Some((after - before) * 1e6 / requests);
            }
        }
        stats
    }

    /// The process's resident memory now, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `<app>.wasm` for each app, with a sidecar that lifts the per-app
/// concurrency limit out of the way: the benchmark measures speed, not 503s.
/// The keruj-host binary to measure: `KERUJ_BENCH_HOST`, else this build's.
pub fn keruj_binary() -> PathBuf {
    std::env::var_os("KERUJ_BENCH_HOST")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_keruj-host").into())
}

pub fn write_apps(plugins: &Path, wasm: &[u8], apps: &[impl AsRef<str>]) {
    std::fs::create_dir_all(plugins).unwrap();
    for app in apps {
        let app = app.as_ref();
        std::fs::write(plugins.join(format!("{app}.wasm")), wasm).unwrap();
        std::fs::write(
            plugins.join(format!("{app}.toml")),
            "max_concurrency = 1000\n",
        )
        .unwrap();
    }
}

pub fn install_body(company: &str) -> String {
    format!(
        r#"{{"event":"application_install","company_id":"{company}","account_id":"acc","account_api_key":"kj_bench"}}"#
    )
}

/// The `wasmtime` CLI: `KERUJ_BENCH_WASMTIME`, else one on the PATH.
pub fn wasmtime_cli() -> Option<PathBuf> {
    let cli = std::env::var_os("KERUJ_BENCH_WASMTIME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("wasmtime"), PathBuf::from);
    let works = Command::new(&cli)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    works.then_some(cli)
}
