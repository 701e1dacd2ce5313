//! The plugins' key-value stores: a read, and applying the writes of a settle batch's
//! completions inside its transaction.

use sqlx::{PgConnection, PgPool};

use super::batch_query;
use crate::Result;
use crate::error::db;
use crate::model::*;

pub async fn get(pool: &PgPool, plugin: &str, key: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM plugin_kv WHERE plugin = $1 AND key = $2")
        .bind(plugin)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a plugin's key-value store"))
}

/// Costs nothing when no completion wrote a key, one statement per kind of write when
/// some did.
pub async fn apply(conn: &mut PgConnection, completed: &[&Settlement]) -> Result<()> {
    let (set, removed) = final_kv_writes(completed);
    if !set.is_empty() {
        sqlx::query(
            "INSERT INTO plugin_kv (plugin, key, value, updated_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[]) \
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
        )
        .bind(set.iter().map(|w| w.0).collect::<Vec<_>>())
        .bind(set.iter().map(|w| w.1).collect::<Vec<_>>())
        .bind(set.iter().map(|w| w.2).collect::<Vec<_>>())
        .bind(set.iter().map(|w| w.3).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(db("writing plugins' key-value stores"))?;
    }
    if !removed.is_empty() {
        batch_query(
            "DELETE FROM plugin_kv USING UNNEST($1::text[], $2::text[]) AS r (plugin, key) \
             WHERE plugin_kv.plugin = r.plugin AND plugin_kv.key = r.key",
        )
        .bind(removed.iter().map(|w| w.0).collect::<Vec<_>>())
        .bind(removed.iter().map(|w| w.1).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(db("removing keys from plugins' key-value stores"))?;
    }
    Ok(())
}
