//! chatpay's pay page, the link a payment card and the chat message carry for a site that
//! pays on Stripe's embedded Checkout page (an embedded session has no URL of its own).
//!
//! - `GET /pay/{payment}`: a pending embedded payment mounts its session with Stripe.js
//!   (the release of chatpay's API version, loaded from Stripe, or the simulator's stand-in
//!   with `--stripe-simulator`); a hosted one goes to Stripe's page (303); a settled one
//!   says how it ended. The page says "Almost there" after Stripe's `onComplete`: the
//!   payment is paid only when the signed webhook (or the reconciliation) says so.
//! - `GET /pay.js`: the page's script (no inline script: the CSP names its sources).
//! - `GET /pay-panel.js?lang=xx` and `/pay-panel.css`: the module (and its rules) the
//!   widget's loader imports when Pay is pressed on such a card in the chat panel: it draws
//!   the checkout over the panel (its words in the visitor's language) and mounts the
//!   session the visitor's socket was sent.
//!
//! The session's client secret is in the page's body, never in a URL: it lets whoever has
//! the page pay this payment, as Stripe's hosted URL does.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chatpay_shared::money::{currency, format_minor};
use chatpay_shared::protocol::PaymentStatus;

use super::checkout::{error_page, language, page_in, status_of};
use crate::pages::escape;
use crate::payments;
use crate::state::AppState;
use crate::stripe::client::UI_MODE_EMBEDDED;
use crate::texts::{self, Page};

const PAY_JS: &str = include_str!("../../assets/pay.js");
const PAY_PANEL_JS: &str = include_str!("../../assets/pay-panel.js");
const PAY_PANEL_CSS: &str = include_str!("../../assets/pay-panel.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pay/{payment}", get(pay_page))
        .route(
            "/pay.js",
            get(|| async { file("text/javascript", PAY_JS.to_owned()) }),
        )
        .route("/pay-panel.js", get(pay_panel_js))
        .route(
            "/pay-panel.css",
            get(|| async { file("text/css", PAY_PANEL_CSS.to_owned()) }),
        )
}

/// One of the pay pages' files: cached five minutes; host pages load the panel's ones
/// cross-origin, as they load the widget's.
fn file(kind: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, format!("{kind}; charset=utf-8")),
            (header::CACHE_CONTROL, "public, max-age=300".to_owned()),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*".to_owned()),
        ],
        body,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct Lang {
    #[serde(default)]
    lang: String,
}

/// The panel's module with its words in `lang` (a shipped language, else English).
async fn pay_panel_js(axum::extract::Query(q): axum::extract::Query<Lang>) -> Response {
    let words = serde_json::to_string(&texts::pay_panel(&q.lang)).unwrap_or_else(|_| "[]".into());
    let mut body = String::with_capacity(PAY_PANEL_JS.len() + 200);
    body.push_str("const WORDS = ");
    body.push_str(&words.replace('<', "\\u003c"));
    body.push_str(";\n");
    body.push_str(PAY_PANEL_JS);
    file("text/javascript", body)
}

/// Where Stripe.js and its frames come from, as the page's CSP sources: Stripe's list, or
/// the simulator this relay talks to (the origin its stand-in and frame are served from).
fn csp_for(script: &str) -> String {
    let (scripts, frames, connects, images) = match script.strip_suffix("/simulator/stripe.js") {
        Some(origin) => (origin, origin, "'none'", "'none'"),
        None => (
            "https://js.stripe.com https://*.js.stripe.com",
            "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com https://checkout.stripe.com",
            "https://api.stripe.com https://checkout.stripe.com",
            "https://*.stripe.com",
        ),
    };
    format!(
        "default-src 'none'; script-src 'self' {scripts}; frame-src {frames}; connect-src {connects}; \
         img-src {images}; style-src '{}'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        crate::pages::css_hash()
    )
}

async fn pay_page(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let lang = language(&headers);
    let payment = match payments::load(&state, &id).await {
        Ok(p) => p,
        Err(e) => return error_page(lang, e),
    };
    if payment.status != PaymentStatus::Pending {
        return status_of(lang, payment.status);
    }
    if payment.ui_mode.as_deref() != Some(UI_MODE_EMBEDDED) {
        return match payment.checkout_url.as_deref() {
            Some(url) if url.starts_with("http") => Redirect::to(url).into_response(),
            _ => status_of(lang, payment.status),
        };
    }
    let mount = match payments::mount::mount_of(&state, &payment).await {
        Ok(Some(m)) => m,
        // The session is still being made: the card is not out yet either.
        Ok(None) => return status_of(lang, payment.status),
        Err(e) => return error_page(lang, e),
    };
    let data = serde_json::json!({
        "pk": mount.publishable_key,
        "secret": mount.client_secret,
        "doneTitle": texts::page(lang, Page::AlmostTitle),
        "doneText": texts::page(lang, Page::AlmostText),
        "failed": texts::page(lang, Page::PayFormFailed),
    })
    .to_string()
    // Inside <script>: no `</script>` can end it early.
    .replace('<', "\\u003c");
    let amount = match currency(&payment.currency) {
        Ok(c) => format!("{} {}", format_minor(payment.amount_minor, c), c.code),
        Err(_) => format!("{} {}", payment.amount_minor, payment.currency),
    };
    let body = format!(
        "<h1>{description}</h1><div class=\"amount\" data-testid=\"amount\">{amount}</div>\
         <div id=\"checkout\" data-testid=\"checkout\"></div>\
         <p id=\"note\" role=\"status\" class=\"muted\"></p>\
         <script type=\"application/json\" id=\"pay-data\">{data}</script>\
         <script src=\"{script}\"></script><script src=\"/pay.js\"></script>",
        description = escape(&payment.description),
        amount = escape(&amount),
        script = escape(&mount.script),
    );
    let mut resp = Html(page_in(lang, &payment.description, &body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp_for(&mount.script)) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
