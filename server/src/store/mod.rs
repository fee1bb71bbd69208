//! The store: SQLite (default, one file, WAL) or PostgreSQL (several relays).
//!
//! Both dialects run the same migrations (`server/migrations`) and the same SQL: `$N`
//! placeholders, TEXT ids, BIGINT unix-millisecond times, written against sqlx's `Any`
//! executor. Writes that belong together take a [`Tx`] so they commit or vanish as one
//! ([`tx`] says why it is not sqlx's own transaction); reads that need none go to
//! [`Store::reader`]. On PostgreSQL both are sqlx's pool. On SQLite both are rusqlite
//! connections whose statements run where the caller is ([`sqlite`] says why): all writes
//! go through one connection, so writers queue for it instead of failing with
//! `SQLITE_BUSY`, and writers that queue share one commit.
//!
//! **Lock order.** On PostgreSQL two transactions that lock the same rows in different
//! orders deadlock. Every write transaction that touches a conversation, its run or its
//! payments locks the conversation first ([`conversations::lock`], or the conversation
//! update that reserves history numbers), then payments and their sessions, then the run,
//! then appends history; site-wide rows (the event ledger, webhook health) come last. On
//! SQLite a write transaction holds the whole database from its start ([`Tx::locks_rows`]
//! is false), so a "lock" there is only a read.

pub mod accounts;
pub mod conversations;
pub mod durable;
pub mod erase;
pub mod faults;
pub mod hooks;
pub mod messages;
pub mod notices;
pub mod payments;
mod reader;
pub mod simulator;
pub mod sites;
pub mod sqlite;
pub mod stripe_accounts;
mod tx;
pub mod webhooks;
pub mod workflows;

pub use reader::Reader;
pub use tx::{Tx, CHANNEL as BUS_CHANNEL};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Connection pools to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    read: Reader,
    write: Writer,
    dialect: Dialect,
    /// Published workflow versions never change, so they are parsed once.
    pub(crate) workflow_cache: workflows::Cache,
    /// Injected write faults (a test hook; `None` in production).
    faults: Option<Arc<faults::Faults>>,
    /// How to open a connection of its own (the readiness probe's reader).
    options: AnyConnectOptions,
    /// This process's name (the `readiness` table, the bus).
    relay_id: std::sync::Arc<str>,
    /// The database URL (the bus's own connection).
    url: String,
    /// Makes commits durable before they are acknowledged (SQLite's grouped fsync).
    syncer: Arc<durable::Syncer>,
}

/// Where writes go.
#[derive(Debug, Clone)]
enum Writer {
    /// sqlx's pool (PostgreSQL: the same pool as reads).
    Pool(AnyPool),
    /// SQLite's one writer connection.
    Sqlite(Arc<sqlite::Writer>),
}

/// Why the database is not ready to take writes: the check that failed and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// `write` (a write transaction did not commit) or `visible` (a committed write did
    /// not reach another connection).
    pub check: &'static str,
    pub reason: String,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The longest a request waits for a database connection: when the database is
/// unreachable, requests fail soon with a 5xx (Stripe retries a webhook) instead of
/// piling up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating a SQLite file and its
    /// folder if missing, and brings the schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let mut db_path = String::new();
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
            db_path = path.to_owned();
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
                        .acquire_timeout(ACQUIRE_TIMEOUT)
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
                // sqlx only migrates: the store's reads and writes go through rusqlite.
                let migrator = pool(1).await.with_context(|| format!("cannot open '{url}'"))?;
                MIGRATOR
                    .run(&migrator)
                    .await
                    .context("cannot bring the database schema up to date")?;
                migrator.close().await;
                let path = std::path::Path::new(&db_path);
                let writer =
                    sqlite::Writer::open(path).with_context(|| format!("cannot open '{url}' for writing"))?;
                Store {
                    read: Reader::Sqlite(Arc::new(sqlite::Readers::new(path))),
                    write: Writer::Sqlite(Arc::new(writer)),
                    dialect,
                    workflow_cache: Default::default(),
                    faults: None,
                    options: options.clone(),
                    relay_id: new_id("relay").into(),
                    url: url.clone(),
                    syncer: Arc::new(durable::Syncer::new(Some(db_path.into()))),
                }
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options.clone())
                    .await
                    .with_context(|| format!("cannot connect to '{}'", redact(&url)))?;
                MIGRATOR
                    .run(&pool)
                    .await
                    .context("cannot bring the database schema up to date")?;
                Store {
                    read: Reader::Pool(pool.clone()),
                    write: Writer::Pool(pool),
                    dialect,
                    workflow_cache: Default::default(),
                    faults: None,
                    options: options.clone(),
                    relay_id: new_id("relay").into(),
                    url: url.clone(),
                    syncer: Arc::new(durable::Syncer::new(None)),
                }
            }
        };
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// This process's name among the relays sharing the database.
    pub fn relay_id(&self) -> &str {
        &self.relay_id
    }

    /// The database URL (for a connection of its own, like the bus's).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where reads that need no transaction go (a sqlx `Executor`).
    pub fn reader(&self) -> &Reader {
        &self.read
    }

    /// Starts a write transaction (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let at = match &self.write {
            Writer::Pool(pool) => tx::Begin::Pool(pool),
            Writer::Sqlite(writer) => tx::Begin::Sqlite(writer),
        };
        Tx::begin(at, self.dialect, self.faults.clone(), self.relay_id.clone()).await
    }

    /// Injects write faults from now on (the `--inject-faults` test hook).
    pub fn inject_faults(&mut self, faults: faults::Faults) {
        tracing::warn!(
            ?faults,
            "fault injection is ON: writes will fail on purpose (a test hook)"
        );
        self.faults = Some(Arc::new(faults));
    }

    /// Returns once everything committed before the call is on disk (one fsync of SQLite's
    /// WAL shared by all who wait; nothing to do on PostgreSQL). Call it before telling
    /// someone who will not ask again that something is stored.
    pub async fn durable(&self) -> Result<(), sqlx::Error> {
        self.syncer.sync(self.faults.as_ref()).await.map_err(|e| {
            tracing::error!(error = %e, "the database could not be synced to disk");
            sqlx::Error::Io(std::io::Error::new(
                e.kind(),
                format!("committed but not synced to disk ({e}): not acknowledged"),
            ))
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.read).await.map(|_| ())
    }

    /// Proves the database takes writes now, in a way a transaction held open on the
    /// writer cannot fake: a fresh nonce is written and committed through the write path,
    /// then read back on a connection opened for the purpose.
    pub async fn check_ready(&self) -> Result<(), NotReady> {
        let nonce = new_id("n");
        let write = async {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO readiness (relay, nonce, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (relay) DO UPDATE SET nonce = excluded.nonce, at = excluded.at",
            )
            .bind(&*self.relay_id)
            .bind(&nonce)
            .bind(now_ms())
            .execute(&mut tx)
            .await?;
            tx.commit().await
        };
        write.await.map_err(|e: crate::error::AppError| NotReady {
            check: "write",
            reason: format!("a write transaction did not commit: {e}"),
        })?;
        let not_visible = |reason: String| NotReady {
            check: "visible",
            reason,
        };
        let mut fresh = <sqlx::AnyConnection as sqlx::Connection>::connect_with(&self.options)
            .await
            .map_err(|e| not_visible(format!("cannot open a second connection: {e}")))?;
        let seen: Option<String> = sqlx::query_scalar("SELECT nonce FROM readiness WHERE relay = $1")
            .bind(&*self.relay_id)
            .fetch_optional(&mut fresh)
            .await
            .map_err(|e| not_visible(format!("cannot read back the write: {e}")))?;
        let _ = sqlx::Connection::close(fresh).await;
        if seen.as_deref() != Some(nonce.as_str()) {
            return Err(not_visible(
                "a committed write is not visible to another connection: the writer holds it back".into(),
            ));
        }
        Ok(())
    }

    /// Copies a SQLite database into `target` (`VACUUM INTO`: one consistent snapshot, taken
    /// beside a serving relay, compacted, without the WAL); the copy is readable by its owner
    /// only. PostgreSQL has its own tools (pg_dump): refused with their name.
    pub async fn backup_into(&self, target: &std::path::Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        if self.dialect != Dialect::Sqlite {
            anyhow::bail!(
                "chatpay backup copies SQLite databases; for PostgreSQL use pg_dump, like `pg_dump --format=custom --file=chatpay.dump \"$CHATPAY_DATABASE_URL\"` (README, Backups)"
            );
        }
        if target.exists() {
            anyhow::bail!(
                "'{}' already exists: pick a new file name (a backup never overwrites)",
                target.display()
            );
        }
        let path = target
            .to_str()
            .with_context(|| format!("'{}' is not UTF-8: pick a plain file name", target.display()))?;
        // A connection of its own (the readers are read-only; the writer is the relay's):
        // VACUUM INTO only reads this database, in one read transaction.
        use sqlx::Connection as _;
        let mut conn = sqlx::AnyConnection::connect(&self.url).await?;
        let copied = sqlx::query("VACUUM INTO ?").bind(path).execute(&mut conn).await;
        let _ = conn.close().await;
        if let Err(e) = copied {
            // Never leave half a backup that looks like one.
            let _ = std::fs::remove_file(target);
            return Err(e).with_context(|| format!("cannot write the backup to '{path}'"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make '{path}' private"))?;
        }
        Ok(())
    }

    /// Takes a file lock beside a SQLite database for as long as the returned file lives,
    /// so a second `chatpay serve` on the same file is refused (several relays need
    /// PostgreSQL); `None` for PostgreSQL. The CLI and backups do not take it.
    pub fn serve_lock(&self) -> anyhow::Result<Option<std::fs::File>> {
        if self.dialect != Dialect::Sqlite {
            return Ok(None);
        }
        let path = self
            .url
            .strip_prefix("sqlite://")
            .and_then(|p| p.split('?').next())
            .unwrap_or_default();
        let lock_path = format!("{path}.serve-lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open the lock file '{lock_path}'"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another `chatpay serve` is already using the SQLite database '{path}' (it holds '{lock_path}'); \
                 stop it first, or use PostgreSQL (CHATPAY_DATABASE_URL=postgres://…) to run several relays"
            ),
            Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock '{lock_path}'")),
        }
    }

    /// Runs one write statement as a transaction of its own.
    pub async fn write_one<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        match &self.write {
            Writer::Pool(pool) => query.execute(pool).await,
            Writer::Sqlite(_) => {
                let mut tx = self.begin().await?;
                let done = query.execute(&mut tx).await?;
                tx.commit().await.map_err(|e| match e {
                    crate::error::AppError::Db(e) => e,
                    other => sqlx::Error::Protocol(other.to_string()),
                })?;
                Ok(done)
            }
        }
    }

    /// Runs raw SQL on the writer connection as it is, outside any transaction: connection
    /// settings, and tests that put the writer in a bad state on purpose (a full disk, a
    /// transaction left open). On PostgreSQL, on a connection of the pool.
    pub async fn on_writer(&self, sql: &str) -> Result<(), sqlx::Error> {
        match &self.write {
            Writer::Pool(pool) => pool.execute(sql).await.map(|_| ()),
            Writer::Sqlite(writer) => {
                let mut slot = writer.turn(ACQUIRE_TIMEOUT).await?;
                // Not inside a group of other writers' transactions.
                slot.commit_group()?;
                slot.batch(sql)
            }
        }
    }

    /// Stops taking writes (every later write fails); reads go on.
    pub async fn close_writer(&self) {
        match &self.write {
            Writer::Pool(pool) => pool.close().await,
            Writer::Sqlite(writer) => writer.close(),
        }
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.close_writer().await;
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

/// Whether a database error is a unique-constraint violation (where a duplicate is expected
/// and harmless, e.g. an event seen twice, callers read it as "already there").
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A write whose unique violation is the caller's mistake (an id or email already taken):
/// a 409 saying `taken()`; any other failure as it is.
pub fn taken_is_conflict<T>(
    result: Result<T, sqlx::Error>,
    taken: impl FnOnce() -> String,
) -> crate::error::AppResult<T> {
    match result {
        Err(e) if is_unique_violation(&e) => Err(crate::error::AppError::Conflict(taken())),
        other => Ok(other?),
    }
}
