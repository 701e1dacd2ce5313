//! Schema versions: which migrations a database has applied, against the ones this
//! build embeds. A build never runs against a database migrated by a newer one (its
//! queries could miss columns it does not know are required, or write rows the newer
//! build reads wrongly): [`SchemaVersion::refuse_newer`] says so and what to do.

use serde::Serialize;
use sqlx::migrate::Migrator;

use crate::{Result, StoreError};

/// Which migrations a database has, against the ones this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SchemaVersion {
    /// The newest migration applied to the database; `None` for a database no jobhost
    /// ever migrated.
    pub found: Option<i64>,
    /// The newest migration this build knows.
    pub known: i64,
}

impl SchemaVersion {
    /// The version of a database whose newest applied migration is `found`.
    pub(crate) fn of(found: Option<i64>, migrator: &Migrator) -> SchemaVersion {
        SchemaVersion {
            found,
            known: migrator.iter().map(|m| m.version).max().unwrap_or(0),
        }
    }

    /// Whether the database is fully migrated for this build.
    pub fn is_current(&self) -> bool {
        self.found == Some(self.known)
    }

    /// [`StoreError::SchemaTooNew`] when a newer build migrated the database.
    pub fn refuse_newer(&self) -> Result<()> {
        match self.found {
            Some(found) if found > self.known => Err(StoreError::SchemaTooNew {
                found,
                known: self.known,
            }),
            _ => Ok(()),
        }
    }
}
