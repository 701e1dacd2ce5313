//! Rate and concurrency limits over HTTP (`jobhost limits`), and the daemons on the
//! database (`jobhost workers`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobhost_store::LimitScope;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{Answer, ApiError, JsonBody, bad, not_found, to_json};
use crate::ops::limits::{self as limit_ops, LimitError};
use crate::queue::rate::parse_rate;

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> ApiError {
        match e {
            LimitError::Nothing | LimitError::ZeroConcurrency => bad(e.to_string()),
            LimitError::Store(e) => e.into(),
        }
    }
}

pub async fn list(State(state): State<AppState>) -> Answer {
    to_json(&state.store.list_limits().await?)
}

/// `POST /limits`: `jobhost limits set`, as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBody {
    /// `type` or `queue`.
    scope: String,
    name: String,
    /// `120/m`, `2/s`, `600/h`.
    rate: Option<String>,
    concurrency: Option<u32>,
}

/// 201 with `{scope, name, rate_per_minute, concurrency}`.
pub async fn set(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SetBody>,
) -> Result<Response, ApiError> {
    let scope = scope_of(&body.scope)?;
    let rate = body
        .rate
        .as_deref()
        .map(parse_rate)
        .transpose()
        .map_err(bad)?;
    let limit = limit_ops::set(
        state.store.as_ref(),
        scope,
        &body.name,
        rate.map(|r| r.per_minute),
        body.concurrency,
    )
    .await?;
    let answer = json!({
        "scope": scope, "name": limit.name,
        "rate_per_minute": limit.rate_per_minute, "concurrency": limit.concurrency,
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `{removed}`; 404 when the type or queue had no limit.
pub async fn remove(
    State(state): State<AppState>,
    Path((scope, name)): Path<(String, String)>,
) -> Answer {
    let scope = scope_of(&scope)?;
    if !state.store.remove_limit(scope, &name).await? {
        return Err(not_found(format!(
            "{} {name:?} has no limit: `GET /limits` lists them",
            scope.as_str()
        )));
    }
    Ok(Json(json!({ "removed": name, "scope": scope })))
}

/// Every daemon registered on the database, with the jobs it is running.
pub async fn workers(State(state): State<AppState>) -> Answer {
    to_json(&state.store.worker_loads().await?)
}

fn scope_of(text: &str) -> Result<LimitScope, ApiError> {
    LimitScope::parse(text)
        .ok_or_else(|| bad(format!("scope {text:?}: give \"type\" or \"queue\"")))
}
