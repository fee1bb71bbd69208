//! Newtypes for values that arrive from outside. Each `parse` either returns a value that
//! is valid everywhere after it, or an error that names the bad value and how to fix it.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// A site id as written in the script tag's `data-site`: 1–40 of `a-z 0-9 -`, not starting
/// or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteId(String);

impl SiteId {
    pub fn parse(raw: &str) -> Result<SiteId, AppError> {
        let ok = !raw.is_empty()
            && raw.len() <= 40
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(SiteId(raw.to_owned()))
        } else {
            Err(AppError::BadRequest(format!(
                "invalid site id '{raw}': use 1-40 lowercase letters, digits and '-', like 'my-shop'"
            )))
        }
    }

    /// A site id read back from the database (a `site_id` or `sites.id` column): every id
    /// there was written from a [`SiteId::parse`]d one, so it is not checked again. Only the
    /// store builds these; anything from outside goes through [`SiteId::parse`].
    pub(crate) fn from_stored(stored: String) -> SiteId {
        SiteId(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A web origin (`scheme://host[:port]`) in the form browsers send in the `Origin` header:
/// lowercase, no path, no default port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebOrigin(String);

impl WebOrigin {
    pub fn parse(raw: &str) -> Result<WebOrigin, AppError> {
        let bad = |why: &str| {
            AppError::BadRequest(format!(
                "invalid origin '{raw}': {why}; write it like https://shop.example or http://localhost:3000"
            ))
        };
        let url = url::Url::parse(raw.trim()).map_err(|_| bad("not a URL"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must not contain a user name or password"));
        }
        let trimmed = raw.trim().trim_end_matches('/');
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || trimmed.ends_with('?') {
            return Err(bad("an origin has no path, query or fragment"));
        }
        Ok(WebOrigin(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret a visitor's browser keeps to come back to its conversation: 128 random bits
/// as 32 lowercase hex digits. Only its SHA-256 is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct VisitorToken(String);

impl VisitorToken {
    pub fn generate() -> VisitorToken {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        VisitorToken(hex::encode(bytes))
    }

    /// `None` for anything that is not 32 lowercase hex digits (the tab then starts over).
    pub fn parse(raw: &str) -> Option<VisitorToken> {
        (raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| VisitorToken(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps: hex SHA-256. A 128-bit random secret needs no slow hash.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for VisitorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VisitorToken(…)")
    }
}

/// The statuses Stripe gives a dispute at chatpay's API version: an inquiry's three, a
/// chargeback's four, `prevented` (2025-09-30.clover: a prevention tool settled it before a
/// chargeback) and an appeal of a lost one (2026-10-28.endive). Anything else is not
/// recorded.
pub const DISPUTE_STATUSES: [&str; 10] = [
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
    "prevented",
    "appeal_needs_response",
    "appeal_under_review",
];

/// Whether a dispute may move from `current` to `next`: Stripe's news comes late and
/// repeated, so a settled dispute stays settled. `won` and `prevented` are final; a `lost`
/// one moves only to an appeal, and an appeal only forward (needs response → under review
/// → `won` or `lost`); a closed inquiry (`warning_closed`) takes no inquiry word again, but
/// a chargeback after it is a new dispute and counts.
pub fn dispute_may_move(current: Option<&str>, next: &str) -> bool {
    let appeal = |s: &str| s.starts_with("appeal_");
    match current {
        None => true,
        Some(c) if c == next => false,
        Some("won" | "prevented") => false,
        Some("lost") => appeal(next),
        Some("appeal_needs_response") => next == "appeal_under_review" || next == "won" || next == "lost",
        Some("appeal_under_review") => next == "won" || next == "lost",
        Some("warning_closed") => !next.starts_with("warning_"),
        Some(_) => true,
    }
}

/// Whether a payment with a dispute in `status` shows as disputed to its owner: every
/// status but `won`, `prevented` and a closed inquiry.
pub fn dispute_is_open_or_lost(status: &str) -> bool {
    !matches!(status, "won" | "prevented" | "warning_closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_ids() {
        assert!(SiteId::parse("demo").is_ok());
        assert!(SiteId::parse("my-shop-2").is_ok());
        for bad in ["", "Demo", "-x", "x-", "a b", "ünï", &"a".repeat(41)] {
            let err = SiteId::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn origins_are_normalised_like_browsers_send_them() {
        let o = |s: &str| WebOrigin::parse(s).map(|o| o.to_string());
        assert_eq!(o("https://Shop.Example").unwrap(), "https://shop.example");
        assert_eq!(o("https://shop.example:443/").unwrap(), "https://shop.example");
        assert_eq!(o("http://127.0.0.1:3000").unwrap(), "http://127.0.0.1:3000");
        for bad in [
            "shop.example",
            "ftp://x.y",
            "https://x.y/path",
            "https://u:p@x.y",
            "https://x.y?q",
        ] {
            let err = WebOrigin::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn tokens_are_128_bit_hex_and_hash_stably() {
        let t = VisitorToken::generate();
        assert_eq!(t.as_str().len(), 32);
        assert_eq!(VisitorToken::parse(t.as_str()).unwrap().hash(), t.hash());
        assert_ne!(VisitorToken::generate().as_str(), t.as_str());
        assert!(VisitorToken::parse("XYZ").is_none());
        assert!(!format!("{t:?}").contains(t.as_str()));
    }

    #[test]
    fn a_settled_dispute_stays_settled_but_a_lost_one_may_be_appealed() {
        // Stripe's news in the order it happens.
        assert!(dispute_may_move(None, "needs_response"));
        assert!(dispute_may_move(Some("needs_response"), "under_review"));
        assert!(dispute_may_move(Some("under_review"), "lost"));
        assert!(dispute_may_move(Some("lost"), "appeal_needs_response"));
        assert!(dispute_may_move(
            Some("appeal_needs_response"),
            "appeal_under_review"
        ));
        assert!(dispute_may_move(Some("appeal_under_review"), "won"));
        // Late and repeated words change nothing.
        assert!(!dispute_may_move(Some("won"), "needs_response"));
        assert!(!dispute_may_move(Some("prevented"), "needs_response"));
        assert!(!dispute_may_move(Some("lost"), "under_review"));
        assert!(!dispute_may_move(Some("appeal_under_review"), "needs_response"));
        assert!(!dispute_may_move(Some("lost"), "lost"));
        assert!(
            !dispute_may_move(Some("appeal_under_review"), "appeal_needs_response"),
            "an appeal moves only forward"
        );
        // A chargeback after a closed inquiry is a new dispute; an inquiry word is not.
        assert!(dispute_may_move(Some("warning_closed"), "needs_response"));
        assert!(!dispute_may_move(Some("warning_closed"), "warning_under_review"));
        // What the owner sees as disputed.
        assert!(dispute_is_open_or_lost("appeal_under_review"));
        assert!(!dispute_is_open_or_lost("prevented"));
        assert_eq!(DISPUTE_STATUSES.len(), 10);
    }
}
