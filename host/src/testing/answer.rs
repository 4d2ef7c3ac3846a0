//! What Keruj would receive for one event, in the light harness's
//! [`Answer`] (the same type `keruj-test` returns).

use crate::dispatch::{DispatchError, Reply};
use keruj_test::Answer;

/// The dispatcher's result as Keruj reads it.
pub(crate) fn answer_of(result: Result<Reply, DispatchError>) -> Answer {
    match result {
        Ok(Reply::Done) => Answer::Done,
        Ok(Reply::Form(form)) => Answer::Form(form),
        Err(error) => Answer::Error {
            status: error.status(),
            message: error.public_message(),
        },
    }
}
