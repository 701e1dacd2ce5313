//! The dashboard: one self-contained HTML page (inline CSS and JS, no build step, no
//! network but this daemon), compiled into the binary, that reads the JSON API every
//! few seconds. Under a bearer token the page asks for the token once, keeps it in the
//! tab's session storage, and sends it on every fetch; the page itself needs none.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("dashboard.html");

pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}
