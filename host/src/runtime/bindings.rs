//! Host bindings generated from the plugin contract in `guest-sdk/wit/`, the
//! same files the guest SDK generates its side from.

wasmtime::component::bindgen!({
    path: "../guest-sdk/wit",
    world: "keruj:plugin/app",
    imports: {
        "keruj:plugin/http.send": async,
        "keruj:plugin/keruj-api.graphql": async,
    },
    exports: { default: async },
});
