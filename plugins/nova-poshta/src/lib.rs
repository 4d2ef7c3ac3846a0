//! `nova-poshta`: connects a company's Nova Poshta account to Keruj.
//!
//! 1. Configure: a form asks for the Nova Poshta API key.
//! 2. The key comes back: the app checks it by asking Nova Poshta for the
//!    account's sender profiles. Refused: the same form again, with Nova
//!    Poshta's reason on the field. Accepted: the key is kept as a secret and
//!    a second form asks which sender profile to use.
//! 3. The sender comes back: kept; done.
//! 4. `track_parcel` (`{"ttn": "2045…"}`): the app asks Nova Poshta for the
//!    parcel's status, records it in Keruj through Keruj's API, and keeps
//!    tracking the parcel.
//! 5. On its own, every period of the sidecar's schedule (`sync_tracking`):
//!    one Nova Poshta tracking call for every tracked parcel, and each
//!    status that changed pushed to Keruj.
//! 6. Told by Nova Poshta (webhook `status`, event `np_status`, body
//!    `{"Number": "2045…", "Status": "…"}`): the parcel's new status pushed
//!    to Keruj at once. The configure form shows the company's URL to paste
//!    in Nova Poshta's settings.
//!
//! Operator's sidecar `nova-poshta.toml`:
//! ```toml
//! allowed_hosts = ["api.novaposhta.ua"]
//! [config]
//! api_url = "https://api.novaposhta.ua/v2.0/json/"   # the default
//!
//! [[schedule]]
//! event = "sync_tracking"
//! every = "15m"
//!
//! [[webhook]]
//! name = "status"
//! event = "np_status"
//! verify = "standard-webhooks"
//! secret = "env:NP_WEBHOOK_SECRET"
//! ```

mod novaposhta;

use keruj_guest::prelude::*;

use novaposhta::{Failure, NovaPoshta};

const KEY_SUBMITTED: &str = "np_key_submitted";
const SENDER_CHOSEN: &str = "np_sender_chosen";
const TRACK_PARCEL: &str = "track_parcel";
const SYNC_TRACKING: &str = "sync_tracking";
const STATUS_CHANGED: &str = "np_status";
/// The webhook's name in the sidecar.
const STATUS_WEBHOOK: &str = "status";
/// Parcels one sync asks about (Nova Poshta takes 100 a call).
const MAX_TRACKED: usize = 100;

/// Where the key and settings are kept (per company, by the host).
const API_KEY_SECRET: &str = "api_key";
const SENDERS_KEY: &str = "senders";
const SENDER_KEY: &str = "sender";
/// `tracked/<ttn>`: the last status pushed to Keruj.
const TRACKED: &str = "tracked/";

/// Keruj's schema is not public: this mutation is illustrative of reporting back.
const REPORT_PARCEL_STATUS: &str = "mutation ReportParcelStatus($ttn: String!, $status: String!) \
    { addIntegrationEvent(source: \"nova-poshta\", reference: $ttn, text: $status) { id } }";

/// A sender profile of the Nova Poshta account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "keruj_guest::serde")]
struct Sender {
    #[serde(rename = "Ref")]
    reference: String,
    #[serde(rename = "Description")]
    name: String,
}

struct NovaPoshtaApp;

impl App for NovaPoshtaApp {
    fn handle(ctx: &Context, event: Event) -> Result<Reply, Error> {
        match event {
            Event::Install { .. } | Event::Update { .. } | Event::Uninstall => Ok(Reply::Done),
            Event::Configure => Ok(with_webhook_url(key_form(), ctx).into()),
            Event::Submit(answer) if answer.name == KEY_SUBMITTED => check_key(&answer),
            Event::Submit(answer) if answer.name == SENDER_CHOSEN => choose_sender(&answer),
            Event::Submit(answer) if answer.name == TRACK_PARCEL => track(answer.get("ttn")),
            Event::Other { name, body } if name == TRACK_PARCEL => track(body.get("ttn")),
            Event::Scheduled(run) if run.event == SYNC_TRACKING => sync_tracking(),
            Event::Webhook(delivery) if delivery.event == STATUS_CHANGED => {
                status_pushed(&delivery)
            }
            other => Err(Error::msg(format!("nova-poshta does not handle {other:?}"))),
        }
    }
}

fn key_form() -> Form {
    Form::new(KEY_SUBMITTED, "Connect Nova Poshta")
        .description(
            "Paste the API key from your Nova Poshta business account (Settings → Security)",
        )
        .element(Element::text("api_key", "API key").required().secret())
}

/// The key form, with the company's webhook URL when the operator declared it.
fn with_webhook_url(form: Form, ctx: &Context) -> Form {
    match ctx.webhooks.get(STATUS_WEBHOOK) {
        Some(url) => form.element(Element::info(
            "webhook_url",
            format!("For live parcel statuses, add this webhook in Nova Poshta: {url}"),
        )),
        None => form,
    }
}

/// Step 2: check the key with Nova Poshta, keep it, ask for the sender.
fn check_key(answer: &Submission) -> Result<Reply, Error> {
    let Some(key) = answer.text("api_key") else {
        return Ok(key_form()
            .error("api_key", "Please paste your API key")
            .into());
    };
    let senders: Vec<Sender> = match NovaPoshta::new(key).call(
        "Counterparty",
        "getCounterparties",
        json!({"CounterpartyProperty": "Sender", "Page": "1"}),
    ) {
        Ok(senders) => senders,
        Err(Failure::Refused(reason)) => {
            let message = format!("Nova Poshta refused this key: {reason}");
            return Ok(key_form().error("api_key", message).into());
        }
        Err(Failure::Unreachable(error)) => return Err(error),
    };
    if senders.is_empty() {
        let message = "This account has no sender profiles yet: add one in Nova Poshta first";
        return Ok(key_form().error("api_key", message).into());
    }
    secrets::set(API_KEY_SECRET, key)?;
    kv::set_json(SENDERS_KEY, &senders)?;
    Ok(sender_form(&senders).into())
}

/// The choice among the account's sender profiles.
fn sender_form(senders: &[Sender]) -> Form {
    let choice = senders.iter().fold(
        Element::select("sender", "Send parcels as").required(),
        |select, sender| select.option(&sender.reference, &sender.name),
    );
    Form::new(SENDER_CHOSEN, "Choose the sender").element(choice)
}

/// Step 3: keep the chosen sender, if it is one Nova Poshta offered.
fn choose_sender(answer: &Submission) -> Result<Reply, Error> {
    let senders: Vec<Sender> =
        kv::get_json(SENDERS_KEY)?.ok_or_else(|| Error::msg("no key was checked yet"))?;
    let form = sender_form(&senders);
    let chosen = answer
        .choice_in(&form, "sender")
        .and_then(|r| senders.iter().find(|s| s.reference == r));
    let Some(sender) = chosen else {
        return Ok(form
            .error("sender", "Please choose one of your sender profiles")
            .into());
    };
    kv::set_json(SENDER_KEY, sender)?;
    log::info(&format!("sender set to {}", sender.name));
    Ok(Reply::Done)
}

/// The user event: look the parcel up, then record its status in Keruj.
fn track(ttn: Option<&Value>) -> Result<Reply, Error> {
    let ttn = ttn
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= 36)
        .ok_or_else(|| Error::msg("track_parcel needs a string `ttn`"))?;
    let key = secrets::get(API_KEY_SECRET)?
        .ok_or_else(|| Error::msg("Nova Poshta is not connected yet"))?;
    let documents: Vec<Value> = NovaPoshta::new(&key)
        .call(
            "TrackingDocument",
            "getStatusDocuments",
            json!({"Documents": [{"DocumentNumber": ttn}]}),
        )
        .map_err(Failure::into_error)?;
    let status = documents
        .first()
        .and_then(|d| d.get("Status")?.as_str())
        .ok_or_else(|| Error::msg("Nova Poshta returned no status"))?;
    report(ttn, status)?;
    Ok(Reply::Done)
}

/// A parcel's status in Keruj, and kept as the one last pushed.
fn report(ttn: &str, status: &str) -> Result<(), Error> {
    let _: Value = keruj::graphql(REPORT_PARCEL_STATUS, &json!({"ttn": ttn, "status": status}))?;
    kv::set(&format!("{TRACKED}{ttn}"), status)
}

/// The scheduled sync: one tracking call for every tracked parcel; each
/// status that changed goes to Keruj.
fn sync_tracking() -> Result<Reply, Error> {
    let Some(key) = secrets::get(API_KEY_SECRET)? else {
        return Ok(Reply::Done); // not connected yet: nothing to sync
    };
    let tracked = kv::keys(TRACKED)?;
    let ttns: Vec<&str> = tracked
        .iter()
        .filter_map(|k| k.strip_prefix(TRACKED))
        .take(MAX_TRACKED)
        .collect();
    if ttns.is_empty() {
        return Ok(Reply::Done);
    }
    let documents: Vec<Value> = NovaPoshta::new(&key)
        .call(
            "TrackingDocument",
            "getStatusDocuments",
            json!({"Documents": ttns.iter().map(|ttn| json!({"DocumentNumber": ttn})).collect::<Vec<_>>()}),
        )
        .map_err(Failure::into_error)?;
    let mut changed = 0;
    for document in &documents {
        let (Some(ttn), Some(status)) = (
            document.get("Number").and_then(Value::as_str),
            document.get("Status").and_then(Value::as_str),
        ) else {
            continue;
        };
        if ttns.contains(&ttn)
            && kv::get_text(&format!("{TRACKED}{ttn}"))?.as_deref() != Some(status)
        {
            report(ttn, status)?;
            changed += 1;
        }
    }
    log::info(&format!(
        "tracking synced: {} parcels, {changed} changed",
        ttns.len()
    ));
    Ok(Reply::Done)
}

/// Nova Poshta's push of a new status (the host verified its signature).
fn status_pushed(delivery: &Delivery) -> Result<Reply, Error> {
    #[derive(Deserialize)]
    #[serde(crate = "keruj_guest::serde")]
    struct Push {
        #[serde(rename = "Number")]
        ttn: String,
        #[serde(rename = "Status")]
        status: String,
    }
    let push: Push = delivery.json()?;
    if push.ttn.is_empty() || push.ttn.len() > 36 {
        return Err(Error::msg("the push names no parcel"));
    }
    report(&push.ttn, &push.status)?;
    Ok(Reply::Done)
}

keruj_guest::export_app!(NovaPoshtaApp);
