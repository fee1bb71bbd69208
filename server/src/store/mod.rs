//! The store: sqlx over SQLite (default, one file, WAL) or PostgreSQL (several relays).
//!
//! Both dialects run the same migrations (`server/migrations`) and the same SQL: `$N`
//! placeholders, TEXT ids, BIGINT unix-millisecond times. Writes that belong together take a
//! [`Tx`] so they commit or vanish as one. On SQLite all writes go through one connection,
//! so writers queue in the pool instead of failing with `SQLITE_BUSY`.

pub mod accounts;
pub mod conversations;
pub mod messages;
pub mod payments;
pub mod simulator;
pub mod sites;
pub mod stripe_accounts;
pub mod webhooks;
pub mod workflows;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor};

/// A write transaction.
pub type Tx = sqlx::Transaction<'static, Any>;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Connection pools to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    dialect: Dialect,
    /// Published workflow versions never change, so they are parsed once.
    pub(crate) workflow_cache: workflows::Cache,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating a SQLite file and its
    /// folder if missing, and brings the schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                anyhow::bail!(
                    "database url '{url}' names no file: use sqlite://PATH, like sqlite://data/chatpay.db"
                );
            }
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("cannot create the folder '{}' for the database", dir.display())
                    })?;
                }
            }
            (Dialect::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_owned())
        } else {
            anyhow::bail!(
                "unsupported database url '{url}': use sqlite://PATH or postgres://USER@HOST:PORT/DB"
            );
        };
        let options =
            AnyConnectOptions::from_str(&url).with_context(|| format!("invalid database url '{url}'"))?;
        let store = match dialect {
            Dialect::Sqlite => {
                let pool = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(10))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                conn.execute(
                                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                                )
                                .await?;
                                Ok(())
                            })
                        })
                        .connect_with(options.clone())
                };
                let write = pool(1).await.with_context(|| format!("cannot open '{url}'"))?;
                let read = pool(8).await.with_context(|| format!("cannot open '{url}'"))?;
                Store {
                    read,
                    write,
                    dialect,
                    workflow_cache: Default::default(),
                }
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .with_context(|| format!("cannot connect to '{}'", redact(&url)))?;
                Store {
                    read: pool.clone(),
                    write: pool,
                    dialect,
                    workflow_cache: Default::default(),
                }
            }
        };
        MIGRATOR
            .run(&store.write)
            .await
            .context("cannot bring the database schema up to date")?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool for reads that need no transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool writes go through (for single statements outside a transaction).
    pub fn write_pool(&self) -> AnyPool {
        self.write.clone()
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.write.begin().await
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.read).await.map(|_| ())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A random id with a readable prefix, like `conv_4f2a…` (96 random bits).
pub fn new_id(prefix: &str) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
