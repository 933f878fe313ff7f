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
    ApiKeyHash, Isolation, RequestContext, ResolveError, RowSet, SchemaName, StatementKind,
    TenantId, TenantRecord, TenantStatus, TenantStore,
};
use graft_schema::{EntityMapping, SubgraphSchema};

use crate::DbError;
use crate::column::ReadAs;
use crate::dialect::{Dialect, Scope, Statement};
use crate::driver::Driver;
use crate::source::SqlSource;

/// How long one store query may take.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the tenant store and the lifecycle need of a database's SQL, beyond reads and writes.
pub trait TenantSql: Dialect {
    /// The `n`th (from 1) text parameter of a store statement: `$1::text`, `?`, `?1`.
    fn text_parameter(&self, n: usize) -> String;
    /// The parameters of a store statement, texts or NULLs in order.
    fn text_params<'k>(&self, values: Vec<Option<String>>) -> Self::Params<'k>;
    /// The constant position column a store read leads with.
    fn position_zero(&self) -> &'static str {
        "0"
    }
    /// `identifier`, quoted.
    fn quote(&self, identifier: &str) -> String;
    /// The statement creating `schema` for a tenant, if the database has schemas for tenants.
    fn create_schema(&self, schema: &SchemaName) -> Option<String>;
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

/// One versioned migration: `0003_add_orders.sql` is version 3, named `0003_add_orders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version, from the file name's leading digits; migrations apply in its order.
    pub version: u32,
    /// The file name without `.sql`: letters, digits and `_` only.
    pub name: String,
    /// The SQL, `;`-separated statements.
    pub sql: String,
}

impl Migration {
    /// The migration in file `file_name` (`<digits>_<name>.sql`) holding `sql`.
    pub fn new(file_name: &str, sql: String) -> Result<Migration, DbError> {
        let bad = |why: &str| {
            DbError::Mapping(format!(
                "migration {file_name:?}: {why}; name migrations like 0001_create_users.sql"
            ))
        };
        let name = file_name
            .strip_suffix(".sql")
            .ok_or_else(|| bad("not a .sql file"))?;
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        let version = digits
            .parse::<u32>()
            .map_err(|_| bad("no version number at the start"))?;
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("use only letters, digits and `_`"));
        }
        Ok(Migration {
            version,
            name: name.to_owned(),
            sql,
        })
    }

    /// `migrations`, sorted by version; two with one version are refused.
    pub fn ordered(mut migrations: Vec<Migration>) -> Result<Vec<Migration>, DbError> {
        migrations.sort_by_key(|m| m.version);
        for pair in migrations.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(DbError::Mapping(format!(
                    "migrations {} and {} have the same version {}",
                    pair[0].name, pair[1].name, pair[0].version
                )));
            }
        }
        Ok(migrations)
    }
}

/// What a migration run did to one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrated {
    /// The migrations applied now (in a dry run: those that would be), by name.
    pub applied: Vec<String>,
    /// How many were already applied.
    pub up_to_date: usize,
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
               FOREIGN KEY (tenant_id) REFERENCES graft_tenants (id) ON DELETE CASCADE);",
        )
        .await
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
        let mut sql = template.replace("{position}", self.sql().position_zero());
        for n in 1..=parameters {
            sql = sql.replace(&format!("{{{n}}}"), &self.sql().text_parameter(n));
        }
        sql
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

    /// The tenant whose API key has `hash`, if the store has it.
    pub async fn get_by_api_key(&self, hash: &ApiKeyHash) -> Result<Option<TenantRecord>, DbError> {
        let rows = self
            .query(
                "SELECT {position}, t.id, t.slug, t.status, t.isolation, t.schema_name, t.tier, \
                 t.metadata FROM graft_tenant_api_keys k JOIN graft_tenants t ON t.id = k.tenant_id \
                 WHERE k.hash = {1}",
                vec![Some(hash.to_string())],
                7,
            )
            .await?;
        Ok(records(&rows)?.into_iter().next())
    }

    /// Adds an API key (by its hash) to tenant `id`.
    pub async fn add_api_key(&self, id: &TenantId, hash: &ApiKeyHash) -> Result<(), DbError> {
        self.query(
            "INSERT INTO graft_tenant_api_keys (hash, tenant_id) VALUES ({1}, {2})",
            vec![Some(hash.to_string()), Some(id.to_string())],
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

    /// Creates tenant `record`: its schema, migrated, when it has one, then its record, so
    /// that it is served only once its tables are ready. A schema another tenant has is
    /// refused.
    pub async fn create(
        &self,
        record: &TenantRecord,
        migrations: &[Migration],
    ) -> Result<Migrated, DbError> {
        if self.get(&record.id).await?.is_some() {
            return Err(DbError::Exists(format!("tenant `{}` exists", record.id)));
        }
        let mut migrated = Migrated::default();
        if let Isolation::Schema(schema) = &record.isolation {
            migrated = self.make_schema(schema, migrations).await?;
        }
        let (isolation, schema) = isolation_columns(&record.isolation);
        self.query(
            "INSERT INTO graft_tenants (id, slug, status, isolation, schema_name, tier, metadata) \
             VALUES ({1}, {2}, {3}, {4}, {5}, {6}, {7})",
            vec![
                Some(record.id.to_string()),
                record.slug.clone(),
                Some(status_name(record.status).to_owned()),
                Some(isolation.to_owned()),
                schema,
                record.tier.clone(),
                record.metadata.clone(),
            ],
            0,
        )
        .await?;
        Ok(migrated)
    }

    /// Makes `schema` for a tenant and migrates it; refused when another tenant has it.
    async fn make_schema(
        &self,
        schema: &SchemaName,
        migrations: &[Migration],
    ) -> Result<Migrated, DbError> {
        if self.tenant_with_schema(schema).await?.is_some() {
            return Err(DbError::Exists(format!(
                "schema `{schema}` belongs to another tenant"
            )));
        }
        if !self.sql().schema_isolation() {
            return Err(DbError::Isolation("schema"));
        }
        // SQLite's schema is a file, created by the migration's first connection.
        if let Some(create) = self.sql().create_schema(schema) {
            self.execute(&create).await?;
        }
        self.migrate(Some(schema), migrations, false).await
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

    /// Destroys tenant `id`: its schema and everything in it, or, where it shares tables,
    /// its rows of every table `schema` maps (children before the rows they reference), and
    /// then its record and keys. Nothing of another tenant is touched: shared tables are
    /// deleted from by the tenant column, inside the tenant's own scope. `false` when the store
    /// has no such tenant.
    pub async fn destroy(&self, id: &TenantId, schema: &SubgraphSchema) -> Result<bool, DbError> {
        let Some(record) = self.get(id).await? else {
            return Ok(false);
        };
        match &record.isolation {
            Isolation::Schema(name) => {
                if let Some(drop) = self.sql().drop_schema(name) {
                    self.execute(&drop).await?;
                }
                self.source.driver().drop_schema_storage(name).await?;
            }
            Isolation::Rows => self.delete_rows(&record, schema).await?,
            Isolation::None => {
                return Err(DbError::Mapping(format!(
                    "tenant `{id}` has the whole database (isolation none): nothing can be \
                     destroyed for it alone"
                )));
            }
        }
        self.query(
            "DELETE FROM graft_tenant_api_keys WHERE tenant_id = {1}",
            vec![Some(id.to_string())],
            0,
        )
        .await?;
        self.query(
            "DELETE FROM graft_tenants WHERE id = {1}",
            vec![Some(id.to_string())],
            0,
        )
        .await?;
        Ok(true)
    }

    /// The column each row of a shared table names its tenant in; `doing` says what needs it.
    fn tenant_column(&self, record: &TenantRecord, doing: &str) -> Result<&str, DbError> {
        self.tenant_column.as_deref().ok_or_else(|| {
            DbError::Mapping(format!(
                "tenant `{}` shares tables: {doing} it needs [database] tenant_column, the \
                 column its rows are found by",
                record.id
            ))
        })
    }

    /// `DELETE FROM <shared table> WHERE <tenant column> = {1}` for every mapped table,
    /// children first.
    fn deletes(&self, column: &str, schema: &SubgraphSchema) -> Vec<String> {
        purge_order(schema)
            .into_iter()
            .map(|mapping| {
                format!(
                    "DELETE FROM {} WHERE {} = {{1}}",
                    self.sql().table_name(&Scope::default(), mapping),
                    self.sql().quote(column)
                )
            })
            .collect()
    }

    /// Deletes `record`'s rows from every mapped table, in one transaction of its scope.
    async fn delete_rows(
        &self,
        record: &TenantRecord,
        schema: &SubgraphSchema,
    ) -> Result<(), DbError> {
        let column = self.tenant_column(record, "destroying")?;
        let id = Some(record.id.to_string());
        let deletes = self
            .deletes(column, schema)
            .into_iter()
            .map(|sql| (sql, vec![id.clone()]))
            .collect::<Vec<_>>();
        self.in_shared_scope(record, &deletes).await
    }

    /// Promotes tenant `id`, which shares tables, to a schema of its own (`hybrid`: say, a
    /// tenant that grew): `schema` is made and migrated, then, in one transaction of the
    /// tenant's scope, its rows are copied there (parents first), its record switches to the
    /// schema, and its shared rows are deleted (children first). The new schema's tables must
    /// have the shared tables' columns in their order (the same migrations made both). Other
    /// tenants are not touched; the tenant itself should be suspended meanwhile (and for as
    /// long as instances cache its record), so that no write lands in the shared tables after
    /// its rows were copied.
    pub async fn promote(
        &self,
        id: &TenantId,
        schema_name: &SchemaName,
        schema: &SubgraphSchema,
        migrations: &[Migration],
    ) -> Result<Migrated, DbError> {
        let record = self
            .get(id)
            .await?
            .ok_or_else(|| DbError::Mapping(format!("no tenant `{id}`")))?;
        if record.isolation != Isolation::Rows {
            return Err(DbError::Mapping(format!(
                "tenant `{id}` does not share tables: only a tenant isolated by rows is promoted"
            )));
        }
        let column = self.tenant_column(&record, "promoting")?;
        if !self.sql().schemas_share_a_connection() {
            return Err(DbError::Mapping(format!(
                "tenant `{id}` cannot be promoted here: a tenant's schema is a file of its own, \
                 which the shared tables' connection cannot write"
            )));
        }
        let migrated = self.make_schema(schema_name, migrations).await?;
        let own = Scope::of(
            &RequestContext::new("tenant-promote")
                .for_tenant(id.clone(), Isolation::Schema(schema_name.clone())),
        );
        let tenant = Some(id.to_string());
        let mut statements: Vec<(String, Vec<Option<String>>)> = purge_order(schema)
            .into_iter()
            .rev()
            .map(|mapping| {
                let copy = format!(
                    "INSERT INTO {} SELECT * FROM {} WHERE {} = {{1}}",
                    self.sql().table_name(&own, mapping),
                    self.sql().table_name(&Scope::default(), mapping),
                    self.sql().quote(column)
                );
                (copy, vec![tenant.clone()])
            })
            .collect();
        statements.push((
            "UPDATE graft_tenants SET isolation = 'schema', schema_name = {1} WHERE id = {2}"
                .to_owned(),
            vec![Some(schema_name.to_string()), tenant.clone()],
        ));
        for delete in self.deletes(column, schema) {
            statements.push((delete, vec![tenant.clone()]));
        }
        self.in_shared_scope(&record, &statements).await?;
        Ok(migrated)
    }

    /// Runs `statements` (each a template whose `{n}` take its values) in order, in one
    /// transaction of `record`'s scope in the shared tables, so that row-level security lets
    /// them see the tenant's rows (and only those).
    async fn in_shared_scope(
        &self,
        record: &TenantRecord,
        statements: &[(String, Vec<Option<String>>)],
    ) -> Result<(), DbError> {
        let ctx =
            RequestContext::new("tenant-lifecycle").for_tenant(record.id.clone(), Isolation::Rows);
        let scope = Scope::of(&ctx);
        let driver = self.source.driver();
        let mut conn = driver.acquire(&scope, false).await?;
        let outcome = async {
            driver.begin(&mut conn, &scope, self.sql().begin()).await?;
            for (template, values) in statements {
                let statement = Statement::in_order(
                    StatementKind::Delete,
                    self.statement_text(template, values.len()),
                    self.sql().text_params(values.clone()),
                    Vec::new(),
                    0,
                );
                let mut rows = RowSet::new(0, 0);
                driver.query(&mut conn, &statement, &mut rows).await?;
            }
            driver.execute(&mut conn, "COMMIT").await
        }
        .await;
        match outcome {
            Ok(()) => Ok(()),
            Err(error) => {
                driver.abandon(conn);
                Err(error)
            }
        }
    }

    /// Applies the pending `migrations` to `target` (a tenant's schema, or the database's
    /// own schema for `None`), or, in a dry run, says which are pending. On a connection of
    /// its own, closed afterwards, under the target's lock.
    pub async fn migrate(
        &self,
        target: Option<&SchemaName>,
        migrations: &[Migration],
        dry_run: bool,
    ) -> Result<Migrated, DbError> {
        let driver = self.source.driver();
        let scope = target.map_or_else(Scope::default, |schema| Scope::in_schema(schema.clone()));
        let mut conn = driver.acquire(&scope, true).await?;
        let outcome = self
            .migrate_on(&mut conn, target, migrations, dry_run)
            .await;
        match (&outcome, self.sql().lock_is_transaction()) {
            // The run's transaction ended: nothing of it is left on the connection (closing
            // one could lose an in-memory SQLite database).
            (Ok(_), true) => drop(conn),
            (Err(_), true) => driver.abandon(conn),
            // Whatever the outcome: the connection's schema, lock and any open transaction
            // go with it.
            (_, false) => driver.discard(conn),
        }
        outcome
    }

    async fn migrate_on(
        &self,
        conn: &mut D::Conn,
        target: Option<&SchemaName>,
        migrations: &[Migration],
        dry_run: bool,
    ) -> Result<Migrated, DbError> {
        let driver = self.source.driver();
        let sql = self.sql();
        let target_name = target.map_or("", SchemaName::as_str);
        if let Some(lock) = sql.lock_target(target_name) {
            driver.execute(conn, &lock).await?;
        }
        let held = sql.lock_is_transaction();
        // The connection reached the target's schema by its scope (SQLite's file) or here.
        if let Some(use_schema) = target.and_then(|schema| sql.use_schema(schema)) {
            driver.execute(conn, &use_schema).await?;
        }
        driver
            .execute(
                conn,
                "CREATE TABLE IF NOT EXISTS graft_migrations (
                   version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL)",
            )
            .await?;
        let applied = {
            let statement = Statement::numbered(
                self.statement_text("SELECT {position}, name FROM graft_migrations", 0),
                sql.text_params(vec![]),
                vec![ReadAs::Dynamic],
                0,
                None,
                1,
            );
            let mut rows = RowSet::new(1, 1);
            driver.query(conn, &statement, &mut rows).await?;
            rows.rows_of(0)
                .map(|row| text(&rows, row, 0))
                .collect::<Vec<String>>()
        };
        let mut migrated = Migrated::default();
        for migration in migrations {
            if applied.contains(&migration.name) {
                migrated.up_to_date += 1;
                continue;
            }
            if !dry_run {
                // The version is a number and the name letters, digits and `_`
                // ([`Migration::new`]): safe to write into the script.
                let record = format!(
                    "INSERT INTO graft_migrations (version, name) VALUES ({}, '{}')",
                    migration.version, migration.name
                );
                let body = migration.sql.trim_end().trim_end_matches(';');
                let script = if held {
                    format!(
                        "SAVEPOINT graft_migration;\n{body};\n{record};\nRELEASE graft_migration"
                    )
                } else {
                    format!("{};\n{body};\n{record};\nCOMMIT", sql.begin())
                };
                if let Err(error) = driver.execute(conn, &script).await {
                    if held {
                        // Keep the migrations applied before this one.
                        driver
                            .execute(
                                conn,
                                "ROLLBACK TO graft_migration; RELEASE graft_migration; COMMIT",
                            )
                            .await?;
                    }
                    return Err(DbError::Script {
                        script: migration.name.clone(),
                        message: error.to_string(),
                    });
                }
            }
            migrated.applied.push(migration.name.clone());
        }
        if held {
            driver.execute(conn, "COMMIT").await?;
        }
        Ok(migrated)
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
        Box::pin(async move {
            self.get(id)
                .await
                .map_err(|e| ResolveError::TenantStore(e.to_string()))
        })
    }

    fn tenant_by_api_key<'a>(
        &'a self,
        hash: &'a ApiKeyHash,
    ) -> BoxFuture<'a, Result<Option<TenantRecord>, ResolveError>> {
        Box::pin(async move {
            self.get_by_api_key(hash)
                .await
                .map_err(|e| ResolveError::TenantStore(e.to_string()))
        })
    }
}

/// The mapped tables, each once, every table before the tables its rows reference (by
/// `@belongsTo`, or the other way round by `@hasMany`), so that deleting in this order breaks
/// no foreign key; a cycle keeps declaration order.
pub(crate) fn purge_order(schema: &SubgraphSchema) -> Vec<&EntityMapping> {
    let mut tables: Vec<&EntityMapping> = Vec::new();
    for mapping in schema.mappings() {
        if !tables.iter().any(|t| t.table == mapping.table) {
            tables.push(mapping);
        }
    }
    // (child table, parent table) for every relation between two mapped tables.
    let mut edges = Vec::new();
    for mapping in schema.mappings() {
        for relation in mapping.relations.iter().filter(|r| !r.reference) {
            let Some(target) = schema.mapping(&relation.target) else {
                continue;
            };
            let (child, parent) = if relation.many {
                (&target.table, &mapping.table)
            } else {
                (&mapping.table, &target.table)
            };
            if child != parent {
                edges.push((child.clone(), parent.clone()));
            }
        }
    }
    let mut ordered = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        // A table no remaining table references goes next.
        let next = tables
            .iter()
            .position(|t| {
                !edges.iter().any(|(child, parent)| {
                    *parent == t.table && tables.iter().any(|c| c.table == *child)
                })
            })
            .unwrap_or(0);
        ordered.push(tables.remove(next));
    }
    ordered
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
    /// Adds an API key, by its hash, to a tenant.
    fn add_api_key<'a>(
        &'a self,
        id: &'a TenantId,
        hash: &'a ApiKeyHash,
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
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(SqlTenantStore::add_api_key(self, id, hash))
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
