//! End-to-end tests of keruj-host: the real binary, real plugins compiled to
//! WebAssembly components, real HTTP, checked against the contract the README documents.
//!
//! Every test starts its own host on a free port, in its own temporary folder
//! (`plugins/`, `data/`, `host.log`), so the tests run in parallel. The
//! plugins (`plugins/hello` and the test-only `tests/plugins/faulty`) are
//! built once per run, by the first test that needs them.

mod capabilities;
mod contract_versions;
mod crashes;
mod dev_console;
mod errors;
mod faults;
mod hardening;
mod harness;
mod harness_nova_poshta;
mod hostile_plugins;
mod hostile_requests;
mod identity;
mod lifecycle;
mod light_harness;
mod load_hints;
mod made_at_run_time;
mod managed_postgres;
mod managed_postgres_failover;
mod metrics;
mod migrate_store;
mod nova_poshta;
mod other_languages;
mod reload;
mod replicas;
mod replicas_triggers;
mod scaffold;
mod schedules;
mod send;
mod slot_reset;
mod storage;
mod support;
mod wasi_http;
mod webhook_limits;
mod webhooks;
