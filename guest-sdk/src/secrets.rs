//! Secrets the app keeps for the event's company, such as a third-party API
//! key the user typed into a form. Stored encrypted (age) by the host, scoped
//! like [`kv`](crate::kv), deleted on uninstall. Values up to 8 KiB, 100 per company.

use crate::__private::bindings::keruj::plugin::secrets;
use crate::Error;

/// The secret `name`, if stored.
pub fn get(name: &str) -> Result<Option<String>, Error> {
    secrets::get(name).map_err(Error::msg)
}

/// Stores the secret `name`.
pub fn set(name: &str, value: &str) -> Result<(), Error> {
    secrets::set(name, value).map_err(Error::msg)
}

/// Removes the secret `name`.
pub fn delete(name: &str) -> Result<(), Error> {
    secrets::delete(name).map_err(Error::msg)
}

/// The names of the stored secrets that start with `prefix`, in order
/// (`keys`, as in [`kv`](crate::kv) and the other SDKs).
pub fn keys(prefix: &str) -> Result<Vec<String>, Error> {
    secrets::keys(prefix).map_err(Error::msg)
}

/// The earlier name of [`keys`], kept so that apps written against it still build.
#[deprecated(note = "use `secrets::keys`, the name kv and the JavaScript and Python SDKs use")]
pub fn names(prefix: &str) -> Result<Vec<String>, Error> {
    keys(prefix)
}
