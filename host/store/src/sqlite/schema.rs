//! The migrations this backend embeds, and the version a database is at.

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;

use crate::Result;
use crate::error::db;
use crate::schema::SchemaVersion;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The newest migration recorded in the database, against [`MIGRATOR`]'s newest.
pub async fn version(pool: &SqlitePool) -> Result<SchemaVersion> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(pool)
    .await
    .map_err(db("reading the schema version"))?;
    let found = if exists {
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(pool)
            .await
            .map_err(db("reading the schema version"))?
    } else {
        None
    };
    Ok(SchemaVersion::of(found, &MIGRATOR))
}
