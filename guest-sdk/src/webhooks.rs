//! Webhook URLs the app mints at run time for the event's company (contract
//! 0.2.0), beside the one URL per sidecar `[[webhook]]` that every event
//! carries in [`Context::webhooks`](crate::Context::webhooks). A minted URL
//! delivers as the `[[webhook]]` it names (its event, verification and
//! secret), with its label in [`Delivery::label`](crate::Delivery::label):
//! say, one URL per shop a company connects. Revoked, or after an
//! uninstall, it answers 404. At most 50 per company.
//!
//! ```no_run
//! # fn demo() -> Result<(), keruj_guest::Error> {
//! let url = keruj_guest::webhooks::mint("orders", "shop-kyiv")?;
//! // ... register `url` with the shop; later, when the shop is removed:
//! keruj_guest::webhooks::revoke(&url)?;
//! # Ok(()) }
//! ```

use crate::__private::bindings::keruj::plugin::webhooks as wit;
use crate::Error;

/// One minted URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    /// The sidecar `[[webhook]]` it delivers as.
    pub name: String,
    /// The app's own label for it.
    pub label: String,
    /// What the third party calls.
    pub url: String,
}

/// Mints a new URL that delivers as the sidecar webhook `name`; `label`
/// (up to 64 bytes) is the app's own.
pub fn mint(name: &str, label: &str) -> Result<String, Error> {
    wit::mint(name, label).map_err(Error::msg)
}

/// The company's minted URLs, oldest first.
pub fn all() -> Result<Vec<Minted>, Error> {
    Ok(wit::all()
        .map_err(Error::msg)?
        .into_iter()
        .map(|minted| Minted {
            name: minted.name,
            label: minted.label,
            url: minted.url,
        })
        .collect())
}

/// Revokes a minted URL: from now on it answers 404. `false` if it was not
/// a live URL minted for this company.
pub fn revoke(url: &str) -> Result<bool, Error> {
    wit::revoke(url).map_err(Error::msg)
}
