//! Write transactions that cannot poison the writer.
//!
//! sqlx's own transactions count their nesting depth in the driver. When SQLite rolls a
//! transaction back by itself (a full disk: `SQLITE_FULL`), sqlx's `ROLLBACK` then fails and
//! the depth stays at 1; later `begin()`s become `SAVEPOINT`s and `commit()`s `RELEASE`s,
//! and the first `ROLLBACK TO SAVEPOINT` leaves a transaction open on the single writer
//! connection for good: every later write is acknowledged and never stored. PostgreSQL, for
//! its part, answers `COMMIT` of a transaction in which a statement failed with `ROLLBACK`
//! and no error, so "commit returned Ok" would not prove anything either.
//!
//! [`Tx`] makes both impossible instead of detecting them afterwards:
//! - it issues `BEGIN` (SQLite: `BEGIN IMMEDIATE`), `COMMIT` and `ROLLBACK` itself, so SQLite
//!   refuses a `BEGIN` on a connection that still holds a transaction and a `COMMIT` on one
//!   that holds none: neither can pass silently;
//! - every statement runs through it (it is the [`sqlx::Executor`]), and once one fails the
//!   transaction can only be rolled back: [`Tx::commit`] refuses;
//! - a transaction that fails to begin, commit or roll back, or that is dropped unfinished
//!   (an error returned with `?`, a cancelled request), closes its connection instead of
//!   returning it to the pool, which rolls back whatever the database still holds and makes
//!   the pool open a fresh connection.
//!
//! On PostgreSQL a `Tx` holds a connection of sqlx's pool; on SQLite it holds the turn of
//! the one writer ([`super::sqlite`]), whose statements run where the transaction's task is.

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{FutureExt as _, TryFutureExt as _, TryStreamExt as _};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Describe, Either, Execute, Executor};

use super::faults::Faults;
use super::sqlite::{self, Slot};
use super::Dialect;
use crate::error::{AppError, AppResult};

/// The `LISTEN`/`NOTIFY` channel of the relays' bus ([`crate::bus`]).
pub const CHANNEL: &str = "chatpay";

/// A write transaction on a connection of its own. Pass `&mut tx` (or `&mut *tx` for a
/// `&mut Tx`) wherever sqlx wants an executor.
#[derive(Debug)]
pub struct Tx {
    conn: Conn,
    /// A statement of this transaction failed: it may only be rolled back.
    failed: AtomicBool,
    /// `BEGIN` ran and neither `COMMIT` nor `ROLLBACK` has finished yet.
    open: bool,
    faults: Option<std::sync::Arc<Faults>>,
    dialect: Dialect,
    /// This relay's name on the bus.
    relay: std::sync::Arc<str>,
    /// Bus pointers to send with `COMMIT` (PostgreSQL), in the order they were made.
    notes: Vec<String>,
}

/// Where a transaction's statements go.
#[derive(Debug)]
enum Conn {
    /// A connection of sqlx's pool (PostgreSQL).
    Pool(PoolConnection<Any>),
    /// The turn of SQLite's one writer.
    Sqlite(tokio::sync::OwnedMutexGuard<Slot>),
    /// Finished and gave its connection back.
    Done,
}

/// Where a transaction begins.
pub(super) enum Begin<'a> {
    Pool(&'a sqlx::AnyPool),
    Sqlite(&'a sqlite::Writer),
}

impl Tx {
    /// Begins on a connection from `pool`, or on SQLite's writer; a connection that refuses
    /// `BEGIN` is closed and the begin is tried once more on a fresh one.
    pub(super) async fn begin(
        at: Begin<'_>,
        dialect: Dialect,
        faults: Option<std::sync::Arc<Faults>>,
        relay: std::sync::Arc<str>,
    ) -> Result<Tx, sqlx::Error> {
        let tx = |conn| Tx {
            conn,
            failed: AtomicBool::new(false),
            open: true,
            faults: faults.clone(),
            dialect,
            relay: relay.clone(),
            notes: Vec::new(),
        };
        let mut last = None;
        for _ in 0..2 {
            match at {
                Begin::Pool(pool) => {
                    let mut conn = pool.acquire().await?;
                    match conn.execute("BEGIN").await {
                        Ok(_) => return Ok(tx(Conn::Pool(conn))),
                        Err(e) => {
                            tracing::warn!(error = %e, "a write connection refused BEGIN; it is replaced");
                            conn.close_on_drop();
                            last = Some(e);
                        }
                    }
                }
                Begin::Sqlite(writer) => {
                    // Take the write lock now, not at the first write: the transaction then
                    // never fails half-way for want of it. Another process holding it is
                    // waited for here, asleep.
                    let waited = tokio::time::Instant::now();
                    let mut slot = writer.turn(super::ACQUIRE_TIMEOUT).await?;
                    loop {
                        match slot.begin_member() {
                            Ok(()) => {
                                if let Some(f) = &faults {
                                    f.after_begin(&mut slot);
                                }
                                return Ok(tx(Conn::Sqlite(slot)));
                            }
                            Err(e) if sqlite::is_busy(&e) && waited.elapsed() < sqlite::BUSY_WAIT => {
                                drop(slot);
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                                slot = writer.turn(super::ACQUIRE_TIMEOUT).await?;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "the SQLite writer refused BEGIN; it is replaced");
                                slot.close();
                                last = Some(e);
                                break;
                            }
                        }
                    }
                }
            }
        }
        Err(last.unwrap_or(sqlx::Error::PoolClosed))
    }

    /// Which database this transaction is on (for the few statements written per dialect).
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether locking a row means anything: on PostgreSQL transactions lock rows (hence the
    /// lock order); on SQLite a write transaction already holds the whole database, from
    /// `BEGIN IMMEDIATE` to its end, so "lock this row" is only a read.
    pub fn locks_rows(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    /// Commits. Refuses (and rolls back) when a statement of the transaction failed; a
    /// failed `COMMIT` closes the connection. `Ok` means the database committed (on SQLite
    /// perhaps together with other transactions: see [`sqlite`]'s group commit).
    pub async fn commit(mut self) -> AppResult<()> {
        if self.failed.load(Ordering::Acquire) {
            self.rollback_quietly().await;
            return Err(AppError::Internal(anyhow::anyhow!(
                "a statement of this transaction failed, so none of it was committed"
            )));
        }
        self.open = false;
        let slot = match &mut self.conn {
            Conn::Pool(conn) => {
                // The bus pointers travel with the COMMIT (one round trip); PostgreSQL runs the
                // statements of one simple query in order and stops at the first error, so a
                // failed NOTIFY leaves the transaction uncommitted and this an error.
                let sql = commit_with_notes(&self.notes);
                return match conn.execute(sql.as_str()).await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        // Whatever the database still holds goes with the connection.
                        conn.close_on_drop();
                        Err(e.into())
                    }
                };
            }
            Conn::Sqlite(slot) => slot,
            Conn::Done => return Ok(()),
        };
        slot.end_member(true)?;
        if !slot.should_defer() {
            commit_now(slot)?;
            return Ok(());
        }
        // Writers are waiting for the turn: they join this commit.
        let outcome = slot.defer();
        leave_open(slot);
        self.conn = Conn::Done; // gives up the turn
        let heard = outcome
            .await
            .unwrap_or_else(|_| Err("the shared commit was abandoned".into()));
        heard.map_err(|e| AppError::Internal(anyhow::anyhow!(e)))
    }

    /// Rolls back. A failed `ROLLBACK` closes the connection (which rolls back too).
    pub async fn rollback(mut self) -> AppResult<()> {
        self.rollback_quietly().await;
        Ok(())
    }

    async fn rollback_quietly(&mut self) {
        self.open = false;
        match &mut self.conn {
            Conn::Pool(conn) => {
                if let Err(e) = conn.execute("ROLLBACK").await {
                    tracing::debug!(error = %e, "ROLLBACK failed; the connection is closed instead");
                    conn.close_on_drop();
                }
            }
            Conn::Sqlite(slot) => abandon(slot),
            Conn::Done => {}
        }
    }

    /// Tells every relay on this database, when (and only if) the transaction commits, that
    /// something changed: `kind` and its `fields` (ids and numbers, never content; see
    /// [`crate::bus`]). PostgreSQL delivers a `NOTIFY` at commit; on SQLite (one relay)
    /// there is nobody else to tell.
    ///
    /// A pointer made only of id characters is sent with the `COMMIT` itself (no round trip
    /// of its own); any other is sent now, as a bound parameter, so nothing but those
    /// characters is ever written into SQL text.
    pub async fn notify(&mut self, kind: char, fields: &[&str]) -> AppResult<()> {
        if self.dialect != Dialect::Postgres {
            return Ok(());
        }
        let mut payload = String::with_capacity(64);
        payload.push(kind);
        payload.push('|');
        payload.push_str(&self.relay);
        for f in fields {
            payload.push('|');
            payload.push_str(f);
        }
        if is_plain_pointer(&payload) {
            self.notes.push(payload);
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut *self)
            .await?;
        Ok(())
    }

    /// Runs a statement on SQLite's writer, here and now; a failure marks the transaction.
    fn run_here<'q, E: Execute<'q, Any>>(
        slot: &mut Slot,
        failed: &AtomicBool,
        mut query: E,
    ) -> Result<sqlite::Ran, sqlx::Error> {
        if failed.load(Ordering::Acquire) {
            // As on PostgreSQL: after a failed statement the transaction can only be rolled
            // back (SQLite may have rolled it back already, and the next statement would then
            // run, and commit, on its own).
            return Err(sqlx::Error::Protocol(
                "a statement of this transaction failed: it can only be rolled back".into(),
            ));
        }
        let ran = query
            .take_arguments()
            .map_err(sqlx::Error::Encode)
            .and_then(|args| slot.run(query.sql(), args));
        if ran.is_err() {
            failed.store(true, Ordering::Release);
        }
        ran
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // Dropped unfinished (an error returned with `?`, a cancelled request).
        match &mut self.conn {
            // Closing the connection rolls it back; the pool opens a fresh one.
            Conn::Pool(conn) => conn.close_on_drop(),
            // Only this transaction's part is rolled back (a statement, right here).
            Conn::Sqlite(slot) => abandon(slot),
            Conn::Done => {}
        }
    }
}

/// Whether a bus pointer may stand in SQL text as it is: ASCII letters, digits and `|_-.:`
/// only (ids, numbers and the separator), and short enough for a `NOTIFY`.
fn is_plain_pointer(payload: &str) -> bool {
    payload.len() < 1000
        && payload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'|' | b'_' | b'-' | b'.' | b':'))
}

/// `COMMIT`, preceded by one `pg_notify` for each pointer (each checked by
/// [`is_plain_pointer`], so none needs quoting).
fn commit_with_notes(notes: &[String]) -> String {
    let mut sql = String::with_capacity(16 + notes.iter().map(|n| n.len() + 40).sum::<usize>());
    if !notes.is_empty() {
        sql.push_str("SELECT ");
        for (i, note) in notes.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str("pg_notify('");
            sql.push_str(CHANNEL);
            sql.push_str("', '");
            sql.push_str(note);
            sql.push_str("')");
        }
        sql.push_str("; ");
    }
    sql.push_str("COMMIT");
    sql
}

/// A statement after the transaction ended.
fn ended() -> sqlx::Error {
    sqlx::Error::Protocol("this transaction has ended".into())
}

/// Rolls a member back alone; the group goes on, committed now unless writers wait to join.
fn abandon(slot: &mut tokio::sync::OwnedMutexGuard<Slot>) {
    if slot.end_member(false).is_err() {
        return;
    }
    if slot.should_defer() {
        leave_open(slot);
    } else {
        let _ = commit_now(slot);
    }
}

/// The turn is about to be given up with the group open for the writers waiting for it.
/// Whatever becomes of them (they may give up waiting, or their requests be cancelled, like
/// the member that left it open), the group is committed: a closer queues for the turn
/// behind them, once per group, and commits whatever is still open when its turn comes (no
/// member is half-way then: the turn is held).
fn leave_open(slot: &mut tokio::sync::OwnedMutexGuard<Slot>) {
    if !slot.needs_closer() {
        return;
    }
    let writer = tokio::sync::OwnedMutexGuard::mutex(slot).clone();
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                let _ = commit_now(&mut writer.lock_owned().await);
            });
        }
        // No runtime to wait in (a store dropped at exit): commit now.
        Err(_) => {
            let _ = commit_now(slot);
        }
    }
}

/// Commits the writer's open group (a failure is its members' to hear) and counts it;
/// every so many commits, a checkpoint takes the next turn.
fn commit_now(slot: &mut tokio::sync::OwnedMutexGuard<Slot>) -> Result<(), sqlx::Error> {
    slot.commit_group()?;
    if slot.committed() {
        let writer = tokio::sync::OwnedMutexGuard::mutex(slot).clone();
        tokio::spawn(sqlite::checkpoint(writer));
    }
    Ok(())
}

impl<'c> Executor<'c> for &'c mut Tx {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_util::stream::BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if let Some(e) = self.injected_fault() {
            return Box::pin(futures_util::stream::once(async move { Err(e) }));
        }
        let Tx { conn, failed, .. } = self;
        let failed: &'c AtomicBool = failed;
        match conn {
            Conn::Pool(conn) => {
                let conn: &'c mut AnyConnection = conn;
                Box::pin(
                    conn.fetch_many(query)
                        .inspect_err(move |_| failed.store(true, Ordering::Release)),
                )
            }
            Conn::Sqlite(slot) => sqlite::Ran::stream(Tx::run_here(slot, failed, query)),
            Conn::Done => sqlite::Ran::stream(Err(ended())),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_util::future::BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if let Some(e) = self.injected_fault() {
            return async move { Err(e) }.boxed();
        }
        let Tx { conn, failed, .. } = self;
        let failed: &'c AtomicBool = failed;
        match conn {
            Conn::Pool(conn) => {
                let conn: &'c mut AnyConnection = conn;
                conn.fetch_optional(query)
                    .inspect_err(move |_| failed.store(true, Ordering::Release))
                    .boxed()
            }
            Conn::Sqlite(slot) => sqlite::Ran::first(Tx::run_here(slot, failed, query)),
            Conn::Done => sqlite::Ran::first(Err(ended())),
        }
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> futures_util::future::BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        match &mut self.conn {
            Conn::Pool(conn) => {
                let conn: &'c mut AnyConnection = conn;
                conn.prepare_with(sql, parameters)
            }
            Conn::Sqlite(_) | Conn::Done => sqlite::unsupported("hand out prepared statements"),
        }
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> futures_util::future::BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        match &mut self.conn {
            Conn::Pool(conn) => {
                let conn: &'c mut AnyConnection = conn;
                conn.describe(sql)
            }
            Conn::Sqlite(_) | Conn::Done => sqlite::unsupported("describe queries"),
        }
    }
}

impl Tx {
    /// A fault the test hook wants here, if any (the statement then fails like a real one:
    /// the transaction is marked failed).
    fn injected_fault(&mut self) -> Option<sqlx::Error> {
        let e = self.faults.as_ref()?.before_statement()?;
        self.failed.store(true, Ordering::Release);
        Some(e)
    }
}
