//! `wasi-fetch`: a test plugin that sends HTTP through `wasi:http`, the way
//! JavaScript's `fetch` or Python's `urllib` do once compiled to a
//! component, and shows what came back in an `info` form
//! (`{"reply": "fetched", ...}`, the label `ok: ...` or `error: ...`).
//!
//! Events (parameters in `data`):
//! - `fetch {url, follow?}`: a GET; with `follow = "yes"` it follows
//!   redirects itself, as `fetch` does (each hop a new request);
//! - `post {url, body}`: a POST with `body`, streamed out;
//! - `count {url, capability, wasi}`: `capability` GETs through
//!   `keruj:plugin/http`, then `wasi` GETs through `wasi:http`; says how many
//!   were answered and the first error.
//!
//! It also exports `wasi:http/incoming-handler` (a server side the host must
//! ignore: it serves `handle-event`).

mod wasi_http;

use keruj_guest::form::{Element, Form};
use keruj_guest::{App, Context, Error, Event, Reply, Submission, http};
use wasi_http::Server;

struct WasiFetch;

impl App for WasiFetch {
    fn handle(_ctx: &Context, event: Event) -> Result<Reply, Error> {
        let Event::Submit(call) = event else {
            return Ok(Reply::Done);
        };
        let seen = match call.name.as_str() {
            "fetch" => fetch(&call),
            "post" => wasi_http::send("POST", &arg(&call, "url"), arg(&call, "body").as_bytes())
                .map(|answer| answer.to_string()),
            "count" => Ok(count(&call)),
            other => Err(format!("wasi-fetch does not know {other}")),
        };
        let label = match seen {
            Ok(text) => format!("ok: {text}"),
            Err(error) => format!("error: {error}"),
        };
        let label: String = label.chars().take(2_000).collect();
        Ok(Form::new("fetched", "Fetched")
            .element(Element::info("seen", label))
            .into())
    }
}

fn arg(call: &Submission, name: &str) -> String {
    call.text(name).unwrap_or_default().to_owned()
}

/// A GET; following redirects (at most 5) when asked, each hop a new request.
fn fetch(call: &Submission) -> Result<String, String> {
    let mut url = arg(call, "url");
    let follow = call.text("follow") == Some("yes");
    for _ in 0..=5 {
        let answer = wasi_http::send("GET", &url, b"")?;
        match answer.location.as_deref() {
            Some(location) if follow && (300..400).contains(&answer.status) => {
                url = wasi_http::join(&url, location);
            }
            _ => return Ok(answer.to_string()),
        }
    }
    Err("too many redirects".into())
}

/// Calls over both interfaces against one budget.
fn count(call: &Submission) -> String {
    let url = arg(call, "url");
    let times = |name: &str| arg(call, name).parse::<u32>().unwrap_or(0);
    let mut answered = 0;
    for _ in 0..times("capability") {
        match http::Request::get(&url).send() {
            Ok(_) => answered += 1,
            Err(error) => return format!("{answered} answered, then keruj:plugin/http: {error}"),
        }
    }
    for _ in 0..times("wasi") {
        match wasi_http::send("GET", &url, b"") {
            Ok(_) => answered += 1,
            Err(error) => return format!("{answered} answered, then wasi:http: {error}"),
        }
    }
    format!("{answered} answered")
}

keruj_guest::export_app!(WasiFetch);
wasi::http::proxy::export!(Server);
