//! `keruj:plugin/keruj-api`: GraphQL requests to Keruj for the event's
//! company. The host adds the company's stored API key in the configured
//! header; the plugin never sees it.

use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use wasmtime::component::{HasSelf, Linker};

use super::{Bound, InstanceState, Scope, Services};
use crate::bindings::keruj::plugin::keruj_api;

/// Time limit of one call to Keruj's API (the event's own limit still applies).
pub const KERUJ_API_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    keruj_api::add_to_linker::<_, HasSelf<InstanceState>>(linker, |state| state)
}

impl keruj_api::Host for InstanceState {
    async fn graphql(&mut self, query: String, variables: String) -> Result<String, String> {
        let started = Instant::now();
        let result = send(&self.services, &self.scope, query, variables).await;
        let Bound {
            app,
            company,
            request_id,
        } = self.scope.bound();
        match &result {
            Ok(_) => {
                tracing::info!(%app, %company, %request_id, ms = started.elapsed().as_millis() as u64, "Keruj API call")
            }
            Err(error) => {
                tracing::warn!(%app, %company, %request_id, "Keruj API call failed: {error}")
            }
        }
        result
    }
}

/// `query` to Keruj's API for the scope's company, with its stored key.
async fn send(
    services: &Services,
    scope: &Scope,
    query: String,
    variables: String,
) -> Result<String, String> {
    let company = scope.company()?;
    let variables: Value = match variables.trim() {
        "" => Value::Null,
        text => serde_json::from_str(text).map_err(|e| format!("`variables` is not JSON: {e}"))?,
    };
    if !(variables.is_object() || variables.is_null()) {
        return Err("`variables` must be a JSON object".into());
    }
    let key = match scope.storage().api_key(scope.tenant()?).await {
        Ok(Some(key)) => key,
        Ok(None) => return Err("no Keruj API key is stored for this company".into()),
        Err(error) => return Err(scope.store_failed(&error)),
    };
    let api = &services.keruj_api;
    let request = services
        .client
        .post(&api.url)
        .header(CONTENT_TYPE, "application/json")
        .header(&api.key_header, key)
        .header(&api.company_header, company)
        .body(json!({"query": query, "variables": variables}).to_string());
    let deadline = Instant::now() + KERUJ_API_TIMEOUT;
    let unreachable = |e: String| format!("Keruj's API could not be reached: {e}");
    let sent = async {
        match &services.outbound_override {
            None => request
                .send()
                .await
                .map_err(|e| unreachable(e.without_url().to_string())),
            Some(answer) => {
                let request = request
                    .build()
                    .map_err(|e| unreachable(e.without_url().to_string()))?;
                answer.answer(request).await.map_err(unreachable)
            }
        }
    };
    let response = tokio::time::timeout(KERUJ_API_TIMEOUT, sent)
        .await
        .map_err(|_| format!("Keruj's API did not answer within {KERUJ_API_TIMEOUT:?}"))??;
    let response = super::http::read_response(response, deadline, KERUJ_API_TIMEOUT).await?;
    if !(200..300).contains(&response.status) {
        return Err(format!("Keruj's API answered {}", response.status));
    }
    String::from_utf8(response.body)
        .map_err(|_| "Keruj's API answered with a body that is not text".into())
}
