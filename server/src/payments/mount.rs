//! What mounts a payment's embedded Checkout session (Stripe's `embedded_page`): its client
//! secret (kept sealed on the payment), the publishable key fixed with it, and the
//! Stripe.js to load. Asked for by the pay page and by the visitor's socket when Pay is pressed in the
//! chat panel; nobody else gets it.

use chatpay_shared::protocol::PaymentStatus;

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::payments::Payment;
use crate::stripe::client::{stripe_js_for, UI_MODE_EMBEDDED};

/// What Stripe.js needs to mount one session.
#[derive(Debug, Clone)]
pub struct Mount {
    pub client_secret: String,
    pub publishable_key: String,
    /// Stripe.js of chatpay's API version, or the simulator's stand-in.
    pub script: String,
}

/// The mount of a pending payment made on the embedded page; `None` when it is not one
/// (hosted, settled, or its session is still being made).
pub async fn mount_of(state: &AppState, p: &Payment) -> AppResult<Option<Mount>> {
    if p.status != PaymentStatus::Pending || p.ui_mode.as_deref() != Some(UI_MODE_EMBEDDED) {
        return Ok(None);
    }
    let Some(sealed) = p.client_secret_enc.as_deref() else {
        return Ok(None);
    };
    let client_secret = state.cipher.open(sealed, &p.id).map_err(|e| {
        AppError::Internal(e.context("the session's client secret does not open with this relay's key"))
    })?;
    // The key the session was made for, not the site's key of today (it may have changed).
    let publishable_key = p.publishable_key.clone().ok_or_else(|| {
        AppError::Conflict(format!(
            "payment '{}' was made for Stripe's embedded page without a publishable key",
            p.id
        ))
    })?;
    Ok(Some(Mount {
        client_secret,
        publishable_key,
        script: stripe_js_for(state.stripe.base()),
    }))
}
