//! SQLite's one writer: a rusqlite connection on which a write transaction runs each of its
//! statements right where its task is, with no hop to another thread.
//!
//! Why not sqlx here: sqlx's SQLite driver runs every statement on a worker thread of its
//! own and hands the rows back over a channel, two thread switches a statement. A webhook's
//! transaction is about a dozen statements and SQLite has one writer, so those switches were
//! the relay's ceiling (about 500 webhooks a second on 2 cores, a fifth of the time in the
//! kernel switching threads). Reads go the same way, on reader connections of their own
//! ([`Readers`]): in WAL mode readers never wait for the writer, and they run side by side.
//!
//! How it stays off the async workers' backs:
//! - the writer is behind an async lock: waiting for it costs no thread;
//! - SQLite never waits inside a call: the busy timeout is 0, and a file lock held by another
//!   process (the CLI writing beside a serving relay) is waited for with an async sleep
//!   ([`BUSY_WAIT`], as long as sqlx's busy timeout used to be);
//! - commits do not checkpoint (`wal_autocheckpoint = 0`): every [`CHECKPOINT_AFTER`]
//!   commits a task takes the writer's turn like any writer and copies the WAL into the
//!   database file on a blocking thread ([`checkpoint`]). Holding the turn matters: no commit
//!   lands meanwhile, so the checkpoint finishes and the next write starts the WAL over from
//!   its beginning. (A checkpoint beside a busy writer never catches up: the WAL then grows
//!   for as long as the load lasts, and every commit writes fresh file blocks that the kernel
//!   first zeroes — that was a fifth of the relay's time at 64 webhooks in flight.) The fsync
//!   that makes a commit durable is [`super::durable`]'s, on a blocking thread too.
//!
//! What a statement sees and returns is sqlx's: [`super::Tx`] is the sqlx `Executor` for both
//! databases, so the store's queries are written once. Arguments arrive as sqlx's `Any`
//! values and rows leave as `AnyRow`s typed the way sqlx's own SQLite driver types them (by
//! the value's storage class: INTEGER as BIGINT, REAL as DOUBLE, TEXT, BLOB, NULL).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue};
use sqlx_core::any::{AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;

/// How long a write waits for SQLite's file lock held by another process.
pub const BUSY_WAIT: Duration = Duration::from_secs(5);

/// Commits between two checkpoints (a webhook's commit is 10 to 15 pages of WAL).
pub const CHECKPOINT_AFTER: u32 = 200;

/// The column names of a statement, shared by its rows: by name (sqlx's shape) and in order.
#[derive(Debug, Clone)]
struct Shape {
    by_name: Arc<sqlx_core::HashMap<UStr, usize>>,
    in_order: Arc<[UStr]>,
}

/// Statements whose column names are remembered; the cache starts over when full.
const SHAPES_CACHED: usize = 512;

/// The writer: one connection, taken in turn.
#[derive(Debug)]
pub struct Writer {
    slot: Arc<tokio::sync::Mutex<Slot>>,
    /// Closed for good: every turn is refused.
    closed: AtomicBool,
    /// Writers waiting for their turn (a member that sees some leaves the group open).
    waiting: Arc<AtomicUsize>,
    /// An erase's text may still be in the WAL: a reader held it when the erase tried to
    /// empty it; the sweep tries again ([`crate::store::Store::finish_wipe`]).
    pub(crate) wipe_pending: AtomicBool,
}

/// The most transactions one commit carries.
pub const GROUP_MAX: usize = 32;

/// Several write transactions committed as one (group commit).
///
/// A transaction of the store is a *member*: a `SAVEPOINT` inside one SQLite transaction,
/// released into it when the member commits, rolled back alone when it fails or is dropped.
/// A member that commits while other writers wait for their turn leaves the SQLite
/// transaction open for them and waits for its outcome ([`Slot::defer`]); the first member
/// that commits with nobody waiting (or the [`GROUP_MAX`]th) commits it for all. So one
/// writer alone commits at once, and a queue of writers shares one commit (one WAL append of
/// the pages they touched) instead of one each. Each member hears "committed" only once the
/// whole group is; if the commit fails, every member hears so and nothing of any is kept.
#[derive(Debug, Default)]
struct Group {
    /// Members released into the group so far.
    members: usize,
    /// Members waiting for the group's outcome.
    waiters: Vec<tokio::sync::oneshot::Sender<Result<(), String>>>,
    /// A closer is queued for the turn (see `Tx`'s `leave_open`).
    closer: bool,
}

/// The writer's connection while someone holds the turn. `None` after a failure closed it:
/// the next turn opens a fresh one.
#[derive(Debug)]
pub struct Slot {
    conn: Option<Connection>,
    shapes: std::collections::HashMap<Box<str>, Shape>,
    path: PathBuf,
    /// Commits since the last checkpoint.
    commits: u32,
    /// A checkpoint is waiting for its turn.
    checkpoint_queued: bool,
    /// A reader's connection (read-only, waits a little for SQLite's locks) or the writer's.
    reader: bool,
    /// The writer's open group of transactions, if any.
    group: Option<Group>,
    /// The writer's count of writers waiting for their turn.
    waiting: Arc<AtomicUsize>,
    /// SQLite commits so far (each carries one or more transactions).
    #[cfg_attr(not(test), allow(dead_code))]
    sqlite_commits: u64,
}

impl Writer {
    /// Opens the writer on the SQLite file at `path` (its schema is already up to date) and
    /// starts its checkpointer.
    pub fn open(path: &Path) -> Result<Writer, sqlx::Error> {
        let waiting = Arc::new(AtomicUsize::new(0));
        let mut slot = Slot::new(path, false, waiting.clone());
        // Opened now: a file that cannot be written is refused at start.
        slot.conn()?;
        Ok(Writer {
            slot: Arc::new(tokio::sync::Mutex::new(slot)),
            closed: AtomicBool::new(false),
            waiting,
            wipe_pending: AtomicBool::new(false),
        })
    }

    /// Waits for the writer's turn, at most `patience` (then `PoolTimedOut`, like a pool
    /// with no free connection: the caller answers 5xx rather than pile up).
    pub async fn turn(&self, patience: Duration) -> Result<tokio::sync::OwnedMutexGuard<Slot>, sqlx::Error> {
        // Counted while waiting, however the wait ends (a caller that gives up, or whose
        // request is cancelled, must not stay counted: members would then leave groups open
        // for nobody).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let counted = Waiting(&self.waiting);
        let slot = tokio::time::timeout(patience, self.slot.clone().lock_owned()).await;
        drop(counted);
        let mut slot = slot.map_err(|_| sqlx::Error::PoolTimedOut)?;
        if self.closed.load(Ordering::Acquire) {
            slot.close();
            return Err(sqlx::Error::PoolClosed);
        }
        Ok(slot)
    }

    /// Takes no more writes (the store is closing).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut slot) = self.slot.try_lock() {
            slot.close();
        }
    }
}

/// Opens a writer connection: WAL, commits that reach the WAL without an fsync of their own
/// ([`super::durable`] syncs), foreign keys on, no waiting inside SQLite, no checkpoints in
/// commits.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864; \
         PRAGMA secure_delete = ON;",
    )?;
    conn.busy_timeout(Duration::ZERO)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// Opens a reader connection: it may not write (`query_only`), and it waits at most a moment
/// for SQLite's locks (in WAL mode a reader waits only while another connection recovers the
/// WAL).
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA query_only = 1;")?;
    conn.busy_timeout(Duration::from_millis(100))?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// SQLite's readers: connections of their own, taken for one statement and put back, each
/// statement run where its caller is (like the writer's). A statement is one read
/// transaction and sees every commit before it.
#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
    idle: std::sync::Mutex<Vec<Slot>>,
    closed: AtomicBool,
}

/// Reader connections kept open between reads.
const READERS_KEPT: usize = 8;

impl Readers {
    pub fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_owned(),
            idle: std::sync::Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs one read statement on an idle reader connection (or a new one).
    pub fn run(&self, sql: &str, args: Option<AnyArguments<'_>>) -> Result<Ran, sqlx::Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut slot = taken.unwrap_or_else(|| Slot::new(&self.path, true, Default::default()));
        let ran = slot.run(sql, args);
        if slot.conn.is_some() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < READERS_KEPT && !self.closed.load(Ordering::Acquire) {
                idle.push(slot);
            }
        }
        ran
    }

    /// Closes every reader; later reads fail.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// What one statement returned.
#[derive(Default)]
pub struct Ran {
    pub rows: Vec<AnyRow>,
    pub result: AnyQueryResult,
}

/// What sqlx may ask of an executor and chatpay's SQLite connections do not do (prepared
/// statements, descriptions of queries: the store never asks for them).
pub fn unsupported<'e, T: Send + 'e>(
    what: &str,
) -> futures_util::future::BoxFuture<'e, Result<T, sqlx::Error>> {
    let e = sqlx::Error::Protocol(format!(
        "chatpay's SQLite connections run queries; they do not {what}"
    ));
    Box::pin(futures_util::future::ready(Err(e)))
}

/// sqlx's stream of what a statement returns.
pub type Results<'e> =
    futures_util::stream::BoxStream<'e, Result<sqlx::Either<AnyQueryResult, AnyRow>, sqlx::Error>>;

impl Ran {
    /// As sqlx streams it: the rows, then the statement's result.
    pub fn stream<'e>(ran: Result<Ran, sqlx::Error>) -> Results<'e> {
        let items: Vec<_> = match ran {
            Ok(ran) => ran
                .rows
                .into_iter()
                .map(|r| Ok(sqlx::Either::Right(r)))
                .chain(std::iter::once(Ok(sqlx::Either::Left(ran.result))))
                .collect(),
            Err(e) => vec![Err(e)],
        };
        Box::pin(futures_util::stream::iter(items))
    }

    /// The first row, as sqlx's `fetch_optional` answers.
    pub fn first<'e>(
        ran: Result<Ran, sqlx::Error>,
    ) -> futures_util::future::BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>> {
        Box::pin(futures_util::future::ready(
            ran.map(|r| r.rows.into_iter().next()),
        ))
    }
}

impl Slot {
    /// A slot for a connection to `path`, opened at its first statement: a reader's, or the
    /// writer's (which counts the writers `waiting` for its turn).
    fn new(path: &Path, reader: bool, waiting: Arc<AtomicUsize>) -> Slot {
        Slot {
            conn: None,
            shapes: Default::default(),
            path: path.to_owned(),
            commits: 0,
            checkpoint_queued: false,
            reader,
            group: None,
            waiting,
            sqlite_commits: 0,
        }
    }

    /// The open connection, opening a fresh one if the last was closed.
    fn conn(&mut self) -> Result<&mut Connection, sqlx::Error> {
        if self.conn.is_none() {
            let opened = if self.reader {
                open_reader(&self.path)
            } else {
                open(&self.path)
            };
            self.conn = Some(opened.map_err(to_sqlx)?);
        }
        Ok(self.conn.as_mut().expect("opened above"))
    }

    /// Closes the connection (rolling back whatever it holds); the next turn opens another.
    pub fn close(&mut self) {
        if let Some(group) = self.group.take() {
            for w in group.waiters {
                let _ = w.send(Err("the writer connection was closed before the commit".into()));
            }
        }
        self.conn = None;
    }

    /// Counts a commit; `true` when a checkpoint is due and nobody has queued one yet (the
    /// caller then spawns [`checkpoint`]).
    pub fn committed(&mut self) -> bool {
        self.commits += 1;
        if self.commits < CHECKPOINT_AFTER || self.checkpoint_queued {
            return false;
        }
        self.checkpoint_queued = true;
        true
    }

    /// Runs a statement without arguments that returns nothing (`BEGIN IMMEDIATE`,
    /// `COMMIT`, `ROLLBACK`, PRAGMAs); it may hold several statements.
    pub fn batch(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        self.conn()?.execute_batch(sql).map_err(to_sqlx)
    }

    /// Runs one statement with sqlx's arguments and returns its rows as sqlx's.
    pub fn run(&mut self, sql: &str, args: Option<AnyArguments<'_>>) -> Result<Ran, sqlx::Error> {
        let values = args.map(|a| a.values.0).unwrap_or_default();
        let cached = self.shapes.get(sql).cloned();
        // SQLite prepares the first statement of a text and ignores the rest: several
        // statements (a migration-like script, a test's setup) run one after the other.
        if cached.is_none() && statements(sql) > 1 {
            if !values.is_empty() {
                return Err(sqlx::Error::Protocol(format!(
                    "several statements with arguments in one query are not supported: {sql}"
                )));
            }
            return self.batch(sql).map(|()| Ran::default());
        }
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql).map_err(to_sqlx)?;
        for i in 1..=stmt.parameter_count() {
            // `$N` names the Nth argument wherever it stands; otherwise in order.
            let n = stmt
                .parameter_name(i)
                .and_then(|name| name[1..].parse::<usize>().ok())
                .unwrap_or(i);
            let value = values.get(n - 1).ok_or_else(|| {
                sqlx::Error::Protocol(format!(
                    "the statement wants argument {n} but {} were bound: {sql}",
                    values.len()
                ))
            })?;
            stmt.raw_bind_parameter(i, Arg(value)).map_err(to_sqlx)?;
        }
        let width = stmt.column_count();
        let shape = match cached {
            Some(s) => s,
            None => {
                let mut by_name = sqlx_core::HashMap::default();
                let mut in_order = Vec::with_capacity(width);
                for i in 0..width {
                    let name = UStr::from(stmt.column_name(i).map_err(to_sqlx)?.to_owned());
                    by_name.insert(name.clone(), i);
                    in_order.push(name);
                }
                Shape {
                    by_name: Arc::new(by_name),
                    in_order: in_order.into(),
                }
            }
        };
        let readonly = stmt.readonly();
        let mut rows = Vec::new();
        {
            let mut raw = stmt.raw_query();
            while let Some(row) = raw.next().map_err(to_sqlx)? {
                let mut columns = Vec::with_capacity(width);
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    let kind =
                        match row.get_ref(i).map_err(to_sqlx)? {
                            ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
                            ValueRef::Integer(n) => AnyValueKind::BigInt(n),
                            ValueRef::Real(x) => AnyValueKind::Double(x),
                            ValueRef::Text(t) => AnyValueKind::Text(Cow::Owned(
                                String::from_utf8(t.to_vec()).map_err(|e| sqlx::Error::ColumnDecode {
                                    index: i.to_string(),
                                    source: Box::new(e),
                                })?,
                            )),
                            ValueRef::Blob(b) => AnyValueKind::Blob(Cow::Owned(b.to_vec())),
                        };
                    columns.push(AnyColumn {
                        ordinal: i,
                        name: shape.in_order[i].clone(),
                        type_info: AnyTypeInfo { kind: kind_of(&kind) },
                    });
                    values.push(AnyValue { kind });
                }
                rows.push(AnyRow {
                    column_names: shape.by_name.clone(),
                    columns,
                    values,
                });
            }
        }
        drop(stmt);
        let rows_affected = if readonly { 0 } else { conn.changes() };
        if self.shapes.len() >= SHAPES_CACHED {
            self.shapes.clear();
        }
        if !self.shapes.contains_key(sql) {
            self.shapes.insert(sql.into(), shape);
        }
        Ok(Ran {
            rows,
            result: AnyQueryResult {
                rows_affected,
                last_insert_id: None,
            },
        })
    }

    /// Begins a member transaction: in the open group, or in a new one (`BEGIN IMMEDIATE`,
    /// which takes SQLite's write lock now; a busy lock is the caller's to wait for).
    pub fn begin_member(&mut self) -> Result<(), sqlx::Error> {
        if self.group.is_none() {
            self.batch("BEGIN IMMEDIATE")?;
            self.group = Some(Group::default());
        }
        self.batch("SAVEPOINT member").inspect_err(|e| self.fail_group(e))
    }

    /// Ends a member: `keep` releases its work into the group, else it is rolled back alone.
    /// When SQLite has rolled the whole transaction back by itself (a full disk), or the
    /// statement fails, the group fails: its waiting members hear so, and the connection is
    /// replaced.
    pub fn end_member(&mut self, keep: bool) -> Result<(), sqlx::Error> {
        let sql = if keep {
            "RELEASE member"
        } else {
            "ROLLBACK TO member; RELEASE member"
        };
        let ended = match self.batch(sql) {
            Ok(()) if self.in_transaction() => Ok(()),
            Ok(()) => Err(sqlx::Error::Protocol(
                "SQLite ended the transaction by itself; nothing of it was kept".into(),
            )),
            Err(e) => Err(e),
        };
        match (ended, &mut self.group) {
            (Ok(()), Some(group)) => {
                group.members += usize::from(keep);
                Ok(())
            }
            (Ok(()), None) => Ok(()),
            (Err(e), _) => {
                self.fail_group(&e);
                Err(e)
            }
        }
    }

    /// Whether a member that just ended should leave the group open for the writers waiting
    /// for their turn rather than commit it now.
    pub fn should_defer(&self) -> bool {
        self.group.as_ref().is_some_and(|g| g.members < GROUP_MAX) && self.waiting.load(Ordering::SeqCst) > 0
    }

    /// Whether the open group still needs a closer queued behind the writers waiting for the
    /// turn (one a group); marks it as having one.
    pub fn needs_closer(&mut self) -> bool {
        match &mut self.group {
            Some(group) if !group.closer => {
                group.closer = true;
                true
            }
            _ => false,
        }
    }

    /// Waits for the open group's outcome (the caller then gives up the turn).
    pub fn defer(&mut self) -> tokio::sync::oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        match &mut self.group {
            Some(group) => group.waiters.push(tx),
            None => {
                let _ = tx.send(Ok(()));
            }
        }
        rx
    }

    /// Commits the open group, if any, for all its members.
    pub fn commit_group(&mut self) -> Result<(), sqlx::Error> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        match self.batch("COMMIT") {
            Ok(()) => {
                self.sqlite_commits += 1;
                for w in group.waiters {
                    let _ = w.send(Ok(()));
                }
                Ok(())
            }
            Err(e) => {
                self.group = Some(group);
                self.fail_group(&e);
                Err(e)
            }
        }
    }

    /// The group cannot commit: its waiting members hear why, and the connection goes
    /// (which rolls back whatever SQLite still holds).
    fn fail_group(&mut self, why: &sqlx::Error) {
        if let Some(group) = self.group.take() {
            let why = format!("committed together with other writes, and that commit failed: {why}");
            for w in group.waiters {
                let _ = w.send(Err(why.clone()));
            }
        }
        self.close();
    }

    /// Whether the connection holds an open transaction.
    fn in_transaction(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.is_autocommit())
    }

    /// Reads one integer (a PRAGMA's answer).
    pub fn pragma_i64(&mut self, sql: &str) -> Result<i64, sqlx::Error> {
        self.conn()?.query_row(sql, [], |r| r.get(0)).map_err(to_sqlx)
    }
}

/// How many statements an SQL text holds: semicolons outside quotes, comments aside, with
/// something after them.
fn statements(sql: &str) -> usize {
    let mut count = 0;
    let mut pending = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                pending = true;
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            ';' => {
                count += usize::from(pending);
                pending = false;
            }
            c if !c.is_whitespace() => pending = true,
            _ => {}
        }
    }
    count + usize::from(pending)
}

fn kind_of(value: &AnyValueKind<'_>) -> AnyTypeInfoKind {
    match value {
        AnyValueKind::BigInt(_) => AnyTypeInfoKind::BigInt,
        AnyValueKind::Double(_) => AnyTypeInfoKind::Double,
        AnyValueKind::Text(_) => AnyTypeInfoKind::Text,
        AnyValueKind::Blob(_) => AnyTypeInfoKind::Blob,
        _ => AnyTypeInfoKind::Null,
    }
}

/// One of sqlx's argument values, bound without a copy.
struct Arg<'a>(&'a AnyValueKind<'a>);

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            AnyValueKind::Null(_) => ToSqlOutput::Owned(Value::Null),
            AnyValueKind::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            AnyValueKind::SmallInt(n) => ToSqlOutput::Owned(Value::Integer(i64::from(*n))),
            AnyValueKind::Integer(n) => ToSqlOutput::Owned(Value::Integer(i64::from(*n))),
            AnyValueKind::BigInt(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            AnyValueKind::Real(x) => ToSqlOutput::Owned(Value::Real(f64::from(*x))),
            AnyValueKind::Double(x) => ToSqlOutput::Owned(Value::Real(*x)),
            AnyValueKind::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            AnyValueKind::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("chatpay's SQLite writer cannot bind {other:?}").into(),
                ))
            }
        })
    }
}

/// Whether SQLite said another connection holds the lock (`SQLITE_BUSY`, `SQLITE_LOCKED`).
pub fn is_busy(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.try_downcast_ref::<WriteError>().is_some_and(|w| matches!(w.code & 0xff, 5 | 6)))
}

/// A failure SQLite reported, as sqlx's database error (so `is_unique_violation` and the
/// error's text read the same for both databases).
#[derive(Debug)]
pub struct WriteError {
    /// SQLite's extended result code.
    code: i32,
    message: String,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (SQLite code {})", self.message, self.code)
    }
}

impl std::error::Error for WriteError {}

impl sqlx::error::DatabaseError for WriteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                sqlx::error::ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => sqlx::error::ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => sqlx::error::ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => sqlx::Error::Database(Box::new(WriteError {
            code: failure.extended_code,
            message: message.unwrap_or_else(|| failure.to_string()),
        })),
        other => sqlx::Error::Protocol(format!("SQLite writer: {other}")),
    }
}

/// Takes the writer's turn (after whoever waits for it already) and copies the WAL into the
/// database file on a blocking thread (a `PASSIVE` checkpoint, which with the turn held
/// copies every frame no reader still needs). SQLite syncs the WAL before a checkpoint and
/// the database file after it, which [`super::durable`] relies on. A failure is logged and
/// the next one tries again.
pub async fn checkpoint(slot: Arc<tokio::sync::Mutex<Slot>>) {
    match checkpoint_as(slot, "PRAGMA wal_checkpoint(PASSIVE)").await {
        Ok(()) => {}
        Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed; the next one tries again"),
    }
}

/// Runs the checkpoint `pragma` with the writer's turn held.
async fn checkpoint_as(slot: Arc<tokio::sync::Mutex<Slot>>, pragma: &'static str) -> Result<(), sqlx::Error> {
    let mut slot = slot.lock_owned().await;
    slot.checkpoint_queued = false;
    slot.commits = 0;
    // A group left open for writers that gave up waiting: commit it first.
    slot.commit_group()?;
    slot.conn()?;
    let conn = slot.conn.take();
    let ran = tokio::task::spawn_blocking(move || {
        let conn = conn.expect("opened above");
        // (busy, frames in the WAL, frames copied): busy means a reader kept old frames.
        let done = conn.query_row(pragma, [], |r| r.get::<_, i64>(0));
        (conn, done)
    })
    .await
    .map_err(|e| sqlx::Error::Protocol(format!("the WAL checkpoint thread failed: {e}")))?;
    let (conn, done) = ran;
    slot.conn = Some(conn);
    match done.map_err(to_sqlx)? {
        0 => Ok(()),
        _ => Err(sqlx::Error::Protocol(
            "a reader still holds old pages of the WAL; try again in a moment".into(),
        )),
    }
}

impl Writer {
    /// Copies the whole WAL into the database file and empties it (`TRUNCATE`): after an
    /// erase, no old page of the erased rows stays in the WAL. Fails while a reader still
    /// holds old frames.
    pub async fn truncate_wal(&self) -> Result<(), sqlx::Error> {
        checkpoint_as(self.slot.clone(), "PRAGMA wal_checkpoint(TRUNCATE)").await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row as _;

    use super::super::Store;

    async fn store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("chatpay-writer-{}", rand::random::<u64>()));
        let path = dir.join("t.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        (store, dir)
    }

    #[test]
    fn statements_are_counted_outside_quotes_and_comments() {
        assert_eq!(super::statements("SELECT 1"), 1);
        assert_eq!(super::statements("SELECT 1;  "), 1);
        assert_eq!(super::statements("SELECT ';'; SELECT \"a;b\""), 2);
        assert_eq!(super::statements("BEGIN; INSERT INTO t VALUES (1);"), 2);
        assert_eq!(super::statements("-- a; comment\nSELECT 1"), 1);
    }

    #[tokio::test]
    async fn rows_read_the_same_as_through_sqlx() {
        let (store, dir) = store().await;
        let mut tx = store.begin().await.unwrap();
        sqlx::query("CREATE TABLE t (a INTEGER, b TEXT, c REAL, d BLOB, e TEXT)")
            .execute(&mut tx)
            .await
            .unwrap();
        // `$2` before `$1`, and `$1` twice: arguments go by their number, not their place.
        sqlx::query("INSERT INTO t (b, a, c, d, e) VALUES ($2, $1, $3, $4, $2 || '!')")
            .bind(7_i64)
            .bind("seven")
            .bind(0.5_f64)
            .bind(vec![1_u8, 2, 3])
            .execute(&mut tx)
            .await
            .unwrap();
        let done = sqlx::query("UPDATE t SET a = a + 1 WHERE b = $1")
            .bind("seven")
            .execute(&mut tx)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        let row = sqlx::query("SELECT a, b, c, d, e, NULL AS f FROM t")
            .fetch_one(&mut tx)
            .await
            .unwrap();
        assert_eq!(row.try_get::<i64, _>("a").unwrap(), 8);
        assert_eq!(row.try_get::<String, _>("b").unwrap(), "seven");
        assert_eq!(row.try_get::<f64, _>("c").unwrap(), 0.5);
        assert_eq!(row.try_get::<Vec<u8>, _>("d").unwrap(), vec![1, 2, 3]);
        assert_eq!(row.try_get::<String, _>("e").unwrap(), "seven!");
        assert_eq!(row.try_get::<Option<String>, _>("f").unwrap(), None);
        let none = sqlx::query("SELECT a FROM t WHERE b = $1")
            .bind("eight")
            .fetch_optional(&mut tx)
            .await
            .unwrap();
        assert!(none.is_none());
        tx.commit().await.unwrap();
        // Committed on the writer, visible to the readers.
        let n: i64 = sqlx::query_scalar("SELECT a FROM t")
            .fetch_one(store.reader())
            .await
            .unwrap();
        assert_eq!(n, 8);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_unique_violation_reads_as_one_and_the_transaction_cannot_commit() {
        let (store, dir) = store().await;
        store
            .write_one(sqlx::query("CREATE TABLE u (id TEXT PRIMARY KEY)"))
            .await
            .unwrap();
        store
            .write_one(sqlx::query("INSERT INTO u (id) VALUES ($1)").bind("a"))
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        sqlx::query("INSERT INTO u (id) VALUES ($1)")
            .bind("b")
            .execute(&mut tx)
            .await
            .unwrap();
        let err = sqlx::query("INSERT INTO u (id) VALUES ($1)")
            .bind("a")
            .execute(&mut tx)
            .await
            .unwrap_err();
        assert!(super::super::is_unique_violation(&err), "{err}");
        assert!(
            err.to_string().contains("UNIQUE constraint failed: u.id"),
            "{err}"
        );
        assert!(
            tx.commit().await.is_err(),
            "a transaction with a failed statement commits nothing"
        );
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM u ORDER BY id")
            .fetch_all(store.reader())
            .await
            .unwrap();
        assert_eq!(ids, ["a"], "'b' went with the failed transaction");
        // The writer still works after it.
        store
            .write_one(sqlx::query("INSERT INTO u (id) VALUES ($1)").bind("c"))
            .await
            .unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_transaction_dropped_unfinished_leaves_nothing_and_the_next_one_works() {
        let (store, dir) = store().await;
        store
            .write_one(sqlx::query("CREATE TABLE v (n INTEGER)"))
            .await
            .unwrap();
        {
            let mut tx = store.begin().await.unwrap();
            sqlx::query("INSERT INTO v (n) VALUES (1)")
                .execute(&mut tx)
                .await
                .unwrap();
            // Dropped: an error returned with `?`, a cancelled request.
        }
        store
            .write_one(sqlx::query("INSERT INTO v (n) VALUES (2)"))
            .await
            .unwrap();
        let ns: Vec<i64> = sqlx::query_scalar("SELECT n FROM v")
            .fetch_all(store.reader())
            .await
            .unwrap();
        assert_eq!(ns, [2]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The writer's turn, held by the test while writers queue up behind it.
    async fn hold_turn(store: &Store) -> tokio::sync::OwnedMutexGuard<super::Slot> {
        match &store.write {
            super::super::Writer::Sqlite(w) => w.slot.clone().lock_owned().await,
            super::super::Writer::Pool(_) => unreachable!("a SQLite store"),
        }
    }

    /// Waits until `n` writers wait for the turn. (These tests run on one thread: a writer
    /// counted as waiting has queued for the lock in the same poll, so the order of the
    /// queue is the order the test made.)
    async fn queued(store: &Store, n: usize) {
        let super::super::Writer::Sqlite(w) = &store.write else {
            unreachable!("a SQLite store")
        };
        while w.waiting.load(std::sync::atomic::Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }

    /// One transaction in a task of its own: insert `n`, then commit (or fail, or drop).
    fn writer(store: &Store, n: i64, end: &'static str) -> tokio::task::JoinHandle<Result<(), String>> {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.map_err(|e| e.to_string())?;
            sqlx::query("INSERT INTO g (n, parent) VALUES ($1, $2)")
                .bind(n)
                .bind(if end == "bad_parent" { 999 } else { 0 })
                .execute(&mut tx)
                .await
                .map_err(|e| e.to_string())?;
            match end {
                "fail" => {
                    let dup = sqlx::query("INSERT INTO g (n, parent) VALUES ($1, 0)")
                        .bind(n)
                        .execute(&mut tx)
                        .await;
                    assert!(dup.is_err(), "a duplicate n is refused");
                    tx.commit().await.map_err(|e| e.to_string())
                }
                "drop" => Err("dropped unfinished".into()),
                _ => tx.commit().await.map_err(|e| e.to_string()),
            }
        })
    }

    async fn group_table(store: &Store) {
        store
            .write_one(sqlx::query(
                "CREATE TABLE p (id INTEGER PRIMARY KEY); INSERT INTO p (id) VALUES (0); \
                 CREATE TABLE g (n INTEGER PRIMARY KEY, parent INTEGER NOT NULL \
                 REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)",
            ))
            .await
            .unwrap();
    }

    async fn stored(store: &Store) -> Vec<i64> {
        sqlx::query_scalar("SELECT n FROM g ORDER BY n")
            .fetch_all(store.reader())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn writers_that_queue_share_one_commit() {
        let (store, dir) = store().await;
        group_table(&store).await;
        let held = hold_turn(&store).await;
        let before = held.sqlite_commits;
        let writers: Vec<_> = (0..64).map(|n| writer(&store, n, "commit")).collect();
        queued(&store, 64).await;
        drop(held);
        for w in writers {
            w.await.unwrap().unwrap();
        }
        assert_eq!(stored(&store).await, (0..64).collect::<Vec<_>>());
        let commits = hold_turn(&store).await.sqlite_commits - before;
        assert_eq!(
            commits,
            (64 / super::GROUP_MAX) as u64,
            "64 queued transactions, {} to a commit",
            super::GROUP_MAX
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_member_that_fails_or_is_dropped_takes_nothing_of_the_others_with_it() {
        let (store, dir) = store().await;
        group_table(&store).await;
        let held = hold_turn(&store).await;
        let mut writers = Vec::new();
        for (i, (n, end)) in [(1, "commit"), (2, "fail"), (3, "drop"), (4, "commit")]
            .into_iter()
            .enumerate()
        {
            writers.push(writer(&store, n, end));
            queued(&store, i + 1).await;
        }
        drop(held);
        let outcomes: Vec<_> = futures_util::future::join_all(writers)
            .await
            .into_iter()
            .map(|r| r.unwrap().is_ok())
            .collect();
        assert_eq!(outcomes, [true, false, false, true]);
        assert_eq!(stored(&store).await, [1, 4]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn when_the_shared_commit_fails_every_member_hears_it_and_nothing_is_kept() {
        let (store, dir) = store().await;
        group_table(&store).await;
        let held = hold_turn(&store).await;
        // The second breaks a deferred foreign key: checked only at COMMIT, which then fails
        // for the whole group.
        let first = writer(&store, 1, "commit");
        queued(&store, 1).await;
        let second = writer(&store, 2, "bad_parent");
        queued(&store, 2).await;
        drop(held);
        let first = first.await.unwrap();
        let second = second.await.unwrap();
        assert!(
            first.as_ref().is_err_and(|e| e.contains("FOREIGN KEY")),
            "{first:?}"
        );
        assert!(second.is_err(), "{second:?}");
        assert_eq!(stored(&store).await, Vec::<i64>::new());
        // The writer goes on.
        writer(&store, 3, "commit").await.unwrap().unwrap();
        assert_eq!(stored(&store).await, [3]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A transaction is dropped unfinished while another writer waits for the turn, so the
    /// group it leaves is left open for that writer, which then takes the turn and does no
    /// write (a checkpoint, a request that gave up): the group is still committed (a closer
    /// queued for the turn), not left holding SQLite's write lock until some later write.
    /// (Before: `BEGIN IMMEDIATE` stayed open and another process could not write.)
    #[tokio::test]
    async fn a_group_left_open_for_a_writer_that_does_not_write_is_still_closed() {
        let (store, dir) = store().await;
        group_table(&store).await;
        let held = hold_turn(&store).await;
        let dropped = writer(&store, 1, "drop");
        queued(&store, 1).await;
        let super::super::Writer::Sqlite(w) = &store.write else {
            unreachable!("a SQLite store")
        };
        let w = w.clone();
        let bystander = tokio::spawn(async move {
            // Takes the turn and gives it back without writing.
            drop(w.turn(std::time::Duration::from_secs(5)).await.unwrap());
        });
        queued(&store, 2).await;
        drop(held);
        assert!(dropped.await.unwrap().is_err());
        bystander.await.unwrap();
        // Whoever queued for the turn before this has had it.
        drop(hold_turn(&store).await);
        // SQLite's write lock is free: another connection takes it at once.
        let other = rusqlite::Connection::open(dir.join("t.db")).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO g (n, parent) VALUES (7, 0); COMMIT;")
            .expect("no transaction of the relay holds the lock");
        assert_eq!(stored(&store).await, [7]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_write_waits_for_another_process_holding_the_lock_then_goes_through() {
        let (store, dir) = store().await;
        store
            .write_one(sqlx::query("CREATE TABLE w (n INTEGER)"))
            .await
            .unwrap();
        // Another connection (the CLI, say) holds SQLite's write lock for 300 ms.
        let other = rusqlite::Connection::open(dir.join("t.db")).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO w (n) VALUES (1);")
            .unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        // Busy at first: waited for (asleep), not refused.
        store
            .write_one(sqlx::query("INSERT INTO w (n) VALUES (2)"))
            .await
            .unwrap();
        release.join().unwrap();
        let ns: Vec<i64> = sqlx::query_scalar("SELECT n FROM w ORDER BY n")
            .fetch_all(store.reader())
            .await
            .unwrap();
        assert_eq!(ns, [1, 2]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
