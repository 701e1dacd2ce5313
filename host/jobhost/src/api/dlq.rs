//! The dead-letter queue over HTTP: list, show, stats, review, delete, replay one,
//! replay by filter (with a dry run, and a yes above [`CONFIRM_ABOVE`] rows), cleanup,
//! and a streamed export — each the `ops::dlq` function or store call the CLI makes.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jobhost_store::{DeadCursor, DeadFilter, ReviewParams, now_micros};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{
    Answer, ApiError, JsonBody, QueryOf, bad, conflict, internal, not_found, to_json,
};
use crate::ops::dlq::{self, CONFIRM_ABOVE, ExportFormat, Exporter, ReplayOptions, Replayed};
use crate::ops::when::parse_moment;

fn no_such(id: &str) -> ApiError {
    not_found(format!("no dead-lettered job with id {id}"))
}

/// The filters list, bulk replay and export share, as the CLI's `FilterArgs`.
fn dead_filter(
    job_type: &Option<String>,
    reason: &Option<String>,
    since: &Option<String>,
    until: &Option<String>,
    reviewed: Option<bool>,
) -> Result<DeadFilter, ApiError> {
    let moment = |text: &Option<String>| text.as_deref().map(parse_moment).transpose();
    Ok(DeadFilter {
        job_type: job_type.clone(),
        reason: reason
            .as_deref()
            .map(dlq::parse_reason)
            .transpose()
            .map_err(bad)?,
        reviewed,
        since: moment(since).map_err(bad)?,
        until: moment(until).map_err(bad)?,
        ..DeadFilter::default()
    })
}

/// The `GET /dlq` query: the CLI's filters; `after_failed_at` and `after_id` (the last
/// row of the previous page) page on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadQuery {
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
        let after = match (self.after_failed_at, &self.after_id) {
            (Some(failed_at), Some(id)) => Some(DeadCursor {
                failed_at,
                id: id.clone(),
            }),
            (None, None) => None,
            _ => return Err(bad("give after_failed_at and after_id together")),
        };
        Ok(DeadFilter {
            after,
            limit: self.limit.unwrap_or(50),
            ..dead_filter(
                &self.job_type,
                &self.reason,
                &self.since,
                &self.until,
                self.reviewed,
            )?
        })
    }
}

pub async fn list(State(state): State<AppState>, QueryOf(query): QueryOf<DeadQuery>) -> Answer {
    to_json(&state.store.list_dead(&query.filter()?).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursQuery {
    hours: Option<u32>,
}

pub async fn stats(State(state): State<AppState>, QueryOf(query): QueryOf<HoursQuery>) -> Answer {
    let filter = DeadFilter {
        since: query
            .hours
            .map(|h| now_micros() - i64::from(h) * 3_600_000_000),
        ..DeadFilter::default()
    };
    to_json(&state.store.dead_stats(&filter).await?)
}

pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let Some(dead) = state.store.get_dead(&id).await? else {
        return Err(no_such(&id));
    };
    let attempts = state.store.job_attempts(&id).await?;
    Ok(Json(json!({ "dead_letter": dead, "attempts": attempts })))
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    state.store.delete_dead(&id).await?;
    Ok(Json(json!({ "deleted": id })))
}

/// `POST /dlq/{id}/replay`: the replay options, and `dry_run`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayBody {
    max_attempts: Option<u32>,
    queue: Option<String>,
    priority: Option<i32>,
    keep_attempts: bool,
    dry_run: bool,
}

/// `{id, replayed}` (the new job's id), or for a dry run `{would_replay: [id], options}`.
pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReplayBody>,
) -> Answer {
    let options = ReplayOptions {
        max_attempts: body.max_attempts,
        queue: body.queue,
        priority: body.priority,
        keep_attempts: body.keep_attempts,
    };
    let Some(dead) = state.store.get_dead(&id).await? else {
        return Err(no_such(&id));
    };
    if let Some(problem) = dlq::replay_problem(&dead, &options) {
        return Err(bad(format!("cannot replay {id}: {problem}")));
    }
    if body.dry_run {
        return Ok(Json(json!({ "would_replay": [id], "options": options })));
    }
    let new_id = dlq::replay(state.store.as_ref(), &dead, &options).await?;
    Ok(Json(json!({ "id": new_id, "replayed": id })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    note: Option<String>,
}

pub async fn review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReviewBody>,
) -> Answer {
    let params = ReviewParams {
        id: id.clone(),
        note: body.note,
        now: now_micros(),
    };
    state.store.review_dead(&params).await?;
    Ok(Json(json!({ "reviewed": id })))
}

/// `POST /dlq/replay`: `jobhost dlq replay` without an id, as JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BulkReplayBody {
    #[serde(rename = "type")]
    job_type: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    until: Option<String>,
    reviewed: Option<bool>,
    all: bool,
    include_replayed: bool,
    max_attempts: Option<u32>,
    queue: Option<String>,
    priority: Option<i32>,
    keep_attempts: bool,
    dry_run: bool,
    yes: bool,
}

impl BulkReplayBody {
    fn options(&self) -> ReplayOptions {
        ReplayOptions {
            max_attempts: self.max_attempts,
            queue: self.queue.clone(),
            priority: self.priority,
            keep_attempts: self.keep_attempts,
        }
    }
}

/// A dry run answers `{would_replay, first, skipped, options}`, a replay
/// `{replayed, skipped}`, as `jobhost --json dlq replay` prints them.
pub async fn replay_many(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<BulkReplayBody>,
) -> Answer {
    let narrowed = dead_filter(
        &body.job_type,
        &body.reason,
        &body.since,
        &body.until,
        body.reviewed,
    )?;
    let narrows = body.job_type.is_some()
        || body.reason.is_some()
        || body.since.is_some()
        || body.until.is_some()
        || body.reviewed.is_some();
    if let Some(problem) = dlq::bulk_problem(body.all, narrows) {
        return Err(bad(format!(
            "{problem} (\"all\": true); nothing was replayed"
        )));
    }
    let store = state.store.as_ref();
    let filter = dlq::bulk_selection(&narrowed, body.include_replayed, now_micros());
    let options = body.options();
    if body.dry_run {
        let run = dlq::dry_run(store, &filter, &options).await?;
        let first: Vec<&str> = run.first.iter().map(|d| d.id.as_str()).collect();
        return Ok(Json(json!({
            "would_replay": run.would_replay, "first": first,
            "skipped": run.skipped, "options": options,
        })));
    }
    let count = store.count_dead(&filter).await?;
    if count > CONFIRM_ABOVE && !body.yes {
        return Err(conflict(format!(
            "{count} dead letters match, more than {CONFIRM_ABOVE}: check them with \
             \"dry_run\": true, then send \"yes\": true. Nothing was replayed"
        )));
    }
    let (mut replayed, mut skipped) = (Vec::new(), Vec::new());
    dlq::replay_all(store, &filter, &options, |row: Replayed| {
        if row.skipped.is_some() {
            skipped.push(row);
        } else {
            replayed.push(row);
        }
    })
    .await
    .map_err(|e| {
        internal(format!(
            "replaying dead letters ({} were replayed before this error; the same request \
             again takes the rest, as replayed rows are left out): {e}",
            replayed.len()
        ))
    })?;
    Ok(Json(json!({ "replayed": replayed, "skipped": skipped })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupBody {
    days: u32,
    #[serde(default)]
    dry_run: bool,
}

/// `{deleted, dry_run, days}`.
pub async fn cleanup(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CleanupBody>,
) -> Answer {
    if body.days == 0 {
        return Err(bad("days must be at least 1"));
    }
    let deleted = dlq::cleanup(state.store.as_ref(), body.days, body.dry_run, now_micros()).await?;
    Ok(Json(
        json!({ "deleted": deleted, "dry_run": body.dry_run, "days": body.days }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    format: Option<ExportFormat>,
    #[serde(rename = "type")]
    job_type: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    until: Option<String>,
    reviewed: Option<bool>,
    limit: Option<u64>,
}

/// Streams the rows page by page as they are read: JSON lines or CSV. A store error
/// midway breaks the response off, so a partial export never passes for a whole one.
pub async fn export(
    State(state): State<AppState>,
    QueryOf(query): QueryOf<ExportQuery>,
) -> Result<Response, ApiError> {
    let filter = dead_filter(
        &query.job_type,
        &query.reason,
        &query.since,
        &query.until,
        query.reviewed,
    )?;
    let format = query.format.unwrap_or(ExportFormat::Json);
    let exporter = Exporter::new(&filter, query.limit, format).map_err(internal)?;
    let store = state.store.clone();
    let chunks = futures_util::stream::unfold(Some(exporter), move |exporter| {
        let store = store.clone();
        async move {
            let mut exporter = exporter?;
            match exporter.next_chunk(store.as_ref()).await {
                Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk.bytes)), Some(exporter))),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!("the export over HTTP broke off: {e}");
                    Some((Err(e), None))
                }
            }
        }
    });
    let file = match format {
        ExportFormat::Json => "attachment; filename=\"dead-letters.jsonl\"",
        ExportFormat::Csv => "attachment; filename=\"dead-letters.csv\"",
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::CONTENT_DISPOSITION, file),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}
