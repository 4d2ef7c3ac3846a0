//! What the host keeps on disk: installs survive a restart, credentials are
//! encrypted with age to `DATA/identity.txt`, uninstall leaves nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;

use crate::support::{Host, Setup, api_key, contains, event, hello, install};

fn hello_host() -> Host {
    Host::start(Setup::new().app("hello", hello()))
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn the_api_key_is_never_written_in_plaintext() {
    let mut host = hello_host();
    let answer = host.send("hello", &install("co-store-plain-1"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    host.stop();

    let key = api_key();
    let files = files(&host.data_dir());
    assert!(!files.is_empty(), "the data folder is empty");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, key.as_bytes()),
            "{file:?} holds the API key"
        );
    }
    assert!(!host.log().contains(&key), "the log holds the API key");
    assert!(
        !host.log().contains(crate::support::TOKEN),
        "the log holds the app token"
    );
}

#[test]
fn uninstall_leaves_nothing_of_the_company() {
    let mut host = hello_host();
    for company in ["co-store-gone-1", "co-store-kept-1"] {
        assert_eq!(host.send("hello", &install(company)).status, 200);
    }
    let answer = host.send("hello", &event("application_uninstall", "co-store-gone-1"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    host.stop();

    assert!(
        !host.db_contains("co-store-gone-1"),
        "the uninstalled company is still stored"
    );
    assert!(
        host.db_contains("co-store-kept-1"),
        "the other company's install is gone"
    );
}

#[test]
fn installs_survive_a_restart() {
    let mut host = hello_host();
    let company = "co-store-restart-1";
    assert_eq!(host.send("hello", &install(company)).status, 200);
    host.stop();
    host.start_again();

    let form = host.send("hello", &event("application_configure", company));
    assert_eq!(form.status, 200, "configure after a restart: {}", form.body);
}

#[test]
fn identity_file_is_created_private() {
    let mut host = hello_host();
    host.stop();
    let identity = host.data_dir().join("identity.txt");
    let mode = std::fs::metadata(&identity)
        .unwrap_or_else(|e| panic!("{identity:?}: {e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    let text = std::fs::read_to_string(&identity).unwrap();
    assert!(
        text.contains("AGE-SECRET-KEY-1"),
        "not an age identity file"
    );
}

#[test]
fn the_stored_api_key_is_age_encrypted_to_the_identity() {
    let mut host = hello_host();
    assert_eq!(host.send("hello", &install("co-store-age-1")).status, 200);
    host.stop();

    let text = std::fs::read_to_string(host.data_dir().join("identity.txt")).unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with("AGE-SECRET-KEY-1"));
    let identity = age::x25519::Identity::from_str(line.expect("an age secret key"))
        .expect("a valid age identity");

    let ciphertexts: Vec<Vec<u8>> = host
        .db_entries()
        .into_iter()
        .filter(|value| value.starts_with(b"age-encryption.org/v1"))
        .collect();
    assert!(!ciphertexts.is_empty(), "no age ciphertext in the database");
    let plaintexts: Vec<Vec<u8>> = ciphertexts
        .iter()
        .map(|ciphertext| age::decrypt(&identity, ciphertext).expect("decrypts with the identity"))
        .collect();
    assert!(
        plaintexts.contains(&api_key().into_bytes()),
        "no ciphertext holds the API key"
    );
}

/// The contract's promise to operators: the reference `age` tool decrypts a
/// stored credential with the identity file. Needs `age` on the PATH; CI
/// installs it and sets `KERUJ_TEST_REQUIRE_AGE_CLI=1` so it cannot be skipped there.
#[test]
fn the_reference_age_tool_decrypts_a_stored_credential() {
    let age_cli = std::process::Command::new("age").arg("--version").output();
    if age_cli.is_err() {
        assert!(
            std::env::var_os("KERUJ_TEST_REQUIRE_AGE_CLI").is_none(),
            "the `age` tool is required here but not installed"
        );
        eprintln!("skipped: the reference `age` tool is not installed (apt-get install age)");
        return;
    }
    let mut host = hello_host();
    assert_eq!(host.send("hello", &install("co-store-age-cli")).status, 200);
    host.stop();

    let ciphertext = host
        .db_entries()
        .into_iter()
        .find(|value| value.starts_with(b"age-encryption.org/v1"))
        .expect("an age ciphertext in the database");
    let sealed = host.data_dir().join("value.age");
    std::fs::write(&sealed, ciphertext).unwrap();
    let output = std::process::Command::new("age")
        .arg("--decrypt")
        .arg("--identity")
        .arg(host.data_dir().join("identity.txt"))
        .arg(&sealed)
        .output()
        .expect("age runs");
    assert!(
        output.status.success(),
        "age failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), api_key());
}
