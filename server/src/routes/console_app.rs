//! The console app itself: the Yew build in `<dist>/console/` (Trunk, `public_url=/console/`),
//! served under `/console/`. Unknown paths get `index.html` so the app's own routes load on
//! a reload. Hashed files are cached for a year; `index.html` is revalidated every time.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn console_dir(state: &AppState) -> PathBuf {
    state.settings.dist.join("console")
}

async fn index(State(state): State<AppState>) -> Response {
    match tokio::fs::read(console_dir(&state).join("index.html")).await {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the console is not built; run `cargo xtask run` (or `trunk build --release` in console/)",
        )
            .into_response(),
    }
}

async fn file(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    let safe = !path.is_empty()
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != ".." && !seg.starts_with('.'));
    if safe {
        if let Ok(bytes) = tokio::fs::read(console_dir(&state).join(&path)).await {
            return (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(content_type(&path)),
                    ),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=31536000, immutable"),
                    ),
                ],
                bytes,
            )
                .into_response();
        }
    }
    index(State(state)).await
}
