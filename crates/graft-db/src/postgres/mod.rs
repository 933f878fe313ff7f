//! PostgreSQL through deadpool-postgres (tokio-postgres), statements prepared once per
//! connection.

mod introspect;
mod rows;
mod sql;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use apollo_compiler::Name;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use graft_resolve::{
    BoxFuture, EntitySource, FetchRequest, PageRequest, RequestContext, ResolveError, RowSet,
    SourceErrorKind,
};
use graft_schema::SubgraphSchema;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use crate::pool::{AcquireStats, WAITERS_PER_CONNECTION};
use crate::{DbError, PoolStatus};
use introspect::PgTable;

/// Most statements kept prepared on one pooled connection.
const MAX_PREPARED_PER_CONNECTION: usize = 256;
/// Pool settings for a PostgreSQL source.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/database?options=...`.
    pub url: String,
    /// Most open connections (default 8).
    pub max_connections: usize,
    /// How long opening a connection may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long a request waits for a free connection (default 5 s).
    pub acquire_timeout: Duration,
}

impl PostgresConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// An [`EntitySource`] over one PostgreSQL database.
pub struct PostgresSource {
    name: String,
    pool: Pool,
    tables: HashMap<Name, PgTable>,
    acquire: AcquireStats,
}

impl std::fmt::Debug for PostgresSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSource")
            .field("name", &self.name)
            .field("status", &self.status())
            .finish()
    }
}

impl PostgresSource {
    /// Opens a pool to `config.url` and reads the catalog for every table `schema` maps, so that
    /// a missing table or column stops graft at start-up with its name, not at the first request.
    pub async fn connect(
        name: impl Into<String>,
        config: &PostgresConfig,
        schema: &SubgraphSchema,
    ) -> Result<PostgresSource, DbError> {
        let mut pg_config: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| DbError::Url(format!("{}: {e}", crate::redact(&config.url))))?;
        pg_config.connect_timeout(config.connect_timeout);
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("graft");
        }
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_connections.max(1))
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Url(e.to_string()))?;
        let client = pool.get().await?;
        let mut tables = HashMap::new();
        for mapping in schema.mappings() {
            tables.insert(
                mapping.type_name.clone(),
                introspect::table(&client, mapping).await?,
            );
        }
        drop(client);
        Ok(PostgresSource {
            name: name.into(),
            pool,
            tables,
            acquire: AcquireStats::default(),
        })
    }

    /// Describes every table of the database at `url` (its current schema), for `graft init`.
    pub async fn describe_tables(
        url: &str,
    ) -> Result<Vec<graft_schema::TableDescription>, DbError> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        let connection = tokio::spawn(connection);
        let tables = introspect::describe(&client).await;
        drop(client);
        let _ = connection.await;
        tables
    }

    /// Runs `scripts` (name and SQL, in order) on the database at `url` when its current schema
    /// has no tables yet; returns whether they ran. This runs before [`PostgresSource::connect`],
    /// which needs the tables to exist. Connecting may take at most `connect_timeout` (the
    /// scripts themselves may take longer).
    pub async fn setup_if_empty(
        url: &str,
        scripts: &[(String, String)],
        connect_timeout: Duration,
    ) -> Result<bool, DbError> {
        let (client, connection) =
            tokio::time::timeout(connect_timeout, tokio_postgres::connect(url, NoTls))
                .await
                .map_err(|_| DbError::Timeout)??;
        let connection = tokio::spawn(connection);
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .await?
            .get(0);
        if tables == 0 {
            for (name, sql) in scripts {
                client
                    .batch_execute(sql)
                    .await
                    .map_err(|e| DbError::Script {
                        script: name.clone(),
                        message: DbError::from(e).to_string(),
                    })?;
            }
        }
        drop(client);
        let _ = connection.await;
        Ok(tables == 0)
    }

    /// Runs a script of `;`-separated statements (schema and seed files).
    pub async fn run_script(&self, script_name: &str, sql: &str) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        client
            .batch_execute(sql)
            .await
            .map_err(|e| DbError::Script {
                script: script_name.to_owned(),
                message: DbError::from(e).to_string(),
            })
    }

    /// The pool's state and acquisition figures.
    pub fn status(&self) -> PoolStatus {
        let pool = self.pool.status();
        let mut status = PoolStatus {
            max_size: pool.max_size,
            size: pool.size,
            idle: pool.available,
            in_use: pool.size.saturating_sub(pool.available),
            waiters: pool.waiting,
            ..PoolStatus::default()
        };
        self.acquire.fill(&mut status);
        status
    }

    /// The SQL text a fetch runs: the same for any number of keys. Benchmarks time it bare.
    pub fn statement_sql(&self, request: FetchRequest<'_>) -> Result<String, DbError> {
        Ok(sql::batch_select(self.table(&request)?, &request).sql)
    }

    /// PostgreSQL's plan for the statement a fetch would run (`EXPLAIN`), one line per row.
    pub async fn query_plan(&self, request: FetchRequest<'_>) -> Result<Vec<String>, DbError> {
        let table = self.table(&request)?;
        let select = sql::batch_select(table, &request);
        let (params, _) = sql::key_arrays(&select.binds, request.keys);
        let client = self.pool.get().await?;
        let rows = client
            .query(&format!("EXPLAIN {}", select.sql), &borrow(&params))
            .await?;
        Ok(rows.iter().map(|row| row.get::<_, String>(0)).collect())
    }

    fn table(&self, request: &FetchRequest<'_>) -> Result<&PgTable, DbError> {
        self.tables.get(&request.mapping.type_name).ok_or_else(|| {
            DbError::Mapping(format!(
                "type {} was not mapped when this source started",
                request.mapping.type_name
            ))
        })
    }

    async fn fetch_rows(
        &self,
        ctx: &RequestContext,
        request: FetchRequest<'_>,
    ) -> Result<RowSet, DbError> {
        let table = self.table(&request)?;
        let select = sql::batch_select(table, &request);
        let (mut params, sent) = sql::key_arrays(&select.binds, request.keys);
        let mut rows = RowSet::new(request.keys.len(), request.columns.len());
        if sent.is_empty() {
            return Ok(rows);
        }
        let limits = [request.per_key_limit, request.row_limit];
        for limit in limits.into_iter().flatten().filter(|_| request.many) {
            params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
        }
        rows.count_statement();
        for row in &self.run(ctx, &select.sql, &params).await? {
            rows::read_row(row, &select.reads, &sent, &mut rows)?;
        }
        Ok(rows)
    }

    async fn page_rows(
        &self,
        ctx: &RequestContext,
        request: PageRequest<'_>,
    ) -> Result<RowSet, DbError> {
        let table = self.tables.get(&request.mapping.type_name).ok_or_else(|| {
            DbError::Mapping(format!(
                "type {} was not mapped when this source started",
                request.mapping.type_name
            ))
        })?;
        let (select, params) = sql::page_select(table, &request)?;
        let mut rows = RowSet::new(1, request.columns.len());
        rows.count_statement();
        for row in &self.run(ctx, &select.sql, &params).await? {
            rows::read_row(row, &select.reads, &[0], &mut rows)?;
        }
        Ok(rows)
    }

    /// Runs one prepared statement within the request's deadline. A pooled connection the
    /// server closed (restart, `pg_terminate_backend`) fails once; the read is safe to repeat, so
    /// it is repeated on a fresh connection.
    async fn run(
        &self,
        ctx: &RequestContext,
        sql: &str,
        params: &[Box<dyn ToSql + Sync + Send + '_>],
    ) -> Result<Vec<tokio_postgres::Row>, DbError> {
        match self.run_once(ctx, sql, params).await {
            Err(error) if error.kind() == SourceErrorKind::Connection => {
                // The server likely dropped every idle connection too: close them all, so the
                // retry opens a fresh one.
                self.pool.retain(|_, _| false);
                tracing::warn!(source = %self.name, %error, "retrying on a new connection");
                self.run_once(ctx, sql, params).await
            }
            other => other,
        }
    }

    /// Runs one prepared statement within the request's deadline, cancelling it on the server
    /// when the deadline passes.
    async fn run_once(
        &self,
        ctx: &RequestContext,
        sql: &str,
        params: &[Box<dyn ToSql + Sync + Send + '_>],
    ) -> Result<Vec<tokio_postgres::Row>, DbError> {
        let started = Instant::now();
        let status = self.pool.status();
        if status.waiting >= status.max_size * WAITERS_PER_CONNECTION {
            return Err(DbError::PoolBusy(Duration::ZERO));
        }
        let client = self.pool.get().await?;
        self.acquire.record(started);
        // Statements are prepared once per connection, but the texts an operation can produce
        // are many (a statement per type, key and column set): past the bound, the connection
        // starts afresh, and dropping the statements closes them on the server.
        if client.statement_cache.size() >= MAX_PREPARED_PER_CONNECTION {
            client.statement_cache.clear();
        }
        let statement = client.prepare_cached(sql).await?;
        let params = borrow(params);
        let query = client.query(&statement, &params);
        let result = match ctx.remaining() {
            Some(left) => match tokio::time::timeout(left, query).await {
                Ok(result) => result,
                Err(_) => {
                    // Stop the statement on the server too, then report the timeout.
                    let cancel = client.cancel_token();
                    tokio::spawn(async move {
                        let _ = cancel.cancel_query(NoTls).await;
                    });
                    return Err(DbError::Timeout);
                }
            },
            None => query.await,
        };
        Ok(result?)
    }
}

fn borrow<'p>(params: &'p [Box<dyn ToSql + Sync + Send + '_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl EntitySource for PostgresSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn page<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            self.page_rows(ctx, request)
                .await
                .map_err(|e| e.into_resolve_error(&self.name))
        })
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            self.fetch_rows(ctx, request)
                .await
                .map_err(|e| e.into_resolve_error(&self.name))
        })
    }
}
