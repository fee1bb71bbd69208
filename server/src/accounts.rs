//! Site owners: argon2 password hashes, console session tokens, the first-run setup link,
//! and a login rate limit. Session cookies are `HttpOnly; SameSite=Strict` (plus `Secure`
//! behind https); only their SHA-256 is stored.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher};
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
    // Long is not enough ("aaaaaaaaaa"): zxcvbn estimates how many guesses it takes, with
    // the email's parts as words an attacker would try first. Its time grows fast with the
    // length (a 1,024-character l33t password took 12 s, 40 characters ~60 ms): it judges the
    // first 40 characters, which must be hard to guess on their own.
    let hints: Vec<&str> = email.split(['@', '.']).chain(["chatpay"]).collect();
    let judged: String = password.chars().take(40).collect();
    let estimate = zxcvbn::zxcvbn(&judged, &hints);
    if estimate.score() < zxcvbn::Score::Three {
        let why = estimate
            .feedback()
            .map(|f| f.to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "it would be guessed quickly".into());
        return Err(AppError::Invalid {
            field: "password",
            message: format!(
                "this password is too easy to guess: {why} Use a longer phrase of unrelated words."
            ),
        });
    }
    Ok(email)
}

/// One argon2 computation for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Where argon2 runs: a few computations at a time (one per core: each takes ~19 MiB and
/// a core for tens of milliseconds; more at once only adds memory), a few more waiting, and
/// the rest refused at once with a 429. One per relay.
///
/// The computations run on threads of their own, as many as may run at once: the allocator
/// keeps a freed 19 MiB block for the thread that used it, so on tokio's pool of up to 512
/// blocking threads a sign-in flood left the relay ~250 MB larger for good.
#[derive(Debug)]
pub struct Hashers {
    jobs: std::sync::mpsc::Sender<Job>,
    permits: Arc<tokio::sync::Semaphore>,
    max_waiting: usize,
    waiting: AtomicUsize,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Default for Hashers {
    fn default() -> Hashers {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hashers::new(cores, 4 * cores)
    }
}

impl Hashers {
    /// `at_once` computations run, `max_waiting` more may wait.
    pub fn new(at_once: usize, max_waiting: usize) -> Hashers {
        let at_once = at_once.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..at_once {
            let queue = Arc::clone(&queue);
            let started = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job.
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match next {
                        // A panic loses that one answer (its caller gets an error), not
                        // the thread.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        // The relay dropped its Hashers: nothing more will come.
                        Err(_) => return,
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Hashers {
            jobs,
            permits: Arc::new(tokio::sync::Semaphore::new(at_once)),
            max_waiting,
            waiting: AtomicUsize::new(0),
            running: Arc::default(),
            peak: Arc::default(),
        }
    }

    /// The most computations that ever ran at once here (tests, metrics).
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Runs one argon2 computation on a hashing thread (see [`Hashers`]).
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
        // Leaves the queue however the wait ends: a caller who gives up (the client closed
        // the connection) must not keep its place for ever.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        let place = Waiting(&self.waiting);
        if ahead >= self.max_waiting {
            tracing::info!("sign-in refused: too many password checks at once");
            return Err(AppError::RateLimited {
                message: "too many sign-ins at once; try again in a few seconds".into(),
                retry_after_secs: 2,
            });
        }
        let permit = Arc::clone(&self.permits).acquire_owned().await;
        drop(place);
        let permit = permit.map_err(|e| AppError::Internal(e.into()))?;
        let (running, peak) = (Arc::clone(&self.running), Arc::clone(&self.peak));
        // The permit goes with the computation: a caller who gives up does not free a core
        // that is still hashing.
        let (done, out) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let now = running.fetch_add(1, Ordering::AcqRel) + 1;
            peak.fetch_max(now, Ordering::AcqRel);
            let result = f();
            running.fetch_sub(1, Ordering::AcqRel);
            let _ = done.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the password hashing threads are gone")))?;
        out.await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("a password computation was lost")))
    }
}

/// Hashes a password with argon2id (on a blocking thread: it is meant to be slow).
pub async fn hash_password(hashers: &Hashers, password: String) -> AppResult<String> {
    hashers
        .run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot hash the password: {e}")))
        })
        .await?
}

/// Whether `password` matches the stored argon2 hash.
pub async fn verify_password(hashers: &Hashers, password: String, hash: String) -> AppResult<bool> {
    hashers
        .run(move || verify_with_kept_memory(password.as_bytes(), &hash))
        .await
}

/// Spends what checking a password costs, for an email no account has (so the answer does
/// not tell which emails exist); always `false`.
pub async fn check_against_nobody(hashers: &Hashers, password: String) -> AppResult<bool> {
    static NOBODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    hashers
        .run(move || {
            let hash = NOBODY.get_or_init(|| {
                let salt = SaltString::generate(&mut OsRng);
                Argon2::default()
                    .hash_password(b"no account has this password", &salt)
                    .map(|h| h.to_string())
                    .unwrap_or_default()
            });
            verify_with_kept_memory(password.as_bytes(), hash);
            false
        })
        .await
}

thread_local! {
    /// argon2's working memory (~19 MiB), kept by each hashing thread and used again, so a
    /// flood of sign-ins costs no more memory than one per thread.
    static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `Argon2::verify_password`, with the thread's kept memory instead of a fresh allocation.
fn verify_with_kept_memory(password: &[u8], stored: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        argon2::Algorithm::try_from(parsed.algorithm),
        argon2::Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let hashed = MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        memory.resize(params.block_count(), argon2::Block::default());
        argon
            .hash_password_into_with_memory(password, salt, &mut out, memory.as_mut_slice())
            .is_ok()
    });
    hashed && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// [`check_new_credentials`] where argon2 runs (it takes tens of milliseconds of a core, and
/// must not stall the relay's other work).
pub async fn check_new_credentials_off_loop(
    hashers: &Hashers,
    email: &str,
    password: &str,
) -> AppResult<String> {
    let (email, password) = (email.to_owned(), password.to_owned());
    hashers
        .run(move || check_new_credentials(&email, &password))
        .await?
}

/// Creates an account (the `chatpay user add` and first-run setup path).
pub async fn create_account(
    store: &Store,
    hashers: &Hashers,
    email: &str,
    password: &str,
) -> AppResult<Account> {
    let email = check_new_credentials_off_loop(hashers, email, password).await?;
    let hash = hash_password(hashers, password.to_owned()).await?;
    store.create_account(&email, &hash).await
}

/// How console sign-ins are limited. Failures are counted in the database, so the limit
/// holds across relays, per client address (an attacker trying many emails) and per
/// (email, address) (one guessing one password) — never per email alone, so nobody
/// elsewhere can lock the owner out. Past the free tries each failure blocks the key,
/// with a wait that doubles.
pub mod signin {
    use std::net::IpAddr;

    use crate::error::{AppError, AppResult};
    use crate::store::{now_ms, Store};

    /// The window failures are counted in.
    pub const WINDOW_MS: i64 = 15 * 60 * 1000;
    /// Failures per (email, address) before a block of 30 s, doubling up to 15 min.
    const PAIR_FREE: i64 = 5;
    /// Failures per address (any emails) before the same blocks.
    const IP_FREE: i64 = 30;
    const FIRST_BLOCK_MS: i64 = 30 * 1000;
    const MAX_BLOCK_MS: i64 = 15 * 60 * 1000;

    fn keys(email: &str, ip: IpAddr) -> (String, String) {
        let ip = crate::budgets::holder(ip);
        (format!("ip:{ip}"), format!("pair:{email}|{ip}"))
    }

    /// Counts an attempt before its password is checked (so parallel guesses and abandoned
    /// ones count too); refuses (429 with `Retry-After`) while the address or the pair is
    /// blocked.
    pub async fn attempt(store: &Store, email: &str, ip: IpAddr) -> AppResult<()> {
        let (by_ip, pair) = keys(email, ip);
        let now = now_ms();
        let keys = [(pair.as_str(), PAIR_FREE), (by_ip.as_str(), IP_FREE)];
        match store
            .signin_attempt(&keys, now, WINDOW_MS, FIRST_BLOCK_MS, MAX_BLOCK_MS)
            .await?
        {
            Ok(()) => Ok(()),
            Err(until) => {
                let secs = ((until - now) as u64).div_ceil(1000);
                Err(AppError::RateLimited {
                    message: format!("too many failed sign-ins from here; wait {secs} s and try again"),
                    retry_after_secs: secs,
                })
            }
        }
    }

    /// A successful sign-in forgets the pair's failures and does not count against the
    /// address.
    pub async fn succeeded(store: &Store, email: &str, ip: IpAddr) -> AppResult<()> {
        let (by_ip, pair) = keys(email, ip);
        store.signin_succeeded(&pair, &by_ip).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_memory_verifies_hashes_of_any_cost() {
        let salt = SaltString::generate(&mut OsRng);
        let small = argon2::Params::new(4096, 2, 1, None).unwrap();
        let other = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, small)
            .hash_password(b"pass phrase", &salt)
            .unwrap()
            .to_string();
        let default = Argon2::default()
            .hash_password(b"pass phrase", &salt)
            .unwrap()
            .to_string();
        // The same thread's memory serves both sizes, one after the other, both ways.
        for hash in [&default, &other, &default] {
            assert!(verify_with_kept_memory(b"pass phrase", hash), "{hash}");
            assert!(!verify_with_kept_memory(b"pass phrase!", hash), "{hash}");
        }
        assert!(!verify_with_kept_memory(b"pass phrase", "$argon2id$not-a-hash"));
    }

    #[tokio::test]
    async fn passwords_hash_with_argon2_and_verify() {
        let h = Hashers::default();
        let hash = hash_password(&h, "correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery".into(), hash.clone())
            .await
            .unwrap());
        assert!(!verify_password(&h, "wrong horse battery".into(), hash)
            .await
            .unwrap());
        assert!(!verify_password(&h, "x".into(), "not a hash".into())
            .await
            .unwrap());
        assert_eq!(h.peak(), 1);
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
        for weak in ["aaaaaaaaaa", "password123", "ana12345678", "qwertyuiop"] {
            match check_new_credentials("ana@example.com", weak) {
                Err(AppError::Invalid {
                    field: "password",
                    message,
                }) => assert!(message.contains("too easy to guess"), "{weak}: {message}"),
                other => panic!("{weak} was accepted: {other:?}"),
            }
        }
        assert!(check_new_credentials("ana@example.com", "granite ladder sunrise vortex").is_ok());
        // The passwords the project's own tests sign in with are strong enough.
        assert!(check_new_credentials("owner@shop.test", "a long enough password").is_ok());
    }
}
