//! Each released `keruj:plugin` version is served side by side: an app
//! built against 0.1.0, and never rebuilt, runs on this host as it did.

use std::path::PathBuf;

use serde_json::json;

use crate::support::{Host, Setup, hello_form, install, run_keruj_host, submission, workspace};

/// `plugins/hello` as it was built against 0.1.0 (see the fixture's README).
fn hello_0_1_0() -> PathBuf {
    workspace().join("tests/fixtures/plugins/hello-0.1.0.wasm")
}

#[test]
fn an_app_built_against_0_1_0_runs_unchanged() {
    let (status, out) = run_keruj_host(&["check".as_ref(), hello_0_1_0().as_os_str()], &[]);
    assert!(status.success(), "{out}");
    for part in [
        "loadable by this host",
        "world      keruj:plugin/app@0.1.0",
        "provided   keruj:plugin/log@0.1.0",
        "provided   keruj:plugin/types@0.1.0",
    ] {
        assert!(out.contains(part), "{part:?} not in:\n{out}");
    }

    let host = Host::start(Setup::new().app("hello", &hello_0_1_0()));
    let company = "co-old-1";
    assert_eq!(host.send("hello", &install(company)).status, 200);
    let form = host.send(
        "hello",
        &crate::support::event("application_configure", company),
    );
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(form.json(), hello_form());
    // Its answer goes through 0.1.0's log import, forwarded to the host's log.
    let done = host.send(
        "hello",
        &submission("name_submitted", company, json!({"name": "Olena"})),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        host.log()
            .contains(&format!("Olena said hello for {company}")),
        "{}",
        host.log()
    );
    let missing = host.send("hello", &submission("name_submitted", company, json!({})));
    assert_eq!(missing.json()["errors"]["name"], "Please type your name");
}
