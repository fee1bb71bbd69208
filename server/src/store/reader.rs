//! Reads outside a transaction: [`Store::reader`](super::Store::reader) is the sqlx
//! `Executor` for them on both databases. On PostgreSQL it is sqlx's pool; on SQLite,
//! [`super::sqlite::Readers`], whose statements run where the caller is (no hop to a worker
//! thread and back for each read).

use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Any, AnyPool, Describe, Either, Execute, Executor};

use super::sqlite;

/// Where reads go.
#[derive(Debug, Clone)]
pub enum Reader {
    /// sqlx's pool (PostgreSQL).
    Pool(AnyPool),
    /// SQLite's reader connections.
    Sqlite(std::sync::Arc<sqlite::Readers>),
}

impl Reader {
    pub async fn close(&self) {
        match self {
            Reader::Pool(pool) => pool.close().await,
            Reader::Sqlite(readers) => readers.close(),
        }
    }

    fn run_here<'q, E: Execute<'q, Any>>(
        readers: &sqlite::Readers,
        mut query: E,
    ) -> Result<sqlite::Ran, sqlx::Error> {
        let args = query.take_arguments().map_err(sqlx::Error::Encode)?;
        readers.run(query.sql(), args)
    }
}

impl<'c> Executor<'c> for &'c Reader {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_util::stream::BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Reader::Pool(pool) => pool.fetch_many(query),
            Reader::Sqlite(readers) => sqlite::Ran::stream(Reader::run_here(readers, query)),
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
        match self {
            Reader::Pool(pool) => pool.fetch_optional(query),
            Reader::Sqlite(readers) => sqlite::Ran::first(Reader::run_here(readers, query)),
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
        match self {
            Reader::Pool(pool) => pool.prepare_with(sql, parameters),
            Reader::Sqlite(_) => sqlite::unsupported("hand out prepared statements"),
        }
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> futures_util::future::BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            Reader::Pool(pool) => pool.describe(sql),
            Reader::Sqlite(_) => sqlite::unsupported("describe queries"),
        }
    }
}
