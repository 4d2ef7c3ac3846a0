//! `hello`: the smallest complete Keruj app.
//!
//! Install: done. Configure: a form asking for a name. The submitted form:
//! done, or the same form again with an error when the name is empty. Any
//! other event: a form that echoes what the app received.

use keruj_guest::form::{Element, Form};
use keruj_guest::{App, Context, Error, Event, Reply};

/// The event the name form comes back as.
const NAME_SUBMITTED: &str = "name_submitted";

struct Hello;

impl App for Hello {
    fn handle(ctx: &Context, event: Event) -> Result<Reply, Error> {
        match event {
            Event::Install { .. } | Event::Update { .. } | Event::Uninstall => Ok(Reply::Done),
            Event::Configure => Ok(name_form().into()),
            Event::Submit(answer) if answer.name == NAME_SUBMITTED => match answer.text("name") {
                Some(name) => {
                    keruj_guest::log::info(&format!("{name} said hello for {}", ctx.company_id));
                    Ok(Reply::Done)
                }
                None => Ok(name_form().error("name", "Please type your name").into()),
            },
            Event::Submit(answer) => Ok(echo(&answer.name, &answer.data)?.into()),
            Event::Other { name, body } => Ok(echo(&name, &body)?.into()),
        }
    }
}

fn name_form() -> Form {
    Form::new(NAME_SUBMITTED, "Say hello")
        .description("Tell us who you are")
        .element(Element::text("name", "Your name").required())
}

/// A read-only form showing the event's name and what came with it.
fn echo(name: &str, received: &impl serde::Serialize) -> Result<Form, Error> {
    Ok(Form::new("echo_seen", format!("Echo: {name}"))
        .element(Element::info("received", serde_json::to_string(received)?)))
}

keruj_guest::export_app!(Hello);
