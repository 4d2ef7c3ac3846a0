//! Writing to the host's log. Each line is tagged by the host with the app,
//! the company and the request id; the host bounds how much one event writes.

use crate::__private::bindings::keruj::plugin::log::{Level, write};

pub fn trace(message: &str) {
    write(Level::Trace, message);
}
pub fn debug(message: &str) {
    write(Level::Debug, message);
}
pub fn info(message: &str) {
    write(Level::Info, message);
}
pub fn warn(message: &str) {
    write(Level::Warn, message);
}
pub fn error(message: &str) {
    write(Level::Error, message);
}
