//! The console API's JSON: what the site owners' console sends to the relay and gets back.
//! Secrets only ever travel inward: responses carry masks like `sk_test_…abcd`.

use serde::{Deserialize, Serialize};

/// `POST /api/console/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// `POST /api/console/setup`: the first account, with the one-time token from the relay's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupRequest {
    pub token: String,
    pub email: String,
    pub password: String,
}

/// `GET /api/console/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub email: String,
    /// Whether a setup link is still needed (no account exists): only on `GET /api/console/state`.
    #[serde(default)]
    pub setup_needed: bool,
}

/// A site as the console edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInput {
    /// Only when creating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub origins: Vec<String>,
    #[serde(default)]
    pub greeting: String,
    /// `#rrggbb`, the widget's accent colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// A site as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteView {
    pub id: String,
    pub name: String,
    pub origins: Vec<String>,
    pub greeting: String,
    pub color: Option<String>,
    /// The script tag to paste.
    pub snippet: String,
    /// Conversations untouched for this many days are erased (`None`: kept).
    #[serde(default)]
    pub retention_days: Option<i64>,
}

/// Wizard step 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInput {
    pub secret_key: String,
}

/// Wizard step 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeSettingsInput {
    /// The name visitors see in the chat header.
    pub display_name: String,
    #[serde(default)]
    pub publishable_key: Option<String>,
    #[serde(default)]
    pub success_url: Option<String>,
    #[serde(default)]
    pub cancel_url: Option<String>,
    pub apple_pay: bool,
    pub google_pay: bool,
}

/// Wizard step 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecretInput {
    pub secret: String,
}

/// Webhook deliveries as the relay saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    pub last_event_type: Option<String>,
    /// Unix milliseconds.
    pub last_event_at: Option<i64>,
    pub last_failure_reason: Option<String>,
    /// Unix milliseconds of the last refused delivery.
    pub last_failure_at: Option<i64>,
    pub events_received: i64,
    pub duplicates: i64,
    pub signature_failures: i64,
}

/// A site's Stripe connection as the console shows it (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeView {
    pub connected: bool,
    /// `test` or `live`.
    pub mode: Option<String>,
    pub secret_key: Option<String>,
    pub publishable_key: Option<String>,
    pub webhook_secret: Option<String>,
    /// The replaced signing secret that still verifies (masked) while Stripe rolls, and
    /// until when (unix ms); "revoke now" ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_webhook_secret: Option<String>,
    /// Unix milliseconds until which the replaced signing secret still verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_webhook_secret_until: Option<i64>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub apple_pay: bool,
    pub google_pay: bool,
    /// Where Stripe must send events for this site.
    pub webhook_url: String,
    /// The events to select in Stripe's dashboard.
    pub events: Vec<String>,
    pub health: HealthView,
    pub last_error: Option<String>,
    /// Unix milliseconds of the last error Stripe gave for this key.
    pub last_error_at: Option<i64>,
    /// Whether the relay uses the built-in simulator (TEST MODE) instead of Stripe.
    pub simulator: bool,
    /// The Stripe webhook endpoint chatpay created for this site ("Create the webhook for
    /// me"), if it did: `we_…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_endpoint: Option<String>,
}

/// The widget's words for a site: what ships in each language, and the owner's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteTexts {
    /// The languages the widget ships in (BCP 47 primary subtags).
    pub languages: Vec<String>,
    /// Each word's name, in table order ([`crate::texts::KEYS`]).
    pub keys: Vec<String>,
    /// The shipped words of each language, in table order.
    pub defaults: std::collections::BTreeMap<String, Vec<String>>,
    /// The owner's words: language → key → text (only the overridden ones).
    pub overrides: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// "Create the webhook for me": the same `request_key` (a double click) makes one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateWebhookInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_key: Option<String>,
}

/// One troubleshooting check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub id: String,
    pub ok: bool,
    /// The symptom it is about, like "Payment link not sending".
    pub topic: String,
    pub title: String,
    pub detail: String,
}

/// Every error: a stable code, a message for people, and the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ApiErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub code: String,
    pub message: String,
    /// The form field of the (first) mistake, if it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every mistake of a form, each at its field, so the form shows them all at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// One mistake of a form, at its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// One thing that happened in a site's conversations, pushed to the console's inbox over
/// `/api/console/sites/{site}/live` (a WebSocket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Empty: the event only says "reload what you show" (news may have been missed).
    pub conversation: String,
    /// A new history entry, exactly as the visitor's tab gets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<crate::protocol::ServerFrame>,
    /// The conversation's new status, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::protocol::ConversationStatus>,
    /// A note for agents only (a payment that could not be opened, a mismatch, a double
    /// charge); not part of the visitor's history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// One page of the inbox list, newest activity first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationSummary>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A conversation in the inbox list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub status: crate::protocol::ConversationStatus,
    pub visitor_name: Option<String>,
    pub visitor_email: Option<String>,
    /// The newest text in it, if any.
    pub last_text: Option<String>,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// A conversation with its history, for the inbox's transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    pub summary: ConversationSummary,
    pub history: Vec<crate::protocol::ServerFrame>,
}

/// An agent's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReply {
    pub text: String,
}

/// A payment an agent asks for by hand; it behaves like a Request Payment node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualPayment {
    /// Major units, like `49.99`.
    pub amount: String,
    /// An ISO 4217 code, like `USD` (any case).
    pub currency: String,
    pub description: String,
    /// Chosen by the console per click, so a repeated request (a double-click, a retry)
    /// makes one payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_key: Option<String>,
}

/// A published workflow version in the editor's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowVersion {
    pub version: i64,
    pub name: String,
    pub nodes: usize,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// What publishing or checking a workflow says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResult {
    /// The new version, when published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub problems: Vec<crate::workflow::Problem>,
    /// What will not work as the site is set up now (it does not stop publishing): like a
    /// Request Payment node on a site that is not connected to Stripe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::workflow::Problem>,
}

/// The statuses the Payments page shows and filters by, in the order it offers them.
pub const PAYMENT_STATUSES: [&str; 8] = [
    "pending",
    "processing",
    "paid",
    "expired",
    "failed",
    "mismatch",
    "refunded",
    "disputed",
];

/// One payment on the owner's Payments page (and one line of its CSV).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRow {
    pub id: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// What the owner is told: `pending`, `processing`, `paid`, `expired`, `failed`,
    /// `mismatch`, `refunded` (all of it) or `disputed` (a dispute not won).
    pub status: String,
    /// More about the status: why it expired (declined by the visitor or timed out), a
    /// partial refund, a dispute's stage, a mismatch's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// In the currency's minor units.
    pub amount_minor: i64,
    /// The amount in major units, like `49.99` (no rounding).
    pub amount: String,
    /// Upper-case ISO code.
    pub currency: String,
    /// Refunded at Stripe so far, in major units like `amount` (`0.00` when none).
    pub refunded: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// `workflow v3` (the published version whose node asked) or `agent a@b.c`.
    pub asked_by: String,
    /// The payment at Stripe (the Dashboard, or the simulator's page in a test setup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_url: Option<String>,
}

/// What one currency's matching payments add up to, in major units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotal {
    pub currency: String,
    /// How many payments match in it (any status).
    pub payments: u64,
    /// Taken: the paid ones (refunded and disputed included).
    pub paid: String,
    pub refunded: String,
    /// Taken back by the bank: the paid ones under an open or lost dispute (not yet
    /// refunded). A won dispute gives it back.
    pub disputed: String,
    /// `paid` − `refunded` − `disputed`.
    pub net: String,
}

/// The Payments page: the payments that pass the filter, newest first, and their totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentList {
    pub payments: Vec<PaymentRow>,
    pub totals: Vec<CurrencyTotal>,
    /// More payments pass the filter than a page lists: narrow the dates (the CSV has all).
    pub truncated: bool,
}

/// What became of a group of payment requests (a UTC day, a workflow version): each request
/// counted once, by where it stands now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    /// `YYYY-MM-DD` (UTC) for a day; `v3` for a workflow version, `agent` for the inbox's.
    pub key: String,
    pub requests: u64,
    /// Paid (a refund or dispute later does not undo that it converted).
    pub paid: u64,
    /// The visitor pressed "Not now".
    pub declined: u64,
    /// The link timed out.
    pub expired: u64,
    pub failed: u64,
    /// The node's amount was not one: no payment was made.
    pub invalid_amount: u64,
    /// Still pending or processing.
    pub open: u64,
    /// A mismatch a person checks, or too many links in one run.
    pub other: u64,
}

impl Funnel {
    /// One figure by its name: `requests`, or an outcome (`paid`, `declined`, `expired`,
    /// `failed`, `invalid_amount`, `open`, `other`).
    pub fn count(&self, outcome: &str) -> u64 {
        match outcome {
            "requests" => self.requests,
            "paid" => self.paid,
            "declined" => self.declined,
            "expired" => self.expired,
            "failed" => self.failed,
            "invalid_amount" => self.invalid_amount,
            "open" => self.open,
            _ => self.other,
        }
    }
}

/// The conversion report of a date range: requests and their outcomes by day and by
/// workflow version, and all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    /// Every UTC day from the first request to the last, quiet days included (at most 366).
    pub by_day: Vec<Funnel>,
    /// Newest version first; the inbox's requests last.
    pub by_version: Vec<Funnel>,
    /// Of the days drawn (`by_version` too).
    pub total: Funnel,
    /// The dates held requests older than the days drawn; they are not counted anywhere
    /// (choose dates to see them).
    #[serde(default)]
    pub clipped: bool,
}

/// One conversation as a visitor's data export (the console's Export, `chatpay conversation
/// export`): everything chatpay keeps about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationExport {
    /// `chatpay.conversation.v1`.
    pub format: String,
    pub site: String,
    /// Unix milliseconds.
    pub exported_at: i64,
    pub conversation: ConversationSummary,
    /// Every line and card, oldest first, as the widget received them.
    pub history: Vec<crate::protocol::ServerFrame>,
    pub payments: Vec<PaymentRow>,
    /// The workflow version the conversation ran, if it ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_version: Option<i64>,
    /// The answers its run saved (variables), by name.
    pub answers: std::collections::BTreeMap<String, String>,
    /// The address the visitor last came from (kept for the abuse limits; erased with the
    /// conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// Notes for the site's agents about it (a payment that could not open, a double
    /// charge), oldest first; the visitor never saw them.
    #[serde(default)]
    pub notices: Vec<ExportedNotice>,
}

/// A note for the agents in a [`ConversationExport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedNotice {
    pub text: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// How long a site keeps conversations nobody touches (the console's Privacy card).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Erase a conversation untouched for this many days (1-3650); `None`: keep them.
    #[serde(default)]
    pub days: Option<i64>,
}

/// A site's outbound webhook as the console shows it, with its latest deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookView {
    /// `None`: no webhook set.
    #[serde(default)]
    pub url: Option<String>,
    /// The secret's last characters (`…a1b2`).
    #[serde(default)]
    pub secret_hint: Option<String>,
    /// The signing secret, only in the answer that made it (shown once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Newest first.
    #[serde(default)]
    pub deliveries: Vec<HookDelivery>,
}

/// One event sent (or being sent) to a site's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookDelivery {
    /// The event's id (also in the body and the `Chatpay-Event-Id` header).
    pub id: String,
    /// `payment.paid`, `payment.expired`, `payment.failed`, `payment.mismatch`,
    /// `payment.refunded`, `payment.disputed`, `conversation.handoff` or `test`.
    pub event_type: String,
    /// `pending` (being tried, or waiting for its next try), `delivered` or `failed` (a day
    /// of tries without a 2xx).
    pub status: String,
    pub attempts: i64,
    /// The receiver's last HTTP status, if one came.
    #[serde(default)]
    pub last_status: Option<i64>,
    /// Why the last try did not count.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the next try, while pending.
    #[serde(default)]
    pub next_at: Option<i64>,
}

/// Setting a site's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookInput {
    pub url: String,
    /// Make a new signing secret (the old one stops at once).
    #[serde(default)]
    pub new_secret: bool,
}

/// The console API's paths, one list for both sides: each constant is the route as the
/// relay's router writes it (`{site}`-style parameters), and [`paths::fill`] makes the path
/// the console calls from it.
pub mod paths {
    pub const STATE: &str = "/api/console/state";
    pub const SETUP: &str = "/api/console/setup";
    pub const LOGIN: &str = "/api/console/login";
    pub const LOGOUT: &str = "/api/console/logout";
    pub const LOGOUT_EVERYWHERE: &str = "/api/console/logout-everywhere";
    pub const ME: &str = "/api/console/me";
    pub const SITES: &str = "/api/console/sites";
    pub const SITE: &str = "/api/console/sites/{site}";
    pub const TEXTS: &str = "/api/console/sites/{site}/texts";
    pub const STRIPE: &str = "/api/console/sites/{site}/stripe";
    pub const STRIPE_KEY: &str = "/api/console/sites/{site}/stripe/key";
    pub const STRIPE_SETTINGS: &str = "/api/console/sites/{site}/stripe/settings";
    pub const STRIPE_WEBHOOK: &str = "/api/console/sites/{site}/stripe/webhook";
    pub const STRIPE_WEBHOOK_ENDPOINT: &str = "/api/console/sites/{site}/stripe/webhook/endpoint";
    pub const STRIPE_WEBHOOK_PREVIOUS: &str = "/api/console/sites/{site}/stripe/webhook/previous";
    pub const TROUBLESHOOT: &str = "/api/console/sites/{site}/troubleshoot";
    pub const WORKFLOWS: &str = "/api/console/sites/{site}/workflows";
    pub const WORKFLOWS_CHECK: &str = "/api/console/sites/{site}/workflows/check";
    pub const WORKFLOW: &str = "/api/console/sites/{site}/workflows/{version}";
    pub const CONVERSATIONS: &str = "/api/console/sites/{site}/conversations";
    pub const CONVERSATION: &str = "/api/console/sites/{site}/conversations/{id}";
    pub const REPLY: &str = "/api/console/sites/{site}/conversations/{id}/reply";
    pub const TAKEOVER: &str = "/api/console/sites/{site}/conversations/{id}/takeover";
    pub const HANDBACK: &str = "/api/console/sites/{site}/conversations/{id}/handback";
    pub const PAYMENTS: &str = "/api/console/sites/{site}/conversations/{id}/payments";
    pub const SITE_PAYMENTS: &str = "/api/console/sites/{site}/payments";
    pub const SITE_PAYMENTS_CSV: &str = "/api/console/sites/{site}/payments.csv";
    pub const CONVERSION: &str = "/api/console/sites/{site}/conversion";
    pub const EXPORT: &str = "/api/console/sites/{site}/conversations/{id}/export";
    pub const ERASE: &str = "/api/console/sites/{site}/conversations/{id}/erase";
    pub const RETENTION: &str = "/api/console/sites/{site}/retention";
    pub const HOOK: &str = "/api/console/sites/{site}/hook";
    pub const HOOK_TEST: &str = "/api/console/sites/{site}/hook/test";
    pub const LIVE: &str = "/api/console/sites/{site}/live";

    /// `route` with its `{…}` parameters replaced by `values`, in order (ids are made of
    /// URL-safe characters; a missing value leaves its parameter empty).
    pub fn fill(route: &str, values: &[&str]) -> String {
        let mut out = String::with_capacity(route.len() + 16);
        let mut values = values.iter();
        let mut rest = route;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            out.push_str(values.next().copied().unwrap_or(""));
            rest = rest[open..]
                .find('}')
                .map_or("", |close| &rest[open + close + 1..]);
        }
        out.push_str(rest);
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn parameters_are_filled_in_order() {
            assert_eq!(super::fill(super::SITES, &[]), "/api/console/sites");
            assert_eq!(
                super::fill(super::REPLY, &["shop", "conv_1"]),
                "/api/console/sites/shop/conversations/conv_1/reply"
            );
            assert_eq!(
                super::fill(super::WORKFLOW, &["shop", "3"]),
                "/api/console/sites/shop/workflows/3"
            );
        }
    }
}
