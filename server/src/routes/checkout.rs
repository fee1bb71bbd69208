//! Where Stripe Checkout sends the visitor back to (chatpay's default `success_url` and
//! `cancel_url`; a site may set its own).
//!
//! - `GET /checkout/return?payment=ID`: asks Stripe where the session stands (so the chat
//!   moves on even before the webhook lands) and says so.
//! - `GET /checkout/cancel?payment=ID&token=T`: the visitor went back from Checkout; the
//!   session is expired at Stripe so the workflow's "not paid" branch runs now. Only with
//!   the token chatpay put into the cancel URL it gave Stripe: knowing a payment id (a link
//!   prefetcher, an `<img>`) cancels nothing.
//!
//! Both answer within [`PAGE_WAIT`] whatever Stripe does: the work goes on after the page
//! has said "the chat will update by itself".

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chatpay_shared::protocol::PaymentStatus;
use serde::Deserialize;

use crate::error::AppResult;
use crate::pages::{escape, page};
use crate::payments;
use crate::state::AppState;
use crate::store::payments::Payment;
use crate::texts::{self, Page};

/// The longest a return page waits for Stripe before answering anyway.
pub const PAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checkout/return", get(returned))
        .route("/checkout/cancel", get(cancelled))
}

#[derive(Deserialize)]
struct PaymentQuery {
    payment: String,
    #[serde(default)]
    token: Option<String>,
}

/// Runs `work` beside the request and waits for it at most [`PAGE_WAIT`]; `None`: it is
/// still running (and will finish on its own).
async fn within_page_wait<F>(work: F) -> Option<AppResult<Payment>>
where
    F: std::future::Future<Output = AppResult<Payment>> + Send + 'static,
{
    let task = tokio::spawn(work);
    match tokio::time::timeout(PAGE_WAIT, task).await {
        Ok(Ok(result)) => Some(result),
        Ok(Err(e)) => Some(Err(crate::error::AppError::Internal(anyhow::anyhow!("{e}")))),
        Err(_) => None,
    }
}

/// A return page in the visitor's language: a title, a sentence, and "close this tab".
pub(super) fn status_page(lang: &str, title: Page, class: &str, text: Page) -> Response {
    let title = texts::page(lang, title);
    let body = format!(
        "<h1 class=\"{class}\">{}</h1><p>{}</p><p class=\"muted\">{}</p>",
        escape(title),
        escape(texts::page(lang, text)),
        escape(texts::page(lang, Page::CloseTab)),
    );
    Html(page_in(lang, title, &body)).into_response()
}

/// A page (see [`page`]) that says it is in `lang`.
pub(super) fn page_in(lang: &str, title: &str, body: &str) -> String {
    page(title, body).replacen("<html lang=\"en\">", &format!("<html lang=\"{lang}\">"), 1)
}

/// What a return page says of a payment in `status`.
pub(super) fn status_of(lang: &str, status: PaymentStatus) -> Response {
    match status {
        PaymentStatus::Paid => status_page(lang, Page::PaidTitle, "ok", Page::PaidText),
        PaymentStatus::Processing => status_page(lang, Page::ProcessingTitle, "muted", Page::ProcessingText),
        PaymentStatus::Pending => status_page(lang, Page::AlmostTitle, "muted", Page::AlmostText),
        PaymentStatus::Mismatch => status_page(lang, Page::CheckingTitle, "muted", Page::CheckingText),
        PaymentStatus::Expired | PaymentStatus::Failed => {
            status_page(lang, Page::NotCompletedTitle, "bad", Page::NotCompletedText)
        }
    }
}

/// The language the visitor's browser asks for.
pub(super) fn language(headers: &HeaderMap) -> &'static str {
    texts::from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

async fn returned(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PaymentQuery>,
) -> Response {
    let lang = language(&headers);
    let payment = match payments::load(&state, &q.payment).await {
        Ok(p) => p,
        Err(e) => return error_page(lang, e),
    };
    // Anyone can load this page: Stripe is asked about a payment at most once per few
    // seconds; in between the page shows what is stored.
    let result = if state.limits.stripe_lookup(&payment.id, &payment.site_id) {
        let work = {
            let state = state.clone();
            async move { payments::reconcile(&state, &payment).await }
        };
        within_page_wait(work).await
    } else {
        Some(Ok(payment))
    };
    let Some(result) = result else {
        return status_page(lang, Page::AlmostTitle, "muted", Page::AlmostText);
    };
    match result {
        Ok(p) => status_of(lang, p.status),
        Err(e) => error_page(lang, e),
    }
}

async fn cancelled(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PaymentQuery>,
) -> Response {
    let lang = language(&headers);
    let payment = match payments::load(&state, &q.payment).await {
        Ok(p) => p,
        Err(e) => return error_page(lang, e),
    };
    let genuine = q
        .token
        .as_deref()
        .is_some_and(|t| state.cipher.check_token("cancel", &payment.id, t));
    if !genuine {
        tracing::info!(payment = %payment.id, "cancel page without a valid token: nothing cancelled");
        return (
            StatusCode::FORBIDDEN,
            status_page(
                lang,
                Page::NothingCancelledTitle,
                "muted",
                Page::NothingCancelledText,
            ),
        )
            .into_response();
    }
    let work = {
        let state = state.clone();
        async move { payments::decline(&state, &payment).await }
    };
    let Some(result) = within_page_wait(work).await else {
        return status_page(lang, Page::CancellingTitle, "muted", Page::CancellingText);
    };
    // Said as it is: only an expired (or never completed) payment took no money.
    match result {
        Ok(p) => match p.status {
            PaymentStatus::Paid => status_page(lang, Page::AlreadyPaidTitle, "ok", Page::AlreadyPaidText),
            PaymentStatus::Processing => {
                status_page(lang, Page::BeingConfirmedTitle, "muted", Page::BeingConfirmedText)
            }
            PaymentStatus::Mismatch => {
                status_page(lang, Page::CheckingTitle, "muted", Page::CheckingCancelText)
            }
            PaymentStatus::Pending => status_page(lang, Page::CancellingTitle, "muted", Page::CancellingText),
            PaymentStatus::Expired | PaymentStatus::Failed => {
                status_page(lang, Page::CancelledTitle, "muted", Page::CancelledText)
            }
        },
        Err(e) => error_page(lang, e),
    }
}

pub(super) fn error_page(lang: &str, e: crate::error::AppError) -> Response {
    let status = e.status_code();
    if status.is_server_error() && status != StatusCode::BAD_GATEWAY {
        tracing::error!(error = %e, "checkout return page failed");
    }
    let text = if status == StatusCode::NOT_FOUND {
        Page::UnknownLink
    } else if status == StatusCode::BAD_GATEWAY {
        Page::StripeUnreachable
    } else {
        Page::OurSide
    };
    (status, status_page(lang, Page::UnknownTitle, "bad", text)).into_response()
}
