//! The simulator's keys and idempotency, as Stripe's: a secret or restricted test key
//! (Bearer or Basic-auth user) names the account and what it may do; a repeated
//! `Idempotency-Key` answers the first request's result.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::super::Simulator;
use super::*;
use crate::store::simulator::SavedResult;
use crate::stripe::form::Form;

/// The simulated account behind an API key.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: String,
    pub key_masked: String,
    /// A restricted key that may only read.
    pub read_only: bool,
    /// A restricted key without the Checkout Sessions permission.
    pub no_checkout: bool,
}

/// Checks `Authorization: Bearer` like Stripe: test keys only, well-formed; a read-only
/// restricted key may not write (Checkout Sessions' write permission is the one named).
pub(crate) fn authenticate(headers: &HeaderMap, method: &Method) -> Result<Account, SimError> {
    authenticate_for(headers, method, "rak_checkout_session_write")
}

/// [`authenticate`], naming `write_permission` when a read-only restricted key writes.
pub(crate) fn authenticate_for(
    headers: &HeaderMap,
    method: &Method,
    write_permission: &str,
) -> Result<Account, SimError> {
    let unauthorized = |msg: String| {
        stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            &msg,
            None,
        )
    };
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .into(),
        ));
    };
    // `Bearer KEY`, or `Basic base64(KEY:)` as Stripe takes it (`curl -u sk_test_…:`).
    let basic;
    let key = match auth.strip_prefix("Basic ") {
        Some(b64) => {
            use base64::Engine as _;
            basic = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .unwrap_or_default();
            basic.split(':').next().unwrap_or("").trim()
        }
        None => auth.strip_prefix("Bearer ").unwrap_or("").trim(),
    };
    let masked = crate::secrets::mask(key);
    if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        return Err(unauthorized(format!(
            "This is the chatpay Stripe simulator (TEST MODE): live keys like {masked} are not accepted here; use a test key (sk_test_… or rk_test_…)."
        )));
    }
    if key.starts_with("pk_") {
        return Err(unauthorized(format!(
            "Invalid API Key provided: {masked}. This is a publishable key; use a secret key (sk_test_…) or a restricted key (rk_test_…)."
        )));
    }
    let (restricted, rest) = if let Some(r) = key.strip_prefix("sk_test_") {
        (false, r)
    } else if let Some(r) = key.strip_prefix("rk_test_") {
        (true, r)
    } else {
        return Err(unauthorized(format!("Invalid API Key provided: {masked}")));
    };
    if rest.len() < 10 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) || rest.contains("invalid") {
        return Err(unauthorized(format!("Invalid API Key provided: {masked}")));
    }
    let read_only = restricted && rest.contains("readonly");
    let no_checkout = restricted && rest.contains("nocheckout");
    let account = Account {
        id: rest.replace("readonly", "").replace("nocheckout", ""),
        key_masked: masked,
        read_only,
        no_checkout,
    };
    if account.read_only && method != Method::GET {
        return Err(missing_permission(&account, write_permission));
    }
    Ok(account)
}

/// Stripe's 403 for a restricted key without `permission` on this endpoint.
pub(super) fn missing_permission(account: &Account, permission: &str) -> SimError {
    stripe_error(
        StatusCode::FORBIDDEN,
        "invalid_request_error",
        None,
        &format!(
            "The provided key '{}' does not have the required permissions for this endpoint on account 'acct_{}'. \
             Having the '{permission}' permission would allow this request to continue.",
            account.key_masked, account.id
        ),
        None,
    )
}

/// Runs a POST idempotently: the same key with the same parameters replays the saved
/// result; the same key with other parameters is an `idempotency_error`.
pub(super) async fn idempotent<F, Fut>(
    sim: &Simulator,
    account: &Account,
    headers: &HeaderMap,
    path: &str,
    form: &Form,
    run: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Value, SimError>>,
{
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut fields: Vec<_> = form.fields().to_vec();
    fields.sort();
    let fingerprint = hex::encode(Sha256::digest(format!("POST {path}\n{fields:?}").as_bytes()));
    let replay = |saved: SavedResult| {
        if saved.fingerprint != fingerprint {
            let k = key.clone().unwrap_or_default();
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                None,
                &format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                     Try using a key other than '{k}' if you meant to execute a different request."
                ),
                None,
            )
            .into_response();
        }
        let body: Value = serde_json::from_str(&saved.body).unwrap_or_default();
        let mut resp = (
            StatusCode::from_u16(saved.status).unwrap_or(StatusCode::OK),
            Json(body),
        )
            .into_response();
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        resp
    };
    if let Some(k) = &key {
        match sim.store.sim_saved_result(&account.id, k).await {
            Ok(Some(saved)) => return replay(saved),
            Ok(None) => {}
            Err(e) => return internal(e).into_response(),
        }
    }
    // Like Stripe, a key whose first request is still running answers 409 (try again).
    let _running = match &key {
        Some(k) => match sim.start_idempotent(&account.id, k) {
            Some(guard) => Some(guard),
            None => {
                return stripe_error(
                    StatusCode::CONFLICT,
                    "idempotency_error",
                    None,
                    &format!(
                        "There is currently another in-progress request using this Idempotent Key (that probably means \
                         you submitted twice, and the other request is still going through): {k}. Please try again later."
                    ),
                    None,
                )
                .into_response()
            }
        },
        None => None,
    };
    match run().await {
        Ok(value) => {
            if let Some(k) = &key {
                let saved = SavedResult {
                    fingerprint: fingerprint.clone(),
                    status: 200,
                    body: value.to_string(),
                };
                match sim.store.sim_save_result(&account.id, k, &saved).await {
                    Ok(true) => {}
                    // Another request with this key won the race: answer with its result.
                    Ok(false) => {
                        if let Ok(Some(first)) = sim.store.sim_saved_result(&account.id, k).await {
                            return replay(first);
                        }
                    }
                    Err(e) => return internal(e).into_response(),
                }
            }
            ok(value)
        }
        Err(e) => e.into_response(),
    }
}
