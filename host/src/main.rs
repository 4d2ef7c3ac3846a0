//! The `keruj-host` binary: a thin command line over the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use keruj_host::config::KerujApiConfig;
use keruj_host::{Host, HostConfig};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    version,
    about = "Hosts Keruj integration apps as sandboxed WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the apps of a plugins folder over HTTP.
    Serve(ServeArgs),
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
    #[arg(long, env = "KERUJ_IDENTITY")]
    identity: Option<PathBuf>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "KERUJ_MAX_BODY_BYTES", default_value_t = keruj_host::config::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Do not follow the plugins folder: changes apply at the next start.
    #[arg(long)]
    no_watch: bool,
    /// Keruj's GraphQL API, which plugins call through the host.
    #[arg(long, env = "KERUJ_API_URL", default_value = keruj_host::config::DEFAULT_KERUJ_API_URL)]
    keruj_api_url: String,
    /// The header that carries the company's API key to Keruj's API.
    #[arg(long, env = "KERUJ_API_KEY_HEADER", default_value = keruj_host::config::DEFAULT_KERUJ_KEY_HEADER)]
    keruj_api_key_header: String,
    /// The header that carries the company id to Keruj's API.
    #[arg(long, env = "KERUJ_API_COMPANY_HEADER", default_value = keruj_host::config::DEFAULT_KERUJ_COMPANY_HEADER)]
    keruj_api_company_header: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("KERUJ_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let Command::Serve(args) = Cli::parse().command;
    match serve(args).await {
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
    config.max_body_bytes = args.max_body_bytes;
    config.keruj_api = KerujApiConfig {
        url: args.keruj_api_url,
        key_header: args.keruj_api_key_header,
        company_header: args.keruj_api_company_header,
    };
    config.watch = !args.no_watch;
    let shutdown = shutdown_signal()?;
    let host = Host::start(config).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    // Operators and tests read the bound port from this line.
    println!("keruj-host listening on http://{}", listener.local_addr()?);
    keruj_host::http::serve(host, listener, shutdown).await
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
