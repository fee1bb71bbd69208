//! chatpay's pay page, the link a payment card and the chat message carry for a site that
//! pays on Stripe's embedded Checkout page (an embedded session has no URL of its own).
//!
//! - `GET /pay/{payment}`: a pending embedded payment mounts its session with Stripe.js
//!   (the release of chatpay's API version, loaded from Stripe, or the simulator's stand-in
//!   with `--stripe-simulator`); a hosted one goes to Stripe's page (303); a settled one
//!   says how it ended. The page says "Almost there" after Stripe's `onComplete`: the
//!   payment is paid only when the signed webhook (or the reconciliation) says so.
//! - `GET /pay.js`: the page's script (no inline script: the CSP names its sources).
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

use super::checkout::{error_page, language, status_page};
use crate::pages::{escape, page};
use crate::payments;
use crate::state::AppState;
use crate::stripe::client::{STRIPE_JS, UI_MODE_EMBEDDED};
use crate::texts::{self, Page};

const PAY_JS: &str = include_str!("../../assets/pay.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pay/{payment}", get(pay_page))
        .route("/pay.js", get(pay_js))
}

async fn pay_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        PAY_JS,
    )
        .into_response()
}

/// Where Stripe.js and its frames come from: Stripe, or the simulator this relay talks to
/// (`…/simulator/stripe` serves its stand-in at `…/simulator/stripe.js`).
struct ScriptSource {
    script: String,
    /// CSP sources for `script-src`, `frame-src`, `connect-src` and `img-src`.
    scripts: String,
    frames: String,
    connects: String,
    images: String,
}

impl ScriptSource {
    fn for_api(base: &str) -> ScriptSource {
        if let Some(origin) = base.strip_suffix("/simulator/stripe") {
            return ScriptSource {
                script: format!("{base}.js"),
                scripts: origin.to_owned(),
                frames: origin.to_owned(),
                connects: "'none'".to_owned(),
                images: "'none'".to_owned(),
            };
        }
        // Stripe's list for Stripe.js and embedded Checkout.
        ScriptSource {
            script: STRIPE_JS.to_owned(),
            scripts: "https://js.stripe.com https://*.js.stripe.com".to_owned(),
            frames: "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com https://checkout.stripe.com"
                .to_owned(),
            connects: "https://api.stripe.com https://checkout.stripe.com".to_owned(),
            images: "https://*.stripe.com".to_owned(),
        }
    }

    fn csp(&self) -> String {
        format!(
            "default-src 'none'; script-src 'self' {}; frame-src {}; connect-src {}; img-src {}; style-src '{}'; \
             form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
            self.scripts,
            self.frames,
            self.connects,
            self.images,
            crate::pages::css_hash()
        )
    }
}

async fn pay_page(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let lang = language(&headers);
    let payment = match payments::load(&state, &id).await {
        Ok(p) => p,
        Err(e) => return error_page(lang, e),
    };
    match payment.status {
        PaymentStatus::Pending => {}
        PaymentStatus::Paid => return status_page(lang, Page::PaidTitle, "ok", Page::PaidText),
        PaymentStatus::Processing => {
            return status_page(lang, Page::ProcessingTitle, "muted", Page::ProcessingText)
        }
        PaymentStatus::Mismatch => {
            return status_page(lang, Page::CheckingTitle, "muted", Page::CheckingText)
        }
        PaymentStatus::Expired | PaymentStatus::Failed => {
            return status_page(lang, Page::NotCompletedTitle, "bad", Page::NotCompletedText)
        }
    }
    if payment.ui_mode.as_deref() != Some(UI_MODE_EMBEDDED) {
        return match payment.checkout_url.as_deref() {
            Some(url) if url.starts_with("http") => Redirect::to(url).into_response(),
            _ => status_page(lang, Page::AlmostTitle, "muted", Page::AlmostText),
        };
    }
    // The session is still being made: the card is not out yet either.
    let Some(sealed) = payment.client_secret_enc.as_deref() else {
        return status_page(lang, Page::AlmostTitle, "muted", Page::AlmostText);
    };
    let secret = match state.cipher.open(sealed, &payment.id) {
        Ok(s) => s,
        Err(e) => {
            return error_page(
                lang,
                crate::error::AppError::Internal(
                    e.context("the session's client secret does not open with this relay's key"),
                ),
            )
        }
    };
    let publishable = match state.store.stripe_account(&state.cipher, &payment.site_id).await {
        Ok(Some(a)) => a.publishable_key,
        Ok(None) => None,
        Err(e) => return error_page(lang, e),
    };
    let Some(publishable) = publishable else {
        return error_page(
            lang,
            crate::error::AppError::Conflict("the site has no publishable key any more".into()),
        );
    };
    let source = ScriptSource::for_api(state.stripe.base());
    let data = serde_json::json!({
        "pk": publishable,
        "secret": secret,
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
        script = escape(&source.script),
    );
    let html = page(&payment.description, &body).replacen(
        "<html lang=\"en\">",
        &format!("<html lang=\"{lang}\">"),
        1,
    );
    let mut resp = Html(html).into_response();
    if let Ok(v) = HeaderValue::from_str(&source.csp()) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
