//! A real PostgreSQL server for one test process or benchmark, started from
//! the machine's own binaries (Debian's `postgresql` package) on loopback,
//! in a temporary folder, and stopped when dropped. Shared by the end-to-end
//! tests and the benchmarks through `#[path]`, like `serve.rs`.
//!
//! PostgreSQL refuses to run as root: as root, the server runs as the
//! `postgres` user (`runuser`), in a folder that user can reach.

// Each target that includes this file uses only what it needs.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set (by CI) to make a missing PostgreSQL a failure instead of a skip.
pub const REQUIRE_VARIABLE: &str = "KERUJ_TEST_REQUIRE_POSTGRES";

/// A running server; stopped (immediately) and deleted on drop.
pub struct Postgres {
    folder: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres_user: bool,
    databases: AtomicUsize,
    /// Serving TLS only (`ssl=on`, `hostssl` in pg_hba.conf).
    tls: bool,
}

/// A certificate authority a test makes, and a server certificate it signed.
pub struct TestCa {
    /// The CA's certificate, PEM: what `sslrootcert=FILE` names.
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl TestCa {
    /// A new CA, and a certificate for `server_names` (DNS names or IPs).
    pub fn new(server_names: &[&str]) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "keruj test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(params, ca_key).unwrap();
        let names: Vec<String> = server_names.iter().map(|name| name.to_string()).collect();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        TestCa {
            ca_pem: ca.pem(),
            server_cert_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }
}

impl Postgres {
    /// Starts a server, or says why none can be.
    pub fn start() -> Result<Postgres, String> {
        let bin = find_bin_dir().ok_or(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)",
        )?;
        let as_postgres_user = is_root();
        let folder = make_folder(as_postgres_user)?;
        let port = free_port()?;
        let server = Postgres {
            folder,
            bin,
            port,
            as_postgres_user,
            databases: AtomicUsize::new(0),
            tls: false,
        };
        server.init()?;
        server.start_again()?;
        Ok(server)
    }

    /// A server that accepts TLS connections only, with `ca`'s server
    /// certificate; local (Unix socket) connections stay open to the tests.
    pub fn start_tls(ca: &TestCa) -> Result<Postgres, String> {
        let mut server = Postgres::start()?;
        server.stop()?;
        server.tls = true;
        server.write_owned("server.crt", &ca.server_cert_pem)?;
        server.write_owned("server.key", &ca.server_key_pem)?;
        server.write_owned(
            "data/pg_hba.conf",
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )?;
        server.start_again()?;
        Ok(server)
    }

    /// [`Postgres::start_tls`], or `None` as [`Postgres::start_or_skip`].
    pub fn start_tls_or_skip(test: &str, ca: &TestCa) -> Option<Postgres> {
        match Postgres::start_tls(ca) {
            Ok(server) => Some(server),
            Err(why) if std::env::var_os(REQUIRE_VARIABLE).is_some() => {
                panic!("{test}: PostgreSQL is required here ({REQUIRE_VARIABLE}) but: {why}")
            }
            Err(why) => {
                eprintln!("skipped {test}: no PostgreSQL server can be started here: {why}");
                None
            }
        }
    }

    /// Writes `name` in the server's folder, readable by the server only.
    pub fn write_owned(&self, name: &str, content: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.folder.join(name);
        std::fs::write(&path, content).map_err(|e| format!("writing {name}: {e}"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{name}: {e}"))?;
        if self.as_postgres_user {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&path)
                .status()
                .map_err(|e| format!("cannot run chown: {e}"))?;
            if !status.success() {
                return Err(format!("cannot give {name} to the postgres user"));
            }
        }
        Ok(())
    }

    /// The server's folder: its Unix socket, its certificates, `data/`.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server runs as the `postgres` user (the tests run as root).
    pub fn as_postgres_user(&self) -> bool {
        self.as_postgres_user
    }

    /// Runs `program ARGS` as the user the server runs as.
    pub fn command_as_server_user(&self, program: &Path) -> Command {
        match self.as_postgres_user {
            true => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
            false => Command::new(program),
        }
    }

    fn init(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "keruj",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
    }

    /// [`Postgres::start`], or `None` after saying why on stderr, unless
    /// [`REQUIRE_VARIABLE`] is set: then a failure.
    pub fn start_or_skip(test: &str) -> Option<Postgres> {
        match Postgres::start() {
            Ok(server) => Some(server),
            Err(why) if std::env::var_os(REQUIRE_VARIABLE).is_some() => {
                panic!("{test}: PostgreSQL is required here ({REQUIRE_VARIABLE}) but: {why}")
            }
            Err(why) => {
                eprintln!("skipped {test}: no PostgreSQL server can be started here: {why}");
                None
            }
        }
    }

    /// Starts the server (again, after [`Postgres::stop`]) on the same port
    /// and data, and waits until it accepts connections.
    pub fn start_again(&self) -> Result<(), String> {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            path_str(&self.folder)
        );
        if self.tls {
            options += &format!(
                " -c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                path_str(&self.folder)
            );
        }
        let log = self.folder.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data_dir()),
                "-o",
                &options,
                "-l",
                path_str(&log),
                "-w",
                "start",
            ],
        )
    }

    /// Stops the server at once (`immediate`: like a crash, no checkpoint).
    pub fn stop(&self) -> Result<(), String> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data_dir()),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
    }

    /// A new, empty database on this server, as a URL for `--store`.
    pub fn new_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("keruj_{n}");
        let mut admin = self.connect("postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("creating the database {name}: {e}"));
        self.url(&name)
    }

    /// `postgres://keruj@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://keruj@127.0.0.1:{}/{database}", self.port)
    }

    /// A client of `database` (the tests read what the host stored), over
    /// the Unix socket (open whatever TCP clients must do).
    pub fn connect(&self, database: &str) -> postgres::Client {
        let local = format!(
            "host={} port={} user=keruj dbname={database}",
            path_str(&self.folder),
            self.port
        );
        postgres::Client::connect(&local, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {database}: {e}"))
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.folder.join("server.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.folder.join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let mut command = self.command_as_server_user(&program);
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        match output.status.success() {
            true => Ok(()),
            false => Err(format!(
                "{tool} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )),
        }
    }
}

impl Postgres {
    /// Stops the server and deletes its folder: what dropping it does, for
    /// a server kept in a `static` (never dropped).
    pub fn remove(&self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` in it.
fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A new folder under the system's temporary folder; as root, given to the
/// `postgres` user (temporary folders are 0700 to their creator).
fn make_folder(for_postgres_user: bool) -> Result<PathBuf, String> {
    let folder = tempfile::Builder::new()
        .prefix("keruj-pg-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary folder: {e}"))?
        .keep();
    if for_postgres_user {
        let status = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&folder)
            .status()
            .map_err(|e| format!("cannot run chown: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cannot give {} to the postgres user (is there one?)",
                folder.display()
            ));
        }
    }
    Ok(folder)
}

/// A port nothing listens on now (a race with other processes is possible
/// but harmless: the server would fail to start and say so).
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|e| e.to_string())
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
