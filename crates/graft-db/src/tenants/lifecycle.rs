//! The lifecycle of a tenant in the database: its schema made and migrated before its record,
//! its data destroyed and nothing else, a tenant sharing tables promoted to a schema of its
//! own.

use graft_resolve::{
    Isolation, RequestContext, RowSet, SchemaName, StatementKind, TenantId, TenantRecord,
};
use graft_schema::{EntityMapping, SubgraphSchema};

use super::{Migrated, Migration, SqlTenantStore, TenantSql, isolation_columns, status_name, text};
use crate::DbError;
use crate::dialect::{Dialect, Scope, Statement};
use crate::driver::{Driver, HeldConn};

impl<D: Driver> SqlTenantStore<D>
where
    D::Dialect: TenantSql,
{
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
        self.refuse_reserved(schema).await?;
        // SQLite's schema is a file, created by the migration's first connection.
        if let Some(create) = self.sql().create_schema(schema) {
            self.execute(&create).await?;
        }
        self.migrate(Some(schema), migrations, false).await
    }

    /// Refuses `schema` as a tenant's when it is the shared one or one of the database's own
    /// ([`TenantSql::reserved_schema`]): a tenant's statements there would be unscoped, and
    /// destroying the tenant would drop it.
    async fn refuse_reserved(&self, schema: &SchemaName) -> Result<(), DbError> {
        let Some(reserved) = self.sql().reserved_schema() else {
            return Ok(());
        };
        let rows = self
            .query(reserved, vec![Some(schema.to_string())], 1)
            .await?;
        if rows
            .rows_of(0)
            .next()
            .map(|row| text(&rows, row, 0))
            .as_deref()
            != Some("0")
        {
            return Err(DbError::Mapping(format!(
                "schema `{schema}` is the shared one or the database's own: a tenant's schema \
                 must be a schema of its own (destroying the tenant drops it)"
            )));
        }
        Ok(())
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
                // Checked again: a record written before the check existed, or by hand, may
                // name a schema no tenant may have.
                self.refuse_reserved(name).await?;
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
        // Abandoned if this future is dropped mid-transaction (the admin's client went away):
        // the open transaction, with the tenant's setting, never reaches the pool.
        let mut held = HeldConn::new(driver, driver.acquire(&scope, false).await?);
        let conn = held.conn();
        let outcome = async {
            driver.begin(conn, &scope, self.sql().begin()).await?;
            for (template, values) in statements {
                let statement = Statement::in_order(
                    StatementKind::Delete,
                    self.statement_text(template, values.len()),
                    self.sql().text_params(values.clone()),
                    Vec::new(),
                    0,
                );
                let mut rows = RowSet::new(0, 0);
                driver.query(conn, &statement, &mut rows).await?;
            }
            driver.execute(conn, "COMMIT").await
        }
        .await;
        match outcome {
            Ok(()) => {
                held.release();
                Ok(())
            }
            Err(error) => {
                held.abandon();
                Err(error)
            }
        }
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
