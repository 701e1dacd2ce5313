//! Plugin records: every load (or failed load) a daemon reports, with the job types it
//! declared, kept as history. The CLI reads them to validate payloads and list plugins
//! without loading components itself.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::Result;
use crate::error::db;
use crate::model::*;

pub async fn record_plugin(conn: &mut SqliteConnection, p: &PluginRecord) -> Result<()> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO plugins (digest, file, name, version, loaded_at, error) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(&p.digest)
    .bind(&p.file)
    .bind(&p.name)
    .bind(&p.version)
    .bind(p.loaded_at)
    .bind(&p.error)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("recording a plugin"))?;
    for t in &p.job_types {
        sqlx::query(
            "INSERT INTO job_types (plugin_seq, name, payload_schema, max_attempts, \
             unique_key_fields) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(&t.name)
        .bind(&t.payload_schema)
        .bind(t.max_attempts.map(i64::from))
        .bind(crate::model::fields_json(&t.unique_key_fields))
        .execute(&mut *conn)
        .await
        .map_err(db("recording a job type"))?;
    }
    Ok(())
}

/// The job type's columns, with the digest of the plugin load that declared it.
const JOB_TYPE_COLUMNS: &str = "job_types.name, plugins.digest AS plugin_digest, job_types.payload_schema, job_types.max_attempts, job_types.unique_key_fields";

fn job_type_row(row: &SqliteRow) -> Result<JobTypeRecord> {
    let read = || db("reading a job type");
    Ok(JobTypeRecord {
        name: row.try_get("name").map_err(read())?,
        plugin_digest: row.try_get("plugin_digest").map_err(read())?,
        payload_schema: row.try_get("payload_schema").map_err(read())?,
        max_attempts: row
            .try_get::<Option<i64>, _>("max_attempts")
            .map_err(read())?
            .map(|n| n as u32),
        unique_key_fields: crate::model::fields_of(
            row.try_get("unique_key_fields").map_err(read())?,
        ),
    })
}

/// The type as the newest good load of a plugin declaring it has it.
pub async fn job_type(pool: &SqlitePool, name: &str) -> Result<Option<JobTypeRecord>> {
    let sql = format!(
        "SELECT {JOB_TYPE_COLUMNS} FROM job_types JOIN plugins ON plugins.seq = job_types.plugin_seq \
         WHERE job_types.name = ? AND plugins.error IS NULL \
         ORDER BY plugins.loaded_at DESC, plugins.seq DESC LIMIT 1"
    );
    let row = sqlx::query(&sql)
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(db("looking up a job type"))?;
    row.as_ref().map(job_type_row).transpose()
}

/// Every recorded load, newest first.
pub async fn list_plugins(pool: &SqlitePool) -> Result<Vec<PluginRecord>> {
    let sql = format!(
        "SELECT job_types.plugin_seq, {JOB_TYPE_COLUMNS} FROM job_types \
         JOIN plugins ON plugins.seq = job_types.plugin_seq ORDER BY job_types.name"
    );
    let types = sqlx::query(&sql)
        .fetch_all(pool)
        .await
        .map_err(db("listing job types"))?;
    let mut by_load: HashMap<i64, Vec<JobTypeRecord>> = HashMap::new();
    for row in &types {
        let seq: i64 = row.try_get("plugin_seq").map_err(db("listing job types"))?;
        by_load.entry(seq).or_default().push(job_type_row(row)?);
    }

    let loads = sqlx::query(
        "SELECT seq, digest, file, name, version, loaded_at, retired_at, error FROM plugins \
         ORDER BY loaded_at DESC, seq DESC",
    )
    .fetch_all(pool)
    .await
    .map_err(db("listing plugins"))?;
    loads
        .iter()
        .map(|row| {
            let read = || db("reading a plugin");
            let seq: i64 = row.try_get("seq").map_err(read())?;
            Ok(PluginRecord {
                digest: row.try_get("digest").map_err(read())?,
                file: row.try_get("file").map_err(read())?,
                name: row.try_get("name").map_err(read())?,
                version: row.try_get("version").map_err(read())?,
                loaded_at: row.try_get("loaded_at").map_err(read())?,
                retired_at: row.try_get("retired_at").map_err(read())?,
                error: row.try_get("error").map_err(read())?,
                job_types: by_load.remove(&seq).unwrap_or_default(),
            })
        })
        .collect()
}

/// Marks the serving loads of this file and digest as retired from `at`.
pub async fn retire_plugin(pool: &SqlitePool, file: &str, digest: &str, at: Micros) -> Result<()> {
    sqlx::query(
        "UPDATE plugins SET retired_at = ?3 WHERE file = ?1 AND digest = ?2 \
         AND error IS NULL AND retired_at IS NULL",
    )
    .bind(file)
    .bind(digest)
    .bind(at)
    .execute(pool)
    .await
    .map_err(db("retiring a plugin version"))?;
    Ok(())
}
