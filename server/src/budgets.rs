//! Budgets for what anonymous callers can start: new conversations (per client address and
//! per site), messages (per conversation, across all its sockets), open visitor sockets
//! (per address), payment links (per address and per site), and Stripe look-ups made on a
//! visitor's behalf, by the return page or a rejoining visitor (per payment and per site). Each is a token bucket: a burst, then one more every period
//! ([`Rate`]); every one is a `CHATPAY_BUDGET_*` option.
//!
//! A client address counts as its [`holder`] (an IPv6 /64 is one caller). Budgets live in
//! memory, per relay: with several relays each has its own (the sign-in
//! limit, which must hold across relays, is in the database instead). Over budget is a
//! [`Refused`] naming the budget and when to come back; it is counted per budget, and
//! nothing is written. Buckets of quiet keys are dropped periodically, so memory stays
//! bounded whoever calls.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::SiteId;

/// Who an address stands for in the budgets: an IPv4 address, or an IPv6 /64 (one
/// subscriber gets a whole /64: counting single IPv6 addresses would give one caller
/// billions of budgets).
pub fn holder(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// A token bucket: `burst` at once, then one more every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many may come at once (the bucket's size).
    pub burst: u32,
    /// How long one takes to come back (the bucket refills one per `every`).
    pub every: Duration,
}

impl Rate {
    pub const fn new(burst: u32, every: Duration) -> Rate {
        Rate { burst, every }
    }

    /// Parses `BURST/PERIOD`, like `20/30s`, `8/1s`, `100/500ms`, `10/2m`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad =
            || format!("budget '{text}' is not BURST/PERIOD, like 20/30s (20 at once, one more every 30 s)");
        let (burst, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let burst: u32 = burst.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let (digits, unit): (String, String) = period.chars().partition(|c| c.is_ascii_digit());
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let every = match unit.as_str() {
            "ms" => Duration::from_millis(n),
            "s" | "" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        if burst == 0 || every.is_zero() {
            return Err(format!("budget '{text}' must allow at least 1 per period"));
        }
        Ok(Rate { burst, every })
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.every)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}ms", self.burst, self.every.as_millis())
    }
}

/// The budgets' settings (defaults are for production; tests and benches set their own).
#[derive(Debug, Clone)]
pub struct Budgets {
    /// New conversations a client address may start.
    pub conversations_per_ip: Rate,
    /// New conversations a site may get, from everyone together.
    pub conversations_per_site: Rate,
    /// Visitor messages into one conversation, whatever the number of its sockets.
    pub messages_per_conversation: Rate,
    /// Visitor messages from one client address, into all its conversations.
    pub messages_per_ip: Rate,
    /// Payment links (Checkout Sessions) a client address may make the bot open.
    pub links_per_ip: Rate,
    /// Payment links a site's bot may open, for everyone together.
    pub links_per_site: Rate,
    /// Open visitor sockets per client address.
    pub sockets_per_ip: u32,
    /// Stripe look-ups made on a visitor's behalf (the return page, a rejoin) for one payment.
    pub lookups_per_payment: Rate,
    /// The same for all of a site's payments together (Stripe allows 25 calls a second in
    /// test mode, 100 live, for everything an account does).
    pub lookups_per_site: Rate,
    /// Writes to the Stripe simulator (when it runs) per client address.
    pub simulator_writes_per_ip: Rate,
    /// Webhook deliveries with a bad signature per client address; past it, that address's
    /// deliveries are refused before their body is read, until the bucket refills.
    pub webhook_failures_per_ip: Rate,
}

impl Default for Budgets {
    fn default() -> Budgets {
        Budgets {
            conversations_per_ip: Rate::new(20, Duration::from_secs(30)),
            conversations_per_site: Rate::new(300, Duration::from_millis(100)),
            messages_per_conversation: Rate::new(8, Duration::from_secs(1)),
            messages_per_ip: Rate::new(30, Duration::from_millis(500)),
            links_per_ip: Rate::new(10, Duration::from_secs(60)),
            links_per_site: Rate::new(20, Duration::from_millis(200)),
            sockets_per_ip: 50,
            lookups_per_payment: Rate::new(1, Duration::from_secs(5)),
            lookups_per_site: Rate::new(20, Duration::from_millis(200)),
            simulator_writes_per_ip: Rate::new(100, Duration::from_millis(40)),
            webhook_failures_per_ip: Rate::new(30, Duration::from_secs(10)),
        }
    }
}

/// Which budget refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    ConversationsPerIp,
    ConversationsPerSite,
    MessagesPerConversation,
    MessagesPerIp,
    SocketsPerIp,
    LinksPerIp,
    LinksPerSite,
    WebhookFailuresPerIp,
    LookupsPerSite,
    SimulatorWritesPerIp,
}

impl Budget {
    pub const ALL: [Budget; 10] = [
        Budget::ConversationsPerIp,
        Budget::ConversationsPerSite,
        Budget::MessagesPerConversation,
        Budget::MessagesPerIp,
        Budget::SocketsPerIp,
        Budget::LinksPerIp,
        Budget::LinksPerSite,
        Budget::WebhookFailuresPerIp,
        Budget::LookupsPerSite,
        Budget::SimulatorWritesPerIp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Budget::ConversationsPerIp => "conversations_per_ip",
            Budget::ConversationsPerSite => "conversations_per_site",
            Budget::MessagesPerConversation => "messages_per_conversation",
            Budget::MessagesPerIp => "messages_per_ip",
            Budget::SocketsPerIp => "sockets_per_ip",
            Budget::LinksPerIp => "links_per_ip",
            Budget::LinksPerSite => "links_per_site",
            Budget::WebhookFailuresPerIp => "webhook_failures_per_ip",
            Budget::LookupsPerSite => "lookups_per_site",
            Budget::SimulatorWritesPerIp => "simulator_writes_per_ip",
        }
    }

    /// What the refused person is told.
    fn message(self) -> &'static str {
        match self {
            Budget::ConversationsPerIp | Budget::ConversationsPerSite => {
                "too many new chats are being started; please wait a moment and try again"
            }
            Budget::MessagesPerConversation | Budget::MessagesPerIp => {
                "you are sending messages too fast; wait a moment"
            }
            Budget::SocketsPerIp => "too many chat windows are open from here; close some and try again",
            Budget::LinksPerIp | Budget::LinksPerSite => {
                "too many payment links were asked for just now; please try again in a few minutes"
            }
            Budget::WebhookFailuresPerIp => {
                "too many webhook deliveries with a bad signature from this address; try again later"
            }
            Budget::LookupsPerSite => {
                "too many payment checks just now; the payment is checked again shortly"
            }
            Budget::SimulatorWritesPerIp => {
                "Too many requests hit the API too quickly. The chatpay simulator allows 25 writes a second per address, like Stripe's test mode."
            }
        }
    }
}

/// A refusal: which budget, and when the caller may come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub budget: Budget,
    /// When the caller may try again (sent as `Retry-After`, whole seconds rounded up).
    pub retry_after: Duration,
}

impl Refused {
    pub fn message(&self) -> &'static str {
        self.budget.message()
    }

    /// Whole seconds to wait, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        (self.retry_after.as_millis() as u64).div_ceil(1000).max(1)
    }
}

impl From<Refused> for crate::error::AppError {
    fn from(r: Refused) -> Self {
        crate::error::AppError::RateLimited {
            message: r.message().to_owned(),
            retry_after_secs: r.retry_after_secs(),
        }
    }
}

type Keyed<K> = DefaultKeyedRateLimiter<K>;

/// The running budgets of one relay.
pub struct Limiters {
    settings: Budgets,
    conversations_ip: Keyed<IpAddr>,
    conversations_site: Keyed<String>,
    messages: Keyed<String>,
    messages_ip: Keyed<IpAddr>,
    links_ip: Keyed<IpAddr>,
    links_site: Keyed<String>,
    lookups_payment: Keyed<String>,
    lookups_site: Keyed<String>,
    simulator_writes: Keyed<IpAddr>,
    webhook_failures: Keyed<IpAddr>,
    /// Addresses refused early, before any work, until when: per budget (webhooks with bad
    /// signatures are refused before their body is read; new conversations before the
    /// socket's handshake).
    blocked: Mutex<HashMap<(Budget, IpAddr), std::time::Instant>>,
    sockets: Mutex<HashMap<IpAddr, u32>>,
    refused: [AtomicU64; 10],
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Limiters {
    pub fn new(settings: Budgets) -> Limiters {
        Limiters {
            conversations_ip: RateLimiter::keyed(settings.conversations_per_ip.quota()),
            conversations_site: RateLimiter::keyed(settings.conversations_per_site.quota()),
            messages: RateLimiter::keyed(settings.messages_per_conversation.quota()),
            messages_ip: RateLimiter::keyed(settings.messages_per_ip.quota()),
            links_ip: RateLimiter::keyed(settings.links_per_ip.quota()),
            links_site: RateLimiter::keyed(settings.links_per_site.quota()),
            lookups_payment: RateLimiter::keyed(settings.lookups_per_payment.quota()),
            lookups_site: RateLimiter::keyed(settings.lookups_per_site.quota()),
            simulator_writes: RateLimiter::keyed(settings.simulator_writes_per_ip.quota()),
            webhook_failures: RateLimiter::keyed(settings.webhook_failures_per_ip.quota()),
            blocked: Mutex::new(HashMap::new()),
            sockets: Mutex::new(HashMap::new()),
            refused: Default::default(),
            settings,
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &Keyed<K>,
        key: &K,
        budget: Budget,
    ) -> Result<(), Refused> {
        limiter.check_key(key).map_err(|not_until| {
            self.refused[budget as usize].fetch_add(1, Ordering::Relaxed);
            let retry_after = not_until.wait_time_from(DefaultClock::default().now());
            tracing::info!(budget = budget.name(), "over budget");
            Refused { budget, retry_after }
        })
    }

    /// A new conversation from `ip` on `site`. Once `ip` is over its budget, its next
    /// sockets are refused before their handshake until the bucket refills
    /// ([`Limiters::sockets_blocked`]).
    pub fn new_conversation(&self, ip: IpAddr, site: &SiteId) -> Result<(), Refused> {
        let ip = holder(ip);
        if let Err(refused) = self.check(&self.conversations_ip, &ip, Budget::ConversationsPerIp) {
            self.block(Budget::ConversationsPerIp, ip, refused.retry_after);
            return Err(refused);
        }
        self.check(
            &self.conversations_site,
            &site.as_str().to_owned(),
            Budget::ConversationsPerSite,
        )
    }

    fn block(&self, budget: Budget, ip: IpAddr, for_: Duration) {
        self.blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((budget, ip), std::time::Instant::now() + for_);
    }

    fn blocked(&self, budget: Budget, ip: IpAddr) -> Result<(), Refused> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&(budget, ip)) {
            Some(until) if *until > std::time::Instant::now() => {
                self.refused[budget as usize].fetch_add(1, Ordering::Relaxed);
                Err(Refused {
                    budget,
                    retry_after: *until - std::time::Instant::now(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether sockets from `ip` are refused before their handshake now (it kept opening
    /// new conversations past its budget).
    pub fn sockets_blocked(&self, ip: IpAddr) -> Result<(), Refused> {
        self.blocked(Budget::ConversationsPerIp, holder(ip))
    }

    /// A visitor message into `conversation`.
    pub fn message(&self, ip: IpAddr, conversation: &str) -> Result<(), Refused> {
        self.check(
            &self.messages,
            &conversation.to_owned(),
            Budget::MessagesPerConversation,
        )?;
        self.check(&self.messages_ip, &holder(ip), Budget::MessagesPerIp)
    }

    /// A payment link the bot opens for a visitor at `ip` (if known) on `site`.
    pub fn payment_link(&self, ip: Option<IpAddr>, site: &SiteId) -> Result<(), Refused> {
        if let Some(ip) = ip {
            self.check(&self.links_ip, &holder(ip), Budget::LinksPerIp)?;
        }
        self.check(&self.links_site, &site.as_str().to_owned(), Budget::LinksPerSite)
    }

    /// Whether the relay may ask Stripe about `payment` of `site` now on a visitor's behalf
    /// (else the visitor gets what is stored; the sweep and the webhooks settle it anyway).
    pub fn stripe_lookup(&self, payment: &str, site: &SiteId) -> bool {
        self.lookups_payment.check_key(&payment.to_owned()).is_ok()
            && self
                .check(
                    &self.lookups_site,
                    &site.as_str().to_owned(),
                    Budget::LookupsPerSite,
                )
                .is_ok()
    }

    /// A write to the Stripe simulator from `ip`.
    pub fn simulator_write(&self, ip: IpAddr) -> Result<(), Refused> {
        self.check(&self.simulator_writes, &holder(ip), Budget::SimulatorWritesPerIp)
    }

    /// A webhook delivery from `ip` failed its signature check; past the budget, that
    /// address is refused early for a while.
    pub fn webhook_failed(&self, ip: IpAddr) {
        let ip = holder(ip);
        if let Err(refused) = self.check(&self.webhook_failures, &ip, Budget::WebhookFailuresPerIp) {
            self.block(Budget::WebhookFailuresPerIp, ip, refused.retry_after);
        }
    }

    /// Whether `ip`'s webhook deliveries are refused now (before their body is read).
    pub fn webhook_blocked(&self, ip: IpAddr) -> Result<(), Refused> {
        self.blocked(Budget::WebhookFailuresPerIp, holder(ip))
    }

    /// Counts an open visitor socket from `ip`; dropping the guard uncounts it.
    pub fn socket_opened(self: &Arc<Self>, ip: IpAddr) -> Result<SocketGuard, Refused> {
        let ip = holder(ip);
        let mut open = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.settings.sockets_per_ip {
            self.refused[Budget::SocketsPerIp as usize].fetch_add(1, Ordering::Relaxed);
            tracing::info!(budget = Budget::SocketsPerIp.name(), "over budget");
            return Err(Refused {
                budget: Budget::SocketsPerIp,
                retry_after: Duration::from_secs(10),
            });
        }
        *n += 1;
        crate::telemetry::socket(1.0);
        Ok(SocketGuard {
            limiters: Arc::clone(self),
            ip,
        })
    }

    /// How many times each budget refused, by name.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        Budget::ALL
            .iter()
            .map(|b| (b.name(), self.refused[*b as usize].load(Ordering::Relaxed)))
            .collect()
    }

    /// Forgets the buckets of keys that are full again (quiet callers), so memory follows
    /// the callers of the last minutes, not all callers ever.
    pub fn trim(&self) {
        self.conversations_ip.retain_recent();
        self.conversations_site.retain_recent();
        self.messages.retain_recent();
        self.messages_ip.retain_recent();
        self.messages_ip.shrink_to_fit();
        self.links_ip.retain_recent();
        self.links_site.retain_recent();
        self.lookups_payment.retain_recent();
        self.lookups_site.retain_recent();
        self.simulator_writes.retain_recent();
        self.simulator_writes.shrink_to_fit();
        self.webhook_failures.retain_recent();
        self.webhook_failures.shrink_to_fit();
        let now = std::time::Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until > now);
        for l in [
            &self.messages,
            &self.lookups_payment,
            &self.lookups_site,
            &self.conversations_site,
            &self.links_site,
        ] {
            l.shrink_to_fit();
        }
        self.conversations_ip.shrink_to_fit();
        self.links_ip.shrink_to_fit();
    }

    /// How many keys the budgets hold now (for tests: memory stays bounded).
    pub fn keys(&self) -> usize {
        self.conversations_ip.len()
            + self.conversations_site.len()
            + self.messages.len()
            + self.messages_ip.len()
            + self.links_ip.len()
            + self.links_site.len()
            + self.lookups_payment.len()
            + self.lookups_site.len()
            + self.simulator_writes.len()
            + self.webhook_failures.len()
            + self.sockets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// An open visitor socket, counted against its address.
pub struct SocketGuard {
    limiters: Arc<Limiters>,
    ip: IpAddr,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        crate::telemetry::socket(-1.0);
        let mut open = self.limiters.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units_and_bad_ones_say_how() {
        assert_eq!(
            Rate::parse("20/30s").unwrap(),
            Rate::new(20, Duration::from_secs(30))
        );
        assert_eq!(
            Rate::parse("100/500ms").unwrap(),
            Rate::new(100, Duration::from_millis(500))
        );
        assert_eq!(
            Rate::parse(" 5 / 2m ").unwrap(),
            Rate::new(5, Duration::from_secs(120))
        );
        assert!(Rate::parse("20").unwrap_err().contains("like 20/30s"));
        assert!(Rate::parse("0/1s").unwrap_err().contains("at least 1"));
        assert!(Rate::parse("3/1y").is_err());
    }

    #[test]
    fn a_burst_then_a_wait_and_memory_is_trimmed() {
        let l = Limiters::new(Budgets {
            conversations_per_ip: Rate::new(2, Duration::from_secs(60)),
            ..Budgets::default()
        });
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        let shop = SiteId::parse("shop").unwrap();
        assert!(l.new_conversation(ip, &shop).is_ok());
        assert!(l.new_conversation(ip, &shop).is_ok());
        let refused = l.new_conversation(ip, &shop).unwrap_err();
        assert_eq!(refused.budget, Budget::ConversationsPerIp);
        assert!((1..=60).contains(&refused.retry_after_secs()), "{refused:?}");
        assert!(
            l.new_conversation("203.0.113.2".parse().unwrap(), &shop).is_ok(),
            "others go on"
        );
        assert_eq!(l.refusals()[0], ("conversations_per_ip", 1));

        let l = Arc::new(Limiters::new(Budgets {
            sockets_per_ip: 1,
            ..Budgets::default()
        }));
        let first = l.socket_opened(ip).unwrap();
        assert!(l.socket_opened(ip).is_err());
        drop(first);
        assert!(l.socket_opened(ip).is_ok());
        assert_eq!(
            l.sockets.lock().unwrap().len(),
            0,
            "closed sockets leave nothing behind"
        );
    }

    /// Counting single IPv6 addresses gave one subscriber (a /64) billions of socket
    /// budgets; a /64 is one caller.
    #[test]
    fn an_ipv6_slash_64_is_one_caller() {
        let l = Arc::new(Limiters::new(Budgets {
            sockets_per_ip: 2,
            ..Budgets::default()
        }));
        let a = l.socket_opened("2001:db8:1:2::1".parse().unwrap()).unwrap();
        let b = l.socket_opened("2001:db8:1:2:ffff::9".parse().unwrap()).unwrap();
        assert!(l.socket_opened("2001:db8:1:2:abcd::1".parse().unwrap()).is_err());
        assert!(
            l.socket_opened("2001:db8:1:3::1".parse().unwrap()).is_ok(),
            "another /64"
        );
        assert_eq!(
            holder("::ffff:198.51.100.7".parse().unwrap()),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        drop((a, b));
    }
}
