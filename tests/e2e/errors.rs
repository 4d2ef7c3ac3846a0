//! Requests the host refuses before any plugin runs: the status, the error
//! body, and that nothing of them is stored.

use serde_json::{Value, json};

use crate::support::{Host, Setup, TOKEN, contains, event, hello, install};

const WRONG: Option<&str> = Some("wrong-token");
const RIGHT: Option<&str> = Some(TOKEN);

/// Makes a request's body for a company id.
type Body = fn(&str) -> String;

fn installing(company: &str) -> String {
    install(company).to_string()
}

fn configuring(company: &str) -> String {
    event("application_configure", company).to_string()
}

/// A well-formed install over the 1 MiB limit.
fn over_limit(company: &str) -> String {
    let mut body = install(company);
    body["padding"] = "x".repeat(1024 * 1024).into();
    body.to_string()
}

/// An install cut off just after the company id: not JSON.
fn cut_short(company: &str) -> String {
    let body = installing(company);
    let end = body.find(company).unwrap() + company.len() + 1;
    body[..end].to_owned()
}

fn in_an_array(company: &str) -> String {
    json!([install(company)]).to_string()
}

/// An install whose `account_id` is the company id too, so that the id is
/// still in the body when `company_id` is taken out.
fn install_as(company: &str) -> Value {
    let mut body = install(company);
    body["account_id"] = company.into();
    body
}

fn without_event(company: &str) -> String {
    let mut body = install_as(company);
    body.as_object_mut().unwrap().remove("event");
    body.to_string()
}

fn without_company(company: &str) -> String {
    let mut body = install_as(company);
    body.as_object_mut().unwrap().remove("company_id");
    body.to_string()
}

fn numeric_company(company: &str) -> String {
    let mut body = install_as(company);
    body["company_id"] = json!(918273645);
    body.to_string()
}

/// Each case: the status, what it is, the app, the token and the body.
const CASES: [(u16, &str, &str, Option<&str>, Body); 11] = [
    (401, "install, wrong token", "hello", WRONG, installing),
    (401, "configure, wrong token", "hello", WRONG, configuring),
    (401, "install, no token", "hello", None, installing),
    (404, "unknown app", "nope", RIGHT, installing),
    (413, "body over 1 MiB", "hello", RIGHT, over_limit),
    (400, "invalid JSON", "hello", RIGHT, cut_short),
    (400, "JSON array", "hello", RIGHT, in_an_array),
    (400, "no event", "hello", RIGHT, without_event),
    (400, "no company_id", "hello", RIGHT, without_company),
    (400, "company_id a number", "hello", RIGHT, numeric_company),
    (409, "company never installed", "hello", RIGHT, configuring),
];

#[test]
fn refused_requests_answer_the_contract_error_and_store_nothing() {
    let mut host = Host::start(Setup::new().app("hello", hello()));
    let company = |i: usize| format!("co-err-{i}-refused");
    for (i, (status, what, app, token, body)) in CASES.into_iter().enumerate() {
        let body = body(&company(i));
        // The host may answer 413 without reading the body; see `post_raw`.
        let answer = match status {
            413 => host.post_raw(app, token, &body),
            _ => host.post(app, token, body),
        };
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        answer.assert_error(status);
    }
    host.stop();

    let stored = host.db_entries();
    for (i, (_, what, ..)) in CASES.into_iter().enumerate() {
        let found = stored
            .iter()
            .any(|entry| contains(entry, company(i).as_bytes()));
        assert!(!found, "{what}: the database holds {}", company(i));
    }
    let found = stored.iter().any(|entry| contains(entry, b"918273645"));
    assert!(!found, "company_id a number: the database holds it");
}

#[test]
fn every_error_has_its_own_request_id() {
    let host = Host::start(Setup::new().app("hello", hello()));
    let first = host.post("hello", None, "{}").json();
    let second = host.post("hello", None, "{}").json();
    assert_ne!(first["request_id"], second["request_id"]);
}
