//! # keruj-host
//!
//! Hosts Keruj integration apps as sandboxed WebAssembly components.
//!
//! A request flows top to bottom through one module per concern, each
//! importing only those below it:
//!
//! - [`server`]: the HTTP front: routes, the token check, limits, error JSON,
//!   and the admin listener (metrics, readiness);
//! - [`dispatch`]: the [`Dispatcher`](dispatch::Dispatcher) every trigger
//!   calls: the app found once, the lifecycle (install, uninstall, 409), the
//!   plugin, the reply checked;
//! - [`apps`]: the plugins folder, the table of loaded apps, hot reload;
//! - [`runtime`]: wasmtime: a fresh instance per event, memory and time limits;
//! - [`capabilities`]: what plugins may import, one module per WIT interface,
//!   each bound to the event's app and company;
//! - the leaves: [`event`] (a Keruj event body), [`storage`] (sled or
//!   PostgreSQL behind one [`Backend`](storage::Backend) trait, credentials
//!   encrypted by age), [`metrics`] (what Prometheus scrapes), [`bindings`]
//!   (generated from the WIT), [`settings`] (the host's configuration and each
//!   app's sidecar), [`plugin_text`] (what a plugin says, escaped, bounded and
//!   budgeted before it is logged);
//! - [`cli`]: the command-line tools: `check`, `send`, `new`, the `dev` console;
//! - `testing` (feature `testing`): test an app with `cargo test`, in an in-process host.
//!
//! ## Embedding
//!
//! ```no_run
//! use keruj_host::{Host, HostConfig};
//!
//! # async fn run() -> anyhow::Result<()> {
//! let host = Host::start(HostConfig::new("plugins", "data")).await?;
//! // Apps not in the compile cache yet compile in the background:
//! host.loaded().await;
//! // Either serve it yourself...
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! keruj_host::server::serve(host.clone(), listener, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! // ...or call it directly with a body you already authenticated:
//! let body = br#"{"event":"application_configure","company_id":"c1"}"#;
//! let answer = host.dispatch("hello", body, "request-1").await;
//! # Ok(()) }
//! ```

pub mod apps;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod dispatch;
pub mod event;
mod host;
pub mod metrics;
pub mod plugin_text;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod signatures;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
mod throttle;
pub mod triggers;

pub use dispatch::{AppHealth, DispatchError, Reply};
pub use host::{Host, Readiness};
pub use settings::{AppSettings, HostConfig, Limits, Token};
