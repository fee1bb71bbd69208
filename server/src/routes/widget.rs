//! The widget as a host page loads it.
//!
//! - `GET /embed.js`: the loader the script tag points at. Small, cached for five minutes,
//!   it names the current hashed widget files, so a new build reaches visitors quickly.
//! - `GET /w/{hash}.{js,wasm,css}`: the widget itself, named by content hash and cached for
//!   a year (`immutable`). Served with CORS so any host page may load it.
//! - `GET /demo`: the demo host page (Trunk's `index.html`), which embeds the widget
//!   through the script tag like any site would.
//!
//! The files themselves, and their compressed copies, are [`crate::assets`].

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
const CACHE_SHORT: &str = "public, max-age=300";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/demo") }))
        .route("/embed.js", get(embed_js))
        .route("/w/{file}", get(widget_file))
        .route("/demo", get(demo_page))
        .route("/preview/{site}", get(preview_page))
}

async fn embed_js(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match &state.assets.embed() {
        Some(asset) => asset.respond(&headers, CACHE_SHORT),
        None => {
            let why = state.assets.missing().unwrap_or("the widget is not built");
            let js = format!(
                "console.error({});",
                serde_json::Value::from(format!("chatpay: {why}"))
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                js,
            )
                .into_response()
        }
    }
}

async fn widget_file(
    State(state): State<AppState>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    match state.assets.hashed(&file) {
        Some(asset) => {
            let asset = Arc::clone(asset);
            // Compressing the first time is CPU work; keep it off the async workers.
            match tokio::task::spawn_blocking(move || asset.respond(&headers, CACHE_IMMUTABLE)).await {
                Ok(resp) => resp,
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        None => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            "no such widget file; the page may use an old /embed.js, reload it",
        )
            .into_response(),
    }
}

async fn demo_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match &state.assets.demo() {
        Some(asset) => asset.respond(&headers, "no-cache"),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            state
                .assets
                .missing()
                .unwrap_or("the demo page is not built")
                .to_owned(),
        )
            .into_response(),
    }
}

/// `GET /preview/{site}`: the site's chat on a blank page, as a new visitor every time
/// (the console's "Try it"): it runs the published workflow against the site's Stripe (the
/// simulator in test setups).
async fn preview_page(State(state): State<AppState>, UrlPath(site): UrlPath<String>) -> Response {
    let Ok(id) = crate::domain::SiteId::parse(&site) else {
        return (StatusCode::BAD_REQUEST, "invalid site id").into_response();
    };
    let json_id = serde_json::Value::from(id.as_str()).to_string();
    let body = format!(
        "<h1>Preview: {}</h1><p class=\"muted\">A new visitor each time you open this page. The chat runs the \
         published workflow.</p><script>localStorage.removeItem('chatpay:' + {json_id}); \
         window.chatpaySettings = {{ open: true }};</script>\
         <script async src=\"{}/embed.js\" data-site=\"{}\"></script>",
        crate::pages::escape(id.as_str()),
        state.settings.public_url,
        crate::pages::escape(id.as_str())
    );
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(crate::pages::page("chatpay preview", &body)),
    )
        .into_response()
}
