//! Writes and transactions: the [`UnitOfWork`] a source's [`EntitySource::begin`] opens.
//!
//! A unit of work is one database transaction on one connection. It reads with the same
//! batched fetches and pages as a source outside a transaction, writes rows by key, and ends in
//! [`UnitOfWork::commit`] or [`UnitOfWork::rollback`]. Dropped without either, it rolls back:
//! a panic or a cancelled request never leaves a half-written transaction behind.
//!
//! [`EntitySource::begin`]: crate::EntitySource::begin

use graft_keys::EntityKey;
use graft_schema::EntityMapping;

use crate::ledger::{KeyClaim, LedgerEntry, LedgerKey};
use crate::{BoxFuture, FetchRequest, PageRequest, ResolveError, RowSet};

/// A value written into a column, bound as a parameter (never formatted into SQL).
#[derive(Debug, Clone, PartialEq)]
pub enum WriteValue {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text; the database casts it to the column's type (a date, a UUID, a numeric).
    Text(String),
    /// JSON text, for JSON columns.
    Json(String),
}

/// Rows to insert into one entity type's table, in one statement.
#[derive(Debug, Clone, Copy)]
pub struct InsertRequest<'a> {
    /// The entity type's table mapping.
    pub mapping: &'a EntityMapping,
    /// The columns written, as indices into `mapping.columns`; the table's defaults fill the
    /// others (a generated key, a default timestamp).
    pub columns: &'a [usize],
    /// The rows, each with one value per entry of `columns`.
    pub rows: &'a [Vec<WriteValue>],
    /// The columns to read back from each written row, as indices into `mapping.columns`.
    pub returning: &'a [usize],
}

/// One row to change, found by key.
#[derive(Debug, Clone, Copy)]
pub struct UpdateRequest<'a> {
    /// The entity type's table mapping.
    pub mapping: &'a EntityMapping,
    /// The key columns the row is found by.
    pub match_columns: &'a [String],
    /// The key's values, in `match_columns` order.
    pub key: &'a EntityKey,
    /// The columns to set, as indices into `mapping.columns`, with their new values.
    pub set: &'a [(usize, WriteValue)],
    /// The columns to read back from the changed row.
    pub returning: &'a [usize],
}

/// One row to delete, found by key.
#[derive(Debug, Clone, Copy)]
pub struct DeleteRequest<'a> {
    /// The entity type's table mapping.
    pub mapping: &'a EntityMapping,
    /// The key columns the row is found by.
    pub match_columns: &'a [String],
    /// The key's values, in `match_columns` order.
    pub key: &'a EntityKey,
    /// The columns to read from the deleted row.
    pub returning: &'a [usize],
}

/// A point inside a unit of work to roll back to, from [`UnitOfWork::savepoint`].
#[derive(Debug, PartialEq, Eq)]
pub struct Savepoint(pub(crate) u32);

impl Savepoint {
    /// The savepoint numbered `n` in its unit of work (sources number them from 1).
    pub fn new(n: u32) -> Savepoint {
        Savepoint(n)
    }

    /// Its number.
    pub fn number(&self) -> u32 {
        self.0
    }
}

/// One transaction on one connection: reads, writes, savepoints, then commit or rollback.
///
/// Every write answers a [`RowSet`] of its `returning` columns. Statements run one after the
/// other; the connection is the unit of work's until it ends. A constraint the database
/// enforces fails the statement with [`ResolveError::Constraint`], and the unit of work stays
/// usable (after a rollback to a savepoint taken before it, on PostgreSQL).
pub trait UnitOfWork: Send {
    /// Fetches the rows for `request.keys`, as [`EntitySource::fetch`] does, inside the
    /// transaction.
    ///
    /// [`EntitySource::fetch`]: crate::EntitySource::fetch
    fn fetch<'a>(
        &'a mut self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>>;

    /// A page of rows, as [`EntitySource::page`] reads it, inside the transaction.
    ///
    /// [`EntitySource::page`]: crate::EntitySource::page
    fn page<'a>(
        &'a mut self,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>>;

    /// Inserts `request.rows` in one statement; row `i` of the answer (at key position `i`) is
    /// the `i`th row inserted.
    fn insert<'a>(
        &'a mut self,
        request: InsertRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>>;

    /// Changes the row with `request.key`; the answer has its new values at key position 0, or
    /// no row when no row has the key.
    fn update<'a>(
        &'a mut self,
        request: UpdateRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>>;

    /// Deletes the row with `request.key`; the answer has its last values at key position 0,
    /// or no row when no row has the key.
    fn delete<'a>(
        &'a mut self,
        request: DeleteRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>>;

    /// Marks a point to roll back to without ending the transaction.
    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, ResolveError>>;

    /// Undoes everything since `savepoint`, which stays usable.
    fn rollback_to<'a>(
        &'a mut self,
        savepoint: &'a Savepoint,
    ) -> BoxFuture<'a, Result<(), ResolveError>>;

    /// Claims an idempotency key (see [`crate::ledger`]) and answers what the ledger holds
    /// for it: the claim was taken when the entry's holder is the claimant. Sources that keep
    /// no ledger refuse.
    fn claim_key<'a>(
        &'a mut self,
        claim: KeyClaim<'a>,
    ) -> BoxFuture<'a, Result<LedgerEntry, ResolveError>> {
        let _ = claim;
        Box::pin(async { Err(no_ledger()) })
    }

    /// Keeps `response` for a key `holder` holds: the batch's (`operation` empty) or one
    /// operation's, in this transaction. Fails, so that the transaction rolls back, when the
    /// key is no longer `holder`'s (a retry took it over after its lease ran out).
    fn record_key<'a>(
        &'a mut self,
        key: &'a LedgerKey,
        holder: &'a str,
        operation: &'a str,
        response: &'a str,
        expires_at_ms: u64,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        let _ = (key, holder, operation, response, expires_at_ms);
        Box::pin(async { Err(no_ledger()) })
    }

    /// Forgets a key held by `holder` that has no response: its batch did not run, and a
    /// retry may run it at once.
    fn release_key<'a>(
        &'a mut self,
        key: &'a LedgerKey,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        let _ = (key, holder);
        Box::pin(async { Err(no_ledger()) })
    }

    /// Deletes every idempotency key (and what was kept with it) that expired before
    /// `now_ms`; answers how many rows went. Sources that keep no ledger refuse.
    fn sweep_keys(&mut self, now_ms: u64) -> BoxFuture<'_, Result<u64, ResolveError>> {
        let _ = now_ms;
        Box::pin(async { Err(no_ledger()) })
    }

    /// Makes every write since [`EntitySource::begin`] permanent. A failed commit wrote nothing.
    ///
    /// [`EntitySource::begin`]: crate::EntitySource::begin
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), ResolveError>>;

    /// Undoes every write since [`EntitySource::begin`].
    ///
    /// [`EntitySource::begin`]: crate::EntitySource::begin
    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), ResolveError>>;
}

fn no_ledger() -> ResolveError {
    ResolveError::Unsupported("this source keeps no idempotency keys".to_owned())
}
