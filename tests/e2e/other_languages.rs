//! Apps written in JavaScript and Python with their SDKs (`guest-sdk/js`,
//! `guest-sdk/python`): `plugins/hello-js` and `plugins/hello-py`, built with
//! the SDKs' one-command builds, live the same life as the Rust `hello`,
//! plus data kept across events and outbound HTTP under the allowlist.
//!
//! The tools come from `scripts/install-guest-tools` (npm and PyPI packages;
//! quick when installed), which these tests run themselves. Where it fails
//! they fail and say why, unless `KERUJ_SKIP_OTHER_LANGUAGE_TESTS=1` (which
//! `scripts/test` sets when it cannot install the tools), and that unless
//! `KERUJ_TEST_REQUIRE_GUEST_TOOLS` (CI) says they must run.
//!
//! Each app is built once per run and kept in `target/plugins/guest-apps/`
//! under a hash of its sources, the SDK's and the WIT, so a run with
//! nothing changed builds nothing.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, event, hello_form, install, submission, workspace};

/// How long an app may take to be ready after the host listens (a 12-18 MB
/// component compiles for 10-20 s; CI's cores are shared).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn hello_js_lives_the_whole_lifecycle() {
    if tools_skipped() {
        return;
    }
    lifecycle("hello-js", hello_js());
}

#[test]
fn hello_py_lives_the_whole_lifecycle() {
    if tools_skipped() {
        return;
    }
    lifecycle("hello-py", hello_py());
}

/// A restart with a new app that takes long to compile (an 18 MB Python
/// component): the apps in the compile cache serve as soon as the host
/// listens, and the new one says `compiling` until it serves too.
#[test]
fn apps_already_compiled_serve_while_a_new_one_compiles() {
    if tools_skipped() {
        return;
    }
    let mut host = Host::start(Setup::new().app("hello", crate::support::hello()));
    let company = "co-compiling-1";
    assert_eq!(host.send("hello", &install(company)).status, 200);
    host.stop();
    std::fs::copy(hello_py(), host.plugins_dir().join("hello-py.wasm")).unwrap();
    host.set_env("KERUJ_APP_TOKEN_HELLO_PY", crate::support::TOKEN);
    host.start_again_listening();

    let health = host.get("/apps/hello-py/health");
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(
        health.json()["problem"]
            .as_str()
            .unwrap_or_default()
            .starts_with("compiling"),
        "{}",
        health.body
    );
    host.send("hello-py", &install(company)).assert_error(503);
    // Not ready for a load balancer either, and it says why.
    let ready = host.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(
        ready.json()["compiling"],
        json!(["hello-py"]),
        "{}",
        ready.body
    );
    let form = host.send("hello", &event("application_configure", company));
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(form.json(), hello_form());

    wait_until_ready(&host, "hello-py");
    assert_eq!(host.get("/apps/hello-py/health").status, 200);
    // Ready once the start-up compiles are done (a moment after the app serves).
    let deadline = Instant::now() + READY_TIMEOUT;
    while host.get("/readyz").status != 200 {
        assert!(Instant::now() < deadline, "{}", host.get("/readyz").body);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(host.send("hello-py", &install(company)).status, 200);
}

/// The dialogue of `lifecycle::full_dialogue_with_hello`, then kv and HTTP,
/// against one app in one host.
fn lifecycle(app: &str, wasm: &Path) {
    let allowed = Stub::start(|request| match request.path.as_str() {
        "/hello" => Reply::json(json!({"hi": "there"})),
        _ => Reply::status(404),
    });
    let outside = Stub::start(|_| Reply::json(json!({"stolen": true})));
    let sidecar = format!("allowed_hosts = [\"{}\"]\n", allowed.authority());
    let host = Host::start(Setup::new().app(app, wasm).sidecar(&sidecar));
    wait_until_ready(&host, app);
    let company = format!("co-{app}-1");
    let company = company.as_str();

    let health = host.get(&format!("/apps/{app}/health"));
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "ok");

    let installed = host.send(app, &install(company));
    assert_eq!(
        (installed.status, installed.body.as_str()),
        (200, ""),
        "install"
    );

    let form = host.send(app, &event("application_configure", company));
    assert_eq!(form.status, 200, "configure: {}", form.body);
    assert!(
        form.content_type.starts_with("application/json"),
        "{form:?}"
    );
    assert_eq!(form.json(), hello_form());

    let blank = host.send(
        app,
        &submission("name_submitted", company, json!({"name": "  "})),
    );
    assert_eq!(blank.status, 200, "blank name: {}", blank.body);
    let mut with_error = hello_form();
    with_error["errors"] = json!({"name": "Please type your name"});
    assert_eq!(blank.json(), with_error);

    assert_eq!(whoami(&host, app, company), "Nobody said hello yet");
    let named = host.send(
        app,
        &submission("name_submitted", company, json!({"name": "Olena"})),
    );
    assert_eq!((named.status, named.body.as_str()), (200, ""), "good name");
    // Kept in kv by one event, read by the next (a fresh instance).
    assert_eq!(whoami(&host, app, company), "Hello, Olena");
    let other = format!("co-{app}-2");
    assert_eq!(host.send(app, &install(&other)).status, 200);
    assert_eq!(whoami(&host, app, &other), "Nobody said hello yet");
    assert!(
        host.log()
            .contains(&format!("Olena said hello for {company}")),
        "the app's log line is not in the host's log:\n{}",
        host.log()
    );

    echo_without_the_key(&host, app, company);

    // A run the app schedules for itself (contract 0.2.0), with a payload.
    let remind = host.send(app, &submission("remind", company, json!({"after": "1"})));
    assert_eq!(remind.status, 200, "remind: {}", remind.body);
    let id = label(&remind.json());
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    crate::schedules::eventually(Duration::from_secs(30), || {
        host.log().contains("reminder for Olena").then_some(())
    });

    let fetched = fetch(&host, app, company, &allowed.url("/hello"));
    assert_eq!(fetched, r#"200 {"hi":"there"}"#);
    let refused = fetch(&host, app, company, &outside.url("/collect"));
    assert!(
        refused.starts_with("error: ") && refused.contains("not in this app's allowed_hosts"),
        "{refused}"
    );
    assert!(outside.received().is_empty(), "a refused host was reached");
    assert_eq!(allowed.received().len(), 1, "{:?}", allowed.received());
    if app == "hello-js" {
        // JavaScript's own `fetch` (wasi:http) under the same grant.
        let fetched = web_fetch(&host, app, company, &allowed.url("/hello"));
        assert_eq!(fetched, r#"200 {"hi":"there"}"#);
        let refused = web_fetch(&host, app, company, &outside.url("/collect"));
        assert!(refused.starts_with("error: "), "{refused}");
        assert!(outside.received().is_empty(), "a refused host was reached");
        assert_eq!(allowed.received().len(), 2, "{:?}", allowed.received());
        let denied = host.log();
        assert!(
            denied.contains("via=\"wasi:http\"") || denied.contains("via=wasi:http"),
            "no log line of the wasi:http call:\n{denied}"
        );
    }

    let uninstalled = host.send(app, &event("application_uninstall", company));
    assert_eq!(uninstalled.status, 200, "uninstall: {}", uninstalled.body);
    host.send(app, &event("application_configure", company))
        .assert_error(409);
    // Uninstall deleted the company's data.
    assert_eq!(host.send(app, &install(company)).status, 200);
    assert_eq!(whoami(&host, app, company), "Nobody said hello yet");
}

/// What the app says to `whoami` (its name read back from kv).
fn whoami(host: &Host, app: &str, company: &str) -> String {
    let answer = host.send(app, &event("whoami", company));
    assert_eq!(answer.status, 200, "whoami: {}", answer.body);
    let form = answer.json();
    assert_eq!(form["reply"], "note_seen", "{form}");
    label(&form)
}

/// What `hello-js` saw calling JavaScript's `fetch(url)`: `STATUS BODY` or `error: ...`.
fn web_fetch(host: &Host, app: &str, company: &str, url: &str) -> String {
    let answer = host.send(app, &submission("web_fetch", company, json!({"url": url})));
    assert_eq!(answer.status, 200, "web_fetch {url}: {}", answer.body);
    label(&answer.json())
}

/// What the app saw fetching `url` through the host: `STATUS BODY` or `error: ...`.
fn fetch(host: &Host, app: &str, company: &str, url: &str) -> String {
    let answer = host.send(app, &submission("fetch", company, json!({"url": url})));
    assert_eq!(answer.status, 200, "fetch {url}: {}", answer.body);
    label(&answer.json())
}

fn label(form: &Value) -> String {
    form["elements"][0]["label"]
        .as_str()
        .unwrap_or_else(|| panic!("no label: {form}"))
        .to_owned()
}

/// Any other event: a form echoing the whole body, which never holds the key.
fn echo_without_the_key(host: &Host, app: &str, company: &str) {
    let ping = json!({
        "event": "ping",
        "company_id": company,
        "account_id": "acc-e2e-1",
        "account_api_key": "kj_live_other",
        "extra": {"n": 1}
    });
    let echo = host.send(app, &ping);
    assert_eq!(echo.status, 200, "ping: {}", echo.body);
    let echo = echo.json();
    assert_eq!(echo["reply"], "echo_seen");
    assert_eq!(echo["title"], "Echo: ping");
    assert_eq!(echo["elements"][0]["type"], "info");
    assert_eq!(echo["elements"][0]["name"], "received");
    let label = label(&echo);
    assert!(
        !label.contains("kj_live_other"),
        "the app saw the key: {label}"
    );
    let mut expected = ping.clone();
    expected.as_object_mut().unwrap().remove("account_api_key");
    let received: Value = serde_json::from_str(&label).expect("the label is the JSON received");
    assert_eq!(received, expected, "the app got the whole body but the key");
}

/// Waits until the app's health stops saying it is not ready (a host may
/// listen before it has compiled every app).
fn wait_until_ready(host: &Host, app: &str) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let health = host.get(&format!("/apps/{app}/health"));
        if health.status == 200 || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `plugins/hello-js`, built with `keruj-guest-build` (componentize-js).
fn hello_js() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace();
        let sources = [
            "guest-sdk/wit",
            "guest-sdk/js/src",
            "guest-sdk/js/build",
            "guest-sdk/js/package-lock.json",
            "plugins/hello-js/src",
            "plugins/hello-js/package.json",
        ];
        build_cached("hello-js", &sources, |out| {
            let mut command = Command::new("node");
            command
                .current_dir(root.join("plugins/hello-js"))
                .arg(root.join("guest-sdk/js/build/cli.js"))
                .args(["src/app.js", "-o"])
                .arg(out);
            command
        })
    })
}

/// `plugins/hello-py`, built with `python -m keruj_guest build` (componentize-py).
fn hello_py() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace();
        let sources = [
            "guest-sdk/wit",
            "guest-sdk/python/keruj_guest",
            "plugins/hello-py/hello_app.py",
        ];
        build_cached("hello-py", &sources, |out| {
            let mut command = Command::new("python3");
            command
                .current_dir(root.join("plugins/hello-py"))
                .env("PYTHONPATH", root.join("guest-sdk/python"))
                .args(["-m", "keruj_guest", "build", "hello_app.py", "-o"])
                .arg(out);
            command
        })
    })
}

/// The component `name` built by `command(out)`, or the one built before
/// from the same `sources` (paths under the workspace, files or folders).
fn build_cached(name: &str, sources: &[&str], command: impl Fn(&Path) -> Command) -> PathBuf {
    install_tools();
    let root = workspace();
    let mut hasher = DefaultHasher::new();
    for source in sources {
        hash_path(&root, &root.join(source), &mut hasher);
    }
    let dir = root.join("target/plugins/guest-apps");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}-{:016x}.wasm", hasher.finish()));
    if out.is_file() {
        return out;
    }
    // Built under another name, then renamed: a build cut short leaves no
    // file a later run would take for a good one.
    let partial = dir.join(format!("{name}.partial-{}.wasm", std::process::id()));
    let output = command(&partial).output().expect("the build runs");
    assert!(
        output.status.success() && partial.is_file(),
        "building {name} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &out).unwrap();
    out
}

/// Hashes the file at `path`, or every file under it (sorted), by relative
/// path and content; build outputs and installed packages are left out.
fn hash_path(root: &Path, path: &Path, hasher: &mut DefaultHasher) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"))
            .map(|entry| entry.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                !matches!(name.as_ref(), "node_modules" | "dist" | "__pycache__")
            })
            .collect();
        entries.sort();
        for entry in entries {
            hash_path(root, &entry, hasher);
        }
    } else {
        path.strip_prefix(root).unwrap().hash(hasher);
        std::fs::read(path)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"))
            .hash(hasher);
    }
}

/// Whether these tests are skipped on purpose ([`crate::support::skipped`]).
pub(crate) fn tools_skipped() -> bool {
    crate::support::skipped(
        "KERUJ_SKIP_OTHER_LANGUAGE_TESTS",
        "KERUJ_TEST_REQUIRE_GUEST_TOOLS",
        "the JavaScript and Python apps' tests",
    )
}

/// Runs `scripts/install-guest-tools` once per run.
pub(crate) fn install_tools() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let output = Command::new(workspace().join("scripts/install-guest-tools"))
            .output()
            .expect("scripts/install-guest-tools runs");
        assert!(
            output.status.success(),
            "scripts/install-guest-tools failed (KERUJ_SKIP_OTHER_LANGUAGE_TESTS=1 skips \
             these tests):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}
