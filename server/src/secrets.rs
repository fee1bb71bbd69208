//! Secrets at rest: Stripe keys and webhook signing secrets are stored encrypted with
//! AES-256-GCM and are never sent back to a browser or printed in full.
//!
//! The 32-byte key comes from `CHATPAY_SECRET_KEY` (64 hex digits or base64), or from a key
//! file created on first run with mode 0600 (default `data/secret.key`). Several relays
//! sharing one PostgreSQL must share the key: set `CHATPAY_SECRET_KEY` on all of them.
//!
//! Each ciphertext is bound to where it is stored (AES-GCM associated data naming the
//! table, column and row, like `stripe_accounts.secret_key:my-shop`): copied into another
//! row or another site's column, it does not decrypt. Ciphertexts of older relays (`v1:`,
//! unbound) are re-sealed bound at start ([`Cipher::open_unbound`]).

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;

/// The format tag of stored ciphertexts: `v2` is bound to its place, `v1` (older relays)
/// was not.
const TAG: &str = "v2:";
const TAG_UNBOUND: &str = "v1:";

/// Encrypts and decrypts secrets with the relay's key, and makes the tokens only this
/// relay (or one sharing its key) can make.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
    /// A key of its own for tokens, derived from the relay's key.
    token_key: [u8; 32],
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(…)")
    }
}

/// Whether a secret someone sent is the expected one, compared in constant time (the time
/// taken says nothing about how much of it matched; only a length mismatch answers early).
pub fn same_secret(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

impl Cipher {
    pub fn from_key(key: &[u8; 32]) -> Cipher {
        let token_key = hmac_sha256(key, &[b"chatpay token key v1"]);
        Cipher {
            aead: Aes256Gcm::new(key.into()),
            token_key,
        }
    }

    /// A token for `data` in the scope of `purpose` (like `cancel`): 128 bits of an
    /// HMAC-SHA256 under a key derived from the relay's key, as hex.
    pub fn token(&self, purpose: &str, data: &str) -> String {
        let mac = hmac_sha256(&self.token_key, &[purpose.as_bytes(), b"\0", data.as_bytes()]);
        hex::encode(&mac[..16])
    }

    /// Whether `token` is [`Cipher::token`] of `data` for `purpose` (compared in constant time).
    pub fn check_token(&self, purpose: &str, data: &str, token: &str) -> bool {
        same_secret(token, &self.token(purpose, data))
    }

    /// Loads the key from `env_key` if given, else from `file`, creating the file with a
    /// fresh random key when it does not exist.
    pub fn load(env_key: Option<&str>, file: &Path) -> anyhow::Result<Cipher> {
        if let Some(raw) = env_key {
            return Ok(Cipher::from_key(
                &parse_key(raw).context("CHATPAY_SECRET_KEY is not usable")?,
            ));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let key = parse_key(text.trim())
                    .with_context(|| format!("the key file '{}' is damaged", file.display()))?;
                Ok(Cipher::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create '{}' for the key file", dir.display()))?;
                }
                write_private(file, &hex::encode(key))
                    .with_context(|| format!("cannot write the key file '{}'", file.display()))?;
                tracing::info!(file = %file.display(), "created a new secret key file; back it up with the database");
                Ok(Cipher::from_key(&key))
            }
            Err(e) => Err(e).with_context(|| format!("cannot read the key file '{}'", file.display())),
        }
    }

    /// Encrypts `plain` for the place `bound_to` (table, column and row, like
    /// `stripe_accounts.secret_key:my-shop`) into `v2:<base64(nonce ‖ ciphertext)>`.
    pub fn seal(&self, plain: &str, bound_to: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and a 12-byte nonce cannot fail.
        let sealed = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: bound_to.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{TAG}{}", B64.encode(out))
    }

    /// Decrypts what [`Cipher::seal`] produced for the same place.
    pub fn open(&self, sealed: &str, bound_to: &str) -> anyhow::Result<String> {
        let Some(body) = sealed.strip_prefix(TAG) else {
            if sealed.starts_with(TAG_UNBOUND) {
                bail!("a stored secret was sealed by an older chatpay and not yet re-sealed; restart this relay to re-seal it");
            }
            bail!("stored secret has an unknown format")
        };
        self.decrypt(body, bound_to.as_bytes()).map_err(|e| {
            e.context(format!(
                "cannot decrypt the secret stored at {bound_to}: was CHATPAY_SECRET_KEY or the key file changed, or was it copied from elsewhere?"
            ))
        })
    }

    /// Decrypts a `v1:` ciphertext of an older relay (bound to nothing), to re-seal it;
    /// `None` for anything else.
    pub fn open_unbound(&self, sealed: &str) -> Option<anyhow::Result<String>> {
        sealed
            .strip_prefix(TAG_UNBOUND)
            .map(|body| self.decrypt(body, b""))
    }

    fn decrypt(&self, body: &str, aad: &[u8]) -> anyhow::Result<String> {
        let bytes = B64.decode(body).context("stored secret is not base64")?;
        if bytes.len() < 12 + 16 {
            bail!("stored secret is too short");
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self
            .aead
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .map_err(|_| anyhow::anyhow!("the ciphertext does not open with this key here"))?;
        String::from_utf8(plain).context("stored secret is not UTF-8")
    }
}

/// Parses 64 hex digits or standard base64 of 32 bytes.
fn parse_key(raw: &str) -> anyhow::Result<[u8; 32]> {
    let raw = raw.trim();
    let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(raw)?
    } else {
        B64.decode(raw).map_err(|_| {
            anyhow::anyhow!("use 64 hex digits or base64 of 32 bytes (e.g. `openssl rand -hex 32`)")
        })?
    };
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!(
            "the key has {} bytes; it needs exactly 32 (e.g. `openssl rand -hex 32`)",
            b.len()
        )
    })
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// `sk_test_…abcd`: the prefix and the last four characters, for people to recognise a key.
pub fn mask(secret: &str) -> String {
    const PREFIXES: [&str; 7] = [
        "sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_", "whsec_",
    ];
    let prefix = PREFIXES
        .iter()
        .find(|p| secret.starts_with(*p))
        .copied()
        .unwrap_or("");
    let chars: Vec<char> = secret.chars().collect();
    // A string too short to be a real key shows nothing of itself.
    let shown = if chars.len() >= 12 { 4 } else { 0 };
    let last4: String = chars[chars.len() - shown..].iter().collect();
    format!("{prefix}…{last4}")
}

/// HMAC-SHA256 of the concatenated `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::Mac as _;
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_purpose_data_and_key() {
        let c = Cipher::from_key(&[7u8; 32]);
        let t = c.token("cancel", "pay_1");
        assert_eq!(t.len(), 32);
        assert!(c.check_token("cancel", "pay_1", &t));
        assert!(!c.check_token("cancel", "pay_2", &t));
        assert!(!c.check_token("other", "pay_1", &t));
        assert!(!c.check_token("cancel", "pay_1", ""));
        assert!(!Cipher::from_key(&[8u8; 32]).check_token("cancel", "pay_1", &t));
    }

    #[test]
    fn sealed_secrets_open_again_and_differ_each_time() {
        let c = Cipher::from_key(&[7u8; 32]);
        let here = "stripe_accounts.secret_key:shop";
        let a = c.seal("sk_test_abc", here);
        let b = c.seal("sk_test_abc", here);
        assert_ne!(a, b, "a fresh nonce every time");
        assert!(!a.contains("sk_test"));
        assert_eq!(c.open(&a, here).unwrap(), "sk_test_abc");
        let other = Cipher::from_key(&[8u8; 32]);
        assert!(format!("{:#}", other.open(&a, here).unwrap_err()).contains("CHATPAY_SECRET_KEY"));
    }

    #[test]
    fn a_ciphertext_copied_to_another_row_or_column_does_not_open() {
        let c = Cipher::from_key(&[7u8; 32]);
        let shop_key = c.seal("sk_live_shop", "stripe_accounts.secret_key:shop");
        for elsewhere in [
            "stripe_accounts.secret_key:rival",
            "stripe_accounts.webhook_secrets:shop",
        ] {
            let e = format!("{:#}", c.open(&shop_key, elsewhere).unwrap_err());
            assert!(
                e.contains(elsewhere) && e.contains("copied from elsewhere"),
                "{e}"
            );
        }
    }

    #[test]
    fn older_unbound_ciphertexts_open_only_to_be_resealed() {
        let c = Cipher::from_key(&[7u8; 32]);
        // What a relay before binding wrote: v1, no associated data.
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = c
            .aead
            .encrypt(Nonce::from_slice(&nonce), b"whsec_old".as_slice())
            .unwrap();
        let legacy = format!("v1:{}", B64.encode([nonce.to_vec(), ct].concat()));
        assert!(c
            .open(&legacy, "stripe_accounts.webhook_secrets:shop")
            .unwrap_err()
            .to_string()
            .contains("re-seal"));
        assert_eq!(c.open_unbound(&legacy).unwrap().unwrap(), "whsec_old");
        assert!(c.open_unbound(&c.seal("x", "a:b")).is_none());
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_bad_ones_say_how_to_make_one() {
        assert_eq!(parse_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert_eq!(parse_key(&B64.encode([1u8; 32])).unwrap(), [1; 32]);
        assert!(parse_key("short")
            .unwrap_err()
            .to_string()
            .contains("openssl rand -hex 32"));
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("chatpay-key-{}", rand::random::<u32>()));
        let file = dir.join("secret.key");
        let sealed = Cipher::load(None, &file).unwrap().seal("whsec_x", "t.c:r");
        assert_eq!(
            Cipher::load(None, &file).unwrap().open(&sealed, "t.c:r").unwrap(),
            "whsec_x"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn masks_keep_the_prefix_and_last_four() {
        assert_eq!(mask("sk_test_51H8abcdEFGH1234"), "sk_test_…1234");
        assert_eq!(mask("rk_live_xyzw9876"), "rk_live_…9876");
        assert_eq!(mask("whsec_abcdefgh"), "whsec_…efgh");
        assert_eq!(mask("odd"), "…");
    }
}
