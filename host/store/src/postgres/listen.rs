//! Wake-ups by LISTEN/NOTIFY. Every transaction that makes work claimable (an enqueue,
//! follow-ups, a release, a replay, a rescue) calls `pg_notify` on [`CHANNEL`]; the
//! server delivers the notification when, and only if, it commits. A daemon listens on a
//! connection of its own and claims as soon as one arrives, instead of polling tightly.
//!
//! [`CHANNEL`]: super::CHANNEL

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::CLOSE_TIMEOUT;
use crate::Result;
use crate::error::db;

/// What a [`ChangeStream`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Another connection committed work that may be claimable now.
    Notified,
    /// The listening connection was lost and has been opened again. Notifications sent
    /// in between are lost: look for work as if notified.
    Reconnected,
}

/// Notifications that new work may be there, from a [`Store`](crate::Store) that can
/// push them (see [`Store::subscribe_changes`](crate::Store::subscribe_changes)).
pub struct ChangeStream {
    listener: PgListener,
    /// The pool of one the listener reopens its connection through.
    pool: PgPool,
}

impl ChangeStream {
    pub(super) fn new(listener: PgListener, pool: PgPool) -> ChangeStream {
        ChangeStream { listener, pool }
    }

    /// Stops listening and closes the connection, telling the server; gives up after
    /// [`CLOSE_TIMEOUT`], as closing the store does.
    pub async fn close(self) {
        // Dropping the listener UNLISTENs and hands its connection back to the pool,
        // on a task of its own; closing the pool waits for it, then says goodbye. Both
        // are round trips, which a server that is away never answers.
        drop(self.listener);
        if tokio::time::timeout(CLOSE_TIMEOUT, self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("the listening connection did not close within {CLOSE_TIMEOUT:?}");
        }
    }

    /// Waits for the next change. A burst of notifications that arrived together counts
    /// as one. An error means the connection is away and could not be opened again
    /// just now; the next call tries again.
    pub async fn next(&mut self) -> Result<Change> {
        match self.listener.try_recv().await {
            Ok(Some(_)) => {
                while self.listener.next_buffered().is_some() {}
                Ok(Change::Notified)
            }
            // `try_recv` reopens the connection (and LISTENs again) before it says so.
            Ok(None) => Ok(Change::Reconnected),
            Err(e) => Err(db("listening for new work")(e)),
        }
    }
}
