//! `hello`'s logic, for the benchmark's native baseline and peers: the same
//! `handle` as `plugins/hello/src/lib.rs` (keep them in step), on the same
//! SDK types, without the WebAssembly export. `scripts/bench` checks that
//! every target answers the configure event with the same form.

use keruj_guest::form::{Element, Form};
use keruj_guest::{App, Context, Error, Event, Reply};

/// The event the name form comes back as.
const NAME_SUBMITTED: &str = "name_submitted";

pub struct Hello;

impl App for Hello {
    fn handle(_ctx: &Context, event: Event) -> Result<Reply, Error> {
        match event {
            Event::Install { .. } | Event::Update { .. } | Event::Uninstall => Ok(Reply::Done),
            Event::Configure => Ok(name_form().into()),
            Event::Submit(answer) if answer.name == NAME_SUBMITTED => match answer.text("name") {
                // hello logs here; the baseline has no log to write to.
                Some(_name) => Ok(Reply::Done),
                None => Ok(name_form()
                    .refill(&answer)
                    .error("name", "Please type your name")
                    .into()),
            },
            Event::Submit(answer) => Ok(echo(&answer.name, &answer.data)?.into()),
            Event::Other { name, body } => Ok(echo(&name, &body)?.into()),
            // Scheduled runs, webhook deliveries: hello declares none.
            _ => Ok(Reply::Done),
        }
    }
}

fn name_form() -> Form {
    Form::new(NAME_SUBMITTED, "Say hello")
        .description("Tell us who you are")
        .element(Element::text("name", "Your name").required())
}

fn echo(name: &str, received: &impl serde::Serialize) -> Result<Form, Error> {
    Ok(Form::new("echo_seen", format!("Echo: {name}"))
        .element(Element::info("received", serde_json::to_string(received)?)))
}

/// A whole event body in, the JSON reply out (`None`: done, empty body), as
/// the SDK's `handle_event` does inside a plugin.
pub fn handle_body(body: &str) -> Result<Option<String>, String> {
    let body: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let text = |field: &str| body.get(field).and_then(|v| v.as_str()).map(str::to_owned);
    let (Some(name), Some(company_id)) = (text("event"), text("company_id")) else {
        return Err("the body needs a string `event` and `company_id`".into());
    };
    let ctx = Context {
        company_id,
        account_id: text("account_id").unwrap_or_default(),
        webhooks: Default::default(),
    };
    match Hello::handle(&ctx, Event::from_body(&name, body)) {
        Ok(Reply::Done) => Ok(None),
        Ok(Reply::Form(form)) => Ok(Some(form.to_json())),
        Err(error) => Err(error.to_string()),
    }
}

/// The token check every target makes, in constant time.
pub fn token_matches(expected: &[u8], presented: &[u8]) -> bool {
    let mut diff = (expected.len() != presented.len()) as u8;
    for (a, b) in expected.iter().zip(presented) {
        diff |= a ^ b;
    }
    diff == 0
}
