//! The engine's configuration: async calls, epoch interruption, and the
//! pooling allocator when the machine's address space allows it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::function_cache::FunctionCache;

/// How often the epoch advances: the granularity of time limits and of
/// yielding a busy plugin back to tokio.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How much of a pool slot's memory stays resident between instances when
/// only dirtied pages are reset: a small app's whole working set. wasmtime
/// 50.0.1's page scan also takes a page never touched for a dirtied one when
/// it sits next to touched pages (the kernel reports its empty entry as
/// written, Linux 6.18 here): up to this much of a slot is then rewritten
/// at every reset and stays resident. A smaller budget gives pages back
/// instead and the next event faults them in: a Rust app gains a little
/// (28 against 39 µs per event at 64 KiB), JavaScript and Python lose more,
/// and with none kept the host is slower end to end; see BENCHMARKS.md,
/// "wasmtime 50 (issue 19)".
const KEEP_RESIDENT_BYTES: usize = 8 * 1024 * 1024;

/// How much of a table slot stays resident between instances. A Rust
/// component's tables fit in one page, which wasmtime zeroes in place with
/// no system call whatever this is. A JavaScript or Python app's function
/// table is 12 to 16 pages: kept resident, it is zeroed in place after one
/// page scan, instead of being given back to the kernel (`madvise`, a TLB
/// flush) and faulted in again page by page by the next event.
const TABLE_KEEP_RESIDENT_BYTES: usize = 1024 * 1024;

/// Linear memories in the pool (each reserves address space for the largest
/// `memory_mb`, not RAM).
const TOTAL_MEMORIES: u32 = 2_000;

/// Pool slots kept warm for reuse by the module they held: all of them.
/// wasmtime 50 splits the slots into one shard per thread (`min(cores,
/// 16)`), each with its share of the slots and of this number, and an
/// instance takes a slot of its thread's shard: an app served by every
/// worker thread holds a slot in every shard. With every slot allowed to
/// stay warm, an event finds a slot that already holds its app's memory
/// image as long as apps × shards ≤ [`TOTAL_MEMORIES`]; past that, slots
/// change hands and each such event maps an image afresh (two `mmap`s and
/// its page faults). RSS: what each warm slot keeps resident.
const WARM_SLOTS: u32 = TOTAL_MEMORIES;

/// Wasm stack a plugin may use before a stack overflow trap.
const MAX_WASM_STACK: usize = 1024 * 1024;

/// Which instance allocator the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationStrategy {
    /// Pre-reserved slots: instantiation is a few microseconds.
    Pooling,
    /// mmap per instance: slower, but works where address space is scarce.
    OnDemand,
}

impl fmt::Display for AllocationStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AllocationStrategy::Pooling => "pooling",
            AllocationStrategy::OnDemand => "on-demand",
        })
    }
}

/// Builds the engine with `strategy`, or else trying the pooling allocator
/// first, and starts the thread that advances its epoch. With `functions`,
/// compiled functions are kept there across runs (see [`FunctionCache`]).
pub fn build(
    strategy: Option<AllocationStrategy>,
    functions: Option<Arc<FunctionCache>>,
) -> anyhow::Result<Engine> {
    let config = |pooling: Option<PoolingAllocationConfig>| -> anyhow::Result<Config> {
        let mut config = config(pooling);
        if let Some(functions) = &functions {
            config.enable_incremental_compilation(functions.clone())?;
        }
        Ok(config)
    };
    let (engine, strategy) = match strategy {
        Some(AllocationStrategy::Pooling) => (
            Engine::new(&config(Some(pooling()))?)?,
            AllocationStrategy::Pooling,
        ),
        Some(AllocationStrategy::OnDemand) => {
            (Engine::new(&config(None)?)?, AllocationStrategy::OnDemand)
        }
        None => match Engine::new(&config(Some(pooling()))?) {
            Ok(engine) => (engine, AllocationStrategy::Pooling),
            Err(error) => {
                tracing::warn!(%error, "pooling allocator unavailable, allocating instances on demand");
                (Engine::new(&config(None)?)?, AllocationStrategy::OnDemand)
            }
        },
    };
    tracing::info!(allocator = %strategy, "wasm engine ready");
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// An engine with the host's compiler settings, for compiling and
/// inspecting only: no pool, no epoch thread (it runs no plugin).
pub fn for_checks() -> anyhow::Result<Engine> {
    Ok(Engine::new(&config(None))?)
}

fn config(pooling: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    if let Some(pooling) = pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    config
}

/// Room for 1,000 instances alive at once, each memory up to the largest
/// `memory_mb` a sidecar may grant (reserved address space, not RAM).
fn pooling() -> PoolingAllocationConfig {
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        .total_component_instances(1_000)
        .total_core_instances(10_000)
        .total_memories(TOTAL_MEMORIES)
        .total_tables(2_000)
        .total_stacks(1_000)
        .max_memory_size((crate::settings::MAX_MEMORY_MB * 1024 * 1024) as usize)
        // A slot keeps the memory image of the module it last held: with
        // many apps, the default 100 warm slots rarely hold the one an
        // event needs, and every event maps its image afresh.
        .max_unused_warm_slots(WARM_SLOTS);
    // Resetting a slot for its next instance: where the kernel can tell
    // which pages an instance dirtied (Linux 6.7+), reset just those in
    // place and keep them resident, so the next event neither makes system
    // calls nor takes page faults on them. Elsewhere, wasmtime's default:
    // madvise the whole memory away. See BENCHMARKS.md.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pooling
            .pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);
    }
    pooling
}

/// A background thread ticks every engine's epoch; it ends with the process.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch thread");
}
