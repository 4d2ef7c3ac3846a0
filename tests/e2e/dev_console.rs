//! `keruj-host dev`: the real binary serves the console, and headless
//! Chromium plays `hello`'s whole dialogue in it (tests/browser/dev_console.mjs).
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
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::copy(hello(), plugins.join("hello.wasm")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_keruj-host"));
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("KERUJ_")) {
            command.env_remove(name);
        }
        let mut child = command
            .args(["dev", "--listen", "127.0.0.1:0", "--plugins"])
            .arg(&plugins)
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
    let screenshot = workspace().join("target/dev-console.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = Command::new("node")
        .arg(browser.join("dev_console.mjs"))
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
