//! Enqueueing one job, as `jobhost enqueue` and `POST /jobs` both do it: what the job
//! type requires (its payload schema, default attempts and unique-key fields, from the
//! database or the plugins), the unique-key rule, the one store write, and bulk writes in
//! batches.

use jobhost_runtime::{PayloadSchema, Registry, unique_key_from};
use jobhost_store::{Micros, NewJob, Store, StoreError};
use serde::Serialize;

use crate::config::DEFAULT_MAX_ATTEMPTS;

/// Longest unique key, in bytes.
pub const MAX_UNIQUE_KEY: usize = 512;

/// A unique key, checked: 1 to [`MAX_UNIQUE_KEY`] bytes.
pub fn parse_unique_key(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > MAX_UNIQUE_KEY {
        return Err(format!(
            "a unique key must be 1 to {MAX_UNIQUE_KEY} bytes long; this one is {}",
            text.len()
        ));
    }
    Ok(text.to_string())
}

/// What a plugin declares about a job type: its schema's text, default attempts and the
/// payload fields that make its default unique key.
#[derive(Debug, Clone, Default)]
pub struct TypeFacts {
    pub payload_schema: Option<String>,
    pub max_attempts: Option<u32>,
    pub unique_key_fields: Vec<String>,
}

/// The facts a daemon recorded in the database when it loaded the type's plugin.
pub async fn recorded_facts(
    store: &dyn Store,
    job_type: &str,
) -> Result<Option<TypeFacts>, StoreError> {
    Ok(store.job_type(job_type).await?.map(|record| TypeFacts {
        payload_schema: record.payload_schema,
        max_attempts: record.max_attempts,
        unique_key_fields: record.unique_key_fields,
    }))
}

/// The facts of a loaded registry (a daemon's, or one the CLI loads from the directory).
pub fn registry_facts(registry: &Registry, job_type: &str) -> Option<TypeFacts> {
    let plugin = registry.get(job_type)?;
    plugin.job_type(job_type).map(|t| TypeFacts {
        payload_schema: t.payload_schema.as_ref().map(|s| s.schema().to_string()),
        max_attempts: t.max_attempts,
        unique_key_fields: t.unique_key_fields.clone(),
    })
}

/// What a job of a type must satisfy.
pub struct TypeRules {
    pub schema: Option<PayloadSchema>,
    pub default_max_attempts: u32,
    /// Payload fields whose values make the unique key when the enqueue gives none.
    pub unique_key_fields: Vec<String>,
    /// Whether any plugin declares the type. An unknown type's job waits, and is
    /// dead-lettered as job_not_found if no plugin handles it when it runs.
    pub known: bool,
}

impl TypeRules {
    /// The rules from the facts, if any were found; an unusable schema is an error.
    pub fn from_facts(job_type: &str, facts: Option<TypeFacts>) -> Result<TypeRules, String> {
        let known = facts.is_some();
        let facts = facts.unwrap_or_default();
        let schema = match facts.payload_schema {
            Some(text) => Some(
                PayloadSchema::parse(&text)
                    .map_err(|e| format!("the schema of job type {job_type:?} is unusable: {e}"))?,
            ),
            None => None,
        };
        Ok(TypeRules {
            schema,
            default_max_attempts: facts.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            unique_key_fields: facts.unique_key_fields,
            known,
        })
    }

    /// The unique key a job goes in with: the one given, else the one the type's
    /// unique-key fields make of the payload, else none.
    pub fn unique_key(
        &self,
        job_type: &str,
        given: Option<&str>,
        payload: &str,
    ) -> Result<Option<String>, String> {
        if let Some(key) = given {
            return Ok(Some(key.to_string()));
        }
        let Ok(payload) = serde_json::from_str(payload) else {
            return Ok(None);
        };
        match unique_key_from(&self.unique_key_fields, &payload) {
            Some(key) => parse_unique_key(&key).map(Some).map_err(|e| {
                format!(
                    "the unique key the fields {:?} of job type {job_type:?} make is unusable: {e}",
                    self.unique_key_fields
                )
            }),
            None => Ok(None),
        }
    }
}

/// How a job is kept unique: its key, and how long the key stays reserved after the job
/// completes (`None`: only while it is pending or running).
#[derive(Debug, Clone, Default)]
pub struct Uniqueness {
    pub key: Option<String>,
    pub keep_for: Option<Micros>,
}

impl Uniqueness {
    /// A window needs a key to keep; a job that waits on others (`after`) cannot be
    /// unique, not even by its type's default key.
    pub fn new(
        job_type: &str,
        key: Option<String>,
        keep_for: Option<Micros>,
        waits: bool,
    ) -> Result<Self, String> {
        if waits && key.is_some() {
            return Err(format!(
                "a job that waits on others cannot have a unique key (job type {job_type:?} \
                 may make one of payload fields); nothing was enqueued"
            ));
        }
        if keep_for.is_some() && key.is_none() {
            return Err(format!(
                "a unique window keeps a unique key reserved: give a unique key (job type \
                 {job_type:?} declares no unique-key fields); nothing was enqueued"
            ));
        }
        Ok(Uniqueness { key, keep_for })
    }
}

/// What an enqueue did: the job's id, and whether it was created (`false`: a job with
/// the same unique key was pending or running, and this is its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    pub id: String,
    pub created: bool,
}

/// Stores one checked job, in one transaction; with a unique key, only if no job of
/// its type with that key is pending or running (or completed within the window).
pub async fn store_job(
    store: &dyn Store,
    job: &NewJob,
    unique: &Uniqueness,
) -> Result<Enqueued, StoreError> {
    match &unique.key {
        Some(key) => {
            let outcome = store.enqueue_unique(job, key, unique.keep_for).await?;
            Ok(Enqueued {
                id: outcome.id,
                created: outcome.created,
            })
        }
        None => {
            store.enqueue(std::slice::from_ref(job)).await?;
            Ok(Enqueued {
                id: job.id.clone(),
                created: true,
            })
        }
    }
}

/// Jobs written per transaction by a bulk enqueue.
pub const BULK_BATCH: usize = 1000;

/// Why a bulk enqueue stopped.
#[derive(Debug, thiserror::Error)]
pub enum BulkError<E> {
    /// A job could not be had (the CLI's second read of its file failed).
    #[error("{source}: the first {written} jobs were enqueued, the ones after them were not")]
    Job { written: usize, source: E },
    #[error(
        "storing a batch of jobs: {source}: the first {written} jobs were enqueued, the ones \
         after them were not"
    )]
    Store { written: usize, source: StoreError },
}

/// Writes already-checked jobs [`BULK_BATCH`] to a transaction, calling `on_batch` with
/// each batch's size; returns how many were written.
pub async fn store_in_batches<E>(
    store: &dyn Store,
    jobs: impl Iterator<Item = Result<NewJob, E>>,
    mut on_batch: impl FnMut(usize),
) -> Result<usize, BulkError<E>> {
    let mut batch = Vec::with_capacity(BULK_BATCH);
    let mut written = 0;
    let mut jobs = jobs.peekable();
    while let Some(job) = jobs.next() {
        batch.push(job.map_err(|source| BulkError::Job { written, source })?);
        if batch.len() == BULK_BATCH || jobs.peek().is_none() {
            store
                .enqueue(&batch)
                .await
                .map_err(|source| BulkError::Store { written, source })?;
            written += batch.len();
            on_batch(batch.len());
            batch.clear();
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_keys_are_bounded() {
        assert!(parse_unique_key("").is_err());
        assert!(parse_unique_key(&"k".repeat(MAX_UNIQUE_KEY + 1)).is_err());
        assert_eq!(parse_unique_key("order-1").unwrap(), "order-1");
    }

    #[test]
    fn unknown_types_get_the_host_defaults() {
        let rules = TypeRules::from_facts("x", None).unwrap();
        assert!(!rules.known && rules.schema.is_none());
        assert_eq!(rules.default_max_attempts, DEFAULT_MAX_ATTEMPTS);
        let bad = TypeFacts {
            payload_schema: Some("not json".into()),
            max_attempts: Some(2),
            unique_key_fields: Vec::new(),
        };
        let Err(problem) = TypeRules::from_facts("x", Some(bad)) else {
            panic!("an unusable schema was taken")
        };
        assert!(problem.contains("unusable"), "{problem}");
    }
}
