//! `keruj:plugin/log`: plugins write to the host's log, tagged with the app,
//! the company and the request id, within a budget per event so a chatty
//! plugin cannot flood the host.

use super::Bound;
use crate::runtime::bindings_for_capabilities::log::{Host, Level};

/// How many bytes of messages one event may log.
pub const LOG_BUDGET_BYTES: usize = 16 * 1024;
/// The longest single message; longer ones are cut.
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024;

/// The log's per-instance state: whom lines are tagged with, what is left.
pub struct LogState {
    bound: Bound,
    budget_left: usize,
    dropped: usize,
}

impl LogState {
    pub fn new(bound: Bound) -> Self {
        LogState {
            bound,
            budget_left: LOG_BUDGET_BYTES,
            dropped: 0,
        }
    }

    /// Messages dropped because the budget ran out.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

impl Host for LogState {
    fn write(&mut self, level: Level, message: String) {
        let message = truncate(&message, MAX_MESSAGE_BYTES);
        let Bound {
            app,
            company,
            request_id,
        } = &self.bound;
        let (app, company, request_id) = (&**app, &**company, &**request_id);
        if message.len() > self.budget_left {
            if self.dropped == 0 {
                tracing::warn!(
                    app,
                    company,
                    request_id,
                    "plugin log budget of {LOG_BUDGET_BYTES} bytes used up; dropping its further messages"
                );
            }
            self.dropped += 1;
            return;
        }
        self.budget_left -= message.len();
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", app, company, request_id, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", app, company, request_id, "{message}")
            }
            Level::Info => tracing::info!(target: "plugin", app, company, request_id, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", app, company, request_id, "{message}"),
            Level::Error => {
                tracing::error!(target: "plugin", app, company, request_id, "{message}")
            }
        }
    }
}

/// `message` cut to at most `max` bytes on a character boundary.
fn truncate(message: &str, max: usize) -> &str {
    if message.len() <= max {
        return message;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("привіт", 3), "п");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn budget_drops_excess_messages() {
        let mut log = LogState::new(Bound {
            app: "app".into(),
            company: "co".into(),
            request_id: "req".into(),
        });
        let line = "x".repeat(MAX_MESSAGE_BYTES);
        for _ in 0..(LOG_BUDGET_BYTES / MAX_MESSAGE_BYTES) {
            log.write(Level::Info, line.clone());
        }
        assert_eq!(log.dropped(), 0);
        log.write(Level::Info, line.clone());
        log.write(Level::Info, "short".into());
        assert_eq!(log.dropped(), 2);
    }
}
