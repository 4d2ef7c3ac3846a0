//! What Keruj would receive for one event, typed.

use keruj_guest::form::Form;

use crate::dispatch::{DispatchError, Reply};

/// The host's answer to one event, as Keruj would read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200 with an empty body.
    Done,
    /// 200 with a form to show (already validated by the host).
    Form(Form),
    /// Anything else: the HTTP status and the error message Keruj gets.
    Error {
        /// 400, 409, 500, 503, 504...
        status: u16,
        /// The public message (the app's own words go to the log only).
        message: String,
    },
}

impl Answer {
    pub(crate) fn from_dispatch(result: Result<Reply, DispatchError>) -> Answer {
        match result {
            Ok(Reply::Done) => Answer::Done,
            Ok(Reply::Form(form)) => Answer::Form(form),
            Err(error) => Answer::Error {
                status: error.status(),
                message: error.public_message(),
            },
        }
    }

    /// The form; panics, saying what came instead, if it is not one.
    #[track_caller]
    pub fn expect_form(self) -> Form {
        match self {
            Answer::Form(form) => form,
            other => panic!("expected a form, got {other}"),
        }
    }

    /// Panics, saying what came instead, unless the answer is done.
    #[track_caller]
    pub fn expect_done(self) {
        if self != Answer::Done {
            panic!("expected done, got {self}");
        }
    }

    /// The status and message of an error; panics if the event succeeded.
    #[track_caller]
    pub fn expect_error(self) -> (u16, String) {
        match self {
            Answer::Error { status, message } => (status, message),
            other => panic!("expected an error, got {other}"),
        }
    }

    /// The HTTP status Keruj gets.
    pub fn status(&self) -> u16 {
        match self {
            Answer::Done | Answer::Form(_) => 200,
            Answer::Error { status, .. } => *status,
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Done => f.write_str("done (200, empty body)"),
            Answer::Form(form) => write!(f, "the form {}", form.to_json()),
            Answer::Error { status, message } => write!(f, "error {status}: {message}"),
        }
    }
}
