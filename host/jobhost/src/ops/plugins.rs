//! What the plugins are, as JSON for `jobhost --json plugins list` and `GET /plugins`:
//! each loaded plugin with its job types, and the version history daemons recorded.

use jobhost_runtime::Plugin;
use jobhost_store::{Micros, PluginRecord};
use serde_json::{Value, json};

/// One loaded plugin: file, name, version, digest, size, job types.
pub fn loaded_json(plugin: &Plugin) -> Value {
    json!({
        "file": plugin.file_name(), "name": plugin.name(), "version": plugin.version(),
        "digest": plugin.digest(), "size_bytes": plugin.size_bytes(),
        "job_types": job_types_json(plugin),
    })
}

pub fn job_types_json(plugin: &Plugin) -> Vec<Value> {
    plugin
        .job_types()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "payload_schema": t.payload_schema.as_ref().map(|s| s.schema()),
                "limits": t.limits,
                "max_attempts": t.max_attempts,
                "rate_per_minute": t.rate_per_minute,
                "concurrency": t.concurrency,
                "unique_key_fields": t.unique_key_fields,
                "batch_size": t.batch_size,
            })
        })
        .collect()
}

/// One version of one file, as daemons recorded its loads.
#[derive(Debug, serde::Serialize)]
pub struct Version<'a> {
    pub file: &'a str,
    pub digest: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub first_loaded_at: Micros,
    /// When its last serving load was retired; `None` while some daemon serves it.
    pub retired_at: Option<Micros>,
    pub error: Option<&'a str>,
}

/// Folds the load records (one per daemon start) into one row per file and digest,
/// newest first within a file. A version serves while any good load of it is not
/// retired; otherwise it was retired when its last load was.
pub fn versions(records: &[PluginRecord]) -> Vec<Version<'_>> {
    let mut rows: Vec<Version> = Vec::new();
    for r in records {
        let same = |v: &&mut Version| v.file == r.file && v.digest == r.digest;
        let Some(row) = rows.iter_mut().find(same) else {
            rows.push(Version {
                file: &r.file,
                digest: &r.digest,
                name: &r.name,
                version: &r.version,
                first_loaded_at: r.loaded_at,
                retired_at: r.retired_at,
                error: r.error.as_deref(),
            });
            continue;
        };
        row.first_loaded_at = row.first_loaded_at.min(r.loaded_at);
        if r.error.is_none() {
            row.retired_at = match (row.error.take(), row.retired_at, r.retired_at) {
                (Some(_), _, retired) => retired,
                (None, Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
    }
    rows.sort_by(|a, b| {
        a.file
            .cmp(b.file)
            .then(b.first_loaded_at.cmp(&a.first_loaded_at))
    });
    rows
}
