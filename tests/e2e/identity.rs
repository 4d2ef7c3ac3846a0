//! The age identity at start: missing, unreadable or wrong, the host refuses
//! with a clear message and exit code, never makes a new one for a database
//! with credentials, never falls back. And `keruj-host rotate-identity`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use serde_json::json;

use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, api_key, event, hello, install, plugin, submission};

fn fresh_identity() -> String {
    age::x25519::Identity::generate()
        .to_string()
        .expose_secret()
        .to_owned()
        + "\n"
}

fn identity_of(path: &Path) -> age::x25519::Identity {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    age::x25519::Identity::from_str(line).unwrap()
}

#[test]
fn a_missing_unreadable_or_wrong_identity_stops_the_start() {
    let mut host = Host::start(Setup::new().app("hello", hello()));
    let company = "co-identity-1";
    assert_eq!(host.send("hello", &install(company)).status, 200);
    host.stop();
    let path = host.data_dir().join("identity.txt");
    let good = std::fs::read(&path).unwrap();
    let elsewhere = host.data_dir().join("elsewhere.txt");

    type Break = fn(&Path);
    let cases: [(&str, Break, &str); 4] = [
        (
            "missing",
            |p| std::fs::remove_file(p).unwrap(),
            "is missing",
        ),
        (
            "unreadable (a folder)",
            |p| {
                std::fs::remove_file(p).unwrap();
                std::fs::create_dir(p).unwrap();
            },
            "cannot read the age identity",
        ),
        (
            "another identity",
            |p| std::fs::write(p, fresh_identity()).unwrap(),
            "does not decrypt",
        ),
        (
            "not an identity",
            |p| std::fs::write(p, "hello\n").unwrap(),
            "not an age X25519 identity",
        ),
    ];
    for (what, break_it, message) in cases {
        break_it(&path);
        let before = std::fs::read(&path).ok();
        let (status, output) = host.start_refused();
        assert!(!status.success(), "{what}: exit {status}");
        assert!(
            output.contains(message),
            "{what}: unclear message:\n{output}"
        );
        assert!(
            output.contains("identity.txt"),
            "{what}: the file is not named:\n{output}"
        );
        assert_eq!(
            std::fs::read(&path).ok(),
            before,
            "{what}: the file was changed"
        );
        if path.is_dir() {
            std::fs::remove_dir(&path).unwrap();
        }
        std::fs::write(&path, &good).unwrap();
    }

    // --identity naming a missing file: refused, and not created.
    host.set_env("KERUJ_IDENTITY", elsewhere.to_str().unwrap());
    let (status, output) = host.start_refused();
    assert!(
        !status.success() && output.contains("is missing"),
        "{output}"
    );
    assert!(!elsewhere.exists(), "a new identity was made");
    host.set_env("KERUJ_IDENTITY", path.to_str().unwrap());

    assert!(
        !host.db_contains(&api_key()),
        "a credential is in plaintext"
    );
    host.start_again();
    let form = host.send("hello", &event("application_configure", company));
    assert_eq!(form.status, 200, "the install is gone: {}", form.body);
}

#[test]
fn rotate_identity_re_encrypts_every_credential() {
    let keruj = Stub::start(|_| Reply::json(json!({"data": {"ok": true}})));
    let mut host = Host::start(
        Setup::new()
            .app("probe", &plugin("probe"))
            .env("KERUJ_API_URL", &keruj.url("/api/graphql")),
    );
    let company = "co-rotate-1";
    assert_eq!(host.send("probe", &install(company)).status, 200);
    let secret = json!({"name": "np", "value": "np_secret_rotated"});
    assert_eq!(
        host.send("probe", &submission("secret_set", company, secret))
            .status,
        200
    );
    let data = host.data_dir();
    let data_arg = data.to_str().unwrap().to_owned();

    // While the host runs, sled's database is locked: refused, nothing
    // changed. (PostgreSQL cannot tell: its operators stop every replica.)
    if !host.uses_postgres() {
        let (status, output) = host.run_command(&["rotate-identity", "--data", &data_arg]);
        assert!(!status.success(), "rotated under a running host: {output}");
        assert!(output.contains("stop keruj-host first"), "{output}");
    }
    host.stop();

    let identity = data.join("identity.txt");
    let old_text = std::fs::read_to_string(&identity).unwrap();
    let (status, output) = host.run_command(&["rotate-identity", "--data", &data_arg]);
    assert!(status.success(), "{output}");
    assert!(output.contains("2 credentials re-encrypted"), "{output}");
    let kept = data.join("identity.txt.old");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), old_text);
    for file in [&identity, &kept] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file:?}");
    }

    let (old, new) = (identity_of(&kept), identity_of(&identity));
    let sealed: Vec<Vec<u8>> = host
        .db_entries()
        .into_iter()
        .filter(|v| v.starts_with(b"age-encryption.org/v1"))
        .collect();
    assert_eq!(sealed.len(), 2);
    let mut plain = Vec::new();
    for value in &sealed {
        assert!(
            age::decrypt(&old, value).is_err(),
            "the old identity still decrypts"
        );
        plain.push(age::decrypt(&new, value).expect("the new identity decrypts"));
    }
    assert!(plain.contains(&api_key().into_bytes()));
    assert!(plain.contains(&b"np_secret_rotated".to_vec()));

    host.start_again();
    let query = json!({"query": "{ ok }"});
    let answer = host.send("probe", &submission("graphql", company, query));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let received = keruj.received();
    assert_eq!(
        received.last().unwrap().headers["x-keruj-api-key"],
        api_key()
    );
}
