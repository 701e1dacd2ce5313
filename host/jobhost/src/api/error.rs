//! What the API answers when something is wrong — always `{"error": "..."}` with a
//! 4xx or 5xx status — and the extractors that turn bad bodies and query strings into
//! such answers instead of axum's plain-text ones.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use jobhost_store::StoreError;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::AppState;

#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { .. } => ApiError(StatusCode::NOT_FOUND, e.to_string()),
            _ => internal(e),
        }
    }
}

/// 400: the request is wrong, and says how.
pub fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

pub fn not_found(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, message.into())
}

/// 409: the request is well formed but the state of things refuses it.
pub fn conflict(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::CONFLICT, message.into())
}

pub fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

pub type Answer = Result<Json<serde_json::Value>, ApiError>;

pub fn to_json<T: serde::Serialize>(value: &T) -> Answer {
    serde_json::to_value(value).map(Json).map_err(internal)
}

/// A JSON request body; an empty one reads as `{}`. Too large a body is a 413 naming
/// the limit; bad JSON and fields of the wrong type are 400s naming the problem.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is larger than this daemon's limit of {} bytes \
                         (serve --http-max-body)",
                        state.max_body
                    ),
                )
            } else {
                ApiError(e.status(), e.body_text())
            }
        })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => bad(format!("the body does not fit this operation: {e}")),
                _ => bad(format!("the body is not valid JSON: {e}")),
            }
        })
    }
}

/// A query string; a parameter of the wrong type is a 400 naming it.
pub struct QueryOf<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| QueryOf(value))
            .map_err(|e| bad(e.body_text()))
    }
}
