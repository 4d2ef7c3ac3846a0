//! The log lines of each request, kept for the dev console.
//!
//! The host tags every line it logs for an event with a `request_id` field
//! (the plugin's own lines too, target `plugin`). [`Capture`] is a
//! `tracing_subscriber` layer that keeps the recent ones per request id, so
//! the console can show beside each event what the plugin said while it ran.
//! It is bounded: the newest [`MAX_REQUESTS`] requests, [`MAX_LINES`] lines
//! each, so a long session does not grow the host's memory.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How many requests' lines are kept; the oldest go first.
pub const MAX_REQUESTS: usize = 256;
/// How many lines of one request are kept; later ones are counted, not kept.
pub const MAX_LINES: usize = 64;
/// The longest message kept, in bytes (the host already bounds plugin text).
const MAX_MESSAGE: usize = 4096;

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// `plugin` for what the app logged, else the host's module.
    pub target: String,
    /// The message, then the other fields as `key=value`.
    pub message: String,
}

/// The lines of the recent requests, shared between the layer and the
/// console. Clones share the buffer.
#[derive(Clone, Default)]
pub struct Capture {
    inner: Arc<Mutex<Ring>>,
}

#[derive(Default)]
struct Ring {
    order: VecDeque<String>,
    lines: HashMap<String, Lines>,
}

#[derive(Default)]
struct Lines {
    kept: Vec<LogLine>,
    dropped: usize,
}

impl Capture {
    /// The lines logged for `request_id`, oldest first, and how many more
    /// were logged than kept.
    pub fn lines(&self, request_id: &str) -> (Vec<LogLine>, usize) {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ring.lines
            .get(request_id)
            .map(|lines| (lines.kept.clone(), lines.dropped))
            .unwrap_or_default()
    }

    fn record(&self, request_id: String, line: LogLine) {
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !ring.lines.contains_key(&request_id) {
            if ring.order.len() == MAX_REQUESTS
                && let Some(oldest) = ring.order.pop_front()
            {
                ring.lines.remove(&oldest);
            }
            ring.order.push_back(request_id.clone());
        }
        let lines = ring.lines.entry(request_id).or_default();
        match lines.kept.len() < MAX_LINES {
            true => lines.kept.push(line),
            false => lines.dropped += 1,
        }
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(request_id) = fields.request_id else {
            return;
        };
        let mut message = fields.message;
        if !fields.rest.is_empty() {
            if !message.is_empty() {
                message.push(' ');
            }
            message.push_str(&fields.rest);
        }
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        let metadata = event.metadata();
        self.record(
            request_id,
            LogLine {
                level: metadata.level().to_string(),
                target: metadata.target().to_owned(),
                message,
            },
        );
    }
}

/// An event's fields: its request id and message apart, the others (but
/// `app`, `company`: the console shows them already) as `key=value`.
#[derive(Default)]
struct Fields {
    request_id: Option<String>,
    message: String,
    rest: String,
}

impl Fields {
    fn field(&mut self, field: &Field, value: String) {
        match field.name() {
            "request_id" => self.request_id = Some(value),
            "message" => self.message = value,
            "app" | "company" => {}
            name => {
                if !self.rest.is_empty() {
                    self.rest.push(' ');
                }
                let _ = write!(self.rest, "{name}={value}");
            }
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn capture_while(f: impl FnOnce()) -> Capture {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        tracing::subscriber::with_default(subscriber, f);
        capture
    }

    #[test]
    fn keeps_the_lines_of_each_request_apart() {
        let capture = capture_while(|| {
            tracing::info!(target: "plugin", app = "hello", request_id = "r1", "Ann said hello");
            tracing::warn!(request_id = "r2", ms = 3, "slow");
            tracing::info!("no request: not kept");
        });
        let (lines, dropped) = capture.lines("r1");
        assert_eq!(dropped, 0);
        assert_eq!(
            lines,
            [LogLine {
                level: "INFO".into(),
                target: "plugin".into(),
                message: "Ann said hello".into()
            }]
        );
        assert_eq!(capture.lines("r2").0[0].message, "slow ms=3");
        assert_eq!(capture.lines("r2").0[0].level, "WARN");
        assert!(capture.lines("r3").0.is_empty());
    }

    #[test]
    fn is_bounded_in_requests_and_lines() {
        let capture = capture_while(|| {
            for i in 0..MAX_REQUESTS + 10 {
                tracing::info!(request_id = %format!("r{i}"), "line");
            }
            for _ in 0..MAX_LINES + 5 {
                tracing::info!(request_id = "busy", "again");
            }
        });
        // The oldest requests are gone, the newest are there.
        assert!(capture.lines("r0").0.is_empty());
        assert_eq!(capture.lines(&format!("r{}", MAX_REQUESTS + 9)).0.len(), 1);
        let (lines, dropped) = capture.lines("busy");
        assert_eq!((lines.len(), dropped), (MAX_LINES, 5));
        assert!(capture.inner.lock().unwrap().order.len() <= MAX_REQUESTS);
    }
}
