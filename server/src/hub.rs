//! The hub: after a transaction commits, its conversation events are published here and
//! reach every socket of that conversation.
//!
//! Each event is serialized once and shared. A socket that falls too far behind gets
//! `Lagged` from its receiver and reloads what it missed from the store, so the hub may drop
//! but never reorders; the store stays the source of truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Utf8Bytes;

use chatpay_shared::console::LiveEvent;
use chatpay_shared::protocol::{ConversationStatus, ServerFrame};
use tokio::sync::broadcast;

use crate::domain::SiteId;

/// How many events one conversation's channel holds for a slow socket (a socket further
/// behind reloads from the store). Small: an idle visitor costs little.
const CHANNEL_CAPACITY: usize = 16;
/// How many events a site's console channel holds (every conversation of the site).
const LIVE_CAPACITY: usize = 256;

/// A committed conversation event, ready to send.
#[derive(Debug)]
pub struct HubEvent {
    /// The conversation's history seq of this frame (`None`: not part of the history, like Typing).
    pub seq: Option<u64>,
    /// The frame as JSON text; cloning shares the bytes.
    pub json: Utf8Bytes,
}

/// One conversation's (or one site's console's) channel.
#[derive(Debug)]
struct Channel {
    tx: broadcast::Sender<Arc<HubEvent>>,
    /// The newest history `seq` published here (what another relay's news is compared to).
    published: u64,
}

/// Fan-out of events to the sockets of each conversation.
#[derive(Debug, Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, Channel>>,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Starts listening to a conversation. Subscribe *before* reading the history so no
    /// event falls between the two.
    pub fn subscribe(self: &Arc<Self>, conversation: &str) -> Subscription {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let capacity = if conversation.starts_with("live:") {
            LIVE_CAPACITY
        } else {
            CHANNEL_CAPACITY
        };
        let rx = channels
            .entry(conversation.to_owned())
            .or_insert_with(|| Channel {
                tx: broadcast::channel(capacity).0,
                published: 0,
            })
            .tx
            .subscribe();
        Subscription {
            rx,
            hub: Arc::clone(self),
            conversation: conversation.to_owned(),
        }
    }

    /// Sends committed frames to every subscriber of the conversation.
    pub fn publish(&self, conversation: &str, frames: &[ServerFrame]) {
        if frames.is_empty() {
            return;
        }
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(channel) = channels.get_mut(conversation) else {
            return;
        };
        if let Some(newest) = frames.iter().filter_map(ServerFrame::seq).max() {
            channel.published = channel.published.max(newest);
        }
        let tx = &channel.tx;
        for frame in frames {
            match serde_json::to_string(frame) {
                Ok(json) => {
                    // No receivers is fine: nobody is looking at the moment.
                    let _ = tx.send(Arc::new(HubEvent {
                        seq: frame.seq(),
                        json: Utf8Bytes::from(json),
                    }));
                }
                Err(e) => tracing::error!(error = %e, "cannot serialize a frame"),
            }
        }
    }

    /// Sends a site's console what changed in one of its conversations: each frame, the
    /// conversation's new status if it changed, and a note for agents if there is one.
    pub fn publish_live(
        &self,
        site: &SiteId,
        conversation: &str,
        frames: &[ServerFrame],
        status: Option<ConversationStatus>,
        notice: Option<&str>,
    ) {
        let key = live_key(site);
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = channels.get(&key).map(|c| &c.tx) else {
            return;
        };
        let mut events: Vec<LiveEvent> = frames
            .iter()
            .filter(|f| !matches!(f, ServerFrame::Typing))
            .map(|f| LiveEvent {
                conversation: conversation.to_owned(),
                frame: Some(f.clone()),
                status: None,
                notice: None,
            })
            .collect();
        if status.is_some() || notice.is_some() {
            events.push(LiveEvent {
                conversation: conversation.to_owned(),
                frame: None,
                status,
                notice: notice.map(str::to_owned),
            });
        }
        for e in events {
            if let Ok(json) = serde_json::to_string(&e) {
                let _ = tx.send(Arc::new(HubEvent {
                    seq: None,
                    json: Utf8Bytes::from(json),
                }));
            }
        }
    }

    /// Tells a site's console that a conversation changed, with nothing more to say (its
    /// change was made by another relay and it holds no socket of it here).
    pub fn publish_changed(&self, site: &SiteId, conversation: &str) {
        self.send_live(
            site,
            &LiveEvent {
                conversation: conversation.to_owned(),
                frame: None,
                status: None,
                notice: None,
            },
        );
    }

    /// Tells a site's console to reload what it shows (news may have been missed).
    pub fn publish_reload(&self, site: &SiteId) {
        self.send_live(site, &crate::bus::reload_event());
    }

    fn send_live(&self, site: &SiteId, event: &LiveEvent) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let (Some(c), Ok(json)) = (channels.get(&live_key(site)), serde_json::to_string(event)) {
            let _ = c.tx.send(Arc::new(HubEvent {
                seq: None,
                json: Utf8Bytes::from(json),
            }));
        }
    }

    /// Starts listening to everything that happens in a site's conversations (the console).
    pub fn subscribe_live(self: &Arc<Self>, site: &SiteId) -> Subscription {
        self.subscribe(&live_key(site))
    }

    /// How many conversations have at least one socket (for tests and metrics).
    pub fn live_conversations(&self) -> usize {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Notes that a conversation's sockets here have its history up to `seq` (a socket
    /// that replayed it from the store), so another relay's news is read from there on.
    pub fn seen(&self, conversation: &str, seq: u64) {
        if let Some(c) = self
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(conversation)
        {
            c.published = c.published.max(seq);
        }
    }

    /// The newest `seq` published to a conversation's sockets here, if it has any socket.
    pub fn published(&self, conversation: &str) -> Option<u64> {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(conversation)
            .map(|c| c.published)
    }

    /// Every conversation with a socket here, with its newest published `seq`.
    pub fn watched(&self) -> Vec<(String, u64)> {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(k, _)| !k.starts_with("live:"))
            .map(|(k, c)| (k.clone(), c.published))
            .collect()
    }

    /// Whether a site's console is open here.
    pub fn console_open(&self, site: &SiteId) -> bool {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&live_key(site))
    }

    /// Every site whose console is open here.
    pub fn open_consoles(&self) -> Vec<SiteId> {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            // Each `live:` key was made of a `SiteId` ([`live_key`]), so each parses.
            .filter_map(|k| k.strip_prefix("live:").and_then(|s| SiteId::parse(s).ok()))
            .collect()
    }

    fn release(&self, conversation: &str) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if channels
            .get(conversation)
            .is_some_and(|c| c.tx.receiver_count() == 0)
        {
            channels.remove(conversation);
        }
    }
}

fn live_key(site: &SiteId) -> String {
    let mut k = String::from("live:");
    k.push_str(site.as_str());
    k
}

/// A socket's view of one conversation's events. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<HubEvent>>,
    hub: Arc<Hub>,
    conversation: String,
}

impl Subscription {
    /// The next event; `Err(Lagged)` means events were dropped and must be reloaded.
    pub async fn recv(&mut self) -> Result<Arc<HubEvent>, broadcast::error::RecvError> {
        self.rx.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Our receiver is still counted until `rx` drops, so swap it out first.
        let (tx, rx) = broadcast::channel(1);
        drop(tx);
        drop(std::mem::replace(&mut self.rx, rx));
        self.hub.release(&self.conversation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatpay_shared::protocol::Author;

    fn msg(seq: u64) -> ServerFrame {
        ServerFrame::Message {
            seq,
            from: Author::Bot,
            text: format!("m{seq}"),
            at: 0,
            client_id: None,
        }
    }

    #[tokio::test]
    async fn every_subscriber_gets_events_in_order_and_channels_are_released() {
        let hub = Arc::new(Hub::new());
        let mut a = hub.subscribe("c1");
        let mut b = hub.subscribe("c1");
        hub.publish("c1", &[msg(1), msg(2)]);
        hub.publish("other", &[msg(9)]);
        for sub in [&mut a, &mut b] {
            assert_eq!(sub.recv().await.unwrap().seq, Some(1));
            let second = sub.recv().await.unwrap();
            assert_eq!(second.seq, Some(2));
            assert!(second.json.as_str().contains(r#""text":"m2""#));
        }
        assert_eq!(hub.live_conversations(), 1);
        drop(a);
        assert_eq!(hub.live_conversations(), 1);
        drop(b);
        assert_eq!(hub.live_conversations(), 0);
    }
}
