//! Several relays on one PostgreSQL: the database is the bus.
//!
//! A writing transaction calls `pg_notify('chatpay', …)` ([`crate::store::Tx::notify`]);
//! PostgreSQL delivers it when (and only if) the transaction commits. The payload is a
//! pointer, never content (a `NOTIFY` carries at most 8,000 bytes):
//! - `h|RELAY|SITE|CONVERSATION|SEQ`: a conversation's history grew to `SEQ`;
//! - `s|RELAY|SITE|CONVERSATION`: a conversation's status changed (consoles hear it; a
//!   conversation that closed tells its tabs here too);
//! - `n|RELAY|SITE|CONVERSATION|NOTE`: a note for agents was kept.
//!
//! Every relay listens on one connection of its own. A pointer from another relay makes it
//! read what changed from the store — the history after what its sockets of that
//! conversation have, the status, the note — and publish that to its hub, so the sockets
//! and consoles it holds see another relay's work. Its own pointers it skips (it published
//! when it committed). The store stays the truth: when the listening connection drops and
//! comes back (sqlx's `PgListener::try_recv` then answers `None`), everything its sockets
//! may have missed is read again, and its consoles are told to reload.
//!
//! `LISTEN` needs a session that stays: it does not work through PgBouncer in transaction
//! pooling mode (point the relays at PostgreSQL, or at a session-pooling bouncer).

use chatpay_shared::protocol::ConversationStatus;
use std::time::Duration;

use chatpay_shared::console::LiveEvent;
use chatpay_shared::protocol::ServerFrame;
use sqlx::postgres::PgListener;

use crate::domain::SiteId;
use crate::state::AppState;
use crate::store::Dialect;

/// The channel every relay listens on.
pub use crate::store::BUS_CHANNEL as CHANNEL;

/// Starts listening (PostgreSQL only) until the relay stops.
pub fn spawn(state: AppState) {
    if state.store.dialect() != Dialect::Postgres {
        return;
    }
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        tokio::select! {
            _ = listen(&state) => {}
            _ = async { shutdown.wait_for(|d| *d).await.is_ok() } => {}
        }
    });
}

async fn listen(state: &AppState) {
    let mut wait = Duration::from_millis(200);
    loop {
        let mut listener = match PgListener::connect(state.store.url()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "bus: cannot connect to listen; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "bus: LISTEN failed; retrying");
            tokio::time::sleep(wait).await;
            continue;
        }
        wait = Duration::from_millis(200);
        tracing::info!("bus: listening for other relays");
        // What happened while nobody listened (at start: nothing this relay shows yet).
        catch_up(state).await;
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => on_pointer(state, n.payload()).await,
                // The connection dropped and sqlx reconnected: notifications sent meanwhile
                // are lost, so read everything again.
                Ok(None) => {
                    tracing::warn!("bus: the listening connection was re-established; catching up");
                    catch_up(state).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bus: listening failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Applies one pointer from another relay.
async fn on_pointer(state: &AppState, payload: &str) {
    let parts: Vec<&str> = payload.split('|').collect();
    let (Some(kind), Some(relay)) = (parts.first(), parts.get(1)) else {
        return;
    };
    if *relay == state.store.relay_id() {
        return;
    }
    let (site, conversation) = match (parts.get(2), parts.get(3)) {
        (Some(s), Some(c)) => (*s, *c),
        _ => return,
    };
    // The site id as the writing relay read it from the store.
    let Ok(site) = SiteId::parse(site) else {
        return;
    };
    let site = &site;
    match *kind {
        "h" => {
            let seq: u64 = parts.get(4).and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
            history_grew(state, site, conversation, seq).await;
        }
        "s" if state.hub.console_open(site) || state.hub.published(conversation).is_some() => {
            match state.store.conversation_status(conversation).await {
                Ok(status) => {
                    if status == Some(ConversationStatus::Closed) {
                        // This relay's tabs of it offer a new chat from now on.
                        state.hub.publish(conversation, &[ServerFrame::Closed]);
                    }
                    if state.hub.console_open(site) {
                        live(state, site, conversation, status, None);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "bus: cannot read a status"),
            }
        }
        "n" if state.hub.console_open(site) => {
            let Some(id) = parts.get(4) else { return };
            match state.store.notice(id).await {
                Ok(Some((_, text))) => live(state, site, conversation, None, Some(text)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "bus: cannot read a note"),
            }
        }
        _ => {}
    }
}

/// Another relay added to a conversation's history: this relay's sockets of it get the
/// frames after what they have, and its consoles of the site hear of it.
async fn history_grew(state: &AppState, site: &SiteId, conversation: &str, seq: u64) {
    if let Some(published) = state.hub.published(conversation) {
        if seq > published {
            match state.store.history_after(conversation, published, 500).await {
                Ok(frames) => {
                    state.hub.publish(conversation, &frames);
                    if state.hub.console_open(site) {
                        state.hub.publish_live(site, conversation, &frames, None, None);
                    }
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "bus: cannot read the history"),
            }
        }
    }
    if state.hub.console_open(site) {
        // Nobody here holds the conversation: the console only needs to know it changed.
        live(state, site, conversation, None, None);
    }
}

fn live(
    state: &AppState,
    site: &SiteId,
    conversation: &str,
    status: Option<ConversationStatus>,
    notice: Option<String>,
) {
    state
        .hub
        .publish_live(site, conversation, &[], status, notice.as_deref());
    if status.is_none() && notice.is_none() {
        // A bare "this conversation changed" for the console.
        state.hub.publish_changed(site, conversation);
    }
}

/// Reads again what this relay's sockets may have missed, and tells its consoles to reload.
async fn catch_up(state: &AppState) {
    for (conversation, published) in state.hub.watched() {
        match state.store.history_after(&conversation, published, 500).await {
            Ok(frames) if !frames.is_empty() => state.hub.publish(&conversation, &frames),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "bus: cannot catch up a conversation"),
        }
    }
    for site in state.hub.open_consoles() {
        state.hub.publish_reload(&site);
    }
}

/// A console event that only says "reload what you show".
pub fn reload_event() -> LiveEvent {
    LiveEvent {
        conversation: String::new(),
        frame: None,
        status: None,
        notice: None,
    }
}
