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
            _ => Ok(Reply::Done),
        }
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

keruj_guest::export_app!(Faulty);
