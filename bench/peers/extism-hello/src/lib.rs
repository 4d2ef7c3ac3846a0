//! hello's logic as an Extism plugin (`extism-pdk`): the event body in, the
//! reply JSON out (empty: done). Built for wasm32-unknown-unknown.

use extism_pdk::{FnResult, plugin_fn};

#[path = "../../../hello_logic.rs"]
#[allow(dead_code)]
mod hello_logic;

#[plugin_fn]
pub fn handle_event(body: String) -> FnResult<String> {
    match hello_logic::handle_body(&body) {
        Ok(reply) => Ok(reply.unwrap_or_default()),
        Err(message) => Err(extism_pdk::Error::msg(message).into()),
    }
}
