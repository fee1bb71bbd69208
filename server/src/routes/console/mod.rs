//! The console API under `/api/console/…`: what the site owners' console (the Yew app at
//! `/console`) calls. JSON in and out (types in `chatpay_shared::console`).
//!
//! Every route but `state`, `setup` and `login` needs a session ([`auth::Owner`]): without
//! one it answers 401. Writes also need the `X-Chatpay-Console: 1` header and, when the
//! browser sends one, an `Origin` equal to the relay's: with the `SameSite=Strict` cookie
//! that makes them CSRF-safe. A site that is not the caller's answers 404, like a site
//! that does not exist.
//!
//! - [`auth`]: setup link, login, logout, the session extractor.
//! - [`sites`]: the caller's sites, their origins, look and install snippet.
//! - [`stripe`]: the 4-step Stripe wizard.
//! - [`troubleshoot`]: live checks for "link not sending", "not resuming", "Apple Pay".
//! - [`workflows`]: the editor's versions, check and publish.
//! - [`inbox`]: conversations, transcripts, replies, take over / hand back, manual payments,
//!   the live socket, and a conversation's export and erasure.
//! - [`hooks`]: the site's outbound webhook, its test event and delivery log.
//! - [`payments`]: the site's Payments page, its CSV, and the conversion report.

pub mod auth;
pub mod hooks;
pub mod inbox;
pub mod payments;
pub mod sites;
pub mod stripe;
pub mod troubleshoot;
pub mod workflows;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::Router;
use chatpay_shared::console::paths;
use serde::de::DeserializeOwned;

use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::sites::Site;

/// A JSON request body, refused like every other console mistake: a 400 in the relay's
/// error shape (`{"error": {"code", "message"}}`) that names what was wrong, so the console
/// can say it (axum's own `Json` answers 415/422 in plain text).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::BadRequest(
                "the request body must be JSON: send Content-Type: application/json".into(),
            )),
            Err(e) => {
                // serde's words, cut: it may quote a value the caller sent.
                let why: String = e.body_text().chars().take(300).collect();
                Err(AppError::BadRequest(format!(
                    "the request body is not what this page expects: {why}"
                )))
            }
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::STATE, get(auth::state))
        .route(paths::SETUP, post(auth::setup))
        .route(paths::LOGIN, post(auth::login))
        .route(paths::LOGOUT, post(auth::logout))
        .route(paths::LOGOUT_EVERYWHERE, post(auth::logout_everywhere))
        .route(paths::ME, get(auth::me))
        .route(paths::SITES, get(sites::list).post(sites::create))
        .route(paths::SITE, get(sites::get).put(sites::update))
        .route(paths::TEXTS, get(sites::texts).put(sites::set_texts))
        .route(paths::STRIPE, get(stripe::view))
        .route(paths::STRIPE_KEY, post(stripe::key))
        .route(paths::STRIPE_SETTINGS, put(stripe::settings))
        .route(paths::STRIPE_WEBHOOK, put(stripe::webhook))
        .route(paths::STRIPE_WEBHOOK_ENDPOINT, post(stripe::create_webhook))
        .route(
            paths::STRIPE_WEBHOOK_PREVIOUS,
            axum::routing::delete(stripe::revoke_previous),
        )
        .route(paths::TROUBLESHOOT, get(troubleshoot::checks))
        .route(paths::WORKFLOWS, get(workflows::list).post(workflows::publish))
        .route(paths::WORKFLOWS_CHECK, post(workflows::check))
        .route(paths::WORKFLOW, get(workflows::get))
        .route(paths::CONVERSATIONS, get(inbox::list))
        .route(paths::CONVERSATION, get(inbox::get))
        .route(paths::REPLY, post(inbox::reply))
        .route(paths::TAKEOVER, post(inbox::take_over))
        .route(paths::HANDBACK, post(inbox::hand_back))
        .route(paths::PAYMENTS, post(inbox::payment))
        .route(paths::LIVE, get(inbox::live))
        .route(paths::SITE_PAYMENTS, get(payments::list))
        .route(paths::SITE_PAYMENTS_CSV, get(payments::csv))
        .route(paths::CONVERSION, get(payments::conversion))
        .route(paths::EXPORT, get(inbox::export))
        .route(paths::ERASE, post(inbox::erase))
        .route(paths::RETENTION, put(sites::set_retention))
        .route(paths::HOOK, get(hooks::get).put(hooks::set).delete(hooks::remove))
        .route(paths::HOOK_TEST, post(hooks::test))
}

/// The caller's site, or 404 (for someone else's site too: its existence is not told).
/// A site of the signed-in owner, named by the path's `{site}`. A site that is not theirs
/// answers 404 like one that does not exist. Extracted before any body is read, so a
/// stranger learns nothing from how a body is refused.
#[derive(Debug)]
pub struct OwnedSite {
    pub owner: auth::Owner,
    pub site: Site,
}

impl OwnedSite {
    /// The site's id.
    pub fn id(&self) -> &SiteId {
        &self.site.id
    }
}

impl FromRequestParts<AppState> for OwnedSite {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<OwnedSite, AppError> {
        let owner = auth::Owner::from_request_parts(parts, state).await?;
        let site = path_param(parts, state, "site").await?;
        // An id that does not parse names no site: 404 like any site that is not theirs.
        let site = match SiteId::parse(&site) {
            Ok(id) => owned_site(state, &owner, &id).await?,
            Err(_) => return Err(not_in_account(&site)),
        };
        Ok(OwnedSite { owner, site })
    }
}

/// One `{name}` of the request's path (the routes that use the extractors above have it).
pub(crate) async fn path_param(parts: &mut Parts, state: &AppState, name: &str) -> AppResult<String> {
    let axum::extract::Path(mut params) =
        axum::extract::Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
    params
        .remove(name)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the route has no {{{name}}}")))
}

/// The owner's site `site`, read now (404 when it is not theirs).
pub async fn owned_site(state: &AppState, owner: &auth::Owner, site: &SiteId) -> AppResult<Site> {
    match state.store.site(site).await? {
        Some(s) if s.owner_id.as_deref() == Some(owner.account.id.as_str()) => Ok(s),
        _ => Err(not_in_account(site.as_str())),
    }
}

/// The 404 for a site that is not the caller's (or does not exist).
fn not_in_account(site: &str) -> AppError {
    AppError::NotFound(format!("no site '{site}' in your account"))
}
