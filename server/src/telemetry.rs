//! What an operator scrapes: the relay's numbers in Prometheus text format at `GET /metrics`.
//!
//! Recorded through the `metrics` facade into one `metrics-exporter-prometheus` recorder per
//! process (installed on first use): webhooks by outcome and how long each took until the
//! visitor's frame was handed to its socket, Stripe calls by operation and result with their
//! latency, sweep results, open visitor sockets and budget refusals (read at scrape time).
//!
//! Not public: `/metrics` answers only with `Authorization: Bearer <CHATPAY_METRICS_TOKEN>`,
//! or on the separate `--metrics-listen` address (for a scraper on a private network). With
//! neither it answers 404 and says how to turn it on. "Loopback only" would not do: behind a
//! local reverse proxy every caller is loopback.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for every `*_seconds` metric: 1 ms to 30 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; later calls reuse it) and returns its handle, or
/// `None` when another recorder was installed first (then nothing is recorded here).
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        "chatpay_webhooks_total",
        "Stripe webhook deliveries by outcome (applied, duplicate, ignored, … or why refused)"
    );
    describe_histogram!(
        "chatpay_webhook_seconds",
        Unit::Seconds,
        "From a webhook's arrival until its answer: the payment stored, the visitor's frame handed to its socket, the write on disk"
    );
    describe_counter!(
        "chatpay_stripe_calls_total",
        "Calls to Stripe's API by operation (method and path, ids as {id}) and result"
    );
    describe_histogram!(
        "chatpay_stripe_call_seconds",
        Unit::Seconds,
        "How long a call to Stripe took, retries included, by operation"
    );
    describe_gauge!("chatpay_sockets_open", "Visitor WebSockets open on this relay");
    describe_counter!(
        "chatpay_budget_refusals_total",
        "Requests refused by an anonymous budget, by budget"
    );
    describe_counter!(
        "chatpay_sweep_total",
        "What the sweep did: payments looked at, refunds retried, interrupted payments recovered"
    );
}

/// A webhook delivery answered with `outcome` after `took`.
pub fn webhook(outcome: &'static str, took: Duration) {
    counter!("chatpay_webhooks_total", "outcome" => outcome).increment(1);
    histogram!("chatpay_webhook_seconds").record(took.as_secs_f64());
}

/// A call to Stripe: `method` and `path` (ids become `{id}`, the query is dropped).
pub fn stripe_call(method: &str, path: &str, result: &'static str, took: Duration) {
    let operation = operation(method, path);
    counter!("chatpay_stripe_calls_total", "operation" => operation.clone(), "result" => result).increment(1);
    histogram!("chatpay_stripe_call_seconds", "operation" => operation).record(took.as_secs_f64());
}

/// The sweep did `what` `n` times.
pub fn sweep(what: &'static str, n: usize) {
    if n > 0 {
        counter!("chatpay_sweep_total", "result" => what).increment(n as u64);
    }
}

/// A visitor socket opened (`+1`) or closed (`-1`).
pub fn socket(delta: f64) {
    gauge!("chatpay_sockets_open").increment(delta);
}

/// The text a scrape gets, with the budget refusals read now.
pub fn render(refusals: &[(&'static str, u64)]) -> String {
    let Some(handle) = install() else {
        return "# metrics are recorded by another recorder in this process\n".into();
    };
    for (budget, n) in refusals {
        counter!("chatpay_budget_refusals_total", "budget" => *budget).absolute(*n);
    }
    handle.render()
}

/// `POST /v1/checkout/sessions/cs_test_123/expire` → `POST /v1/checkout/sessions/{id}/expire`:
/// one label per kind of call, never one per payment.
pub fn operation(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let mut out = String::with_capacity(method.len() + path.len() + 1);
    out.push_str(method);
    out.push(' ');
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        // Stripe's ids are `prefix_rest` (cs_test_…, we_…, evt_…, pi_…, re_…); API words
        // (checkout, sessions, webhook_endpoints, payment_method_configurations) are not
        // followed by a digit or mixed case.
        let is_id = seg.contains('_') && seg.bytes().any(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        out.push_str(if is_id { "{id}" } else { seg });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_never_carries_an_id_or_a_query() {
        assert_eq!(
            operation("POST", "/v1/checkout/sessions/cs_test_a1B2c3/expire"),
            "POST /v1/checkout/sessions/{id}/expire"
        );
        assert_eq!(
            operation("GET", "/v1/checkout/sessions?payment_intent=pi_3Nx&limit=1"),
            "GET /v1/checkout/sessions"
        );
        assert_eq!(
            operation("DELETE", "/v1/webhook_endpoints/we_1Abc"),
            "DELETE /v1/webhook_endpoints/{id}"
        );
        assert_eq!(
            operation("GET", "/v1/payment_method_configurations"),
            "GET /v1/payment_method_configurations"
        );
    }
}
