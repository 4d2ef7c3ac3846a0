//! What the app made at run time for the current company (contract 0.2.0),
//! seen and driven by the test: its schedules listed, one of them fired now
//! ([`TestApp::run_made_schedule`]) as the scheduler would at its due time,
//! and its minted webhook URLs listed (deliver to one with
//! [`TestApp::deliver_webhook_to`]).

use super::{Answer, MadeSchedule, TestApp, answer_of};
use crate::capabilities::schedules::{self, When};
use crate::capabilities::webhooks;
use crate::dispatch::new_request_id;
use crate::storage::Tenant;
use crate::triggers::schedules::run_made_now;

impl TestApp {
    /// The schedules the app made for the current company, oldest first.
    #[track_caller]
    pub fn made_schedules(&self) -> Vec<MadeSchedule> {
        let company = self.company();
        let tenant = Tenant::new(&self.name, &company);
        let storage = self.host.storage();
        let made = self
            .runtime
            .block_on(schedules::all_made(storage, tenant))
            .expect("the test database reads");
        made.into_iter()
            .map(|(id, made)| MadeSchedule {
                id,
                event: made.event,
                once: matches!(made.when, When::Once(_)),
                payload: made.payload,
            })
            .collect()
    }

    /// Fires the made schedule `id` now, as the scheduler does at its due
    /// time (`attempt` 1, its `id` and `payload`), on the background path.
    /// A one-off schedule the app handled is gone afterwards, as it would
    /// be. Panics if the company has no schedule `id`.
    #[track_caller]
    pub fn run_made_schedule(&self, id: &str) -> Answer {
        let company = self.company();
        let app = self.serving();
        let dispatcher = self.host.dispatcher();
        let ran = self
            .runtime
            .block_on(run_made_now(
                dispatcher,
                &app,
                &company,
                id,
                &new_request_id(),
            ))
            .expect("the test database reads");
        let Some(ran) = ran else {
            panic!("{} made no schedule {id:?} for {company}", self.name);
        };
        self.raise_handler_panic();
        answer_of(ran.result)
    }

    /// The webhook URLs the app minted for the current company, oldest
    /// first: (the `[[webhook]]` name, the label, the URL).
    #[track_caller]
    pub fn minted_webhooks(&self) -> Vec<(String, String, String)> {
        let company = self.company();
        let tenant = Tenant::new(&self.name, &company);
        let storage = self.host.storage();
        let urls = self.host.dispatcher().webhook_urls();
        self.runtime
            .block_on(async {
                match storage.generation(tenant).await? {
                    Some(generation) => {
                        webhooks::all_minted(storage, urls, tenant, generation).await
                    }
                    None => Ok(Vec::new()),
                }
            })
            .expect("the test database reads")
    }
}
