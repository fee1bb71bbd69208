//! The parts of Stripe's objects chatpay reads, shaped as Stripe sends them. Unknown fields
//! are ignored, so newer API versions keep working.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// `GET /v1/balance`: only used to test a key.
#[derive(Debug, Clone, Deserialize)]
pub struct Balance {
    pub livemode: bool,
}

/// A Checkout Session's own status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
}

/// A Checkout Session's payment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionPaymentStatus {
    Paid,
    Unpaid,
    NoPaymentRequired,
}

/// `checkout.session` as chatpay uses it.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    /// An embedded session's secret for Stripe.js (`null` on the hosted page).
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub status: Option<SessionStatus>,
    pub payment_status: SessionPaymentStatus,
    /// In the currency's minor units, as Stripe charges it.
    #[serde(default)]
    pub amount_total: Option<i64>,
    /// Lowercase ISO 4217, as Stripe writes it.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub livemode: bool,
    /// The PaymentIntent of a completed session (what a refund names): its id, or the
    /// object itself when the session was retrieved with `expand[]=payment_intent`.
    #[serde(default)]
    pub payment_intent: Option<PaymentIntentRef>,
    /// Adaptive Pricing on sessions created before 2025-03-31: `currency`/`amount_total`
    /// are then the customer's, and these are the integration's. Gone from the API since
    /// 2025-09-30.clover (chatpay's version never shows it), but a webhook endpoint created
    /// at an older version renders its events with it until the endpoint is rolled.
    #[serde(default)]
    pub currency_conversion: Option<CurrencyConversion>,
}

/// A session's `payment_intent`: an id, or the expanded object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PaymentIntentRef {
    Id(String),
    Object(PaymentIntent),
}

impl PaymentIntentRef {
    pub fn id(&self) -> &str {
        match self {
            PaymentIntentRef::Id(id) => id,
            PaymentIntentRef::Object(pi) => &pi.id,
        }
    }

    /// The intent's status, when expanded.
    pub fn status(&self) -> Option<&str> {
        match self {
            PaymentIntentRef::Id(_) => None,
            PaymentIntentRef::Object(pi) => Some(&pi.status),
        }
    }
}

/// `payment_intent`, the part chatpay reads: where a delayed payment stands.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    /// `processing`, `succeeded`, `requires_payment_method` (it failed), `canceled`, …
    pub status: String,
}

/// `checkout.session.currency_conversion` (legacy Adaptive Pricing).
#[derive(Debug, Clone, Deserialize)]
pub struct CurrencyConversion {
    /// The amount before conversion, in `source_currency`'s minor units.
    pub amount_total: i64,
    /// Lower-case ISO code, as Stripe writes currencies.
    pub source_currency: String,
}

impl CheckoutSession {
    /// The amount and (lowercase) currency the session charges in the integration's
    /// currency: `currency_conversion.source_*` when that legacy field is there, else
    /// `amount_total`/`currency` (newer sessions keep those in the integration's currency
    /// and put the customer's choice under `presentment_details`).
    pub fn charged(&self) -> Option<(i64, String)> {
        match &self.currency_conversion {
            Some(c) => Some((c.amount_total, c.source_currency.to_ascii_lowercase())),
            None => Some((self.amount_total?, self.currency.as_deref()?.to_ascii_lowercase())),
        }
    }
}

/// `refund`: what a second charge for one payment is turned into.
/// What chatpay reads of a Charge (`charge.refunded`): whose money it is and how much of it
/// is refunded so far.
#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// In the charge's minor units; only grows.
    #[serde(default)]
    pub amount_refunded: i64,
}

/// What chatpay reads of a Dispute (`charge.dispute.*`).
#[derive(Debug, Clone, Deserialize)]
pub struct Dispute {
    pub id: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// Stripe's word, one of [`crate::domain::DISPUTE_STATUSES`].
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    /// Stripe's word: `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
}

/// A wallet's setting in a PaymentMethodConfiguration.
#[derive(Debug, Clone, Deserialize)]
pub struct WalletSetting {
    pub display_preference: DisplayPreference,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DisplayPreference {
    /// What was asked: `on`, `off` or `none`.
    #[serde(default)]
    pub preference: Option<String>,
    /// What is in effect: `on` or `off`.
    pub value: String,
}

/// `payment_method_configuration`: how chatpay turns Apple Pay and Google Pay on or off.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethodConfiguration {
    pub id: String,
    #[serde(default)]
    pub apple_pay: Option<WalletSetting>,
    #[serde(default)]
    pub google_pay: Option<WalletSetting>,
}

/// `webhook_endpoint` (used by the demo set-up against the simulator).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// Only returned when the endpoint is created.
    #[serde(default)]
    pub secret: Option<String>,
}

/// An event as delivered to a webhook endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    /// The event type, like `checkout.session.completed`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}
