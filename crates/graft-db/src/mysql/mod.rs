//! MariaDB and MySQL through mysql_async: binary protocol, statements prepared once per
//! connection and kept in mysql_async's statement cache.

mod dialect;
mod introspect;
mod rows;
mod sql;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use graft_resolve::{Capabilities, FetchRequest, PageRequest, PoolStatus, RowSet};
use graft_schema::{EntityMapping, SubgraphSchema};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, PoolConstraints, Row};

use crate::dialect::{Dialect, Scope, Statement};
use crate::driver::Driver;
use crate::pool::{AcquireStats, WAITERS_PER_CONNECTION};
use crate::tenants::shared_key_lines;
use crate::{DbError, SqlSource, redact};
pub use dialect::MyDialect;
use introspect::MyTable;

/// Pool settings for a MariaDB or MySQL source.
#[derive(Debug, Clone)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database`, with mysql_async's URL parameters.
    pub url: String,
    /// Most open connections (default 8).
    pub max_connections: usize,
    /// How long opening a connection may take (default 5 s). mysql_async has no separate
    /// connect timeout: this bounds the first connection at start-up, and together with
    /// `acquire_timeout` (the longer of the two) every later wait for a connection.
    pub connect_timeout: Duration,
    /// How long a request waits for a free connection (default 5 s).
    pub acquire_timeout: Duration,
    /// The column that names each row's tenant where tenants share tables
    /// ([`graft_resolve::Isolation::Rows`]): graft adds `tenant_column = ?` to every statement
    /// and fills it in on insert. Every mapped table must have it, and no GraphQL field may
    /// map it. MariaDB has no row-level security, so without it tenants cannot share tables.
    pub tenant_column: Option<String>,
}

impl MysqlConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> MysqlConfig {
        MysqlConfig {
            url: url.into(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            tenant_column: None,
        }
    }
}

/// An [`graft_resolve::EntitySource`] over one MariaDB or MySQL database.
pub type MysqlSource = SqlSource<MysqlDriver>;

/// MariaDB and MySQL through mysql_async's pool, which reports open and idle connections; this
/// driver counts connections in use and waiting requests itself.
pub struct MysqlDriver {
    pool: Pool,
    opts: Opts,
    max_size: usize,
    wait_limit: Duration,
    mariadb: bool,
    acquire: AcquireStats,
    in_use: Arc<AtomicUsize>,
    waiters: AtomicUsize,
}

impl std::fmt::Debug for MysqlDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlDriver")
            .field("mariadb", &self.mariadb)
            .field("status", &self.status())
            .finish()
    }
}

/// Adds one to a counter for as long as it lives.
struct Counted<C: std::ops::Deref<Target = AtomicUsize>>(C);

impl<C: std::ops::Deref<Target = AtomicUsize>> Counted<C> {
    fn new(counter: C) -> Counted<C> {
        counter.fetch_add(1, Ordering::Relaxed);
        Counted(counter)
    }
}

impl<C: std::ops::Deref<Target = AtomicUsize>> Drop for Counted<C> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A pooled connection in use; dropping it returns the connection to the pool.
pub struct Lease {
    conn: Conn,
    _in_use: Counted<Arc<AtomicUsize>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.conn.id())
            .finish()
    }
}

impl Lease {
    /// Closes the connection instead of returning it: after a connection error it is broken,
    /// and the pool must open a new one in its place rather than hand it out again.
    fn discard(self) {
        let Lease { conn, _in_use } = self;
        tokio::spawn(async move {
            let _ = conn.disconnect().await;
        });
    }
}

impl MysqlDriver {
    /// A connection from the pool, counted as in use until the lease drops. With `verified`,
    /// the connection is pinged first and replaced while it fails, up to once per pool slot:
    /// after the server killed the connections the pool may still hold some of them.
    async fn lease(&self, verified: bool) -> Result<Lease, DbError> {
        let attempts = if verified { self.max_size + 1 } else { 1 };
        let mut failure = None;
        for _ in 0..attempts {
            let started = Instant::now();
            if self.waiters.load(Ordering::Relaxed) >= self.max_size * WAITERS_PER_CONNECTION {
                return Err(DbError::PoolBusy(Duration::ZERO));
            }
            let waiting = Counted::new(&self.waiters);
            let conn = tokio::time::timeout(self.wait_limit, self.pool.get_conn())
                .await
                .map_err(|_| {
                    // Every slot leased: busy. A free slot and still no connection: connecting
                    // hangs, which is an outage.
                    if self.in_use.load(Ordering::Relaxed) >= self.max_size {
                        DbError::PoolBusy(self.wait_limit)
                    } else {
                        DbError::AcquireTimeout(self.wait_limit)
                    }
                })??;
            drop(waiting);
            self.acquire.record(started);
            let mut lease = Lease {
                conn,
                _in_use: Counted::new(Arc::clone(&self.in_use)),
            };
            if !verified {
                return Ok(lease);
            }
            match lease.conn.ping().await {
                Ok(()) => return Ok(lease),
                Err(error) => {
                    lease.discard();
                    failure = Some(error);
                }
            }
        }
        Err(failure.expect("at least one attempt failed").into())
    }
}

impl Driver for MysqlDriver {
    type Dialect = MyDialect;
    type Conn = Lease;

    const BACKEND: &'static str = "mysql";

    async fn acquire(&self, _scope: &Scope, verified: bool) -> Result<Lease, DbError> {
        self.lease(verified).await
    }

    async fn query<'a, 'k: 'a>(
        &'a self,
        lease: &'a mut Lease,
        statement: &'a Statement<Params>,
        rows: &'a mut RowSet,
    ) -> Result<(), DbError> {
        let mut result = lease
            .conn
            .exec_iter(statement.sql.as_str(), statement.params.clone())
            .await?;
        let mut failed = None;
        result
            .for_each(|row| {
                if failed.is_none()
                    && let Err(error) =
                        rows::read_row(&row, &statement.reads, &statement.place, rows)
                {
                    failed = Some(error);
                }
            })
            .await?;
        failed.map_or(Ok(()), Err)
    }

    async fn execute<'a>(&'a self, lease: &'a mut Lease, sql: &'a str) -> Result<(), DbError> {
        Ok(lease.conn.query_drop(sql).await?)
    }

    /// Stops the statement running on `lease`'s connection (`KILL QUERY`, over a connection of
    /// its own, so that a full pool cannot hold it up) and closes that connection, whose
    /// result was left half read.
    fn cancel(&self, lease: Lease) {
        let id = lease.conn.id();
        let opts = self.opts.clone();
        let Lease { conn, _in_use } = lease;
        tokio::spawn(async move {
            if let Ok(mut admin) = Conn::new(opts).await {
                let _ = admin.query_drop(format!("KILL QUERY {id}")).await;
                let _ = admin.disconnect().await;
            }
            let _ = conn.disconnect().await;
            drop(_in_use);
        });
    }

    fn discard(&self, lease: Lease) {
        lease.discard();
    }

    /// As [`MysqlDriver::cancel`]: closing the connection rolls the transaction back.
    fn abandon(&self, lease: Lease) {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => self.cancel(lease),
            // No runtime: the process is ending, and dropping the connection closes it.
            Err(_) => drop(lease),
        }
    }

    /// MySQL has no `RETURNING`, which writes need: it reads and pages only. MariaDB (10.5
    /// and later) does everything.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactions: self.mariadb,
            ..Capabilities::ALL
        }
    }

    fn status(&self) -> PoolStatus {
        let metrics = self.pool.metrics();
        let mut status = PoolStatus {
            max_size: self.max_size,
            size: metrics.connection_count.load(Ordering::Relaxed),
            idle: metrics.connections_in_pool.load(Ordering::Relaxed),
            in_use: self.in_use.load(Ordering::Relaxed),
            waiters: self.waiters.load(Ordering::Relaxed),
            ..PoolStatus::default()
        };
        self.acquire.fill(&mut status);
        status
    }
}

impl SqlSource<MysqlDriver> {
    /// Opens a pool to `config.url` and reads `information_schema` for every table `schema`
    /// maps, so that a missing table or column, a column graft cannot read or a key column it
    /// cannot bind stops graft at start-up with its name, not at the first request.
    pub async fn connect(
        name: impl Into<String>,
        config: &MysqlConfig,
        schema: &SubgraphSchema,
    ) -> Result<MysqlSource, DbError> {
        let opts = Opts::from_url(&config.url)
            .map_err(|e| DbError::Url(format!("{}: {e}", redact(&config.url))))?;
        let max_size = config.max_connections.max(1);
        let pool_opts = opts
            .pool_opts()
            .clone()
            // min = max: with mysql_async's default (no idle TTL) the pool keeps `min` idle
            // connections, so every connection stays open with its prepared statements.
            .with_constraints(PoolConstraints::new(max_size, max_size).expect("1 <= min = max"))
            // graft changes no session state, and a reset would drop the statement cache.
            .with_reset_connection(false);
        let opts: Opts = OptsBuilder::from_opts(opts)
            .pool_opts(pool_opts)
            // Timestamps are instants: read them in UTC so they carry a fixed offset.
            .setup(vec!["SET time_zone = '+00:00'"])
            .into();
        let pool = Pool::new(opts.clone());
        let mut conn = tokio::time::timeout(config.connect_timeout, pool.get_conn())
            .await
            .map_err(|_| DbError::AcquireTimeout(config.connect_timeout))??;
        let mariadb = introspect::is_mariadb(&mut conn).await?;
        let mut tables = HashMap::new();
        for mapping in schema.mappings() {
            tables.insert(
                mapping.type_name.clone(),
                introspect::table(&mut conn, mapping, mariadb).await?,
            );
        }
        if let Some(column) = &config.tenant_column {
            for mapping in schema.mappings() {
                dialect::check_tenant_column(&tables, mapping, column)?;
            }
        }
        drop(conn);
        let driver = MysqlDriver {
            pool,
            opts,
            max_size,
            wait_limit: config.acquire_timeout.max(config.connect_timeout),
            mariadb,
            acquire: AcquireStats::default(),
            in_use: Arc::new(AtomicUsize::new(0)),
            waiters: AtomicUsize::new(0),
        };
        let dialect = MyDialect {
            tables,
            tenant_column: config.tenant_column.clone(),
        };
        Ok(SqlSource::new(name.into(), driver, dialect))
    }

    /// The keys of `schema`'s mapped tables that tenants sharing them by `tenant_column` would
    /// share too, one line each: unique indexes (the primary key included) and foreign keys
    /// without the column. MariaDB checks both across every tenant's rows, so such a key lets
    /// one tenant's write fail on, or point at, another's row, and so learn of it. Empty when
    /// every key includes it.
    pub async fn shared_keys(
        &self,
        schema: &SubgraphSchema,
        tenant_column: &str,
    ) -> Result<Vec<String>, DbError> {
        let mut lease = self.driver().lease(false).await?;
        let mut found = Vec::new();
        for mapping in schema.mappings() {
            let (database, table) = (mapping.table.schema.clone(), mapping.table.name.clone());
            let keys: Vec<String> = lease
                .conn
                .exec(
                    "SELECT CONCAT('unique index ', INDEX_NAME) FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
                     AND NON_UNIQUE = 0 \
                     GROUP BY INDEX_NAME HAVING SUM(COLUMN_NAME = ?) = 0 \
                     UNION ALL \
                     SELECT CONCAT('foreign key ', CONSTRAINT_NAME) \
                     FROM information_schema.KEY_COLUMN_USAGE \
                     WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
                     AND REFERENCED_TABLE_NAME IS NOT NULL \
                     GROUP BY CONSTRAINT_NAME HAVING SUM(COLUMN_NAME = ?) = 0",
                    (
                        database.clone(),
                        table.clone(),
                        tenant_column,
                        database,
                        table,
                        tenant_column,
                    ),
                )
                .await?;
            let table = self.dialect().table_name(&Scope::default(), mapping);
            found.extend(shared_key_lines(&table, mapping, keys, tenant_column));
        }
        Ok(found)
    }

    /// Describes every base table of the database at `url` (its current database), for
    /// `graft init`.
    pub async fn describe_tables(
        url: &str,
    ) -> Result<Vec<graft_schema::TableDescription>, DbError> {
        let mut conn = plain_connection(url).await?;
        let tables = match introspect::is_mariadb(&mut conn).await {
            Ok(mariadb) => introspect::describe(&mut conn, mariadb).await,
            Err(error) => Err(error),
        };
        let _ = conn.disconnect().await;
        tables
    }

    /// Runs `scripts` (name and SQL, in order; each may hold several `;`-separated statements)
    /// on the database at `url` when its current database has no tables yet; returns whether
    /// they ran. This runs before [`MysqlSource::connect`], which needs the tables to exist.
    /// Connecting may take at most `connect_timeout` (the scripts themselves may take longer).
    pub async fn setup_if_empty(
        url: &str,
        scripts: &[(String, String)],
        connect_timeout: Duration,
    ) -> Result<bool, DbError> {
        let mut conn = tokio::time::timeout(connect_timeout, plain_connection(url))
            .await
            .map_err(|_| DbError::Timeout)??;
        let ran = run_if_empty(&mut conn, scripts).await;
        let _ = conn.disconnect().await;
        ran
    }

    /// Runs a script of `;`-separated statements (schema and seed files).
    pub async fn run_script(&self, script_name: &str, sql: &str) -> Result<(), DbError> {
        let mut lease = self.driver().lease(false).await?;
        lease
            .conn
            .query_drop(sql)
            .await
            .map_err(|e| DbError::Script {
                script: script_name.to_owned(),
                message: DbError::from(e).to_string(),
            })
    }

    /// The SQL text a fetch runs: the same for any number of keys. Benchmarks time it bare.
    pub fn statement_sql(&self, request: FetchRequest<'_>) -> Result<String, DbError> {
        let table_name = self
            .dialect()
            .table_name(&Scope::default(), request.mapping);
        Ok(sql::batch_select(self.table(request.mapping)?, &table_name, &request, None)?.sql)
    }

    /// The server's plan for the statement a fetch would run (`EXPLAIN`), one line per row:
    /// the table, the join type and the key used, e.g. `t eq_ref PRIMARY`.
    pub async fn query_plan(&self, request: FetchRequest<'_>) -> Result<Vec<String>, DbError> {
        let table = self.table(request.mapping)?;
        let table_name = self
            .dialect()
            .table_name(&Scope::default(), request.mapping);
        let select = sql::batch_select(table, &table_name, &request, None)?;
        let (keys, _) = sql::keys_parameter(&select.binds, request.keys);
        self.explain(&select, Params::from((keys,)), &["table", "type", "key"])
            .await
    }

    /// The SQL text a page runs: one for the first page, one for the pages after a cursor.
    pub fn page_sql(&self, request: PageRequest<'_>) -> Result<String, DbError> {
        let table_name = self
            .dialect()
            .table_name(&Scope::default(), request.mapping);
        Ok(sql::page_select(self.table(request.mapping)?, &table_name, &request, None)?.sql)
    }

    /// The server's plan for the statement a page would run (`EXPLAIN`), one line per row:
    /// the table, the join type, the key used and the extra notes, e.g.
    /// `t range PRIMARY Using where` (a page after a cursor is a range of the key's index and
    /// needs no sort: no `Using filesort`).
    pub async fn page_plan(&self, request: PageRequest<'_>) -> Result<Vec<String>, DbError> {
        let table = self.table(request.mapping)?;
        let table_name = self
            .dialect()
            .table_name(&Scope::default(), request.mapping);
        let select = sql::page_select(table, &table_name, &request, None)?;
        let parameters =
            sql::page_parameters(table, &select, &request).map_err(DbError::Mapping)?;
        self.explain(
            &select,
            Params::Positional(parameters),
            &["table", "type", "key", "Extra"],
        )
        .await
    }

    /// `EXPLAIN` of `select` with `params`: per plan row, the non-empty values of `columns`.
    async fn explain(
        &self,
        select: &sql::Select,
        params: Params,
        columns: &[&str],
    ) -> Result<Vec<String>, DbError> {
        let mut lease = self.driver().lease(false).await?;
        let rows: Vec<Row> = lease
            .conn
            .exec(format!("EXPLAIN {}", select.sql), params)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .filter_map(|column| row.get_opt::<Option<String>, _>(*column)?.ok()?)
                    .filter(|value| !value.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect())
    }

    fn table(&self, mapping: &EntityMapping) -> Result<&MyTable, DbError> {
        self.dialect().table(mapping)
    }
}
/// One connection to `url`, outside any pool, for work done once at start-up.
async fn plain_connection(url: &str) -> Result<Conn, DbError> {
    let opts = Opts::from_url(url).map_err(|e| DbError::Url(format!("{}: {e}", redact(url))))?;
    Ok(Conn::new(opts).await?)
}

/// The body of [`MysqlSource::setup_if_empty`], on a connection its caller closes. The text
/// protocol (`query_drop`) runs every statement of a multi-statement script and reports the
/// first that fails.
async fn run_if_empty(conn: &mut Conn, scripts: &[(String, String)]) -> Result<bool, DbError> {
    let tables: Option<u64> = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        )
        .await?;
    if tables.unwrap_or(0) > 0 {
        return Ok(false);
    }
    for (name, sql) in scripts {
        conn.query_drop(sql).await.map_err(|e| DbError::Script {
            script: name.clone(),
            message: DbError::from(e).to_string(),
        })?;
    }
    Ok(true)
}
