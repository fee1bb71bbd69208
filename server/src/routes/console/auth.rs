//! Accounts in the console: the first-run setup link, login (rate-limited), logout, and the
//! [`Owner`] extractor every other console route takes.

use axum::extract::{FromRequestParts, State};
use axum::http::header::{COOKIE, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chatpay_shared::console::{Credentials, Me, SetupRequest};

use crate::accounts::{self, token_hash, COOKIE as SESSION_COOKIE, SESSION_TTL};
use crate::client::ClientIp;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::accounts::Account;

/// A signed-in site owner.
#[derive(Debug, Clone)]
pub struct Owner {
    pub account: Account,
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            kv.trim()
                .strip_prefix(SESSION_COOKIE)?
                .strip_prefix('=')
                .map(str::to_owned)
        })
}

impl FromRequestParts<AppState> for Owner {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Owner, AppError> {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            check_write(&parts.headers, state)?;
        }
        let token = cookie_token(&parts.headers)
            .ok_or_else(|| AppError::Unauthorized("sign in to the console first".into()))?;
        let account = state
            .store
            .session_account(&token_hash(&token))
            .await?
            .ok_or_else(|| AppError::Unauthorized("your session has ended; sign in again".into()))?;
        Ok(Owner { account })
    }
}

/// CSRF protection for writes: a custom header (which a cross-site form cannot send) and,
/// when present, the relay's own Origin.
fn check_write(headers: &HeaderMap, state: &AppState) -> AppResult<()> {
    if headers.get("x-chatpay-console").and_then(|v| v.to_str().ok()) != Some("1") {
        return Err(AppError::Forbidden(
            "console writes need the X-Chatpay-Console: 1 header".into(),
        ));
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let own = state.settings.own_origin();
        if origin != own {
            return Err(AppError::Forbidden(format!(
                "requests from '{origin}' may not change the console"
            )));
        }
    }
    Ok(())
}

/// `GET /api/console/state`: whether the relay still waits for its first account.
pub async fn state(State(state): State<AppState>) -> AppResult<Json<Me>> {
    Ok(Json(Me {
        email: String::new(),
        setup_needed: state.store.account_count().await? == 0,
    }))
}

fn session_cookie(state: &AppState, token: &str, max_age: u64) -> AppResult<HeaderValue> {
    let secure = if state.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| AppError::Internal(e.into()))
}

async fn start_session(state: &AppState, account: Account) -> AppResult<Response> {
    let token = accounts::new_secret();
    state
        .store
        .create_session(&token_hash(&token), &account.id, SESSION_TTL.as_millis() as i64)
        .await?;
    let cookie = session_cookie(state, &token, SESSION_TTL.as_secs())?;
    let mut resp = Json(Me {
        email: account.email,
        setup_needed: false,
    })
    .into_response();
    resp.headers_mut().insert(SET_COOKIE, cookie);
    Ok(resp)
}

/// `POST /api/console/setup`: the first account, with the one-time link the relay printed.
pub async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    super::Body(req): super::Body<SetupRequest>,
) -> AppResult<Response> {
    check_write(&headers, &state)?;
    if state.store.account_count().await? > 0 {
        return Err(AppError::Conflict(
            "this relay already has an account; sign in, or ask its owner".into(),
        ));
    }
    // The link first: without it nobody gets the relay to judge a password.
    let token = token_hash(req.token.trim());
    let used_up = || AppError::Invalid {
        field: "token",
        message:
            "this setup link is used up or expired; restart chatpay for a new one, or use `chatpay user add`"
                .into(),
    };
    if !state.store.setup_token_valid(&token).await? {
        return Err(used_up());
    }
    accounts::check_new_credentials_off_loop(&state.hashers, &req.email, &req.password).await?;
    if !state.store.take_setup_token(&token).await? {
        return Err(used_up());
    }
    let account = accounts::create_account(&state.store, &state.hashers, &req.email, &req.password).await?;
    start_session(&state, account).await
}

/// `POST /api/console/login`: limited per client address and per (email, address), with
/// backoff (see [`accounts::signin`]).
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    super::Body(req): super::Body<Credentials>,
) -> AppResult<Response> {
    check_write(&headers, &state)?;
    let email = req.email.trim().to_lowercase();
    if email.len() > 254 {
        return Err(AppError::Invalid {
            field: "email",
            message: format!(
                "the email is {} bytes long; an email address has at most 254",
                email.len()
            ),
        });
    }
    if req.password.len() > 1024 {
        return Err(AppError::Invalid {
            field: "password",
            message: "the password is longer than 1024 bytes".into(),
        });
    }
    accounts::signin::attempt(&state.store, &email, ip).await?;
    let found = state.store.account_by_email(&email).await?;
    let ok = match &found {
        Some((_, hash)) => {
            accounts::verify_password(&state.hashers, req.password.clone(), hash.clone()).await?
        }
        // Spend the same time as a real check, so the answer does not tell which emails exist.
        None => accounts::check_against_nobody(&state.hashers, req.password.clone()).await?,
    };
    match (ok, found) {
        (true, Some((account, _))) => {
            accounts::signin::succeeded(&state.store, &email, ip).await?;
            start_session(&state, account).await
        }
        // The attempt is already counted.
        _ => Err(AppError::Unauthorized(
            "that email and password do not match an account".into(),
        )),
    }
}

/// `POST /api/console/logout-everywhere`: ends every session of the account (every browser
/// it is signed in on), this one included.
pub async fn logout_everywhere(State(state): State<AppState>, owner: Owner) -> AppResult<Response> {
    let ended = state.store.delete_sessions_of(&owner.account.id).await?;
    tracing::info!(account = %owner.account.id, ended, "signed out everywhere");
    let mut resp = Json(serde_json::json!({ "signed_out": true, "sessions_ended": ended })).into_response();
    resp.headers_mut()
        .insert(SET_COOKIE, session_cookie(&state, "", 0)?);
    Ok(resp)
}

/// `POST /api/console/logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    check_write(&headers, &state)?;
    if let Some(token) = cookie_token(&headers) {
        state.store.delete_session(&token_hash(&token)).await?;
    }
    let mut resp = Json(serde_json::json!({ "signed_out": true })).into_response();
    resp.headers_mut()
        .insert(SET_COOKIE, session_cookie(&state, "", 0)?);
    Ok(resp)
}

/// `GET /api/console/me`.
pub async fn me(owner: Owner) -> Json<Me> {
    Json(Me {
        email: owner.account.email,
        setup_needed: false,
    })
}
