//! Hardening II: an uninstall that really deletes, a front door that holds
//! when descriptors run out, and a log no plugin can flood or forge. Each
//! test failed on the host before its fix.

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, TOKEN, event, faulty, hello, install, plugin, submission};

/// What `probe` showed in its `info` form.
fn seen(answer: &crate::support::Answer) -> String {
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["elements"][0]["label"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The host's log lines that mention `needle`.
fn lines_with(host: &Host, needle: &str) -> Vec<String> {
    host.log()
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// A stub that holds every request until the test lets it go: a plugin
/// waiting on it is mid-event for as long as the test needs.
struct Gate {
    stub: Stub,
    /// A message each time a request reaches the stub.
    arrived: mpsc::Receiver<()>,
    /// Each message lets one held request be answered.
    release: mpsc::Sender<()>,
}

impl Gate {
    fn start() -> Gate {
        let (arrived_tx, arrived) = mpsc::channel::<()>();
        let (release, released) = mpsc::channel::<()>();
        let (arrived_tx, released) = (Mutex::new(arrived_tx), Mutex::new(released));
        let stub = Stub::start(move |_| {
            arrived_tx.lock().unwrap().send(()).unwrap();
            let _ = released
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
            Reply::json(json!({"ok": true}))
        });
        Gate {
            stub,
            arrived,
            release,
        }
    }
}

impl Stub {
    /// A sidecar allowing this stub, with time for a held call, plus `more`.
    fn sidecar(&self, more: &str) -> String {
        format!(
            "allowed_hosts = [\"{}\"]\nhttp_timeout_ms = 30000\ntimeout_ms = 30000\n{more}",
            self.authority()
        )
    }
}

#[test]
fn writes_racing_an_uninstall_do_not_survive_it() {
    // The event is mid-flight, deterministically, while the uninstall runs.
    let Gate {
        stub: gate,
        arrived,
        release,
    } = Gate::start();
    let host = Arc::new(Host::start(
        Setup::new()
            .app("probe", &plugin("probe"))
            .sidecar(&gate.sidecar("")),
    ));
    let company = "co-race-g";
    assert_eq!(host.send("probe", &install(company)).status, 200);

    let write = submission(
        "slow_write",
        company,
        json!({"url": gate.url("/slow"), "key": "late", "value": "survivor-7f1e"}),
    );
    let slow = {
        let host = host.clone();
        std::thread::spawn(move || host.send("probe", &write))
    };
    arrived
        .recv_timeout(Duration::from_secs(60))
        .expect("the slow event reached its outbound call");
    let uninstall = host.send("probe", &event("application_uninstall", company));
    assert_eq!(uninstall.status, 200, "{}", uninstall.body);
    release.send(()).unwrap();

    // The event that began before the uninstall had both writes refused,
    // and the SDK handed the plugin an error saying why.
    let shown = seen(&slow.join().unwrap());
    assert!(
        shown.contains("kv: refused: ") && shown.contains("secret: refused: "),
        "{shown}"
    );
    assert!(shown.contains("uninstalled"), "{shown}");
    assert_eq!(
        lines_with(&host, "plugin write refused").len(),
        2,
        "{}",
        host.log()
    );

    // Installed again, the company finds nothing of the earlier install.
    assert_eq!(host.send("probe", &install(company)).status, 200);
    let kv = host.send(
        "probe",
        &submission("kv_get", company, json!({"key": "late"})),
    );
    assert_eq!(seen(&kv), "ok: <none>");
    let secret = host.send(
        "probe",
        &submission("secret_get", company, json!({"name": "late"})),
    );
    assert_eq!(seen(&secret), "ok: <none>");
    let mut host = Arc::into_inner(host).expect("the slow sender is done");
    host.stop();
    assert!(
        !host.db_contains("survivor-7f1e"),
        "the late write is stored"
    );
}

#[test]
fn running_out_of_descriptors_leaves_health_and_clients_served() {
    const LIMIT: u64 = 256;
    const IDLE: usize = 300;
    // Idle connections are not dropped by the header timeout during the test.
    let host = Host::start(
        Setup::new()
            .app("hello", hello())
            .descriptor_limit(LIMIT)
            .env("KERUJ_HEADER_TIMEOUT_MS", "120000"),
    );
    let company = "co-descriptors-1";
    assert_eq!(host.send("hello", &install(company)).status, 200);
    let log_before = host.log().len();

    // More idle connections than the host has descriptors.
    let addr = host.url("").trim_start_matches("http://").to_owned();
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(&addr).expect("the kernel accepts the connection"))
        .collect();

    // Health and a well-behaved client get in at once: not after the
    // two-minute header timeout that would free the idle ones.
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..5 {
        let health = client
            .get(host.url("/healthz"))
            .send()
            .expect("/healthz answers while the idle connections are held");
        assert_eq!(health.status(), 200);
    }
    let configure = client
        .post(host.url("/apps/hello/events"))
        .header("x-keruj-app-token", TOKEN)
        .body(event("application_configure", company).to_string())
        .send()
        .expect("hello answers while the idle connections are held");
    assert_eq!(configure.status(), 200);

    // The bound engaged (half of 256), and the log says so in a few lines,
    // not millions of them.
    let accepting = lines_with(&host, "accepting connections");
    assert!(
        accepting[0].contains("max_connections=128"),
        "{accepting:?}"
    );
    assert!(
        !lines_with(&host, "at the connection limit").is_empty(),
        "{}",
        host.log()
    );
    let written = host.log().len() - log_before;
    assert!(
        written < 16 * 1024,
        "{written} bytes of log:\n{}",
        &host.log()[log_before..]
    );
    assert!(
        lines_with(&host, "accept failed").len() <= 5,
        "{}",
        host.log()
    );
    drop(idle);
}

#[test]
fn a_plugin_cannot_flood_the_log() {
    let host = Host::start(Setup::new().app("faulty", faulty()));
    let company = "co-log-flood-1";
    assert_eq!(host.send("faulty", &install(company)).status, 200);
    let before = host.log().len();
    let answer = host.send("faulty", &submission("log_flood", company, json!({})));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let log = &host.log()[before..];
    let plugin_lines = log.lines().filter(|l| l.contains(" plugin:")).count();
    assert!(
        plugin_lines <= 100,
        "{plugin_lines} plugin lines from one event"
    );
    assert_eq!(
        log.matches("log budget of this event used up").count(),
        1,
        "{log}"
    );
    assert!(log.len() < 32 * 1024, "{} bytes of log", log.len());
}

#[test]
fn plugin_text_in_the_log_is_escaped_and_bounded() {
    let host = Host::start(Setup::new().app("faulty", faulty()));
    let company = "co-log-forge-1";
    assert_eq!(host.send("faulty", &install(company)).status, 200);
    let forged = "INFO keruj_host::dispatch: installed app=\"victim\" company=\"c\"";

    let lines = json!([
        format!("fine\n{forged}"),
        "bell\u{7}\r\u{1b}[2Jcleared\u{2028}"
    ]);
    let answer = host.send(
        "faulty",
        &submission("log_lines", company, json!({"lines": lines})),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let failed = host.send(
        "faulty",
        &submission(
            "fail_with",
            company,
            json!({"message": format!("boom\n{forged}")}),
        ),
    );
    failed.assert_error(500);

    // Every line naming the victim is one the host tagged, the newline
    // escaped inside it: no line of the log starts with the forgery.
    let victims = lines_with(&host, "victim");
    assert_eq!(victims.len(), 2, "{victims:#?}");
    for line in &victims {
        assert!(line.contains("\\nINFO keruj_host"), "{line}");
        assert!(line.contains("faulty") && line.contains(company), "{line}");
    }
    assert!(
        !host.log().lines().any(|line| line.starts_with("INFO")),
        "{}",
        host.log()
    );
    let escaped = lines_with(&host, "bell");
    assert_eq!(escaped.len(), 1, "{}", host.log());
    assert!(
        escaped[0].contains("bell\\u{7}\\r\\u{1b}[2Jcleared\\u{2028}"),
        "{}",
        escaped[0]
    );

    // 8 MiB of error text: one line, cut to the bound and marked.
    let huge = host.send("faulty", &submission("fail_with", company, json!({})));
    huge.assert_error(500);
    let line = lines_with(&host, "xxxxxxxx")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no line of the error:\n{}", host.log()));
    assert!(line.len() < 3 * 1024, "a {} byte line", line.len());
    assert!(line.contains("[cut: "), "{line}");
    assert!(
        line.contains(company),
        "the failure names no company: {line}"
    );
    assert!(line.contains(" ERROR "), "{line}");
}

#[test]
fn an_invalid_reply_is_named_by_its_rule_not_echoed() {
    let host = Host::start(Setup::new().app("faulty", faulty()));
    let company = "co-raw-reply-1";
    assert_eq!(host.send("faulty", &install(company)).status, 200);
    let evil = "<img src=x onerror=alert(1)>";
    let long_name: String = format!("{evil}{}", "y".repeat(200_000));
    let replies = [
        json!({"reply": long_name, "title": "t", "elements": []}),
        json!({"reply": "ok", "title": "t", "elements": [{"type": evil, "name": "a", "label": "a"}]}),
        json!({"reply": "ok", "title": "t", "elements": [], "errors": {evil: "x"}}),
    ];
    for reply in replies {
        let raw = submission("raw_reply", company, json!({"json": reply.to_string()}));
        let answer = host.send("faulty", &raw);
        answer.assert_error(500);
        assert!(!answer.body.contains("img"), "{}", answer.body);
        assert!(answer.body.len() < 1024, "{} bytes", answer.body.len());
        assert!(
            answer.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("the app's reply is not a valid form: "),
            "{}",
            answer.body
        );
    }
    // The detail is in the log, bounded.
    let details = lines_with(&host, "onerror");
    assert_eq!(details.len(), 3, "{}", host.log());
    assert!(details.iter().all(|line| line.len() < 3 * 1024));
}

#[test]
fn two_apps_reading_one_token_variable_serve_neither() {
    // `twin-app` and `twin_app` both read KERUJ_APP_TOKEN_TWIN_APP.
    let host = Host::start(
        Setup::new()
            .app("twin-app", hello())
            .app("twin_app", hello()),
    );
    for app in ["twin-app", "twin_app"] {
        let health = host.get(&format!("/apps/{app}/health"));
        assert_eq!(health.status, 503, "{app}: {}", health.body);
        let problem = health.json()["problem"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            problem.contains("KERUJ_APP_TOKEN_TWIN_APP") && problem.contains("token_env"),
            "{problem}"
        );
        host.send(app, &install("co-twin-1")).assert_error(503);
    }
    assert_eq!(
        lines_with(&host, "app refused: its token variable").len(),
        2
    );

    // Each with its own variable, both serve, and each token only its app.
    let host = Host::start(
        Setup::new()
            .app("twin-app", hello())
            .sidecar("token_env = \"TWIN_DASH_TOKEN\"\n")
            .without_token()
            .app("twin_app", hello())
            .sidecar("token_env = \"TWIN_UNDERSCORE_TOKEN\"\n")
            .without_token()
            .env("TWIN_DASH_TOKEN", TOKEN)
            .env("TWIN_UNDERSCORE_TOKEN", "another-token-2b"),
    );
    assert_eq!(host.send("twin-app", &install("co-twin-2")).status, 200);
    let wrong = host.post("twin_app", Some(TOKEN), install("co-twin-2").to_string());
    wrong.assert_error(401);
    let right = host.post(
        "twin_app",
        Some("another-token-2b"),
        install("co-twin-2").to_string(),
    );
    assert_eq!(right.status, 200, "{}", right.body);
}

#[test]
fn busy_refusals_are_warnings_and_rate_limited() {
    let Gate {
        stub: gate,
        arrived,
        release,
    } = Gate::start();
    let host = Arc::new(Host::start(
        Setup::new()
            .app("probe", &plugin("probe"))
            .sidecar(&gate.sidecar("max_concurrency = 1\n")),
    ));
    let company = "co-busy-log-1";
    assert_eq!(host.send("probe", &install(company)).status, 200);
    let holder = {
        let host = host.clone();
        let body = submission("fetch", company, json!({"url": gate.url("/hold")}));
        std::thread::spawn(move || host.send("probe", &body))
    };
    arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    for _ in 0..50 {
        host.send("probe", &event("application_configure", company))
            .assert_error(503);
    }
    release.send(()).unwrap();
    assert_eq!(holder.join().unwrap().status, 200);

    let busy = lines_with(&host, "the app is busy");
    assert!(!busy.is_empty(), "{}", host.log());
    assert!(
        busy.len() < 50,
        "{} busy lines: not rate-limited",
        busy.len()
    );
    for line in &busy {
        assert!(line.contains(" WARN ") && line.contains(company), "{line}");
    }
}

#[test]
fn routes_are_exact_and_unknown_names_are_not_echoed() {
    let host = Host::start(Setup::new().app("hello", hello()));
    let body = install("co-routes-1").to_string();
    for path in [
        "//apps/hello/events",
        "/apps//hello/events",
        "/apps/hello/events/",
    ] {
        let answer = host.post_path(path, &body);
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
    }
    let long = "a".repeat(8 * 1024);
    let answer = host.post(&long, Some(TOKEN), body.clone());
    answer.assert_error(404);
    assert!(answer.body.len() < 512, "{} bytes", answer.body.len());
    let health = host.get(&format!("/apps/{long}/health"));
    assert_eq!(health.status, 404);
    assert!(health.body.len() < 512, "{} bytes", health.body.len());
    // A name that could be an app is still named.
    let answer = host.post("nope", Some(TOKEN), body);
    answer.assert_error(404);
    assert!(answer.body.contains("nope"), "{}", answer.body);
}

#[test]
fn traps_are_described_once_and_plainly() {
    let host = Host::start(Setup::new().app("faulty", faulty()));
    let company = "co-trap-text-1";
    assert_eq!(host.send("faulty", &install(company)).status, 200);
    host.send("faulty", &event("trap", company))
        .assert_error(500);
    let lines = lines_with(&host, "wasm trap");
    assert_eq!(lines.len(), 1, "{}", host.log());
    assert!(!lines[0].contains("wasm trap: wasm trap"), "{}", lines[0]);
    assert!(lines[0].contains("unreachable"), "{}", lines[0]);
    assert!(lines[0].contains(company), "{}", lines[0]);
}

impl Host {
    /// Posts `body` with the token to a raw `path`, as sent.
    fn post_path(&self, path: &str, body: &str) -> crate::support::Answer {
        let addr = self.url("").trim_start_matches("http://").to_owned();
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
             x-keruj-app-token: {TOKEN}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut raw);
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        crate::support::Answer {
            status,
            content_type: String::new(),
            body: body.to_owned(),
        }
    }
}
