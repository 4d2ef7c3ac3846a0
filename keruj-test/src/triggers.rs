//! What the host starts on its own, fired by the test without waiting: a
//! sidecar schedule's run now, and webhook deliveries through the host's own
//! verification and deduplication.

use serde_json::{Value, json};

use crate::{Answer, Delivery, TestApp, wire};

impl TestApp {
    /// Fires the sidecar schedule of `event` for the current company now, as
    /// the scheduler does at its due time (`due` now, `attempt` 1). Panics if
    /// the sidecar declares no such schedule.
    #[track_caller]
    pub fn run_schedule(&self, event: &str) -> Answer {
        let body = json!({"app": self.name(), "company": self.company(), "event": event});
        let (status, run) = self.try_api("POST", "/_dev/api/run-schedule", &body);
        if status != 200 {
            panic!(
                "{} (declare it with TestAppBuilder::schedule)",
                run["error"].as_str().unwrap_or_default()
            );
        }
        self.run_answer(&run)
    }

    /// What a run the dev API fired came to, its log kept.
    #[track_caller]
    pub(crate) fn run_answer(&self, run: &Value) -> Answer {
        self.keep_logs(run);
        self.raise_handler_panic();
        match run["status"].as_u64().unwrap_or(0) as u16 {
            200 => Answer::Done,
            status => Answer::Error {
                status,
                message: run["error"].as_str().unwrap_or_default().to_owned(),
            },
        }
    }

    /// The URL of the webhook `name` for the current company, as the app gets
    /// it in its events' `webhooks`. The company must be installed.
    #[track_caller]
    pub fn webhook_url(&self, name: &str) -> String {
        let company = self.company();
        let listed = self.triggers();
        let hooks = listed["webhooks"].as_array().map_or(&[][..], Vec::as_slice);
        let Some(hook) = hooks.iter().find(|hook| hook["name"] == name) else {
            let names: Vec<&str> = hooks.iter().filter_map(|h| h["name"].as_str()).collect();
            panic!(
                "{} has no [[webhook]] named {name:?} (it has: {}): declare it with \
                 TestAppBuilder::webhook",
                self.name(),
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            );
        };
        match hook["url"].as_str() {
            Some(url) => url.to_owned(),
            None => panic!(
                "{company} has not installed {}: call install({company:?}) first",
                self.name()
            ),
        }
    }

    /// POSTs `body` with `headers` to the current company's webhook `name`,
    /// as a third party would: sign the headers yourself, or leave them out
    /// to see the 401 an unsigned delivery gets.
    #[track_caller]
    pub fn deliver_webhook(
        &self,
        name: &str,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> Delivery {
        self.deliver_webhook_to(&self.webhook_url(name), headers, body)
    }

    /// [`TestApp::deliver_webhook`] to any of the host's webhook URLs: one
    /// the app minted ([`TestApp::minted_webhooks`]), say.
    #[track_caller]
    pub fn deliver_webhook_to(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> Delivery {
        let path = url
            .find("/hooks/")
            .map(|at| &url[at..])
            .unwrap_or_else(|| panic!("the host gave a webhook URL without /hooks/: {url}"));
        let answer = wire::call(self.running.addr, "POST", path, headers, body.as_ref())
            .unwrap_or_else(|why| panic!("{why}"));
        self.raise_handler_panic();
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        let message = match serde_json::from_str::<Value>(&text) {
            Ok(json) => json["error"].as_str().map_or(text, str::to_owned),
            Err(_) => text,
        };
        Delivery {
            status: answer.status,
            message: match answer.status {
                200 => String::new(),
                _ => message,
            },
        }
    }

    /// Delivers `body` to the current company's webhook `name` signed as its
    /// provider would sign it, with the configured secret: the variable's
    /// value for `env:VAR`, the company's stored secret for `secret:<name>`
    /// (seed it with [`TestApp::secret_set`], or let the app store it).
    #[track_caller]
    pub fn deliver_signed(&self, name: &str, body: impl Into<String>) -> Delivery {
        let request = json!({
            "app": self.name(),
            "company": self.company(),
            "name": name,
            "body": body.into(),
        });
        let (status, sent) = self.try_api("POST", "/_dev/api/deliver", &request);
        if status != 200 {
            panic!("{}", sent["error"].as_str().unwrap_or_default());
        }
        self.keep_logs(&sent);
        self.raise_handler_panic();
        if sent["request"]["unsigned_because"].is_string() {
            panic!(
                "keruj-host cannot sign for webhook {name}: {}",
                sent["request"]["unsigned_because"]
            );
        }
        Delivery {
            status: sent["status"].as_u64().unwrap_or(0) as u16,
            message: sent["error"].as_str().unwrap_or_default().to_owned(),
        }
    }
}
