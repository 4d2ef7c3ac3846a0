//! `keruj:plugin@0.1.0`, frozen: the first released contract. The host
//! serves it by forwarding each call to the current version's capability
//! (`crate::capabilities::since_0_1_0`).

wasmtime::component::bindgen!({
    path: "wit/0.1.0",
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
    },
    exports: { default: async },
});

/// The version these bindings are of.
pub const VERSION: &str = "0.1.0";
