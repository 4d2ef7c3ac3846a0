//! Keruj's GraphQL API, on behalf of the event's company. The host adds the
//! company's API key (kept since `application_install`); the app never sees it.
//!
//! ```no_run
//! # fn demo() -> Result<(), keruj_guest::Error> {
//! use keruj_guest::serde_json::{Value, json};
//! let data: Value = keruj_guest::keruj::graphql(
//!     "mutation($text: String!) { createNote(text: $text) { id } }",
//!     &json!({"text": "Parcel delivered"}),
//! )?;
//! # Ok(()) }
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::__private::bindings::keruj::plugin::keruj_api;
use crate::Error;

/// Sends `query` with `variables` and returns the answer's `data`. GraphQL
/// `errors` in the answer become an [`Error`] with their messages.
pub fn graphql<T: DeserializeOwned>(query: &str, variables: &impl Serialize) -> Result<T, Error> {
    let answer =
        keruj_api::graphql(query, &serde_json::to_string(variables)?).map_err(Error::msg)?;
    let mut answer: Value = serde_json::from_str(&answer).map_err(|e| {
        Error::msg(format!(
            "Keruj's API answered something that is not JSON: {e}"
        ))
    })?;
    if let Some(errors) = answer
        .get("errors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    {
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e.get("message")?.as_str())
            .collect();
        return Err(Error::msg(format!(
            "Keruj's API refused the request: {}",
            messages.join("; ")
        )));
    }
    Ok(serde_json::from_value(
        answer
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null),
    )?)
}
