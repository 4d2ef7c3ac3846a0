//! The little of Nova Poshta's JSON API (v2.0) this app needs: every call is
//! a POST of `{apiKey, modelName, calledMethod, methodProperties}` answered
//! with `{success, data, errors}`.

use keruj_guest::serde::Deserialize;
use keruj_guest::serde::de::DeserializeOwned;
use keruj_guest::serde_json::{Value, json};
use keruj_guest::{Error, config, http};

const DEFAULT_API_URL: &str = "https://api.novaposhta.ua/v2.0/json/";

pub struct NovaPoshta<'a> {
    key: &'a str,
    url: String,
}

/// Why a call gave no data.
pub enum Failure {
    /// Nova Poshta answered, and said no (a wrong key, say): its reasons.
    Refused(String),
    /// No usable answer: the network, a limit, an unexpected body.
    Unreachable(Error),
}

impl Failure {
    pub fn into_error(self) -> Error {
        match self {
            Failure::Refused(reason) => {
                Error::msg(format!("Nova Poshta refused the request: {reason}"))
            }
            Failure::Unreachable(error) => error,
        }
    }
}

#[derive(Deserialize)]
#[serde(crate = "keruj_guest::serde")]
struct Answer<T> {
    success: bool,
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    errors: Vec<String>,
}

impl<'a> NovaPoshta<'a> {
    /// A client with `key`, at the operator's `api_url` or Nova Poshta's own.
    pub fn new(key: &'a str) -> Self {
        let url = config::get("api_url").unwrap_or_else(|| DEFAULT_API_URL.into());
        NovaPoshta { key, url }
    }

    pub fn call<T: DeserializeOwned>(
        &self,
        model: &str,
        method: &str,
        properties: Value,
    ) -> Result<Vec<T>, Failure> {
        let request = json!({
            "apiKey": self.key,
            "modelName": model,
            "calledMethod": method,
            "methodProperties": properties,
        });
        let answer: Answer<T> =
            http::post_json(&self.url, &request).map_err(Failure::Unreachable)?;
        match answer.success {
            true => Ok(answer.data),
            false if answer.errors.is_empty() => Err(Failure::Refused("no reason given".into())),
            false => Err(Failure::Refused(answer.errors.join("; "))),
        }
    }
}
