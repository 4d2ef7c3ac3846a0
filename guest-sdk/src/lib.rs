//! # keruj-guest: write Keruj integration apps for keruj-host
//!
//! An app is a type that implements [`App`], exported with [`export_app!`]
//! and built for `wasm32-wasip2`. The host verifies every Keruj request,
//! keeps the install and its API key, and hands the app typed [`Event`]s in a
//! fresh sandboxed instance; the app answers [`Reply::Done`] or a
//! [`Form`] for Keruj to show the user.
//!
//! ```
//! use keruj_guest::prelude::*;
//!
//! struct Greeter;
//!
//! impl App for Greeter {
//!     fn handle(ctx: &Context, event: Event) -> Result<Reply, Error> {
//!         let ask = || Form::new("name_submitted", "Who are you?")
//!             .element(Element::text("name", "Your name").required())
//!             .element(Element::number("age", "Your age"));
//!         match event {
//!             Event::Configure => Ok(ask().into()),
//!             Event::Submit(answer) if answer.name == "name_submitted" => {
//!                 match answer.text("name") {
//!                     Some(name) => {
//!                         log::info(&format!("{name} joined {}", ctx.company_id));
//!                         kv::set_json("age", &answer.integer("age"))?;
//!                         Ok(Reply::Done)
//!                     }
//!                     // The same form again, with what the user typed and why it is refused.
//!                     None => Ok(ask().refill(&answer).error("name", "Please type your name").into()),
//!                 }
//!             }
//!             _ => Ok(Reply::Done),
//!         }
//!     }
//! }
//!
//! keruj_guest::export_app!(Greeter);
//! # fn main() {}
//! ```
//!
//! ## What an app can use
//!
//! Each capability is bound by the host to the event's app and company:
//! - [`kv`]: data, and [`secrets`]: encrypted values, kept per company;
//! - [`config`]: the operator's settings for the app;
//! - [`http`]: outbound HTTP to the hosts the operator allowed;
//! - [`keruj`]: Keruj's GraphQL API with the company's key, which the app never sees;
//! - [`log`]: the host's log.
//!
//! The answers to a form come as a [`Submission`], with typed getters
//! ([`text`](Submission::text), [`number`](Submission::number),
//! [`integer`](Submission::integer), [`checked`](Submission::checked),
//! [`choice`](Submission::choice), [`choice_in`](Submission::choice_in)); a
//! refused answer goes back to the user with [`Form::refill`] and
//! [`Form::error`].
//!
//! ## One dependency
//!
//! An app needs no other crate: [`serde`], [`serde_json`] and [`json!`] are
//! re-exported, at the versions this crate is built with. serde's derive
//! macros look for a crate named `serde`, so an app that derives without
//! depending on serde itself names the path once per type:
//!
//! ```
//! use keruj_guest::serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(crate = "keruj_guest::serde")]
//! struct Settings {
//!     city: String,
//! }
//!
//! let settings: Settings = keruj_guest::serde_json::from_value(keruj_guest::json!({"city": "Kyiv"}))?;
//! assert_eq!(settings.city, "Kyiv");
//! # Ok::<(), keruj_guest::serde_json::Error>(())
//! ```
//!
//! (An app that lists `serde = { version = "1", features = ["derive"] }` in
//! its own `Cargo.toml` can leave the attribute out.)
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` (the crate is a
//! `cdylib`) and drop `target/wasm32-wasip2/release/<app>.wasm` into the
//! host's plugins folder.
//!
//! ## Features
//!
//! `guest` (on by default): the WIT bindings, [`export_app!`] and the
//! capability modules. Without it the crate holds only the shared types (the
//! events and the form format), which is how keruj-host itself uses it.

#![deny(missing_docs)]
// Without `guest` the capability modules the crate docs link to are absent.
#![cfg_attr(not(feature = "guest"), allow(rustdoc::broken_intra_doc_links))]

pub mod event;
pub mod form;

#[cfg(feature = "guest")]
pub mod config;
#[cfg(feature = "guest")]
pub mod http;
#[cfg(feature = "guest")]
pub mod keruj;
#[cfg(feature = "guest")]
pub mod kv;
#[cfg(feature = "guest")]
pub mod log;
#[cfg(feature = "guest")]
pub mod schedules;
#[cfg(feature = "guest")]
pub mod secrets;
#[cfg(feature = "guest")]
pub mod webhooks;

use std::fmt;

pub use event::{Delivery, Event, Scheduled, Submission};
pub use form::Form;

/// serde, which the app's types implement to be stored, sent or read as JSON.
/// Derive with `#[serde(crate = "keruj_guest::serde")]` (see the crate docs).
pub use serde;
/// serde_json: [`Value`](serde_json::Value), [`from_value`](serde_json::from_value) and the rest.
pub use serde_json;
pub use serde_json::json;

pub mod prelude {
    //! What most apps use: `use keruj_guest::prelude::*;`.
    //!
    //! The app's trait and its types, the form builder, the capability
    //! modules, serde's two traits (and their derives) and [`json!`].

    pub use crate::form::{Element, Form};
    pub use crate::{App, Context, Delivery, Error, Event, Reply, Scheduled, Submission};
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{Value, json};

    #[cfg(feature = "guest")]
    pub use crate::{config, export_app, http, keruj, kv, log, secrets};
}

/// The crate README's examples, compiled and run as doctests so that what
/// crates.io shows keeps working.
#[cfg(all(doctest, feature = "guest"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// A Keruj integration app. The host creates a fresh instance for every
/// event, so an app keeps nothing in memory between events.
pub trait App {
    /// Handles one event for the company in `ctx`.
    fn handle(ctx: &Context, event: Event) -> Result<Reply, Error>;

    /// Whether the app can serve now; Keruj's status page polls it through
    /// the host. The default says yes.
    fn health() -> Result<(), Error> {
        Ok(())
    }
}

/// Who the event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The company the event is for.
    pub company_id: String,
    /// The Keruj account that triggered it; empty when Keruj sent none.
    pub account_id: String,
    /// The company's webhook URLs by name, when the app declares webhooks
    /// (sidecar `[[webhook]]`): to show in a form or register with the
    /// provider. Empty otherwise.
    pub webhooks: std::collections::BTreeMap<String, String>,
}

/// How an app answers an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Handled: Keruj gets 200 with an empty body.
    Done,
    /// Keruj shows the user this form and sends the answers back as the
    /// event the form names.
    Form(Form),
}

impl From<Form> for Reply {
    fn from(form: Form) -> Self {
        Reply::Form(form)
    }
}

/// A failure to handle an event: Keruj gets 500 and the message goes to the
/// host's log (never to Keruj). Any `std::error::Error` converts with `?`.
///
/// ```
/// use keruj_guest::Error;
///
/// fn parse(text: &str) -> Result<u32, Error> {
///     let n: u32 = text.parse()?; // a ParseIntError becomes an Error
///     if n == 0 {
///         return Err(Error::msg("zero parcels"));
///     }
///     Ok(n)
/// }
/// assert_eq!(parse("0").unwrap_err().to_string(), "zero parcels");
/// assert!(parse("x").is_err());
/// ```
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error(message.to_string())
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Error(error.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?})", self.0)
    }
}

#[cfg(feature = "guest")]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod __private {
    //! What [`export_app!`](crate::export_app) expands to. Not a public API.

    /// What `wit_bindgen::generate!` makes of `wit/` (world
    /// `keruj:plugin/app`, `export_bindings!` exported), generated once by
    /// `scripts/generate-guest-bindings` and checked in: expanding the macro
    /// in every app's build compiled wit-bindgen's parser and encoder
    /// (wasmparser, wit-parser, wit-component), most of an app's first
    /// `cargo test`. The test `bindings_match_the_wit` says when to
    /// regenerate.
    #[allow(clippy::too_many_arguments)]
    pub mod bindings {
        include!("bindings.rs");
    }
    pub use wit_bindgen;

    use crate::{App, Context, Error, Event, Reply};
    use bindings::keruj::plugin::types::{Event as WitEvent, Outcome};

    /// Turns the WIT event into typed values, runs the app, encodes its reply.
    pub fn handle_event<A: App>(event: WitEvent) -> Result<Outcome, String> {
        log_panics();
        // Configure and uninstall carry nothing the app reads: their body
        // is not parsed (the host has checked it already). Fewer pages of
        // code and memory per event, which counts when many apps take turns.
        let parse = |text: &str| -> Result<serde_json::Value, String> {
            serde_json::from_str(text)
                .map_err(|e| format!("the host sent a body that is not JSON: {e}"))
        };
        // Only an app with webhooks gets `webhooks` in every body.
        let has_webhooks = event.body.contains("\"webhooks\"");
        let (typed, webhooks) = match event.name.as_str() {
            crate::event::CONFIGURE | crate::event::UNINSTALL if !has_webhooks => {
                let typed = match event.name.as_str() {
                    crate::event::CONFIGURE => Event::Configure,
                    _ => Event::Uninstall,
                };
                (typed, Default::default())
            }
            name => {
                let body = parse(&event.body)?;
                let webhooks = webhook_urls(&body);
                (Event::from_body(name, body), webhooks)
            }
        };
        let ctx = Context {
            company_id: event.company_id,
            account_id: event.account_id,
            webhooks,
        };
        match A::handle(&ctx, typed) {
            Ok(Reply::Done) => Ok(Outcome::Done),
            Ok(Reply::Form(form)) => Ok(Outcome::Reply(form.to_json())),
            Err(Error(message)) => Err(message),
        }
    }

    /// The body's `webhooks`: name → URL.
    fn webhook_urls(body: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
        let Some(urls) = body.get("webhooks").and_then(|w| w.as_object()) else {
            return Default::default();
        };
        urls.iter()
            .filter_map(|(name, url)| Some((name.clone(), url.as_str()?.to_owned())))
            .collect()
    }

    /// A panic's message goes to the host's log, since the plugin's stderr
    /// goes nowhere; the host then answers 500.
    fn log_panics() {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                crate::log::error(&format!("panic: {info}"))
            }))
        });
    }

    pub fn health<A: App>() -> Result<(), String> {
        A::health().map_err(|Error(message)| message)
    }
}

/// Exports an [`App`] as the plugin's entry points. Use it once, at the
/// crate root of a `cdylib` built for `wasm32-wasip2`.
///
/// ```
/// struct Quiet;
///
/// impl keruj_guest::App for Quiet {
///     fn handle(
///         _ctx: &keruj_guest::Context,
///         _event: keruj_guest::Event,
///     ) -> Result<keruj_guest::Reply, keruj_guest::Error> {
///         Ok(keruj_guest::Reply::Done)
///     }
/// }
///
/// keruj_guest::export_app!(Quiet);
/// # fn main() {}
/// ```
#[cfg(feature = "guest")]
#[macro_export]
macro_rules! export_app {
    ($app:ty) => {
        #[doc(hidden)]
        struct __KerujExport;

        impl $crate::__private::bindings::Guest for __KerujExport {
            fn handle_event(
                event: $crate::__private::bindings::keruj::plugin::types::Event,
            ) -> ::core::result::Result<
                $crate::__private::bindings::keruj::plugin::types::Outcome,
                ::std::string::String,
            > {
                $crate::__private::handle_event::<$app>(event)
            }

            fn health() -> ::core::result::Result<(), ::std::string::String> {
                $crate::__private::health::<$app>()
            }
        }

        $crate::__private::bindings::export_bindings!(__KerujExport);
    };
}
