//! What only the command line uses: each of `keruj-host`'s tool commands
//! besides `serve`. The server's modules never import these.
//!
//! - [`check`]: whether the host would load a plugin, and why not (`keruj-host check`);
//! - [`send`]: playing Keruj against a running host (`keruj-host send`), with
//!   [`form_text`] drawing reply forms as text;
//! - [`console`]: the dev console, a web page that plays Keruj (`keruj-host dev`);
//! - [`scaffold`]: a new app crate (`keruj-host new`).

pub mod check;
pub mod console;
pub mod form_text;
pub mod scaffold;
pub mod send;
