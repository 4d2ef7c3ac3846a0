//! `keruj:plugin/log`: plugins write to the host's log, tagged with the app,
//! the company and the request id. Every message is escaped, bounded and
//! charged to the event's [`LogBudget`] (see [`crate::plugin_text`]), so a
//! plugin can neither flood the log nor forge a line of it.

use wasmtime::component::{HasSelf, Linker};

use super::{Bound, InstanceState};
use crate::bindings::keruj::plugin::log::{self, Level};
use crate::plugin_text::{Charge, LogBudget, PluginText};

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    log::add_to_linker::<_, HasSelf<InstanceState>>(linker, |state| state)
}

impl log::Host for InstanceState {
    fn write(&mut self, level: Level, message: String) {
        write(self.scope.bound(), self.scope.log_budget(), level, message)
    }
}

/// One plugin message to the log, tagged with whom the instance acts for,
/// if the event's `budget` allows it.
fn write(bound: &Bound, budget: &LogBudget, level: Level, message: String) {
    let message = PluginText::new(message);
    let Bound {
        app,
        company,
        request_id,
    } = bound;
    let (app, company, request_id) = (&**app, &**company, &**request_id);
    match budget.charge(&message) {
        Charge::Granted => {}
        Charge::FirstDropped => {
            tracing::warn!(
                app,
                company,
                request_id,
                "plugin log budget of this event used up ({} bytes or {} lines); dropping its further messages",
                crate::plugin_text::LOG_BUDGET_BYTES,
                crate::plugin_text::MAX_LINES,
            );
            return;
        }
        Charge::Dropped => return,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin_text::{LINE_COST_BYTES, LOG_BUDGET_BYTES, MAX_LINES, MAX_TEXT_BYTES};

    /// A plugin's log, as its instance writes it: whom it is bound to, its budget.
    struct LogState {
        bound: Bound,
        budget: LogBudget,
    }

    impl LogState {
        fn write(&mut self, level: Level, message: String) {
            write(&self.bound, &self.budget, level, message)
        }
    }

    fn state() -> LogState {
        let bound = Bound {
            app: "app".into(),
            company: "co".into(),
            request_id: "req".into(),
        };
        LogState {
            bound,
            budget: LogBudget::default(),
        }
    }

    #[test]
    fn budget_drops_excess_messages() {
        let mut log = state();
        let line = "x".repeat(MAX_TEXT_BYTES);
        let fits = LOG_BUDGET_BYTES / (MAX_TEXT_BYTES + LINE_COST_BYTES);
        for _ in 0..fits {
            log.write(Level::Info, line.clone());
        }
        assert_eq!(log.budget.dropped(), 0);
        log.write(Level::Info, line.clone());
        log.write(Level::Info, line.clone());
        assert_eq!(log.budget.dropped(), 2);
    }

    #[test]
    fn empty_messages_use_the_budget_too() {
        let mut log = state();
        for _ in 0..100_000 {
            log.write(Level::Info, String::new());
        }
        assert_eq!(log.budget.dropped(), 100_000 - MAX_LINES);
    }
}
