//! `keruj-host new`: the real binary scaffolds an app in each language, its
//! own build command makes `plugins/<name>.wasm` (a Rust crate's
//! `scripts/build` builds into `target/scaffold`, so repeated runs are
//! incremental), a real host serves it through the whole two-step dialogue,
//! and the app's own tests pass on the language's runner (`cargo test`,
//! `npm test`, `python3 -m unittest`), driving this binary through that
//! SDK's light harness without compiling the host.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Host, Setup, event, install, run_keruj_host, submission, workspace};

/// Runs `keruj-host ARGS`; its exit status and output (stdout, then stderr).
fn keruj_host(args: &[&str]) -> (bool, String) {
    let (status, text) = run_keruj_host(args, &[]);
    (status.success(), text)
}

/// The initial value of `field` in a reply form.
fn value<'a>(form: &'a Value, field: &str) -> &'a Value {
    let elements = form["elements"].as_array().expect("a form has elements");
    let element = elements.iter().find(|element| element["name"] == field);
    &element.unwrap_or_else(|| panic!("no {field} in {form}"))["value"]
}

#[test]
fn new_app_builds_and_plays_its_dialogue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my-app");
    let dir_arg = dir.to_str().unwrap();

    let (ok, text) = keruj_host(&["new", "my-app", "--dir", dir_arg]);
    assert!(ok, "{text}");
    assert!(text.contains("sh scripts/build"), "{text}");
    assert!(text.contains("rustup target add wasm32-wasip2"), "{text}");

    // A second time, the folder is taken: nothing is overwritten.
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    let (ok, text) = keruj_host(&["new", "my-app", "--dir", dir_arg]);
    assert!(!ok && text.contains("is not empty"), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.join("src/lib.rs")).unwrap(),
        lib
    );

    let (ok, text) = keruj_host(&["new", "My_App", "--dir", dir_arg]);
    assert!(!ok && text.contains("a-z, 0-9"), "{text}");

    let wasm = build(&dir);
    let host = Host::start(Setup::new().app("my-app", &wasm));
    play(&host, "my-app");
    drop(host);
    own_tests(&dir);
}

#[test]
fn new_javascript_app_builds_tests_and_plays_its_dialogue() {
    other_language("js", "npm", &["run", "build"], &["npm", "test"]);
}

#[test]
fn new_typescript_app_builds_tests_and_plays_its_dialogue() {
    other_language("ts", "npm", &["run", "build"], &["npm", "test"]);
}

#[test]
fn new_python_app_builds_tests_and_plays_its_dialogue() {
    other_language(
        "python",
        "sh",
        &["scripts/build"],
        &["python3", "-m", "unittest"],
    );
}

/// An app in `lang` as its author makes it: `keruj-host new`, then its build
/// (`program build_args`: the README's command) makes `plugins/<name>.wasm`,
/// which a real host serves through the dialogue, and its own tests
/// (`test`) pass.
fn other_language(lang: &str, program: &str, build_args: &[&str], test: &[&str]) {
    if crate::other_languages::tools_skipped() {
        return;
    }
    crate::other_languages::install_tools();
    let name = format!("shop-{lang}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(&name);
    let (ok, text) = keruj_host(&["new", &name, "--lang", lang, "--dir", dir.to_str().unwrap()]);
    assert!(ok, "{text}");
    let build_line = format!("{program} {}", build_args.join(" "));
    assert!(text.contains(&build_line), "{text}");
    assert!(text.contains(&test.join(" ")), "{text}");

    if program == "npm" {
        run(&dir, &["npm", "install", "--no-audit", "--no-fund"]);
    }
    let mut build = vec![program];
    build.extend_from_slice(build_args);
    run(&dir, &build);
    let wasm = dir.join(format!("plugins/{name}.wasm"));
    assert!(wasm.is_file(), "{build_line} made no {}", wasm.display());
    let host = Host::start(Setup::new().app(&name, &wasm));
    play(&host, &name);
    drop(host);

    let output = run(&dir, test);
    // Each runner's own words for one passed test of the dialogue.
    let passed = match lang {
        "python" => output.contains("Ran 1 test") && output.contains("\nOK"),
        _ => output.contains("# pass 1") && output.contains("# fail 0"),
    };
    assert!(
        passed,
        "{} did not pass the dialogue:\n{output}",
        test.join(" ")
    );
}

/// Runs `command` in `dir` with this binary as the installed keruj-host;
/// its stdout and stderr, after asserting it succeeded.
fn run(dir: &Path, command: &[&str]) -> String {
    let output = Command::new(command[0])
        .args(&command[1..])
        .current_dir(dir)
        .env("KERUJ_HOST_BIN", env!("CARGO_BIN_EXE_keruj-host"))
        .output()
        .unwrap_or_else(|error| panic!("{} does not run: {error}", command[0]));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{} failed:\n{text}",
        command.join(" ")
    );
    text
}

/// The crate's `cargo test`, as its author runs it, with this binary as the
/// installed keruj-host.
fn own_tests(dir: &Path) {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .arg("test")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", workspace().join("target/scaffold"))
        .env("KERUJ_HOST_BIN", env!("CARGO_BIN_EXE_keruj-host"))
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the app's cargo test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("test settings_dialogue ... ok"), "{stdout}");
    // What the author's test build compiled: no host, no wasmtime.
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"keruj-test\""), "{lock}");
    for heavy in ["keruj-host", "wasmtime", "tokio"] {
        assert!(
            !lock.contains(&format!("name = \"{heavy}\"")),
            "{heavy} in {lock}"
        );
    }
}

/// The crate's own `scripts/build`: the component as `plugins/my-app.wasm`.
fn build(dir: &Path) -> std::path::PathBuf {
    let target = workspace().join("target/scaffold");
    let output = Command::new("sh")
        .arg("scripts/build")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "scripts/build failed:\n{stderr}");
    assert!(
        !stderr.contains("warning"),
        "the app builds with warnings:\n{stderr}"
    );
    assert!(target.join("wasm32-wasip2/release/my_app.wasm").is_file());
    let wasm = dir.join("plugins/my-app.wasm");
    assert!(wasm.is_file(), "no plugins/my-app.wasm:\n{stderr}");
    wasm
}

/// The dialogue of `app`, as Keruj plays it.
fn play(host: &Host, app: &str) {
    let company = "co-scaffold";
    let answer = host.send(app, &install(company));
    assert_eq!((answer.status, answer.body.as_str()), (200, ""), "install");

    let step1 = host.send(app, &event("application_configure", company));
    assert_eq!(step1.status, 200, "configure: {}", step1.body);
    let step1 = step1.json();
    assert_eq!(step1["reply"], "shop_submitted");
    assert_eq!(value(&step1, "shop"), &Value::Null);

    let wrong = json!({"shop": "Kvity", "orders": "many"});
    let again = host.send(app, &submission("shop_submitted", company, wrong));
    let again = again.json();
    assert_eq!(again["reply"], "shop_submitted");
    assert_eq!(
        again["errors"],
        json!({"orders": "Please give a whole number from 1 to 100000"})
    );
    assert_eq!(value(&again, "shop"), "Kvity");

    let right = json!({"shop": "Kvity", "orders": 25});
    let step2 = host.send(app, &submission("shop_submitted", company, right));
    let step2 = step2.json();
    assert_eq!(step2["reply"], "notify_submitted", "{step2}");
    assert_eq!(step2["elements"][0]["type"], "select");
    assert_eq!(step2["elements"][1]["type"], "checkbox");

    let fax = json!({"channel": "fax"});
    let refused = host.send(app, &submission("notify_submitted", company, fax));
    assert_eq!(
        refused.json()["errors"],
        json!({"channel": "Please choose a channel"})
    );

    let chosen = json!({"channel": "telegram", "daily_report": true});
    let done = host.send(app, &submission("notify_submitted", company, chosen));
    assert_eq!((done.status, done.body.as_str()), (200, ""), "step 2");

    // Saved in kv: the settings open with the answers.
    let reopened = host.send(app, &event("application_configure", company));
    let reopened = reopened.json();
    assert_eq!(value(&reopened, "shop"), "Kvity");
    assert_eq!(value(&reopened, "orders"), 25);
}
