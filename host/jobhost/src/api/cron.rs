//! Cron schedules over HTTP: list, add (checked like an enqueue), remove, pause, resume —
//! the `ops::cron` functions `jobhost cron` calls.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{Answer, ApiError, JsonBody, bad, conflict, not_found, to_json};
use super::jobs::{known_or_allowed, rules};
use crate::ops::cron::{self, CronError};
use crate::queue::schedule::DEFAULT_TIMEZONE;
use crate::queue::{EnqueueRequest, priority};

impl From<CronError> for ApiError {
    fn from(e: CronError) -> ApiError {
        match e {
            CronError::Invalid(message) => bad(message),
            CronError::NotFound(_) => not_found(e.to_string()),
            CronError::Exists(_) => conflict(e.to_string()),
            CronError::Store(e) => e.into(),
        }
    }
}

pub async fn list(State(state): State<AppState>) -> Answer {
    to_json(&state.store.list_schedules().await?)
}

/// `POST /cron`: `jobhost cron add`, as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    name: String,
    expr: String,
    /// The time zone the expression is read in (`Europe/Paris`); UTC when absent.
    timezone: Option<String>,
    #[serde(rename = "type")]
    job_type: String,
    payload: Option<Value>,
    priority: Option<i32>,
    max_attempts: Option<u32>,
    queue: Option<String>,
    #[serde(default)]
    allow_unknown_type: bool,
}

/// 201 with the schedule; 409 if the name is taken.
pub async fn add(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<Response, ApiError> {
    let timezone = body.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
    cron::next_run(&body.expr, timezone)?;
    let rules = rules(&state, &body.job_type).await?;
    known_or_allowed(&rules, &body.job_type, body.allow_unknown_type)?;
    let request = EnqueueRequest {
        job_type: body.job_type.clone(),
        payload: body
            .payload
            .as_ref()
            .map_or_else(|| "{}".into(), Value::to_string),
        priority: body.priority.unwrap_or(priority::NORMAL),
        max_attempts: body.max_attempts,
        queue: body.queue,
        ..EnqueueRequest::default()
    };
    let schedule = cron::add(
        state.store.as_ref(),
        &body.name,
        &body.expr,
        timezone,
        request,
        &rules,
    )
    .await?;
    Ok((StatusCode::CREATED, to_json(&schedule)?).into_response())
}

pub async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> Answer {
    cron::remove(state.store.as_ref(), &name).await?;
    Ok(Json(json!({ "removed": name })))
}

pub async fn pause(State(state): State<AppState>, Path(name): Path<String>) -> Answer {
    cron::pause(state.store.as_ref(), &name).await?;
    Ok(Json(json!({ "paused": name })))
}

/// `{resumed, next_run_at}`.
pub async fn resume(State(state): State<AppState>, Path(name): Path<String>) -> Answer {
    let next_run_at = cron::resume(state.store.as_ref(), &name).await?;
    Ok(Json(json!({ "resumed": name, "next_run_at": next_run_at })))
}
