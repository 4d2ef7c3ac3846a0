//! What the app made at run time for the current company (contract 0.2.0),
//! seen and driven through the host's dev API: its schedules, one of them
//! run now, and the URLs it minted.

use serde_json::{Value, json};

use crate::data::encode;
use crate::{Answer, TestApp};

/// A schedule the app made for the company.
#[derive(Debug, Clone, PartialEq)]
pub struct MadeSchedule {
    /// The id `schedules::add` returned to the app.
    pub id: String,
    /// The event its runs arrive as.
    pub event: String,
    /// Whether it runs once (`at`, `after`) rather than repeatedly.
    pub once: bool,
    /// What each run carries as `schedule.payload`.
    pub payload: Value,
}

impl TestApp {
    /// The schedules the app made for the current company, oldest first.
    #[track_caller]
    pub fn made_schedules(&self) -> Vec<MadeSchedule> {
        let listed = self.triggers();
        let made = listed["made"].as_array().map_or(&[][..], Vec::as_slice);
        made.iter()
            .map(|made| MadeSchedule {
                id: made["id"].as_str().unwrap_or_default().to_owned(),
                event: made["event"].as_str().unwrap_or_default().to_owned(),
                once: made["when"] == "once",
                payload: made["payload"].clone(),
            })
            .collect()
    }

    /// Fires the made schedule `id` now, as the scheduler does at its due
    /// time (`attempt` 1, its `id` and `payload`). A one-off schedule the
    /// app handled is gone afterwards, as it would be. Panics if the company
    /// has no schedule `id`.
    #[track_caller]
    pub fn run_made_schedule(&self, id: &str) -> Answer {
        let body = json!({"app": self.name(), "company": self.company(), "id": id});
        let (status, run) = self.try_api("POST", "/_dev/api/run-schedule", &body);
        if status != 200 {
            panic!("{}", run["error"].as_str().unwrap_or_default());
        }
        self.run_answer(&run)
    }

    /// The webhook URLs the app minted for the current company, oldest
    /// first: (the `[[webhook]]` name, the label, the URL). Deliver to one
    /// with [`TestApp::deliver_webhook_to`].
    #[track_caller]
    pub fn minted_webhooks(&self) -> Vec<(String, String, String)> {
        let listed = self.triggers();
        let minted = listed["minted"].as_array().map_or(&[][..], Vec::as_slice);
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        minted
            .iter()
            .map(|m| (text(&m["name"]), text(&m["label"]), text(&m["url"])))
            .collect()
    }

    /// The dev API's list of the app's triggers for the current company.
    #[track_caller]
    pub(crate) fn triggers(&self) -> Value {
        let path = format!(
            "/_dev/api/triggers?app={}&company={}",
            encode(self.name()),
            encode(&self.company())
        );
        self.api("GET", &path, &Value::Null)
    }
}
