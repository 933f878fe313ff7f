//! [`SqlSource`]: one [`EntitySource`] for every SQL database, generic over its [`Driver`].
//!
//! This is the one place that takes a connection, applies the request's [`Scope`], enforces
//! the request's deadline (cancelling the statement on the server when it passes) and retries a
//! read once on a fresh connection when the pooled one turned out to be dead. Writes run only
//! inside a [`UnitOfWork`] ([`SqlUnitOfWork`]) and are never retried.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use graft_resolve::{
    BoxFuture, Capabilities, DeleteRequest, EntitySource, FetchRequest, InsertRequest, Isolation,
    KeyClaim, LedgerEntry, LedgerKey, PageRequest, PoolStatus, RequestContext, ResolveError,
    RowSet, Savepoint, SourceErrorKind, SourceEvent, SourceObserver, StatementKind, UnitOfWork,
    UpdateRequest,
};

use crate::DbError;
use crate::dialect::{self, Dialect, Scope, Statement, WriteStatements};
use crate::driver::{Driver, HeldConn};

/// An [`EntitySource`] over one SQL database: fetches, pages, and units of work that read
/// and write in a transaction. [`crate::SqliteSource`], [`crate::PostgresSource`] and
/// [`crate::MysqlSource`] are this type over each driver.
pub struct SqlSource<D: Driver> {
    pub(crate) shared: Arc<Shared<D>>,
}

pub(crate) struct Shared<D: Driver> {
    pub(crate) name: String,
    driver: D,
    dialect: D::Dialect,
    /// Set once the idempotency-key table is known to exist (see `ledger.rs`).
    pub(crate) ledger_ready: tokio::sync::OnceCell<()>,
    /// When each tenant file's expired idempotency keys were last deleted (ms since the
    /// epoch), where tenants' schemas are files of their own (see `ledger.rs`).
    pub(crate) files_swept: quick_cache::sync::Cache<graft_resolve::SchemaName, u64>,
}

impl<D: Driver> Clone for SqlSource<D> {
    fn clone(&self) -> Self {
        SqlSource {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<D: Driver> std::fmt::Debug for SqlSource<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSource")
            .field("backend", &D::BACKEND)
            .field("name", &self.shared.name)
            .field("status", &self.shared.driver.status())
            .finish()
    }
}

/// Why a statement's outcome (`None`: its deadline passed) failed, if it did.
fn failure<T>(outcome: &Option<Result<T, DbError>>) -> Option<SourceErrorKind> {
    match outcome {
        Some(Ok(_)) => None,
        Some(Err(error)) => Some(error.kind()),
        None => Some(SourceErrorKind::Timeout),
    }
}

/// A statement that ran, as its source reports it.
struct Ran {
    kind: StatementKind,
    started: Instant,
    rows: usize,
    pool_wait: Duration,
    retry: bool,
    failed: Option<SourceErrorKind>,
}

impl Ran {
    /// Tells `observer` about it, as source `source`.
    fn report(self, source: &str, observer: Option<&Arc<dyn SourceObserver>>) {
        if let Some(observer) = observer {
            observer.observe(&SourceEvent::Statement {
                source,
                kind: self.kind,
                duration: self.started.elapsed(),
                rows: self.rows,
                pool_wait: self.pool_wait,
                retry: self.retry,
                failed: self.failed,
            });
        }
    }
}

/// The span of one statement of `source` (debug: created only when a layer wants it).
fn statement_span<D: Driver>(source: &SqlSource<D>, kind: StatementKind) -> tracing::Span {
    tracing::debug_span!(
        "db_statement",
        db.system.name = D::BACKEND,
        db.operation.name = kind.as_str(),
        graft.source = %source.shared.name,
    )
}

/// Runs `work` until `deadline`: `None` when the deadline passed first.
async fn within<T>(deadline: Option<Instant>, work: impl Future<Output = T>) -> Option<T> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline.into(), work).await.ok(),
        None => Some(work.await),
    }
}

impl<D: Driver> SqlSource<D> {
    /// A source named `name` over `driver`, whose statements `dialect` builds.
    pub(crate) fn new(name: String, driver: D, dialect: D::Dialect) -> SqlSource<D> {
        SqlSource {
            shared: Arc::new(Shared {
                name,
                driver,
                dialect,
                ledger_ready: tokio::sync::OnceCell::new(),
                files_swept: quick_cache::sync::Cache::new(crate::ledger::FILES_SWEPT_KEPT),
            }),
        }
    }

    /// The driver.
    pub(crate) fn driver(&self) -> &D {
        &self.shared.driver
    }

    /// The dialect.
    pub(crate) fn dialect(&self) -> &D::Dialect {
        &self.shared.dialect
    }

    /// The pool's state and acquisition figures.
    pub fn status(&self) -> PoolStatus {
        self.shared.driver.status()
    }

    /// Reads with `statement` outside a transaction (an empty answer of `slots` positions when
    /// there is none to run). A pooled connection the server closed (a restart,
    /// `pg_terminate_backend`, `KILL`) fails once; a read is safe to repeat, so it is repeated
    /// once, on a connection known to be alive.
    async fn read<'k>(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        statement: Option<Statement<<D::Dialect as Dialect>::Params<'k>>>,
        slots: usize,
        width: usize,
    ) -> Result<RowSet, DbError> {
        let Some(statement) = statement else {
            return Ok(RowSet::new(slots, width));
        };
        match self.attempt(ctx, scope, &statement, false).await {
            Err(error) if error.kind() == SourceErrorKind::Connection => {
                self.shared.driver.connection_lost();
                tracing::warn!(source = %self.shared.name, %error, "retrying on a new connection");
                self.attempt(ctx, scope, &statement, true).await
            }
            other => other,
        }
    }

    /// Runs the read `statement` in `scope` as [`SqlSource::read`] does (the tenant store's
    /// queries).
    pub(crate) async fn read_statement<'k>(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        statement: Statement<<D::Dialect as Dialect>::Params<'k>>,
    ) -> Result<RowSet, DbError> {
        let (slots, width) = (statement.slots, statement.reads.len());
        self.read(ctx, scope, Some(statement), slots, width).await
    }

    /// One try of [`SqlSource::read`].
    async fn attempt<'k>(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        statement: &Statement<<D::Dialect as Dialect>::Params<'k>>,
        verified: bool,
    ) -> Result<RowSet, DbError> {
        let driver = &self.shared.driver;
        let waiting = Instant::now();
        let mut conn = driver.acquire(scope, verified).await?;
        let pool_wait = waiting.elapsed();
        let mut rows = RowSet::new(statement.slots, statement.reads.len());
        let started = Instant::now();
        let work = driver.read(&mut conn, scope, statement, &mut rows);
        let span = statement_span(self, statement.kind);
        let outcome = tracing::Instrument::instrument(within(ctx.deadline, work), span).await;
        Ran {
            kind: statement.kind,
            started,
            rows: rows.row_count(),
            pool_wait,
            retry: verified,
            failed: failure(&outcome),
        }
        .report(&self.shared.name, ctx.observer.as_ref());
        match outcome {
            Some(Ok(())) => Ok(rows),
            Some(Err(error)) => {
                if error.kind() == SourceErrorKind::Connection {
                    driver.discard(conn);
                }
                Err(error)
            }
            None => {
                driver.cancel(conn);
                Err(DbError::Timeout)
            }
        }
    }

    async fn fetch_rows(
        &self,
        ctx: &RequestContext,
        request: FetchRequest<'_>,
    ) -> Result<RowSet, DbError> {
        let scope = self.scope(ctx)?;
        let statement = self.dialect().fetch(&scope, &request)?;
        self.read(
            ctx,
            &scope,
            statement,
            request.keys.len(),
            request.columns.len(),
        )
        .await
    }

    async fn page_rows(
        &self,
        ctx: &RequestContext,
        request: PageRequest<'_>,
    ) -> Result<RowSet, DbError> {
        let scope = self.scope(ctx)?;
        let statement = self.dialect().page(&scope, &request)?;
        self.read(ctx, &scope, Some(statement), 1, request.columns.len())
            .await
    }

    /// Opens a unit of work: a connection of its own, the scope applied, `BEGIN`. A dead
    /// pooled connection fails `BEGIN` harmlessly, so that is retried once like a read.
    pub async fn begin_work(&self, ctx: &RequestContext) -> Result<SqlUnitOfWork<D>, DbError> {
        let scope = self.scope(ctx)?;
        match self.open(ctx, &scope, false).await {
            Err(error) if error.kind() == SourceErrorKind::Connection => {
                self.shared.driver.connection_lost();
                self.open(ctx, &scope, true).await
            }
            other => other,
        }
    }

    async fn open(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        verified: bool,
    ) -> Result<SqlUnitOfWork<D>, DbError> {
        let driver = &self.shared.driver;
        let waiting = Instant::now();
        // Abandoned if this future is dropped during `BEGIN`: a transaction it may have
        // opened never reaches the pool.
        let mut held = HeldConn::new(driver, driver.acquire(scope, verified).await?);
        let pool_wait = waiting.elapsed();
        let started = Instant::now();
        let work = driver.begin(held.conn(), scope, self.dialect().begin());
        let outcome = within(ctx.deadline, work).await;
        Ran {
            kind: StatementKind::Transaction,
            started,
            rows: 0,
            pool_wait,
            retry: verified,
            failed: failure(&outcome),
        }
        .report(&self.shared.name, ctx.observer.as_ref());
        match outcome {
            Some(Ok(())) => Ok(SqlUnitOfWork {
                source: self.clone(),
                conn: Some(held.into_inner()),
                scope: scope.clone(),
                deadline: ctx.deadline,
                observer: ctx.observer.clone(),
                savepoints: 0,
            }),
            Some(Err(error)) => {
                // A failed BEGIN may still have opened a transaction on a live connection.
                held.abandon();
                Err(error)
            }
            None => {
                held.abandon();
                Err(DbError::Timeout)
            }
        }
    }

    /// The scope of a request in `ctx`: refused when the dialect cannot apply its isolation,
    /// never answered unscoped.
    fn scope(&self, ctx: &RequestContext) -> Result<Scope, DbError> {
        match &ctx.isolation {
            Isolation::Schema(_) if !self.dialect().schema_isolation() => {
                Err(DbError::Isolation("schema"))
            }
            Isolation::Rows if !self.dialect().row_isolation() => Err(DbError::Isolation("rows")),
            _ => Ok(Scope::of(ctx)),
        }
    }

    fn failed(&self) -> impl Fn(DbError) -> ResolveError + '_ {
        |error| error.into_resolve_error(&self.shared.name)
    }
}

impl<D: Driver> EntitySource for SqlSource<D> {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            schema_isolation: self.dialect().schema_isolation(),
            row_isolation: self.dialect().row_isolation(),
            ..self.shared.driver.capabilities()
        }
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        Some(self.status())
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move { self.fetch_rows(ctx, request).await.map_err(self.failed()) })
    }

    fn page<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move { self.page_rows(ctx, request).await.map_err(self.failed()) })
    }

    fn begin<'a>(
        &'a self,
        ctx: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Box<dyn UnitOfWork>, ResolveError>> {
        Box::pin(async move {
            let work = self.begin_work(ctx).await.map_err(self.failed())?;
            Ok(Box::new(work) as Box<dyn UnitOfWork>)
        })
    }
}

/// A transaction on one connection of a [`SqlSource`]. Dropped before
/// [`UnitOfWork::commit`] or [`UnitOfWork::rollback`], it rolls back ([`Driver::abandon`]).
pub struct SqlUnitOfWork<D: Driver> {
    pub(crate) source: SqlSource<D>,
    /// `None` once the transaction ended, or lost its connection.
    conn: Option<D::Conn>,
    pub(crate) scope: Scope,
    deadline: Option<Instant>,
    /// The observer of the request that opened it.
    observer: Option<Arc<dyn SourceObserver>>,
    savepoints: u32,
}

impl<D: Driver> std::fmt::Debug for SqlUnitOfWork<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlUnitOfWork")
            .field("source", &self.source.shared.name)
            .field("open", &self.conn.is_some())
            .field("savepoints", &self.savepoints)
            .finish()
    }
}

impl<D: Driver> Drop for SqlUnitOfWork<D> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            tracing::debug!(source = %self.source.shared.name, "a unit of work was dropped open: rolling back");
            self.source.shared.driver.abandon(conn);
        }
    }
}

impl<D: Driver> SqlUnitOfWork<D> {
    /// Runs `statement` on the transaction's connection within the deadline. A connection
    /// error or a passed deadline ends the transaction (the server rolls it back): later calls
    /// fail with [`DbError::Ended`].
    pub(crate) async fn run<'k>(
        &mut self,
        statement: &Statement<<D::Dialect as Dialect>::Params<'k>>,
    ) -> Result<RowSet, DbError> {
        let source = self.source.clone();
        let conn = self.conn.as_mut().ok_or(DbError::Ended)?;
        let mut rows = RowSet::new(statement.slots, statement.reads.len());
        let started = Instant::now();
        let work = within(
            self.deadline,
            source.driver().query(conn, statement, &mut rows),
        );
        let outcome =
            tracing::Instrument::instrument(work, statement_span(&source, statement.kind)).await;
        self.ran(statement.kind, started, rows.row_count(), &outcome);
        self.settle(outcome).map(|()| rows)
    }

    /// Runs a statement without rows, as [`SqlUnitOfWork::run`] does.
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        let source = self.source.clone();
        let conn = self.conn.as_mut().ok_or(DbError::Ended)?;
        let started = Instant::now();
        let work = within(self.deadline, source.driver().execute(conn, sql));
        let outcome = tracing::Instrument::instrument(
            work,
            statement_span(&source, StatementKind::Transaction),
        )
        .await;
        self.ran(StatementKind::Transaction, started, 0, &outcome);
        self.settle(outcome)
    }

    /// Reports a statement of the unit of work to the observer of the request that opened it.
    fn ran<T>(
        &self,
        kind: StatementKind,
        started: Instant,
        rows: usize,
        outcome: &Option<Result<T, DbError>>,
    ) {
        Ran {
            kind,
            started,
            rows,
            pool_wait: Duration::ZERO,
            retry: false,
            failed: failure(outcome),
        }
        .report(&self.source.shared.name, self.observer.as_ref());
    }

    /// What a statement's outcome (`None`: the deadline passed) leaves of the transaction: a
    /// lost connection is closed; a statement past the deadline may still run, so it is
    /// stopped and the transaction rolled back.
    fn settle<T>(&mut self, outcome: Option<Result<T, DbError>>) -> Result<T, DbError> {
        let driver = &self.source.shared.driver;
        match outcome {
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) => {
                if error.kind() == SourceErrorKind::Connection
                    && let Some(conn) = self.conn.take()
                {
                    driver.discard(conn);
                }
                Err(error)
            }
            None => {
                if let Some(conn) = self.conn.take() {
                    driver.abandon(conn);
                }
                Err(DbError::Timeout)
            }
        }
    }

    /// Runs a write's statements; the answer is the read-back's rows where there is one.
    async fn write<'k>(
        &mut self,
        statements: Option<WriteStatements<<D::Dialect as Dialect>::Params<'k>>>,
        width: usize,
    ) -> Result<RowSet, DbError> {
        let Some(statements) = statements else {
            return Ok(RowSet::new(1, width));
        };
        let written = self.run(&statements.write).await?;
        match &statements.read_back {
            Some(read_back) => self.run(read_back).await,
            None => Ok(written),
        }
    }

    /// Ends the transaction with `sql` (`COMMIT` or `ROLLBACK`) and gives the connection back.
    async fn finish(mut self, sql: &str) -> Result<(), DbError> {
        self.execute(sql).await?;
        // Ended cleanly: the connection goes back to the pool as it is.
        drop(self.conn.take());
        Ok(())
    }

    /// Builds a write of one row by key with `build` and runs it; `width` columns come back.
    fn write_by_key<'a, B>(
        &'a mut self,
        width: usize,
        build: B,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>>
    where
        B: for<'d> FnOnce(
                &'d D::Dialect,
                &'d Scope,
            ) -> Result<
                Option<WriteStatements<<D::Dialect as Dialect>::Params<'a>>>,
                DbError,
            > + Send
            + 'a,
    {
        Box::pin(async move {
            let failed = self.failed();
            let source = self.source.clone();
            let statements = build(source.dialect(), &self.scope).map_err(&failed)?;
            self.write(statements, width).await.map_err(failed)
        })
    }

    pub(crate) fn failed(&self) -> impl Fn(DbError) -> ResolveError + 'static {
        let name = self.source.shared.name.clone();
        move |error| error.into_resolve_error(&name)
    }
}

impl<D: Driver> UnitOfWork for SqlUnitOfWork<D> {
    fn fetch<'a>(
        &'a mut self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            let source = self.source.clone();
            let statement = source
                .dialect()
                .fetch(&self.scope, &request)
                .map_err(&failed)?;
            match statement {
                Some(statement) => self.run(&statement).await.map_err(failed),
                None => Ok(RowSet::new(request.keys.len(), request.columns.len())),
            }
        })
    }

    fn page<'a>(
        &'a mut self,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            let source = self.source.clone();
            let statement = source
                .dialect()
                .page(&self.scope, &request)
                .map_err(&failed)?;
            self.run(&statement).await.map_err(failed)
        })
    }

    fn insert<'a>(
        &'a mut self,
        request: InsertRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            if request.rows.is_empty() {
                return Ok(RowSet::new(0, request.returning.len()));
            }
            let source = self.source.clone();
            let statements = source
                .dialect()
                .insert(&self.scope, &request)
                .map_err(&failed)?;
            self.write(Some(statements), request.returning.len())
                .await
                .map_err(failed)
        })
    }

    fn update<'a>(
        &'a mut self,
        request: UpdateRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        let width = request.returning.len();
        self.write_by_key(width, move |dialect, scope| dialect.update(scope, &request))
    }

    fn delete<'a>(
        &'a mut self,
        request: DeleteRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        let width = request.returning.len();
        self.write_by_key(width, move |dialect, scope| dialect.delete(scope, &request))
    }

    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            let n = self.savepoints + 1;
            self.execute(&dialect::savepoint(n)).await.map_err(failed)?;
            self.savepoints = n;
            Ok(Savepoint::new(n))
        })
    }

    fn rollback_to<'a>(
        &'a mut self,
        savepoint: &'a Savepoint,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            if savepoint.number() == 0 || savepoint.number() > self.savepoints {
                return Err(failed(DbError::Mapping(format!(
                    "savepoint {} was not taken in this unit of work",
                    savepoint.number()
                ))));
            }
            self.execute(&dialect::rollback_to(savepoint.number()))
                .await
                .map_err(failed)
        })
    }

    fn claim_key<'a>(
        &'a mut self,
        claim: KeyClaim<'a>,
    ) -> BoxFuture<'a, Result<LedgerEntry, ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            self.claim(claim).await.map_err(failed)
        })
    }

    fn record_key<'a>(
        &'a mut self,
        key: &'a LedgerKey,
        holder: &'a str,
        operation: &'a str,
        response: &'a str,
        expires_at_ms: u64,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            self.record(key, holder, operation, response, expires_at_ms)
                .await
                .map_err(failed)
        })
    }

    fn release_key<'a>(
        &'a mut self,
        key: &'a LedgerKey,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            self.release(key, holder).await.map_err(failed)
        })
    }

    fn sweep_keys(&mut self, now_ms: u64) -> BoxFuture<'_, Result<u64, ResolveError>> {
        Box::pin(async move {
            let failed = self.failed();
            self.sweep(now_ms).await.map_err(failed)
        })
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), ResolveError>> {
        let failed = self.failed();
        Box::pin(async move { self.finish("COMMIT").await.map_err(failed) })
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), ResolveError>> {
        let failed = self.failed();
        Box::pin(async move { self.finish("ROLLBACK").await.map_err(failed) })
    }
}
