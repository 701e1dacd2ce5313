//! What a new job must look like before it is stored: a known shape of name, a JSON
//! payload that satisfies its type's schema, sane options. Shared by the CLI, the
//! daemon (follow-ups) and, later, the HTTP API.

use std::time::Duration;

use jobhost_runtime::PayloadSchema;
use jobhost_store::{DEFAULT_QUEUE, Micros, NewJob, new_job_id};
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum EnqueueError {
    #[error("job type {0:?} is not a valid name: use letters, digits, `_`, `-` and `.`")]
    BadJobType(String),
    #[error("queue {0:?} is not a valid name: use letters, digits, `_`, `-` and `.`")]
    BadQueue(String),
    #[error("the payload is not valid JSON: {0}")]
    NotJson(String),
    #[error("the payload does not match the schema of job type {job_type:?}: {problems}")]
    SchemaMismatch { job_type: String, problems: String },
    #[error("max attempts must be at least 1")]
    NoAttempts,
}

/// A request to enqueue one job, before defaults are applied.
#[derive(Debug, Clone, Default)]
pub struct EnqueueRequest {
    pub job_type: String,
    /// The payload as the user gave it; must be a JSON document.
    pub payload: String,
    pub priority: i32,
    /// Wait this long before the job may start.
    pub delay: Option<Duration>,
    /// Do not start before this time; wins over `delay`.
    pub at: Option<Micros>,
    pub max_attempts: Option<u32>,
    pub queue: Option<String>,
    pub parent_id: Option<String>,
    /// Jobs the new one waits on: it starts only after every one of them completed.
    pub after: Vec<String>,
}

impl EnqueueRequest {
    /// Checks the request and builds the row to insert. `schema` is the job type's
    /// payload schema when one is known; `default_max_attempts` applies when the request
    /// does not say.
    pub fn into_new_job(
        self,
        schema: Option<&PayloadSchema>,
        default_max_attempts: u32,
        now: Micros,
    ) -> Result<NewJob, EnqueueError> {
        if !is_valid_name(&self.job_type) {
            return Err(EnqueueError::BadJobType(self.job_type));
        }
        let queue = self.queue.unwrap_or_else(|| DEFAULT_QUEUE.to_string());
        if !is_valid_name(&queue) {
            return Err(EnqueueError::BadQueue(queue));
        }
        let payload: Value = serde_json::from_str(&self.payload)
            .map_err(|e| EnqueueError::NotJson(e.to_string()))?;
        if let Some(schema) = schema {
            schema
                .check(&payload)
                .map_err(|problems| EnqueueError::SchemaMismatch {
                    job_type: self.job_type.clone(),
                    problems,
                })?;
        }
        let max_attempts = self.max_attempts.unwrap_or(default_max_attempts);
        if max_attempts == 0 {
            return Err(EnqueueError::NoAttempts);
        }
        let delay = self.delay.map_or(0, |d| d.as_micros() as Micros);
        let run_at = self.at.unwrap_or(now + delay);
        Ok(NewJob {
            id: new_job_id(),
            job_type: self.job_type,
            queue,
            payload: self.payload,
            priority: self.priority,
            max_attempts,
            run_at,
            created_at: now,
            parent_id: self.parent_id,
            after: self.after,
        })
    }
}

/// Reads an RFC 3339 time (`2026-11-24T18:00:00Z`, `2026-11-24T19:00:00+01:00`).
pub fn parse_at(text: &str) -> Result<Micros, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_micros())
        .map_err(|e| {
            format!(
                "{text:?} is not an RFC 3339 time ({e}); write it like 2026-11-24T18:00:00Z \
                 or 2026-11-24T19:00:00+01:00"
            )
        })
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL_SCHEMA: &str = r#"{"type":"object","required":["to"],
        "properties":{"to":{"type":"string","pattern":"^[^@]+@[^@]+$"}}}"#;

    fn request(payload: &str) -> EnqueueRequest {
        EnqueueRequest {
            job_type: "send_email".into(),
            payload: payload.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_applied() {
        let job = request(r#"{"to":"a@b"}"#)
            .into_new_job(None, 5, 100)
            .unwrap();
        assert_eq!(job.queue, "default");
        assert_eq!(job.max_attempts, 5);
        assert_eq!(job.run_at, 100);
        assert_eq!(job.created_at, 100);
    }

    #[test]
    fn a_delay_moves_run_at() {
        let mut r = request("{}");
        r.delay = Some(Duration::from_secs(2));
        let job = r.into_new_job(None, 5, 100).unwrap();
        assert_eq!(job.run_at, 2_000_100);
    }

    #[test]
    fn at_sets_run_at_to_that_moment_whatever_the_offset() {
        let at = parse_at("2026-11-24T19:00:00+01:00").unwrap();
        assert_eq!(at, parse_at("2026-11-24T18:00:00Z").unwrap());
        assert_eq!(at, 1_795_543_200_000_000);
        let mut r = request("{}");
        r.at = Some(at);
        assert_eq!(r.into_new_job(None, 5, 100).unwrap().run_at, at);
        let err = parse_at("tomorrow").unwrap_err();
        assert!(err.contains("2026-11-24T18:00:00Z"), "{err}");
    }

    #[test]
    fn a_schema_mismatch_names_the_field() {
        let schema = PayloadSchema::parse(EMAIL_SCHEMA).unwrap();
        let err = request(r#"{"to":"nobody"}"#)
            .into_new_job(Some(&schema), 5, 0)
            .unwrap_err();
        assert!(err.to_string().contains("field `/to`"), "{err}");
        let err = request("{}").into_new_job(Some(&schema), 5, 0).unwrap_err();
        assert!(err.to_string().contains("\"to\""), "{err}");
    }

    #[test]
    fn bad_json_bad_names_and_zero_attempts_are_refused() {
        assert!(matches!(
            request("{nope").into_new_job(None, 5, 0),
            Err(EnqueueError::NotJson(_))
        ));
        let mut r = request("{}");
        r.job_type = "send email".into();
        assert!(matches!(
            r.into_new_job(None, 5, 0),
            Err(EnqueueError::BadJobType(_))
        ));
        let mut r = request("{}");
        r.max_attempts = Some(0);
        assert_eq!(r.into_new_job(None, 5, 0), Err(EnqueueError::NoAttempts));
    }
}
