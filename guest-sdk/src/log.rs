//! Writing to the host's log. Each line is tagged by the host with the app,
//! the company and the request id; the host bounds how much one event writes
//! (16 KiB per event, 2 KiB per message). Keep secrets out of it.
//!
//! ```no_run
//! keruj_guest::log::info("sender profile chosen");
//! ```

use crate::__private::bindings::keruj::plugin::log::{Level, write};

/// Writes `message` at trace level: the finest detail.
pub fn trace(message: &str) {
    write(Level::Trace, message);
}
/// Writes `message` at debug level.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}
/// Writes `message` at info level: what happened.
pub fn info(message: &str) {
    write(Level::Info, message);
}
/// Writes `message` at warn level: something is off, the event goes on.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}
/// Writes `message` at error level: the event failed.
pub fn error(message: &str) {
    write(Level::Error, message);
}
