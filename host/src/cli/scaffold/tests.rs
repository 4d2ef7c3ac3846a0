//! Name checks and the rendered crate, without building it (the end-to-end
//! test `tests/e2e/scaffold.rs` builds and serves it).

use super::*;

fn args(name: &str, dir: &Path) -> NewArgs {
    NewArgs {
        name: name.into(),
        lang: Lang::Rust,
        dir: Some(dir.into()),
        sdk_path: None,
        sdk_git: None,
    }
}

#[test]
fn names() {
    for ok in ["my-app", "hello", "a", "shop_2", &"a".repeat(63)] {
        check_name(ok).unwrap_or_else(|error| panic!("{ok} refused: {error}"));
    }
    let refused = |name: &str| check_name(name).unwrap_err().to_string();
    let message = refused("My App");
    assert!(message.contains("a-z, 0-9"), "{message}");
    assert!(message.contains("such as \"my-app\""), "{message}");
    for bad in ["", "-a", "a.b", "a/b", "..", "héllo", &"a".repeat(64)] {
        assert!(refused(bad).contains("cannot be an app id"), "{bad}");
    }
    assert!(refused("0x").contains("leading digit"));
    assert!(refused("test").contains("built-in"));
}

#[test]
fn render_fills_every_placeholder() {
    let text = render("{{a}}-{{b}} {{a}}", &[("a", "x"), ("b", "y")]);
    assert_eq!(text, "x-y x");
}

fn plan_in(dir: &Path) -> Plan {
    plan(&args("my-app", &dir.join("my-app"))).expect("the checkout's SDK is found")
}

#[test]
fn the_crate_depends_on_this_checkout_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_in(dir.path());
    let sdk = Path::new(CHECKOUT_SDK).canonicalize().unwrap();
    let harness = sdk.parent().unwrap().join("keruj-test");
    assert_eq!(
        plan.source,
        Source::Path {
            sdk: sdk.clone(),
            harness: harness.clone()
        }
    );
    assert_eq!(plan.lock, Some(sdk.parent().unwrap().join("Cargo.lock")));

    let files = files(&plan).unwrap();
    for (path, text) in &files {
        assert!(
            !text.contains("{{"),
            "{path} has a placeholder left:\n{text}"
        );
    }
    let file = |name: &str| &files.iter().find(|(path, _)| *path == name).unwrap().1;

    let manifest: toml::Table = toml::from_str(file("Cargo.toml")).unwrap();
    assert_eq!(manifest["package"]["name"].as_str(), Some("my-app"));
    assert_eq!(
        manifest["lib"]["crate-type"],
        toml::Value::from(vec!["cdylib"])
    );
    assert_eq!(
        manifest["dependencies"]["keruj-guest"]["path"].as_str(),
        sdk.to_str()
    );
    // The tests' harness is the light crate: the app's test build never
    // compiles the host (wasmtime).
    let dev = manifest["dev-dependencies"].as_table().unwrap();
    assert_eq!(dev.keys().collect::<Vec<_>>(), ["keruj-test"]);
    assert_eq!(dev["keruj-test"]["path"].as_str(), harness.to_str());
    // The test's wasm build reuses the proc macros of `cargo test`'s own.
    assert_eq!(manifest["profile"]["dev"]["debug"].as_bool(), Some(false));
    assert!(manifest.contains_key("workspace"));
    assert!(file("tests/dialogue.rs").contains("use keruj_test::TestApp;"));
    assert!(!file("tests/dialogue.rs").contains("keruj_host"));
    assert!(file("Cargo.toml").contains("\n# keruj-guest = \"0.1\"\n"));

    let copy = "cp target/wasm32-wasip2/release/my_app.wasm plugins/my-app.wasm";
    assert!(file("README.md").contains(copy), "{}", file("README.md"));
    assert!(file("README.md").contains("KERUJ_APP_TOKEN_MY_APP=dev-token"));
    let script = file("scripts/build");
    assert!(
        script.contains("release/my_app.wasm\" plugins/my-app.wasm"),
        "{script}"
    );
    assert!(file("src/lib.rs").contains("export_app!(Dialogue)"));
}

#[test]
fn git_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args("shop", &dir.path().join("shop"));
    args.sdk_git = Some("https://example.com/keruj-host.git".into());
    let plan = plan(&args).unwrap();
    assert_eq!(plan.lock, None);
    let files = files(&plan).unwrap();
    let manifest: toml::Table = toml::from_str(&files[0].1).unwrap();
    let url = Some("https://example.com/keruj-host.git");
    assert_eq!(manifest["dependencies"]["keruj-guest"]["git"].as_str(), url);
    assert_eq!(
        manifest["dev-dependencies"]["keruj-test"]["git"].as_str(),
        url
    );
}

/// The files of a `lang` app named `my-app`, no placeholder left.
fn files_in(lang: Lang, dir: &Path) -> Vec<(&'static str, String)> {
    let mut args = args("my-app", &dir.join("my-app"));
    args.lang = lang;
    let plan = plan(&args).expect("the checkout's SDKs are found");
    assert_eq!(plan.lock, None, "a Cargo.lock only for Rust");
    let files = files(&plan).unwrap();
    for (path, text) in &files {
        assert!(
            !text.contains("{{"),
            "{path} has a placeholder left:\n{text}"
        );
    }
    files
}

fn file<'a>(files: &'a [(&str, String)], name: &str) -> &'a str {
    let found = files.iter().find(|(path, _)| *path == name);
    &found.unwrap_or_else(|| panic!("no {name}")).1
}

#[test]
fn javascript_and_typescript_apps_take_the_checkouts_package() {
    let dir = tempfile::tempdir().unwrap();
    let js = Path::new(CHECKOUT_SDK).canonicalize().unwrap().join("js");
    for (lang, entry, test) in [
        (Lang::Js, "src/app.js", "node --test test/*.test.js"),
        (
            Lang::Ts,
            "src/app.ts",
            "node --import @keruj/guest/register-ts --test test/*.test.ts",
        ),
    ] {
        let files = files_in(lang, dir.path());
        let package: serde_json::Value =
            serde_json::from_str(file(&files, "package.json")).unwrap();
        assert_eq!(package["name"], "my-app");
        let dependency = format!("file:{}", js.display());
        assert_eq!(package["dependencies"]["@keruj/guest"], dependency.as_str());
        let build = format!("keruj-guest-build {entry} -o plugins/my-app.wasm");
        assert_eq!(package["scripts"]["build"], build.as_str());
        assert_eq!(package["scripts"]["test"], test);
        assert!(file(&files, entry).contains("export default app({"));
        let readme = file(&files, "README.md");
        assert!(readme.contains(entry) && readme.contains("KERUJ_APP_TOKEN_MY_APP=dev-token"));
    }
}

#[test]
fn python_apps_take_the_checkouts_package_unless_one_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let files = files_in(Lang::Python, dir.path());
    let python = Path::new(CHECKOUT_SDK)
        .canonicalize()
        .unwrap()
        .join("python");
    let quoted = format!("'{}'", python.display());
    let build = file(&files, "scripts/build");
    assert!(build.contains(&format!("PYTHONPATH={quoted}")), "{build}");
    assert!(
        build.contains("keruj_guest build app.py -o plugins/my-app.wasm"),
        "{build}"
    );
    let init = file(&files, "tests/__init__.py");
    assert!(init.contains(&format!(
        "sys.path.insert(0, {:?})",
        python.display().to_string()
    )));
    assert!(file(&files, "app.py").contains("app = Dialogue()"));
    assert!(
        file(&files, "tests/test_dialogue.py").contains("from keruj_guest.testing import TestApp")
    );
}

#[test]
fn only_rust_takes_its_sdk_from_git() {
    let dir = tempfile::tempdir().unwrap();
    for lang in [Lang::Js, Lang::Ts, Lang::Python] {
        let mut args = args("shop", &dir.path().join("shop"));
        args.lang = lang;
        args.sdk_git = Some("https://example.com/keruj-host.git".into());
        let error = format!("{:#}", plan(&args).unwrap_err());
        assert!(error.contains("--sdk-path <checkout>/guest-sdk"), "{error}");
    }
}

#[test]
fn shell_words_survive_quotes() {
    assert_eq!(sh_quote("/a b/c"), "'/a b/c'");
    assert_eq!(sh_quote("/it's"), "'/it'\\''s'");
}

#[test]
fn a_path_that_is_not_the_sdk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args("shop", &dir.path().join("shop"));
    args.sdk_path = Some(dir.path().join("nowhere"));
    let error = format!("{:#}", plan(&args).unwrap_err());
    assert!(error.contains("does not exist"), "{error}");
    args.sdk_path = Some(Path::new(CHECKOUT_SDK).join("../host"));
    let error = format!("{:#}", plan(&args).unwrap_err());
    assert!(error.contains("is not the keruj-guest crate"), "{error}");
}

#[test]
fn writes_into_an_empty_folder_only() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&args("my-app", dir.path())).expect("an empty folder is fine");
    create(&plan).unwrap();
    assert!(dir.path().join("src/lib.rs").is_file());
    assert!(dir.path().join("Cargo.lock").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("scripts/build")).unwrap();
        assert_eq!(mode.permissions().mode() & 0o111, 0o111);
    }
    let error = plan_err(dir.path());
    assert!(error.contains("is not empty"), "{error}");
    let file = dir.path().join("Cargo.toml");
    assert!(plan_err(&file).contains("is not a folder"));
}

fn plan_err(dir: &Path) -> String {
    format!("{:#}", plan(&args("my-app", dir)).unwrap_err())
}

#[test]
fn without_keruj_host_on_path_new_says_how_the_tests_find_it() {
    if std::env::var_os("KERUJ_HOST_BIN").is_some() {
        return; // Set: the tests find the binary, nothing to say.
    }
    assert_eq!(binary_hint(true, None), "");
    let hint = binary_hint(false, Some(Path::new("/src/kh/target/release/keruj-host")));
    assert!(
        hint.contains("export KERUJ_HOST_BIN=/src/kh/target/release/keruj-host"),
        "{hint}"
    );
    assert!(hint.contains("cargo install --locked --path"), "{hint}");
}
