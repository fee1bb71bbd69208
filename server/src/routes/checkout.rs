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
use axum::http::StatusCode;
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

fn status_page(title: &str, class: &str, text: &str) -> Response {
    let body = format!(
        "<h1 class=\"{class}\">{}</h1><p>{}</p><p class=\"muted\">You can close this tab and go back to the chat.</p>",
        escape(title),
        escape(text)
    );
    Html(page(title, &body)).into_response()
}

async fn returned(State(state): State<AppState>, Query(q): Query<PaymentQuery>) -> Response {
    let payment = match payments::load(&state, &q.payment).await {
        Ok(p) => p,
        Err(e) => return error_page(e),
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
        return status_page(
            "Almost there",
            "muted",
            "Stripe has not confirmed the payment yet; the chat will update by itself in a moment.",
        );
    };
    match result {
        Ok(p) => match p.status {
            PaymentStatus::Paid => {
                status_page("Payment received ✓", "ok", "Thank you! The chat already knows.")
            }
            PaymentStatus::Processing => status_page(
                "Payment processing",
                "muted",
                "Your bank is confirming the payment; the chat will tell you when it is through.",
            ),
            PaymentStatus::Pending => status_page(
                "Almost there",
                "muted",
                "Stripe has not confirmed the payment yet; the chat will update by itself in a moment.",
            ),
            PaymentStatus::Mismatch => status_page(
                "Payment being checked",
                "muted",
                "Stripe reported a payment that differs from what was asked; a person will check it and reply in the chat.",
            ),
            PaymentStatus::Expired | PaymentStatus::Failed => status_page(
                "Payment not completed",
                "bad",
                "The payment did not go through; the chat will offer what to do next.",
            ),
        },
        Err(e) => error_page(e),
    }
}

async fn cancelled(State(state): State<AppState>, Query(q): Query<PaymentQuery>) -> Response {
    let payment = match payments::load(&state, &q.payment).await {
        Ok(p) => p,
        Err(e) => return error_page(e),
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
                "Nothing was cancelled",
                "muted",
                "This link does not cancel a payment. To cancel, use the payment's \"Not now\" in the chat, or go back from the Stripe page.",
            ),
        )
            .into_response();
    }
    let work = {
        let state = state.clone();
        async move { payments::decline(&state, &payment).await }
    };
    let Some(result) = within_page_wait(work).await else {
        return status_page(
            "Cancelling…",
            "muted",
            "Stripe is slow to confirm; no money was taken, and the chat will carry on by itself.",
        );
    };
    // Said as it is: only an expired (or never completed) payment took no money.
    match result {
        Ok(p) => match p.status {
            PaymentStatus::Paid => status_page(
                "Already paid ✓",
                "ok",
                "This payment had already gone through, so nothing was cancelled.",
            ),
            PaymentStatus::Processing => status_page(
                "Payment being confirmed",
                "muted",
                "You already paid with a method your bank is confirming, so nothing was cancelled; the chat will tell you when it is through.",
            ),
            PaymentStatus::Mismatch => status_page(
                "Payment being checked",
                "muted",
                "Stripe reported a payment for this link; a person will check it and reply in the chat.",
            ),
            PaymentStatus::Pending => status_page(
                "Cancelling…",
                "muted",
                "Stripe is slow to confirm; no money was taken, and the chat will carry on by itself.",
            ),
            PaymentStatus::Expired | PaymentStatus::Failed => status_page(
                "Payment cancelled",
                "muted",
                "No money was taken. The chat will carry on from here.",
            ),
        },
        Err(e) => error_page(e),
    }
}

fn error_page(e: crate::error::AppError) -> Response {
    let status = e.status_code();
    if status.is_server_error() && status != StatusCode::BAD_GATEWAY {
        tracing::error!(error = %e, "checkout return page failed");
    }
    let text = if status == StatusCode::NOT_FOUND {
        "This payment link is not known here.".to_owned()
    } else if status == StatusCode::BAD_GATEWAY {
        "Stripe could not be reached just now; the chat will still update when Stripe reports back."
            .to_owned()
    } else {
        "Something went wrong on our side; the chat will still update when Stripe reports back.".to_owned()
    };
    (status, status_page("Payment status unknown", "bad", &text)).into_response()
}
