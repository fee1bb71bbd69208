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
    /// Several fields of a form are wrong (400): every one, so the form shows them at once.
    #[error("{}", .0.first().map(|(_, m)| m.as_str()).unwrap_or("the form has mistakes"))]
    InvalidFields(Vec<(&'static str, String)>),
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
            AppError::BadRequest(_) | AppError::Invalid { .. } | AppError::InvalidFields(_) => {
                StatusCode::BAD_REQUEST
            }
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
            AppError::Invalid { .. } | AppError::InvalidFields(_) => "invalid",
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
        match &self {
            AppError::Invalid { field, message } => {
                body["error"]["field"] = serde_json::json!(field);
                body["error"]["fields"] = serde_json::json!([{ "field": field, "message": message }]);
            }
            AppError::InvalidFields(all) => {
                body["error"]["field"] = serde_json::json!(all.first().map(|(f, _)| *f));
                body["error"]["fields"] = all
                    .iter()
                    .map(|(field, message)| serde_json::json!({ "field": field, "message": message }))
                    .collect();
            }
            _ => {}
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

/// The answer to a request whose handler panicked: logged, then a 500 like any internal error.
pub fn panicked(why: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let said = why
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| why.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    AppError::Internal(anyhow::anyhow!("a handler panicked: {said}")).into_response()
}

/// The most mistakes one answer names; the rest are counted in a last one.
pub const MISTAKES_MAX: usize = 20;

/// What a caller sent, cut for an error message (a made-up name may be megabytes long).
pub fn cut(given: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 60;
    match given.char_indices().nth(SHOWN) {
        None => given.into(),
        Some((end, _)) => format!("{}…", &given[..end]).into(),
    }
}

/// The mistakes of a form, gathered field by field so they are all said at once (at most
/// [`MISTAKES_MAX`], then how many more).
#[derive(Debug, Default)]
pub struct FormErrors {
    said: Vec<(&'static str, String)>,
    more: usize,
}

impl FormErrors {
    /// Notes a mistake at `field`.
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.said.len() < MISTAKES_MAX {
            self.said.push((field, message.into()));
        } else {
            self.more += 1;
        }
    }

    /// The value of a check, or `None` after noting its mistake at `field` (a field error
    /// keeps its own field; any other refusal is kept at `field`).
    pub fn check<T>(&mut self, field: &'static str, result: AppResult<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(AppError::Invalid { field: f, message }) => {
                self.add(f, message);
                None
            }
            Err(AppError::InvalidFields(all)) => {
                for (f, message) in all {
                    self.add(f, message);
                }
                None
            }
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    /// `Ok` when nothing was noted, else every mistake (the first [`MISTAKES_MAX`], and how
    /// many more).
    pub fn finish(mut self) -> AppResult<()> {
        if self.more > 0 {
            let field = self.said.last().map_or("form", |(f, _)| f);
            self.said
                .push((field, format!("and {} more mistakes like these", self.more)));
        }
        match self.said.len() {
            0 => Ok(()),
            1 => {
                let (field, message) = self.said.into_iter().next().unwrap_or(("form", String::new()));
                Err(AppError::Invalid { field, message })
            }
            _ => Err(AppError::InvalidFields(self.said)),
        }
    }
}

/// Shorthand for results in handlers and services.
pub type AppResult<T> = Result<T, AppError>;
