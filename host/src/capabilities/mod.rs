//! Host capabilities: what a plugin may import.
//!
//! Each capability is one module with the same shape (after Spin's
//! "factors"): `add_to_linker` links its WIT interface once for the whole
//! engine, and a per-instance state struct, built for each event, binds it to
//! the event's app, company and request. A plugin therefore never names an
//! app or a company: it can only reach its own.

pub mod log;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::config::Limits;
use crate::runtime::bindings_for_capabilities as bindings;

/// Everything one instance holds; dropped with the instance after the event.
pub struct InstanceState {
    /// WASI with nothing granted: no files, no environment, no sockets, no
    /// stdio. Present because Rust's standard library imports it.
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory, table and instance limits for this event.
    pub limits: StoreLimits,
    pub log: log::LogState,
}

impl InstanceState {
    pub fn new(app: &str, company: &str, request_id: &str, limits: Limits) -> Self {
        InstanceState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(100)
                .build(),
            log: log::LogState::new(app, company, request_id),
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Links WASI and every keruj capability into the engine's one linker.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    bindings::log::add_to_linker::<_, HasSelf<log::LogState>>(linker, |state| &mut state.log)?;
    Ok(())
}
