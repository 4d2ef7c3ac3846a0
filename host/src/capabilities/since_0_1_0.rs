//! `keruj:plugin@0.1.0`'s interfaces, served by forwarding every call to
//! the current version's capability: one implementation of each, whatever
//! version an app was built against. When a later version changes an
//! interface, the conversion lives here, not in the capability.

use wasmtime::component::{HasSelf, Linker};

use super::InstanceState;
use crate::bindings::keruj::plugin as current;
use crate::bindings::v0_1_0::keruj::plugin::{config, http, keruj_api, kv, log, secrets};

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    type Same = HasSelf<InstanceState>;
    log::add_to_linker::<_, Same>(linker, |state| state)?;
    kv::add_to_linker::<_, Same>(linker, |state| state)?;
    secrets::add_to_linker::<_, Same>(linker, |state| state)?;
    config::add_to_linker::<_, Same>(linker, |state| state)?;
    http::add_to_linker::<_, Same>(linker, |state| state)?;
    keruj_api::add_to_linker::<_, Same>(linker, |state| state)
}

impl log::Host for InstanceState {
    fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => current::log::Level::Trace,
            log::Level::Debug => current::log::Level::Debug,
            log::Level::Info => current::log::Level::Info,
            log::Level::Warn => current::log::Level::Warn,
            log::Level::Error => current::log::Level::Error,
        };
        current::log::Host::write(self, level, message)
    }
}

impl kv::Host for InstanceState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        current::kv::Host::get(self, key).await
    }
    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        current::kv::Host::set(self, key, value).await
    }
    async fn delete(&mut self, key: String) -> Result<(), String> {
        current::kv::Host::delete(self, key).await
    }
    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, String> {
        current::kv::Host::keys(self, prefix).await
    }
}

impl secrets::Host for InstanceState {
    async fn get(&mut self, name: String) -> Result<Option<String>, String> {
        current::secrets::Host::get(self, name).await
    }
    async fn set(&mut self, name: String, value: String) -> Result<(), String> {
        current::secrets::Host::set(self, name, value).await
    }
    async fn delete(&mut self, name: String) -> Result<(), String> {
        current::secrets::Host::delete(self, name).await
    }
    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, String> {
        current::secrets::Host::keys(self, prefix).await
    }
}

impl config::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        current::config::Host::get(self, key)
    }
    fn all(&mut self) -> Vec<(String, String)> {
        current::config::Host::all(self)
    }
}

impl http::Host for InstanceState {
    async fn send(&mut self, request: http::Request) -> Result<http::Response, String> {
        let http::Request {
            method,
            url,
            headers,
            body,
        } = request;
        let request = current::http::Request {
            method,
            url,
            headers,
            body,
        };
        let current::http::Response {
            status,
            headers,
            body,
        } = current::http::Host::send(self, request).await?;
        Ok(http::Response {
            status,
            headers,
            body,
        })
    }
}

impl keruj_api::Host for InstanceState {
    async fn graphql(&mut self, query: String, variables: String) -> Result<String, String> {
        current::keruj_api::Host::graphql(self, query, variables).await
    }
}
