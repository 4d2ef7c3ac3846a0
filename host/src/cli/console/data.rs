//! A company's stored data, read and seeded through the dev host: what an
//! app's tests check after a dialogue (did it save the settings? the
//! secret?) and set up before one (a key stored by an earlier version).
//!
//! - `GET /_dev/api/data?app=A&company=C&space=kv|secrets[&key=K]`: one
//!   value (`found`, `value` as text when it is UTF-8, `value_base64`), or
//!   without `key` the names stored;
//! - `PUT /_dev/api/data` `{app, company, space, key, value | value_base64}`:
//!   stores a value as the app's own `kv::set` / `secrets::set` would, under
//!   the same limits, for an installed company only.
//!
//! Secrets come back decrypted: this is a developer's host (on a temporary
//! data folder by default), and a test must be able to check what its app
//! stored. Only on loopback: a console opened with `--allow-remote` refuses
//! to read them (seeding stays possible).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::{Console, json as respond};
use crate::settings::is_app_name;
use crate::storage::{PluginDataError, Space, Tenant};

type Reply = Response<Full<Bytes>>;

/// `PUT /_dev/api/data`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetData {
    app: String,
    company: String,
    space: String,
    key: String,
    /// The value as text.
    #[serde(default)]
    value: Option<String>,
    /// The value as bytes, base64 (standard, padded).
    #[serde(default)]
    value_base64: Option<String>,
}

fn bad(status: StatusCode, message: impl Into<String>) -> Reply {
    respond(status, &json!({ "error": message.into() }))
}

/// The store named as the SDKs name them (`kv`, `secrets`), for an app id
/// and a company; else why the request is bad.
fn store(app: &str, company: &str, space: &str) -> Result<Space, String> {
    if !is_app_name(app) {
        return Err(format!("{app:?} is not an app id"));
    }
    if company.trim().is_empty() {
        return Err("give a company id".into());
    }
    match space {
        "kv" => Ok(Space::Data),
        "secrets" => Ok(Space::Secrets),
        other => Err(format!("space is `kv` or `secrets`, not {other:?}")),
    }
}

impl Console {
    /// `GET /_dev/api/data`.
    pub(super) async fn data(&self, query: &str) -> Reply {
        let mut fields = std::collections::BTreeMap::new();
        for (key, value) in super::triggers::url_pairs(query) {
            fields.insert(key, value);
        }
        let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let (app, company, space_name) = (field("app"), field("company"), field("space"));
        let space = match store(&app, &company, &space_name) {
            Ok(space) => space,
            Err(why) => return bad(StatusCode::BAD_REQUEST, why),
        };
        if matches!(space, Space::Secrets) && !self.reveal_secrets {
            let message = "secrets are shown on a loopback console only (not with --allow-remote)";
            return bad(StatusCode::FORBIDDEN, message);
        }
        let storage = self.host.storage();
        let tenant = Tenant::new(&app, company.trim());
        let installed = match storage.is_installed(tenant).await {
            Ok(installed) => installed,
            Err(error) => return bad(StatusCode::SERVICE_UNAVAILABLE, format!("{error:#}")),
        };
        let mut answer = json!({
            "app": app,
            "company": company.trim(),
            "space": space_name,
            "installed": installed,
        });
        match fields.get("key") {
            None => match storage.plugin_list(space, tenant, "").await {
                Ok(keys) => answer["keys"] = json!(keys),
                Err(error) => return bad(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
            },
            Some(key) => match storage.plugin_get(space, tenant, key).await {
                Ok(value) => {
                    answer["key"] = json!(key);
                    answer["found"] = json!(value.is_some());
                    answer["value"] = value
                        .as_ref()
                        .and_then(|bytes| std::str::from_utf8(bytes).ok())
                        .map_or(Value::Null, Value::from);
                    answer["value_base64"] = value
                        .as_ref()
                        .map_or(Value::Null, |bytes| BASE64.encode(bytes).into());
                }
                Err(error) => return bad(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
            },
        }
        respond(StatusCode::OK, &answer)
    }

    /// `PUT /_dev/api/data`.
    pub(super) async fn set_data(&self, set: SetData) -> Reply {
        let space = match store(&set.app, &set.company, &set.space) {
            Ok(space) => space,
            Err(why) => return bad(StatusCode::BAD_REQUEST, why),
        };
        let value = match (set.value, set.value_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(encoded)) => match BASE64.decode(encoded.trim()) {
                Ok(bytes) => bytes,
                Err(error) => {
                    let message = format!("value_base64 is not base64: {error}");
                    return bad(StatusCode::BAD_REQUEST, message);
                }
            },
            _ => return bad(StatusCode::BAD_REQUEST, "give one of value, value_base64"),
        };
        let company = set.company.trim();
        let storage = self.host.storage();
        let tenant = Tenant::new(&set.app, company);
        let generation = match storage.generation(tenant).await {
            Ok(Some(generation)) => generation,
            Ok(None) => {
                let message = format!("{company} has not installed {}: install it first", set.app);
                return bad(StatusCode::CONFLICT, message);
            }
            Err(error) => return bad(StatusCode::SERVICE_UNAVAILABLE, format!("{error:#}")),
        };
        match storage
            .plugin_set(space, tenant, generation, &set.key, &value)
            .await
        {
            Ok(()) => respond(StatusCode::OK, &json!({ "stored": true })),
            Err(PluginDataError::Limit(message)) => bad(StatusCode::BAD_REQUEST, message),
            Err(PluginDataError::Uninstalled(_)) => bad(
                StatusCode::CONFLICT,
                format!("{company} uninstalled {} meanwhile", set.app),
            ),
            Err(error) => bad(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
        }
    }
}
