//! SQLite through sqlx.

mod rows;
mod sql;

use std::str::FromStr;
use std::time::Duration;

use std::time::Instant;

use futures_util::TryStreamExt;
use graft_resolve::{FetchRequest, PoolStatus, RowSet, SchemaName};
use graft_schema::SubgraphSchema;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Executor, Sqlite};

use crate::dialect::{Dialect as _, Scope, Statement};
use crate::driver::Driver;
use crate::pool::AcquireStats;
use crate::tenants::shared_key_lines;
use crate::{DbError, SqlSource};
pub use sql::{SqliteBind, SqliteDialect};

/// Pool settings for a SQLite source.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// `sqlite://path/to.db`, or `sqlite::memory:` style URLs.
    pub url: String,
    /// Most open connections (default 4).
    pub max_connections: u32,
    /// How long a request waits for a connection (default 5 s).
    pub acquire_timeout: Duration,
    /// The column naming each row's tenant where tenants share tables
    /// ([`graft_resolve::Isolation::Rows`]): graft adds `tenant_column = ?` to every statement
    /// and fills it in on insert, and refuses writes that set it. SQLite has no row-level
    /// security, so without it tenants cannot share tables.
    pub tenant_column: Option<String>,
    /// Where a tenant isolated by `schema` keeps its data: a URL with `{schema}` standing for
    /// the tenant's schema name (`sqlite://tenants/{schema}.db`), a file of its own, created on
    /// first use. Without it, SQLite has no schemas for tenants.
    pub tenant_files: Option<String>,
    /// The most tenant files open at once (default 64); the one used longest ago is closed to
    /// open another.
    pub max_tenant_files: usize,
}

impl SqliteConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> SqliteConfig {
        SqliteConfig {
            url: url.into(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
            tenant_column: None,
            tenant_files: None,
            max_tenant_files: 64,
        }
    }
}

/// An [`graft_resolve::EntitySource`] over one SQLite database.
pub type SqliteSource = SqlSource<SqliteDriver>;

/// SQLite through sqlx's pool: each connection has a worker thread of its own.
#[derive(Debug)]
pub struct SqliteDriver {
    pool: SqlitePool,
    acquire: AcquireStats,
    /// The tenants' own files, when tenants are isolated by `schema`.
    tenant_files: Option<TenantFiles>,
}

/// The open files of tenants isolated by `schema`, a pool each, at most `max` of them: a pool
/// pushed out closes its connections once they are given back.
struct TenantFiles {
    /// The files' URL, with `{schema}` for the schema name.
    template: String,
    /// The shared database's file, which no tenant's may be: destroying a tenant removes its
    /// file.
    shared: std::path::PathBuf,
    max_connections: u32,
    acquire_timeout: Duration,
    pools: quick_cache::sync::Cache<SchemaName, SqlitePool>,
}

impl std::fmt::Debug for TenantFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantFiles")
            .field("template", &self.template)
            .field("open", &self.pools.len())
            .finish()
    }
}

/// `path` with its directory resolved (`..` and links followed, where it exists), so that two
/// spellings of one file compare equal; the file itself need not exist yet.
fn resolved(path: &std::path::Path) -> std::path::PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match (absolute.parent(), absolute.file_name()) {
        (Some(directory), Some(name)) => directory
            .canonicalize()
            .map_or_else(|_| absolute.clone(), |directory| directory.join(name)),
        _ => absolute,
    }
}

impl TenantFiles {
    /// The URL of `schema`'s file. Schema names are letters, digits, `_` and `-` only
    /// ([`SchemaName`]), so no name can leave the template's directory.
    fn url(&self, schema: &SchemaName) -> String {
        self.template.replace("{schema}", schema.as_str())
    }

    /// The options of `schema`'s file; refused when it is the shared database's, or one of
    /// the files SQLite keeps beside it (`-wal`, `-shm`, `-journal`).
    fn options(&self, schema: &SchemaName) -> Result<SqliteConnectOptions, DbError> {
        let url = self.url(schema);
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| DbError::Url(format!("{url}: {e}")))?;
        let file = resolved(options.get_filename());
        let beside_shared = file.parent() == self.shared.parent()
            && file
                .file_name()
                .zip(self.shared.file_name())
                .is_some_and(|(file, shared)| {
                    let (file, shared) = (file.to_string_lossy(), shared.to_string_lossy());
                    file == shared
                        || ["-wal", "-shm", "-journal"]
                            .iter()
                            .any(|suffix| file.strip_suffix(suffix) == Some(&*shared))
                });
        if beside_shared {
            return Err(DbError::Mapping(format!(
                "schema `{schema}` names the shared database's file: a tenant's schema must be \
                 a file of its own (destroying the tenant removes it)"
            )));
        }
        Ok(options)
    }

    /// The pool of `schema`'s file, opened (and the file created) on first use.
    async fn pool(&self, schema: &SchemaName) -> Result<SqlitePool, DbError> {
        self.pools
            .get_or_insert_async(schema, async {
                let options = self.options(schema)?.create_if_missing(true);
                Ok(SqlitePoolOptions::new()
                    .max_connections(self.max_connections.max(1))
                    .acquire_timeout(self.acquire_timeout)
                    .connect_with(options)
                    .await?)
            })
            .await
    }
}

impl Driver for SqliteDriver {
    type Dialect = SqliteDialect;
    type Conn = PoolConnection<Sqlite>;

    const BACKEND: &'static str = "sqlite";

    async fn acquire(&self, scope: &Scope, _verified: bool) -> Result<Self::Conn, DbError> {
        let started = Instant::now();
        let conn = match (scope.schema(), &self.tenant_files) {
            (None, _) => self.pool.acquire().await?,
            (Some(schema), Some(files)) => files.pool(schema).await?.acquire().await?,
            (Some(_), None) => return Err(DbError::Isolation("schema")),
        };
        self.acquire.record(started);
        Ok(conn)
    }

    /// Closes the tenant's file and removes it, with its journal.
    async fn drop_schema_storage<'a>(&'a self, schema: &'a SchemaName) -> Result<(), DbError> {
        let files = self
            .tenant_files
            .as_ref()
            .ok_or(DbError::Isolation("schema"))?;
        let options = files.options(schema)?;
        if let Some((_, pool)) = files.pools.remove(schema) {
            pool.close().await;
        }
        let path = options.get_filename().to_owned();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(DbError::Url(format!(
                        "removing {}: {error}",
                        std::path::Path::new(&file).display()
                    )));
                }
            }
        }
        Ok(())
    }

    async fn query<'a, 'k: 'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        statement: &'a Statement<Vec<SqliteBind<'k>>>,
        rows: &'a mut RowSet,
    ) -> Result<(), DbError> {
        let mut query = sqlx::query(&statement.sql);
        for param in &statement.params {
            query = match param {
                SqliteBind::Null => query.bind(None::<i64>),
                SqliteBind::Int(i) => query.bind(*i),
                SqliteBind::Float(f) => query.bind(*f),
                SqliteBind::Text(text) => query.bind(&**text),
            };
        }
        let mut stream = query.fetch(&mut **conn);
        while let Some(row) = stream.try_next().await? {
            rows::read_row(&row, &statement.place, statement.reads.len(), rows)?;
        }
        Ok(())
    }

    async fn execute<'a>(&'a self, conn: &'a mut Self::Conn, sql: &'a str) -> Result<(), DbError> {
        conn.execute(sqlx::raw_sql(sql)).await?;
        Ok(())
    }

    /// SQLite has no server to cancel on: the worker stops at the next row, when it finds the
    /// statement's reader gone. The connection goes back to the pool (closing it could drop an
    /// in-memory database).
    fn cancel(&self, conn: Self::Conn) {
        drop(conn);
    }

    fn discard(&self, conn: Self::Conn) {
        drop(conn.detach());
    }

    fn abandon(&self, mut conn: Self::Conn) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if conn.execute(sqlx::raw_sql("ROLLBACK")).await.is_err() {
                        drop(conn.detach());
                    }
                });
            }
            // No runtime to roll back on: closing the connection rolls back.
            Err(_) => drop(conn.detach()),
        }
    }

    fn status(&self) -> PoolStatus {
        let size = self.pool.size() as usize;
        let idle = self.pool.num_idle();
        let mut status = PoolStatus {
            max_size: self.pool.options().get_max_connections() as usize,
            size,
            idle,
            in_use: size.saturating_sub(idle),
            waiters: 0,
            ..PoolStatus::default()
        };
        self.acquire.fill(&mut status);
        status
    }
}

impl SqlSource<SqliteDriver> {
    /// Opens a pool to the database at `config.url` (creating the file if missing).
    pub async fn connect(
        name: impl Into<String>,
        config: &SqliteConfig,
    ) -> Result<SqliteSource, DbError> {
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|e| DbError::Url(format!("{}: {e}", config.url)))?
            .create_if_missing(true);
        let shared = resolved(options.get_filename());
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await?;
        let tenant_files = config.tenant_files.as_ref().map(|template| TenantFiles {
            template: template.clone(),
            shared,
            max_connections: config.max_connections,
            acquire_timeout: config.acquire_timeout,
            pools: quick_cache::sync::Cache::new(config.max_tenant_files.max(1)),
        });
        let driver = SqliteDriver {
            pool,
            acquire: AcquireStats::default(),
            tenant_files,
        };
        let dialect = SqliteDialect {
            tenant_column: config.tenant_column.clone(),
            tenant_files: config.tenant_files.is_some(),
        };
        Ok(SqlSource::new(name.into(), driver, dialect))
    }

    /// An in-memory database private to this source, kept alive by the pool.
    pub async fn in_memory(name: impl Into<String>) -> Result<SqliteSource, DbError> {
        let name = name.into();
        // sqlx makes every `sqlite::memory:` a new database shared by the pool's connections.
        let url = "sqlite::memory:";
        SqliteSource::connect(name, &SqliteConfig::new(url)).await
    }

    /// Runs a script of `;`-separated statements (schema and seed files).
    pub async fn run_script(&self, script_name: &str, sql: &str) -> Result<(), DbError> {
        let mut connection = self.pool().acquire().await?;
        connection
            .execute(sqlx::raw_sql(sql))
            .await
            .map_err(|source| DbError::Script {
                script: script_name.to_owned(),
                message: source.to_string(),
            })?;
        Ok(())
    }

    /// The number of tables in the database (setup scripts run only when it is 0).
    pub async fn count_tables(&self) -> Result<i64, DbError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The SQL text a fetch runs: the same for any number of keys. Benchmarks time it bare.
    pub fn statement_sql(&self, request: FetchRequest<'_>) -> String {
        sql::batch_select(&request, None)
    }

    fn pool(&self) -> &SqlitePool {
        &self.driver().pool
    }

    /// SQLite's query plan (`EXPLAIN QUERY PLAN`) for the statement a fetch would run, one line
    /// per plan step: shows that each key is a primary-key search, not a scan.
    pub async fn query_plan(&self, request: FetchRequest<'_>) -> Result<Vec<String>, DbError> {
        let sql = format!("EXPLAIN QUERY PLAN {}", sql::batch_select(&request, None));
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql)
            .bind(sql::keys_parameter(request.keys))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|(_, _, _, detail)| detail).collect())
    }

    /// The keys of `schema`'s mapped tables that tenants sharing them by `tenant_column` would
    /// share too, one line each: the primary key (a rowid alias included), unique indexes and
    /// foreign keys without the column. SQLite checks each across every tenant's rows, so such
    /// a key lets one tenant's write fail on, or point at, another's row, and so learn of it.
    /// Empty when every key includes it.
    pub async fn shared_keys(
        &self,
        schema: &SubgraphSchema,
        tenant_column: &str,
    ) -> Result<Vec<String>, DbError> {
        let mut found = Vec::new();
        for mapping in schema.mappings() {
            let database = mapping.table.schema.as_deref().unwrap_or("main");
            // Names compare as SQLite compares them: without regard to ASCII case.
            let keys: Vec<String> = sqlx::query_scalar(
                "SELECT 'primary key' \
                 WHERE EXISTS (SELECT 1 FROM pragma_table_info(?1, ?2) WHERE pk > 0) \
                 AND NOT EXISTS (SELECT 1 FROM pragma_table_info(?1, ?2) \
                   WHERE pk > 0 AND name = ?3 COLLATE NOCASE) \
                 UNION ALL \
                 SELECT 'unique index ' || il.name FROM pragma_index_list(?1, ?2) AS il \
                 WHERE il.\"unique\" AND il.origin <> 'pk' AND NOT EXISTS \
                   (SELECT 1 FROM pragma_index_info(il.name, ?2) AS ii \
                    WHERE ii.name = ?3 COLLATE NOCASE) \
                 UNION ALL \
                 SELECT 'foreign key to ' || MIN(\"table\") FROM pragma_foreign_key_list(?1, ?2) \
                 GROUP BY id HAVING SUM(\"from\" = ?3 COLLATE NOCASE) = 0",
            )
            .bind(&mapping.table.name)
            .bind(database)
            .bind(tenant_column)
            .fetch_all(self.pool())
            .await?;
            let table = self.dialect().table_name(&Scope::default(), mapping);
            found.extend(shared_key_lines(&table, mapping, keys, tenant_column));
        }
        Ok(found)
    }

    /// Describes every table of the database, with the GraphQL type of each column, for
    /// `graft init`.
    pub async fn describe_tables(&self) -> Result<Vec<graft_schema::TableDescription>, DbError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        let mut tables = Vec::new();
        let mut all_foreign_keys = Vec::new();
        for name in names {
            // cid, name, type, notnull, default, pk (1-based position in the key, 0 if none).
            let columns: Vec<(i64, String, String, bool, Option<String>, i64)> = sqlx::query_as(
                "SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)",
            )
            .bind(&name)
            .fetch_all(self.pool())
            .await?;
            let mut key: Vec<(i64, String)> = columns
                .iter()
                .filter(|c| c.5 > 0)
                .map(|c| (c.5, c.1.clone()))
                .collect();
            key.sort();
            let columns = columns
                .into_iter()
                .map(|(_, column, declared, not_null, _, key_position)| {
                    let declared = declared.to_ascii_uppercase();
                    let graphql_type = if declared.contains("INT") && key_position > 0 {
                        "ID"
                    } else if declared.contains("BOOL") {
                        "Boolean"
                    } else if declared.contains("INT") {
                        "Int"
                    } else if ["REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL"]
                        .iter()
                        .any(|t| declared.contains(t))
                    {
                        "Float"
                    } else if declared.contains("JSON") {
                        "JSON"
                    } else {
                        "String"
                    };
                    graft_schema::ColumnDescription {
                        name: column,
                        graphql_type: graphql_type.to_owned(),
                        nullable: !not_null && key_position == 0,
                    }
                })
                .collect();
            // id, seq, table, from, to (NULL `to`: the referenced table's primary key).
            let foreign_keys: Vec<(i64, i64, String, String, Option<String>)> = sqlx::query_as(
                "SELECT id, seq, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
            )
            .bind(&name)
            .fetch_all(self.pool())
            .await?;
            all_foreign_keys.extend(foreign_keys.into_iter().map(|(id, seq, target, from, to)| {
                (
                    name.clone(),
                    id.to_string(),
                    from,
                    target,
                    to.map_or(seq.to_string(), |to| to),
                )
            }));
            tables.push(graft_schema::TableDescription {
                schema: None,
                name,
                columns,
                primary_key: key.into_iter().map(|(_, column)| column).collect(),
                foreign_keys: Vec::new(),
            });
        }
        // A foreign key without target columns names the target's primary key, by position.
        let primary_keys: Vec<(String, Vec<String>)> = tables
            .iter()
            .map(|t: &graft_schema::TableDescription| (t.name.clone(), t.primary_key.clone()))
            .collect();
        let rows = all_foreign_keys
            .into_iter()
            .map(|(table, id, from, target, to)| {
                let to = match to.parse::<usize>() {
                    Ok(position) => primary_keys
                        .iter()
                        .find(|(name, _)| *name == target)
                        .and_then(|(_, key)| key.get(position).cloned())
                        .unwrap_or(to),
                    Err(_) => to,
                };
                (table, id, from, target, to)
            });
        crate::attach_foreign_keys(&mut tables, rows.collect::<Vec<_>>());
        Ok(tables)
    }
}
