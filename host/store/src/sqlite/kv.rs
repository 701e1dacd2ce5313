//! The plugins' key-value stores: a read, and applying the writes of a settle batch's
//! completions inside its transaction.

use sqlx::{SqliteConnection, SqlitePool};

use super::batch::for_chunks;
use crate::Result;
use crate::error::db;
use crate::model::*;

pub async fn get(pool: &SqlitePool, plugin: &str, key: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM plugin_kv WHERE plugin = ? AND key = ?")
        .bind(plugin)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a plugin's key-value store"))
}

/// Costs nothing when no completion wrote a key, one statement per kind of write when
/// some did.
pub async fn apply(conn: &mut SqliteConnection, completed: &[&Settlement]) -> Result<()> {
    let (set, removed) = final_kv_writes(completed);
    for_chunks(
        conn,
        "writing plugins' key-value stores",
        &set,
        "INSERT INTO plugin_kv (plugin, key, value, updated_at) ",
        " ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, \
         updated_at = excluded.updated_at",
        |row, (plugin, key, value, at)| {
            row.push_bind(*plugin)
                .push_bind(*key)
                .push_bind(*value)
                .push_bind(*at);
        },
    )
    .await?;
    for_chunks(
        conn,
        "removing keys from plugins' key-value stores",
        &removed,
        "DELETE FROM plugin_kv WHERE (plugin, key) IN (",
        ")",
        |row, (plugin, key)| {
            row.push_bind(*plugin).push_bind(*key);
        },
    )
    .await
}
