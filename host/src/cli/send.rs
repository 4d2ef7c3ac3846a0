//! `keruj-host send`: plays Keruj against a running host from a terminal or
//! a script. It builds the event body Keruj would send, finds the app's token
//! in the variable the host reads, posts it to `/apps/<app>/events` and shows
//! the answer: a form drawn as text (see [`crate::cli::form_text`]), `done`, or
//! the error. Exit status: 0 on 2xx, 1 when the host answered otherwise, 2
//! when nothing could be sent (bad arguments, no token, no host).
//!
//! With `--schedule` or `--webhook` it plays the host's own triggers
//! instead (in `send/triggers.rs`).

mod triggers;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use keruj_guest::event::{CONFIGURE, INSTALL, UNINSTALL, UPDATE};
use keruj_guest::form::{ElementKind, Form, is_event_name};
use serde_json::{Map, Value};

use crate::cli::form_text;
use crate::plugin_text::PluginText;
use crate::server::TOKEN_HEADER;
use crate::settings::{AppSettings, default_token_env, is_app_name};

pub use triggers::TriggerArgs;

/// Where the host is unless `--url` or `KERUJ_URL` says otherwise (`serve`'s default).
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// The company events are sent for unless `--company` or `KERUJ_COMPANY` says otherwise.
pub const DEFAULT_COMPANY: &str = "dev-company";
/// How long the host may take to answer (plugins' own limits are far lower).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The binary's name, as the printed `answer with:` line spells it.
const BIN: &str = "keruj-host";

/// The arguments of `keruj-host send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// The app id: the plugin's file name without `.wasm`.
    #[arg(required_unless_present = "webhook")]
    pub app: Option<String>,
    /// The event: `install`, `configure`, `update` or `uninstall` (short for
    /// `application_*`; `install` adds a generated `account_api_key` and
    /// `account_id`), or any event name as is, such as a form's `reply`.
    #[arg(required_unless_present = "webhook")]
    pub event: Option<String>,
    /// The company the event is for.
    #[arg(long, env = "KERUJ_COMPANY", default_value = DEFAULT_COMPANY)]
    pub company: String,
    /// One entry of the event's `data` object (repeatable). VALUE is taken as
    /// JSON when it is a JSON number, `true`, `false`, `null` or a quoted
    /// string; anything else (an empty VALUE too) is sent as a string.
    #[arg(long = "data", value_name = "KEY=VALUE", value_parser = parse_data)]
    pub data: Vec<(String, Value)>,
    /// The whole event body as a JSON object; `event` and `company_id` are
    /// filled in when missing.
    #[arg(long, value_name = "JSON", conflicts_with = "data")]
    pub body: Option<String>,
    /// The running host.
    #[arg(long, env = "KERUJ_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// The app's token [default: the variable the host reads: the sidecar's
    /// `token_env` (with --plugins), else `KERUJ_APP_TOKEN_<APP>`].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The host's plugins folder, to read `<app>.toml`'s `token_env` (and,
    /// with --schedule, its schedules).
    #[arg(long, env = "KERUJ_PLUGINS", value_name = "DIR")]
    pub plugins: Option<PathBuf>,
    /// Print the host's JSON answer as is instead of drawing it.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub triggers: TriggerArgs,
}

impl SendArgs {
    /// The app id (empty with `--webhook`, which names none).
    pub fn app(&self) -> &str {
        self.app.as_deref().unwrap_or_default()
    }
}

/// Parses one `--data KEY=VALUE`: see [`SendArgs::data`] for how VALUE is read.
pub fn parse_data(arg: &str) -> Result<(String, Value), String> {
    let Some((key, raw)) = arg.split_once('=') else {
        return Err(format!("expected KEY=VALUE, got {arg:?}"));
    };
    if key.is_empty() {
        return Err(format!("the key before `=` is empty in {arg:?}"));
    }
    let value = match serde_json::from_str::<Value>(raw) {
        Ok(value) if !value.is_array() && !value.is_object() => value,
        _ => Value::String(raw.to_owned()),
    };
    Ok((key.to_owned(), value))
}

/// The event's full name: the four shorthands expanded, anything else as is.
pub fn event_name(shorthand: &str) -> &str {
    match shorthand {
        "install" => INSTALL,
        "configure" => CONFIGURE,
        "update" => UPDATE,
        "uninstall" => UNINSTALL,
        other => other,
    }
}

/// The body Keruj would send: `event`, `company_id`, `data` from `--data`
/// (or the whole `--body`), and for an install a generated `account_api_key`
/// (`kj_dev_<32 hex>`) and `account_id` unless the body has them.
pub fn build_body(
    event: &str,
    company: &str,
    data: &[(String, Value)],
    body: Option<&str>,
) -> anyhow::Result<Map<String, Value>> {
    anyhow::ensure!(
        is_event_name(event),
        "{event:?} is not an event name (1 to 128 letters, digits, `_`, `-` or `.`)"
    );
    let mut map = match body {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => anyhow::bail!("--body must be a JSON object"),
            Err(e) => anyhow::bail!("--body is not valid JSON: {e}"),
        },
        None => Map::new(),
    };
    match map.get("event") {
        None => {
            map.insert("event".into(), event.into());
        }
        Some(Value::String(named)) if named == event => {}
        Some(other) => anyhow::bail!(
            "--body names the event {other}, the command line {event:?}: make them agree"
        ),
    }
    if !map.contains_key("company_id") {
        map.insert("company_id".into(), company.into());
    }
    if !data.is_empty() {
        let mut object = Map::new();
        for (key, value) in data {
            anyhow::ensure!(
                object.insert(key.clone(), value.clone()).is_none(),
                "--data {key}=... is given twice"
            );
        }
        map.insert("data".into(), Value::Object(object));
    }
    if event == INSTALL {
        let simple = uuid::Uuid::new_v4().simple().to_string();
        map.entry("account_api_key")
            .or_insert_with(|| format!("kj_dev_{simple}").into());
        map.entry("account_id")
            .or_insert_with(|| uuid::Uuid::new_v4().to_string().into());
    }
    Ok(map)
}

/// An app's token and where it was found, for the messages.
#[derive(Clone, PartialEq, Eq)]
pub struct AppToken {
    pub value: String,
    /// `--token`, or the variable it was read from (and what named it).
    pub from: String,
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppToken(<redacted> from {})", self.from)
    }
}

/// The app's token: `--token`, else the variable the host reads for `app`
/// (the sidecar's `token_env` when `plugins` holds `<app>.toml`, else
/// `KERUJ_APP_TOKEN_<APP>`). The error names the variable.
pub fn resolve_token(
    app: &str,
    plugins: Option<&Path>,
    explicit: Option<&str>,
) -> anyhow::Result<AppToken> {
    if let Some(token) = explicit {
        anyhow::ensure!(!token.is_empty(), "--token is empty");
        return Ok(AppToken {
            value: token.to_owned(),
            from: "--token".into(),
        });
    }
    let (variable, named_by) = match plugins {
        Some(dir) => {
            let sidecar = dir.join(format!("{app}.toml"));
            let settings = AppSettings::load(app, &sidecar)
                .with_context(|| format!("reading {}", sidecar.display()))?;
            let named_by = match settings.token_source == default_token_env(app) {
                true => String::new(),
                false => format!(" (`token_env` in {})", sidecar.display()),
            };
            (settings.token_source, named_by)
        }
        None => (default_token_env(app), String::new()),
    };
    match std::env::var(&variable) {
        Ok(value) if !value.is_empty() => Ok(AppToken {
            value,
            from: format!("{variable}{named_by}"),
        }),
        _ => anyhow::bail!(
            "no token for the app {app:?}: set {variable}{named_by} to the token the host \
             was started with, or pass --token"
        ),
    }
}

/// What the host answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Posts `body` to `<url>/apps/<app>/events` with the token header.
pub async fn post(url: &str, app: &str, token: &str, body: &Value) -> anyhow::Result<Answer> {
    let base = reqwest::Url::parse(url).with_context(|| format!("--url {url:?} is not a URL"))?;
    anyhow::ensure!(
        matches!(base.scheme(), "http" | "https"),
        "--url {url:?} must start with http:// or https://"
    );
    let endpoint = format!("{}/apps/{app}/events", url.trim_end_matches('/'));
    let mut client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
    if is_loopback(&base) {
        // A proxy from the environment cannot reach this machine's host.
        client = client.no_proxy();
    }
    let response = client
        .build()?
        .post(&endpoint)
        .header(TOKEN_HEADER, token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the host at {url}: {e}; is `keruj-host serve` running \
                 there? (--url or KERUJ_URL say where)",
                e = error_chain(&e)
            )
        })?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .with_context(|| format!("reading the host's answer from {endpoint}"))?;
    Ok(Answer { status, body })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// An error with its causes, so "connection refused" is not hidden.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What to print and the exit status, decided from the answer alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

/// Shows `answer` to the request `args` made with the token from
/// `token_from`: a 2xx form drawn (or its JSON with `--json`), `done` for an
/// empty 2xx; any other status on stderr with the `error` and `request_id`
/// (or the raw body with `--json`), exit 1.
pub fn show(args: &SendArgs, token_from: &str, answer: &Answer) -> Shown {
    let ok = (200..300).contains(&answer.status);
    let mut shown = Shown {
        stdout: String::new(),
        stderr: String::new(),
        code: if ok { 0 } else { 1 },
    };
    let body = answer.body.trim_end();
    if !ok {
        shown.stderr = match args.json {
            true => format!("{body}\n"),
            false => error_text(args, token_from, answer),
        };
        return shown;
    }
    shown.stdout = match (args.json, body.is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!("{body}\n"),
        (false, true) => "done\n".into(),
        (false, false) => match Form::from_json(body) {
            Ok(form) => format!(
                "{}answer with:\n  {}\n",
                form_text::render(&form),
                reply_command(args, &form)
            ),
            Err(e) => format!(
                "the host answered {} with what is not a form ({e}):\n{}\n",
                answer.status,
                PluginText::new(body)
            ),
        },
    };
    shown
}

/// `status reason`, the `error` and `request_id` of an error answer, and what to do.
fn error_text(args: &SendArgs, token_from: &str, answer: &Answer) -> String {
    let reason = http::StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut text = format!("{BIN} send: the host answered {} {reason}\n", answer.status);
    match serde_json::from_str::<Value>(&answer.body) {
        Ok(Value::Object(body)) if body.contains_key("error") => {
            for key in ["error", "request_id"] {
                if let Some(value) = body.get(key) {
                    let value = PluginText::new(form_text::value_text(value));
                    text.push_str(&format!("{key}: {value}\n"));
                }
            }
        }
        _ if answer.body.trim().is_empty() => {}
        // Not the host's error JSON (another server at the URL?): as is, escaped.
        _ => text.push_str(&format!("{}\n", PluginText::new(answer.body.trim_end()))),
    }
    let hint = match answer.status {
        401 => format!(
            "the token from {token_from} is not the one the host has for {:?}: \
             give the value the host was started with",
            args.app()
        ),
        404 => format!(
            "no app {:?} is loaded at {}: check the name (the plugin's file stem) and \
             `GET /apps/{}/health`",
            args.app(),
            args.url,
            args.app()
        ),
        409 => format!(
            "the company {:?} has not installed the app: run `{BIN} send {} install --company {}` first",
            args.company,
            args.app(),
            quote(&args.company)
        ),
        _ => String::new(),
    };
    if !hint.is_empty() {
        text.push_str(&format!("hint: {hint}\n"));
    }
    text
}

/// The exact `keruj-host send` line that answers `form`: its `reply`, the
/// same company, url and plugins folder, and a `--data` per answerable field
/// holding its initial value (masked and empty ones left blank, a checkbox
/// without one `false`): edit the values and run it.
pub fn reply_command(args: &SendArgs, form: &Form) -> String {
    let mut words: Vec<String> = vec![
        BIN.into(),
        "send".into(),
        args.app().to_owned(),
        form.reply.clone(),
    ];
    if args.company != DEFAULT_COMPANY {
        words.extend(["--company".into(), args.company.clone()]);
    }
    if args.url != DEFAULT_URL {
        words.extend(["--url".into(), args.url.clone()]);
    }
    if let Some(plugins) = &args.plugins {
        words.extend(["--plugins".into(), plugins.display().to_string()]);
    }
    for element in form.elements.iter().filter(|e| form_text::is_answerable(e)) {
        let value = match (&element.value, form_text::is_masked(element)) {
            (Some(value), false) => data_text(value),
            _ if element.kind == ElementKind::Checkbox => "false".into(),
            _ => String::new(),
        };
        words.extend(["--data".into(), format!("{}={value}", element.name)]);
    }
    words
        .iter()
        .map(|word| quote(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value as `--data` reads it back unchanged: a string that [`parse_data`]
/// would take for JSON is written as a JSON string.
fn data_text(value: &Value) -> String {
    match value {
        Value::String(text) => match parse_data(&format!("k={text}")) {
            Ok((_, Value::String(_))) => text.clone(),
            _ => value.to_string(),
        },
        other => other.to_string(),
    }
}

/// `word` quoted for a POSIX shell when it needs to be. `=` is safe past a
/// command's name (shlex quotes it anyway, in case a word is an assignment).
fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    shlex::try_quote(word).map_or_else(|_| word.to_owned(), |q| q.into_owned())
}

/// `keruj-host send`, start to end: the exit status of [`show`], or 2 with
/// the reason on stderr when nothing could be sent.
pub async fn run(mut args: SendArgs) -> ExitCode {
    if let Some(url) = args.triggers.webhook.clone() {
        return triggers::run(&args, &url).await;
    }
    match send(&mut args).await {
        Ok((token, answer)) => {
            let shown = show(&args, &token.from, &answer);
            print!("{}", shown.stdout);
            eprint!("{}", shown.stderr);
            ExitCode::from(shown.code)
        }
        Err(error) => {
            eprintln!("{BIN} send: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Sends the event; `args.company` becomes the company it was sent for
/// (`--body` may name another), which the answer line and hints repeat.
async fn send(args: &mut SendArgs) -> anyhow::Result<(AppToken, Answer)> {
    let app = args.app().to_owned();
    anyhow::ensure!(
        is_app_name(&app),
        "{app:?} is not an app id (lowercase letters, digits, `_` and `-`, as the plugin's file name)"
    );
    let event = event_name(args.event.as_deref().unwrap_or_default());
    let mut body = build_body(event, &args.company, &args.data, args.body.as_deref())?;
    if args.triggers.schedule {
        triggers::schedule_body(&app, args.plugins.as_deref(), &mut body)?;
    }
    if let Some(Value::String(company)) = body.get("company_id") {
        args.company.clone_from(company);
    }
    let token = resolve_token(&app, args.plugins.as_deref(), args.token.as_deref())?;
    let answer = post(&args.url, &app, &token.value, &Value::Object(body)).await?;
    Ok((token, answer))
}

#[cfg(test)]
mod tests;
