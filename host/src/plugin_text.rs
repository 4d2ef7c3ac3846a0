//! Text a plugin chose, made safe to log.
//!
//! A plugin's log messages, its error strings and what its invalid replies
//! held are written by code the operator does not control. Before any of it
//! reaches the host's log it is:
//!
//! - **escaped**: control characters (newlines included), Unicode line
//!   separators and bidirectional overrides are written as `\n`, `\u{1b}`,
//!   ..., so a plugin cannot start a line of its own or forge another's;
//! - **bounded**: at most [`MAX_TEXT_BYTES`] of it, marked as cut;
//! - **budgeted**: each event has one [`LogBudget`] for all of its plugin
//!   text (log lines, its error, its reply's faults), charged per line.

use std::fmt;
use std::sync::Mutex;

/// The most of one plugin-chosen string that reaches the log.
pub const MAX_TEXT_BYTES: usize = 2 * 1024;
/// Bytes of plugin text one event may log, lines' fixed cost included.
pub const LOG_BUDGET_BYTES: usize = 16 * 1024;
/// What every line costs the budget besides its text: an empty message
/// still makes a line (timestamp, level, app, company, request id).
pub const LINE_COST_BYTES: usize = 128;
/// Lines of plugin text one event may log, however short.
pub const MAX_LINES: usize = 100;

/// A plugin-chosen string. It displays escaped and cut to [`MAX_TEXT_BYTES`];
/// the raw text is never formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct PluginText(String);

impl PluginText {
    pub fn new(text: impl Into<String>) -> Self {
        PluginText(text.into())
    }

    /// The raw text, for a caller that hands it back to the plugin's author
    /// (never to the log).
    pub fn raw(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.0, MAX_TEXT_BYTES)
    }
}

impl fmt::Debug for PluginText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PluginText(\"{self}\")")
    }
}

/// Writes `text` escaped, stopping once `max` bytes of output are written,
/// then says how much was cut.
fn write_escaped(out: &mut impl fmt::Write, text: &str, max: usize) -> fmt::Result {
    let mut written = 0;
    for (at, c) in text.char_indices() {
        let mut buffer = [0u8; 4];
        let escaped;
        let piece: &str = if needs_escape(c) {
            escaped = match c {
                '\n' => "\\n".to_owned(),
                '\r' => "\\r".to_owned(),
                '\t' => "\\t".to_owned(),
                c => format!("\\u{{{:x}}}", c as u32),
            };
            &escaped
        } else {
            c.encode_utf8(&mut buffer)
        };
        if written + piece.len() > max {
            return write!(out, "… [cut: {} more bytes]", text.len() - at);
        }
        out.write_str(piece)?;
        written += piece.len();
    }
    Ok(())
}

/// Characters that could end a log line, hide text or reorder it on screen.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}'                 // line and paragraph separators
            | '\u{200e}' | '\u{200f}'               // directional marks
            | '\u{202a}'..='\u{202e}'               // bidirectional embeddings, overrides
            | '\u{2066}'..='\u{2069}'               // bidirectional isolates
        )
}

/// What one event may still log of its plugin's text.
#[derive(Debug)]
pub struct LogBudget {
    state: Mutex<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    bytes_left: usize,
    lines_left: usize,
    dropped: usize,
}

/// The answer of [`LogBudget::charge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Log the line.
    Granted,
    /// The budget just ran out with this line: drop it and say so once.
    FirstDropped,
    /// The budget ran out earlier: drop it silently.
    Dropped,
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget {
            state: Mutex::new(BudgetState {
                bytes_left: LOG_BUDGET_BYTES,
                lines_left: MAX_LINES,
                dropped: 0,
            }),
        }
    }
}

impl LogBudget {
    /// Charges one line holding `text` (as it will be logged: escaped, cut).
    pub fn charge(&self, text: &PluginText) -> Charge {
        let cost = LINE_COST_BYTES + logged_len(text);
        let mut state = self.state.lock().expect("log budget lock");
        if state.lines_left > 0 && state.bytes_left >= cost {
            state.lines_left -= 1;
            state.bytes_left -= cost;
            return Charge::Granted;
        }
        state.dropped += 1;
        match state.dropped {
            1 => Charge::FirstDropped,
            _ => Charge::Dropped,
        }
    }

    /// `text` if the budget still allows a line of it, else a note saying
    /// the plugin's text was dropped: for the host's own lines that carry
    /// plugin text (an event's failure), which are always written.
    pub fn admit(&self, text: PluginText) -> PluginText {
        match self.charge(&text) {
            Charge::Granted => text,
            Charge::FirstDropped | Charge::Dropped => PluginText::new(format!(
                "[{} bytes of plugin text dropped: the event's log budget is used up]",
                text.raw().len()
            )),
        }
    }

    /// Lines dropped because the budget ran out.
    pub fn dropped(&self) -> usize {
        self.state.lock().expect("log budget lock").dropped
    }
}

/// The length of `text` as the log shows it.
fn logged_len(text: &PluginText) -> usize {
    struct Count(usize);
    impl fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = write_escaped(&mut count, text.raw(), MAX_TEXT_BYTES);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        PluginText::new(text).to_string()
    }

    #[test]
    fn control_characters_and_separators_are_escaped() {
        assert_eq!(
            shown("ok\nINFO keruj_host::dispatch: installed app=\"victim\""),
            "ok\\nINFO keruj_host::dispatch: installed app=\"victim\""
        );
        assert_eq!(shown("a\r\tb\u{1b}[31m"), "a\\r\\tb\\u{1b}[31m");
        assert_eq!(
            shown("x\u{2028}y\u{202e}z\u{85}"),
            "x\\u{2028}y\\u{202e}z\\u{85}"
        );
        assert_eq!(shown("привіт, світ"), "привіт, світ");
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        let long = "é".repeat(MAX_TEXT_BYTES);
        let out = shown(&long);
        assert!(out.len() <= MAX_TEXT_BYTES + 40, "{}", out.len());
        assert!(out.ends_with(&format!("… [cut: {} more bytes]", MAX_TEXT_BYTES)));
        // Escapes count as what they become: the bound holds for the output.
        let out = shown(&"\n".repeat(MAX_TEXT_BYTES));
        assert!(out.starts_with("\\n\\n") && out.len() <= MAX_TEXT_BYTES + 40);
    }

    #[test]
    fn empty_lines_are_charged_and_capped() {
        let budget = LogBudget::default();
        let empty = PluginText::new("");
        let granted = (0..10_000)
            .filter(|_| budget.charge(&empty) == Charge::Granted)
            .count();
        assert_eq!(granted, MAX_LINES.min(LOG_BUDGET_BYTES / LINE_COST_BYTES));
        assert_eq!(budget.dropped(), 10_000 - granted);
    }

    #[test]
    fn bytes_are_charged_and_the_first_drop_is_told() {
        let budget = LogBudget::default();
        let line = PluginText::new("x".repeat(MAX_TEXT_BYTES));
        let fits = LOG_BUDGET_BYTES / (MAX_TEXT_BYTES + LINE_COST_BYTES);
        for _ in 0..fits {
            assert_eq!(budget.charge(&line), Charge::Granted);
        }
        assert_eq!(budget.charge(&line), Charge::FirstDropped);
        assert_eq!(budget.charge(&line), Charge::Dropped);
        // Shorter lines still fit in what is left, until nothing is.
        let short = PluginText::new("secret plan");
        assert_eq!(budget.charge(&short), Charge::Granted);
        while budget.charge(&short) == Charge::Granted {}
        let admitted = budget.admit(short);
        assert!(admitted.raw().contains("dropped"), "{admitted}");
        assert!(!admitted.raw().contains("secret plan"));
    }
}
