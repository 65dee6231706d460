//! Following the audit trail from another process: [`Store::watch_head`] resolves when the head
//! moves, through PostgreSQL's LISTEN/NOTIFY (migration 0006 announces each move on
//! `tollgate_audit`), or by polling the head on SQLite.

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::{Backend, Store, StoreError, query_err};

/// The NOTIFY channel of head moves.
const CHANNEL: &str = "tollgate_audit";

/// Waits for the audit trail's head to move ([`Store::watch_head`]). On PostgreSQL it holds one
/// of the store's connections while it lives ([`Store::close`] waits for it to be dropped).
#[derive(Debug)]
pub struct HeadWatch {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Listen(Box<PgListener>),
    Poll { store: Store, last: u64, every: Duration },
}

impl Store {
    /// A watch of the head, from its size now. On SQLite the head is read every `poll`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`] when the listener cannot connect or the head cannot be read.
    pub async fn watch_head(&self, poll: Duration) -> Result<HeadWatch, StoreError> {
        let inner = match &self.backend {
            Backend::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await.map_err(query_err("listen for audit head moves"))?;
                listener.listen(CHANNEL).await.map_err(query_err("listen for audit head moves"))?;
                Inner::Listen(Box::new(listener))
            }
            Backend::Sqlite(_) => Inner::Poll { store: self.clone(), last: self.head().await?.size, every: poll },
        };
        Ok(HeadWatch { inner })
    }
}

impl HeadWatch {
    /// Resolves with the head's new size once it moved. (On PostgreSQL a lost connection is
    /// re-established by the next call, and moves made meanwhile are announced by none: a caller
    /// that must not miss one re-reads what it follows after an error.)
    ///
    /// # Errors
    ///
    /// [`StoreError::Query`].
    pub async fn changed(&mut self) -> Result<u64, StoreError> {
        match &mut self.inner {
            Inner::Listen(listener) => loop {
                let n = listener.recv().await.map_err(query_err("receive an audit head move"))?;
                if let Ok(size) = n.payload().parse() {
                    return Ok(size);
                }
            },
            Inner::Poll { store, last, every } => loop {
                tokio::time::sleep(*every).await;
                let size = store.head().await?.size;
                if size != *last {
                    *last = size;
                    return Ok(size);
                }
            },
        }
    }
}
