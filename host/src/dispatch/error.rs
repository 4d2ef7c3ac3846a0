//! Why an event got no successful answer, and what each failure becomes:
//! an HTTP status, the message Keruj may read, and what the metrics count.

use crate::event::BadEvent;
use crate::metrics::{Failure, FailureKind, PluginError};
use crate::plugin_text::PluginText;
use crate::runtime::RunError;
use crate::settings::is_app_name;
use crate::storage;

/// Why an event got no successful answer; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{}", unknown_app(.0))]
    UnknownApp(String),
    #[error("the app is not available: {0}")]
    Unavailable(String),
    #[error(transparent)]
    BadEvent(#[from] BadEvent),
    #[error("application_install needs a string `account_api_key`")]
    MissingApiKey,
    #[error("the app is not installed for this company")]
    NotInstalled,
    /// Every permit of the app's concurrency limit is taken.
    #[error("the app is busy: {0} events already running; retry shortly")]
    Busy(u32),
    #[error(transparent)]
    Plugin(#[from] RunError),
    /// The rule the reply broke (public), and what broke it (for the log).
    #[error("the app's reply is not a valid form: {detail}")]
    InvalidReply { rule: String, detail: PluginText },
    #[error("storage failed: {0:#}")]
    Storage(anyhow::Error),
    /// The store cannot be reached now (see [`crate::storage::Unreachable`]).
    #[error("{0:#}")]
    StoreUnreachable(anyhow::Error),
}

impl From<anyhow::Error> for DispatchError {
    fn from(error: anyhow::Error) -> Self {
        match storage::is_unreachable(&error) {
            true => DispatchError::StoreUnreachable(error),
            false => DispatchError::Storage(error),
        }
    }
}

impl DispatchError {
    /// The HTTP status Keruj gets.
    pub fn status(&self) -> u16 {
        match self {
            DispatchError::UnknownApp(_) => 404,
            DispatchError::BadEvent(_) | DispatchError::MissingApiKey => 400,
            DispatchError::NotInstalled => 409,
            DispatchError::Unavailable(_)
            | DispatchError::Busy(_)
            | DispatchError::StoreUnreachable(_) => 503,
            DispatchError::Plugin(RunError::Timeout(_)) => 504,
            DispatchError::Plugin(_)
            | DispatchError::InvalidReply { .. }
            | DispatchError::Storage(_) => 500,
        }
    }

    /// What Keruj may read: no plugin message or value (they could hold
    /// anything) and no storage detail; those go to the log.
    pub fn public_message(&self) -> String {
        match self {
            DispatchError::InvalidReply { rule, .. } => {
                format!("the app's reply is not a valid form: {rule}")
            }
            DispatchError::Plugin(RunError::Failed(_)) => {
                "the app failed to handle the event".into()
            }
            DispatchError::Plugin(RunError::Crashed(_)) => {
                "the app crashed while handling the event".into()
            }
            DispatchError::Storage(_) => "the host could not store the event's data".into(),
            DispatchError::StoreUnreachable(_) => {
                "the host's store is unreachable; retry shortly".into()
            }
            other => other.to_string(),
        }
    }

    /// What the metrics count of this failure.
    pub fn metric(&self) -> Failure {
        let kind = match self {
            DispatchError::Busy(_) => FailureKind::Busy,
            DispatchError::Plugin(RunError::Failed(_)) => FailureKind::Plugin(PluginError::failed),
            DispatchError::Plugin(RunError::Crashed(_)) => {
                FailureKind::Plugin(PluginError::crashed)
            }
            DispatchError::Plugin(RunError::Timeout(_)) => {
                FailureKind::Plugin(PluginError::timeout)
            }
            DispatchError::InvalidReply { .. } => FailureKind::Plugin(PluginError::invalid_reply),
            _ => FailureKind::Other,
        };
        Failure {
            status: self.status(),
            kind,
        }
    }
}

/// Names an unknown app only if the name could be an app id: anything else
/// the client sent (kilobytes of it, say) is not echoed.
fn unknown_app(name: &str) -> String {
    match is_app_name(name) {
        true => format!("no app named {name:?}"),
        false => "no such app (an app id is 1 to 63 of a-z, 0-9, `_` and `-`, \
                  starting with a letter or digit)"
            .into(),
    }
}
