//! Site owners: argon2 password hashes, console session tokens, the first-run setup link,
//! and a login rate limit. Session cookies are `HttpOnly; SameSite=Strict` (plus `Secure`
//! behind https); only their SHA-256 is stored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::store::accounts::Account;
use crate::store::Store;

/// The console session cookie.
pub const COOKIE: &str = "chatpay_session";
/// How long a console session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a first-run setup link lasts.
pub const SETUP_TTL: Duration = Duration::from_secs(24 * 3600);

/// A fresh 256-bit secret as 64 hex digits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keeps of a secret token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks an email and password for a new account; errors name the field.
pub fn check_new_credentials(email: &str, password: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
    if !plausible {
        return Err(AppError::Invalid {
            field: "email",
            message: format!("'{email}' does not look like an email address"),
        });
    }
    if password.chars().count() < 10 {
        return Err(AppError::Invalid {
            field: "password",
            message: "use at least 10 characters for the password".into(),
        });
    }
    if password.len() > 1024 {
        return Err(AppError::Invalid {
            field: "password",
            message: "the password is longer than 1024 bytes".into(),
        });
    }
    Ok(email)
}

/// Hashes a password with argon2id (on a blocking thread: it is meant to be slow).
pub async fn hash_password(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot hash the password: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?
}

/// Whether `password` matches the stored argon2 hash.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Creates an account (the `chatpay user add` and first-run setup path).
pub async fn create_account(store: &Store, email: &str, password: &str) -> AppResult<Account> {
    let email = check_new_credentials(email, password)?;
    let hash = hash_password(password.to_owned()).await?;
    store.create_account(&email, &hash).await
}

/// Login attempts per key (email, and client address): at most [`LoginLimiter::MAX`]
/// failures in [`LoginLimiter::WINDOW`].
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    pub const MAX: u32 = 5;
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);

    /// Whether another attempt is allowed for `key` now.
    pub fn allowed(&self, key: &str) -> bool {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(key) {
            Some((n, since)) if since.elapsed() < Self::WINDOW => *n < Self::MAX,
            _ => true,
        }
    }

    pub fn failed(&self, key: &str) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= Self::WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_with_argon2_and_verify() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), hash.clone()).await);
        assert!(!verify_password("wrong horse battery".into(), hash).await);
        assert!(!verify_password("x".into(), "not a hash".into()).await);
    }

    #[test]
    fn credentials_are_checked_with_the_field_named() {
        assert_eq!(
            check_new_credentials(" Ana@Example.com ", "long enough pw").unwrap(),
            "ana@example.com"
        );
        match check_new_credentials("ana", "long enough pw") {
            Err(AppError::Invalid {
                field: "email",
                message,
            }) => assert!(message.contains("'ana'")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_new_credentials("a@b.co", "short"),
            Err(AppError::Invalid {
                field: "password",
                ..
            })
        ));
    }

    #[test]
    fn login_limiter_blocks_after_five_failures() {
        let l = LoginLimiter::default();
        for _ in 0..5 {
            assert!(l.allowed("k"));
            l.failed("k");
        }
        assert!(!l.allowed("k"));
        assert!(l.allowed("other"));
        l.succeeded("k");
        assert!(l.allowed("k"));
    }
}
