//! `keruj-host dev`: the real binary serves the console, and headless
//! Chromium plays `hello`'s whole dialogue in it (tests/browser/dev_console.mjs)
//! and fires `recorder`'s schedule and webhook from its panel
//! (tests/browser/dev_console_triggers.mjs).
//!
//! Chromium (Debian's `chromium`) and `playwright-core` (npm, in
//! tests/browser/node_modules) come from `scripts/install-browser-tools`
//! (`scripts/test` runs it). Without them the browser test fails and says
//! so, unless `KERUJ_SKIP_BROWSER_TESTS=1` (which `scripts/test` sets when
//! it cannot install them, e.g. not as root), and that unless
//! `KERUJ_TEST_REQUIRE_BROWSER_TOOLS` (CI) says the test must run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::serve::wait_for_listening;
use crate::support::{Host, Setup, hello, plugin, skipped, workspace};

const CHROMIUM: &str = "/usr/bin/chromium";

/// `keruj-host dev` on a free loopback port, with `hello` alone in its
/// plugins folder and no token variable: the command makes one up.
struct Dev {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Dev {
    fn start() -> Dev {
        Dev::with("hello", hello(), None, &[])
    }

    /// `dev` with `app` alone in its plugins folder, its sidecar, and `env`.
    fn with(app: &str, wasm: &Path, sidecar: Option<&str>, env: &[(&str, &str)]) -> Dev {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::copy(wasm, plugins.join(format!("{app}.wasm"))).unwrap();
        if let Some(sidecar) = sidecar {
            std::fs::write(plugins.join(format!("{app}.toml")), sidecar).unwrap();
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_keruj-host"));
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("KERUJ_")) {
            command.env_remove(name);
        }
        let mut child = command
            .args(["dev", "--listen", "127.0.0.1:0", "--plugins"])
            .arg(&plugins)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("keruj-host runs");
        let url = wait_for_listening(&mut child, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("keruj-host dev: {e}"));
        Dev { child, url, dir }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the browser test needs, or why it cannot run.
fn browser_tools() -> Option<PathBuf> {
    if skipped(
        "KERUJ_SKIP_BROWSER_TESTS",
        "KERUJ_TEST_REQUIRE_BROWSER_TOOLS",
        "the dev console's browser test",
    ) {
        return None;
    }
    let browser = workspace().join("tests/browser");
    let missing: Vec<&str> = [
        (Path::new(CHROMIUM).exists(), "chromium (/usr/bin/chromium)"),
        (
            browser.join("node_modules/playwright-core").is_dir(),
            "playwright-core (tests/browser/node_modules)",
        ),
        (
            Command::new("node").arg("--version").output().is_ok(),
            "node",
        ),
    ]
    .into_iter()
    .filter_map(|(present, what)| (!present).then_some(what))
    .collect();
    assert!(
        missing.is_empty(),
        "the dev console's browser test needs {}: run scripts/install-browser-tools \
         (or set KERUJ_SKIP_BROWSER_TESTS=1 to skip it)",
        missing.join(", ")
    );
    Some(browser)
}

#[test]
fn chromium_plays_hellos_whole_dialogue() {
    let Some(browser) = browser_tools() else {
        return;
    };
    let dev = Dev::start();
    run_browser_script(&browser, "dev_console.mjs", &dev, "dev-console.png");
}

/// Runs `tests/browser/<script>` against `dev`: its screenshot is a PNG.
fn run_browser_script(browser: &Path, script: &str, dev: &Dev, screenshot: &str) {
    let screenshot = workspace().join("target").join(screenshot);
    let _ = std::fs::remove_file(&screenshot);
    let output = Command::new("node")
        .arg(browser.join(script))
        .arg(&dev.url)
        .arg(&screenshot)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "the browser test failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let png = std::fs::read(&screenshot).expect("the screenshot is saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
}

const TRIGGERS_SIDECAR: &str = "[[schedule]]\nevent = \"digest\"\nevery = \"1h\"\n\n\
    [[webhook]]\nname = \"gh\"\nevent = \"push\"\nverify = \"github\"\nsecret = \"env:DEV_HOOK_SECRET\"\n\n\
    [[webhook]]\nname = \"orders\"\nevent = \"order_paid\"\nverify = \"standard-webhooks\"\nsecret = \"secret:signing_key\"\n";

fn recorder_dev() -> Dev {
    Dev::with(
        "recorder",
        &plugin("recorder"),
        Some(TRIGGERS_SIDECAR),
        &[("DEV_HOOK_SECRET", "shared with the provider")],
    )
}

#[test]
fn chromium_runs_a_schedule_and_sends_a_signed_delivery() {
    let Some(browser) = browser_tools() else {
        return;
    };
    let dev = recorder_dev();
    run_browser_script(
        &browser,
        "dev_console_triggers.mjs",
        &dev,
        "dev-console-triggers.png",
    );
}

#[test]
fn the_console_api_plays_keruj_with_a_generated_token() {
    let dev = Dev::start();
    let client = reqwest::blocking::Client::new();
    let apps: serde_json::Value = client
        .get(format!("{}/_dev/api/apps", dev.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let app = &apps["apps"][0];
    assert_eq!(app["app"], "hello");
    // The generated token makes the app healthy without any setup.
    assert_eq!(app["ok"], true, "{apps}");
    assert_eq!(app["version"].as_str().map(str::len), Some(64), "{apps}");
    let send = |event: &str, body: serde_json::Value| -> serde_json::Value {
        client
            .post(format!("{}/_dev/api/send", dev.url))
            .json(
                &serde_json::json!({"app": "hello", "event": event, "company": "c9", "body": body}),
            )
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let refused = send("configure", serde_json::Value::Null);
    assert_eq!(refused["status"], 409, "{refused}");
    let installed = send("install", serde_json::Value::Null);
    assert_eq!(installed["status"], 200, "{installed}");
    assert_eq!(installed["event"], "application_install");
    let key = installed["request"]["account_api_key"].as_str().unwrap();
    assert!(key.starts_with("kj_dev_"), "{installed}");
    let done = send(
        "name_submitted",
        serde_json::json!({"data": {"name": "Taras"}}),
    );
    assert_eq!(done["status"], 200, "{done}");
    assert_eq!(done["reply"], serde_json::Value::Null);
    let said: Vec<&str> = done["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line["target"] == "plugin")
        .filter_map(|line| line["message"].as_str())
        .collect();
    assert_eq!(said, ["Taras said hello for c9"], "{done}");
    // The host's own routes are there too.
    let health = client
        .get(format!("{}/apps/hello/health", dev.url))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    let bad = client
        .post(format!("{}/_dev/api/send", dev.url))
        .body("{")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[test]
fn refuses_a_remote_address_unless_asked() {
    let output = Command::new(env!("CARGO_BIN_EXE_keruj-host"))
        .args(["dev", "--listen", "0.0.0.0:0", "--plugins"])
        .arg(hello().parent().unwrap())
        .output()
        .expect("keruj-host runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("--allow-remote"),
        "{stderr}"
    );
}

#[test]
fn says_when_a_rebuilt_app_serves() {
    let dev = Dev::start();
    let versions = || -> serde_json::Value {
        let apps: serde_json::Value = reqwest::blocking::get(format!("{}/_dev/api/apps", dev.url))
            .unwrap()
            .json()
            .unwrap();
        apps["apps"][0]["version"].clone()
    };
    let before = versions();
    // A rebuild: another component lands where cargo writes hello.wasm.
    let staged = dev.dir.path().join("hello.wasm.new");
    std::fs::copy(plugin("hello-v2"), &staged).unwrap();
    std::fs::rename(&staged, dev.dir.path().join("plugins/hello.wasm")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while versions() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the new version never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(versions().as_str().map(str::len), Some(64));
}

#[test]
fn serve_never_serves_the_console() {
    let host = Host::start(Setup::new().app("hello", hello()));
    assert_eq!(host.get("/").status, 404);
    assert_eq!(host.get("/_dev/api/apps").status, 404);
    assert_eq!(host.get("/apps/hello/health").status, 200);
}

#[test]
fn the_console_lists_runs_and_delivers_the_apps_triggers() {
    let dev = recorder_dev();
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| -> Value {
        client
            .get(format!("{}{path}", dev.url))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let post = |path: &str, body: Value| -> Value {
        let response = client
            .post(format!("{}{path}", dev.url))
            .json(&body)
            .send()
            .unwrap();
        response.json().unwrap()
    };
    let list = || get("/_dev/api/triggers?app=recorder&company=co-dev");
    let send = |event: &str, body: Value| {
        let sent = post(
            "/_dev/api/send",
            json!({"app": "recorder", "event": event, "company": "co-dev", "body": body}),
        );
        assert_eq!(sent["status"], 200, "{sent}");
        sent
    };

    let before = list();
    assert_eq!(before["installed"], false, "{before}");
    let digest = &before["schedules"][0];
    assert_eq!(digest["event"], "digest");
    assert_eq!(digest["cadence"], "every 1h");
    let next: jiff::Timestamp = digest["next_due"].as_str().unwrap().parse().unwrap();
    assert!(next > jiff::Timestamp::now(), "{digest}");
    assert_eq!(
        before["webhooks"][0]["url"],
        Value::Null,
        "no URL before the install"
    );

    send("install", Value::Null);
    let after = list();
    let (gh, orders) = (&after["webhooks"][0], &after["webhooks"][1]);
    let url = gh["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/hooks/", dev.url)), "{after}");
    assert_eq!(gh["can_sign"], true, "{after}");
    assert_eq!(orders["can_sign"], false, "{after}");
    assert!(
        orders["cannot_sign_because"]
            .as_str()
            .unwrap()
            .contains("signing_key")
    );
    // The URL is live at the console's address: an unsigned POST is refused, not lost.
    assert_eq!(client.post(url).body("{}").send().unwrap().status(), 401);

    let ran = post(
        "/_dev/api/run-schedule",
        json!({"app": "recorder", "company": "co-dev", "event": "digest"}),
    );
    assert_eq!(ran["status"], 200, "{ran}");
    assert_eq!(ran["request"]["schedule"]["attempt"], 1);
    let delivered = post(
        "/_dev/api/deliver",
        json!({"app": "recorder", "company": "co-dev", "name": "gh"}),
    );
    assert_eq!(delivered["status"], 200, "{delivered}");
    assert_eq!(delivered["request"]["signed"], true);
    assert!(
        !delivered.to_string().contains("shared with the provider"),
        "the secret is shown"
    );
    let unsigned = post(
        "/_dev/api/deliver",
        json!({"app": "recorder", "company": "co-dev", "name": "orders"}),
    );
    assert_eq!(unsigned["status"], 401, "{unsigned}");
    assert!(
        unsigned["request"]["unsigned_because"]
            .as_str()
            .unwrap()
            .contains("signing_key")
    );
    let key =
        json!({"data": {"name": "signing_key", "value": "whsec_dGhlIGNvbXBhbnkncyBvd24ga2V5"}});
    send("store_secret", key);
    let signed = post(
        "/_dev/api/deliver",
        json!({"app": "recorder", "company": "co-dev", "name": "orders", "body": "{\"order\":42}"}),
    );
    assert_eq!(signed["status"], 200, "{signed}");

    let dump = send("dump", json!({"data": {}}));
    let seen: Value =
        serde_json::from_str(dump["reply"]["elements"][0]["label"].as_str().unwrap()).unwrap();
    assert_eq!(
        seen["seen/digest/0"]["schedule"]["event"], "digest",
        "{seen}"
    );
    assert_eq!(seen["seen/push/0"]["webhook"]["name"], "gh", "{seen}");
    assert_eq!(
        seen["seen/order_paid/0"]["webhook"]["body"], "{\"order\":42}",
        "{seen}"
    );

    // What the app made at run time is listed, run and delivered to as well.
    let made = |call: &str, data: Value| -> Value {
        let answer = send(call, json!({"data": data}));
        let text = answer["reply"]["elements"][0]["label"].as_str().unwrap();
        serde_json::from_str::<Value>(text).unwrap()["ok"].clone()
    };
    let id = made(
        "schedule",
        json!({"event": "follow_up", "after": "3600", "payload": "[7]"}),
    );
    let minted = made("mint", json!({"name": "gh", "label": "shop-1"}));
    let listed = list();
    assert_eq!(listed["made"][0]["id"], id, "{listed}");
    assert_eq!(listed["made"][0]["when"], "once");
    assert_eq!(listed["made"][0]["payload"], json!([7]));
    assert_eq!(listed["minted"][0]["url"], minted, "{listed}");
    let ran = post(
        "/_dev/api/run-schedule",
        json!({"app": "recorder", "company": "co-dev", "id": id}),
    );
    assert_eq!(ran["status"], 200, "{ran}");
    assert_eq!(ran["request"]["schedule"]["payload"], json!([7]));
    assert_eq!(list()["made"], json!([]), "a one-off that ran is gone");
    let to_minted = post(
        "/_dev/api/deliver",
        json!({"app": "recorder", "company": "co-dev", "url": minted}),
    );
    assert_eq!(to_minted["status"], 200, "{to_minted}");
    assert_eq!(to_minted["request"]["signed"], true);
    let foreign = post(
        "/_dev/api/deliver",
        json!({"app": "recorder", "company": "co-dev", "url": "http://x/hooks/nope"}),
    );
    assert!(
        foreign["error"].as_str().unwrap().contains("is not a URL"),
        "{foreign}"
    );

    let unknown = post(
        "/_dev/api/run-schedule",
        json!({"app": "recorder", "company": "co-dev", "event": "nightly"}),
    );
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("no [[schedule]]"),
        "{unknown}"
    );
}

/// `--function-cache` (`KERUJ_FUNCTION_CACHE`, which the test harnesses
/// set): the first host keeps its compiled functions in the folder; the next
/// one, over fresh data, finds them there (it stores only the few whose key
/// changes on every compile) and serves the app as well.
#[test]
fn compiled_functions_outlive_the_host_that_compiled_them() {
    let cache = tempfile::tempdir().unwrap();
    let folder = cache.path().to_str().unwrap();
    let serve_once = || {
        let dev = Dev::with("hello", hello(), None, &[("KERUJ_FUNCTION_CACHE", folder)]);
        wait_until_serving(&dev);
        let answer = reqwest::blocking::Client::new()
            .post(format!("{}/_dev/api/send", dev.url))
            .json(&json!({"app": "hello", "event": "application_install", "company": "co-1"}))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap();
        assert_eq!(answer["status"], 200, "{answer}");
        files_in(cache.path())
    };
    let stored = serve_once();
    assert!(stored > 100, "the first host stored {stored} functions");
    let added = serve_once() - stored;
    assert!(
        added < stored / 4,
        "the second host compiled {added} of {stored} again"
    );
}

/// Waits until the console's only app serves.
fn wait_until_serving(dev: &Dev) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let apps: Value = reqwest::blocking::get(format!("{}/_dev/api/apps", dev.url))
            .unwrap()
            .json()
            .unwrap();
        if apps["apps"][0]["ok"] == true {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never served: {apps}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The files under `dir`, however deep.
fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| match entry.path().is_dir() {
            true => files_in(&entry.path()),
            false => 1,
        })
        .sum()
}
