//! The error convention of every tollgate crate (issue #11), as uv keeps it:
//!
//! - An error's `Display` says what went wrong, lower-case, with values in backticks, and never
//!   what to do about it. Its causes are `#[source]`s, not text.
//! - What to do is its **hint**: data, given by [`Hint::hint`]. The CLI prints it on a
//!   `hint:` line under the error, the API returns it as `"hint"`, and a decision reason, a log
//!   line or a finding's message never carries it.
//! - [`chain`] is the one walker of a cause chain: the error and its causes on one line.
//!   [`find_hint`] walks the same chain for the outermost hint.
//!
//! `cargo xtask tidy` refuses a `#[error(...)]` attribute that mentions a hint.

use std::borrow::Cow;
use std::error::Error;

#[cfg(test)]
mod tests;

/// An error that can say what to do about it.
pub trait Hint: Error {
    /// What the person who met the error can do, when something can be said.
    fn hint(&self) -> Option<Cow<'_, str>>;
}

/// The error and its causes on one line, outermost first: `error: cause: cause`.
pub fn chain(err: &dyn Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The hint of the outermost link of `err`'s cause chain that has one. `hint_of` answers for
/// one link: the hinted error types its caller can see, downcast one by one (see
/// [`hint_of!`]); [`Hinted`] is always asked.
pub fn find_hint(err: &(dyn Error + 'static), hint_of: impl Fn(&(dyn Error + 'static)) -> Option<String>) -> Option<String> {
    let mut link = Some(err);
    while let Some(e) = link {
        if let Some(h) = e.downcast_ref::<Hinted>().map(|h| h.hint.clone()).or_else(|| hint_of(e)) {
            return Some(h);
        }
        link = e.source();
    }
    None
}

/// `hint_of!(err; TypeA, TypeB)`: the hint of `err` (a `&(dyn Error + 'static)`) when it is
/// one of these [`Hint`] types, else `None`.
#[macro_export]
macro_rules! hint_of {
    ($err:expr; $($t:ty),+ $(,)?) => {{
        let err: &(dyn ::std::error::Error + 'static) = $err;
        None$(.or_else(|| err.downcast_ref::<$t>().and_then(|e| $crate::Hint::hint(e)).map(|h| h.into_owned())))+
    }};
}

/// An error of one message and a hint, for a command's own refusals that have no type of their
/// own (an unknown environment named on the command line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    message: String,
    hint: String,
}

impl Hinted {
    /// The error `message`, and what to do about it.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted { message: message.into(), hint: hint.into() }
    }
}

impl Hint for Hinted {
    fn hint(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.hint))
    }
}
