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

/// The console's CSP: its own files, WebAssembly compiled (`'wasm-unsafe-eval'`, not
/// `'unsafe-eval'`), Trunk's inline start-up scripts by their hashes (no
/// `'unsafe-inline'`), its API and live socket on this origin, and no framing.
fn console_csp(html: &str, own_origin: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut hashes = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let (Some(open_end), Some(close)) = (after.find('>'), after.find("</script>")) else {
            break;
        };
        if open_end < close {
            let body = &after[open_end + 1..close];
            if !body.trim().is_empty() {
                let digest =
                    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body.as_bytes()));
                hashes.push_str(&format!(" 'sha256-{digest}'"));
            }
        }
        rest = &after[close + "</script>".len()..];
    }
    let ws = own_origin.replacen("http", "ws", 1);
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self' {ws}; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'; object-src 'none'"
    )
}

async fn index(State(state): State<AppState>) -> Response {
    match tokio::fs::read(console_dir(&state).join("index.html")).await {
        Ok(bytes) => {
            let csp = console_csp(&String::from_utf8_lossy(&bytes), &state.settings.own_origin());
            let mut resp = (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                ],
                bytes,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&csp) {
                resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            resp
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the console is not built; run `cargo xtask run` (or `trunk build --release` in console/)",
        )
            .into_response(),
    }
}

async fn file(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    // index.html is the app's entry: revalidated every time, never cached as immutable.
    let safe = !path.is_empty()
        && path != "index.html"
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
