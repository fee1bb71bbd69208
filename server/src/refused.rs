//! Pages the chat was refused on: for each site, the origins whose pages tried to open its
//! chat without being allowed, with counts and the last time, for the owner's
//! Troubleshooting ("you pasted the snippet on staging.shop.example: add it").
//!
//! What is counted comes from anonymous callers (any script can send any `Origin`), so it is
//! kept in memory (no write per attempt, nothing an attacker can grow): only sites that
//! exist are counted; only what a browser sends as a page's origin (`https://host[:port]`,
//! as browsers write it, at most [`ORIGIN_MAX_CHARS`]) is named, anything else only counted;
//! at most [`ORIGINS_PER_SITE`] are named per site, the most recently refused (a script
//! that fills the list cannot hide the owner's page the next time it is refused). Each relay
//! counts what it saw; a restart forgets.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::SiteId;

/// How many distinct origins a site's list names.
pub const ORIGINS_PER_SITE: usize = 5;
/// The longest origin named, in characters.
pub const ORIGIN_MAX_CHARS: usize = 200;
/// How many sites are counted at most (sites exist, so this is only a backstop).
const SITES_MAX: usize = 100_000;

/// One origin refused for a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedOrigin {
    pub origin: String,
    /// Refusals of this origin since the relay started (per relay, in memory).
    pub count: u64,
    /// Unix milliseconds of the last refusal.
    pub last_at: i64,
}

/// What was refused for one site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteRefusals {
    /// The most recently refused origins, most recent first when read.
    pub origins: Vec<RefusedOrigin>,
    /// Refusals not named: of what is not a page's origin, and of origins pushed out of the
    /// list by more recent ones.
    pub others: u64,
}

/// The refusals of every site, counted in memory.
#[derive(Debug, Default)]
pub struct RefusedPages {
    sites: Mutex<HashMap<SiteId, SiteRefusals>>,
}

impl RefusedPages {
    /// Counts one refusal of `origin` for the existing site `site` at `now_ms`.
    pub fn note(&self, site: &SiteId, origin: &str, now_ms: i64) {
        let named = origin.len() <= ORIGIN_MAX_CHARS
            && crate::domain::WebOrigin::parse(origin).is_ok_and(|o| o.as_str() == origin);
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        if !sites.contains_key(site) && sites.len() >= SITES_MAX {
            return;
        }
        let entry = sites.entry(site.clone()).or_default();
        if !named {
            entry.others += 1;
        } else if let Some(o) = entry.origins.iter_mut().find(|o| o.origin == origin) {
            o.count += 1;
            o.last_at = now_ms;
        } else {
            if entry.origins.len() >= ORIGINS_PER_SITE {
                // The least recently refused gives its place (and its count) up.
                if let Some(i) = (0..entry.origins.len()).min_by_key(|&i| entry.origins[i].last_at) {
                    entry.others += entry.origins.swap_remove(i).count;
                }
            }
            entry.origins.push(RefusedOrigin {
                origin: origin.to_owned(),
                count: 1,
                last_at: now_ms,
            });
        }
    }

    /// What was refused for `site`, the most recently refused origin first.
    pub fn of(&self, site: &SiteId) -> SiteRefusals {
        let sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = sites.get(site).cloned().unwrap_or_default();
        out.origins.sort_by_key(|o| std::cmp::Reverse(o.last_at));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(id: &str) -> SiteId {
        SiteId::parse(id).unwrap()
    }

    #[test]
    fn the_most_recently_refused_origins_are_named_and_the_rest_counted() {
        let r = RefusedPages::default();
        let shop = site("shop");
        r.note(&shop, "https://staging.shop.test", 1);
        r.note(&shop, "https://staging.shop.test", 5);
        for i in 0..10 {
            r.note(&shop, &format!("https://o{i}.test"), 10 + i);
        }
        let got = r.of(&shop);
        assert_eq!(got.origins.len(), ORIGINS_PER_SITE);
        assert_eq!(
            got.origins[0],
            RefusedOrigin {
                origin: "https://o9.test".into(),
                count: 1,
                last_at: 19
            }
        );
        assert_eq!(
            got.others, 7,
            "five made-up origins and staging's two, pushed out"
        );
        assert_eq!(r.of(&site("other")), SiteRefusals::default());
        // The owner's page, refused again after a script filled the list, is named again.
        r.note(&shop, "https://staging.shop.test", 30);
        let got = r.of(&shop);
        assert_eq!(got.origins[0].origin, "https://staging.shop.test");
        assert_eq!(got.origins.len(), ORIGINS_PER_SITE);
    }

    #[test]
    fn what_is_not_a_web_origin_is_only_counted() {
        let r = RefusedPages::default();
        let shop = site("shop");
        for made_up in [
            "<img src=x onerror=alert(1)>",
            "null",
            "https://shop.test/path",
            "javascript:alert(1)",
            &format!("https://{}.test", "a".repeat(300)),
            "HTTPS://Shop.Test",
        ] {
            r.note(&shop, made_up, 1);
        }
        assert_eq!(
            r.of(&shop),
            SiteRefusals {
                origins: Vec::new(),
                others: 6
            }
        );
    }
}
