//! The rest of the operations: `stats`, `health`, queues (list, pause, resume),
//! plugins, the Prometheus scrape, and the last hour's samples the
//! dashboard draws.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jobhost_store::now_micros;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{Answer, ApiError, QueryOf, bad, to_json};
use crate::config::Config;
use crate::metrics;
use crate::ops::monitor::{self, Levels, Thresholds, Verdict, parse_rate};
use crate::ops::plugins;
use crate::ops::when::parse_age;

pub async fn stats(State(state): State<AppState>) -> Answer {
    to_json(&monitor::report(state.store.as_ref(), now_micros()).await?)
}

/// `GET /health`'s thresholds, as `jobhost health` takes them (defaults the same).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthQuery {
    pending_degraded: Option<u64>,
    pending_unhealthy: Option<u64>,
    oldest_degraded: Option<String>,
    oldest_unhealthy: Option<String>,
    dlq_degraded: Option<u64>,
    dlq_unhealthy: Option<u64>,
    failure_rate_degraded: Option<String>,
    failure_rate_unhealthy: Option<String>,
}

impl HealthQuery {
    fn thresholds(&self) -> Result<Thresholds, String> {
        let d = Thresholds::default();
        let age = |text: &Option<String>, default| text.as_deref().map_or(Ok(default), parse_age);
        let rate = |text: &Option<String>, default| text.as_deref().map_or(Ok(default), parse_rate);
        Ok(Thresholds {
            pending: Levels::checked(
                self.pending_degraded.unwrap_or(d.pending.degraded),
                self.pending_unhealthy.unwrap_or(d.pending.unhealthy),
                "pending",
            )?,
            oldest_pending: Levels::checked(
                age(&self.oldest_degraded, d.oldest_pending.degraded)?,
                age(&self.oldest_unhealthy, d.oldest_pending.unhealthy)?,
                "oldest",
            )?,
            dead_unreviewed: Levels::checked(
                self.dlq_degraded.unwrap_or(d.dead_unreviewed.degraded),
                self.dlq_unhealthy.unwrap_or(d.dead_unreviewed.unhealthy),
                "dlq",
            )?,
            failure_rate: Levels::checked(
                rate(&self.failure_rate_degraded, d.failure_rate.degraded)?,
                rate(&self.failure_rate_unhealthy, d.failure_rate.unhealthy)?,
                "failure_rate",
            )?,
        })
    }
}

/// 200 when healthy or degraded, 503 when unhealthy: a load balancer's reading.
pub async fn health(
    State(state): State<AppState>,
    QueryOf(query): QueryOf<HealthQuery>,
) -> Result<Response, ApiError> {
    let thresholds = query.thresholds().map_err(bad)?;
    let now = now_micros();
    let report = monitor::report(state.store.as_ref(), now).await?;
    let stale_after = Config::default().stale_after;
    let live = monitor::live_daemons(state.store.as_ref(), now, stale_after).await?;
    let health = monitor::judge(&report, live, &thresholds);
    let status = match health.status {
        Verdict::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    Ok((status, to_json(&health)?).into_response())
}

pub async fn queues(State(state): State<AppState>) -> Answer {
    to_json(&state.store.list_queues().await?)
}

/// `{queue, changed}`: pausing a paused queue changes nothing and is no error.
pub async fn pause_queue(State(state): State<AppState>, Path(queue): Path<String>) -> Answer {
    let changed = state.store.pause_queue(&queue, now_micros()).await?;
    Ok(Json(json!({ "queue": queue, "changed": changed })))
}

pub async fn resume_queue(State(state): State<AppState>, Path(queue): Path<String>) -> Answer {
    let changed = state.store.resume_queue(&queue).await?;
    Ok(Json(json!({ "queue": queue, "changed": changed })))
}

/// `{loaded, history}`: the plugins this daemon serves, and every version daemons
/// loaded from this database, as `jobhost --json plugins list` prints them.
pub async fn plugins(State(state): State<AppState>) -> Answer {
    let mut loaded = state
        .registry
        .as_ref()
        .map(|r| r.plugins())
        .unwrap_or_default();
    loaded.sort_by(|a, b| a.file_name().cmp(b.file_name()));
    let loaded: Vec<_> = loaded.iter().map(plugins::loaded_json).collect();
    let records = state.store.list_plugins().await?;
    Ok(Json(
        json!({ "loaded": loaded, "history": plugins::versions(&records) }),
    ))
}

/// The Prometheus scrape: this daemon's counters, and gauges read from the store now.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = state.store.stats(now_micros()).await?;
    let queues = state.store.list_queues().await?;
    let text = state.metrics.encode(&stats, &queues);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

pub async fn history(State(state): State<AppState>) -> Answer {
    to_json(&state.history.snapshot())
}
