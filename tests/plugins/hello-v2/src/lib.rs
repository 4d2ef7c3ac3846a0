//! `hello-v2`: the example app `plugins/hello` as a second version, for the
//! hot reload tests: it behaves the same, but every form it shows says "v2",
//! so a test can tell which version answered.

use keruj_guest::form::{Element, Form};
use keruj_guest::{App, Context, Error, Event, Reply};

/// The event the name form comes back as.
const NAME_SUBMITTED: &str = "name_submitted";

struct HelloV2;

impl App for HelloV2 {
    fn handle(ctx: &Context, event: Event) -> Result<Reply, Error> {
        match event {
            Event::Install { .. } | Event::Update { .. } | Event::Uninstall => Ok(Reply::Done),
            Event::Configure => Ok(name_form().into()),
            Event::Submit(answer) if answer.name == NAME_SUBMITTED => match answer.text("name") {
                Some(name) => {
                    keruj_guest::log::info(&format!(
                        "{name} said hello (v2) for {}",
                        ctx.company_id
                    ));
                    Ok(Reply::Done)
                }
                None => Ok(name_form().error("name", "Please type your name").into()),
            },
            Event::Submit(answer) => Ok(echo(&answer.name, &answer.data)?.into()),
            Event::Other { name, body } => Ok(echo(&name, &body)?.into()),
            _ => Ok(Reply::Done),
        }
    }
}

fn name_form() -> Form {
    Form::new(NAME_SUBMITTED, "Say hello (v2)")
        .description("Tell us who you are")
        .element(Element::text("name", "Your name").required())
}

/// A read-only form showing the event's name and what came with it.
fn echo(name: &str, received: &impl serde::Serialize) -> Result<Form, Error> {
    Ok(Form::new("echo_seen", format!("Echo v2: {name}"))
        .element(Element::info("received", serde_json::to_string(received)?)))
}

keruj_guest::export_app!(HelloV2);
