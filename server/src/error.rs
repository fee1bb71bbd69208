//! The one error type of the relay and its mapping to HTTP.
//!
//! Client errors carry a message that names the bad value and the fix; server errors answer
//! a short generic text and log the real cause.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Everything a route, a store call or a CLI command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request itself is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    /// One field of a form is wrong (400); the console shows it at the field.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// The caller is not signed in (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing by that name (404).
    #[error("{0}")]
    NotFound(String),
    /// It exists already or clashes with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The request body is larger than the route takes (413).
    #[error("{0}")]
    TooLarge(String),
    /// Over a budget (429 with `Retry-After`): what was refused and when to come back.
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    /// Stripe (or another service we call) failed or refused (502).
    #[error("{0}")]
    Upstream(String),
    /// The database failed (500).
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Anything else that is our fault (500).
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) | AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Db(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Invalid { .. } => "invalid",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::TooLarge(_) => "too_large",
            AppError::Upstream(_) => "upstream",
            AppError::Db(_) | AppError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let message = if status.is_server_error() && !matches!(self, AppError::Upstream(_)) {
            tracing::error!(error = %self, "request failed");
            "something went wrong on our side; it was logged, please retry".to_owned()
        } else {
            self.to_string()
        };
        let mut body = serde_json::json!({ "error": { "code": self.code(), "message": message } });
        if let AppError::Invalid { field, .. } = &self {
            body["error"]["field"] = serde_json::json!(field);
        }
        let mut resp = (status, Json(body)).into_response();
        if let AppError::RateLimited { retry_after_secs, .. } = &self {
            tracing::info!(retry_after_secs, reason = %self, "refused: over budget");
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs.max(&1).to_owned()),
            );
        }
        resp
    }
}

/// Shorthand for results in handlers and services.
pub type AppResult<T> = Result<T, AppError>;
