//! Hostile requests over the real HTTP front, table-driven: none may reach
//! a plugin or change stored data. Each request tries to store a marker
//! through the `probe` plugin's `kv_set` for an installed company; after the
//! table, the database must be exactly what it was before.
//! Slow clients (slow loris) lose their connection without harming others.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Host, Setup, TOKEN, event, hello, install, plugin, submission};

const COMPANY: &str = "co-hostile-req-1";
const LIMIT: usize = 1024 * 1024;

/// A `kv_set` that stores `marker` if it ever reaches the plugin.
fn kv_set(marker: &str) -> String {
    submission("kv_set", COMPANY, json!({"key": marker, "value": marker})).to_string()
}

/// A raw HTTP/1.1 request: method, path, extra header lines, body.
fn request(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nhost: keruj\r\nconnection: close\r\n");
    for header in headers {
        raw.push_str(header);
        raw.push_str("\r\n");
    }
    raw.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}

const TOKEN_LINE: &str = "x-keruj-app-token: e2e-token-7f3a9c";

/// A POST to the probe's events with the right token.
fn post(body: &[u8]) -> Vec<u8> {
    request("POST", "/apps/probe/events", &[TOKEN_LINE], body)
}

/// Sends `raw` on a new connection; the status of the answer, or `None`
/// when the host closed the connection without one.
fn exchange(host: &Host, raw: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(host.url("").trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // The host may stop reading early (a refused body): its answer matters.
    let _ = stream.write_all(raw);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.split(' ').nth(1)?.parse().ok()
}

fn padded(marker: &str, size: usize) -> Vec<u8> {
    let head =
        format!(r#"{{"event":"kv_set","company_id":"co-never-installed","x":"{marker}","pad":""#);
    let mut body = head.into_bytes();
    body.resize(size - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

fn nested(depth: usize) -> Vec<u8> {
    let mut body = br#"{"event":"kv_set","company_id":"co-hostile-req-1","data":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', depth));
    body.extend(std::iter::repeat_n(b']', depth));
    body.push(b'}');
    body
}

/// Every hostile request and the status it must get.
fn table() -> Vec<(&'static str, Vec<u8>, u16)> {
    let marker = |i: u32| format!("MARKER-{i}");
    let with_company = |value: &str| {
        format!(
            r#"{{"event":"kv_set","company_id":{value},"data":{{"key":"MARKER-c","value":"v"}}}}"#
        )
        .into_bytes()
    };
    let with_event = |value: &str| {
        format!(r#"{{"event":{value},"company_id":"{COMPANY}","data":{{"key":"MARKER-e","value":"v"}}}}"#)
            .into_bytes()
    };
    let long = |n: usize| with_company(&format!("\"{}\"", "c".repeat(n)));
    let chunked_over = {
        let mut raw = format!(
            "POST /apps/probe/events HTTP/1.1\r\nhost: keruj\r\nconnection: close\r\n{TOKEN_LINE}\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for _ in 0..(LIMIT / 65536 + 1) {
            raw.extend_from_slice(b"10000\r\n");
            raw.extend(std::iter::repeat_n(b' ', 65536));
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        raw
    };
    let mut invalid_utf8 = kv_set(&marker(1)).into_bytes();
    let at = invalid_utf8.len() - 4;
    invalid_utf8.splice(at..at, [0xff, 0xfe, 0xc0]);
    let body = |i| kv_set(&marker(i)).into_bytes();
    vec![
        // Size: at the limit is read (then refused as not installed), over it is not.
        ("body exactly at the limit", post(&padded("MARKER-2", LIMIT)), 409),
        ("body one byte over", post(&padded("MARKER-3", LIMIT + 1)), 413),
        ("chunked body over the limit", chunked_over, 413),
        // Shape.
        ("invalid UTF-8", post(&invalid_utf8), 400),
        ("deep nesting", post(&nested(100_000)), 400),
        ("nesting past serde's limit", post(&nested(200)), 400),
        (
            "company_id twice",
            post(format!(r#"{{"event":"kv_set","company_id":"co-other","company_id":"{COMPANY}","data":{{"key":"MARKER-4","value":"v"}}}}"#).as_bytes()),
            400,
        ),
        (
            "event twice",
            post(format!(r#"{{"event":"application_install","event":"kv_set","company_id":"{COMPANY}","data":{{"key":"MARKER-5","value":"v"}}}}"#).as_bytes()),
            400,
        ),
        (
            "data key twice",
            post(format!(r#"{{"event":"kv_set","company_id":"{COMPANY}","data":{{"key":"x","key":"MARKER-6","value":"v"}}}}"#).as_bytes()),
            400,
        ),
        ("event a number", post(&with_event("7")), 400),
        ("event null", post(&with_event("null")), 400),
        ("event an array", post(&with_event(r#"["kv_set"]"#)), 400),
        ("event an object", post(&with_event(r#"{"name":"kv_set"}"#)), 400),
        ("event with a slash", post(&with_event(r#""../kv_set""#)), 400),
        ("company_id a number", post(&with_company("7")), 400),
        ("company_id true", post(&with_company("true")), 400),
        ("company_id null", post(&with_company("null")), 400),
        ("company_id an array", post(&with_company(&format!(r#"["{COMPANY}"]"#))), 400),
        ("company_id an object", post(&with_company(r#"{"id":1}"#)), 400),
        ("company_id of 257 bytes", post(&long(257)), 400),
        ("company_id of 512 KiB", post(&long(512 * 1024)), 400),
        // App names.
        ("app ..", request("POST", "/apps/../events", &[TOKEN_LINE], &body(7)), 404),
        ("app ..%2Fprobe", request("POST", "/apps/..%2Fprobe/events", &[TOKEN_LINE], &body(8)), 404),
        ("app probe%2F..", request("POST", "/apps/probe%2F..%2Fprobe/events", &[TOKEN_LINE], &body(9)), 404),
        ("path with ..", request("POST", "/apps/probe/../probe/events", &[TOKEN_LINE], &body(10)), 404),
        ("app upper case", request("POST", "/apps/PROBE/events", &[TOKEN_LINE], &body(11)), 404),
        ("app unicode", request("POST", "/apps/pr%C3%B6be/events", &[TOKEN_LINE], &body(12)), 404),
        ("app with a trailing slash", request("POST", "/apps/probe/events/", &[TOKEN_LINE], &body(13)), 404),
        // Methods.
        ("GET events", request("GET", "/apps/probe/events", &[TOKEN_LINE], &body(14)), 405),
        ("PUT events", request("PUT", "/apps/probe/events", &[TOKEN_LINE], &body(15)), 405),
        ("DELETE events", request("DELETE", "/apps/probe/events", &[TOKEN_LINE], &body(16)), 405),
        ("PATCH events", request("PATCH", "/apps/probe/events", &[TOKEN_LINE], &body(17)), 405),
        ("OPTIONS events", request("OPTIONS", "/apps/probe/events", &[TOKEN_LINE], &body(18)), 405),
        ("invented method", request("KERUJ", "/apps/probe/events", &[TOKEN_LINE], &body(19)), 405),
        ("POST health", request("POST", "/apps/probe/health", &[TOKEN_LINE], &body(20)), 405),
        ("POST healthz", request("POST", "/healthz", &[TOKEN_LINE], &body(21)), 405),
        // Token.
        ("no token", request("POST", "/apps/probe/events", &[], &body(22)), 401),
        ("token twice", request("POST", "/apps/probe/events", &[TOKEN_LINE, TOKEN_LINE], &body(23)), 401),
        (
            "right and wrong token",
            request("POST", "/apps/probe/events", &[TOKEN_LINE, "x-keruj-app-token: nope"], &body(24)),
            401,
        ),
        ("token upper case", request("POST", "/apps/probe/events", &["x-keruj-app-token: E2E-TOKEN-7F3A9C"], &body(25)), 401),
        ("token prefix", request("POST", "/apps/probe/events", &["x-keruj-app-token: e2e-token"], &body(26)), 401),
        ("token empty", request("POST", "/apps/probe/events", &["x-keruj-app-token:"], &body(27)), 401),
        ("token in another header", request("POST", "/apps/probe/events", &["x-keruj-app-token-2: e2e-token-7f3a9c"], &body(28)), 401),
    ]
}

#[test]
fn hostile_requests_reach_no_plugin_and_change_nothing() {
    let mut host = Host::start(Setup::new().app("probe", &plugin("probe")));
    assert_eq!(host.send("probe", &install(COMPANY)).status, 200);
    // The control: a well-formed request does reach the plugin and store.
    let control = host.post("probe", Some(TOKEN), kv_set("CONTROL"));
    assert_eq!(control.status, 200, "{}", control.body);
    host.stop();
    let before = host.db_entries();
    let holds = |entries: &[Vec<u8>], needle: &[u8]| {
        entries
            .iter()
            .any(|e| e.windows(needle.len()).any(|w| w == needle))
    };
    assert!(holds(&before, b"CONTROL"), "the control was not stored");

    host.start_again();
    let mut wrong = Vec::new();
    for (what, raw, status) in table() {
        let got = exchange(&host, &raw);
        if got != Some(status) {
            wrong.push(format!("{what}: expected {status}, got {got:?}"));
        }
    }
    // The host still serves a well-formed request.
    assert_eq!(host.get("/apps/probe/health").status, 200);
    host.stop();
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));

    let after = host.db_entries();
    assert!(!holds(&after, b"MARKER"), "a hostile request stored data");
    assert_eq!(before, after, "stored data changed");
}

/// Writes `parts` one every `pause` until the host closes the connection
/// or answers; returns the status (`None`: closed without one) and when.
fn trickle(host: &Host, head: &str, part: &[u8], pause: Duration) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(host.url("").trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let _ = stream.write_all(head.as_bytes());
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        if stream.write_all(part).is_err() && answer.is_empty() {
            // Closed for writing; read what may still be there.
            stream
                .set_read_timeout(Some(Duration::from_secs(1)))
                .unwrap();
            let _ = stream.read_to_end(&mut answer);
            break;
        }
        std::thread::sleep(pause);
    }
    let status = String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok());
    (status, started.elapsed())
}

#[test]
fn slow_loris_clients_are_cut_off_without_harming_others() {
    let host = Host::start(
        Setup::new()
            .app("probe", &plugin("probe"))
            .app("hello", hello())
            .env("KERUJ_HEADER_TIMEOUT_MS", "1500")
            .env("KERUJ_BODY_TIMEOUT_MS", "1500"),
    );
    assert_eq!(host.send("hello", &install(COMPANY)).status, 200);
    let pause = Duration::from_millis(200);
    let headers = "POST /apps/probe/events HTTP/1.1\r\nhost: keruj\r\n";
    let body_head = format!(
        "POST /apps/probe/events HTTP/1.1\r\nhost: keruj\r\n{TOKEN_LINE}\r\ncontent-length: 1000\r\n\r\n{{"
    );
    std::thread::scope(|scope| {
        let slow_headers = scope.spawn(|| trickle(&host, headers, b"x-a: b\r\n", pause));
        let slow_body = scope.spawn(|| trickle(&host, &body_head, b" ", pause));
        // Meanwhile, other clients are served.
        for _ in 0..5 {
            let form = host.send("hello", &event("application_configure", COMPANY));
            assert_eq!(form.status, 200, "{}", form.body);
            std::thread::sleep(Duration::from_millis(200));
        }
        let (status, took) = slow_headers.join().unwrap();
        assert!(
            matches!(status, None | Some(408)),
            "trickled headers got {status:?}"
        );
        assert!(
            took < Duration::from_secs(15),
            "trickled headers kept for {took:?}"
        );
        let (status, took) = slow_body.join().unwrap();
        assert_eq!(status, Some(408), "trickled body");
        assert!(
            took < Duration::from_secs(15),
            "trickled body kept for {took:?}"
        );
    });
    assert_eq!(host.get("/healthz").status, 200);
}
