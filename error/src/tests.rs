use std::borrow::Cow;

use super::{Hint, Hinted, chain, find_hint};
use crate::hint_of;

#[derive(Debug, thiserror::Error)]
enum Outer {
    #[error("cannot read the repo")]
    Repo(#[source] Inner),
    #[error("the store failed")]
    Store(#[source] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("no branch `{0}`")]
struct Inner(String);

impl Hint for Inner {
    fn hint(&self) -> Option<Cow<'_, str>> {
        Some(format!("push `{}` first", self.0).into())
    }
}

impl Hint for Outer {
    fn hint(&self) -> Option<Cow<'_, str>> {
        None
    }
}

fn hint(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    find_hint(err, |e| hint_of!(e; Outer, Inner))
}

#[test]
fn chain_is_one_line_outermost_first() {
    let err = Outer::Repo(Inner("main".into()));
    assert_eq!(chain(&err), "cannot read the repo: no branch `main`");
    let err = Outer::Store(std::io::Error::other("disk full"));
    assert_eq!(chain(&err), "the store failed: disk full");
}

#[test]
fn the_hint_is_found_where_it_is_in_the_chain() {
    // Outer has none: the cause's hint is the chain's.
    assert_eq!(hint(&Outer::Repo(Inner("main".into()))).as_deref(), Some("push `main` first"));
    assert_eq!(hint(&Outer::Store(std::io::Error::other("disk full"))), None);
    // A type the caller does not name has no hint, even when it implements `Hint`.
    assert_eq!(find_hint(&Inner("x".into()), |e| hint_of!(e; Outer)), None);
    // `Hinted` is always asked, and it is no part of the message.
    let err = Hinted::new("environment `qa` does not exist", "known environments: `dev`, `prod`");
    assert_eq!(
        (err.to_string().as_str(), hint(&err).as_deref()),
        ("environment `qa` does not exist", Some("known environments: `dev`, `prod`"))
    );
}

#[test]
fn hints_cross_anyhow_like_wrappers() {
    // A boxed error in the chain, as `anyhow` and `#[source] Box<dyn Error>` hold them.
    #[derive(Debug, thiserror::Error)]
    #[error("command failed")]
    struct Wrapper(#[source] Box<dyn std::error::Error + Send + Sync>);
    let err = Wrapper(Box::new(Outer::Repo(Inner("dev".into()))));
    assert_eq!(hint(&err).as_deref(), Some("push `dev` first"));
    assert_eq!(chain(&err), "command failed: cannot read the repo: no branch `dev`");
}
