//! The agent inbox's API: the site's conversations (all, or waiting for a person), one
//! transcript, a person's reply, take over / hand back, a payment asked for by hand, and a
//! live WebSocket of everything that happens in the site's conversations.

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chatpay_shared::console::{
    AgentReply, ConversationPage, ConversationSummary, ConversationView, ManualPayment,
};
use chatpay_shared::protocol::ServerFrame;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::OwnedSite;
use crate::agents;
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    waiting: bool,
    /// The `next` of the previous page.
    #[serde(default)]
    before: Option<String>,
    /// Conversations per page (1-200, default 50).
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/console/sites/{site}/conversations[?waiting=true][&before=CURSOR][&limit=N]`:
/// a page of the list, newest activity first, and the cursor of the next page.
pub async fn list(
    State(state): State<AppState>,
    owned: OwnedSite,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<ConversationPage>> {
    let site = owned.id();
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(
            cursor
                .split_once(':')
                .and_then(|(ts, id)| Some((ts.parse::<i64>().ok()?, id)))
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "invalid cursor '{cursor}': pass the `next` of the previous page"
                    ))
                })?,
        ),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    Ok(Json(
        state
            .store
            .conversations_of(site, q.waiting, before, limit)
            .await?,
    ))
}

async fn summary(state: &AppState, site: &SiteId, id: &str) -> AppResult<ConversationSummary> {
    state
        .store
        .conversation_summary(site, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no conversation '{id}' on site '{site}'")))
}

/// A conversation of one of the owner's sites, named by the path's `{site}` and `{id}`, as
/// it is now (404 when the site is not theirs or the conversation not the site's).
#[derive(Debug)]
pub struct OwnedConversation {
    pub owned: OwnedSite,
    pub summary: ConversationSummary,
}

impl FromRequestParts<AppState> for OwnedConversation {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let owned = OwnedSite::from_request_parts(parts, state).await?;
        let id = super::path_param(parts, state, "id").await?;
        let summary = summary(state, owned.id(), &id).await?;
        Ok(OwnedConversation { owned, summary })
    }
}

/// `GET /api/console/sites/{site}/conversations/{id}`: the whole history.
pub async fn get(
    State(state): State<AppState>,
    OwnedConversation { summary, .. }: OwnedConversation,
) -> AppResult<Json<ConversationView>> {
    let history = state.store.history_after(&summary.id, 0, 5000).await?;
    Ok(Json(ConversationView { summary, history }))
}

/// `POST …/conversations/{id}/reply`.
pub async fn reply(
    State(state): State<AppState>,
    conv: OwnedConversation,
    super::Body(body): super::Body<AgentReply>,
) -> AppResult<Json<Value>> {
    let (site, id) = (conv.owned.id(), conv.summary.id.as_str());
    agents::reply(&state, site, id, &body.text).await?;
    Ok(Json(json!({ "sent": true })))
}

/// `POST …/conversations/{id}/takeover`.
pub async fn take_over(
    State(state): State<AppState>,
    conv: OwnedConversation,
) -> AppResult<Json<ConversationSummary>> {
    let (site, id) = (conv.owned.id(), conv.summary.id.as_str());
    agents::take_over(&state, site, id).await?;
    Ok(Json(summary(&state, site, id).await?))
}

/// `POST …/conversations/{id}/handback`.
pub async fn hand_back(
    State(state): State<AppState>,
    conv: OwnedConversation,
) -> AppResult<Json<ConversationSummary>> {
    let (site, id) = (conv.owned.id(), conv.summary.id.as_str());
    agents::hand_back(&state, site, id).await?;
    Ok(Json(summary(&state, site, id).await?))
}

/// `POST …/conversations/{id}/payments`.
pub async fn payment(
    State(state): State<AppState>,
    conv: OwnedConversation,
    super::Body(body): super::Body<ManualPayment>,
) -> AppResult<Json<Value>> {
    let (site, id) = (conv.owned.id(), conv.summary.id.as_str());
    let payment = agents::request_payment(&state, site, id, &body, &conv.owned.owner.account.email).await?;
    // The link is made after this answer; the card appears in the transcript when it is.
    Ok(Json(json!({ "payment": payment, "status": "creating" })))
}

/// `GET /api/console/sites/{site}/live`: a WebSocket of [`chatpay_shared::console::LiveEvent`]s.
/// Only from the console's own origin (no cross-site socket can ride the session cookie).
pub async fn live(
    State(state): State<AppState>,
    owned: OwnedSite,
    headers: HeaderMap,
    held: Option<axum::Extension<crate::connections::HeldConnection>>,
    ws: WebSocketUpgrade,
) -> AppResult<Response> {
    let site = owned.id();
    let own = state.settings.own_origin();
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if origin != own {
        return Err(AppError::Forbidden(format!(
            "the inbox's live socket only opens from {own}"
        )));
    }
    // Subscribe before the upgrade: the client may act as soon as its handshake completes,
    // before the upgraded task runs, and no event in between may be missed.
    let mut events = state.hub.subscribe_live(site);
    Ok(ws.on_upgrade(move |socket| async move {
        // Counted as an open connection while it lives.
        let _held = held;
        let (mut sink, mut stream) = socket.split();
        let mut shutdown = state.shutdown.clone();
        let every = state.settings.ws_ping_every;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut heard = tokio::time::Instant::now();
        // Events are coalesced: what happened to each conversation within LIVE_BATCH goes
        // out as one event (its last status, every notice), so a flood of scripted visitors
        // cannot make an open inbox refetch thousands of times.
        let mut pending = Pending::default();
        let flush = tokio::time::sleep(LIVE_BATCH);
        tokio::pin!(flush);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(e) => {
                        if pending.is_empty() {
                            flush.as_mut().reset(tokio::time::Instant::now() + LIVE_BATCH);
                        }
                        pending.add(e.json.as_str());
                    }
                    // Too far behind: the console reloads what it shows.
                    Err(RecvError::Lagged(_)) => {
                        let reload = serde_json::to_string(&crate::bus::reload_event()).unwrap_or_default();
                        if sink.send(Message::Text(reload.into())).await.is_err() { break }
                    }
                    Err(RecvError::Closed) => break,
                },
                () = &mut flush, if !pending.is_empty() => {
                    let mut failed = false;
                    for text in pending.drain() {
                        if sink.send(Message::Text(text.into())).await.is_err() { failed = true; break }
                    }
                    if failed { break }
                }
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => heard = tokio::time::Instant::now(),
                },
                _ = ping.tick() => {
                    if heard.elapsed() > every * 2 { break }
                    if sink.send(Message::Ping(axum::body::Bytes::from_static(b"chatpay"))).await.is_err() { break }
                }
                _ = async { shutdown.wait_for(|d| *d).await.is_ok() } => break,
            }
        }
    }))
}

/// How long live events gather before they go to the console.
const LIVE_BATCH: std::time::Duration = std::time::Duration::from_millis(250);

/// Live events waiting to go out, one per conversation (its last status and every notice).
#[derive(Default)]
struct Pending {
    by_conversation: std::collections::BTreeMap<String, chatpay_shared::console::LiveEvent>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.by_conversation.is_empty()
    }

    fn add(&mut self, json: &str) {
        let Ok(e) = serde_json::from_str::<chatpay_shared::console::LiveEvent>(json) else {
            return;
        };
        let slot = self
            .by_conversation
            .entry(e.conversation.clone())
            .or_insert_with(|| chatpay_shared::console::LiveEvent {
                conversation: e.conversation.clone(),
                frame: None,
                status: None,
                notice: None,
            });
        if e.status.is_some() {
            slot.status = e.status;
        }
        if let Some(n) = e.notice {
            slot.notice = Some(match slot.notice.take() {
                Some(before) => format!("{before}\n{n}"),
                None => n,
            });
        }
        // The frame passed on is the last one, unless a payment's card or update came
        // earlier in the batch: that one matters more to an agent.
        if let Some(f) = e.frame {
            let payment = |f: &ServerFrame| {
                matches!(
                    f,
                    ServerFrame::PaymentCard { .. } | ServerFrame::PaymentUpdate { .. }
                )
            };
            slot.frame = match slot.frame.take() {
                Some(old) if payment(&old) && !payment(&f) => Some(old),
                _ => Some(f),
            };
        }
    }

    fn drain(&mut self) -> Vec<String> {
        std::mem::take(&mut self.by_conversation)
            .into_values()
            .filter_map(|e| serde_json::to_string(&e).ok())
            .collect()
    }
}

/// `GET …/conversations/{id}/export`: everything kept about the conversation, as a JSON
/// download (a visitor's data request).
pub async fn export(State(state): State<AppState>, conv: OwnedConversation) -> AppResult<Response> {
    let (site, id) = (conv.owned.id(), conv.summary.id.as_str());
    let doc = crate::privacy::export(&state.store, site, id, state.stripe.base())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no conversation '{id}' on site '{site}'")))?;
    let body = serde_json::to_vec_pretty(&doc).map_err(|e| AppError::Internal(e.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"conversation-{id}.json\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// `POST …/conversations/{id}/erase`: the transcript, the visitor's details, the run's
/// answers and the payments' descriptions go; amounts, statuses and Stripe ids stay.
pub async fn erase(State(state): State<AppState>, conv: OwnedConversation) -> AppResult<Json<Value>> {
    let (site, id) = (conv.owned.id(), conv.summary.id.as_str());
    if !state.store.erase_conversation(site, id).await? {
        return Err(AppError::NotFound(format!(
            "no conversation '{id}' on site '{site}'"
        )));
    }
    tracing::info!(%site, conversation = %id, by = %conv.owned.owner.account.email, "conversation erased");
    Ok(Json(json!({ "erased": true })))
}
