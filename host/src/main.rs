//! The `keruj-host` binary: a thin command line over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use keruj_host::cli::console::{Capture, DevOptions};
use keruj_host::settings::KerujApiConfig;
use keruj_host::storage::StoreLocation;
use keruj_host::{Host, HostConfig};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

#[derive(Parser)]
#[command(
    version,
    about = "Hosts Keruj integration apps as sandboxed WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr are written: `human` (also `text`) for
    /// people, `json` (one object a line, the same fields) for log collectors.
    #[arg(long, global = true, env = "KERUJ_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    #[value(alias = "text")]
    Human,
    Json,
}

/// Where the admin listener (`GET /metrics`) listens: an address, or `off`.
#[derive(Clone, Copy)]
enum AdminListen {
    Off,
    At(SocketAddr),
}

fn parse_admin_listen(value: &str) -> Result<AdminListen, String> {
    match value {
        "off" => Ok(AdminListen::Off),
        _ => value.parse().map(AdminListen::At).map_err(|error| {
            format!("{error}: expected an address such as 127.0.0.1:9090, or `off`")
        }),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the apps of a plugins folder over HTTP.
    Serve(ServeArgs),
    /// Make a new age identity and re-encrypt every stored credential to it.
    /// Stop the host first (sled admits one process at a time; with
    /// PostgreSQL, stop every replica). The old identity is kept beside the
    /// new one as `<identity>.old`.
    RotateIdentity(RotateArgs),
    /// Copy a sled database (a stopped host's DATA folder) into PostgreSQL,
    /// encrypted values as they are, and verify the copy. Safe to run again.
    MigrateStore(MigrateArgs),
    /// Say whether the host would load a plugin and why not: its sidecar,
    /// size, compile time, the world it exports and each import. Exit status
    /// 0 when it would load.
    Check(CheckArgs),
    /// Play Keruj against a running host: send an event to an app with its
    /// token and show the answer (a form drawn as text, `done`, or the
    /// error); or play the host's own triggers: a scheduled run now
    /// (--schedule), a signed webhook delivery (--webhook URL). Exit status
    /// 0 on 2xx, 1 on another answer, 2 when nothing could be sent.
    Send(keruj_host::cli::send::SendArgs),
    /// Run a host for development with a web console at `/` that plays
    /// Keruj: install, configure, fill in the forms, send events, read each
    /// event's log. Loopback only unless --allow-remote; apps without a token
    /// get a generated one.
    Dev(DevArgs),
    /// Scaffold an app crate: a two-step dialogue, its test, a build script
    /// and a README with the commands that matter.
    New(keruj_host::cli::scaffold::NewArgs),
}

#[derive(clap::Args)]
struct DevArgs {
    /// Folder of `<app>.wasm` plugins and their `<app>.toml` sidecars.
    #[arg(long, env = "KERUJ_PLUGINS", default_value = "plugins")]
    plugins: PathBuf,
    /// Folder for the database [default: a temporary folder, deleted on exit].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = keruj_host::cli::console::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Accept a listen address other than loopback: anyone who reaches it
    /// can play Keruj against your apps.
    #[arg(long)]
    allow_remote: bool,
    /// Post every outbound call the apps make (after their grant allowed
    /// it), and every call to Keruj's API, to this URL as JSON, for a test
    /// to answer; nothing goes to the network. See `keruj-test`.
    #[arg(long, value_name = "URL")]
    answer_outbound: Option<String>,
    /// Keruj's GraphQL API, which plugins call through the host.
    #[arg(long, env = "KERUJ_API_URL", default_value = keruj_host::settings::DEFAULT_KERUJ_API_URL)]
    keruj_api_url: String,
    /// Stop when standard input closes. A test harness that starts `dev`
    /// keeps a pipe to it open: the host then goes with the test process
    /// even when that one is killed, instead of running on.
    #[arg(long)]
    stop_with_stdin: bool,
    /// Keep each compiled function in this folder across runs, so that
    /// after an edit only what changed in an app compiles again (most of a
    /// JavaScript or Python component, its language's engine, does not).
    /// The test harnesses use ~/.cache/keruj-host/functions. It must be
    /// this user's alone; over 1 GiB the oldest entries go; delete it
    /// whenever you like.
    #[arg(long, env = "KERUJ_FUNCTION_CACHE", value_name = "DIR")]
    function_cache: Option<PathBuf>,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The plugin, a `.wasm` component.
    file: PathBuf,
    /// Its sidecar [default: the `.toml` beside the file, if any].
    #[arg(long)]
    sidecar: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RotateArgs {
    /// The data folder of the stopped host.
    #[arg(long, env = "KERUJ_DATA")]
    data: PathBuf,
    /// The age identity file now in use [default: DATA/identity.txt].
    #[arg(long, env = "KERUJ_IDENTITY")]
    identity: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArg,
}

/// `--store`, shared by `serve` and `rotate-identity`.
#[derive(clap::Args)]
struct StoreArg {
    /// Where installs and plugin data live: `sled` (in DATA) or a PostgreSQL
    /// URL shared by replicas, `postgres://USER:PASSWORD@HOST:PORT/DB`
    /// (`?pool_size=N`, default 16; libpq's `sslmode` and `sslrootcert=FILE`).
    /// Prefer the environment variable: a password on the command line is
    /// visible to every user of the machine.
    #[arg(
        long,
        env = "KERUJ_STORE",
        default_value = "sled",
        hide_env_values = true
    )]
    store: String,
    /// A direct, unpooled connection to the same PostgreSQL database, for
    /// what needs a session (the schema lock, LISTEN), when --store points
    /// at a transaction-mode pooler such as PgBouncer.
    #[arg(long, env = "KERUJ_STORE_DIRECT", hide_env_values = true)]
    store_direct: Option<String>,
}

impl StoreArg {
    fn location(&self) -> anyhow::Result<StoreLocation> {
        StoreLocation::parse_with_direct(&self.store, self.store_direct.as_deref())
    }
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// The data folder of the stopped host whose sled database to copy.
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL database to copy it into: `postgres://USER@HOST/DB`.
    #[arg(long, env = "KERUJ_STORE", hide_env_values = true)]
    to: String,
    /// The age identity of the database [default: FROM/identity.txt]; checked,
    /// never used to decrypt what is copied.
    #[arg(long, env = "KERUJ_IDENTITY")]
    identity: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, env = "KERUJ_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Folder of `<app>.wasm` plugins and their `<app>.toml` sidecars.
    #[arg(long, env = "KERUJ_PLUGINS")]
    plugins: PathBuf,
    /// Folder for the database (and, by default, the age identity).
    #[arg(long, env = "KERUJ_DATA")]
    data: PathBuf,
    /// The age identity file credentials are encrypted to [default: DATA/identity.txt].
    /// Replicas sharing a store share this file.
    #[arg(long, env = "KERUJ_IDENTITY")]
    identity: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArg,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "KERUJ_MAX_BODY_BYTES", default_value_t = keruj_host::settings::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Time a client may take to send its request headers (slow clients lose the connection).
    #[arg(long, env = "KERUJ_HEADER_TIMEOUT_MS", default_value_t = keruj_host::settings::DEFAULT_HEADER_TIMEOUT.as_millis() as u64)]
    header_timeout_ms: u64,
    /// Time a client may take to send its request body (slow clients get 408).
    #[arg(long, env = "KERUJ_BODY_TIMEOUT_MS", default_value_t = keruj_host::settings::DEFAULT_BODY_TIMEOUT.as_millis() as u64)]
    body_timeout_ms: u64,
    /// Connections kept open at once; at the bound a new connection takes
    /// the place of the oldest idle one [default: half the descriptor limit].
    #[arg(long, env = "KERUJ_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// Address of the admin listener, which serves Prometheus metrics at
    /// `GET /metrics` (never on --listen); port 0 picks a free one; `off`
    /// for none. Keep it off the public network.
    #[arg(long, env = "KERUJ_ADMIN_LISTEN", default_value = keruj_host::server::admin::DEFAULT_ADMIN_LISTEN, value_parser = parse_admin_listen)]
    admin_listen: AdminListen,
    /// Do not follow the plugins folder: changes apply at the next start.
    #[arg(long)]
    no_watch: bool,
    /// Keruj's GraphQL API, which plugins call through the host.
    #[arg(long, env = "KERUJ_API_URL", default_value = keruj_host::settings::DEFAULT_KERUJ_API_URL)]
    keruj_api_url: String,
    /// The header that carries the company's API key to Keruj's API.
    #[arg(long, env = "KERUJ_API_KEY_HEADER", default_value = keruj_host::settings::DEFAULT_KERUJ_KEY_HEADER)]
    keruj_api_key_header: String,
    /// The header that carries the company id to Keruj's API.
    #[arg(long, env = "KERUJ_API_COMPANY_HEADER", default_value = keruj_host::settings::DEFAULT_KERUJ_COMPANY_HEADER)]
    keruj_api_company_header: String,
    /// The public base of webhook URLs, as third parties reach this host
    /// (e.g. `https://apps.example.com`) [default: http:// and the listen address].
    #[arg(long, env = "KERUJ_PUBLIC_URL")]
    public_url: Option<String>,
    /// The most often a sidecar `[[schedule]]` may run ("90s", "15m", "1h");
    /// an app asking for more is refused at load, the reason in its health.
    #[arg(long, env = "KERUJ_MIN_SCHEDULE_INTERVAL", default_value = "1m", value_parser = keruj_host::settings::parse_duration)]
    min_schedule_interval: Duration,
    /// How long a webhook delivery id is remembered ("24h", "1h"): the same
    /// id again within it is answered as the first, not run again. Older
    /// records are deleted.
    #[arg(long, env = "KERUJ_WEBHOOK_DEDUP_WINDOW", default_value = "24h", value_parser = keruj_host::settings::parse_duration)]
    webhook_dedup_window: Duration,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let command = cli.command;
    // `dev` keeps each event's log lines for its console, whatever KERUJ_LOG says.
    let capture = matches!(command, Command::Dev(_)).then(Capture::default);
    let filter = EnvFilter::try_from_env("KERUJ_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match cli.log_format {
        LogFormat::Human => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
        // The event's fields (app, company, request_id, ...) at the top level.
        LogFormat::Json => fmt.json().flatten_event(true).with_filter(filter).boxed(),
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(capture.clone().map(|c| c.with_filter(LevelFilter::DEBUG)))
        .init();
    let result = match command {
        Command::Serve(args) => serve(args).await,
        Command::Dev(args) => dev(args, capture.unwrap_or_default()).await,
        Command::RotateIdentity(args) => rotate_identity(args).await,
        Command::MigrateStore(args) => migrate_store(args).await,
        Command::Check(args) => return check(args),
        Command::Send(args) => return keruj_host::cli::send::run(args).await,
        Command::New(args) => return keruj_host::cli::scaffold::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("keruj-host: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = HostConfig::new(args.plugins, args.data);
    config.identity = args.identity;
    config.store = args.store.location()?;
    config.max_body_bytes = args.max_body_bytes;
    config.header_timeout = Duration::from_millis(args.header_timeout_ms);
    config.body_timeout = Duration::from_millis(args.body_timeout_ms);
    config.keruj_api = KerujApiConfig {
        url: args.keruj_api_url,
        key_header: args.keruj_api_key_header,
        company_header: args.keruj_api_company_header,
    };
    config.watch = !args.no_watch;
    config.max_connections = args.max_connections.map(|n| n as usize);
    match keruj_host::server::raise_descriptor_limit() {
        Ok(limit) => tracing::debug!(limit, "descriptor limit raised to the hard limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the descriptor limit"),
    }
    config.min_schedule_interval = args.min_schedule_interval;
    config.webhook_dedup_window = args.webhook_dedup_window;
    let shutdown = shutdown_signal()?;
    // Bound first: webhook URLs default to the address it got.
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    config.public_url = Some(
        args.public_url
            .unwrap_or_else(|| format!("http://{address}")),
    );
    let host = Host::start(config).await?;
    if let AdminListen::At(address) = args.admin_listen {
        let admin = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot listen on {address} for the admin listener (--admin-listen): {error}"
                )
            })?;
        // Tests read the admin port from this line (before the public one).
        println!("keruj-host admin on http://{}", admin.local_addr()?);
        let host = host.clone();
        let forever = std::future::pending::<()>();
        tokio::spawn(keruj_host::server::admin::serve(host, admin, forever));
    }
    // Operators and tests read the bound port from this line.
    println!("keruj-host listening on http://{address}");
    // And once the apps not in the compile cache are compiled too.
    let loading = host.clone();
    tokio::spawn(async move {
        loading.loaded().await;
        println!("keruj-host apps loaded: {}", loading.app_names().len());
    });
    keruj_host::server::serve(host, listener, shutdown).await
}

/// `dev`: see [`keruj_host::cli::console`].
async fn dev(args: DevArgs, capture: Capture) -> anyhow::Result<()> {
    let options = DevOptions {
        plugins: args.plugins,
        data: args.data,
        listen: args.listen,
        allow_remote: args.allow_remote,
        answer_outbound: args.answer_outbound,
        keruj_api_url: Some(args.keruj_api_url),
        function_cache: args.function_cache,
    };
    let signal = shutdown_signal()?;
    let stdin = args.stop_with_stdin.then(stdin_closed);
    let shutdown = async move {
        match stdin {
            Some(stdin) => tokio::select! {
                _ = signal => {},
                _ = stdin => {},
            },
            None => signal.await,
        }
    };
    keruj_host::cli::console::run(options, capture, shutdown).await
}

/// Completes when standard input reaches its end (or fails). Read on a
/// thread of its own: a blocking read would hold the runtime's shutdown.
fn stdin_closed() -> impl Future<Output = ()> {
    let (closed, receiver) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut sink = [0u8; 256];
        while let Ok(1..) = std::io::stdin().read(&mut sink) {}
        let _ = closed.send(());
    });
    async move {
        let _ = receiver.await;
    }
}

/// `rotate-identity`: see [`keruj_host::storage::rotate_identity`].
async fn rotate_identity(args: RotateArgs) -> anyhow::Result<()> {
    let identity = args
        .identity
        .unwrap_or_else(|| args.data.join("identity.txt"));
    let store = args.store.location()?;
    let report = keruj_host::storage::rotate_identity(&store, &args.data, &identity).await?;
    println!(
        "keruj-host: rotated the age identity {}: {} credentials re-encrypted to {}; \
         the old identity is kept as {}",
        identity.display(),
        report.credentials,
        report.recipient,
        report.old_identity.display()
    );
    Ok(())
}

/// `migrate-store`: see [`keruj_host::storage::migrate_store`].
async fn migrate_store(args: MigrateArgs) -> anyhow::Result<()> {
    let identity = args
        .identity
        .unwrap_or_else(|| args.from.join("identity.txt"));
    let StoreLocation::Postgres(to) = args.to.parse()? else {
        anyhow::bail!("--to must be a postgres:// URL");
    };
    let report = keruj_host::storage::migrate_store(&args.from, &identity, &to).await?;
    println!(
        "keruj-host: copied {} of {} installs and {} of {} entries into {} (the rest were there \
         already); every one verified; {} entries of uninstalled companies left out",
        report.installs_copied,
        report.installs,
        report.entries_copied,
        report.entries,
        to.display_name(),
        report.leftovers
    );
    Ok(())
}

/// `check`: see [`keruj_host::cli::check`].
fn check(args: CheckArgs) -> std::process::ExitCode {
    match keruj_host::cli::check::check(&args.file, args.sidecar.as_deref()) {
        Ok(report) => {
            print!("{report}");
            match report.loadable() {
                true => std::process::ExitCode::SUCCESS,
                false => std::process::ExitCode::FAILURE,
            }
        }
        Err(error) => {
            eprintln!("keruj-host check: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed at once, so a
/// signal that arrives while the host starts is not lost (nor fatal).
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, LogFormat};

    #[test]
    fn log_formats_and_the_store_are_named_as_the_contract_says() {
        for (given, expected) in [
            ("human", LogFormat::Human),
            ("text", LogFormat::Human),
            ("json", LogFormat::Json),
        ] {
            let cli = Cli::try_parse_from(["keruj-host", "--log-format", given, "check", "a.wasm"])
                .unwrap();
            assert!(cli.log_format == expected, "{given}");
        }
        let cli = Cli::try_parse_from([
            "keruj-host",
            "serve",
            "--plugins",
            "p",
            "--data",
            "d",
            "--store",
            "postgres://keruj@db/keruj",
            "--store-direct",
            "postgres://keruj@db-primary/keruj",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.store.store, "postgres://keruj@db/keruj");
        assert_eq!(
            args.store.store_direct.as_deref(),
            Some("postgres://keruj@db-primary/keruj")
        );
    }
}
