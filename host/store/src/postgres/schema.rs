//! The migrations this backend embeds, and the version a database is at.

use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::Result;
use crate::error::db;
use crate::schema::SchemaVersion;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The newest migration recorded in the database (in the connection's search path,
/// where the migrator writes), against [`MIGRATOR`]'s newest.
pub async fn version(pool: &PgPool) -> Result<SchemaVersion> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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
