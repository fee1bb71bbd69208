//! Every request gets an id and a span: `method`, `path`, `request_id` (the caller's
//! `X-Request-Id` when it is a sane token, else a fresh one) and `site` when the URL names one,
//! so every log line written while the request runs carries them (`--log-format json` puts
//! them in each line's `span`/`spans`). The id goes back in the answer's `X-Request-Id`, so an
//! owner's report and the relay's log meet.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// The header, as proxies and log shippers name it.
pub const HEADER: &str = "x-request-id";

/// Wraps the request in its span and answers with its id.
pub async fn span(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_token(v))
        .map(str::to_owned)
        .unwrap_or_else(|| crate::store::new_id("req"));
    let site = site_of(req.uri().path(), req.uri().query()).unwrap_or("");
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
        site = %site,
    );
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

/// A caller's id is kept when it is 1–64 of `A-Z a-z 0-9 . _ -` (nothing a log line or a
/// header could be bent with).
fn is_token(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The site a URL is about: `/webhooks/stripe/{site}`, `/api/console/sites/{site}/…`, or a
/// `site=` query (the visitor socket, the loader). Unchecked: only for the log.
fn site_of<'a>(path: &'a str, query: Option<&'a str>) -> Option<&'a str> {
    let mut segs = path.trim_start_matches('/').split('/');
    let from_path = match (segs.next(), segs.next(), segs.next(), segs.next()) {
        (Some("webhooks"), Some("stripe"), Some(site), _) => Some(site),
        (Some("api"), Some("console"), Some("sites"), Some(site)) => Some(site),
        _ => None,
    };
    from_path
        .or_else(|| query?.split('&').find_map(|kv| kv.strip_prefix("site=")))
        .filter(|s| is_token(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_comes_from_the_url_and_only_a_sane_id_is_kept() {
        assert_eq!(site_of("/webhooks/stripe/shop", None), Some("shop"));
        assert_eq!(
            site_of("/api/console/sites/my-shop/conversations", None),
            Some("my-shop")
        );
        assert_eq!(site_of("/ws", Some("site=demo&v=2")), Some("demo"));
        assert_eq!(site_of("/healthz", None), None);
        assert_eq!(site_of("/ws", Some("site=%0Aevil")), None);
        assert!(is_token("req_01HX-abc.1"));
        assert!(!is_token("two words"));
        assert!(!is_token(&"a".repeat(65)));
        assert!(!is_token(""));
    }
}
