//! SQLite through sqlx.

mod rows;
mod sql;

use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use graft_keys::KeyValue;
use graft_resolve::{
    BoxFuture, EntitySource, FetchRequest, PageRequest, RequestContext, ResolveError, RowSet,
};
use sqlx::Executor;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::DbError;

/// Pool settings for a SQLite source.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// `sqlite://path/to.db`, or `sqlite::memory:` style URLs.
    pub url: String,
    /// Most open connections (default 4).
    pub max_connections: u32,
    /// How long a request waits for a connection (default 5 s).
    pub acquire_timeout: Duration,
}

impl SqliteConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> SqliteConfig {
        SqliteConfig {
            url: url.into(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// An [`EntitySource`] over one SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    name: String,
    pool: SqlitePool,
}

impl SqliteSource {
    /// Opens a pool to the database at `config.url` (creating the file if missing).
    pub async fn connect(
        name: impl Into<String>,
        config: &SqliteConfig,
    ) -> Result<SqliteSource, DbError> {
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|e| DbError::Url(format!("{}: {e}", config.url)))?
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(SqliteSource {
            name: name.into(),
            pool,
        })
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
        let mut connection = self.pool.acquire().await?;
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
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The SQL text a fetch runs: the same for any number of keys. Benchmarks time it bare.
    pub fn statement_sql(&self, request: FetchRequest<'_>) -> String {
        sql::batch_select(&request)
    }

    /// SQLite's query plan (`EXPLAIN QUERY PLAN`) for the statement a fetch would run, one line
    /// per plan step: shows that each key is a primary-key search, not a scan.
    pub async fn query_plan(&self, request: FetchRequest<'_>) -> Result<Vec<String>, DbError> {
        let sql = format!("EXPLAIN QUERY PLAN {}", sql::batch_select(&request));
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql)
            .bind(sql::keys_parameter(request.keys))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(_, _, _, detail)| detail).collect())
    }

    /// Describes every table of the database, with the GraphQL type of each column, for
    /// `graft init`.
    pub async fn describe_tables(&self) -> Result<Vec<graft_schema::TableDescription>, DbError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut tables = Vec::new();
        let mut all_foreign_keys = Vec::new();
        for name in names {
            // cid, name, type, notnull, default, pk (1-based position in the key, 0 if none).
            let columns: Vec<(i64, String, String, bool, Option<String>, i64)> = sqlx::query_as(
                "SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)",
            )
            .bind(&name)
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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

    /// The pool, for tests and monitoring.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn page_rows(&self, request: PageRequest<'_>) -> Result<RowSet, DbError> {
        let sql = sql::page_select(&request);
        let mut query = sqlx::query(&sql);
        for value in request.after.map(|key| key.values()).unwrap_or_default() {
            query = match value {
                KeyValue::String(s) => query.bind(s.to_string()),
                KeyValue::Int(i) => query.bind(*i),
                KeyValue::Float(f) => query.bind(f.get()),
                KeyValue::Boolean(b) => query.bind(*b),
            };
        }
        let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
        let mut rows = RowSet::new(1, request.columns.len());
        rows.count_statement();
        let mut stream = query.bind(limit).fetch(&self.pool);
        while let Some(row) = stream.try_next().await? {
            rows::read_row(&row, request.columns.len(), &mut rows)?;
        }
        Ok(rows)
    }

    async fn fetch_rows(&self, request: FetchRequest<'_>) -> Result<RowSet, DbError> {
        let sql = sql::batch_select(&request);
        let keys = sql::keys_parameter(request.keys);
        let mut rows = RowSet::new(request.keys.len(), request.columns.len());
        rows.count_statement();
        let mut query = sqlx::query(&sql).bind(keys);
        if let Some(limit) = sql::per_key_limit(&request) {
            query = query.bind(limit);
        }
        if let Some(limit) = sql::row_limit(&request) {
            query = query.bind(limit);
        }
        let mut stream = query.fetch(&self.pool);
        while let Some(row) = stream.try_next().await? {
            rows::read_row(&row, request.columns.len(), &mut rows)?;
        }
        Ok(rows)
    }
}

impl EntitySource for SqliteSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn page<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            self.page_rows(request)
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
            tracing::trace!(request_id = %ctx.request_id, source = %self.name, keys = request.keys.len(), "fetch");
            self.fetch_rows(request)
                .await
                .map_err(|e| e.into_resolve_error(&self.name))
        })
    }
}
