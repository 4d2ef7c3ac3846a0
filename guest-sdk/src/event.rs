//! Keruj events, typed.
//!
//! The names of the system events live here and nowhere else: the host
//! imports these constants too.

use serde_json::{Map, Value};

mod submission;
mod triggers;

pub use submission::Submission;
pub use triggers::{Delivery, Scheduled};

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
///
/// More kinds may come (the host learns new triggers): a `match` ends with
/// `_ =>` for the events an app does not handle.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    /// A sidecar `[[schedule]]` came due: the host runs it on its own.
    Scheduled(Scheduled),
    /// A third party called the company's webhook URL (sidecar `[[webhook]]`).
    Webhook(Delivery),
    /// Any other event, by name, with the whole JSON body.
    Other {
        /// The event's name.
        name: String,
        /// The whole JSON body Keruj sent (without `account_api_key`).
        body: Value,
    },
}

impl Event {
    /// Classifies a body by its event name. A non-system event that carries
    /// a `schedule` object is a scheduled run, one with a `webhook` object a
    /// webhook delivery, one with a `data` object a form submission.
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
            _ if body.get("schedule").is_some_and(Value::is_object) => {
                match triggers::scheduled(&body) {
                    Some(run) => Event::Scheduled(run),
                    None => Event::Other {
                        name: name.to_owned(),
                        body,
                    },
                }
            }
            _ if body.get("webhook").is_some_and(Value::is_object) => {
                match triggers::delivery(name, &body) {
                    Some(delivery) => Event::Webhook(delivery),
                    None => Event::Other {
                        name: name.to_owned(),
                        body,
                    },
                }
            }
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
    fn scheduled_runs_and_webhook_deliveries_are_typed() {
        let run = json!({"event": "sync", "company_id": "c1",
            "schedule": {"event": "sync", "due": "2026-12-03T09:00:00Z", "attempt": 2}});
        assert_eq!(
            Event::from_body("sync", run),
            Event::Scheduled(Scheduled {
                event: "sync".into(),
                due: "2026-12-03T09:00:00Z".into(),
                attempt: 2,
                id: String::new(),
                payload: Value::Null,
            })
        );
        let made = json!({"event": "follow_up", "company_id": "c1", "schedule": {
            "event": "follow_up", "due": "2026-12-03T09:10:00Z", "attempt": 1,
            "id": "5f0c", "payload": {"order": 7}}});
        let Event::Scheduled(run) = Event::from_body("follow_up", made) else {
            panic!("not a scheduled run")
        };
        assert_eq!(run.id, "5f0c");
        #[derive(serde::Deserialize)]
        #[serde(crate = "serde")]
        struct FollowUp {
            order: u32,
        }
        assert_eq!(run.payload::<FollowUp>().unwrap().order, 7);
        assert!(
            run.payload::<Vec<u8>>()
                .unwrap_err()
                .to_string()
                .contains("does not fit")
        );
        let delivery = json!({"event": "np_status", "company_id": "c1", "webhook": {
            "name": "status", "id": "d-1", "method": "POST", "query": "a=1",
            "headers": [["X-Event", "moved"], ["content-type", "application/json"]],
            "body": "{\"ttn\": \"2045\"}"}});
        let Event::Webhook(delivery) = Event::from_body("np_status", delivery) else {
            panic!("not a delivery")
        };
        assert_eq!(
            (delivery.event.as_str(), delivery.name.as_str()),
            ("np_status", "status")
        );
        assert_eq!(delivery.header("x-event"), Some("moved"));
        assert_eq!(delivery.label, "", "the sidecar's URL has no label");
        assert_eq!(delivery.header("missing"), None);
        let body: Value = delivery.json().unwrap();
        assert_eq!(body["ttn"], "2045");
        let broken = Delivery {
            body: "not json".into(),
            ..delivery
        };
        let error = broken.json::<Value>().unwrap_err().to_string();
        assert!(error.contains("not JSON"), "{error}");
        // Malformed ones stay `Other`, whole.
        let odd = json!({"schedule": {"event": "sync", "due": 5, "attempt": 1}});
        assert!(matches!(Event::from_body("sync", odd), Event::Other { .. }));
        let odd = json!({"webhook": {"name": "status", "headers": "none"}});
        assert!(matches!(
            Event::from_body("np_status", odd),
            Event::Other { .. }
        ));
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
