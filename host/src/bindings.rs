//! Host bindings generated from the plugin contract in `guest-sdk/wit/`, the
//! same files the guest SDK generates its side from: the `app` world a
//! plugin exports, and one module per interface it may import, whose `Host`
//! trait a capability module implements (`crate::capabilities`). A leaf: it
//! imports nothing of the host.

wasmtime::component::bindgen!({
    path: "../guest-sdk/wit",
    world: "keruj:plugin/app",
    // Calls that wait on the network or the store (PostgreSQL) suspend the
    // plugin's fiber instead of blocking a worker thread.
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
    },
    exports: { default: async },
});

/// The version of `keruj:plugin` this host serves (`package` in plugin.wit).
pub const CONTRACT_VERSION: &str = "0.1.0";

#[cfg(test)]
mod tests {
    #[test]
    fn the_contract_version_is_the_wit_package_version() {
        let wit = include_str!("../../guest-sdk/wit/plugin.wit");
        let package = format!("package keruj:plugin@{};", super::CONTRACT_VERSION);
        assert!(
            wit.lines().any(|line| line.trim() == package),
            "plugin.wit does not declare `{package}`"
        );
    }
}
