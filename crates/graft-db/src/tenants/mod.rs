//! Tenants kept in the database: [`SqlTenantStore`], the [`TenantStore`] graft reads them from,
//! and their lifecycle: creating a tenant's schema, applying [`Migration`]s to every schema,
//! destroying a tenant's data and nothing else.
//!
//! The store is two tables in the database's own schema (the one its URL names), created by
//! [`SqlTenantStore::install`]: `graft_tenants` (id, slug, status, isolation, schema) and
//! `graft_tenant_api_keys` (the SHA-256 of each key, and its tenant). Its queries go through
//! the same [`Driver`] as every other statement, with text parameters only.
//!
//! Migrations run per *target*: the database's own schema (the template, and the tables
//! tenants share under `rows` isolation) and the schema of each tenant isolated by `schema`.
//! A target is migrated on a connection of its own, which is closed afterwards, so that
//! nothing set on it (`search_path`, `USE`, a lock) reaches the pool: under a lock that keeps
//! two runs off one target, each pending migration in a transaction of its own (PostgreSQL
//! and SQLite roll a failed one back whole; MariaDB commits DDL as it goes), recorded in the
//! target's `graft_migrations` table, so that a run that failed or was killed resumes where it
//! stopped.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use graft_resolve::{
    ApiKeyGrant, ApiKeyHash, Isolation, RequestContext, ResolveError, RowSet, SchemaName, TenantId,
    TenantRecord, TenantStatus, TenantStore,
};
use graft_schema::SubgraphSchema;

use crate::DbError;
use crate::column::ReadAs;
use crate::dialect::{Dialect, Scope, Statement};
use crate::driver::Driver;
use crate::source::SqlSource;

mod lifecycle;
mod migrations;

pub use migrations::{Migrated, Migration};

/// How long one store query may take.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the tenant store and the lifecycle need of a database's SQL, beyond reads and writes.
pub trait TenantSql: Dialect {
    /// The `n`th (from 1) text parameter of a store statement: `$1::text`, `?`, `?1`.
    fn text_parameter(&self, n: usize) -> String;
    /// The parameters of a store statement, texts or NULLs in order.
    fn text_params<'k>(&self, values: Vec<Option<String>>) -> Self::Params<'k>;
    /// A statement answering one row, `{position}` then 1 when the table `name` exists in the
    /// connection's own schema, 0 otherwise: a probe that cannot fail (and so cannot abort a
    /// PostgreSQL transaction), needing no privilege beyond reading the catalog.
    fn table_exists(&self, name: &str) -> String;
    /// A statement answering one row, `{position}` then 1 when `table` in the connection's
    /// own schema has `column`, 0 otherwise.
    fn column_exists(&self, table: &str, column: &str) -> String;
    /// The column definition of a response of any size: `response TEXT`, or MariaDB's
    /// `response LONGTEXT` (its `TEXT` holds 64 KiB).
    fn long_text(&self) -> &'static str {
        "response TEXT"
    }
    /// `INSERT INTO <rest>` that does nothing where a row with the same primary key exists.
    fn insert_or_ignore(&self, rest: &str) -> String;
    /// The constant position column a store read leads with.
    fn position_zero(&self) -> &'static str {
        "0"
    }
    /// `identifier`, quoted.
    fn quote(&self, identifier: &str) -> String;
    /// The statement creating `schema` for a tenant, if the database has schemas for tenants.
    fn create_schema(&self, schema: &SchemaName) -> Option<String>;
    /// A statement answering one row, `{position}` then `1` when the schema named by
    /// parameter `{1}` may not be a tenant's (the connection's own, where the shared tables and
    /// the store live, or one of the database's own), `0` otherwise; `None` where tenants'
    /// schemas are files. Destroying a tenant drops its schema: it must never be one of these.
    fn reserved_schema(&self) -> Option<&'static str>;
    /// The statement dropping `schema` and everything in it.
    fn drop_schema(&self, schema: &SchemaName) -> Option<String>;
    /// The statement that makes the unqualified names of later statements on a connection of
    /// its own name `schema`'s tables (a migration's).
    fn use_schema(&self, schema: &SchemaName) -> Option<String>;
    /// The statement taking the lock that keeps two migration runs off the target called
    /// `target`, held until the connection closes.
    fn lock_target(&self, target: &str) -> Option<String>;
    /// Whether one connection reaches every tenant's schema, as promoting a tenant (copying
    /// its rows from the shared tables to its schema) needs: not SQLite's files.
    fn schemas_share_a_connection(&self) -> bool {
        true
    }
    /// Whether the lock is a transaction held for the whole run (SQLite's `BEGIN IMMEDIATE`,
    /// its only lock): each migration then runs in a savepoint of it, and the run commits at
    /// its end.
    fn lock_is_transaction(&self) -> bool {
        false
    }
}

/// `template` with `{position}` for the leading position column and `{n}` for the `n`th
/// parameter, in `dialect`.
pub(crate) fn bookkeeping_sql(
    dialect: &impl TenantSql,
    template: &str,
    parameters: usize,
) -> String {
    let mut sql = template.replace("{position}", dialect.position_zero());
    for n in 1..=parameters {
        sql = sql.replace(&format!("{{{n}}}"), &dialect.text_parameter(n));
    }
    sql
}

/// The tenants of one database, and their lifecycle.
pub struct SqlTenantStore<D: Driver> {
    source: SqlSource<D>,
    /// The column naming each row's tenant in shared tables: what destroying a tenant that
    /// shares tables deletes by.
    tenant_column: Option<String>,
}

impl<D: Driver> std::fmt::Debug for SqlTenantStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTenantStore")
            .field("backend", &D::BACKEND)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, slug, status, isolation, schema_name, tier, metadata";

impl<D: Driver> SqlTenantStore<D>
where
    D::Dialect: TenantSql,
{
    /// The store in `source`'s database. `tenant_column` names each row's tenant in shared
    /// tables; without it, a tenant that shares tables cannot be destroyed.
    pub fn new(source: SqlSource<D>, tenant_column: Option<String>) -> SqlTenantStore<D> {
        SqlTenantStore {
            source,
            tenant_column,
        }
    }

    fn sql(&self) -> &D::Dialect {
        self.source.dialect()
    }

    /// Creates the store's tables where they are missing.
    pub async fn install(&self) -> Result<(), DbError> {
        self.execute(
            "CREATE TABLE IF NOT EXISTS graft_tenants (
               id VARCHAR(63) NOT NULL PRIMARY KEY,
               slug VARCHAR(200),
               status VARCHAR(16) NOT NULL,
               isolation VARCHAR(16) NOT NULL,
               schema_name VARCHAR(63) UNIQUE,
               tier VARCHAR(32),
               metadata TEXT);
             CREATE TABLE IF NOT EXISTS graft_tenant_api_keys (
               hash CHAR(64) NOT NULL PRIMARY KEY,
               tenant_id VARCHAR(63) NOT NULL,
               scopes TEXT,
               FOREIGN KEY (tenant_id) REFERENCES graft_tenants (id) ON DELETE CASCADE);",
        )
        .await?;
        // Stores made before keys had scopes get the column.
        let probe = self.sql().column_exists("graft_tenant_api_keys", "scopes");
        let rows = self.query(&probe, vec![], 1).await?;
        let has_scopes = rows
            .rows_of(0)
            .next()
            .is_some_and(|row| text(&rows, row, 0) != "0");
        if !has_scopes {
            self.execute("ALTER TABLE graft_tenant_api_keys ADD COLUMN scopes TEXT")
                .await?;
        }
        Ok(())
    }

    /// Runs a statement without rows or parameters on a pooled connection.
    async fn execute(&self, sql: &str) -> Result<(), DbError> {
        let driver = self.source.driver();
        let mut conn = driver.acquire(&Scope::default(), false).await?;
        match tokio::time::timeout(STORE_TIMEOUT, driver.execute(&mut conn, sql)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                driver.cancel(conn);
                Err(DbError::Timeout)
            }
        }
    }

    /// Runs a store statement whose `?` markers (`{1}`, `{2}`, ...) take `values`; its rows,
    /// `width` text columns each, all at position 0.
    async fn query(
        &self,
        template: &str,
        values: Vec<Option<String>>,
        width: usize,
    ) -> Result<RowSet, DbError> {
        let sql = self.statement_text(template, values.len());
        let statement = Statement::numbered(
            sql,
            self.sql().text_params(values),
            vec![ReadAs::Dynamic; width],
            0,
            None,
            1,
        );
        let ctx = RequestContext {
            deadline: Some(Instant::now() + STORE_TIMEOUT),
            ..RequestContext::new("tenant-store")
        };
        self.source
            .read_statement(&ctx, &Scope::default(), statement)
            .await
    }

    /// `template` with `{position}` for the leading position column and `{n}` for the `n`th
    /// parameter, in this dialect.
    fn statement_text(&self, template: &str, parameters: usize) -> String {
        bookkeeping_sql(self.sql(), template, parameters)
    }

    /// Every tenant, by id.
    pub async fn list(&self) -> Result<Vec<TenantRecord>, DbError> {
        let rows = self
            .query(
                &format!("SELECT {{position}}, {COLUMNS} FROM graft_tenants ORDER BY id"),
                vec![],
                7,
            )
            .await?;
        records(&rows)
    }

    /// The tenant `id`, if the store has it.
    pub async fn get(&self, id: &TenantId) -> Result<Option<TenantRecord>, DbError> {
        let rows = self
            .query(
                &format!("SELECT {{position}}, {COLUMNS} FROM graft_tenants WHERE id = {{1}}"),
                vec![Some(id.to_string())],
                7,
            )
            .await?;
        Ok(records(&rows)?.into_iter().next())
    }

    /// The tenant whose API key has `hash`, and the key's scopes, if the store has it.
    pub async fn get_by_api_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyGrant>, DbError> {
        let rows = self
            .query(
                "SELECT {position}, t.id, t.slug, t.status, t.isolation, t.schema_name, t.tier, \
                 t.metadata, k.scopes FROM graft_tenant_api_keys k \
                 JOIN graft_tenants t ON t.id = k.tenant_id WHERE k.hash = {1}",
                vec![Some(hash.to_string())],
                8,
            )
            .await?;
        let scopes = rows.rows_of(0).next().and_then(|row| {
            let cell = rows.cells(row).get(7)?;
            matches!(cell, graft_resolve::Cell::Text { .. }).then(|| {
                text(&rows, row, 7)
                    .split_ascii_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
        });
        Ok(records(&rows)?
            .into_iter()
            .next()
            .map(|tenant| ApiKeyGrant { tenant, scopes }))
    }

    /// Adds an API key (by its hash) to tenant `id`, granting `scopes` (`None`: the
    /// tenancy's default scopes).
    pub async fn add_api_key(
        &self,
        id: &TenantId,
        hash: &ApiKeyHash,
        scopes: Option<&[String]>,
    ) -> Result<(), DbError> {
        self.query(
            "INSERT INTO graft_tenant_api_keys (hash, tenant_id, scopes) VALUES ({1}, {2}, {3})",
            vec![
                Some(hash.to_string()),
                Some(id.to_string()),
                scopes.map(|scopes| scopes.join(" ")),
            ],
            0,
        )
        .await
        .map(drop)
    }

    /// Sets tenant `id`'s status; `false` when the store has no such tenant.
    pub async fn set_status(&self, id: &TenantId, status: TenantStatus) -> Result<bool, DbError> {
        if self.get(id).await?.is_none() {
            return Ok(false);
        }
        self.query(
            "UPDATE graft_tenants SET status = {1} WHERE id = {2}",
            vec![Some(status_name(status).to_owned()), Some(id.to_string())],
            0,
        )
        .await?;
        Ok(true)
    }

    async fn tenant_with_schema(&self, schema: &SchemaName) -> Result<Option<String>, DbError> {
        let rows = self
            .query(
                "SELECT {position}, id FROM graft_tenants WHERE schema_name = {1}",
                vec![Some(schema.to_string())],
                1,
            )
            .await?;
        Ok(rows.rows_of(0).next().map(|row| text(&rows, row, 0)))
    }
}

impl<D: Driver> TenantStore for SqlTenantStore<D>
where
    D::Dialect: TenantSql,
{
    fn tenant<'a>(
        &'a self,
        id: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<TenantRecord>, ResolveError>> {
        Box::pin(async move { self.get(id).await.map_err(store_failed) })
    }

    fn tenant_by_api_key<'a>(
        &'a self,
        hash: &'a ApiKeyHash,
    ) -> BoxFuture<'a, Result<Option<ApiKeyGrant>, ResolveError>> {
        Box::pin(async move { self.get_by_api_key(hash).await.map_err(store_failed) })
    }
}

/// A store failure as the resolver sees it: the store could not answer.
fn store_failed(error: DbError) -> ResolveError {
    ResolveError::TenantStore(error.to_string())
}

fn status_name(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Active => "active",
        TenantStatus::Suspended => "suspended",
    }
}

/// The `isolation` and `schema_name` columns of `isolation`.
fn isolation_columns(isolation: &Isolation) -> (&'static str, Option<String>) {
    match isolation {
        Isolation::None => ("none", None),
        Isolation::Schema(schema) => ("schema", Some(schema.to_string())),
        Isolation::Rows => ("rows", None),
    }
}

/// Cell `column` of `row`, as text (`""` for NULL).
fn text(rows: &RowSet, row: u32, column: usize) -> String {
    match rows.cells(row).get(column) {
        Some(
            graft_resolve::Cell::Text { start, len } | graft_resolve::Cell::Json { start, len },
        ) => rows.text(*start, *len).to_owned(),
        Some(graft_resolve::Cell::Int(i)) => i.to_string(),
        _ => String::new(),
    }
}

/// The tenants in `rows` (id, slug, status, isolation, schema_name, tier, metadata); a row the
/// store could not have written is an error, never a tenant served some other way.
fn records(rows: &RowSet) -> Result<Vec<TenantRecord>, DbError> {
    rows.rows_of(0)
        .map(|row| {
            let field = |column| text(rows, row, column);
            let id = TenantId::new(&field(0))
                .map_err(|e| DbError::Decode(format!("graft_tenants.id: {e}")))?;
            let slug = Some(field(1)).filter(|s| !s.is_empty());
            let status = match field(2).as_str() {
                "active" => TenantStatus::Active,
                "suspended" => TenantStatus::Suspended,
                other => {
                    return Err(DbError::Decode(format!(
                        "graft_tenants.status of `{id}`: {other:?} is not active or suspended"
                    )));
                }
            };
            let isolation = match (field(3).as_str(), field(4)) {
                ("none", _) => Isolation::None,
                ("rows", _) => Isolation::Rows,
                ("schema", schema) => Isolation::Schema(SchemaName::new(&schema).map_err(|e| {
                    DbError::Decode(format!("graft_tenants.schema_name of `{id}`: {e}"))
                })?),
                (other, _) => {
                    return Err(DbError::Decode(format!(
                        "graft_tenants.isolation of `{id}`: {other:?} is not none, schema or rows"
                    )));
                }
            };
            Ok(TenantRecord {
                id,
                status,
                isolation,
                slug,
                tier: Some(field(5)).filter(|s| !s.is_empty()),
                metadata: Some(field(6)).filter(|s| !s.is_empty()),
            })
        })
        .collect()
}

/// What the command line and the admin API do with tenants, whatever the database:
/// [`SqlTenantStore`] behind one object-safe trait.
pub trait TenantAdmin: TenantStore {
    /// What the store's database can do, tenant isolations included: a tenant the data
    /// source could not keep apart must not be created.
    fn capabilities(&self) -> graft_resolve::Capabilities;
    /// Creates the store's tables where they are missing.
    fn install(&self) -> BoxFuture<'_, Result<(), DbError>>;
    /// Every tenant, by id.
    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantRecord>, DbError>>;
    /// The tenant `id`, if the store has it.
    fn get<'a>(&'a self, id: &'a TenantId) -> BoxFuture<'a, Result<Option<TenantRecord>, DbError>>;
    /// Creates a tenant, its schema migrated first ([`SqlTenantStore::create`]).
    fn create<'a>(
        &'a self,
        record: &'a TenantRecord,
        migrations: &'a [Migration],
    ) -> BoxFuture<'a, Result<Migrated, DbError>>;
    /// Sets a tenant's status; `false` when there is no such tenant.
    fn set_status<'a>(
        &'a self,
        id: &'a TenantId,
        status: TenantStatus,
    ) -> BoxFuture<'a, Result<bool, DbError>>;
    /// Adds an API key, by its hash, to a tenant, granting `scopes` (`None`: the default).
    fn add_api_key<'a>(
        &'a self,
        id: &'a TenantId,
        hash: &'a ApiKeyHash,
        scopes: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<(), DbError>>;
    /// Destroys a tenant and its data ([`SqlTenantStore::destroy`]).
    fn destroy<'a>(
        &'a self,
        id: &'a TenantId,
        schema: &'a SubgraphSchema,
    ) -> BoxFuture<'a, Result<bool, DbError>>;
    /// Promotes a tenant that shares tables to a schema of its own
    /// ([`SqlTenantStore::promote`]).
    fn promote<'a>(
        &'a self,
        id: &'a TenantId,
        schema_name: &'a SchemaName,
        schema: &'a SubgraphSchema,
        migrations: &'a [Migration],
    ) -> BoxFuture<'a, Result<Migrated, DbError>>;
    /// Migrates one target ([`SqlTenantStore::migrate`]).
    fn migrate<'a>(
        &'a self,
        target: Option<&'a SchemaName>,
        migrations: &'a [Migration],
        dry_run: bool,
    ) -> BoxFuture<'a, Result<Migrated, DbError>>;
}

impl<D: Driver> TenantAdmin for SqlTenantStore<D>
where
    D::Dialect: TenantSql,
{
    fn capabilities(&self) -> graft_resolve::Capabilities {
        graft_resolve::EntitySource::capabilities(&self.source)
    }

    fn install(&self) -> BoxFuture<'_, Result<(), DbError>> {
        Box::pin(SqlTenantStore::install(self))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantRecord>, DbError>> {
        Box::pin(SqlTenantStore::list(self))
    }

    fn get<'a>(&'a self, id: &'a TenantId) -> BoxFuture<'a, Result<Option<TenantRecord>, DbError>> {
        Box::pin(SqlTenantStore::get(self, id))
    }

    fn create<'a>(
        &'a self,
        record: &'a TenantRecord,
        migrations: &'a [Migration],
    ) -> BoxFuture<'a, Result<Migrated, DbError>> {
        Box::pin(SqlTenantStore::create(self, record, migrations))
    }

    fn set_status<'a>(
        &'a self,
        id: &'a TenantId,
        status: TenantStatus,
    ) -> BoxFuture<'a, Result<bool, DbError>> {
        Box::pin(SqlTenantStore::set_status(self, id, status))
    }

    fn add_api_key<'a>(
        &'a self,
        id: &'a TenantId,
        hash: &'a ApiKeyHash,
        scopes: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(SqlTenantStore::add_api_key(self, id, hash, scopes))
    }

    fn destroy<'a>(
        &'a self,
        id: &'a TenantId,
        schema: &'a SubgraphSchema,
    ) -> BoxFuture<'a, Result<bool, DbError>> {
        Box::pin(SqlTenantStore::destroy(self, id, schema))
    }

    fn promote<'a>(
        &'a self,
        id: &'a TenantId,
        schema_name: &'a SchemaName,
        schema: &'a SubgraphSchema,
        migrations: &'a [Migration],
    ) -> BoxFuture<'a, Result<Migrated, DbError>> {
        Box::pin(SqlTenantStore::promote(
            self,
            id,
            schema_name,
            schema,
            migrations,
        ))
    }

    fn migrate<'a>(
        &'a self,
        target: Option<&'a SchemaName>,
        migrations: &'a [Migration],
        dry_run: bool,
    ) -> BoxFuture<'a, Result<Migrated, DbError>> {
        Box::pin(SqlTenantStore::migrate(self, target, migrations, dry_run))
    }
}

/// The lines of a source's `shared_keys` for `keys` (each described: `unique index x`) of
/// `table`, which `mapping` maps: each leaves out the tenant column, so tenants sharing the
/// table under `rows` isolation share the key too.
pub(crate) fn shared_key_lines<'a>(
    table: &'a str,
    mapping: &'a graft_schema::EntityMapping,
    keys: Vec<String>,
    tenant_column: &'a str,
) -> impl Iterator<Item = String> + 'a {
    keys.into_iter().map(move |key| {
        format!(
            "table {table} (type {}): {key} does not include {tenant_column:?}",
            mapping.type_name
        )
    })
}
