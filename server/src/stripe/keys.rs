//! What a pasted Stripe key or webhook secret looks like, checked before any request, so a
//! wrong paste gets a precise message instead of a vague 401.

/// A secret key's kind and mode, from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyKind {
    pub livemode: bool,
    /// `rk_…`: a restricted key.
    pub restricted: bool,
}

/// Checks the shape of a secret (or restricted) key. The message names the fix.
/// How to give a restricted key what chatpay needs, in words for the owner.
pub const PERMISSION_FIX: &str =
    "In Stripe's dashboard (Developers → API keys), edit the restricted key and set \
     Checkout Sessions to Write (chatpay reads and creates them), or use the secret key (sk_…).";

pub fn check_secret_key(key: &str) -> Result<KeyKind, String> {
    let key = key.trim();
    if key.is_empty() {
        return Err("the secret key is empty; paste the key from Stripe's dashboard (Developers → API keys), it starts with sk_live_, sk_test_ or rk_".into());
    }
    if key.starts_with("pk_") {
        return Err("that is a publishable key (pk_…); chatpay needs the secret key (sk_…) or a restricted key (rk_…) from the same page".into());
    }
    if key.starts_with("whsec_") {
        return Err("that is a webhook signing secret (whsec_…); it belongs in the webhook step, the API key starts with sk_ or rk_".into());
    }
    let (restricted, livemode) = match key.get(..8) {
        Some("sk_live_") => (false, true),
        Some("sk_test_") => (false, false),
        Some("rk_live_") => (true, true),
        Some("rk_test_") => (true, false),
        _ => {
            let shown: String = key.chars().take(8).collect();
            return Err(format!(
                "a Stripe secret key starts with sk_live_, sk_test_, rk_live_ or rk_test_, not '{shown}…'; copy the whole key"
            ));
        }
    };
    if key.len() < 20 || key.chars().any(char::is_whitespace) {
        return Err("the key looks cut short or has spaces inside; copy the whole key again".into());
    }
    Ok(KeyKind { livemode, restricted })
}

/// Checks the shape of a webhook signing secret.
pub fn check_webhook_secret(secret: &str) -> Result<(), String> {
    let secret = secret.trim();
    if !secret.starts_with("whsec_") {
        return Err("a webhook signing secret starts with whsec_ (Stripe dashboard → Webhooks → your endpoint → Signing secret)".into());
    }
    if secret.len() < 14 || secret.chars().any(char::is_whitespace) {
        return Err("the webhook signing secret looks cut short; copy it again".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_recognised_by_prefix_with_precise_messages() {
        assert_eq!(
            check_secret_key("sk_test_51Habcdefghijklmn"),
            Ok(KeyKind {
                livemode: false,
                restricted: false
            })
        );
        assert_eq!(
            check_secret_key(" rk_live_51Habcdefghijklmn "),
            Ok(KeyKind {
                livemode: true,
                restricted: true
            })
        );
        assert!(check_secret_key("").unwrap_err().contains("empty"));
        assert!(check_secret_key("pk_test_123456789012345")
            .unwrap_err()
            .contains("publishable key"));
        assert!(check_secret_key("whsec_123456789012345")
            .unwrap_err()
            .contains("webhook signing secret"));
        assert!(check_secret_key("sq_test_123456789012345")
            .unwrap_err()
            .contains("'sq_test_…'"));
        assert!(check_secret_key("sk_test_12").unwrap_err().contains("cut short"));
        assert!(check_webhook_secret("whsec_abcdefghijkl").is_ok());
        assert!(check_webhook_secret("sk_test_abcdefghijkl")
            .unwrap_err()
            .contains("whsec_"));
    }
}
