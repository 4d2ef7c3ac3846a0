use super::*;
use clap::Parser;
use keruj_guest::form::Element;
use serde_json::json;

/// `keruj-host send ARGS` parsed as the binary parses it.
fn args(line: &[&str]) -> SendArgs {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        send: SendArgs,
    }
    let argv = std::iter::once("send").chain(line.iter().copied());
    Cli::try_parse_from(argv).expect("valid arguments").send
}

#[test]
fn data_values_are_json_scalars_or_strings() {
    let cases = [
        ("name=Olena", json!("Olena")),
        ("n=42", json!(42)),
        ("x=-1.5", json!(-1.5)),
        ("ok=true", json!(true)),
        ("ok=false", json!(false)),
        ("gone=null", json!(null)),
        ("s=\"42\"", json!("42")),
        ("empty=", json!("")),
        ("list=[1,2]", json!("[1,2]")),
        ("obj={\"a\":1}", json!("{\"a\":1}")),
        ("eq=a=b", json!("a=b")),
        ("spaced= 7 ", json!(7)),
        ("word=True", json!("True")),
    ];
    for (arg, expected) in cases {
        let (key, value) = parse_data(arg).unwrap();
        assert_eq!(key, arg.split_once('=').unwrap().0, "{arg}");
        assert_eq!(value, expected, "{arg}");
    }
}

#[test]
fn bad_data_is_refused_clearly() {
    assert!(parse_data("name").unwrap_err().contains("KEY=VALUE"));
    assert!(
        parse_data("=x")
            .unwrap_err()
            .contains("key before `=` is empty")
    );
}

#[test]
fn shorthands_expand_and_other_names_pass() {
    assert_eq!(event_name("install"), "application_install");
    assert_eq!(event_name("configure"), "application_configure");
    assert_eq!(event_name("update"), "application_update");
    assert_eq!(event_name("uninstall"), "application_uninstall");
    assert_eq!(event_name("name_submitted"), "name_submitted");
}

#[test]
fn install_gets_a_fresh_key_and_account() {
    let one = build_body(INSTALL, "co-1", &[], None).unwrap();
    let two = build_body(INSTALL, "co-1", &[], None).unwrap();
    assert_eq!(one["event"], "application_install");
    assert_eq!(one["company_id"], "co-1");
    let key = one["account_api_key"].as_str().unwrap();
    assert!(key.starts_with("kj_dev_") && key.len() == 7 + 32, "{key}");
    assert_ne!(one["account_api_key"], two["account_api_key"]);
    assert!(one["account_id"].as_str().is_some_and(|id| !id.is_empty()));
    let configure = build_body(CONFIGURE, "co-1", &[], None).unwrap();
    assert_eq!(
        Value::Object(configure),
        json!({"event": "application_configure", "company_id": "co-1"})
    );
}

#[test]
fn data_builds_the_data_object() {
    let data = [("name".into(), json!("Olena")), ("age".into(), json!(30))];
    let body = build_body("name_submitted", "c", &data, None).unwrap();
    assert_eq!(
        Value::Object(body),
        json!({"event": "name_submitted", "company_id": "c", "data": {"name": "Olena", "age": 30}})
    );
    let twice = [("a".into(), json!(1)), ("a".into(), json!(2))];
    let err = build_body("e", "c", &twice, None).unwrap_err().to_string();
    assert!(err.contains("--data a=... is given twice"), "{err}");
}

#[test]
fn a_whole_body_is_completed_not_overwritten() {
    let body = build_body(
        "ping",
        "dev",
        &[],
        Some(r#"{"extra": [1], "company_id": "mine"}"#),
    )
    .unwrap();
    assert_eq!(
        Value::Object(body),
        json!({"event": "ping", "company_id": "mine", "extra": [1]})
    );
    let body = build_body(
        INSTALL,
        "dev",
        &[],
        Some(r#"{"account_api_key": "kj_mine"}"#),
    )
    .unwrap();
    assert_eq!(body["account_api_key"], "kj_mine");
    assert_eq!(body["company_id"], "dev");
    for (text, message) in [
        ("[1]", "must be a JSON object"),
        ("{", "not valid JSON"),
        (r#"{"event": "other"}"#, "make them agree"),
    ] {
        let err = build_body("ping", "c", &[], Some(text))
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{text}: {err}");
    }
    let err = build_body("bad name", "c", &[], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an event name"), "{err}");
}

#[test]
fn the_token_comes_from_the_hosts_variable() {
    // Names only this test uses: the environment is the process's.
    unsafe {
        std::env::set_var("KERUJ_APP_TOKEN_SEND_UNIT_A", "tok-a");
        std::env::set_var("SEND_UNIT_SIDECAR_TOKEN", "tok-sidecar");
    }
    assert_eq!(
        resolve_token("send-unit-a", None, None).unwrap().value,
        "tok-a"
    );
    assert_eq!(
        resolve_token("send-unit-a", None, Some("given"))
            .unwrap()
            .value,
        "given"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("send-unit-a.toml"),
        "token_env = \"SEND_UNIT_SIDECAR_TOKEN\"\n",
    )
    .unwrap();
    assert_eq!(
        resolve_token("send-unit-a", Some(dir.path()), None)
            .unwrap()
            .value,
        "tok-sidecar"
    );
    // No sidecar for this app in the folder: the default variable.
    assert_eq!(
        resolve_token("send-unit-a", Some(&dir.path().join("none")), None)
            .unwrap()
            .value,
        "tok-a"
    );
    let err = resolve_token("send-unit-missing", None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("KERUJ_APP_TOKEN_SEND_UNIT_MISSING"), "{err}");
    assert!(err.contains("--token"), "{err}");
    std::fs::write(
        dir.path().join("send-unit-b.toml"),
        "token_env = \"SEND_UNIT_UNSET\"\n",
    )
    .unwrap();
    let err = resolve_token("send-unit-b", Some(dir.path()), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SEND_UNIT_UNSET") && err.contains("token_env"),
        "{err}"
    );
    std::fs::write(dir.path().join("send-unit-b.toml"), "nonsense = 1\n").unwrap();
    let err = format!(
        "{:#}",
        resolve_token("send-unit-b", Some(dir.path()), None).unwrap_err()
    );
    assert!(err.contains("send-unit-b.toml"), "{err}");
}

/// Where the tests' token was read from.
const FROM: &str = "KERUJ_APP_TOKEN_HELLO";

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        body: body.into(),
    }
}

#[test]
fn an_empty_2xx_is_done() {
    let shown = show(&args(&["hello", "install"]), FROM, &answer(200, ""));
    assert_eq!(
        shown,
        Shown {
            stdout: "done\n".into(),
            stderr: String::new(),
            code: 0
        }
    );
    let shown = show(
        &args(&["hello", "install", "--json"]),
        FROM,
        &answer(200, ""),
    );
    assert_eq!((shown.stdout.as_str(), shown.code), ("", 0));
}

#[test]
fn a_form_is_drawn_with_the_line_that_answers_it() {
    let form = Form::new("name_submitted", "Say hello")
        .element(Element::text("name", "Your name").required())
        .error("name", "Please type your name");
    let shown = show(
        &args(&["hello", "configure"]),
        FROM,
        &answer(200, &form.to_json()),
    );
    assert_eq!(shown.code, 0);
    assert!(
        shown.stdout.starts_with(&form_text::render(&form)),
        "{}",
        shown.stdout
    );
    assert!(
        shown
            .stdout
            .ends_with("answer with:\n  keruj-host send hello name_submitted --data name=\n"),
        "{}",
        shown.stdout
    );
    let shown = show(
        &args(&["hello", "configure", "--json"]),
        FROM,
        &answer(200, &form.to_json()),
    );
    assert_eq!(Form::from_json(shown.stdout.trim()).unwrap(), form);
}

#[test]
fn the_reply_line_keeps_values_company_and_url() {
    let form = Form::new("saved", "T")
        .element(Element::text("city", "City").value("Kyiv Oblast"))
        .element(Element::text("zip", "Zip").value("01001"))
        .element(Element::text("code", "Code").value("42"))
        .element(Element::number("n", "N").value(3))
        .element(Element::checkbox("agree", "Agree"))
        .element(Element::password("pw", "Password").value("hunter2"))
        .element(Element::info("note", "Read me"));
    let line = reply_command(
        &args(&[
            "app",
            "configure",
            "--company",
            "co 1",
            "--url",
            "http://127.0.0.1:9",
        ]),
        &form,
    );
    assert_eq!(
        line,
        "keruj-host send app saved --company 'co 1' --url http://127.0.0.1:9 \
         --data 'city=Kyiv Oblast' --data zip=01001 --data 'code=\"42\"' --data n=3 --data agree=false --data pw="
    );
    // Every printed value reads back as the form's value.
    assert_eq!(parse_data("zip=01001").unwrap().1, json!("01001"));
    assert_eq!(parse_data("code=\"42\"").unwrap().1, json!("42"));
}

#[test]
fn errors_show_status_error_request_id_and_a_hint() {
    let body = r#"{"error":"missing or wrong x-keruj-app-token for this app","request_id":"r-42"}"#;
    let shown = show(&args(&["hello", "configure"]), FROM, &answer(401, body));
    assert_eq!(shown.code, 1);
    assert!(shown.stdout.is_empty());
    for part in [
        "the host answered 401 Unauthorized",
        "error: missing or wrong x-keruj-app-token for this app",
        "request_id: r-42",
        "KERUJ_APP_TOKEN_HELLO",
    ] {
        assert!(shown.stderr.contains(part), "{part}: {}", shown.stderr);
    }
    let shown = show(
        &args(&["hello", "configure", "--json"]),
        FROM,
        &answer(404, body),
    );
    assert_eq!((shown.stderr.trim(), shown.code), (body, 1));
    let shown = show(&args(&["hello", "configure"]), FROM, &answer(409, body));
    assert!(
        shown.stderr.contains("send hello install"),
        "{}",
        shown.stderr
    );
}

#[test]
fn webhook_takes_the_place_of_app_and_event() {
    let hook = args(&["--webhook", "http://h/hooks/x", "--verify", "stripe"]);
    assert_eq!(hook.app, None);
    assert_eq!(hook.triggers.verify, crate::signatures::Scheme::Stripe);
    let parse = |line: &[&str]| {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            send: SendArgs,
        }
        Cli::try_parse_from(std::iter::once("send").chain(line.iter().copied())).map(|_| ())
    };
    assert!(
        parse(&["hello"]).is_err(),
        "EVENT is needed without --webhook"
    );
    assert!(parse(&["hello", "ping", "--webhook", "http://h/hooks/x"]).is_err());
    assert!(parse(&["--webhook", "u", "--schedule"]).is_err());
    let bad = parse(&["--webhook", "u", "--verify", "hmac"]).unwrap_err();
    assert!(bad.to_string().contains("standard-webhooks"), "{bad}");
    assert!(args(&["hello", "tick", "--schedule"]).triggers.schedule);
}
