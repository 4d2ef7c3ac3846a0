//! `faulty`: a test-only Keruj app that misbehaves on purpose, so that the
//! end-to-end tests can check the host contains every kind of plugin failure.
//!
//! What it does, by event name:
//!
//! | event       | behaviour                                                        | host answers |
//! | ----------- | ---------------------------------------------------------------- | ------------ |
//! | `panic`     | `panic!` (a Rust panic traps the component)                      | 500          |
//! | `trap`      | executes the WebAssembly `unreachable` instruction               | 500          |
//! | `fail`      | returns `Err(Error)`: a failure the app reports itself           | 500          |
//! | `loop`      | spins forever without yielding                                   | 504          |
//! | `alloc`     | grows memory without bound, 1 MiB at a time                      | 500          |
//! | `recurse`   | recurses without end (a stack overflow)                          | 500          |
//! | `huge_reply`| a valid form of 4 MiB, 16 times the reply size limit             | 500          |
//! | `bad_reply` | a form the typed builder accepts but that breaks the reply format (an invalid `reply` name, a blank title, an error for a field that does not exist) | 500 |
//! | `raw_reply` | answers `data.json`, as it is, as its reply (any text, valid or not) | 200 or 500 |
//! | `log_flood` | logs an empty message 100,000 times                              | 200          |
//! | `log_lines` | logs each of `data.lines` (forged lines, control characters)      | 200          |
//! | `fail_with` | returns `Err(data.message)`, or 8 MiB of text when there is none  | 500          |
//!
//! Every other event, the system events included (install, configure,
//! uninstall): done.

use keruj_guest::form::{Element, Form, MAX_REPLY_BYTES};
use keruj_guest::{App, Context, Error, Event, Reply};

struct Faulty;

impl App for Faulty {
    fn handle(ctx: &Context, event: Event) -> Result<Reply, Error> {
        let name = match &event {
            Event::Other { name, .. } => name.as_str(),
            Event::Submit(answer) => answer.name.as_str(),
            _ => return Ok(Reply::Done),
        };
        match name {
            "panic" => panic!("faulty panics for {} as asked", ctx.company_id),
            "trap" => trap(),
            "fail" => Err(Error::msg("faulty fails as asked")),
            "loop" => spin(),
            "alloc" => hog(),
            "recurse" => Err(Error::msg(format!("reached depth {}", recurse(u64::MAX)))),
            "huge_reply" => Ok(Form::new("huge_seen", "Huge")
                .element(Element::info("blob", "x".repeat(16 * MAX_REPLY_BYTES)))
                .into()),
            "bad_reply" => Ok(Form::new("not an event name!", " ")
                .error("ghost", "no such field")
                .into()),
            "log_flood" => {
                for _ in 0..100_000 {
                    keruj_guest::log::info("");
                }
                Ok(Reply::Done)
            }
            "log_lines" => {
                let lines = answer_of(&event, "lines");
                for line in lines.as_array().into_iter().flatten() {
                    keruj_guest::log::warn(line.as_str().unwrap_or_default());
                }
                Ok(Reply::Done)
            }
            "fail_with" => match answer_of(&event, "message").as_str() {
                Some(message) => Err(Error::msg(message)),
                None => Err(Error::msg("x".repeat(8 << 20))),
            },
            _ => Ok(Reply::Done),
        }
    }
}

/// `data.<field>` of a submission; null when absent.
fn answer_of(event: &Event, field: &str) -> serde_json::Value {
    match event {
        Event::Submit(answer) => answer.get(field).cloned().unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}

/// Never returns; `black_box` keeps the loop from being optimised away.
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Recurses `depth` times; the result depends on every level's, so the
/// compiler can turn it neither into a loop nor into a tail call.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if std::hint::black_box(depth) == 0 {
        return 1;
    }
    let below = recurse(depth - 1);
    below.rotate_left((below & 63) as u32) ^ depth
}

/// Holds on to 1 MiB chunks until the host's memory limit stops it.
fn hog() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        chunks.push(std::hint::black_box(vec![1u8; 1 << 20]));
        std::hint::black_box(&chunks);
    }
}

/// The SDK's export, except for `raw_reply`, which hands the host a reply no
/// typed builder would make: the SDK never lets an app write reply JSON by
/// hand, so this goes under it, to the WIT bindings.
mod raw {
    use keruj_guest::__private::bindings::Guest;
    use keruj_guest::__private::bindings::keruj::plugin::types::{Event, Outcome};

    struct Export;

    impl Guest for Export {
        fn handle_event(event: Event) -> Result<Outcome, String> {
            if event.name == "raw_reply" {
                let body: serde_json::Value =
                    serde_json::from_str(&event.body).map_err(|e| e.to_string())?;
                let json = body["data"]["json"].as_str().unwrap_or_default();
                return Ok(Outcome::Reply(json.to_owned()));
            }
            keruj_guest::__private::handle_event::<super::Faulty>(event)
        }

        fn health() -> Result<(), String> {
            keruj_guest::__private::health::<super::Faulty>()
        }
    }

    keruj_guest::__private::bindings::export_bindings!(Export);
}
