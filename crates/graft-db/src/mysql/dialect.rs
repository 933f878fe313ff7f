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
}

impl MyDialect {
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

    /// A tenant's schema is its own database. MariaDB has no row-level security; the tenant
    /// predicate graft would add instead is not written yet.
    const SCHEMA_ISOLATION: bool = true;
    const ROW_ISOLATION: bool = false;

    fn table_name(&self, scope: &Scope, mapping: &EntityMapping) -> String {
        scope.qualified_name(mapping, quote_backtick)
    }

    fn fetch<'k>(
        &self,
        scope: &Scope,
        request: &FetchRequest<'k>,
    ) -> Result<Option<Statement<Params>>, DbError> {
        let table = self.table(request.mapping)?;
        let select = batch_select(table, &self.table_name(scope, request.mapping), request)?;
        let (keys, sent) = keys_parameter(&select.binds, request.keys);
        if sent.is_empty() {
            return Ok(None);
        }
        let mut params = vec![Value::from(keys)];
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
        let select = page_select(table, &self.table_name(scope, request.mapping), request)?;
        let params = page_parameters(table, &select, request).map_err(DbError::Mapping)?;
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
        let mut sql = insert_into(&table_name, mapping, request.columns, quote_backtick)?;
        sql.push_str(") SELECT ");
        for i in 0..request.columns.len() {
            let _ = write!(sql, "{}j.c{i}", if i > 0 { ", " } else { "" });
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
                Params::Positional(vec![Value::from(rows_json(request, json_value))]),
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
        let mut sql = format!("DELETE FROM {}", self.table_name(scope, mapping));
        let mut params = Vec::with_capacity(request.match_columns.len());
        if !self.by_key(
            &mut sql,
            &mut params,
            mapping,
            request.match_columns,
            request.key.values(),
        )? {
            return Ok(None);
        }
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
