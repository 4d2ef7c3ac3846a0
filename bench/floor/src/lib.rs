//! `floor`: an app with no SDK and no logic, for pricing what an SDK app's
//! event is made of (see `Cargo.toml`'s features and BENCHMARKS.md).

// wit-bindgen's export glue passes the event's fields one by one.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({ path: "../../guest-sdk/wit", world: "keruj:plugin/app" });

/// The form `hello` answers to `application_configure`, as its JSON.
#[cfg(feature = "reply")]
const FORM: &str = r#"{"reply":"name_submitted","title":"Say hello","description":"Tell us who you are","elements":[{"type":"text","name":"name","label":"Your name","required":true}]}"#;

struct Floor;

impl Guest for Floor {
    fn handle_event(event: Event) -> Result<Outcome, String> {
        // A branch the compiler cannot rule out keeps the import linked.
        #[cfg(feature = "log")]
        if event.name.is_empty() {
            keruj::plugin::log::write(keruj::plugin::log::Level::Info, "an event with no name");
        }
        let _ = event;
        #[cfg(feature = "reply")]
        return Ok(Outcome::Reply(FORM.to_string()));
        #[cfg(not(feature = "reply"))]
        Ok(Outcome::Done)
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

export!(Floor);
