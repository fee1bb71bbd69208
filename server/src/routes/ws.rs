//! The visitor socket: `GET /ws?site=ID`, upgraded to a WebSocket.
//!
//! A request without an `Origin` is refused (403). A page whose origin the site does not
//! allow, or a `site` that does not exist, gets a socket that only says why (an `Error`
//! frame, then close code 4403): a browser cannot read an HTTP refusal, and the owner needs
//! the reason in the page's console. Such refusals are counted for the owner's
//! Troubleshooting ([`crate::refused`]). On the socket, the tab sends `Hello` first; the relay answers `Welcome`, replays
//! the history after the tab's `last_seq`, then streams new events as they commit.
//!
//! The loop ([`run`]) is generic over any `Sink`/`Stream` of messages so it can be tested
//! with channels as well as over a real socket.

use chatpay_shared::protocol::ConversationStatus;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chatpay_shared::protocol::{ClientFrame, ErrorCode, ServerFrame};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::chat;
use crate::client::ClientIp;
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::sites::Site;

/// How long a new socket may take to say `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// History replayed per store read.
const REPLAY_PAGE: u32 = 500;
/// Close code for "the relay is restarting, come back" (RFC 6455 registry: 1012).
const CLOSE_RESTART: u16 = 1012;
/// Close code for a protocol violation.
const CLOSE_POLICY: u16 = 1008;
/// Close code for "this chat is not set up for this page" (a private-use code: the widget
/// stops retrying).
const CLOSE_NOT_SET_UP: u16 = 4403;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[derive(Debug, Deserialize)]
struct WsQuery {
    site: String,
}

#[tracing::instrument(skip_all, fields(site = %query.site))]
async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    held: Option<axum::Extension<crate::connections::HeldConnection>>,
    ws: WebSocketUpgrade,
) -> AppResult<Response> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            AppError::Forbidden("the socket request has no Origin header a browser would send".into())
        })?
        .to_owned();
    // A page the chat is not set up for is told why on the socket itself (a browser cannot
    // read an HTTP refusal of a WebSocket): the widget shows it and stops retrying.
    let (code, message) = match SiteId::parse(&query.site) {
        Err(e) => (ErrorCode::UnknownSite, e.to_string()),
        Ok(site_id) => match state.store.site(&site_id).await? {
            None => (
                ErrorCode::UnknownSite,
                format!("no site '{site_id}' on this relay; check the script tag's data-site"),
            ),
            // The relay's own pages (the console's preview) may open any of its sites.
            Some(site) if origin != state.settings.own_origin() && !site.origins.contains(&origin) => {
                state.refused.note(&site.id, &origin, crate::store::now_ms());
                // Told back cut short: a made-up Origin may be kilobytes long.
                let shown: String = origin.chars().take(crate::refused::ORIGIN_MAX_CHARS).collect();
                tracing::info!(origin = %shown, "socket refused: origin not allowed");
                (
                    ErrorCode::OriginNotAllowed,
                    format!(
                        "the page's origin '{shown}' may not open the chat of site '{site_id}'; \
                         add it to the site's allowed origins in the console (Sites)"
                    ),
                )
            }
            Some(site) => return accept(state, site, ip, held, ws).await,
        },
    };
    // Within the address's budgets like any socket, then closed at once.
    state.limits.sockets_blocked(ip)?;
    let counted = state.limits.socket_opened(ip)?;
    Ok(ws
        .read_buffer_size(1024)
        .write_buffer_size(1024)
        .max_message_size(1024)
        .on_upgrade(move |socket| async move {
            let (_counted, _held) = (counted, held);
            let (mut sink, _) = socket.split();
            let _ = send(&mut sink, &error(code, &message)).await;
            close(&mut sink, CLOSE_NOT_SET_UP, "not set up for this page").await;
        }))
}

/// Upgrades a socket whose page may open `site`'s chat.
async fn accept(
    state: AppState,
    site: Site,
    ip: std::net::IpAddr,
    held: Option<axum::Extension<crate::connections::HeldConnection>>,
    ws: WebSocketUpgrade,
) -> AppResult<Response> {
    // An address that kept starting new conversations past its budget waits before its
    // next handshake (until its bucket refills).
    state.limits.sockets_blocked(ip)?;
    let counted = state.limits.socket_opened(ip)?;
    // The socket's lines carry the id and site of the request that opened it (the upgrade
    // finishes in a task of its own).
    let span = tracing::Span::current();
    // Small buffers: an idle visitor should cost a few KiB, not tungstenite's 128 KiB read
    // buffer. Frames are small; a slow reader gets backpressure past 1 MiB.
    Ok(ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| {
            async move {
                // Counted against the address, and as an open connection, while it lives.
                let (_counted, _held) = (counted, held);
                let (sink, stream) = socket.split();
                run(state, site, ip, sink, stream).await;
            }
            .instrument(span)
        }))
}

/// Serves one visitor socket until it closes or the relay shuts down.
pub async fn run<S, R>(state: AppState, site: Site, ip: std::net::IpAddr, mut sink: S, mut stream: R)
where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let mut heard = Instant::now();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, next_frame(&mut stream, &mut heard)).await {
        Ok(Some(Ok(frame))) => frame,
        Ok(Some(Err(err))) => {
            let _ = send(&mut sink, &err).await;
            return close(&mut sink, CLOSE_POLICY, "bad frame").await;
        }
        Ok(None) | Err(_) => return,
    };
    let ClientFrame::Hello {
        site: said_site,
        visitor_token,
        last_seq,
        lang,
    } = hello
    else {
        let _ = send(&mut sink, &error(ErrorCode::HelloFirst, "say Hello first")).await;
        return close(&mut sink, CLOSE_POLICY, "hello first").await;
    };
    if said_site != site.id.as_str() {
        let msg = format!("this socket is for site '{}', not '{said_site}'", site.id);
        let _ = send(&mut sink, &error(ErrorCode::UnknownSite, &msg)).await;
        return close(&mut sink, CLOSE_POLICY, "wrong site").await;
    }
    // The big futures a socket awaits now and then are boxed: the socket's own future, which
    // every idle visitor holds for hours, stays small (measured by `cargo xtask bench --sockets`).
    let joined = match Box::pin(chat::join(&state, &site, visitor_token.as_deref(), ip)).await {
        Ok(j) => j,
        Err(AppError::RateLimited { message, .. }) => {
            let _ = send(&mut sink, &error(ErrorCode::RateLimited, &message)).await;
            return close(&mut sink, CLOSE_POLICY, "over budget").await;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start or find the conversation");
            let _ = send(
                &mut sink,
                &error(ErrorCode::Internal, "the chat is unavailable; retrying soon"),
            )
            .await;
            return close(&mut sink, CLOSE_RESTART, "unavailable").await;
        }
    };
    let conversation = joined.conversation.id.clone();
    // Subscribe before reading the history: nothing committed in between is lost.
    let mut events = state.hub.subscribe(&conversation);
    let welcome = ServerFrame::Welcome {
        visitor_token: joined.token.as_str().to_owned(),
        conversation: conversation.clone(),
        site_name: site.name.clone(),
        color: site.color.clone(),
        texts: crate::texts::for_visitor(
            lang.as_deref().unwrap_or("en"),
            &crate::texts::overrides_of(site.texts.as_deref()),
        ),
    };
    if send(&mut sink, &welcome).await.is_err() {
        return;
    }
    // A tab whose token was unknown gets the new conversation from its start.
    let mut last_sent = if joined.is_new { 0 } else { last_seq.unwrap_or(0) };
    if !joined.is_new {
        // A returning visitor may have paid while away: ask Stripe about open payments.
        tokio::spawn(reconcile_open_payments(state.clone(), conversation.clone()));
    }
    if Box::pin(replay(&state, &conversation, &mut last_sent, &mut sink))
        .await
        .is_err()
    {
        return;
    }
    if joined.conversation.status == ConversationStatus::Closed
        && send(&mut sink, &ServerFrame::Closed).await.is_err()
    {
        return;
    }
    state.hub.seen(&conversation, last_sent);
    let mut shutdown = state.shutdown.clone();
    // Answers of work done off this loop (a decline waits on Stripe; the socket does not).
    // Boxed: the channel allocates its slots up front, and a frame is large.
    let (later_tx, mut later) = mpsc::channel::<Box<ServerFrame>>(8);
    // A socket whose other end is gone answers nothing: ping it, and close it when it has
    // been silent for two intervals.
    let every = state.settings.ws_ping_every;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            incoming = next_frame(&mut stream, &mut heard) => {
                let frame = match incoming {
                    None => break,
                    Some(Err(err)) => { if send(&mut sink, &err).await.is_err() { break } continue }
                    Some(Ok(ClientFrame::Replay { after })) => {
                        // The tab missed something: everything after what it has, again.
                        // A tab asks only when it saw a gap: it counts like a message.
                        if let Err(refused) = state.limits.message(ip, &conversation) {
                            if send(&mut sink, &error(ErrorCode::RateLimited, refused.message())).await.is_err() { break }
                            continue;
                        }
                        let mut from = after;
                        if Box::pin(replay(&state, &conversation, &mut from, &mut sink)).await.is_err() { break }
                        last_sent = last_sent.max(from);
                        continue;
                    }
                    Some(Ok(frame)) => frame,
                };
                if let Some(reply) = Box::pin(handle(&state, &site.id, &conversation, ip, frame, &later_tx)).await {
                    if send(&mut sink, &reply).await.is_err() { break }
                }
            }
            Some(reply) = later.recv() => {
                if send(&mut sink, &reply).await.is_err() { break }
            }
            _ = ping.tick() => {
                if heard.elapsed() > every * 2 {
                    tracing::debug!(%conversation, "visitor socket silent; closing it");
                    break;
                }
                if sink.send(Message::Ping(axum::body::Bytes::from_static(b"chatpay"))).await.is_err() { break }
            }
            event = events.recv() => match event {
                Ok(event) => {
                    match event.seq {
                        Some(s) if s <= last_sent => continue,
                        // Something came before it that this socket has not sent (another
                        // relay's news, or a commit published out of order): send from the
                        // store, in order, instead of leaving a gap.
                        Some(s) if s > last_sent + 1 => {
                            if Box::pin(replay(&state, &conversation, &mut last_sent, &mut sink)).await.is_err() { break }
                            continue;
                        }
                        _ => {}
                    }
                    if sink.send(Message::Text(event.json.clone())).await.is_err() { break }
                    if let Some(seq) = event.seq { last_sent = seq }
                }
                Err(RecvError::Lagged(_)) => {
                    if Box::pin(replay(&state, &conversation, &mut last_sent, &mut sink)).await.is_err() { break }
                }
                Err(RecvError::Closed) => break,
            },
            _ = async { shutdown.wait_for(|down| *down).await.is_ok() } => {
                return close(&mut sink, CLOSE_RESTART, "relay restarting").await;
            }
        }
    }
}

/// Answers one frame after `Hello`; `Some` is a frame for this socket only.
async fn handle(
    state: &AppState,
    site_id: &SiteId,
    conversation: &str,
    ip: std::net::IpAddr,
    frame: ClientFrame,
    later: &mpsc::Sender<Box<ServerFrame>>,
) -> Option<ServerFrame> {
    match frame {
        ClientFrame::Hello { .. } => Some(error(ErrorCode::HelloFirst, "this socket already said Hello")),
        // Answered in the socket's loop.
        ClientFrame::Replay { .. } => None,
        ClientFrame::Text { client_id, text } => {
            // Per conversation, whatever the number of its sockets, and per address.
            if let Err(refused) = state.limits.message(ip, conversation) {
                return Some(error(ErrorCode::RateLimited, refused.message()));
            }
            match chat::visitor_text(state, site_id, conversation, &client_id, &text).await {
                Ok(_) => None,
                Err(AppError::BadRequest(msg)) => Some(error(ErrorCode::BadText, &msg)),
                Err(AppError::Conflict(msg)) => Some(error(ErrorCode::Closed, &msg)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot store a visitor message");
                    Some(error(
                        ErrorCode::Internal,
                        "your message was not saved; please send it again",
                    ))
                }
            }
        }
        ClientFrame::DeclinePayment { payment } => {
            // Stripe may be slow: the decline runs beside the socket, which keeps serving
            // frames and pings; its outcome arrives as the card's update (or an error).
            let (state, conversation, later) = (state.clone(), conversation.to_owned(), later.clone());
            tokio::spawn(async move {
                if let Some(reply) = decline(&state, &conversation, &payment).await {
                    let _ = later.send(Box::new(reply)).await;
                }
            });
            None
        }
        ClientFrame::Checkout { payment } => {
            // Each reads the payment and opens a sealed secret: budgeted like a message.
            if let Err(refused) = state.limits.message(ip, conversation) {
                return Some(error(ErrorCode::RateLimited, refused.message()));
            }
            Some(checkout(state, conversation, &payment).await)
        }
        ClientFrame::Visitor { name, email } => {
            match chat::set_visitor(state, conversation, name.as_deref(), email.as_deref()).await {
                Ok(()) => None,
                Err(AppError::BadRequest(msg)) => Some(error(ErrorCode::BadVisitor, &msg)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot store the visitor's identity");
                    Some(error(ErrorCode::Internal, "please try again"))
                }
            }
        }
    }
}

/// Pay in the panel: what mounts the payment's embedded Checkout, if it belongs to this
/// conversation and is still payable there; for this socket only.
async fn checkout(state: &AppState, conversation: &str, payment: &str) -> ServerFrame {
    let p = match state.store.payment(payment).await {
        Ok(Some(p)) if p.conversation_id.as_deref() == Some(conversation) => p,
        Ok(_) => return error(ErrorCode::UnknownPayment, "no such payment in this conversation"),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a payment");
            return error(ErrorCode::Internal, "please try again");
        }
    };
    match crate::payments::mount::mount_of(state, &p).await {
        Ok(Some(m)) => ServerFrame::Checkout {
            payment: p.id,
            client_secret: m.client_secret,
            publishable_key: m.publishable_key,
            script: m.script,
        },
        Ok(None) => error(
            ErrorCode::UnknownPayment,
            "this payment cannot be paid in the chat; use its link",
        ),
        Err(e) => {
            tracing::error!(%payment, error = %e, "cannot mount a payment's checkout");
            error(
                ErrorCode::Internal,
                "the payment form cannot open here just now; use the payment's link",
            )
        }
    }
}

/// The card's "Not now": expires the payment's session if it belongs to this conversation,
/// within the Stripe client's budget. `Some` is an error frame for this socket.
async fn decline(state: &AppState, conversation: &str, payment: &str) -> Option<ServerFrame> {
    let p = match state.store.payment(payment).await {
        Ok(Some(p)) if p.conversation_id.as_deref() == Some(conversation) => p,
        Ok(_) => {
            return Some(error(
                ErrorCode::UnknownPayment,
                "no such payment in this conversation",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a payment");
            return Some(error(ErrorCode::Internal, "please try again"));
        }
    };
    let deadline = state.stripe.budget() + Duration::from_secs(2);
    let failed = match tokio::time::timeout(deadline, crate::payments::decline(state, &p)).await {
        Ok(Ok(_)) => return None,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "Stripe did not answer in time".to_owned(),
    };
    tracing::warn!(%payment, error = %failed, "decline failed");
    Some(error(
        ErrorCode::DeclineFailed,
        "the payment link could not be cancelled just now; please try again",
    ))
}

/// Reconciles the conversation's open payments with Stripe (on reconnect), within the
/// look-up budgets: a script rejoining in a loop, or every visitor coming back after a
/// restart, must not spend the site's Stripe rate limit. What is left out is settled by the
/// webhooks and the sweep.
async fn reconcile_open_payments(state: AppState, conversation: String) {
    match state.store.open_payments_of(&conversation).await {
        Ok(mut list) => {
            list.retain(|p| state.limits.stripe_lookup(&p.id, &p.site_id));
            crate::payments::reconcile_each(&state, &list, "on reconnect").await
        }
        Err(e) => tracing::warn!(error = %e, "cannot list open payments"),
    }
}

/// Sends the stored history after `last_sent`, page by page.
async fn replay<S: Sink<Message> + Unpin>(
    state: &AppState,
    conversation: &str,
    last_sent: &mut u64,
    sink: &mut S,
) -> Result<(), ()> {
    loop {
        let page = state
            .store
            .history_after(conversation, *last_sent, REPLAY_PAGE)
            .await
            .map_err(|e| tracing::error!(error = %e, "cannot read the history"))?;
        let full = page.len() == REPLAY_PAGE as usize;
        for frame in &page {
            send(sink, frame).await?;
            if let Some(seq) = frame.seq() {
                *last_sent = seq;
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// The next client frame; `Some(Err(frame))` is the error frame to answer a bad one with.
/// Anything heard (pongs included) moves `heard`.
async fn next_frame<R>(stream: &mut R, heard: &mut Instant) -> Option<Result<ClientFrame, ServerFrame>>
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    loop {
        let message = stream.next().await?;
        *heard = Instant::now();
        match message {
            Ok(Message::Text(text)) => {
                return Some(
                    serde_json::from_str::<ClientFrame>(text.as_str())
                        .map_err(|e| error(ErrorCode::BadFrame, &format!("cannot read this frame: {e}"))),
                )
            }
            Ok(Message::Binary(_)) => {
                return Some(Err(error(
                    ErrorCode::BadFrame,
                    "frames are JSON text, not binary",
                )))
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return None,
        }
    }
}

fn error(code: ErrorCode, message: &str) -> ServerFrame {
    ServerFrame::Error {
        code,
        message: message.to_owned(),
    }
}

async fn send<S: Sink<Message> + Unpin>(sink: &mut S, frame: &ServerFrame) -> Result<(), ()> {
    let json = serde_json::to_string(frame).map_err(|_| ())?;
    sink.send(Message::Text(Utf8Bytes::from(json)))
        .await
        .map_err(|_| ())
}

async fn close<S: Sink<Message> + Unpin>(sink: &mut S, code: u16, reason: &'static str) {
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
}
