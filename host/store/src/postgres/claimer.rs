//! The connection a daemon claims through: one of its own, outside the pool, on which
//! commits do not wait for the WAL flush (`synchronous_commit = off` for the session).
//!
//! So the plain claim is one statement in one round trip, on its own transaction: an
//! idle daemon woken by a notification starts the job after that round trip alone.
//! Through the pool it took four (the pool's ping of an idle connection, `BEGIN`, the
//! claim, `COMMIT`), each waking both ends on this machine.
//!
//! Not waiting for the flush is safe for a claim: should the server crash and lose it,
//! the jobs are pending again, as if never claimed, and at worst run twice, which
//! at-least-once allows (their settlements find them not held and are skipped). The
//! settlement's own commit, which waits, flushes the claim first, so a job recorded
//! completed was durably claimed.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::Mutex;

use super::{jobs, limits};
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::{Claim, ClaimParams, in_claim_order};

pub struct Claimer {
    options: PgConnectOptions,
    connect_timeout: Duration,
    /// Empty until the first claim, and after a claim that failed (or was dropped part
    /// way): a connection in an unknown state is closed, never reused.
    connection: Mutex<Option<PgConnection>>,
}

impl Claimer {
    pub fn new(options: PgConnectOptions, connect_timeout: Duration) -> Claimer {
        Claimer {
            options: options.options([("synchronous_commit", "off")]),
            connect_timeout,
            connection: Mutex::new(None),
        }
    }

    /// Claims up to `params.limit` due jobs: the plain claim, and when it takes
    /// nothing, the limited one.
    pub async fn claim(&self, params: &ClaimParams) -> Result<Claim> {
        let mut slot = self.connection.lock().await;
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let claimed = claim_on(&mut conn, params).await?;
        *slot = Some(conn);
        Ok(claimed)
    }

    /// Closes the claiming connection, if open, telling the server.
    pub async fn close(&self) {
        if let Some(conn) = self.connection.lock().await.take() {
            // A connection that cannot say goodbye is gone already.
            let _ = conn.close().await;
        }
    }

    async fn connect(&self) -> Result<PgConnection> {
        let context = "opening the connection that claims jobs";
        match tokio::time::timeout(
            self.connect_timeout,
            PgConnection::connect_with(&self.options),
        )
        .await
        {
            Ok(conn) => conn.map_err(db(context)),
            Err(_) => Err(StoreError::Database {
                context,
                source: sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {:?}", self.connect_timeout),
                )),
            }),
        }
    }
}

async fn claim_on(conn: &mut PgConnection, params: &ClaimParams) -> Result<Claim> {
    let plain = jobs::claim(conn, params).await?;
    if !plain.held_back || params.limit == 0 {
        return Ok(plain);
    }
    // A limit applies to one of the next jobs: then the limited claim decides (the
    // plain claim, having taken nothing, changed nothing).
    let mut claimed = limits::claim_limited(conn, params).await?;
    in_claim_order(&mut claimed.jobs);
    Ok(claimed)
}
