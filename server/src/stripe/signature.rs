//! Stripe webhook signatures (`Stripe-Signature`), exactly as Stripe's SDKs check them.
//!
//! The header is `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…][,v0=…]`. The signed payload
//! is `"{t}.{raw body}"` with the endpoint's `whsec_…` secret as the key. A header is
//! accepted when any `v1` matches any of the endpoint's secrets (Stripe sends two `v1`
//! while a secret is being rotated) and `t` is no older than the tolerance. Schemes other
//! than `v1` are ignored.
//!
//! The work per request is bounded: a header longer than [`MAX_HEADER_BYTES`] is refused
//! before anything is parsed, at most [`MAX_V1`] `v1` entries are considered, and the HMAC
//! of the body is computed once per secret and compared with each `v1` in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default tolerance for the age of `t`.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The longest `Stripe-Signature` header considered. Stripe's are about 150 bytes, 230
/// while a secret rolls.
pub const MAX_HEADER_BYTES: usize = 1024;

/// The most `v1` entries considered (Stripe sends one, two while a secret rolls).
pub const MAX_V1: usize = 4;

/// Why a signature was refused. Each has a stable short `code` for the health record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no Stripe-Signature header")]
    MissingHeader,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(String),
    #[error("the Stripe-Signature header is too long ({0} bytes; Stripe's are under {MAX_HEADER_BYTES})")]
    TooLong(usize),
    #[error("the Stripe-Signature header has no v1 signature (only other schemes)")]
    NoV1,
    #[error("no v1 signature matches this site's webhook secret; is the secret (whsec_…) the one of this endpoint?")]
    NoMatch,
    #[error("the signature timestamp is {age} s old, more than the {tolerance} s tolerance; check the server clock or a replay")]
    TooOld { age: i64, tolerance: i64 },
}

impl SignatureError {
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::MissingHeader => "missing_header",
            SignatureError::Malformed(_) => "malformed_header",
            SignatureError::TooLong(_) => "header_too_long",
            SignatureError::NoV1 => "no_v1",
            SignatureError::NoMatch => "no_match",
            SignatureError::TooOld { .. } => "too_old",
        }
    }
}

impl SignatureError {
    /// What the site's owner is shown: chatpay's own words for the code, never text from
    /// the header (anyone can send one).
    pub fn owner_text(&self) -> String {
        match self {
            SignatureError::MissingHeader => "the request had no Stripe-Signature header (not from Stripe?)".into(),
            SignatureError::Malformed(_) => "the Stripe-Signature header was malformed (not from Stripe?)".into(),
            SignatureError::TooLong(_) => "the Stripe-Signature header was far too long (not from Stripe?)".into(),
            SignatureError::NoV1 => "the Stripe-Signature header had no v1 signature".into(),
            SignatureError::NoMatch => {
                "no signature matched the saved signing secret; is the whsec_ secret the one of this endpoint?".into()
            }
            SignatureError::TooOld { age, tolerance } => format!(
                "the signature was {age} s old, more than the {tolerance} s tolerance; check the server clock"
            ),
        }
    }
}

/// A parsed `Stripe-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The `t=` value: Unix seconds when Stripe signed.
    pub timestamp: i64,
    /// The decoded `v1` signatures (32 bytes each).
    pub v1: Vec<Vec<u8>>,
}

/// Parses the header. Unknown schemes are skipped; a `v1` that is not hex is malformed;
/// `v1` entries after the first [`MAX_V1`] are ignored.
pub fn parse_header(header: &str) -> Result<SignatureHeader, SignatureError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(SignatureError::TooLong(header.len()));
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed(format!(
                "'{}' is not key=value",
                part.trim()
            )));
        };
        match key {
            "t" => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed(format!("t='{value}' is not a unix time")))?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::Malformed("t appears twice".into()));
                }
            }
            "v1" if v1.len() < MAX_V1 => {
                let sig = hex::decode(value)
                    .map_err(|_| SignatureError::Malformed(format!("v1='{value}' is not hex")))?;
                v1.push(sig);
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| SignatureError::Malformed("no t= timestamp".into()))?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1);
    }
    Ok(SignatureHeader { timestamp, v1 })
}

/// Verifies a raw body against the header with any of `secrets`, at time `now` (unix s).
pub fn verify(
    payload: &[u8],
    header: Option<&str>,
    secrets: &[&str],
    tolerance_secs: i64,
    now: i64,
) -> Result<SignatureHeader, SignatureError> {
    use subtle::ConstantTimeEq as _;
    let header = header.ok_or(SignatureError::MissingHeader)?;
    let parsed = parse_header(header)?;
    // One HMAC of the body per secret, compared with every v1 in constant time.
    let matched = secrets.iter().any(|secret| {
        let expected = mac(secret, parsed.timestamp, payload).finalize().into_bytes();
        parsed
            .v1
            .iter()
            .fold(false, |hit, sig| hit | bool::from(expected.as_slice().ct_eq(sig)))
    });
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    let age = now - parsed.timestamp;
    if tolerance_secs > 0 && age > tolerance_secs {
        return Err(SignatureError::TooOld {
            age,
            tolerance: tolerance_secs,
        });
    }
    Ok(parsed)
}

/// The header Stripe would send for `payload` signed with `secret` at `timestamp`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let sig = mac(secret, timestamp, payload).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(sig))
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn a_signed_payload_verifies_and_errors_are_distinct() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_000);
        assert!(verify(body, Some(&header), &[SECRET], 300, 1_010).is_ok());
        assert_eq!(
            verify(body, None, &[SECRET], 300, 1_010),
            Err(SignatureError::MissingHeader)
        );
        assert_eq!(
            verify(b"{}", Some(&header), &[SECRET], 300, 1_010),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(body, Some(&header), &["whsec_other"], 300, 1_010),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(body, Some(&header), &[SECRET], 300, 1_301),
            Err(SignatureError::TooOld {
                age: 301,
                tolerance: 300
            })
        );
        assert!(
            verify(body, Some(&header), &["whsec_old", SECRET], 300, 1_010).is_ok(),
            "any secret"
        );
        assert_eq!(
            verify(body, Some("t=1000,v0=abcd"), &[SECRET], 300, 1_010),
            Err(SignatureError::NoV1)
        );
        assert!(matches!(
            verify(body, Some("garbage"), &[SECRET], 300, 1_010),
            Err(SignatureError::Malformed(_))
        ));
    }

    proptest! {
        /// The parser never panics, whatever the header.
        #[test]
        fn parser_never_panics(header in ".{0,200}") {
            let _ = parse_header(&header);
        }

        /// Any well-formed header parses back to its parts, with other schemes ignored.
        #[test]
        fn well_formed_headers_round_trip(
            t in 0i64..4_000_000_000,
            sigs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 32), 1..4),
            extra in proptest::collection::vec("v0|v2|x", 0..3),
        ) {
            let mut parts = vec![format!("t={t}")];
            for s in &sigs { parts.push(format!("v1={}", hex::encode(s))); }
            for e in &extra { parts.push(format!("{e}=deadbeef")); }
            let parsed = parse_header(&parts.join(",")).unwrap();
            prop_assert_eq!(parsed.timestamp, t);
            prop_assert_eq!(parsed.v1, sigs);
        }

        /// A header without any v1 is NoV1 or Malformed, never accepted.
        #[test]
        fn headers_without_v1_are_refused(t in 0i64..4_000_000_000, n in 0usize..3) {
            let mut parts = vec![format!("t={t}")];
            for _ in 0..n { parts.push("v0=00ff".into()); }
            prop_assert_eq!(parse_header(&parts.join(",")), Err(SignatureError::NoV1));
        }

        /// Flipping any byte of a signed body makes verification fail.
        #[test]
        fn any_tampered_byte_is_caught(body in proptest::collection::vec(any::<u8>(), 1..200), idx in any::<prop::sample::Index>(), t in 1_000i64..2_000) {
            let header = sign(&body, SECRET, t);
            let mut bad = body.clone();
            let i = idx.index(bad.len());
            bad[i] ^= 0x01;
            prop_assert_eq!(verify(&bad, Some(&header), &[SECRET], 300, t), Err(SignatureError::NoMatch));
            prop_assert!(verify(&body, Some(&header), &[SECRET], 300, t).is_ok());
        }
    }
}
