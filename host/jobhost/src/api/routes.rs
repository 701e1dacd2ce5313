//! The routes, one per operation, and what answers a path or method no route has. The
//! handlers are in `jobs.rs`, `cron.rs`, `dlq.rs`, `limits.rs` and `admin.rs`; each is a store call or an `ops`
//! function, as the CLI's. Errors are `{"error": "..."}` (see `error.rs`).

use axum::Json;
use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{delete, get, post};
use serde_json::json;

use super::{AppState, admin, cron, dashboard, dlq, jobs, limits};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/dashboard", get(dashboard::page))
        .route(
            "/openapi.json",
            get(|| async { Json(super::openapi::document()) }),
        )
        .route("/metrics", get(admin::metrics))
        .route("/stats", get(admin::stats))
        .route("/stats/history", get(admin::history))
        .route("/health", get(admin::health))
        .route("/jobs", get(jobs::list).post(jobs::enqueue))
        .route("/jobs/batch", post(jobs::enqueue_batch))
        .route("/jobs/purge", post(jobs::purge))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/queues", get(admin::queues))
        .route("/queues/{queue}/pause", post(admin::pause_queue))
        .route("/queues/{queue}/resume", post(admin::resume_queue))
        .route("/cron", get(cron::list).post(cron::add))
        .route("/cron/{name}", delete(cron::remove))
        .route("/cron/{name}/pause", post(cron::pause))
        .route("/cron/{name}/resume", post(cron::resume))
        .route("/plugins", get(admin::plugins))
        .route("/limits", get(limits::list).post(limits::set))
        .route("/limits/{scope}/{name}", delete(limits::remove))
        .route("/workers", get(limits::workers))
        .route("/dlq", get(dlq::list))
        .route("/dlq/stats", get(dlq::stats))
        .route("/dlq/export", get(dlq::export))
        .route("/dlq/replay", post(dlq::replay_many))
        .route("/dlq/cleanup", post(dlq::cleanup))
        .route("/dlq/{id}", get(dlq::show).delete(dlq::delete))
        .route("/dlq/{id}/replay", post(dlq::replay))
        .route("/dlq/{id}/review", post(dlq::review))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
}

async fn no_route(method: Method, uri: Uri) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({ "error": format!("no route {method} {}: /openapi.json lists them", uri.path()) }),
        ),
    )
}

async fn no_method(method: Method, uri: Uri) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(
            json!({ "error": format!("{} does not take {method}: /openapi.json says what it takes", uri.path()) }),
        ),
    )
}
