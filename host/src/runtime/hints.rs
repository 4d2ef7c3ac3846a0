//! What to do when a component does not load: a hint for each import the
//! host does not provide, and for the compile errors a common toolchain
//! causes. Shown in an app's health `problem`, the log, and `keruj-host check`.

use crate::bindings::{CONTRACT_VERSION, CONTRACT_VERSIONS};

/// The WASI 0.2 interfaces the host links (`wasmtime_wasi::p2` and the
/// outgoing half of `wasmtime_wasi_http::p2`), as `package/interface`.
/// Linked is not granted: files, sockets and the environment are empty.
const WASI_PROVIDED: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

/// What to do about `import` (an import name such as
/// `wasi:http/types@0.2.10`) that the host could not satisfy.
pub fn for_import(import: &str) -> String {
    let (path, version) = import.split_once('@').unwrap_or((import, ""));
    let package = path.split_once('/').map_or(path, |(package, _)| package);
    if package == "keruj:plugin" {
        let served = CONTRACT_VERSIONS
            .iter()
            .map(|v| format!("@{v}"))
            .collect::<Vec<_>>()
            .join(", ");
        return if CONTRACT_VERSIONS.contains(&version) {
            format!(
                "this host serves keruj:plugin@{version} and it differs from what the \
                 component was built against: rebuild it with this host's keruj-guest (or its \
                 guest-sdk/wit)"
            )
        } else {
            format!(
                "this host serves keruj:plugin {served}, not @{version}: build the app against \
                 @{CONTRACT_VERSION} (the keruj-guest this host ships), or run a host that \
                 serves @{version}"
            )
        };
    }
    if package.starts_with("wasi:") && version.starts_with("0.3") {
        return "WASI 0.3 is not offered: build for WASI 0.2 (target wasm32-wasip2)".into();
    }
    if WASI_PROVIDED.contains(&path) {
        return format!(
            "this host provides {path} from WASI 0.2, but not all that this component \
             expects of it: the component was likely built against a newer WASI 0.2 release \
             than this host's wasmtime; rebuild it with an older toolchain or update the host"
        );
    }
    match package {
        "wasi:http" => "of wasi:http this host provides only `types` and `outgoing-handler` \
            (outbound requests, under the app's allowed_hosts); an app does not serve HTTP \
            itself: drop this import (an exported incoming-handler is fine: it is ignored)"
            .into(),
        "wasi:keyvalue" => {
            "use keruj:plugin/kv instead (data kept per company, deleted at uninstall)".into()
        }
        "wasi:config" => "use keruj:plugin/config instead (the sidecar's [config])".into(),
        "wasi:logging" => "use keruj:plugin/log instead".into(),
        p if p.starts_with("wasi:") => format!(
            "this host does not offer {path}: of WASI it provides 0.2's cli, clocks, \
             filesystem, io, random and sockets (nothing granted) and wasi:http outgoing; \
             remove what imports it"
        ),
        p if p.starts_with("fermyon:") || p.starts_with("spin:") => {
            "this is a Spin SDK import and this host is not Spin: write the app with \
             keruj-guest (or against keruj:plugin's WIT)"
                .into()
        }
        _ => format!(
            "this host does not offer `{import}`: remove the dependency that imports it \
             (`keruj-host check <app>.wasm` lists every import)"
        ),
    }
}

/// What to do about a component the engine refused to compile, if its
/// error is one a common toolchain causes.
pub fn for_compile_error(error: &str) -> Option<&'static str> {
    if error.contains("requires the component model async") {
        Some(
            "the component uses the component model's async features, which this host does \
             not enable: a componentize-js build on QuickJS (`--backend qjs`) needs \
             `--backend-qjs-disable-async`",
        )
    } else if error.contains("parse a wasm module with a component parser") {
        Some(
            "this is a core WebAssembly module, not a component: build for the \
             wasm32-wasip2 target (`cargo build --target wasm32-wasip2`)",
        )
    } else if error.contains("magic header") {
        Some("this is not a WebAssembly file")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keruj_versions_name_the_served_one() {
        let other = for_import("keruj:plugin/kv@9.0.0");
        assert!(
            other.contains("serves keruj:plugin @0.1.0, @0.2.0, not @9.0.0"),
            "{other}"
        );
        for served in CONTRACT_VERSIONS {
            let same = for_import(&format!("keruj:plugin/kv@{served}"));
            assert!(same.contains("rebuild"), "{same}");
        }
    }

    #[test]
    fn compile_errors_of_common_toolchains_get_a_hint() {
        let quickjs = "`task.cancel` requires the component model async feature";
        assert!(
            for_compile_error(quickjs)
                .unwrap()
                .contains("--backend-qjs-disable-async")
        );
        let module = "failed to parse WebAssembly module: attempted to parse a wasm module \
            with a component parser";
        assert!(for_compile_error(module).unwrap().contains("wasm32-wasip2"));
        assert_eq!(for_compile_error("something else"), None);
    }

    #[test]
    fn known_interfaces_get_a_specific_hint() {
        assert!(for_import("wasi:keyvalue/store@0.2.0-draft").contains("keruj:plugin/kv"));
        assert!(for_import("wasi:http/incoming-handler@0.2.0").contains("ignored"));
        assert!(for_import("wasi:http/types@0.3.0").contains("WASI 0.3"));
        assert!(for_import("wasi:http/types@0.2.99").contains("newer WASI 0.2"));
        assert!(for_import("acme:thing/x@1.0.0").contains("`acme:thing/x@1.0.0`"));
    }
}
