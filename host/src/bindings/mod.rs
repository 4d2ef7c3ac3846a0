//! Host bindings generated from the plugin contract, one module per version
//! the host serves (after Zed's extension host): the `app` world a plugin
//! exports, and one module per interface it may import, whose `Host` trait
//! a capability implements (`crate::capabilities`). A leaf: it imports
//! nothing of the host.
//!
//! The current version comes from `guest-sdk/wit/`, the files the guest
//! SDKs generate their side from; each older one is frozen in
//! `host/wit/<version>/`, so an app built against it keeps loading.

pub mod v0_1_0;

// The current version. Calls that wait on the network or the store
// (PostgreSQL) suspend the plugin's fiber instead of blocking a worker thread.
wasmtime::component::bindgen!({
    path: "../guest-sdk/wit",
    world: "keruj:plugin/app",
    imports: {
        "keruj:plugin/http.send": async,
        "keruj:plugin/keruj-api.graphql": async,
        "keruj:plugin/kv.get": async,
        "keruj:plugin/kv.set": async,
        "keruj:plugin/kv.delete": async,
        "keruj:plugin/kv.keys": async,
        "keruj:plugin/secrets.get": async,
        "keruj:plugin/secrets.set": async,
        "keruj:plugin/secrets.delete": async,
        "keruj:plugin/secrets.keys": async,
        "keruj:plugin/schedules.add": async,
        "keruj:plugin/schedules.all": async,
        "keruj:plugin/schedules.cancel": async,
        "keruj:plugin/webhooks.mint": async,
        "keruj:plugin/webhooks.all": async,
        "keruj:plugin/webhooks.revoke": async,
    },
    exports: { default: async },
});

/// The current version of `keruj:plugin` (`package` in guest-sdk/wit/plugin.wit):
/// what the SDKs this host ships build against.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Every version this host serves, oldest first.
pub const CONTRACT_VERSIONS: &[&str] = &[v0_1_0::VERSION, CONTRACT_VERSION];

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn the_contract_version_is_the_wit_package_version() {
        let wit = include_str!("../../../guest-sdk/wit/plugin.wit");
        let package = format!("package keruj:plugin@{};", super::CONTRACT_VERSION);
        assert!(
            wit.lines().any(|line| line.trim() == package),
            "plugin.wit does not declare `{package}`"
        );
    }

    /// A released version is never changed: apps built against it would
    /// stop loading, or load and misbehave.
    #[test]
    fn released_versions_are_frozen() {
        let wit = include_bytes!("../../wit/0.1.0/plugin.wit");
        let digest: String = Sha256::digest(wit)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest, "7565175306599170044b5286712603828236a9ec5e07c00e044a9ad07828e3d1",
            "host/wit/0.1.0/plugin.wit changed: add a new version instead"
        );
    }
}
