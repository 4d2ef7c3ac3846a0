//! Embedding keruj-host in your own Rust service.
//!
//! The host is a library: build it from a [`HostConfig`], then call it
//! directly or mount its hyper service next to your own routes.
//!
//! ```text
//! cargo run -p keruj-host --example embed -- PLUGINS_DIR DATA_DIR
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::{Service, service_fn};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use keruj_host::{Host, HostConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let plugins = args.next().unwrap_or_else(|| "plugins".into());
    let data = args.next().unwrap_or_else(|| "data".into());
    let mut config = HostConfig::new(plugins, data);
    config.watch = true; // follow the plugins folder (the default)
    let host = Host::start(config).await?;
    // Apps missing from the compile cache compile in the background; wait
    // for them here (a server would serve the others meanwhile).
    host.loaded().await;

    // 1. Call the host directly, for events you received and authenticated yourself.
    for app in host.app_names() {
        println!("{app}: {:?}", host.health(&app).await);
    }
    let configure = br#"{"event":"application_configure","company_id":"demo-company"}"#;
    if let Some(app) = host.app_names().first() {
        match host.dispatch(app, configure, "embed-1").await {
            Ok(answer) => println!("{app} answered {answer:?}"),
            Err(error) => println!("{app} refused: {error} (HTTP {})", error.status()),
        }
    }

    // 2. Mount the host's service beside your own routes. It checks tokens
    //    and speaks the contract's routes (/apps/<app>/events, /healthz, ...).
    let keruj = keruj_host::server::service(&host);
    let app = service_fn(move |request: Request<Incoming>| {
        let keruj = keruj.clone();
        async move {
            if request.uri().path() == "/my-service/ping" {
                return Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"pong"))));
            }
            keruj.call(request).await
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let app = app.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), app);
            if let Err(error) = connection.await {
                eprintln!("connection error: {error}");
            }
        });
    }
}
