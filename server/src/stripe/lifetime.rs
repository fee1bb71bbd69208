//! How long a Checkout link lives: what a node or a person asked for, plus a margin, kept
//! inside Stripe's window for `expires_at` (30 minutes to 24 hours from the request). Pure
//! rules, used where a payment row is written (the runner, the inbox) and where its session
//! is created ([`crate::payments::open`]).

/// Seconds a link lives beyond what the node asked for, so that Stripe's 30-minute minimum
/// still holds when the last try of a create call reaches Stripe. The Stripe client's
/// budget per call is capped below it ([`MAX_STRIPE_BUDGET_SECS`]).
pub const LINK_MARGIN_SECS: i64 = 120;

/// The longest a Stripe call may take, every try included (see [`LINK_MARGIN_SECS`]).
pub const MAX_STRIPE_BUDGET_SECS: u64 = 90;

/// Stripe's own bounds for `expires_at`, from the moment of the request.
const STRIPE_MIN_LIFETIME_SECS: i64 = 30 * 60;
const STRIPE_MAX_LIFETIME_SECS: i64 = 24 * 60 * 60;

/// When a link asked for now, living `lifetime_minutes`, expires (Unix seconds).
pub fn link_expiry(lifetime_minutes: u32) -> i64 {
    expiry_from(
        crate::store::now_ms() / 1000,
        i64::from(lifetime_minutes) * 60 + LINK_MARGIN_SECS,
    )
}

/// `now + lifetime`, kept inside Stripe's window with the margin on both sides.
pub fn expiry_from(now: i64, lifetime_secs: i64) -> i64 {
    (now + lifetime_secs).clamp(
        now + STRIPE_MIN_LIFETIME_SECS + LINK_MARGIN_SECS,
        now + STRIPE_MAX_LIFETIME_SECS - 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_expiry_stays_inside_stripes_window_with_the_margin() {
        let now = 1_000_000;
        assert_eq!(
            expiry_from(now, 30 * 60 + LINK_MARGIN_SECS),
            now + 1800 + LINK_MARGIN_SECS
        );
        assert_eq!(expiry_from(now, 10), now + 1800 + LINK_MARGIN_SECS);
        assert_eq!(
            expiry_from(now, 24 * 3600 + LINK_MARGIN_SECS),
            now + 24 * 3600 - 60
        );
    }
}
