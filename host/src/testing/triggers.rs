//! What the host starts on its own, driven by the test: a sidecar
//! schedule's run fired now ([`TestApp::run_schedule`]), and webhook
//! deliveries through the host's own verification and deduplication
//! ([`TestApp::deliver_webhook`], [`TestApp::deliver_signed`]).
//!
//! No clock to advance: `run_schedule` fires the run the scheduler would
//! start at the due time, at once, so a test never waits for one. (The
//! host's scheduler runs too, but first sees a company at its install and
//! runs nothing before the next due time: with periods of minutes or more,
//! it stays out of a test's way.)

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;

use super::{Answer, Delivery, TestApp, answer_of};
use crate::dispatch::{HookTarget, Trigger, new_request_id};
use crate::settings::{SecretSource, Webhook};
use crate::signatures;
use crate::storage::{Space, Tenant};

impl TestApp {
    /// Fires the sidecar schedule of `event` for the current company now, as
    /// the scheduler does at its due time (`due` now, `attempt` 1), on the
    /// background path. Panics if the sidecar declares no such schedule.
    #[track_caller]
    pub fn run_schedule(&self, event: &str) -> Answer {
        let app = self.serving();
        let declared: Vec<&str> = app.settings.schedules.iter().map(|s| &*s.event).collect();
        assert!(
            declared.contains(&event),
            "{} has no [[schedule]] with event {event:?} (it schedules: {}): declare it \
             with TestAppBuilder::schedule",
            self.name,
            if declared.is_empty() {
                "nothing".into()
            } else {
                declared.join(", ")
            }
        );
        let due = Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| Timestamp::now());
        let trigger = Trigger::Schedule {
            event: event.to_owned(),
            due: due.to_string(),
            attempt: 1,
            // Run by hand, outside the scheduler's claims: no lease to lose.
            lease: None,
            made: None,
        };
        let company = self.company();
        let run = app.clone();
        let dispatcher = self.host.dispatcher();
        let result = self.runtime.block_on(dispatcher.dispatch_background(
            &run,
            &company,
            trigger,
            &new_request_id(),
        ));
        self.raise_handler_panic();
        answer_of(result)
    }

    /// The URL of the webhook `name` for the current company, as the app gets
    /// it in its events' `webhooks`. The company must be installed.
    #[track_caller]
    pub fn webhook_url(&self, name: &str) -> String {
        self.webhook(name);
        let company = self.company();
        let generation = self
            .runtime
            .block_on(
                self.host
                    .storage()
                    .generation(Tenant::new(&self.name, &company)),
            )
            .expect("the test database reads")
            .unwrap_or_else(|| {
                panic!(
                    "{company} has not installed {}: call install({company:?}) first",
                    self.name
                )
            });
        self.host.dispatcher().webhook_urls().url(&HookTarget {
            app: self.name.clone(),
            company,
            name: name.to_owned(),
            generation,
            minted: None,
        })
    }

    /// POSTs `body` with `headers` to the current company's webhook `name`,
    /// through the host's verification and deduplication, as a third party
    /// would. Sign the headers yourself or with [`TestApp::signed_headers`].
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
        let (_, id) = url.rsplit_once("/hooks/").expect("a hooks URL");
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = HeaderName::try_from(*name)
                .unwrap_or_else(|e| panic!("{name:?} is not a header name: {e}"));
            let value = HeaderValue::try_from(*value)
                .unwrap_or_else(|e| panic!("the value of {name} is not a header value: {e}"));
            map.append(name, value);
        }
        let body = Bytes::copy_from_slice(body.as_ref());
        let answer = self.runtime.block_on(crate::triggers::webhooks::deliver(
            self.host.webhooks(),
            id,
            "",
            &map,
            body,
            &new_request_id(),
        ));
        self.raise_handler_panic();
        Delivery {
            status: answer.status.as_u16(),
            message: answer.message.to_owned(),
        }
    }

    /// The headers the provider would send with `body` as delivery `id` to
    /// webhook `name`, signed with its configured secret: the variable's
    /// value for `env:VAR`, the current company's stored secret for
    /// `secret:<name>` (seed it with [`TestApp::secret_set`], or let the app
    /// store it). Panics when the secret is not there to read.
    #[track_caller]
    pub fn signed_headers(&self, name: &str, id: &str, body: &[u8]) -> Vec<(String, String)> {
        let webhook = self.webhook(name);
        let secret = match &webhook.secret {
            None => Vec::new(),
            Some(SecretSource::Env(var)) => std::env::var(var)
                .unwrap_or_else(|_| panic!("webhook {name} is signed with env:{var}, not set"))
                .into_bytes(),
            Some(SecretSource::Company(secret)) => {
                let company = self.company();
                self.get(Space::Secrets, &company, secret)
                    .unwrap_or_else(|| {
                        panic!(
                            "webhook {name} is signed with secret:{secret}, which {company} \
                             has not stored: seed it with secret_set({company:?}, \
                             {secret:?}, ...) or have the app store it"
                        )
                    })
            }
        };
        let now = Timestamp::now().as_second();
        signatures::sign(webhook.verify, &secret, id, body, now)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    /// Delivers `body` to webhook `name` signed as its provider would sign
    /// it (see [`TestApp::signed_headers`]), with a new delivery id.
    #[track_caller]
    pub fn deliver_signed(&self, name: &str, body: impl AsRef<[u8]>) -> Delivery {
        let body = body.as_ref();
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let headers = self.signed_headers(name, &id, body);
        let mut pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (&**k, &**v)).collect();
        pairs.push(("content-type", "application/json"));
        self.deliver_webhook(name, &pairs, body)
    }

    /// The sidecar's webhook `name`; panics, listing them, if there is none.
    #[track_caller]
    fn webhook(&self, name: &str) -> Webhook {
        let app = self.serving();
        let found = app.settings.webhooks.iter().find(|w| w.name == name);
        found.cloned().unwrap_or_else(|| {
            let names: Vec<&str> = app.settings.webhooks.iter().map(|w| &*w.name).collect();
            panic!(
                "{} has no [[webhook]] named {name:?} (it has: {}): declare it with \
                 TestAppBuilder::webhook",
                self.name,
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            )
        })
    }

    #[track_caller]
    pub(super) fn serving(&self) -> std::sync::Arc<crate::apps::App> {
        self.host
            .dispatcher()
            .app(&self.name)
            .unwrap_or_else(|e| panic!("{} does not serve: {e}", self.name))
    }
}
