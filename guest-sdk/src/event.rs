//! Keruj events, typed.
//!
//! The names of the system events live here and nowhere else: the host
//! imports these constants too.

use serde_json::{Map, Value};

mod submission;

pub use submission::Submission;

/// Keruj installed the app for a company (name from Keruj's docs).
pub const INSTALL: &str = "application_install";
/// The user opened the app's settings (this project's assumption until Keruj documents it).
pub const CONFIGURE: &str = "application_configure";
/// Keruj updated the app's installation (assumed name, as above).
pub const UPDATE: &str = "application_update";
/// Keruj uninstalled the app; the host deletes the company's data after the plugin runs (assumed name).
pub const UNINSTALL: &str = "application_uninstall";

/// An event as the plugin sees it. The host has checked the token, the
/// company's install and the body's shape before any of these reach a plugin.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `application_install`: the company added the app. The host already
    /// stored the install and its API key; the plugin never sees that key.
    Install {
        /// The `data` object Keruj sent with the install, if any.
        data: Map<String, Value>,
    },
    /// `application_configure`: the user opened the settings; answer with a form.
    Configure,
    /// `application_update`: Keruj updated the installation.
    Update {
        /// The `data` object Keruj sent with the update, if any.
        data: Map<String, Value>,
    },
    /// `application_uninstall`: the company removed the app. Afterwards the
    /// host deletes everything stored for it.
    Uninstall,
    /// The user submitted a form: `name` is the form's `reply`.
    Submit(Submission),
    /// Any other event, by name, with the whole JSON body.
    Other {
        /// The event's name.
        name: String,
        /// The whole JSON body Keruj sent (without `account_api_key`).
        body: Value,
    },
}

impl Event {
    /// Classifies a body by its event name. A non-system event that carries a
    /// `data` object is a form submission.
    pub fn from_body(name: &str, body: Value) -> Event {
        let data = |body: &Value| match body.get("data") {
            Some(Value::Object(map)) => Some(map.clone()),
            _ => None,
        };
        match name {
            INSTALL => Event::Install {
                data: data(&body).unwrap_or_default(),
            },
            CONFIGURE => Event::Configure,
            UPDATE => Event::Update {
                data: data(&body).unwrap_or_default(),
            },
            UNINSTALL => Event::Uninstall,
            _ => match data(&body) {
                Some(data) => Event::Submit(Submission {
                    name: name.to_owned(),
                    data,
                }),
                None => Event::Other {
                    name: name.to_owned(),
                    body,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn system_events_by_name() {
        assert_eq!(
            Event::from_body(INSTALL, json!({"data": {"a": 1}})),
            Event::Install {
                data: json!({"a": 1}).as_object().unwrap().clone()
            }
        );
        assert_eq!(Event::from_body(CONFIGURE, json!({})), Event::Configure);
        assert_eq!(Event::from_body(UNINSTALL, json!({})), Event::Uninstall);
    }

    #[test]
    fn data_object_makes_a_submission() {
        let event = Event::from_body("name_submitted", json!({"data": {"name": "  Olena "}}));
        let Event::Submit(submission) = event else {
            panic!("not a submission: {event:?}")
        };
        assert_eq!(submission.name, "name_submitted");
        assert_eq!(submission.text("name"), Some("Olena"));
        assert_eq!(submission.text("missing"), None);
    }

    #[test]
    fn anything_else_is_other() {
        let body = json!({"event": "ping", "n": 1});
        assert_eq!(
            Event::from_body("ping", body.clone()),
            Event::Other {
                name: "ping".into(),
                body
            }
        );
    }
}
