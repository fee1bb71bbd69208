//! Webhook signature verification against headers made by Stripe's official Node SDK
//! (npm `stripe`, see `tests/vectors/README.md` for the exact command).

use chatpay_server::stripe::signature::{verify, SignatureError};
use serde_json::Value;

#[test]
fn every_official_sdk_vector_gets_the_sdk_verdict() {
    let vectors: Value = serde_json::from_str(include_str!("vectors/stripe_signatures.json")).unwrap();
    let now = vectors["now"].as_i64().unwrap();
    let tolerance = vectors["tolerance_seconds"].as_i64().unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let payload = case["payload"].as_str().unwrap();
        let header = case["header"].as_str().unwrap();
        let secret = case["secret"].as_str().unwrap();
        let got = verify(payload.as_bytes(), Some(header), &[secret], tolerance, now);
        match case["expect"].as_str().unwrap() {
            "ok" => assert!(got.is_ok(), "{name}: expected ok, got {got:?}"),
            _ => assert!(got.is_err(), "{name}: expected an error, got ok"),
        }
        // Each refusal is the specific one the case is about.
        let expected_error = match name {
            "tampered_body" | "wrong_secret" => Some(SignatureError::NoMatch),
            "v0_only" => Some(SignatureError::NoV1),
            "stale_timestamp" => Some(SignatureError::TooOld {
                age: 301,
                tolerance: 300,
            }),
            _ => None,
        };
        if let Some(e) = expected_error {
            assert_eq!(got.clone().unwrap_err(), e, "{name}");
        }
        if name == "malformed_header" {
            assert!(
                matches!(got, Err(SignatureError::Malformed(_))),
                "{name}: {got:?}"
            );
        }
    }
}
