//! `POST /jobs` (enqueue, with the CLI's schema check and unique-key rule),
//! `POST /jobs/batch` (bulk enqueue, every payload checked first), `GET /jobs` (list
//! with filters), `GET /jobs/{id}`, `POST /jobs/{id}/cancel`, `POST /jobs/purge`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobhost_store::{CancelOutcome, JobFilter, Micros, now_micros};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{
    Answer, ApiError, JsonBody, QueryOf, bad, conflict, internal, not_found, to_json,
};
use crate::ops::enqueue::{self as enqueue_ops, TypeRules, Uniqueness};
use crate::ops::jobs::{self, CancelError};
use crate::ops::retention;
use crate::ops::when::parse_age;
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
    /// `1h`, `30m`: keep the unique key reserved this long after the job completes.
    unique_for: Option<String>,
    /// Ids of jobs this one waits on: it starts once every one of them completed.
    #[serde(default)]
    after: Vec<String>,
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
            after: self.after.clone(),
        })
    }
}

/// The type's rules: as a daemon recorded them, else as this daemon's plugins say.
pub(super) async fn rules(state: &AppState, job_type: &str) -> Result<TypeRules, ApiError> {
    let facts = match enqueue_ops::recorded_facts(state.store.as_ref(), job_type).await? {
        Some(facts) => Some(facts),
        None => state
            .registry
            .as_ref()
            .and_then(|r| enqueue_ops::registry_facts(r, job_type)),
    };
    TypeRules::from_facts(job_type, facts).map_err(internal)
}

/// The API refuses a type no plugin declares, unless asked not to (the CLI warns).
pub(super) fn known_or_allowed(
    rules: &TypeRules,
    job_type: &str,
    allow_unknown_type: bool,
) -> Result<(), ApiError> {
    if rules.known || allow_unknown_type {
        return Ok(());
    }
    Err(bad(format!(
        "no plugin declares job type {job_type:?}: `GET /plugins` lists the types; send \
         \"allow_unknown_type\": true to go ahead anyway. Nothing was written"
    )))
}

/// The body's unique key (or the type's default one) and window, checked.
fn uniqueness(
    body: &EnqueueBody,
    rules: &TypeRules,
    payload: &str,
) -> Result<Uniqueness, ApiError> {
    let key = rules
        .unique_key(&body.job_type, body.unique_key.as_deref(), payload)
        .map_err(bad)?;
    let keep_for = body
        .unique_for
        .as_deref()
        .map(humantime::parse_duration)
        .transpose()
        .map_err(|e| bad(format!("unique_for: {e}")))?
        .map(|d| d.as_micros() as Micros);
    Uniqueness::new(&body.job_type, key, keep_for, !body.after.is_empty()).map_err(bad)
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
    known_or_allowed(&rules, &body.job_type, body.allow_unknown_type)?;
    if body.unique_key.is_some() && !body.after.is_empty() {
        return Err(bad(
            "give unique_key or after, not both; nothing was enqueued",
        ));
    }
    let unique = uniqueness(&body, &rules, &job.payload)?;
    let done = enqueue_ops::store_job(state.store.as_ref(), &job, &unique).await?;
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

/// `POST /jobs/batch`: `jobhost enqueue --from-file`, as JSON: one job per payload, the
/// other fields shared.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    #[serde(rename = "type")]
    job_type: String,
    payloads: Vec<Value>,
    priority: Option<Priority>,
    delay: Option<String>,
    at: Option<String>,
    max_attempts: Option<u32>,
    queue: Option<String>,
    #[serde(default)]
    allow_unknown_type: bool,
}

/// 201 `{enqueued}`. Every payload is checked before the first write, so a bad one
/// (named by its index) leaves nothing enqueued.
pub async fn enqueue_batch(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<BatchBody>,
) -> Result<Response, ApiError> {
    let one = EnqueueBody {
        job_type: body.job_type.clone(),
        payload: None,
        priority: body.priority,
        delay: body.delay,
        at: body.at,
        max_attempts: body.max_attempts,
        queue: body.queue,
        unique_key: None,
        unique_for: None,
        after: Vec::new(),
        allow_unknown_type: body.allow_unknown_type,
    };
    let template = one.request()?;
    let rules = rules(&state, &body.job_type).await?;
    let now = now_micros();
    let mut jobs = Vec::with_capacity(body.payloads.len());
    for (index, payload) in body.payloads.iter().enumerate() {
        let request = EnqueueRequest {
            payload: payload.to_string(),
            ..template.clone()
        };
        let job = request
            .into_new_job(rules.schema.as_ref(), rules.default_max_attempts, now)
            .map_err(|e| {
                bad(format!(
                    "payload {index}: {e}; nothing was enqueued (every payload is checked first)"
                ))
            })?;
        jobs.push(job);
    }
    known_or_allowed(&rules, &body.job_type, body.allow_unknown_type)?;
    let written = enqueue_ops::store_in_batches(
        state.store.as_ref(),
        jobs.into_iter().map(Ok::<_, std::convert::Infallible>),
        |_| {},
    )
    .await
    .map_err(internal)?;
    Ok((StatusCode::CREATED, Json(json!({ "enqueued": written }))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    /// `7d`, `12h`, ...
    older_than: String,
    #[serde(default)]
    dry_run: bool,
}

/// `jobhost jobs purge`: `{deleted, dry_run}`.
pub async fn purge(State(state): State<AppState>, JsonBody(body): JsonBody<PurgeBody>) -> Answer {
    let older_than = parse_age(&body.older_than).map_err(bad)?;
    let store = state.store.as_ref();
    let now = now_micros();
    let deleted = if body.dry_run {
        retention::count_completed(store, older_than, now).await?
    } else {
        retention::purge_completed(store, older_than, now).await?
    };
    Ok(Json(json!({ "deleted": deleted, "dry_run": body.dry_run })))
}
