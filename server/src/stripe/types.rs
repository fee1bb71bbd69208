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
    #[serde(default)]
    pub status: Option<SessionStatus>,
    pub payment_status: SessionPaymentStatus,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub livemode: bool,
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
