//! `hello`: the smallest complete Keruj app.
//!
//! Install: done. Configure: a form asking for a name. The submitted form:
//! done, or the same form again, refilled, with an error when the name is
//! empty. Any other event: a form that echoes what the app received.
//!
//! It depends on `keruj-guest` alone: serde and serde_json come re-exported.

use keruj_guest::prelude::*;

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
                    log::info(&format!("{name} said hello for {}", ctx.company_id));
                    Ok(Reply::Done)
                }
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

/// A read-only form showing the event's name and what came with it.
fn echo(name: &str, received: &impl Serialize) -> Result<Form, Error> {
    let received = keruj_guest::serde_json::to_string(received)?;
    Ok(
        Form::new("echo_seen", format!("Echo: {name}"))
            .element(Element::info("received", received)),
    )
}

keruj_guest::export_app!(Hello);
