//! How graft reaches one database: the [`Driver`] trait. All the I/O a [`crate::SqlSource`]
//! does goes through it; what the statements say comes from its [`Dialect`].

use std::future::Future;

use graft_resolve::{Capabilities, PoolStatus, RowSet};

use crate::DbError;
use crate::dialect::{Dialect, Place, Scope, Statement};

/// A database driver: its pool, its connections, and how it runs a [`Statement`].
///
/// A driver does one thing at a time on a connection it is handed; acquiring, the deadline,
/// retrying and transactions are [`crate::SqlSource`]'s, written once for every driver.
pub trait Driver: Send + Sync + Sized + 'static {
    /// The SQL this driver's database speaks, graft's own bookkeeping (tenants, idempotency
    /// keys) included.
    type Dialect: crate::tenants::TenantSql;
    /// A connection taken from the pool; dropping it gives it back.
    type Conn: Send + 'static;

    /// A short name of the backend, for logs: `"sqlite"`, `"postgres"`, `"mysql"`.
    const BACKEND: &'static str;

    /// Takes a connection for statements in `scope` from the pool (SQLite: the pool of the
    /// scope's tenant file). Fails at once with [`DbError::PoolBusy`] when too many fetches
    /// already wait for one. With `verified`, the connection is known to be alive (after a
    /// connection error, the pool may still hold connections the server closed).
    fn acquire(
        &self,
        scope: &Scope,
        verified: bool,
    ) -> impl Future<Output = Result<Self::Conn, DbError>> + Send;

    /// Removes what holds tenant schema `schema` outside the database's SQL (SQLite: the
    /// tenant's file), after its tables were dropped; nothing for most databases.
    fn drop_schema_storage<'a>(
        &'a self,
        schema: &'a graft_resolve::SchemaName,
    ) -> impl Future<Output = Result<(), DbError>> + Send + 'a {
        let _ = schema;
        std::future::ready(Ok(()))
    }

    /// Runs `statement` on `conn` and places its rows in `rows`, each at the key position its
    /// statement says.
    fn query<'a, 'k: 'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        statement: &'a Statement<<Self::Dialect as Dialect>::Params<'k>>,
        rows: &'a mut RowSet,
    ) -> impl Future<Output = Result<(), DbError>> + Send + 'a;

    /// Runs the read `statement` in `scope` on `conn`, outside any transaction. The scope is
    /// in the statement's table names, so most drivers just [`Driver::query`]; a driver whose
    /// database must be told more (PostgreSQL's `graft.tenant_id`) wraps the statement in a
    /// transaction that sets it, so that nothing outlives the statement on the connection.
    fn read<'a, 'k: 'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        scope: &'a Scope,
        statement: &'a Statement<<Self::Dialect as Dialect>::Params<'k>>,
        rows: &'a mut RowSet,
    ) -> impl Future<Output = Result<(), DbError>> + Send + 'a {
        let _ = scope;
        self.query(conn, statement, rows)
    }

    /// Opens a transaction on `conn` with `begin` (the dialect's `BEGIN`), scoped to `scope`
    /// for as long as it lasts and no longer.
    fn begin<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        scope: &'a Scope,
        begin: &'static str,
    ) -> impl Future<Output = Result<(), DbError>> + Send + 'a {
        let _ = scope;
        self.execute(conn, begin)
    }

    /// Runs a statement without parameters or rows (`BEGIN`, `COMMIT`, `SAVEPOINT`).
    fn execute<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        sql: &'a str,
    ) -> impl Future<Output = Result<(), DbError>> + Send + 'a;

    /// Stops the statement running on `conn`, outside any transaction, on the server (its
    /// deadline passed), and disposes of the connection, whose result was left half read:
    /// closed where the server has a connection to close, given back where the driver knows it
    /// is safe (SQLite's worker finishes the statement before the next one).
    fn cancel(&self, conn: Self::Conn);

    /// Closes `conn` instead of giving it back: after a connection error it is broken.
    fn discard(&self, conn: Self::Conn);

    /// Disposes of a connection left inside an open transaction, perhaps with a statement still
    /// running (a unit of work dropped by a panic or a cancelled request, or past its
    /// deadline): it must not reach the pool before the transaction is rolled back. Stops the
    /// statement and closes the connection, which rolls back on the server, or rolls back in
    /// the background before giving it back.
    fn abandon(&self, conn: Self::Conn);

    /// Called once after a statement failed for a lost connection, before the retry: the
    /// server likely closed the pool's other connections too.
    fn connection_lost(&self) {}

    /// What the database behind this driver can do: everything, unless it lacks what writes
    /// need.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// The pool's state.
    fn status(&self) -> PoolStatus;
}

/// A connection whose session may hold state (a transaction, a schema, a lock) until the code
/// that holds it says how it ends: dropped before then, as when the future using it is
/// cancelled (its client went away), it is abandoned ([`Driver::abandon`]), never handed back
/// to the pool as it is.
pub(crate) struct HeldConn<'d, D: Driver> {
    driver: &'d D,
    conn: Option<D::Conn>,
}

impl<'d, D: Driver> HeldConn<'d, D> {
    pub(crate) fn new(driver: &'d D, conn: D::Conn) -> HeldConn<'d, D> {
        HeldConn {
            driver,
            conn: Some(conn),
        }
    }

    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut D::Conn {
        self.conn.as_mut().expect("held until released")
    }

    /// Its session is as the pool handed it out: back to the pool.
    pub(crate) fn release(mut self) {
        drop(self.conn.take());
    }

    /// Hands the connection to the caller, who now answers for its state.
    pub(crate) fn into_inner(mut self) -> D::Conn {
        self.conn.take().expect("held until released")
    }

    /// Its session holds state the pool must not see: closed.
    pub(crate) fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            self.driver.discard(conn);
        }
    }

    /// A transaction or statement may be open on it: stopped, rolled back, closed.
    pub(crate) fn abandon(mut self) {
        if let Some(conn) = self.conn.take() {
            self.driver.abandon(conn);
        }
    }
}

impl<D: Driver> Drop for HeldConn<'_, D> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.driver.abandon(conn);
        }
    }
}

/// The key position of the next row of a statement placed by `place`, given the row's
/// position number (its first column) when it has one.
pub(crate) fn next_position(
    place: &Place,
    number: Option<i64>,
    rows: &RowSet,
) -> Result<usize, DbError> {
    let position = match place {
        Place::InOrder => Some(rows.row_count()),
        Place::Numbered { .. } => number.and_then(|n| place.position(n)),
    };
    position.filter(|p| *p < rows.len()).ok_or_else(|| {
        DbError::Decode(format!(
            "the database returned a row (number {number:?}) for none of the {} positions asked",
            rows.len()
        ))
    })
}
