//! A plugin that does not load says what to do: its health `problem` and
//! the log name each import the host does not provide, with a hint; and
//! `keruj-host check` says the same before it is deployed, with the exit
//! status CI needs.

use std::path::Path;

use crate::support::{Host, Setup, hello, install, plugin, run_keruj_host};

/// A component importing interfaces the host does not offer: a WASI
/// proposal it has its own capability for, and a keruj contract version it
/// does not serve.
const UNPROVIDED: &str = r#"(component
  (import "wasi:keyvalue/store@0.2.0-draft" (instance
    (export "get" (func (param "key" string) (result u32)))))
  (import "keruj:plugin/kv@9.0.0" (instance
    (export "get" (func (param "key" string) (result u32)))))
)"#;

/// What componentize-js's QuickJS backend makes by default: a component
/// that uses the component model's async built-ins.
const ASYNC_BUILTINS: &str = r#"(component
  (core func $cancel (canon task.cancel))
)"#;

/// A core module: a wasm32-wasip1 or wasm32-unknown-unknown build.
const CORE_MODULE: &str = r#"(module (func (export "f")))"#;

fn write_wat(dir: &Path, name: &str, wat: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, wat::parse_str(wat).expect("valid WAT")).unwrap();
    path
}

#[test]
fn a_plugin_that_does_not_load_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let unprovided = write_wat(dir.path(), "unprovided", UNPROVIDED);
    let quickjs = write_wat(dir.path(), "quickjs", ASYNC_BUILTINS);
    let core = write_wat(dir.path(), "core", CORE_MODULE);
    let host = Host::start(
        Setup::new()
            .app("unprovided", &unprovided)
            .app("quickjs", &quickjs)
            .app("core", &core)
            .app("hello", hello()),
    );

    let cases: [(&str, &[&str]); 3] = [
        (
            "unprovided",
            &[
                "`wasi:keyvalue/store@0.2.0-draft`, which this host does not provide",
                "use keruj:plugin/kv instead",
                "`keruj:plugin/kv@9.0.0`, which this host does not provide",
                "serves keruj:plugin @0.1.0, @0.2.0, not @9.0.0",
            ],
        ),
        ("quickjs", &["task.cancel", "--backend-qjs-disable-async"]),
        ("core", &["not a component", "wasm32-wasip2"]),
    ];
    let log = host.log();
    for (app, parts) in cases {
        let health = host.get(&format!("/apps/{app}/health"));
        assert_eq!(health.status, 503, "{app}: {}", health.body);
        let problem = health.json()["problem"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let line = log
            .lines()
            .find(|line| line.contains("cannot load") && line.contains(app))
            .unwrap_or_else(|| panic!("{app}: no log line says why:\n{log}"));
        for part in parts {
            assert!(problem.contains(part), "{app}: {part:?} not in: {problem}");
            assert!(line.contains(part), "{app}: {part:?} not in: {line}");
        }
        host.send(app, &install("co-load-hints-1"))
            .assert_error(503);
    }
    assert_eq!(host.get("/apps/hello/health").status, 200);
}

/// Runs `keruj-host check ARGS`: its exit code and what it printed.
fn check(args: &[&Path]) -> (Option<i32>, String) {
    let args: Vec<&std::ffi::OsStr> = std::iter::once("check".as_ref())
        .chain(args.iter().map(|path| path.as_os_str()))
        .collect();
    let (status, text) = run_keruj_host(&args, &[]);
    (status.code(), text)
}

#[test]
fn check_says_whether_the_host_would_load_a_plugin() {
    let (code, out) = check(&[hello()]);
    assert_eq!(code, Some(0), "{out}");
    for part in [
        "loadable by this host",
        "world      keruj:plugin/app@0.2.0",
        "provided   keruj:plugin/log@0.2.0",
        "provided   wasi:cli/environment@0.2",
        "compile    ",
        "app id     hello",
    ] {
        assert!(out.contains(part), "{part:?} not in:\n{out}");
    }
    assert!(!out.contains("MISSING"), "{out}");

    // An exported wasi:http server side is named, and does not stop the load.
    let (code, out) = check(&[&plugin("wasi-fetch")]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ignored    wasi:http/incoming-handler@0.2"),
        "{out}"
    );
    assert!(
        out.contains("provided   wasi:http/outgoing-handler@0.2"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let unprovided = write_wat(dir.path(), "unprovided", UNPROVIDED);
    let (code, out) = check(&[&unprovided]);
    assert_eq!(code, Some(1), "{out}");
    for part in [
        "NOT loadable by this host",
        "MISSING    wasi:keyvalue/store@0.2.0-draft",
        "what to do: use keruj:plugin/kv instead",
        "MISSING    keruj:plugin/kv@9.0.0",
        "world      NOT keruj:plugin/app@9.0.0",
    ] {
        assert!(out.contains(part), "{part:?} not in:\n{out}");
    }

    // A sidecar the host would refuse makes the plugin not loadable.
    let sidecar = dir.path().join("bad.toml");
    std::fs::write(&sidecar, "memory_mb = 0\n").unwrap();
    let (code, out) = check(&[hello(), Path::new("--sidecar"), &sidecar]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("INVALID") && out.contains("memory_mb must be 1 to"),
        "{out}"
    );

    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "not wasm at all").unwrap();
    let (code, out) = check(&[&text]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("compile    FAILED") && out.contains("not a WebAssembly file"),
        "{out}"
    );

    let (code, out) = check(&[&dir.path().join("absent.wasm")]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("cannot read"), "{out}");
}
