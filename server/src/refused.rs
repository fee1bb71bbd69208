//! Pages the chat was refused on: for each site, the origins whose pages tried to open its
//! chat without being allowed, with counts and the last time, for the owner's
//! Troubleshooting ("you pasted the snippet on staging.shop.example: add it").
//!
//! What is counted comes from anonymous callers, so it is kept in memory (no write per
//! attempt, nothing an attacker can grow): only sites that exist are counted, at most
//! [`ORIGINS_PER_SITE`] origins are named per site (later ones only add to a count), and an
//! origin is cut to [`ORIGIN_MAX_CHARS`]. Each relay counts what it saw; a restart forgets.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many distinct origins a site's list names.
pub const ORIGINS_PER_SITE: usize = 5;
/// The longest origin kept, in characters.
pub const ORIGIN_MAX_CHARS: usize = 200;
/// How many sites are counted at most (sites exist, so this is only a backstop).
const SITES_MAX: usize = 100_000;

/// One origin refused for a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedOrigin {
    pub origin: String,
    pub count: u64,
    /// Unix milliseconds of the last refusal.
    pub last_at: i64,
}

/// What was refused for one site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteRefusals {
    /// The first origins refused, most recent first when read.
    pub origins: Vec<RefusedOrigin>,
    /// Refusals of origins past the first few.
    pub others: u64,
}

/// The refusals of every site, counted in memory.
#[derive(Debug, Default)]
pub struct RefusedPages {
    sites: Mutex<HashMap<String, SiteRefusals>>,
}

impl RefusedPages {
    /// Counts one refusal of `origin` for the existing site `site` at `now_ms`.
    pub fn note(&self, site: &str, origin: &str, now_ms: i64) {
        let origin: String = origin.chars().take(ORIGIN_MAX_CHARS).collect();
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        if !sites.contains_key(site) && sites.len() >= SITES_MAX {
            return;
        }
        let entry = sites.entry(site.to_owned()).or_default();
        if let Some(o) = entry.origins.iter_mut().find(|o| o.origin == origin) {
            o.count += 1;
            o.last_at = now_ms;
        } else if entry.origins.len() < ORIGINS_PER_SITE {
            entry.origins.push(RefusedOrigin {
                origin,
                count: 1,
                last_at: now_ms,
            });
        } else {
            entry.others += 1;
        }
    }

    /// What was refused for `site`, the most recently refused origin first.
    pub fn of(&self, site: &str) -> SiteRefusals {
        let sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = sites.get(site).cloned().unwrap_or_default();
        out.origins.sort_by_key(|o| std::cmp::Reverse(o.last_at));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_origins_are_named_and_the_rest_only_counted() {
        let r = RefusedPages::default();
        r.note("shop", "https://staging.shop.test", 1);
        r.note("shop", "https://staging.shop.test", 5);
        for i in 0..10 {
            r.note("shop", &format!("https://o{i}.test"), 2);
        }
        r.note("shop", &"x".repeat(1000), 3);
        let got = r.of("shop");
        assert_eq!(got.origins.len(), ORIGINS_PER_SITE);
        assert_eq!(
            got.origins[0],
            RefusedOrigin {
                origin: "https://staging.shop.test".into(),
                count: 2,
                last_at: 5
            }
        );
        assert_eq!(got.others, 7, "six more made-up origins and the long one");
        assert_eq!(r.of("other"), SiteRefusals::default());
    }

    #[test]
    fn a_long_origin_is_cut() {
        let r = RefusedPages::default();
        r.note("shop", &"é".repeat(500), 1);
        assert_eq!(r.of("shop").origins[0].origin.chars().count(), ORIGIN_MAX_CHARS);
    }
}
