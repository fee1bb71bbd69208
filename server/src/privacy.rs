//! A visitor's data on request, and a site's retention: one conversation exported as JSON
//! (everything chatpay keeps about it), erased ([`crate::store::erase`]), and conversations
//! nobody touched for longer than the site's retention erased by the sweep. The console and
//! the CLI both come here.

use chatpay_shared::console::{ConversationExport, ExportedNotice};

use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::payments::report::{self, StripeLinks};
use crate::store::{now_ms, Store};

/// The longest retention a site may set, in days (ten years), and the shortest.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;

/// How many conversations one sweep erases at most (the next sweep goes on).
const ERASE_PER_SWEEP: i64 = 50;

/// The export's format name.
pub const EXPORT_FORMAT: &str = "chatpay.conversation.v1";

/// Everything chatpay keeps about `conversation` of `site`; `None`: no such conversation
/// there. `stripe_api` is the Stripe API base the relay calls (for the payments' links).
pub async fn export(
    store: &Store,
    site: &SiteId,
    conversation: &str,
    stripe_api: &str,
) -> AppResult<Option<ConversationExport>> {
    let Some(summary) = store.conversation_summary(site, conversation).await? else {
        return Ok(None);
    };
    let history = store.history_after(conversation, 0, u32::MAX).await?;
    let links = StripeLinks::for_base(stripe_api);
    let payments = store
        .conversation_payments(conversation)
        .await?
        .iter()
        .map(|p| report::row(p, &links))
        .collect();
    let (workflow_version, answers) = match store.run_of(conversation).await? {
        Some((version, run)) => (Some(version), run.vars),
        None => (None, Default::default()),
    };
    Ok(Some(ConversationExport {
        format: EXPORT_FORMAT.into(),
        site: site.to_string(),
        exported_at: now_ms(),
        conversation: summary,
        history,
        payments,
        workflow_version,
        answers,
        client_ip: store.client_ip_of(conversation).await?.map(|ip| ip.to_string()),
        notices: store
            .notices_of(conversation)
            .await?
            .into_iter()
            .map(|(text, at)| ExportedNotice { text, at })
            .collect(),
    }))
}

/// Checks a retention the owner asks for: 1-3650 days, or none.
pub fn check_retention(days: Option<i64>) -> AppResult<Option<i64>> {
    match days {
        Some(d) if !RETENTION_DAYS.contains(&d) => Err(AppError::Invalid {
            field: "days",
            message: format!(
                "{d} days is not a retention: use {} to {} days, or leave it empty to keep conversations",
                RETENTION_DAYS.start(),
                RETENTION_DAYS.end()
            ),
        }),
        other => Ok(other),
    }
}

/// Erases the conversations past their site's retention (a few per call); returns how many.
pub async fn enforce_retention(store: &Store) -> AppResult<usize> {
    let due = store.past_retention(now_ms(), ERASE_PER_SWEEP).await?;
    let mut erased = 0;
    // One conversation that cannot be erased now (a WAL a reader holds, a lost connection)
    // is said and left for the next sweep; the others of the batch still go.
    for (site, conversation) in due {
        match store.erase_conversation(&site, &conversation).await {
            Ok(true) => {
                tracing::info!(%site, %conversation, "erased: past the site's retention");
                erased += 1;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%site, %conversation, error = %e, "could not erase a conversation past the site's retention yet")
            }
        }
    }
    Ok(erased)
}
