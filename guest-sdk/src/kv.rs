//! Data the app keeps for the event's company.
//!
//! Keys are the app's own: the host scopes them to (app, company), so one
//! company's data is never visible to another, nor to another app. Uninstall
//! deletes it all. Limits: keys up to 256 bytes, values up to 64 KiB, 1,000
//! entries per company.
//!
//! ```no_run
//! # fn demo() -> Result<(), keruj_guest::Error> {
//! keruj_guest::kv::set_json("settings", &keruj_guest::json!({"city": "kyiv"}))?;
//! let settings: Option<keruj_guest::serde_json::Value> = keruj_guest::kv::get_json("settings")?;
//! # Ok(()) }
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::keruj::plugin::kv;
use crate::Error;

/// The bytes stored under `key`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    kv::get(key).map_err(Error::msg)
}

/// Stores `value` (bytes, or text stored as UTF-8) under `key`.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
    kv::set(key, value.as_ref()).map_err(Error::msg)
}

/// Removes `key` (a missing key is fine).
pub fn delete(key: &str) -> Result<(), Error> {
    kv::delete(key).map_err(Error::msg)
}

/// The keys that start with `prefix`, in order.
pub fn keys(prefix: &str) -> Result<Vec<String>, Error> {
    kv::keys(prefix).map_err(Error::msg)
}

/// The value under `key` read as UTF-8 text (invalid bytes replaced).
pub fn get_text(key: &str) -> Result<Option<String>, Error> {
    Ok(get(key)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// The value under `key`, read as JSON.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    match get(key)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| match e.is_data() {
                true => Error::msg(format!("kv {key:?} does not fit: {e}")),
                false => Error::msg(format!("kv {key:?} is not JSON: {e}")),
            }),
        None => Ok(None),
    }
}

/// Stores `value` under `key` as JSON.
pub fn set_json(key: &str, value: &impl Serialize) -> Result<(), Error> {
    set(key, serde_json::to_vec(value)?)
}
