//! Where Stripe Checkout sends the visitor back to (chatpay's default `success_url` and
//! `cancel_url`; a site may set its own).
//!
//! - `GET /checkout/return?payment=ID`: asks Stripe where the session stands (so the chat
//!   moves on even before the webhook lands) and says so.
//! - `GET /checkout/cancel?payment=ID`: the visitor went back from Checkout; the session is
//!   expired at Stripe so the workflow's "not paid" branch runs now.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chatpay_shared::protocol::PaymentStatus;
use serde::Deserialize;

use crate::pages::{escape, page};
use crate::payments;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checkout/return", get(returned))
        .route("/checkout/cancel", get(cancelled))
}

/// The return URLs for a payment, with Stripe's `{CHECKOUT_SESSION_ID}` template.
pub fn return_urls(public_url: &str, payment: &str) -> (String, String) {
    (
        format!("{public_url}/checkout/return?payment={payment}&session_id={{CHECKOUT_SESSION_ID}}"),
        format!("{public_url}/checkout/cancel?payment={payment}"),
    )
}

#[derive(Deserialize)]
struct PaymentQuery {
    payment: String,
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
    match payments::reconcile(&state, &payment).await {
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
    match payments::decline(&state, &payment).await {
        Ok(p) if p.status == PaymentStatus::Paid => status_page(
            "Already paid ✓",
            "ok",
            "This payment had already gone through, so nothing was cancelled.",
        ),
        Ok(_) => status_page(
            "Payment cancelled",
            "muted",
            "No money was taken. The chat will carry on from here.",
        ),
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
