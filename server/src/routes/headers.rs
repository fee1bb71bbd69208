//! Security headers on every answer, by what is answered:
//! - everything: `X-Content-Type-Options: nosniff` and a `Referrer-Policy`;
//! - the console's pages (`/console/…`), chatpay's return pages (`/checkout/…`), the
//!   console's preview of a site's chat (`/preview/…`, on the relay's own origin, which may
//!   open any site's chat), the pay page (`/pay/…`, with its own CSP naming Stripe.js) and
//!   the simulator's pages (`/simulator/…`, but for its embedded Checkout, which any page
//!   may frame like Stripe's): nothing may frame them (`frame-ancestors 'none'`
//!   and `X-Frame-Options: DENY`); the console's own CSP is set where its page is served
//!   (it needs the hash of Trunk's start-up script), the return and simulator pages get
//!   [`PAGES_CSP`];
//! - the console API (`/api/console/…`): `Cache-Control: no-store` (transcripts, emails).
//!
//! Widget files and the demo page are left embeddable: they are what host pages load.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The CSP of the server-rendered pages: nothing but their own inline style, forms posting
/// to this relay (the simulator's hosted page then redirects where the session says, which
/// the simulator already limits to the relay and its sites).
pub fn pages_csp() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        format!(
            "default-src 'none'; style-src '{}'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'",
            crate::pages::css_hash()
        )
    })
}

pub async fn add(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let req_query = req.uri().query().map(str::to_owned);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    // The simulator's embedded Checkout is framed by whatever page mounts it, like
    // Stripe's (it sets its own CSP).
    let embedded_checkout = path.starts_with("/simulator/checkout/")
        && req_query
            .as_deref()
            .is_some_and(|q| q.split('&').any(|p| p == "embedded=1"));
    let framed_never = (path.starts_with("/console")
        || path.starts_with("/checkout/")
        || path.starts_with("/pay/")
        || path.starts_with("/simulator/")
        || path.starts_with("/preview/"))
        && !embedded_checkout;
    if framed_never {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if path.starts_with("/preview/") {
        // Its own scripts (the embed) run; only framing is refused.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    // The pay page that mounts a checkout sets its own CSP (it names Stripe.js's sources);
    // the pay pages' other answers get this one.
    if path.starts_with("/checkout/")
        || path.starts_with("/pay/")
        || (path.starts_with("/simulator/") && !path.starts_with("/simulator/stripe/") && !embedded_checkout)
    {
        if let Ok(v) = HeaderValue::from_str(pages_csp()) {
            h.entry(header::CONTENT_SECURITY_POLICY).or_insert(v);
        }
        // The cancel link's token (and a pay page's payment id) must not leak to the next
        // site in a Referer.
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    if path.starts_with("/api/console/") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
