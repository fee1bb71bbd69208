//! A workflow run's saved state: where it stands, the node it waits at, the answers it
//! collected and the payments it asked for. The engine computes it, the store saves it (as
//! JSON in `workflow_runs.state`), neither owns the other's types. Runs saved by an older
//! relay must still read: new fields default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, not started.
    New,
    /// Waiting for the visitor's reply to an Ask.
    WaitingInput,
    /// A payment is being created at Stripe.
    CreatingPayment,
    /// Waiting for Stripe to say paid, expired or failed.
    WaitingPayment,
    /// Handed to a person.
    WaitingAgent,
    Finished,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::New => "new",
            RunStatus::WaitingInput => "waiting_input",
            RunStatus::CreatingPayment => "creating_payment",
            RunStatus::WaitingPayment => "waiting_payment",
            RunStatus::WaitingAgent => "waiting_agent",
            RunStatus::Finished => "finished",
        }
    }
}

/// A conversation's run: where it waits and its variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub status: RunStatus,
    /// The node the run waits at.
    pub node: Option<String>,
    pub vars: BTreeMap<String, String>,
    /// The payment being created or waited for.
    pub payment: Option<String>,
    /// Payments this run asked for so far (names the next one).
    pub payments_made: u32,
    /// Random, per run: payment ids are `pay_{key}_{n}`.
    pub key: String,
    /// Visitor messages while the current payment was being waited for: the first gets an
    /// answer, the second asks for a person (absent in runs saved before it existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub written_while_paying: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl RunState {
    pub fn new(key: impl Into<String>) -> RunState {
        RunState {
            status: RunStatus::New,
            node: None,
            vars: BTreeMap::new(),
            payment: None,
            payments_made: 0,
            key: key.into(),
            written_while_paying: 0,
        }
    }
}
