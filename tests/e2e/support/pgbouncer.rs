//! A real PgBouncer (Debian's `pgbouncer`) in transaction mode in front of a
//! test's [`Postgres`] server, on loopback, for one test; stopped on drop.
//! As root it runs as the `postgres` user, like the server (it refuses root).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::postgres::{Postgres, REQUIRE_VARIABLE};

const BINARY: &str = "/usr/sbin/pgbouncer";

pub struct Pgbouncer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Pgbouncer {
    /// PgBouncer in transaction mode for `server`'s databases; with `tls`,
    /// TLS to the server (its chain checked against `ca.pem` in the
    /// server's folder) and to its clients, with the server's certificate.
    pub fn start(server: &Postgres, tls: bool) -> Result<Pgbouncer, String> {
        if !Path::new(BINARY).is_file() {
            return Err(format!(
                "no {BINARY} (apt-get install pgbouncer, or scripts/install-postgres)"
            ));
        }
        let folder = server.folder();
        let port = free_port()?;
        let log = folder.join(format!("pgbouncer-{port}.log"));
        let tls_lines = match tls {
            true => format!(
                "server_tls_sslmode = verify-ca\n\
                 server_tls_ca_file = {0}/ca.pem\n\
                 client_tls_sslmode = require\n\
                 client_tls_cert_file = {0}/server.crt\n\
                 client_tls_key_file = {0}/server.key\n",
                folder.display()
            ),
            false => String::new(),
        };
        let ini = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={pg_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/userlist-{port}.txt\n\
             pool_mode = transaction\n\
             max_client_conn = 400\n\
             default_pool_size = 20\n\
             logfile = {log}\n\
             {tls_lines}",
            pg_port = server.port(),
            dir = folder.display(),
            log = log.display(),
        );
        let ini_path = folder.join(format!("pgbouncer-{port}.ini"));
        std::fs::write(&ini_path, ini).map_err(|e| e.to_string())?;
        std::fs::write(
            folder.join(format!("userlist-{port}.txt")),
            "\"keruj\" \"\"\n",
        )
        .map_err(|e| e.to_string())?;
        use std::os::unix::process::CommandExt;
        let child = server
            .command_as_server_user(Path::new(BINARY))
            .arg(&ini_path)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {BINARY}: {e}"))?;
        let mut bouncer = Pgbouncer { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = bouncer.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("pgbouncer exited ({status}):\n{}", bouncer.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("pgbouncer did not listen:\n{}", bouncer.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(bouncer)
    }

    /// [`Pgbouncer::start`], or `None` after saying why, unless
    /// [`REQUIRE_VARIABLE`] is set: then a failure.
    pub fn start_or_skip(test: &str, server: &Postgres, tls: bool) -> Option<Pgbouncer> {
        match Pgbouncer::start(server, tls) {
            Ok(bouncer) => Some(bouncer),
            Err(why) if std::env::var_os(REQUIRE_VARIABLE).is_some() => {
                panic!("{test}: PgBouncer is required here ({REQUIRE_VARIABLE}) but: {why}")
            }
            Err(why) => {
                eprintln!("skipped {test}: no PgBouncer can be started here: {why}");
                None
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        // Its own process group: runuser and the pooler it started.
        // SAFETY: kill has no preconditions.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|e| e.to_string())
}
