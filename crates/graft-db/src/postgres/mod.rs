//! PostgreSQL through deadpool-postgres (tokio-postgres), statements prepared once per
//! connection.

mod introspect;
mod rows;
mod sql;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::TryStreamExt as _;
use graft_resolve::{FetchRequest, PoolStatus, RowSet};
use graft_schema::SubgraphSchema;
use tokio_postgres::NoTls;
use tokio_postgres::types::{ToSql, Type};

use crate::dialect::{Dialect, Scope, Statement};
use crate::driver::Driver;
use crate::pool::{AcquireStats, WAITERS_PER_CONNECTION};
use crate::{DbError, SqlSource};
pub use sql::{PgDialect, PgParams};

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
    /// Whether statements are prepared once per connection (the default, and the fastest).
    /// Without, each is sent unnamed, its parameter types with it, in one round trip: what
    /// PgBouncer before 1.21 needs in transaction mode, where a server connection may change
    /// between two transactions and a statement prepared on one is unknown to the next.
    pub prepared_statements: bool,
}

impl PostgresConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            prepared_statements: true,
        }
    }
}

/// An [`graft_resolve::EntitySource`] over one PostgreSQL database.
pub type PostgresSource = SqlSource<PgDriver>;

/// PostgreSQL through deadpool-postgres: statements prepared once per connection.
pub struct PgDriver {
    pool: Pool,
    acquire: AcquireStats,
    /// Whether statements are prepared per connection, or sent unnamed.
    prepared: bool,
    /// The statement texts run again and again, which are worth preparing: a text enters on
    /// its first run and stays while it keeps being run (quick_cache's admission keeps texts
    /// run once from pushing out the ones run often).
    hot: quick_cache::sync::Cache<Box<str>, ()>,
}

impl std::fmt::Debug for PgDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDriver")
            .field("status", &self.status())
            .finish()
    }
}

impl Driver for PgDriver {
    type Dialect = PgDialect;
    type Conn = Object;

    const BACKEND: &'static str = "postgres";

    /// A pooled connection. After a connection error the pool was emptied
    /// ([`Driver::connection_lost`]), so every connection it hands out is fresh.
    async fn acquire(&self, _scope: &Scope, _verified: bool) -> Result<Object, DbError> {
        let started = Instant::now();
        let status = self.pool.status();
        if status.waiting >= status.max_size * WAITERS_PER_CONNECTION {
            return Err(DbError::PoolBusy(Duration::ZERO));
        }
        let client = self.pool.get().await?;
        self.acquire.record(started);
        Ok(client)
    }

    async fn query<'a, 'k: 'a>(
        &'a self,
        client: &'a mut Object,
        statement: &'a Statement<PgParams<'k>>,
        rows: &'a mut RowSet,
    ) -> Result<(), DbError> {
        let prepared = self.prepare(client, &statement.sql).await?;
        read_rows(client, prepared.as_ref(), statement, rows).await
    }

    /// Where tenants share tables, the read runs in a transaction that first sets
    /// `graft.tenant_id` for row-level security: `BEGIN`, the setting, the statement and
    /// `COMMIT` are sent together (one round trip) and the setting ends with the transaction.
    /// Once sent, the server runs all four even if the request is dropped, so the connection
    /// never goes back to the pool inside the transaction.
    async fn read<'a, 'k: 'a>(
        &'a self,
        client: &'a mut Object,
        scope: &'a Scope,
        statement: &'a Statement<PgParams<'k>>,
        rows: &'a mut RowSet,
    ) -> Result<(), DbError> {
        let Some(tenant) = scope.tenant_rows() else {
            return self.query(client, statement, rows).await;
        };
        let set_tenant = self.prepare(client, SET_TENANT).await?;
        let prepared = self.prepare(client, &statement.sql).await?;
        let client: &tokio_postgres::Client = client;
        let (begun, set, read, committed) = futures_util::future::join4(
            client.batch_execute("BEGIN"),
            set_tenant_in(client, set_tenant.as_ref(), tenant.as_str()),
            read_rows(client, prepared.as_ref(), statement, rows),
            client.batch_execute("COMMIT"),
        )
        .await;
        begun?;
        set?;
        read?;
        committed?;
        Ok(())
    }

    /// Where tenants share tables, `graft.tenant_id` is set right after `BEGIN`, before any
    /// savepoint, in the same round trip.
    async fn begin<'a>(
        &'a self,
        client: &'a mut Object,
        scope: &'a Scope,
        begin: &'static str,
    ) -> Result<(), DbError> {
        let Some(tenant) = scope.tenant_rows() else {
            return Ok(client.batch_execute(begin).await?);
        };
        let set_tenant = self.prepare(client, SET_TENANT).await?;
        let client: &tokio_postgres::Client = client;
        let (begun, set) = futures_util::future::join(
            client.batch_execute(begin),
            set_tenant_in(client, set_tenant.as_ref(), tenant.as_str()),
        )
        .await;
        begun?;
        set?;
        Ok(())
    }

    async fn execute<'a>(&'a self, client: &'a mut Object, sql: &'a str) -> Result<(), DbError> {
        Ok(client.batch_execute(sql).await?)
    }

    /// Sends PostgreSQL's cancel request for the running statement, then closes the
    /// connection.
    fn cancel(&self, client: Object) {
        let cancel = client.cancel_token();
        let client = Object::take(client);
        tokio::spawn(async move {
            let _ = cancel.cancel_query(NoTls).await;
            drop(client);
        });
    }

    fn discard(&self, client: Object) {
        drop(Object::take(client));
    }

    /// Cancels whatever runs and closes the connection: the server rolls the transaction back.
    fn abandon(&self, client: Object) {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => self.cancel(client),
            Err(_) => self.discard(client),
        }
    }

    /// The server likely dropped every idle connection too: close them all, so the retry
    /// opens a fresh one.
    fn connection_lost(&self) {
        self.pool.retain(|_, _| false);
    }

    fn status(&self) -> PoolStatus {
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
}

/// The statements that make `mapping`'s table keep tenants apart by its text column
/// `tenant_column` under row-level security: enabled and forced (so that the owner is held to
/// it too), one policy for reads and writes on `graft.tenant_id`, and the column filled from
/// the setting when an insert leaves it out (failing when no tenant is set). Every name comes
/// from the mapping, quoted.
pub fn row_security_ddl(mapping: &graft_schema::EntityMapping, tenant_column: &str) -> String {
    let table = Scope::default().qualified_name(mapping, crate::quote_double);
    let column = crate::quote_double(tenant_column);
    let tenant = "NULLIF(current_setting('graft.tenant_id', true), '')";
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT current_setting('graft.tenant_id');\n\
         DROP POLICY IF EXISTS graft_tenant ON {table};\n\
         CREATE POLICY graft_tenant ON {table} USING ({column} = {tenant}) \
         WITH CHECK ({column} = {tenant});\n"
    )
}

/// Sets the tenant row-level-security policies compare with, for the current transaction only
/// (`is_local`), so it cannot outlive the transaction on a pooled connection.
const SET_TENANT: &str = "SELECT set_config('graft.tenant_id', $1, true)";

impl PgDriver {
    /// `sql`, prepared on `client` once, or `None` to send it unnamed (parsed and planned
    /// with its run, in the same round trip).
    ///
    /// A text is prepared only once it is hot, run again while still among the
    /// [`MAX_PREPARED_PER_CONNECTION`] texts run most: the texts an operation can produce are
    /// many (a statement per type, key, column set and tenant schema), and with thousands of
    /// tenants in schemas of their own most are run rarely. Preparing those would cost a
    /// round trip more than sending them unnamed, for a statement the connection's bounded
    /// cache drops before its next run. Past the bound, a connection's cache starts afresh,
    /// and dropping the statements closes them on the server.
    async fn prepare(
        &self,
        client: &Object,
        sql: &str,
    ) -> Result<Option<tokio_postgres::Statement>, DbError> {
        if !self.prepared {
            return Ok(None);
        }
        if self.hot.get(sql).is_none() {
            self.hot.insert(sql.into(), ());
            return Ok(None);
        }
        if client.statement_cache.size() >= MAX_PREPARED_PER_CONNECTION {
            client.statement_cache.clear();
        }
        Ok(Some(client.prepare_cached(sql).await?))
    }
}

/// Sets `graft.tenant_id` to `tenant` for the current transaction, with the prepared
/// [`SET_TENANT`] or unnamed.
async fn set_tenant_in(
    client: &tokio_postgres::Client,
    prepared: Option<&tokio_postgres::Statement>,
    tenant: &str,
) -> Result<(), tokio_postgres::Error> {
    match prepared {
        Some(statement) => client.query(statement, &[&tenant]).await.map(drop),
        None => client
            .query_typed(SET_TENANT, &[(&tenant, Type::TEXT)])
            .await
            .map(drop),
    }
}

/// Runs `statement` (`prepared`, or its text unnamed) and places its rows, streamed into the
/// row set as they arrive: a large `many` fetch is held once, not twice (driver rows, then
/// cells).
async fn read_rows(
    client: &tokio_postgres::Client,
    prepared: Option<&tokio_postgres::Statement>,
    statement: &Statement<PgParams<'_>>,
    rows: &mut RowSet,
) -> Result<(), DbError> {
    let stream = match prepared {
        Some(prepared) => {
            let params = statement
                .params
                .iter()
                .map(|(p, _)| p.as_ref() as &(dyn ToSql + Sync));
            client.query_raw(prepared, params).await?
        }
        None => {
            let params = statement
                .params
                .iter()
                .map(|(p, ty)| (p.as_ref() as &(dyn ToSql + Sync), ty.clone()));
            client.query_typed_raw(&statement.sql, params).await?
        }
    };
    let mut stream = std::pin::pin!(stream);
    while let Some(row) = stream.try_next().await? {
        rows::read_row(&row, &statement.reads, &statement.place, rows)?;
    }
    rows.check_text()
        .map_err(|error| DbError::Decode(format!("a text value is not UTF-8: {error}")))
}

impl SqlSource<PgDriver> {
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
        let driver = PgDriver {
            pool,
            acquire: AcquireStats::default(),
            prepared: config.prepared_statements,
            hot: quick_cache::sync::Cache::new(MAX_PREPARED_PER_CONNECTION),
        };
        Ok(SqlSource::new(
            name.into(),
            driver,
            PgDialect {
                tables,
                selects: Default::default(),
            },
        ))
    }

    /// Checks that row-level security keeps tenants apart for graft's role on every table
    /// `schema` maps, before tenants share tables ([`graft_resolve::Isolation::Rows`]): the
    /// role must be neither a superuser nor `BYPASSRLS`, and every table must have row-level
    /// security enabled, and forced where the role owns it. Each failure says which and why.
    pub async fn check_row_security(&self, schema: &SubgraphSchema) -> Result<(), DbError> {
        let client = self.driver().pool.get().await?;
        // Unnamed statements (`query_typed`), which work behind PgBouncer in transaction mode.
        let role = client
            .query_typed(
                "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_catalog.pg_roles \
                 WHERE rolname = current_user",
                &[],
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                DbError::Mapping("row isolation: graft's role is not in pg_roles".into())
            })?;
        let (name, superuser, bypass): (String, bool, bool) =
            (role.get(0), role.get(1), role.get(2));
        if superuser {
            return Err(DbError::Mapping(format!(
                "row isolation: graft's role {name:?} is a superuser, which row-level security \
                 never applies to; connect as a role without SUPERUSER"
            )));
        }
        if bypass {
            return Err(DbError::Mapping(format!(
                "row isolation: graft's role {name:?} has BYPASSRLS, which skips row-level \
                 security; connect as a role with NOBYPASSRLS"
            )));
        }
        for mapping in schema.mappings() {
            let table = self.dialect().table_name(&Scope::default(), mapping);
            let row = client
                .query_typed(
                    "SELECT c.relrowsecurity, c.relforcerowsecurity, \
                     pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') \
                     FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
                    &[(&table, Type::TEXT)],
                )
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| DbError::Mapping(format!("row isolation: no table {table}")))?;
            let (enabled, forced, owned): (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
            if !enabled {
                return Err(DbError::Mapping(format!(
                    "row isolation: table {table} (type {}) has no row-level security: \
                     ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, with a policy on graft.tenant_id",
                    mapping.type_name
                )));
            }
            if owned && !forced {
                return Err(DbError::Mapping(format!(
                    "row isolation: graft's role {name:?} owns table {table}, and row-level \
                     security does not apply to a table's owner unless forced: \
                     ALTER TABLE {table} FORCE ROW LEVEL SECURITY"
                )));
            }
        }
        Ok(())
    }

    /// The keys of `schema`'s mapped tables that tenants sharing them under row-level
    /// security would share too, one line each: unique indexes (primary keys included) and
    /// foreign keys without `tenant_column`. PostgreSQL checks both across every tenant's rows
    /// (foreign keys without row-level security), so such a key lets one tenant's write fail on,
    /// or point at, another's row, and so learn of it. Empty when every key includes it.
    pub async fn shared_keys(
        &self,
        schema: &SubgraphSchema,
        tenant_column: &str,
    ) -> Result<Vec<String>, DbError> {
        let client = self.driver().pool.get().await?;
        let mut found = Vec::new();
        for mapping in schema.mappings() {
            let table = self.dialect().table_name(&Scope::default(), mapping);
            let rows = client
                .query_typed(
                    "SELECT 'unique index ' || i.indexrelid::regclass::text \
                     FROM pg_catalog.pg_index i \
                     WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indisunique \
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a \
                       WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
                       AND a.attname = $2) \
                     UNION ALL \
                     SELECT 'foreign key ' || c.conname::text FROM pg_catalog.pg_constraint c \
                     WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.contype = 'f' \
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a \
                       WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
                       AND a.attname = $2)",
                    &[(&table, Type::TEXT), (&tenant_column, Type::TEXT)],
                )
                .await?;
            let keys = rows.iter().map(|row| row.get(0)).collect();
            found.extend(crate::tenants::shared_key_lines(
                &table,
                mapping,
                keys,
                tenant_column,
            ));
        }
        Ok(found)
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
        let client = self.driver().pool.get().await?;
        client
            .batch_execute(sql)
            .await
            .map_err(|e| DbError::Script {
                script: script_name.to_owned(),
                message: DbError::from(e).to_string(),
            })
    }

    /// The SQL text a fetch runs: the same for any number of keys. Benchmarks time it bare.
    pub fn statement_sql(&self, request: FetchRequest<'_>) -> Result<String, DbError> {
        let dialect = self.dialect();
        let table_name = dialect.table_name(&Scope::default(), request.mapping);
        Ok(sql::batch_select(dialect.table(request.mapping)?, &table_name, &request).sql)
    }

    /// PostgreSQL's plan for the statement a fetch would run (`EXPLAIN`), one line per row.
    pub async fn query_plan(&self, request: FetchRequest<'_>) -> Result<Vec<String>, DbError> {
        let dialect = self.dialect();
        let table_name = dialect.table_name(&Scope::default(), request.mapping);
        let select = sql::batch_select(dialect.table(request.mapping)?, &table_name, &request);
        let (params, _) = sql::key_arrays(&select.binds, request.keys);
        let client = self.driver().pool.get().await?;
        let rows = client
            .query(&format!("EXPLAIN {}", select.sql), &borrow(&params))
            .await?;
        Ok(rows.iter().map(|row| row.get::<_, String>(0)).collect())
    }
}

fn borrow<'p>(params: &'p PgParams<'_>) -> Vec<&'p (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|(p, _)| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}
