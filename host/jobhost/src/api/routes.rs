//! One handler per operation; each is a store call or an `ops` function, as the CLI's.
//! Errors are `{"error": "..."}` with 400 (bad input), 404 (unknown id) or 500.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jobhost_store::{DeadCursor, DeadFilter, DeadReason, ReviewParams, StoreError, now_micros};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::config::Config;
use crate::ops::dlq::{self, ReplayOptions};
use crate::ops::monitor::{self, Thresholds, Verdict};
use crate::ops::when::parse_moment;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/openapi.json",
            get(|| async { Json(super::openapi::document()) }),
        )
        .route("/stats", get(stats))
        .route("/health", get(health))
        .route("/jobs/{id}", get(job))
        .route("/dlq", get(list_dead))
        .route("/dlq/stats", get(dead_stats))
        .route("/dlq/{id}", get(show_dead).delete(delete_dead))
        .route("/dlq/{id}/replay", post(replay))
        .route("/dlq/{id}/review", post(review))
}

pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { .. } => ApiError(StatusCode::NOT_FOUND, e.to_string()),
            _ => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

fn bad(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message)
}

fn not_found(id: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no dead-lettered job with id {id}"),
    )
}

type Answer = Result<Json<Value>, ApiError>;

fn to_json<T: serde::Serialize>(value: &T) -> Answer {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn stats(State(state): State<AppState>) -> Answer {
    to_json(&monitor::report(state.store.as_ref(), now_micros()).await?)
}

/// 200 when healthy or degraded, 503 when unhealthy: a load balancer's reading.
async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = now_micros();
    let report = monitor::report(state.store.as_ref(), now).await?;
    let stale_after = Config::default().stale_after;
    let live = monitor::live_daemons(state.store.as_ref(), now, stale_after).await?;
    let health = monitor::judge(&report, live, &Thresholds::default());
    let status = match health.status {
        Verdict::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    Ok((status, to_json(&health)?).into_response())
}

async fn job(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let Some(job) = state.store.get_job(&id).await? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no job with id {id}"),
        ));
    };
    let attempts = state.store.job_attempts(&id).await?;
    Ok(Json(json!({ "job": job, "attempts": attempts })))
}

/// The `GET /dlq` query: the CLI's filters; `after_failed_at` and `after_id` (the last
/// row of the previous page) page on.
#[derive(Debug, Deserialize)]
struct DeadQuery {
    #[serde(rename = "type")]
    job_type: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    until: Option<String>,
    reviewed: Option<bool>,
    limit: Option<u32>,
    after_failed_at: Option<i64>,
    after_id: Option<String>,
}

impl DeadQuery {
    fn filter(&self) -> Result<DeadFilter, ApiError> {
        let reason = match &self.reason {
            Some(text) => Some(
                DeadReason::parse(text)
                    .ok_or_else(|| bad(format!("{text:?} is not a dead-letter reason")))?,
            ),
            None => None,
        };
        let moment = |text: &Option<String>| text.as_deref().map(parse_moment).transpose();
        let after = match (self.after_failed_at, &self.after_id) {
            (Some(failed_at), Some(id)) => Some(DeadCursor {
                failed_at,
                id: id.clone(),
            }),
            (None, None) => None,
            _ => return Err(bad("give after_failed_at and after_id together".into())),
        };
        Ok(DeadFilter {
            job_type: self.job_type.clone(),
            reason,
            reviewed: self.reviewed,
            since: moment(&self.since).map_err(bad)?,
            until: moment(&self.until).map_err(bad)?,
            after,
            limit: self.limit.unwrap_or(50),
            ..DeadFilter::default()
        })
    }
}

async fn list_dead(State(state): State<AppState>, Query(query): Query<DeadQuery>) -> Answer {
    to_json(&state.store.list_dead(&query.filter()?).await?)
}

#[derive(Debug, Deserialize)]
struct HoursQuery {
    hours: Option<u32>,
}

async fn dead_stats(State(state): State<AppState>, Query(query): Query<HoursQuery>) -> Answer {
    let filter = DeadFilter {
        since: query
            .hours
            .map(|h| now_micros() - i64::from(h) * 3_600_000_000),
        ..DeadFilter::default()
    };
    to_json(&state.store.dead_stats(&filter).await?)
}

async fn show_dead(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let Some(dead) = state.store.get_dead(&id).await? else {
        return Err(not_found(&id));
    };
    let attempts = state.store.job_attempts(&id).await?;
    Ok(Json(json!({ "dead_letter": dead, "attempts": attempts })))
}

async fn delete_dead(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    state.store.delete_dead(&id).await?;
    Ok(Json(json!({ "deleted": id })))
}

/// A JSON body, or the defaults when there is none.
fn body<T: Default + serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("the body is not what was expected: {e}")))
}

async fn replay(State(state): State<AppState>, Path(id): Path<String>, bytes: Bytes) -> Answer {
    let options: ReplayOptions = body(&bytes)?;
    let Some(dead) = state.store.get_dead(&id).await? else {
        return Err(not_found(&id));
    };
    if let Some(problem) = dlq::replay_problem(&dead, &options) {
        return Err(bad(format!("cannot replay {id}: {problem}")));
    }
    let new_id = dlq::replay(state.store.as_ref(), &dead, &options).await?;
    Ok(Json(json!({ "id": new_id, "replayed": id })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    note: Option<String>,
}

async fn review(State(state): State<AppState>, Path(id): Path<String>, bytes: Bytes) -> Answer {
    let body: ReviewBody = body(&bytes)?;
    let params = ReviewParams {
        id: id.clone(),
        note: body.note,
        now: now_micros(),
    };
    state.store.review_dead(&params).await?;
    Ok(Json(json!({ "reviewed": id })))
}
