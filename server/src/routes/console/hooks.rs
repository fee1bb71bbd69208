//! A site's outbound webhook: its URL (checked: https, a public address), the signing
//! secret shown once, a test event, and the log of deliveries with their answers.

use axum::extract::State;
use axum::Json;
use chatpay_shared::console::{HookDelivery, HookInput, HookView};

use super::OwnedSite;
use crate::error::AppResult;
use crate::state::AppState;

/// How many deliveries the console lists.
const LOG: i64 = 50;

async fn view(state: &AppState, owned: &OwnedSite, secret: Option<String>) -> AppResult<HookView> {
    let hook = state.store.hook(&state.cipher, owned.id()).await?;
    let deliveries = state
        .store
        .hook_deliveries(owned.id(), LOG)
        .await?
        .into_iter()
        .map(|d| HookDelivery {
            id: d.id,
            event_type: d.event_type,
            status: d.status.clone(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            next_at: (d.status == "pending").then_some(d.next_at).flatten(),
        })
        .collect();
    Ok(HookView {
        url: hook.as_ref().map(|h| h.url.clone()),
        secret_hint: hook.map(|h| h.secret_hint),
        secret,
        deliveries,
    })
}

/// `GET …/hook`.
pub async fn get(State(state): State<AppState>, owned: OwnedSite) -> AppResult<Json<HookView>> {
    Ok(Json(view(&state, &owned, None).await?))
}

/// `PUT …/hook`: sets the URL; the answer carries the secret when one was made.
pub async fn set(
    State(state): State<AppState>,
    owned: OwnedSite,
    super::Body(input): super::Body<HookInput>,
) -> AppResult<Json<HookView>> {
    let (url, _) = crate::outbound::check_target(&state, &input.url).await?;
    let secret = state
        .store
        .set_hook(&state.cipher, owned.id(), url.as_str(), input.new_secret)
        .await?;
    Ok(Json(view(&state, &owned, secret).await?))
}

/// `DELETE …/hook`.
pub async fn remove(State(state): State<AppState>, owned: OwnedSite) -> AppResult<Json<HookView>> {
    state.store.remove_hook(owned.id()).await?;
    Ok(Json(view(&state, &owned, None).await?))
}

/// `POST …/hook/test`: a `test` event, tried at once; the answer lists it.
pub async fn test(State(state): State<AppState>, owned: OwnedSite) -> AppResult<Json<HookView>> {
    crate::outbound::test_event(&state, owned.id()).await?;
    Ok(Json(view(&state, &owned, None).await?))
}
