//! `POST /jobs` (enqueue, with the CLI's schema check and unique-key rule),
//! `GET /jobs` (list with filters), `GET /jobs/{id}`, `POST /jobs/{id}/cancel`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobhost_store::{CancelOutcome, JobFilter, now_micros};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{
    Answer, ApiError, JsonBody, QueryOf, bad, conflict, internal, not_found, to_json,
};
use crate::ops::enqueue::{self as enqueue_ops, TypeRules};
use crate::ops::jobs::{self, CancelError};
use crate::queue::{EnqueueRequest, enqueue, priority};

/// A priority as a number or as `high`, `normal`, `low`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Priority {
    Number(i32),
    Name(String),
}

/// `POST /jobs`: what `jobhost enqueue` takes, as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnqueueBody {
    #[serde(rename = "type")]
    job_type: String,
    /// Any JSON document; `{}` when absent.
    payload: Option<Value>,
    priority: Option<Priority>,
    /// `30s`, `24h`: do not start before this much time has passed.
    delay: Option<String>,
    /// RFC 3339: do not start before this time.
    at: Option<String>,
    max_attempts: Option<u32>,
    queue: Option<String>,
    unique_key: Option<String>,
    /// Enqueue even when no plugin declares the type (the CLI warns and goes on; the
    /// API refuses unless asked, as a typo would otherwise wait forever).
    #[serde(default)]
    allow_unknown_type: bool,
}

impl EnqueueBody {
    fn request(&self) -> Result<EnqueueRequest, ApiError> {
        let priority = match &self.priority {
            None => priority::NORMAL,
            Some(Priority::Number(n)) => *n,
            Some(Priority::Name(name)) => priority::parse(name).map_err(bad)?,
        };
        if self.delay.is_some() && self.at.is_some() {
            return Err(bad("give delay or at, not both"));
        }
        let delay = self
            .delay
            .as_deref()
            .map(humantime::parse_duration)
            .transpose();
        let at = self.at.as_deref().map(enqueue::parse_at).transpose();
        Ok(EnqueueRequest {
            job_type: self.job_type.clone(),
            payload: self
                .payload
                .as_ref()
                .map_or_else(|| "{}".into(), Value::to_string),
            priority,
            delay: delay.map_err(|e| bad(format!("delay: {e}")))?,
            at: at.map_err(bad)?,
            max_attempts: self.max_attempts,
            queue: self.queue.clone(),
            parent_id: None,
        })
    }
}

/// The type's rules: as a daemon recorded them, else as this daemon's plugins say.
async fn rules(state: &AppState, job_type: &str) -> Result<TypeRules, ApiError> {
    let facts = match enqueue_ops::recorded_facts(state.store.as_ref(), job_type).await? {
        Some(facts) => Some(facts),
        None => state
            .registry
            .as_ref()
            .and_then(|r| enqueue_ops::registry_facts(r, job_type)),
    };
    TypeRules::from_facts(job_type, facts).map_err(internal)
}

/// 201 with `{id, created: true}`; 200 with `{id, created: false}` when a job with the
/// unique key is pending or running already (its id). Nothing is written on a 4xx.
pub async fn enqueue(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EnqueueBody>,
) -> Result<Response, ApiError> {
    let request = body.request()?;
    if let Some(key) = &body.unique_key {
        enqueue_ops::parse_unique_key(key).map_err(bad)?;
    }
    let rules = rules(&state, &body.job_type).await?;
    let job = request
        .into_new_job(
            rules.schema.as_ref(),
            rules.default_max_attempts,
            now_micros(),
        )
        .map_err(|e| bad(format!("{e}; nothing was enqueued")))?;
    if !rules.known && !body.allow_unknown_type {
        return Err(bad(format!(
            "no plugin declares job type {:?}: `GET /plugins` lists the types; send \
             \"allow_unknown_type\": true to enqueue it anyway. Nothing was enqueued",
            body.job_type
        )));
    }
    let done =
        enqueue_ops::store_job(state.store.as_ref(), &job, body.unique_key.as_deref()).await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, to_json(&done)?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    status: Option<String>,
    #[serde(rename = "type")]
    job_type: Option<String>,
    queue: Option<String>,
    limit: Option<u32>,
}

/// Jobs, newest first, as `jobhost --json jobs list` prints them.
pub async fn list(State(state): State<AppState>, QueryOf(query): QueryOf<JobsQuery>) -> Answer {
    let filter = JobFilter {
        status: query
            .status
            .as_deref()
            .map(jobs::parse_status)
            .transpose()
            .map_err(bad)?,
        job_type: query.job_type,
        queue: query.queue,
        limit: query.limit.unwrap_or(50),
    };
    to_json(&state.store.list_jobs(&filter).await?)
}

pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let Some(job) = state.store.get_job(&id).await? else {
        return Err(not_found(format!("no job with id {id}")));
    };
    let attempts = state.store.job_attempts(&id).await?;
    Ok(Json(json!({ "job": job, "attempts": attempts })))
}

/// `{id, outcome}`: `cancelled`, or `requested` for a running job its daemon will
/// interrupt. 404 for an unknown id, 409 for a job that has ended.
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let outcome: CancelOutcome =
        jobs::cancel(state.store.as_ref(), &id)
            .await
            .map_err(|e| match e {
                CancelError::NotFound(_) => not_found(e.to_string()),
                CancelError::AlreadyEnded { .. } => conflict(e.to_string()),
                CancelError::Store(e) => ApiError::from(e),
            })?;
    Ok(Json(json!({ "id": id, "outcome": outcome })))
}
