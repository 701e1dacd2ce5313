//! The HTTP admin API (`serve --http ADDR`): the CLI's operations as JSON, over the same
//! store calls and `ops` functions, the Prometheus scrape at `/metrics`, and the live
//! dashboard at `/`. Loopback by default; bound to any other address it needs a bearer
//! token, and answers 401 to a request without it (the dashboard page itself, which
//! holds no data, loads without one and asks for it).
//!
//! - `routes.rs`: the routes, one per operation.
//! - `jobs.rs`, `cron.rs`, `dlq.rs`, `admin.rs`: the handlers.
//! - `error.rs`: `{"error": "..."}` answers, and extractors that give them.
//! - `history.rs`: the last hour, sampled, for the dashboard's chart.
//! - `dashboard.rs`, `dashboard.html`: the page.
//! - `openapi.rs`: the description served at `/openapi.json`.

mod admin;
mod cron;
mod dashboard;
mod dlq;
mod error;
mod history;
mod jobs;
mod limits;
mod openapi;
mod routes;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use jobhost_runtime::Registry;
use jobhost_store::Store;
use tracing::info;

use crate::metrics::Metrics;

/// Where `--http` listens when given without an address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7070";
/// The largest request body the API reads, unless `--http-max-body` says otherwise.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// A bearer token. Its `Debug` and `Display` never show it, so no log line can.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(text: String) -> Token {
        Token(text)
    }

    /// Compares without stopping at the first differing byte, so the time a refusal
    /// takes says nothing about how much of a guess was right.
    fn matches(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    pub token: Option<Token>,
    /// Larger request bodies are answered 413, unread.
    pub max_body: usize,
}

impl HttpConfig {
    pub fn validate(&self) -> Result<()> {
        if !self.addr.ip().is_loopback() && self.token.is_none() {
            anyhow::bail!(
                "--http {} is not a loopback address: set a bearer token in JOBHOST_HTTP_TOKEN \
                 (or --http-token) so the API answers only to those who hold it",
                self.addr
            );
        }
        Ok(())
    }
}

/// What the API serves from: the daemon's store, plugins and metrics.
#[derive(Clone)]
pub struct ApiContext {
    pub store: Arc<dyn Store>,
    /// The plugins this daemon loaded (`None`: the API runs without a daemon).
    pub registry: Option<Arc<Registry>>,
    pub metrics: Arc<Metrics>,
}

#[derive(Clone)]
struct AppState {
    store: Arc<dyn Store>,
    registry: Option<Arc<Registry>>,
    metrics: Arc<Metrics>,
    history: Arc<history::History>,
    token: Option<Token>,
    max_body: usize,
}

/// The API's tasks: the server and the dashboard's sampler. Aborted when dropped.
pub struct Running {
    server: tokio::task::JoinHandle<()>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
        self.sampler.abort();
    }
}

/// Binds the address and serves until the returned [`Running`] is dropped.
pub async fn start(config: &HttpConfig, context: ApiContext) -> Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on {} for the HTTP API", config.addr))?;
    let addr = listener.local_addr()?;
    let history = Arc::new(history::History::default());
    let sampler = tokio::spawn(history::run(
        context.store.clone(),
        context.metrics.clone(),
        history.clone(),
    ));
    let state = AppState {
        store: context.store,
        registry: context.registry,
        metrics: context.metrics,
        history,
        token: config.token.clone(),
        max_body: config.max_body,
    };
    let app = routes::router()
        .layer(DefaultBodyLimit::max(config.max_body))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state);
    info!(%addr, token = config.token.is_some(), max_body = config.max_body, "HTTP API listening");
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the HTTP API stopped: {e}");
        }
    });
    Ok(Running { server, sampler })
}

/// The paths that answer without a token: the dashboard page, which holds no data and
/// asks for the token itself.
fn is_public(request: &Request) -> bool {
    request.method() == axum::http::Method::GET
        && matches!(request.uri().path(), "/" | "/dashboard")
}

async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    if is_public(&request) {
        return next.run(request).await;
    }
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if offered.is_some_and(|offered| token.matches(offered)) {
        return next.run(request).await;
    }
    let body = axum::Json(serde_json::json!({
        "error": "this API needs `Authorization: Bearer TOKEN` with the daemon's token"
    }));
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_shows_and_matches_only_itself() {
        let token = Token::new("s3cret".into());
        assert_eq!(format!("{token:?}"), "Token(***)");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cres"));
    }

    #[test]
    fn only_loopback_may_go_without_a_token() {
        let open = |addr: &str| HttpConfig {
            addr: addr.parse().unwrap(),
            token: None,
            max_body: DEFAULT_MAX_BODY,
        };
        assert!(open("127.0.0.1:7070").validate().is_ok());
        assert!(open("[::1]:7070").validate().is_ok());
        let err = open("0.0.0.0:7070").validate().unwrap_err().to_string();
        assert!(err.contains("JOBHOST_HTTP_TOKEN"), "{err}");
    }
}
