//! The SQL SQLite speaks: [`SqliteDialect`].

use std::borrow::Cow;
use std::fmt::Write as _;

use graft_keys::{EntityKey, KeyValue};
use graft_resolve::{
    DeleteRequest, FetchRequest, InsertRequest, PageRequest, StatementKind, UpdateRequest,
    WriteValue,
};
use graft_schema::EntityMapping;

use crate::column::ReadAs;
use crate::dialect::{
    Dialect, Scope, Statement, WriteStatements, column_name, insert_into, push_json_string,
    rows_json,
};
use crate::{DbError, first_key_order, qualified_name, quote_double};

/// One parameter, as sqlx binds it for SQLite.
#[derive(Debug, Clone, PartialEq)]
pub enum SqliteBind<'k> {
    /// NULL.
    Null,
    /// An integer (booleans are 0 and 1).
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(Cow<'k, str>),
}

/// SQLite's SQL: keys as one JSON array joined through `json_each`, written rows read back
/// with `RETURNING`. SQLite needs no catalog: it reads each value as its storage class says.
#[derive(Debug, Clone, Default)]
pub struct SqliteDialect {
    /// The column naming each row's tenant, where tenants share tables.
    pub(crate) tenant_column: Option<String>,
    /// Whether tenants isolated by `schema` have files of their own.
    pub(crate) tenant_files: bool,
}

impl SqliteDialect {
    /// The tenant column and the tenant's id as its value, when `scope` confines statements to
    /// one tenant's rows; refused when there is no tenant column to confine them by.
    fn tenant(&self, scope: &Scope) -> Result<Option<(&str, SqliteBind<'static>)>, DbError> {
        match (scope.tenant_rows(), &self.tenant_column) {
            (None, _) => Ok(None),
            (Some(tenant), Some(column)) => Ok(Some((
                column,
                SqliteBind::Text(Cow::Owned(tenant.as_str().to_owned())),
            ))),
            (Some(_), None) => Err(DbError::Isolation("rows")),
        }
    }

    /// Refuses a write that sets the tenant column: graft fills it in from the request's
    /// tenant, and a client that set it could move a row to another tenant.
    fn check_written(&self, mapping: &EntityMapping, columns: &[usize]) -> Result<(), DbError> {
        let Some(tenant_column) = &self.tenant_column else {
            return Ok(());
        };
        for &index in columns {
            if column_name(mapping, index)?.eq_ignore_ascii_case(tenant_column) {
                return Err(DbError::Mapping(format!(
                    "row isolation: type {} writes the tenant column `{tenant_column}`, which \
                     graft fills in from the request's tenant",
                    mapping.type_name
                )));
            }
        }
        Ok(())
    }
}

/// Appends ` AND "tenant" = ?n` and binds the tenant's id, when there is one.
fn and_tenant<'k>(
    sql: &mut String,
    params: &mut Vec<SqliteBind<'k>>,
    tenant: Option<(&str, SqliteBind<'k>)>,
) {
    if let Some((column, value)) = tenant {
        params.push(value);
        let _ = write!(sql, " AND {} = ?{}", quote_double(column), params.len());
    }
}

impl Dialect for SqliteDialect {
    type Params<'k> = Vec<SqliteBind<'k>>;

    /// A tenant's schema is a file of its own, which the driver picks by the request's scope:
    /// table names stay unqualified.
    fn schema_isolation(&self) -> bool {
        self.tenant_files
    }

    /// SQLite has no row-level security: tenants share tables only with a tenant column,
    /// which every statement is confined by and every insert fills in.
    fn row_isolation(&self) -> bool {
        self.tenant_column.is_some()
    }

    fn table_name(&self, _scope: &Scope, mapping: &EntityMapping) -> String {
        table_name(mapping)
    }

    fn fetch<'k>(
        &self,
        scope: &Scope,
        request: &FetchRequest<'k>,
    ) -> Result<Option<Statement<Self::Params<'k>>>, DbError> {
        let tenant = self.tenant(scope)?;
        let tenant_column = tenant.as_ref().map(|(column, _)| *column);
        let sql = batch_select(request, tenant_column);
        let mut params = vec![SqliteBind::Text(keys_parameter(request.keys).into())];
        params.extend(tenant.map(|(_, value)| value));
        params.extend(per_key_limit(request).map(SqliteBind::Int));
        params.extend(row_limit(request).map(SqliteBind::Int));
        Ok(Some(Statement::numbered(
            sql,
            params,
            vec![ReadAs::Dynamic; request.columns.len()],
            0,
            None,
            request.keys.len(),
        )))
    }

    fn page<'k>(
        &self,
        scope: &Scope,
        request: &PageRequest<'k>,
    ) -> Result<Statement<Self::Params<'k>>, DbError> {
        let tenant = self.tenant(scope)?;
        let sql = page_select(request, tenant.as_ref().map(|(column, _)| *column));
        let mut params: Vec<SqliteBind<'k>> = request
            .after
            .map(|key| key.values())
            .unwrap_or_default()
            .iter()
            .map(key_bind)
            .collect();
        params.extend(tenant.map(|(_, value)| value));
        params.push(SqliteBind::Int(
            i64::try_from(request.limit).unwrap_or(i64::MAX),
        ));
        Ok(Statement::numbered(
            sql,
            params,
            vec![ReadAs::Dynamic; request.columns.len()],
            0,
            None,
            1,
        )
        .reported_as(StatementKind::Page))
    }

    /// `INSERT INTO "t" ("a", "b") SELECT v.value ->> 0, v.value ->> 1 FROM json_each(?1) AS v
    /// ORDER BY v.key RETURNING ...`: every row in one JSON parameter, so one text for any
    /// number of rows and no limit on bound variables.
    fn insert<'k>(
        &self,
        scope: &Scope,
        request: &InsertRequest<'k>,
    ) -> Result<WriteStatements<Self::Params<'k>>, DbError> {
        let mapping = request.mapping;
        self.check_written(mapping, request.columns)?;
        let tenant = self.tenant(scope)?;
        let mut sql = insert_into(&table_name(mapping), mapping, request.columns, quote_double)?;
        if let Some((column, _)) = &tenant {
            let _ = write!(sql, ", {}", quote_double(column));
        }
        sql.push_str(") SELECT ");
        for i in 0..request.columns.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "v.value ->> {i}");
        }
        if tenant.is_some() {
            sql.push_str(", ?2");
        }
        sql.push_str(" FROM json_each(?1) AS v ORDER BY v.key");
        returning(&mut sql, mapping, request.returning)?;
        let mut params = vec![SqliteBind::Text(rows_json(request, json_value).into())];
        params.extend(tenant.map(|(_, value)| value));
        Ok(WriteStatements {
            write: Statement::in_order(
                StatementKind::Insert,
                sql,
                params,
                vec![ReadAs::Dynamic; request.returning.len()],
                request.rows.len(),
            ),
            read_back: None,
        })
    }

    /// `UPDATE "t" SET "a" = ?1 WHERE "k" = ?2 RETURNING ...`.
    fn update<'k>(
        &self,
        scope: &Scope,
        request: &UpdateRequest<'k>,
    ) -> Result<Option<WriteStatements<Self::Params<'k>>>, DbError> {
        let mapping = request.mapping;
        let set: Vec<usize> = request.set.iter().map(|(index, _)| *index).collect();
        self.check_written(mapping, &set)?;
        let tenant = self.tenant(scope)?;
        let mut sql = format!("UPDATE {} SET ", table_name(mapping));
        let mut params = Vec::with_capacity(request.set.len() + request.match_columns.len());
        for (i, (column, value)) in request.set.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(
                sql,
                "{} = ?{}",
                quote_double(column_name(mapping, *column)?),
                i + 1
            );
            params.push(write_bind(value));
        }
        by_key(&mut sql, &mut params, request.match_columns, request.key);
        and_tenant(&mut sql, &mut params, tenant);
        returning(&mut sql, mapping, request.returning)?;
        Ok(Some(one_row(
            StatementKind::Update,
            sql,
            params,
            request.returning.len(),
        )))
    }

    /// `DELETE FROM "t" WHERE "k" = ?1 RETURNING ...`.
    fn delete<'k>(
        &self,
        scope: &Scope,
        request: &DeleteRequest<'k>,
    ) -> Result<Option<WriteStatements<Self::Params<'k>>>, DbError> {
        let mapping = request.mapping;
        let tenant = self.tenant(scope)?;
        let mut sql = format!("DELETE FROM {}", table_name(mapping));
        let mut params = Vec::with_capacity(request.match_columns.len() + 1);
        by_key(&mut sql, &mut params, request.match_columns, request.key);
        and_tenant(&mut sql, &mut params, tenant);
        returning(&mut sql, mapping, request.returning)?;
        Ok(Some(one_row(
            StatementKind::Delete,
            sql,
            params,
            request.returning.len(),
        )))
    }

    /// `BEGIN IMMEDIATE`: the write lock is taken at the start, so two writers queue on the
    /// busy timeout instead of one failing when it upgrades a read lock.
    fn begin(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }
}

/// SQLite has one schema per file: a tenant's schema is a file of its own, which the driver
/// opens (creating it) for a connection in that scope, and removes when it is dropped; so no
/// SQL creates, drops or enters it. A migration run holds the write lock (`BEGIN IMMEDIATE`)
/// from start to end.
impl crate::tenants::TenantSql for SqliteDialect {
    fn text_parameter(&self, n: usize) -> String {
        format!("?{n}")
    }

    fn text_params<'k>(&self, values: Vec<Option<String>>) -> Vec<SqliteBind<'k>> {
        values
            .into_iter()
            .map(|value| value.map_or(SqliteBind::Null, |text| SqliteBind::Text(Cow::Owned(text))))
            .collect()
    }

    fn column_exists(&self, table: &str, column: &str) -> String {
        format!("SELECT 0, COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'")
    }

    fn table_exists(&self, name: &str) -> String {
        format!("SELECT 0, COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{name}'")
    }

    fn insert_or_ignore(&self, rest: &str) -> String {
        format!("INSERT OR IGNORE INTO {rest}")
    }

    fn quote(&self, identifier: &str) -> String {
        quote_double(identifier)
    }

    fn reserved_schema(&self) -> Option<&'static str> {
        None
    }

    fn create_schema(&self, _schema: &graft_resolve::SchemaName) -> Option<String> {
        None
    }

    fn drop_schema(&self, _schema: &graft_resolve::SchemaName) -> Option<String> {
        None
    }

    fn use_schema(&self, _schema: &graft_resolve::SchemaName) -> Option<String> {
        None
    }

    fn lock_target(&self, _target: &str) -> Option<String> {
        Some("BEGIN IMMEDIATE".to_owned())
    }

    fn lock_is_transaction(&self) -> bool {
        true
    }

    fn schemas_share_a_connection(&self) -> bool {
        false
    }
}

/// A write of one row by key, read back with `RETURNING`.
fn one_row<'k>(
    kind: StatementKind,
    sql: String,
    params: Vec<SqliteBind<'k>>,
    width: usize,
) -> WriteStatements<Vec<SqliteBind<'k>>> {
    WriteStatements {
        write: Statement::in_order(kind, sql, params, vec![ReadAs::Dynamic; width], 1),
        read_back: None,
    }
}

/// Appends ` WHERE "k1" = ?n AND ...` for `key`, binding its values after `params`.
fn by_key<'k>(
    sql: &mut String,
    params: &mut Vec<SqliteBind<'k>>,
    columns: &[String],
    key: &'k EntityKey,
) {
    for (i, (column, value)) in columns.iter().zip(key.values()).enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        params.push(key_bind(value));
        let _ = write!(sql, "{} = ?{}", quote_double(column), params.len());
    }
}

/// Appends ` RETURNING "a", "b"` for `columns`, or nothing when none are wanted.
fn returning(sql: &mut String, mapping: &EntityMapping, columns: &[usize]) -> Result<(), DbError> {
    for (i, &column) in columns.iter().enumerate() {
        sql.push_str(if i == 0 { " RETURNING " } else { ", " });
        sql.push_str(&quote_double(column_name(mapping, column)?));
    }
    Ok(())
}

/// A key value as a parameter: SQLite compares it with the column's affinity.
fn key_bind(value: &KeyValue) -> SqliteBind<'_> {
    match value {
        KeyValue::String(s) => SqliteBind::Text(Cow::Borrowed(s)),
        KeyValue::Int(i) => SqliteBind::Int(*i),
        KeyValue::Float(f) => SqliteBind::Float(f.get()),
        KeyValue::Boolean(b) => SqliteBind::Int((*b).into()),
    }
}

/// A written value as a parameter.
fn write_bind(value: &WriteValue) -> SqliteBind<'_> {
    match value {
        WriteValue::Null => SqliteBind::Null,
        WriteValue::Bool(b) => SqliteBind::Int((*b).into()),
        WriteValue::Int(i) => SqliteBind::Int(*i),
        WriteValue::Float(f) => SqliteBind::Float(*f),
        WriteValue::Text(t) | WriteValue::Json(t) => SqliteBind::Text(Cow::Borrowed(t)),
    }
}

/// One value of an insert's JSON rows: as a JSON number, string or null; a JSON column's
/// value as its text (which is how SQLite keeps JSON), which `->>` gives back as it is.
fn json_value(json: &mut String, value: &WriteValue) {
    match value {
        WriteValue::Null => json.push_str("null"),
        WriteValue::Bool(b) => json.push_str(if *b { "1" } else { "0" }),
        WriteValue::Int(i) => {
            let _ = write!(json, "{i}");
        }
        WriteValue::Float(f) if f.is_finite() => {
            let _ = write!(json, "{f:?}");
        }
        WriteValue::Float(_) => json.push_str("null"),
        WriteValue::Text(text) | WriteValue::Json(text) => push_json_string(json, text),
    }
}

/// The quoted table name of `mapping`.
fn table_name(mapping: &EntityMapping) -> String {
    qualified_name(mapping, quote_double)
}

/// `SELECT j.key, t."c1", ... FROM json_each(?1) AS j JOIN "table" AS t ON t."k1" = j.value ->> 0
/// AND ...`: one fixed text per (type, key, columns), whatever the number of keys. `j.key` is the
/// key's position in the parameter array, so rows are placed without sorting.
///
/// With a per-key limit (a list's `first`), each key's rows are numbered in the order of the
/// table's first key and only the first ones are kept: `SELECT * FROM (SELECT j.key AS graft_pos,
/// ..., ROW_NUMBER() OVER (PARTITION BY j.key ORDER BY t."k") AS graft_rank ...) AS w WHERE
/// w.graft_rank <= ?2`. The rank comes last, after the columns the rows are read from.
///
/// With `tenant_column`, only the tenant's rows join: `... AND t."tenant" = ?2`, the limits
/// numbered after it.
pub(crate) fn batch_select(request: &FetchRequest<'_>, tenant_column: Option<&str>) -> String {
    let mapping = request.mapping;
    let ranked = ranked(request);
    let mut sql = String::from(if ranked {
        "SELECT * FROM (SELECT j.key AS graft_pos"
    } else {
        "SELECT j.key"
    });
    let table = select_list(&mut sql, mapping, request.columns);
    let first_key = first_key_order(mapping, quote_double);
    if ranked {
        let _ = write!(
            sql,
            ", ROW_NUMBER() OVER (PARTITION BY j.key ORDER BY {}) AS graft_rank",
            first_key.join(", ")
        );
    }
    let _ = write!(sql, " FROM json_each(?1) AS j JOIN {table} AS t ON ");
    for (i, column) in request.match_columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        let _ = write!(sql, "t.{} = j.value ->> {i}", quote_double(column));
    }
    let mut next = 2;
    if let Some(column) = tenant_column {
        let _ = write!(sql, " AND t.{} = ?{next}", quote_double(column));
        next += 1;
    }
    if ranked {
        let _ = write!(
            sql,
            ") AS w WHERE w.graft_rank <= ?{next} ORDER BY w.graft_pos, w.graft_rank"
        );
        next += 1;
    } else if request.many {
        // Rows of one parent together, in the order of the table's first key.
        sql.push_str(" ORDER BY j.key");
        for column in &first_key {
            let _ = write!(sql, ", {column}");
        }
    }
    if request.many && request.row_limit.is_some() {
        let _ = write!(sql, " LIMIT ?{next}");
    }
    sql
}

/// Whether a fetch keeps only the first rows of each key.
fn ranked(request: &FetchRequest<'_>) -> bool {
    request.many && request.per_key_limit.is_some()
}

/// The per-key limit a fetch binds after its keys, if it has one.
fn per_key_limit(request: &FetchRequest<'_>) -> Option<i64> {
    request
        .per_key_limit
        .filter(|_| request.many)
        .map(|limit| i64::try_from(limit).unwrap_or(i64::MAX))
}

/// The `LIMIT` a fetch binds after its keys, if it has one (`many` fetches with a row limit).
fn row_limit(request: &FetchRequest<'_>) -> Option<i64> {
    request
        .row_limit
        .filter(|_| request.many)
        .map(|limit| i64::try_from(limit).unwrap_or(i64::MAX))
}

/// `SELECT 0, t."c1", ... FROM "table" AS t WHERE (t."k1", t."k2") > (?1, ?2) ORDER BY t."k1",
/// t."k2" LIMIT ?3`: one page in key order, served by the key's index without sorting. The
/// leading `0` places every row under key position 0.
///
/// With `tenant_column`, only the tenant's rows: `t."tenant" = ?n` joins the condition, bound
/// after the cursor's values and before the limit.
pub(crate) fn page_select(request: &PageRequest<'_>, tenant_column: Option<&str>) -> String {
    let mapping = request.mapping;
    let mut sql = String::from("SELECT 0");
    let table = select_list(&mut sql, mapping, request.columns);
    let _ = write!(sql, " FROM {table} AS t");
    let keys: Vec<String> = request
        .key_columns
        .iter()
        .map(|c| format!("t.{}", quote_double(c)))
        .collect();
    let mut next = 1;
    let mut conditions = Vec::new();
    if request.after.is_some() {
        let markers: Vec<String> = (1..=keys.len()).map(|i| format!("?{i}")).collect();
        conditions.push(format!("({}) > ({})", keys.join(", "), markers.join(", ")));
        next += keys.len();
    }
    if let Some(column) = tenant_column {
        conditions.push(format!("t.{} = ?{next}", quote_double(column)));
        next += 1;
    }
    if !conditions.is_empty() {
        let _ = write!(sql, " WHERE {}", conditions.join(" AND "));
    }
    let _ = write!(sql, " ORDER BY {} LIMIT ?{next}", keys.join(", "));
    sql
}

/// Appends `, t."c1", ...` for `columns` to `sql` and returns the quoted table name.
fn select_list(sql: &mut String, mapping: &EntityMapping, columns: &[usize]) -> String {
    for &column in columns {
        let _ = write!(sql, ", t.{}", quote_double(&mapping.columns[column].column));
    }
    table_name(mapping)
}

/// The single bind parameter: the keys as a JSON array of arrays, `[["org-1","u1"],...]`.
pub(crate) fn keys_parameter(keys: &[&EntityKey]) -> String {
    let mut json = String::with_capacity(keys.len() * 24 + 2);
    json.push('[');
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('[');
        for (j, value) in key.values().iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            match value {
                KeyValue::String(s) => {
                    json.push_str(&serde_json::to_string(&**s).expect("strings serialize"))
                }
                KeyValue::Int(i) => {
                    let _ = write!(json, "{i}");
                }
                KeyValue::Float(f) => json
                    .push_str(&serde_json::to_string(&f.get()).expect("finite floats serialize")),
                KeyValue::Boolean(b) => json.push_str(if *b { "1" } else { "0" }),
            }
        }
        json.push(']');
    }
    json.push(']');
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use graft_keys::KeyIndex;
    use graft_keys::apollo_compiler::Name;
    use graft_schema::SubgraphSchema;

    #[test]
    fn one_fixed_statement_with_quoted_identifiers() {
        let schema = SubgraphSchema::parse(
            r#"type OrgUser @key(fields: "orgId userId") @table(name: "org\"users") { orgId: String! userId: String! name: String }"#,
            "t.graphql",
        )
        .unwrap();
        let mapping = schema.mapping("OrgUser").unwrap();
        let key = EntityKey::new(
            Name::new("OrgUser").unwrap(),
            KeyIndex(0),
            vec![
                KeyValue::String("o\"1".into()),
                KeyValue::String("u".into()),
            ],
        );
        let keys = [&key];
        let request = FetchRequest::by_key(mapping, KeyIndex(0), &keys, &[2]);
        assert_eq!(
            batch_select(&request, None),
            r#"SELECT j.key, t."name" FROM json_each(?1) AS j JOIN "org""users" AS t ON t."org_id" = j.value ->> 0 AND t."user_id" = j.value ->> 1"#
        );
        assert_eq!(
            keys_parameter(&[&key, &key]),
            r#"[["o\"1","u"],["o\"1","u"]]"#
        );
        // Confined to a tenant's rows: the tenant bound after the keys.
        assert_eq!(
            batch_select(&request, Some("tenant_id")),
            r#"SELECT j.key, t."name" FROM json_each(?1) AS j JOIN "org""users" AS t ON t."org_id" = j.value ->> 0 AND t."user_id" = j.value ->> 1 AND t."tenant_id" = ?2"#
        );
        let page = PageRequest {
            mapping,
            key_columns: &mapping.key_columns[0],
            after: Some(&key),
            limit: 10,
            columns: &[2],
        };
        assert_eq!(
            page_select(&page, Some("tenant_id")),
            r#"SELECT 0, t."name" FROM "org""users" AS t WHERE (t."org_id", t."user_id") > (?1, ?2) AND t."tenant_id" = ?3 ORDER BY t."org_id", t."user_id" LIMIT ?4"#
        );
    }
}
