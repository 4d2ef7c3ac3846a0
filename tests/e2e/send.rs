//! `keruj-host send`: the real binary plays `hello`'s whole dialogue against
//! a real host, and says clearly what went wrong when it cannot; and plays
//! the host's own triggers (`--schedule`, `--webhook`) against `recorder`.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::schedules::seen;
use crate::support::{Host, Setup, TOKEN, event, hello, hello_form, install, plugin, submission};
use crate::webhooks::webhooks;

/// What one `keruj-host send` printed and how it exited.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `keruj-host send ARGS` against `host` with `--url` from `KERUJ_URL`,
/// in an environment without the caller's `KERUJ_*` variables plus `env`.
fn send(host: &Host, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keruj-host"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("KERUJ_")) {
        command.env_remove(name);
    }
    let output = command
        .arg("send")
        .args(args)
        .env("KERUJ_URL", host.url(""))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("keruj-host runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

const HELLO_TOKEN: (&str, &str) = ("KERUJ_APP_TOKEN_HELLO", TOKEN);

/// The `keruj-host send ...` line printed under `answer with:`, as words.
fn answer_line(stdout: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .skip_while(|line| *line != "answer with:")
        .nth(1)
        .unwrap_or_else(|| panic!("no `answer with:` line:\n{stdout}"));
    shlex::split(line.trim()).unwrap_or_else(|| panic!("not a shell line: {line}"))
}

/// Runs a printed answer line (its words after `keruj-host send`), with
/// `--data name=` given `value`.
fn answer(host: &Host, line: &[String], value: &str) -> Run {
    assert_eq!(&line[..2], ["keruj-host", "send"], "{line:?}");
    let data = format!("name={value}");
    let args: Vec<&str> = line[2..]
        .iter()
        .map(|word| match word.as_str() {
            "name=" => data.as_str(),
            other => other,
        })
        .collect();
    assert!(
        args.contains(&data.as_str()),
        "no `--data name=` in {line:?}"
    );
    send(host, &args, &[HELLO_TOKEN])
}

#[test]
fn hellos_whole_dialogue_from_a_terminal() {
    let host = Host::start(Setup::new().app("hello", hello()));

    let install = send(&host, &["hello", "install"], &[HELLO_TOKEN]);
    assert_eq!(install.code, Some(0), "{}", install.stderr);
    assert_eq!(install.stdout, "done\n");

    let form = send(&host, &["hello", "configure"], &[HELLO_TOKEN]);
    assert_eq!(form.code, Some(0), "{}", form.stderr);
    for part in [
        "Say hello\n=========\nTell us who you are\n",
        "  Your name *  [text: name]\n",
        "reply: name_submitted\n",
    ] {
        assert!(
            form.stdout.contains(part),
            "{part:?} missing:\n{}",
            form.stdout
        );
    }
    let line = answer_line(&form.stdout);
    assert_eq!(
        line[2..],
        [
            "hello",
            "name_submitted",
            "--url",
            &host.url(""),
            "--data",
            "name="
        ]
    );

    // The printed line as is: the name left empty.
    let again = answer(&host, &line, "");
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains("  Your name *  [text: name]\n    ! Please type your name\n"),
        "no field error:\n{}",
        again.stdout
    );

    let done = answer(&host, &line, "Olena");
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(done.stdout, "done\n");
    assert!(
        host.log().contains("Olena said hello for dev-company"),
        "the app did not get the name:\n{}",
        host.log()
    );

    let json = send(&host, &["hello", "configure", "--json"], &[HELLO_TOKEN]);
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let parsed: Value = serde_json::from_str(&json.stdout).expect("--json prints JSON");
    assert_eq!(parsed, hello_form());

    // Another company has not installed hello: 409, and what to do.
    let other = send(
        &host,
        &["hello", "configure", "--company", "co-send-2"],
        &[HELLO_TOKEN],
    );
    assert_eq!(other.code, Some(1), "{}", other.stdout);
    assert!(other.stderr.contains("409"), "{}", other.stderr);
    assert!(
        other
            .stderr
            .contains("keruj-host send hello install --company co-send-2"),
        "{}",
        other.stderr
    );

    // `--data` values reach the app typed: hello echoes what it received.
    let echo = send(
        &host,
        &[
            "hello",
            "ping",
            "--data",
            "n=3",
            "--data",
            "ok=true",
            "--data",
            "city=Kyiv",
            "--data",
            "zip=\"01001\"",
        ],
        &[HELLO_TOKEN],
    );
    assert_eq!(echo.code, Some(0), "{}", echo.stderr);
    assert!(
        echo.stdout
            .contains(r#"  {"city":"Kyiv","n":3,"ok":true,"zip":"01001"}  [info: received]"#),
        "{}",
        echo.stdout
    );

    // A whole body: its company is the one installed, and the one the
    // printed answer line names.
    let body = r#"{"company_id": "co-body", "data": {"plan": "free"}}"#;
    let install = send(&host, &["hello", "install", "--body", body], &[HELLO_TOKEN]);
    assert_eq!(install.code, Some(0), "{}", install.stderr);
    let form = send(
        &host,
        &[
            "hello",
            "configure",
            "--body",
            r#"{"company_id": "co-body"}"#,
        ],
        &[HELLO_TOKEN],
    );
    assert_eq!(form.code, Some(0), "{}", form.stderr);
    let line = answer_line(&form.stdout);
    assert!(
        line.windows(2).any(|w| w == ["--company", "co-body"]),
        "{line:?}"
    );
    let done = answer(&host, &line, "Taras");
    assert_eq!(done.stdout, "done\n", "{}", done.stderr);
}

#[test]
fn refusals_exit_non_zero_with_the_error() {
    let host = Host::start(Setup::new().app("hello", hello()));

    let wrong = send(
        &host,
        &["hello", "configure", "--token", "not-the-token"],
        &[HELLO_TOKEN],
    );
    assert_eq!(wrong.code, Some(1), "{}", wrong.stdout);
    assert!(wrong.stdout.is_empty(), "{}", wrong.stdout);
    for part in [
        "the host answered 401 Unauthorized",
        "error: missing or wrong x-keruj-app-token for this app",
        "request_id: ",
    ] {
        assert!(wrong.stderr.contains(part), "{part:?}:\n{}", wrong.stderr);
    }

    let wrong_json = send(
        &host,
        &["hello", "configure", "--token", "nope", "--json"],
        &[],
    );
    assert_eq!(wrong_json.code, Some(1));
    let error: Value = serde_json::from_str(&wrong_json.stderr).expect("the error body");
    assert!(error["error"].is_string() && error["request_id"].is_string());

    let unknown = send(&host, &["nope", "configure", "--token", TOKEN], &[]);
    assert_eq!(unknown.code, Some(1), "{}", unknown.stdout);
    assert!(
        unknown.stderr.contains("the host answered 404 Not Found"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("request_id: "),
        "{}",
        unknown.stderr
    );

    let no_token = send(&host, &["hello", "configure"], &[]);
    assert_eq!(no_token.code, Some(2), "{}", no_token.stdout);
    assert!(
        no_token.stderr.contains("KERUJ_APP_TOKEN_HELLO") && no_token.stderr.contains("--token"),
        "{}",
        no_token.stderr
    );

    let no_host = send(
        &host,
        &["hello", "configure", "--url", "http://127.0.0.1:1"],
        &[HELLO_TOKEN],
    );
    assert_eq!(no_host.code, Some(2));
    assert!(
        no_host
            .stderr
            .contains("cannot reach the host at http://127.0.0.1:1"),
        "{}",
        no_host.stderr
    );
}

#[test]
fn the_token_follows_the_sidecars_token_env() {
    let sidecar = "token_env = \"HELLO_SEND_SIDECAR_TOKEN\"\n";
    let host = Host::start(
        Setup::new()
            .app("hello", hello())
            .sidecar(sidecar)
            .without_token()
            .env("HELLO_SEND_SIDECAR_TOKEN", TOKEN),
    );
    // The same sidecar in a folder of the terminal's own.
    let plugins = tempfile::tempdir().unwrap();
    std::fs::write(plugins.path().join("hello.toml"), sidecar).unwrap();
    let dir = plugins.path().to_str().unwrap();
    let env = [("HELLO_SEND_SIDECAR_TOKEN", TOKEN)];

    let install = send(&host, &["hello", "install", "--plugins", dir], &env);
    assert_eq!(install.code, Some(0), "{}", install.stderr);
    assert_eq!(install.stdout, "done\n");
    let mut with_folder = env.to_vec();
    with_folder.push(("KERUJ_PLUGINS", dir));
    let form = send(&host, &["hello", "configure"], &with_folder);
    assert_eq!(form.code, Some(0), "{}", form.stderr);
    assert!(form.stdout.contains("Your name *"), "{}", form.stdout);

    // Without the folder, the default variable is looked for, and named.
    let missing = send(&host, &["hello", "configure"], &env);
    assert_eq!(missing.code, Some(2));
    assert!(
        missing.stderr.contains("KERUJ_APP_TOKEN_HELLO"),
        "{}",
        missing.stderr
    );
    // With it but without the variable, the sidecar's variable is named.
    let unset = send(&host, &["hello", "configure", "--plugins", dir], &[]);
    assert_eq!(unset.code, Some(2));
    assert!(
        unset.stderr.contains("HELLO_SEND_SIDECAR_TOKEN") && unset.stderr.contains("token_env"),
        "{}",
        unset.stderr
    );
}

const RECORDER_SIDECAR: &str = "[[schedule]]\nevent = \"digest\"\nevery = \"1h\"\n\n\
    [[webhook]]\nname = \"gh\"\nevent = \"push\"\nverify = \"github\"\nsecret = \"env:SEND_HOOK_SECRET\"\n\n\
    [[webhook]]\nname = \"orders\"\nevent = \"order_paid\"\nverify = \"standard-webhooks\"\nsecret = \"secret:signing_key\"\n";
const HOOK_SECRET: &str = "the provider's shared secret";
const RECORDER_TOKEN: (&str, &str) = ("KERUJ_APP_TOKEN_RECORDER", TOKEN);

fn recorder_host() -> Host {
    Host::start(
        Setup::new()
            .app("recorder", &plugin("recorder"))
            .sidecar(RECORDER_SIDECAR)
            .env("SEND_HOOK_SECRET", HOOK_SECRET),
    )
}

#[test]
fn a_scheduled_run_now_instead_of_at_its_due_time() {
    let host = recorder_host();
    let company = "co-send-sched";
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    let before = jiff::Timestamp::now();
    let run = send(
        &host,
        &["recorder", "digest", "--schedule", "--company", company],
        &[RECORDER_TOKEN],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "done\n");
    let seen = seen(&host, "recorder", company);
    let body = &seen["seen/digest/0"];
    assert_eq!(body["event"], "digest");
    assert_eq!(body["company_id"], company);
    assert_eq!(body["schedule"]["event"], "digest");
    assert_eq!(body["schedule"]["attempt"], 1);
    let due: jiff::Timestamp = body["schedule"]["due"].as_str().unwrap().parse().unwrap();
    let off = due.duration_since(before).abs();
    assert!(
        off < jiff::SignedDuration::from_secs(60),
        "due {due} is now"
    );

    // With the plugins folder, an event the sidecar does not schedule is refused.
    let plugins = tempfile::tempdir().unwrap();
    std::fs::write(plugins.path().join("recorder.toml"), RECORDER_SIDECAR).unwrap();
    let dir = plugins.path().to_str().unwrap();
    let wrong = send(
        &host,
        &["recorder", "nightly", "--schedule", "--plugins", dir],
        &[RECORDER_TOKEN],
    );
    assert_eq!(wrong.code, Some(2), "{}", wrong.stdout);
    assert!(
        wrong
            .stderr
            .contains("no [[schedule]] with event \"nightly\"")
            && wrong.stderr.contains("it schedules: digest"),
        "{}",
        wrong.stderr
    );
    let lifecycle = send(
        &host,
        &["recorder", "install", "--schedule"],
        &[RECORDER_TOKEN],
    );
    assert_eq!(lifecycle.code, Some(2));
    assert!(
        lifecycle.stderr.contains("lifecycle"),
        "{}",
        lifecycle.stderr
    );
}

#[test]
fn signed_webhook_deliveries_from_a_terminal() {
    let host = recorder_host();
    let company = "co-send-hook";
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    let urls = webhooks(&host, company);
    let github = urls["gh"].as_str().unwrap();
    let gh = |extra: &[&str]| {
        let mut args = vec!["--webhook", github, "--verify", "github"];
        args.extend_from_slice(extra);
        send(&host, &args, &[])
    };

    let delivered = gh(&[
        "--secret",
        HOOK_SECRET,
        "--data",
        "ref=main",
        "--delivery-id",
        "d-1",
    ]);
    assert_eq!(delivered.code, Some(0), "{}", delivered.stderr);
    assert_eq!(
        delivered.stdout,
        "delivered: the host answered 200 OK (delivery id d-1)\n"
    );
    let run = &seen(&host, "recorder", company)["seen/push/0"];
    assert_eq!(run["webhook"]["name"], "gh");
    assert_eq!(run["webhook"]["id"], "d-1");
    assert_eq!(run["webhook"]["body"], r#"{"ref":"main"}"#);
    // The same id again: answered as before, the app not run twice.
    let again = gh(&[
        "--secret",
        HOOK_SECRET,
        "--data",
        "ref=main",
        "--delivery-id",
        "d-1",
    ]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(seen(&host, "recorder", company).len(), 1);

    // A wrong secret: 401, what to check, and nothing runs.
    let refused = gh(&["--secret", "not it", "--data", "ref=main"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    for part in [
        "the host answered 401 Unauthorized",
        "request_id: ",
        "hint: ",
    ] {
        assert!(
            refused.stderr.contains(part),
            "{part:?}:\n{}",
            refused.stderr
        );
    }
    let no_secret = gh(&[]);
    assert_eq!(no_secret.code, Some(2));
    assert!(
        no_secret.stderr.contains("--verify github needs --secret"),
        "{}",
        no_secret.stderr
    );

    // The company's own key (`secret:`), stored by the app; the body byte for byte.
    let key = "whsec_dGhlIGNvbXBhbnkncyBvd24ga2V5LCAzMiBieXRlcyE=";
    let store = submission(
        "store_secret",
        company,
        json!({"name": "signing_key", "value": key}),
    );
    assert_eq!(host.send("recorder", &store).status, 200);
    let body = "{ \"order\": 42 }";
    let orders = urls["orders"].as_str().unwrap();
    let args = [
        "--webhook",
        orders,
        "--verify",
        "standard-webhooks",
        "--body",
        body,
    ];
    let paid = send(&host, &args, &[("KERUJ_WEBHOOK_SECRET", key)]);
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    let run = &seen(&host, "recorder", company)["seen/order_paid/0"];
    assert_eq!(run["webhook"]["body"], body);
    assert!(
        run["webhook"]["id"].as_str().unwrap().starts_with("msg_"),
        "{run}"
    );

    // Uninstalled: the URL is gone.
    let uninstall = event("application_uninstall", company);
    assert_eq!(host.send("recorder", &uninstall).status, 200);
    let gone = send(&host, &args, &[("KERUJ_WEBHOOK_SECRET", key)]);
    assert_eq!(gone.code, Some(1));
    assert!(
        gone.stderr.contains("404") && gone.stderr.contains("no such webhook"),
        "{}",
        gone.stderr
    );

    let not_hooks = send(
        &host,
        &["--webhook", &host.url("/apps/recorder/events")],
        &[],
    );
    assert_eq!(not_hooks.code, Some(2));
    assert!(
        not_hooks.stderr.contains("is not a webhook URL"),
        "{}",
        not_hooks.stderr
    );
}
