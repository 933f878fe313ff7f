//! What PostgreSQL's catalog says about the mapped tables.

use std::collections::HashMap;

use graft_schema::EntityMapping;

use crate::column::ReadAs;
use crate::{DbError, quote_double};

/// A column as graft reads it.
#[derive(Debug, Clone)]
pub(crate) struct PgColumn {
    /// `pg_type.typname`: `int4`, `varchar`, `uuid`, `_text` (arrays), an enum's name.
    pub(crate) type_name: String,
    /// `pg_type.typcategory`: `A` array, `E` enum, `N` numeric, `S` string, `D` date/time, ...
    pub(crate) category: String,
}

/// A mapped table: its columns by name.
#[derive(Debug, Clone)]
pub(crate) struct PgTable {
    pub(crate) columns: HashMap<String, PgColumn>,
}

impl PgTable {
    /// The column called `name`, which the source checked at start-up.
    pub(crate) fn column(&self, mapping: &EntityMapping, name: &str) -> Result<&PgColumn, DbError> {
        self.columns.get(name).ok_or_else(|| {
            DbError::Mapping(format!(
                "type {}: column `{name}` was not checked when this source started",
                mapping.type_name
            ))
        })
    }
}

const COLUMNS: &str = "SELECT a.attname::text, t.typname::text, t.typcategory::text \
     FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     WHERE c.relname = $1 AND n.nspname = COALESCE($2, current_schema()) \
       AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped";

/// Reads the columns of `mapping`'s table and checks that every mapped and key column exists.
pub(crate) async fn table(
    client: &tokio_postgres::Client,
    mapping: &EntityMapping,
) -> Result<PgTable, DbError> {
    // Unnamed (`query_typed`): introspection works behind PgBouncer in transaction mode too.
    let rows = client
        .query_typed(
            COLUMNS,
            &[
                (&mapping.table.name, tokio_postgres::types::Type::TEXT),
                (&mapping.table.schema, tokio_postgres::types::Type::TEXT),
            ],
        )
        .await?;
    if rows.is_empty() {
        return Err(DbError::Mapping(format!(
            "type {}: table `{}` not found{}",
            mapping.type_name,
            mapping.table,
            if mapping.table.schema.is_none() {
                " in the current schema"
            } else {
                ""
            }
        )));
    }
    let columns: HashMap<String, PgColumn> = rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                PgColumn {
                    type_name: row.get(1),
                    category: row.get(2),
                },
            )
        })
        .collect();
    let wanted = mapping
        .columns
        .iter()
        .map(|c| c.column.as_str())
        .chain(mapping.key_columns.iter().flatten().map(String::as_str));
    let mut missing: Vec<&str> = wanted.filter(|c| !columns.contains_key(*c)).collect();
    missing.dedup();
    if !missing.is_empty() {
        return Err(DbError::Mapping(format!(
            "type {}: table `{}` has no column {}",
            mapping.type_name,
            mapping.table,
            missing
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(PgTable { columns })
}

impl PgColumn {
    /// How the column is read, and the select expression for `column` (already quoted and
    /// qualified) that produces it.
    pub(crate) fn read(&self, column: &str) -> (ReadAs, String) {
        match (self.type_name.as_str(), self.category.as_str()) {
            ("bool", _) => (ReadAs::Bool, column.to_owned()),
            ("int2" | "int4" | "int8", _) => (ReadAs::Int, format!("{column}::int8")),
            ("float4" | "float8", _) => (ReadAs::Float, format!("{column}::float8")),
            ("text" | "varchar" | "bpchar" | "name", _) => (ReadAs::Text, column.to_owned()),
            ("json" | "jsonb", _) => (ReadAs::Json, format!("{column}::text")),
            (_, "A") => (ReadAs::Json, format!("to_json({column})::text")),
            // ISO 8601 (`2026-01-02T09:00:00+00:00`), as JSON writes dates and times.
            ("date" | "time" | "timetz" | "timestamp" | "timestamptz", _) => {
                (ReadAs::Text, format!("to_json({column}) #>> '{{}}'"))
            }
            // numeric keeps every digit as text; uuid, enums, intervals, ... read as their text.
            _ => (ReadAs::Text, format!("{column}::text")),
        }
    }

    /// How keys for this column are bound: integer columns take an `int8[]`, text columns a
    /// `text[]`, every other type a `text[]` cast to the column's type in the join.
    pub(crate) fn key_bind(&self) -> KeyBind {
        match self.type_name.as_str() {
            "int2" | "int4" | "int8" => KeyBind::Int,
            "text" | "varchar" => KeyBind::Text { cast: None },
            other => KeyBind::Text {
                cast: Some(quote_double(other)),
            },
        }
    }
}

/// How one key column's values are bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyBind {
    /// An `int8[]` parameter.
    Int,
    /// A `text[]` parameter, cast to the column's type when it is not text.
    Text {
        /// The quoted type to cast to.
        cast: Option<String>,
    },
}

const TABLES: &str = "SELECT c.relname::text, a.attname::text, t.typname::text, t.typcategory::text, NOT a.attnotnull, \
       COALESCE((SELECT k.ord::int4 FROM pg_catalog.pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                 WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum), 0) \
     FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY c.relname, a.attnum";

/// Every table of the current schema, with the GraphQL type of each column, for `graft init`.
pub(crate) async fn describe(
    client: &tokio_postgres::Client,
) -> Result<Vec<graft_schema::TableDescription>, DbError> {
    let mut tables: Vec<graft_schema::TableDescription> = Vec::new();
    let mut key_positions: Vec<Vec<(i32, String)>> = Vec::new();
    for row in client.query(TABLES, &[]).await? {
        let (table, column, type_name, category): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let nullable: bool = row.get(4);
        let key_position: i32 = row.get(5);
        if tables.last().is_none_or(|t| t.name != table) {
            tables.push(graft_schema::TableDescription {
                schema: None,
                name: table,
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            });
            key_positions.push(Vec::new());
        }
        let graphql_type = match (type_name.as_str(), category.as_str()) {
            ("int2" | "int4" | "int8", _) if key_position > 0 => "ID",
            ("int2" | "int4", _) => "Int",
            // GraphQL's Int has 32 bits: a bigint is exact as a string.
            ("int8", _) => "String",
            ("float4" | "float8", _) => "Float",
            // Exact: read as its text, served as a string.
            ("numeric", _) => "Decimal",
            ("timestamp" | "timestamptz", _) => "DateTime",
            ("date", _) => "Date",
            ("uuid", _) => "UUID",
            ("bool", _) => "Boolean",
            ("json" | "jsonb", _) | (_, "A") => "JSON",
            _ => "String",
        };
        if key_position > 0 {
            key_positions
                .last_mut()
                .expect("pushed above")
                .push((key_position, column.clone()));
        }
        tables
            .last_mut()
            .expect("pushed above")
            .columns
            .push(graft_schema::ColumnDescription {
                name: column,
                graphql_type: graphql_type.to_owned(),
                nullable,
            });
    }
    for (table, mut positions) in tables.iter_mut().zip(key_positions) {
        positions.sort();
        table.primary_key = positions.into_iter().map(|(_, column)| column).collect();
    }
    let foreign_keys = client.query(FOREIGN_KEYS, &[]).await?;
    crate::attach_foreign_keys(
        &mut tables,
        foreign_keys
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))),
    );
    Ok(tables)
}

/// The foreign keys between tables of the current schema (one to a table of another schema
/// would read as one to the current schema's table of that name), a row per column pair.
const FOREIGN_KEYS: &str = "SELECT cl.relname::text, c.conname::text, a.attname::text, fcl.relname::text, fa.attname::text \
     FROM pg_catalog.pg_constraint c \
     JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace \
     JOIN pg_catalog.pg_class fcl ON fcl.oid = c.confrelid \
     CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, fcol, ord) \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col \
     JOIN pg_catalog.pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fcol \
     WHERE c.contype = 'f' AND n.nspname = current_schema() \
       AND fcl.relnamespace = cl.relnamespace \
     ORDER BY cl.relname, c.conname, k.ord";
