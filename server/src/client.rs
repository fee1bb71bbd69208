//! Who is calling: the client's address, for budgets.
//!
//! The address is the TCP peer's, unless the peer is one of the configured trusted proxies
//! (`CHATPAY_TRUSTED_PROXIES`): then `X-Forwarded-For` is read from the right, skipping
//! trusted proxies, and the first address that is not one is the client. With no trusted
//! proxy configured the header is never believed (anyone can send it). Behind a local
//! reverse proxy every visitor is `127.0.0.1` until the proxy is listed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address (see the module docs): an extractor for any router whose state
/// knows the trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// A router state that knows which proxies' `X-Forwarded-For` to believe.
pub trait KnowsProxies {
    fn trusted_proxies(&self) -> &[IpNet];
}

impl<S: KnowsProxies + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ClientIp, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(ClientIp(client_ip(peer, &parts.headers, state.trusted_proxies())))
    }
}

/// The client behind `peer` given the request's headers and the trusted proxies.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

/// Parses `CHATPAY_TRUSTED_PROXIES` entries: addresses or networks (`10.0.0.0/8`).
pub fn parse_trusted(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .flat_map(|e| e.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("trusted proxy '{e}' is not an address or a network like 10.0.0.0/8"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let visitor: IpAddr = "203.0.113.9".parse().unwrap();
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = parse_trusted(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap();
        // No trusted proxy: the header is ignored.
        assert_eq!(client_ip(visitor, &headers("1.2.3.4"), &[]), visitor);
        assert_eq!(client_ip(visitor, &headers("1.2.3.4"), &trusted), visitor);
        // From the proxy: the rightmost address that is not a proxy.
        assert_eq!(
            client_ip(proxy, &headers("6.6.6.6, 203.0.113.9, 10.0.0.7"), &trusted),
            visitor,
            "a spoofed left part does not count"
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        assert!(parse_trusted(&["nope".into()]).unwrap_err().contains("'nope'"));
    }
}
