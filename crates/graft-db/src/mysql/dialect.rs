//! [`MyDialect`]: the SQL MariaDB speaks, reads (built in `sql.rs`) and writes.

use std::collections::HashMap;
use std::fmt::Write as _;

use apollo_compiler::Name;
use graft_keys::KeyValue;
use graft_resolve::{
    DeleteRequest, FetchRequest, InsertRequest, PageRequest, StatementKind, UpdateRequest,
    WriteValue,
};
use graft_schema::EntityMapping;
use mysql_async::{Params, Value};

use super::introspect::{KeyBind, MyTable};
use super::sql::{
    as_int, as_text, batch_select, bound_keys, fits, keys_parameter, page_parameters, page_select,
    unmapped,
};
use crate::column::ReadAs;
use crate::dialect::{
    Dialect, Scope, Statement, WriteStatements, column_name, insert_into, push_json_string,
    rows_json,
};
use crate::{DbError, mapped_table, quote_backtick};

/// MariaDB's SQL (and MySQL's, for reads): keys as one JSON array through a typed
/// `JSON_TABLE`, written rows read back with `RETURNING` (MariaDB 10.5 and later), and with a
/// `SELECT` by key after an `UPDATE`, which has no `RETURNING`.
#[derive(Debug)]
pub struct MyDialect {
    pub(crate) tables: HashMap<Name, MyTable>,
    /// The column naming each row's tenant, where tenants share tables.
    pub(crate) tenant_column: Option<String>,
}

/// Checks that `mapping`'s table has the tenant column `column` and that no field maps it:
/// graft fills it in from the request's tenant, so a client must never set it.
pub(crate) fn check_tenant_column(
    tables: &HashMap<Name, MyTable>,
    mapping: &EntityMapping,
    column: &str,
) -> Result<(), DbError> {
    let table = mapped_table(tables, mapping)?;
    if table.column(column).is_none() {
        return Err(DbError::Mapping(format!(
            "row isolation: table {} (type {}) has no tenant column `{column}`",
            mapping.table, mapping.type_name
        )));
    }
    if let Some(mapped) = mapping
        .columns
        .iter()
        .find(|c| c.column.eq_ignore_ascii_case(column))
    {
        return Err(DbError::Mapping(format!(
            "row isolation: field {}.{} maps the tenant column `{column}`, which graft fills in \
             from the request's tenant: no field may map it",
            mapping.type_name, mapped.field
        )));
    }
    Ok(())
}

impl MyDialect {
    /// The tenant column and the tenant's id as its value, when `scope` confines statements to
    /// one tenant's rows; refused when this dialect has no tenant column to confine them by.
    fn tenant(&self, scope: &Scope) -> Result<Option<(&str, Value)>, DbError> {
        match (scope.tenant_rows(), &self.tenant_column) {
            (None, _) => Ok(None),
            (Some(tenant), Some(column)) => Ok(Some((
                column,
                Value::Bytes(tenant.as_str().as_bytes().to_vec()),
            ))),
            (Some(_), None) => Err(DbError::Isolation("rows")),
        }
    }

    /// Appends ` AND `tenant` = ?` and its value when `tenant` is set.
    fn and_tenant(sql: &mut String, params: &mut Vec<Value>, tenant: &Option<(&str, Value)>) {
        if let Some((column, value)) = tenant {
            let _ = write!(sql, " AND {} = ?", quote_backtick(column));
            params.push(value.clone());
        }
    }

    pub(crate) fn table(&self, mapping: &EntityMapping) -> Result<&MyTable, DbError> {
        mapped_table(&self.tables, mapping)
    }

    /// The read expressions of `columns`, unqualified (MariaDB's `INSERT` and `DELETE` take no
    /// table alias), and how to read each one.
    fn read_list(
        &self,
        mapping: &EntityMapping,
        columns: &[usize],
    ) -> Result<(String, Vec<ReadAs>), DbError> {
        let table = self.table(mapping)?;
        let mut list = String::new();
        let mut reads = Vec::with_capacity(columns.len());
        for (i, &index) in columns.iter().enumerate() {
            let name = column_name(mapping, index)?;
            let (read, expression) = table
                .column(name)
                .and_then(|column| column.read(&quote_backtick(name)))
                .ok_or_else(|| unmapped(mapping, name))?;
            if i > 0 {
                list.push_str(", ");
            }
            list.push_str(&expression);
            reads.push(read);
        }
        Ok((list, reads))
    }

    /// Appends ` WHERE `k` = ? AND ...` for `values` (one per key column), each bound as its
    /// column's [`KeyColumn::parameter`] after `params`; `false` when a value cannot be a value
    /// of its column (the key names no row, and nothing is to be sent).
    fn by_key(
        &self,
        sql: &mut String,
        params: &mut Vec<Value>,
        mapping: &EntityMapping,
        columns: &[String],
        values: &[KeyValue],
    ) -> Result<bool, DbError> {
        let table = self.table(mapping)?;
        let keys = bound_keys(table, mapping, columns)?;
        for (i, ((column, key), value)) in columns.iter().zip(keys).zip(values).enumerate() {
            let Some(bound) = key_value(key.bind, value) else {
                return Ok(false);
            };
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            let _ = write!(sql, "{} = {}", quote_backtick(column), key.parameter);
            params.push(bound);
        }
        Ok(true)
    }
}

impl Dialect for MyDialect {
    type Params<'k> = Params;

    /// A tenant's schema is its own database.
    fn schema_isolation(&self) -> bool {
        true
    }

    /// MariaDB has no row-level security: tenants share tables only with a tenant column,
    /// which every statement is confined by (`AND `tenant` = ?`) and every insert fills in.
    fn row_isolation(&self) -> bool {
        self.tenant_column.is_some()
    }

    fn table_name(&self, scope: &Scope, mapping: &EntityMapping) -> String {
        scope.qualified_name(mapping, quote_backtick)
    }

    fn fetch<'k>(
        &self,
        scope: &Scope,
        request: &FetchRequest<'k>,
    ) -> Result<Option<Statement<Params>>, DbError> {
        let table = self.table(request.mapping)?;
        let tenant = self.tenant(scope)?;
        let table_name = self.table_name(scope, request.mapping);
        let tenant_column = tenant.as_ref().map(|(column, _)| *column);
        let select = batch_select(table, &table_name, request, tenant_column)?;
        let (keys, sent) = keys_parameter(&select.binds, request.keys);
        if sent.is_empty() {
            return Ok(None);
        }
        let mut params = vec![Value::from(keys)];
        params.extend(tenant.map(|(_, value)| value));
        let limits = [request.per_key_limit, request.row_limit];
        for limit in limits.into_iter().flatten().filter(|_| request.many) {
            params.push(Value::from(limit));
        }
        Ok(Some(Statement::numbered(
            select.sql,
            Params::Positional(params),
            select.reads,
            1,
            Some(sent),
            request.keys.len(),
        )))
    }

    /// One statement, `SELECT 1, <columns> ... ORDER BY <key columns> LIMIT ?` after the
    /// cursor's key values (see `page_select`); a cursor value its column cannot hold is a
    /// query error.
    fn page<'k>(
        &self,
        scope: &Scope,
        request: &PageRequest<'k>,
    ) -> Result<Statement<Params>, DbError> {
        let table = self.table(request.mapping)?;
        let tenant = self.tenant(scope)?;
        let table_name = self.table_name(scope, request.mapping);
        let tenant_column = tenant.as_ref().map(|(column, _)| *column);
        let select = page_select(table, &table_name, request, tenant_column)?;
        let mut params: Vec<Value> = tenant.into_iter().map(|(_, value)| value).collect();
        params.extend(page_parameters(table, &select, request).map_err(DbError::Mapping)?);
        Ok(Statement::numbered(
            select.sql,
            Params::Positional(params),
            select.reads,
            1,
            Some(vec![0]),
            1,
        )
        .reported_as(StatementKind::Page))
    }

    /// `INSERT INTO `t` (`a`, `b`) SELECT j.c0, j.c1 FROM JSON_TABLE(?, '$[*]' COLUMNS(ord FOR
    /// ORDINALITY, c0 LONGTEXT PATH '$[0]', ...)) AS j ORDER BY j.ord RETURNING ...`: every row
    /// in one JSON parameter, so one prepared text for any number of rows and no limit on
    /// placeholders. Each value arrives as text (or NULL) and is converted to its column's
    /// type as an assignment converts it, strictly under the server's SQL mode.
    fn insert<'k>(
        &self,
        scope: &Scope,
        request: &InsertRequest<'k>,
    ) -> Result<WriteStatements<Params>, DbError> {
        let mapping = request.mapping;
        let table_name = self.table_name(scope, mapping);
        let tenant = self.tenant(scope)?;
        let mut sql = insert_into(&table_name, mapping, request.columns, quote_backtick)?;
        let mut params = Vec::with_capacity(2);
        if let Some((column, value)) = tenant {
            // The tenant's value comes first: it is selected before the rows' JSON.
            let _ = write!(sql, ", {}", quote_backtick(column));
            params.push(value);
        }
        sql.push_str(") SELECT ");
        for i in 0..request.columns.len() {
            let _ = write!(sql, "{}j.c{i}", if i > 0 { ", " } else { "" });
        }
        if !params.is_empty() {
            sql.push_str(", ?");
        }
        sql.push_str(" FROM JSON_TABLE(?, '$[*]' COLUMNS(ord FOR ORDINALITY");
        for i in 0..request.columns.len() {
            let _ = write!(sql, ", c{i} LONGTEXT CHARACTER SET utf8mb4 PATH '$[{i}]'");
        }
        sql.push_str(")) AS j ORDER BY j.ord");
        let (list, reads) = self.read_list(mapping, request.returning)?;
        if !reads.is_empty() {
            let _ = write!(sql, " RETURNING {list}");
        }
        Ok(WriteStatements {
            write: Statement::in_order(
                StatementKind::Insert,
                sql,
                Params::Positional({
                    params.push(Value::from(rows_json(request, json_value)));
                    params
                }),
                reads,
                request.rows.len(),
            ),
            read_back: None,
        })
    }

    /// `UPDATE `t` SET `a` = ? WHERE `k` = ?`, then `SELECT <columns> FROM `t` WHERE `k` = ?`
    /// in the same transaction: MariaDB's `UPDATE` has no `RETURNING`. The row is read back by
    /// its key after the update (the new value where the update sets a key column).
    fn update<'k>(
        &self,
        scope: &Scope,
        request: &UpdateRequest<'k>,
    ) -> Result<Option<WriteStatements<Params>>, DbError> {
        let mapping = request.mapping;
        let table_name = self.table_name(scope, mapping);
        let tenant = self.tenant(scope)?;
        let mut sql = format!("UPDATE {table_name} SET ");
        let mut params = Vec::with_capacity(request.set.len() + request.match_columns.len());
        for (i, (index, value)) in request.set.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{} = ?", quote_backtick(column_name(mapping, *index)?));
            params.push(write_value(value));
        }
        let values = request.key.values();
        if !self.by_key(
            &mut sql,
            &mut params,
            mapping,
            request.match_columns,
            values,
        )? {
            return Ok(None);
        }
        Self::and_tenant(&mut sql, &mut params, &tenant);
        // The key after the update: a key column the update sets has its new value.
        let mut new_key = Vec::with_capacity(values.len());
        for (column, value) in request.match_columns.iter().zip(values) {
            let set = request.set.iter().find(|(index, _)| {
                mapping
                    .columns
                    .get(*index)
                    .is_some_and(|c| c.column == *column)
            });
            new_key.push(match set.map(|(_, value)| value) {
                Some(WriteValue::Int(i)) => KeyValue::Int(*i),
                Some(WriteValue::Text(t)) => KeyValue::String(t.as_str().into()),
                Some(_) => {
                    return Err(DbError::Mapping(format!(
                        "key column `{column}` can only be set to an integer or a string"
                    )));
                }
                None => value.clone(),
            });
        }
        let (list, reads) = self.read_list(mapping, request.returning)?;
        let mut read_sql = format!(
            "SELECT {} FROM {table_name}",
            if list.is_empty() { "1" } else { &list }
        );
        let mut read_params = Vec::with_capacity(new_key.len());
        if !self.by_key(
            &mut read_sql,
            &mut read_params,
            mapping,
            request.match_columns,
            &new_key,
        )? {
            return Ok(None);
        }
        Self::and_tenant(&mut read_sql, &mut read_params, &tenant);
        let width = reads.len();
        Ok(Some(WriteStatements {
            write: Statement::in_order(
                StatementKind::Update,
                sql,
                Params::Positional(params),
                Vec::new(),
                1,
            ),
            read_back: Some(Statement::in_order(
                StatementKind::ReadBack,
                read_sql,
                Params::Positional(read_params),
                if width == 0 { vec![ReadAs::Int] } else { reads },
                1,
            )),
        }))
    }

    /// `DELETE FROM `t` WHERE `k` = ? RETURNING ...`.
    fn delete<'k>(
        &self,
        scope: &Scope,
        request: &DeleteRequest<'k>,
    ) -> Result<Option<WriteStatements<Params>>, DbError> {
        let mapping = request.mapping;
        let tenant = self.tenant(scope)?;
        let mut sql = format!("DELETE FROM {}", self.table_name(scope, mapping));
        let mut params = Vec::with_capacity(request.match_columns.len() + 1);
        if !self.by_key(
            &mut sql,
            &mut params,
            mapping,
            request.match_columns,
            request.key.values(),
        )? {
            return Ok(None);
        }
        Self::and_tenant(&mut sql, &mut params, &tenant);
        let (list, reads) = self.read_list(mapping, request.returning)?;
        if !reads.is_empty() {
            let _ = write!(sql, " RETURNING {list}");
        }
        Ok(Some(WriteStatements {
            write: Statement::in_order(
                StatementKind::Delete,
                sql,
                Params::Positional(params),
                reads,
                1,
            ),
            read_back: None,
        }))
    }

    fn begin(&self) -> &'static str {
        "START TRANSACTION"
    }
}

impl crate::tenants::TenantSql for MyDialect {
    fn text_parameter(&self, _n: usize) -> String {
        "?".to_owned()
    }

    fn text_params<'k>(&self, values: Vec<Option<String>>) -> Self::Params<'k> {
        Params::Positional(
            values
                .into_iter()
                .map(|value| value.map_or(Value::NULL, |text| Value::Bytes(text.into_bytes())))
                .collect(),
        )
    }

    fn column_exists(&self, table: &str, column: &str) -> String {
        format!(
            "SELECT 0, COUNT(*) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}' AND column_name = '{column}'"
        )
    }

    fn table_exists(&self, name: &str) -> String {
        format!(
            "SELECT 0, COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = '{name}'"
        )
    }

    fn long_text(&self) -> &'static str {
        "response LONGTEXT"
    }

    fn insert_or_ignore(&self, rest: &str) -> String {
        format!("INSERT IGNORE INTO {rest}")
    }

    fn quote(&self, identifier: &str) -> String {
        quote_backtick(identifier)
    }

    fn reserved_schema(&self) -> Option<&'static str> {
        Some(
            "SELECT {position}, CASE WHEN s.n = DATABASE() \
             OR s.n IN ('mysql', 'sys', 'information_schema', 'performance_schema') \
             THEN '1' ELSE '0' END FROM (SELECT {1} AS n) AS s",
        )
    }

    /// A tenant's schema is a database of its own.
    fn create_schema(&self, schema: &graft_resolve::SchemaName) -> Option<String> {
        Some(format!(
            "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4",
            quote_backtick(schema.as_str())
        ))
    }

    fn drop_schema(&self, schema: &graft_resolve::SchemaName) -> Option<String> {
        Some(format!(
            "DROP DATABASE IF EXISTS {}",
            quote_backtick(schema.as_str())
        ))
    }

    fn use_schema(&self, schema: &graft_resolve::SchemaName) -> Option<String> {
        Some(format!("USE {}", quote_backtick(schema.as_str())))
    }

    /// A named lock on the target (a validated schema name, or empty for the database's own),
    /// waited for up to ten minutes and released when the connection closes.
    fn lock_target(&self, target: &str) -> Option<String> {
        Some(format!("SELECT GET_LOCK('graft_migrate:{target}', 600)"))
    }
}

/// A key value as the parameter of its column, or `None` when it cannot be a value of it.
fn key_value(bind: KeyBind, value: &KeyValue) -> Option<Value> {
    if !fits(bind, value) {
        return None;
    }
    Some(match bind {
        KeyBind::Int { .. } => {
            let int = as_int(value)?;
            match i64::try_from(int) {
                Ok(int) => Value::Int(int),
                Err(_) => Value::UInt(u64::try_from(int).ok()?),
            }
        }
        KeyBind::Text { .. } => Value::Bytes(as_text(value).into_owned().into_bytes()),
    })
}

/// A written value as a parameter.
fn write_value(value: &WriteValue) -> Value {
    match value {
        WriteValue::Null => Value::NULL,
        WriteValue::Bool(b) => Value::Int((*b).into()),
        WriteValue::Int(i) => Value::Int(*i),
        WriteValue::Float(f) => Value::Double(*f),
        WriteValue::Text(text) | WriteValue::Json(text) => Value::Bytes(text.clone().into_bytes()),
    }
}

/// One value of an insert's JSON rows: the text its column converts from, as a JSON string,
/// or null.
fn json_value(json: &mut String, value: &WriteValue) {
    match value {
        WriteValue::Null => json.push_str("null"),
        WriteValue::Bool(b) => json.push_str(if *b { "\"1\"" } else { "\"0\"" }),
        WriteValue::Int(i) => {
            let _ = write!(json, "\"{i}\"");
        }
        WriteValue::Float(f) => {
            let _ = write!(json, "\"{f}\"");
        }
        WriteValue::Text(text) | WriteValue::Json(text) => push_json_string(json, text),
    }
}
