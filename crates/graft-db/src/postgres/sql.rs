//! The SQL PostgreSQL runs for a fetch group.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use apollo_compiler::Name;
use graft_keys::{EntityKey, KeyValue};
use graft_resolve::{
    DeleteRequest, FetchRequest, InsertRequest, PageRequest, StatementKind, UpdateRequest,
    WriteValue,
};
use graft_schema::EntityMapping;
use tokio_postgres::types::{ToSql, Type};

use super::introspect::{KeyBind, PgTable};
use crate::column::ReadAs;
use crate::dialect::{Dialect, Scope, Statement, WriteStatements, column_name};
use crate::{DbError, first_key_order, mapped_table, quote_double};

/// The parameters of one PostgreSQL statement, each with the type it is sent as: a prepared
/// statement learns the types from the server, an unnamed one (behind PgBouncer) sends them.
pub type PgParams<'k> = Vec<(Box<dyn ToSql + Sync + Send + 'k>, Type)>;

/// PostgreSQL's SQL: keys as one array per key column through `unnest ... WITH ORDINALITY`,
/// values cast to each column's type as the catalog gave it at start-up, written rows read
/// back with `RETURNING`.
#[derive(Debug)]
pub struct PgDialect {
    pub(crate) tables: HashMap<Name, PgTable>,
    /// The entity fetches' statements built so far.
    pub(crate) selects: SelectCache,
}

impl PgDialect {
    pub(crate) fn table(&self, mapping: &EntityMapping) -> Result<&PgTable, DbError> {
        mapped_table(&self.tables, mapping)
    }

    /// Appends ` RETURNING <read expressions>` for `columns` of the table aliased `t`.
    fn returning(
        &self,
        sql: &mut String,
        mapping: &EntityMapping,
        columns: &[usize],
    ) -> Result<Vec<ReadAs>, DbError> {
        let table = self.table(mapping)?;
        let mut reads = Vec::with_capacity(columns.len());
        for (i, &index) in columns.iter().enumerate() {
            let name = column_name(mapping, index)?;
            let (read, expression) = table
                .column(mapping, name)?
                .read(&format!("t.{}", quote_double(name)));
            reads.push(read);
            sql.push_str(if i == 0 { " RETURNING " } else { ", " });
            sql.push_str(&expression);
        }
        Ok(reads)
    }

    /// Finishes a write of one row by key (an `UPDATE` or `DELETE` up to its `WHERE`): appends
    /// ` WHERE t."k" = $n::int8 AND ...` for the key, its values bound after `params`, and the
    /// `RETURNING` list. `None` when a key value cannot be a value of its column (the key names
    /// no row, so nothing is sent).
    fn by_key<'k>(
        &self,
        kind: StatementKind,
        mut sql: String,
        mut params: PgParams<'k>,
        target: ByKey<'_, 'k>,
    ) -> Result<Option<WriteStatements<PgParams<'k>>>, DbError> {
        let ByKey {
            mapping,
            columns,
            key,
            returning,
        } = target;
        let table = self.table(mapping)?;
        for (i, (column, value)) in columns.iter().zip(key.values()).enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            let n = params.len() + 1;
            match table.column(mapping, column)?.key_bind() {
                KeyBind::Int => {
                    let Some(int) = as_int(value) else {
                        return Ok(None);
                    };
                    params.push((Box::new(int), Type::INT8));
                    let _ = write!(sql, "t.{} = ${n}::int8", quote_double(column));
                }
                KeyBind::Text { cast } => {
                    let text = as_text(value);
                    if cast.as_ref().is_some_and(|cast| !text_fits(cast, &text)) {
                        return Ok(None);
                    }
                    let cast = cast.map(|c| format!("::{c}")).unwrap_or_default();
                    params.push((Box::new(text), Type::TEXT));
                    let _ = write!(sql, "t.{} = ${n}::text{cast}", quote_double(column));
                }
            }
        }
        let reads = self.returning(&mut sql, mapping, returning)?;
        Ok(Some(WriteStatements {
            write: Statement::in_order(kind, sql, params, reads, 1),
            read_back: None,
        }))
    }
}

/// The row a write by key changes, and what it reads back.
struct ByKey<'r, 'k> {
    mapping: &'r EntityMapping,
    columns: &'r [String],
    key: &'k EntityKey,
    returning: &'r [usize],
}

impl Dialect for PgDialect {
    type Params<'k> = PgParams<'k>;

    /// Row isolation is PostgreSQL's row-level security, with `graft.tenant_id` set in each
    /// transaction by the driver.
    fn schema_isolation(&self) -> bool {
        true
    }

    fn row_isolation(&self) -> bool {
        true
    }

    fn table_name(&self, scope: &Scope, mapping: &EntityMapping) -> String {
        scope.qualified_name(mapping, quote_double)
    }

    fn fetch<'k>(
        &self,
        scope: &Scope,
        request: &FetchRequest<'k>,
    ) -> Result<Option<Statement<PgParams<'k>>>, DbError> {
        let table = self.table(request.mapping)?;
        let table_name = self.table_name(scope, request.mapping);
        let select = self.selects.get_or_build(&table_name, request, || {
            batch_select(table, &table_name, request)
        });
        let (mut params, sent) = key_arrays(&select.binds, request.keys);
        if sent.is_empty() {
            return Ok(None);
        }
        let limits = [request.per_key_limit, request.row_limit];
        for limit in limits.into_iter().flatten().filter(|_| request.many) {
            params.push((
                Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
                Type::INT8,
            ));
        }
        Ok(Some(Statement::numbered(
            select.sql.clone(),
            params,
            select.reads.clone(),
            1,
            Some(sent),
            request.keys.len(),
        )))
    }

    fn page<'k>(
        &self,
        scope: &Scope,
        request: &PageRequest<'k>,
    ) -> Result<Statement<PgParams<'k>>, DbError> {
        let table = self.table(request.mapping)?;
        let (select, params) =
            page_select(table, &self.table_name(scope, request.mapping), request)?;
        Ok(
            Statement::numbered(select.sql, params, select.reads, 1, Some(vec![0]), 1)
                .reported_as(StatementKind::Page),
        )
    }

    /// `INSERT INTO "t" AS t ("a", "b") SELECT v.c0::"int4", v.c1::"text" FROM
    /// unnest($1::text[], $2::text[]) WITH ORDINALITY AS v(c0, c1, ord) ORDER BY v.ord
    /// RETURNING ...`: one text array per column, so one prepared text for any number of rows;
    /// each value is sent as text and cast to its column's type.
    fn insert<'k>(
        &self,
        scope: &Scope,
        request: &InsertRequest<'k>,
    ) -> Result<WriteStatements<PgParams<'k>>, DbError> {
        let mapping = request.mapping;
        let table = self.table(mapping)?;
        let mut sql = format!("INSERT INTO {} AS t (", self.table_name(scope, mapping));
        let mut casts = Vec::with_capacity(request.columns.len());
        for (i, &index) in request.columns.iter().enumerate() {
            let name = column_name(mapping, index)?;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&quote_double(name));
            casts.push(quote_double(&table.column(mapping, name)?.type_name));
        }
        sql.push_str(") SELECT ");
        for (i, cast) in casts.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "v.c{i}::{cast}");
        }
        sql.push_str(" FROM unnest(");
        for i in 0..casts.len() {
            let _ = write!(sql, "{}${}::text[]", if i > 0 { ", " } else { "" }, i + 1);
        }
        sql.push_str(") WITH ORDINALITY AS v(");
        for i in 0..casts.len() {
            let _ = write!(sql, "c{i}, ");
        }
        sql.push_str("ord) ORDER BY v.ord");
        let reads = self.returning(&mut sql, mapping, request.returning)?;
        let mut params: PgParams<'k> = Vec::with_capacity(casts.len());
        for column in 0..casts.len() {
            let values: Vec<Option<String>> = request
                .rows
                .iter()
                .map(|row| row.get(column).and_then(as_write_text))
                .collect();
            params.push((Box::new(values), Type::TEXT_ARRAY));
        }
        Ok(WriteStatements {
            write: Statement::in_order(
                StatementKind::Insert,
                sql,
                params,
                reads,
                request.rows.len(),
            ),
            read_back: None,
        })
    }

    /// `UPDATE "t" AS t SET "a" = $1::text::"int4" WHERE t."k" = $2::int8 RETURNING ...`.
    fn update<'k>(
        &self,
        scope: &Scope,
        request: &UpdateRequest<'k>,
    ) -> Result<Option<WriteStatements<PgParams<'k>>>, DbError> {
        let mapping = request.mapping;
        let table = self.table(mapping)?;
        let mut sql = format!("UPDATE {} AS t SET ", self.table_name(scope, mapping));
        let mut params: PgParams<'k> = Vec::with_capacity(request.set.len() + 1);
        for (i, (index, value)) in request.set.iter().enumerate() {
            let name = column_name(mapping, *index)?;
            if i > 0 {
                sql.push_str(", ");
            }
            let cast = quote_double(&table.column(mapping, name)?.type_name);
            let _ = write!(sql, "{} = ${}::text::{cast}", quote_double(name), i + 1);
            params.push((Box::new(as_write_text(value)), Type::TEXT));
        }
        self.by_key(
            StatementKind::Update,
            sql,
            params,
            ByKey {
                mapping,
                columns: request.match_columns,
                key: request.key,
                returning: request.returning,
            },
        )
    }

    /// `DELETE FROM "t" AS t WHERE t."k" = $1::int8 RETURNING ...`.
    fn delete<'k>(
        &self,
        scope: &Scope,
        request: &DeleteRequest<'k>,
    ) -> Result<Option<WriteStatements<PgParams<'k>>>, DbError> {
        let mapping = request.mapping;
        let sql = format!("DELETE FROM {} AS t", self.table_name(scope, mapping));
        let params: PgParams<'k> = Vec::with_capacity(request.match_columns.len());
        self.by_key(
            StatementKind::Delete,
            sql,
            params,
            ByKey {
                mapping,
                columns: request.match_columns,
                key: request.key,
                returning: request.returning,
            },
        )
    }
}

/// A written value as the text PostgreSQL casts to the column's type; `None` for NULL.
fn as_write_text(value: &WriteValue) -> Option<String> {
    match value {
        WriteValue::Null => None,
        WriteValue::Bool(b) => Some(b.to_string()),
        WriteValue::Int(i) => Some(i.to_string()),
        WriteValue::Float(f) => Some(f.to_string()),
        WriteValue::Text(text) | WriteValue::Json(text) => Some(text.clone()),
    }
}

/// A statement for one (type, key, columns): its text, how to read each selected column, and
/// how to bind each key column.
#[derive(Debug)]
pub(crate) struct BatchSelect {
    pub(crate) sql: String,
    pub(crate) reads: Vec<ReadAs>,
    pub(crate) binds: Vec<KeyBind>,
}

/// Entity fetches' statements by what they are made of (the table as the scope names it, the
/// columns read and matched, the limits), so that the same fetch is not written again for
/// every request: building one cost about 19,000 instructions, a fifth of them formatting.
/// Bounded: past [`SelectCache::MAX_ENTRIES`] (many tenants' schemas times many selections)
/// it starts over.
#[derive(Debug, Default)]
pub(crate) struct SelectCache {
    by_hash: Mutex<HashMap<u64, Vec<CachedSelect>>>,
}

/// A statement in the cache, with what it was built for.
type CachedSelect = (SelectShape, Arc<BatchSelect>);

/// What makes a fetch's statement, as a request gives it: hashed and compared as derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SelectKey<'a> {
    table_name: &'a str,
    type_name: &'a str,
    columns: &'a [usize],
    match_columns: &'a [String],
    many: bool,
    per_key_limit: bool,
    row_limit: bool,
}

impl<'a> SelectKey<'a> {
    fn of(table_name: &'a str, request: &FetchRequest<'a>) -> SelectKey<'a> {
        SelectKey {
            table_name,
            type_name: request.mapping.type_name.as_str(),
            columns: request.columns,
            match_columns: request.match_columns,
            many: request.many,
            per_key_limit: request.per_key_limit.is_some(),
            row_limit: request.row_limit.is_some(),
        }
    }

    fn hash_value(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }
}

/// A [`SelectKey`] owned, as the cache keeps it.
#[derive(Debug)]
struct SelectShape {
    table_name: String,
    type_name: String,
    columns: Vec<usize>,
    match_columns: Vec<String>,
    many: bool,
    per_key_limit: bool,
    row_limit: bool,
}

impl SelectShape {
    fn new(key: SelectKey<'_>) -> SelectShape {
        SelectShape {
            table_name: key.table_name.to_owned(),
            type_name: key.type_name.to_owned(),
            columns: key.columns.to_vec(),
            match_columns: key.match_columns.to_vec(),
            many: key.many,
            per_key_limit: key.per_key_limit,
            row_limit: key.row_limit,
        }
    }

    fn key(&self) -> SelectKey<'_> {
        SelectKey {
            table_name: &self.table_name,
            type_name: &self.type_name,
            columns: &self.columns,
            match_columns: &self.match_columns,
            many: self.many,
            per_key_limit: self.per_key_limit,
            row_limit: self.row_limit,
        }
    }
}

impl SelectCache {
    /// Most statements kept.
    const MAX_ENTRIES: usize = 4096;

    /// The statement of `request` on `table_name`: the one built before, or `build`'s.
    fn get_or_build(
        &self,
        table_name: &str,
        request: &FetchRequest<'_>,
        build: impl FnOnce() -> BatchSelect,
    ) -> Arc<BatchSelect> {
        let key = SelectKey::of(table_name, request);
        let hash = key.hash_value();
        let mut by_hash = self.by_hash.lock().expect("select cache lock");
        if let Some((_, select)) = by_hash
            .get(&hash)
            .and_then(|entries| entries.iter().find(|(shape, _)| shape.key() == key))
        {
            return Arc::clone(select);
        }
        if by_hash.len() >= Self::MAX_ENTRIES {
            by_hash.clear();
        }
        let select = Arc::new(build());
        by_hash
            .entry(hash)
            .or_default()
            .push((SelectShape::new(key), Arc::clone(&select)));
        select
    }
}

/// `SELECT k.ord, <columns> FROM unnest($1::int8[], $2::text[]) WITH ORDINALITY AS k(k0, k1, ord)
/// JOIN "table" AS t ON t."c0" = k.k0 AND t."c1" = k.k1`: the same text for any number of keys,
/// so it is prepared once per connection; `k.ord` places each row.
pub(crate) fn batch_select(
    table: &PgTable,
    table_name: &str,
    request: &FetchRequest<'_>,
) -> BatchSelect {
    let mapping = request.mapping;
    let ranked = request.many && request.per_key_limit.is_some();
    let mut sql = String::from(if ranked {
        "SELECT * FROM (SELECT k.ord AS graft_pos"
    } else {
        "SELECT k.ord"
    });
    let mut reads = Vec::with_capacity(request.columns.len());
    for &index in request.columns {
        let name = &mapping.columns[index].column;
        let column = &table.columns[name.as_str()];
        let (read, expression) = column.read(&format!("t.{}", quote_double(name)));
        reads.push(read);
        let _ = write!(sql, ", {expression}");
    }
    let key_columns = request.match_columns;
    let binds: Vec<KeyBind> = key_columns
        .iter()
        .map(|c| table.columns[c.as_str()].key_bind())
        .collect();
    let first_key = first_key_order(mapping, quote_double);
    if ranked {
        // Each key's rows numbered in key order, the first ones kept (a list's `first`).
        let _ = write!(
            sql,
            ", row_number() OVER (PARTITION BY k.ord ORDER BY {}) AS graft_rank",
            first_key.join(", ")
        );
    }
    sql.push_str(" FROM unnest(");
    for (i, bind) in binds.iter().enumerate() {
        let array = if *bind == KeyBind::Int {
            "int8[]"
        } else {
            "text[]"
        };
        let _ = write!(sql, "{}${}::{array}", if i > 0 { ", " } else { "" }, i + 1);
    }
    sql.push_str(") WITH ORDINALITY AS k(");
    for i in 0..binds.len() {
        let _ = write!(sql, "k{i}, ");
    }
    let _ = write!(sql, "ord) JOIN {table_name} AS t ON ");
    for (i, (column, bind)) in key_columns.iter().zip(&binds).enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        let cast = match bind {
            KeyBind::Text { cast: Some(cast) } => format!("::{cast}"),
            _ => String::new(),
        };
        let _ = write!(sql, "t.{} = k.k{i}{cast}", quote_double(column));
    }
    // Bound after the key arrays: the per-key limit, then the row limit.
    let mut next = binds.len() + 1;
    if ranked {
        let _ = write!(
            sql,
            ") AS w WHERE w.graft_rank <= ${next} ORDER BY w.graft_pos, w.graft_rank"
        );
        next += 1;
    } else if request.many {
        // Rows of one parent together, in the order of the table's first key.
        sql.push_str(" ORDER BY k.ord");
        for column in &first_key {
            let _ = write!(sql, ", {column}");
        }
    }
    if request.many && request.row_limit.is_some() {
        let _ = write!(sql, " LIMIT ${next}");
    }
    BatchSelect { sql, reads, binds }
}

/// `SELECT 1::int8, <columns> FROM "table" AS t WHERE (t."k1", t."k2") > ($1::int8, $2::text)
/// ORDER BY t."k1", t."k2" LIMIT $3`: one page in key order, served by the key's index. The
/// leading `1` places every row under key position 0. Fails when a cursor value cannot be a
/// value of its column (a forged cursor).
pub(crate) fn page_select<'r>(
    table: &PgTable,
    table_name: &str,
    request: &PageRequest<'r>,
) -> Result<(BatchSelect, PgParams<'r>), DbError> {
    let mapping = request.mapping;
    let mut sql = String::from("SELECT 1::int8");
    let mut reads = Vec::with_capacity(request.columns.len());
    for &index in request.columns {
        let name = &mapping.columns[index].column;
        let (read, expression) =
            table.columns[name.as_str()].read(&format!("t.{}", quote_double(name)));
        reads.push(read);
        let _ = write!(sql, ", {expression}");
    }
    let _ = write!(sql, " FROM {table_name} AS t");
    let binds: Vec<KeyBind> = request
        .key_columns
        .iter()
        .map(|c| table.columns[c.as_str()].key_bind())
        .collect();
    let keys: Vec<String> = request
        .key_columns
        .iter()
        .map(|c| format!("t.{}", quote_double(c)))
        .collect();
    let mut params: PgParams<'r> = Vec::new();
    if let Some(after) = request.after {
        let mut markers = Vec::new();
        for (bind, value) in binds.iter().zip(after.values()) {
            let n = params.len() + 1;
            match bind {
                KeyBind::Int => {
                    let int = as_int(value).ok_or_else(|| {
                        DbError::Mapping(format!("cursor value {value} is not an integer"))
                    })?;
                    params.push((Box::new(int), Type::INT8));
                    markers.push(format!("${n}::int8"));
                }
                KeyBind::Text { cast } => {
                    params.push((Box::new(as_text(value)), Type::TEXT));
                    markers.push(format!(
                        "${n}::text{}",
                        cast.as_ref().map(|c| format!("::{c}")).unwrap_or_default()
                    ));
                }
            }
        }
        let _ = write!(
            sql,
            " WHERE ({}) > ({})",
            keys.join(", "),
            markers.join(", ")
        );
    }
    params.push((
        Box::new(i64::try_from(request.limit).unwrap_or(i64::MAX)),
        Type::INT8,
    ));
    let _ = write!(sql, " ORDER BY {} LIMIT ${}", keys.join(", "), params.len());
    Ok((BatchSelect { sql, reads, binds }, params))
}

/// The array parameters for `keys`, and the position of each key sent. A key whose value cannot
/// be a value of its column (the ID `"abc"` for an integer column) names no row, so it is not
/// sent at all.
pub(crate) fn key_arrays<'k>(
    binds: &[KeyBind],
    keys: &[&'k EntityKey],
) -> (PgParams<'k>, Vec<usize>) {
    let mut ints: Vec<Vec<i64>> = vec![Vec::new(); binds.len()];
    // String key values are bound as they are, without a copy.
    let mut texts: Vec<Vec<Cow<'k, str>>> = vec![Vec::new(); binds.len()];
    let mut sent = Vec::with_capacity(keys.len());
    'keys: for (position, key) in keys.iter().enumerate() {
        let values = key.values();
        for (bind, value) in binds.iter().zip(values) {
            let fits = match bind {
                KeyBind::Int => as_int(value).is_some(),
                KeyBind::Text { cast: Some(cast) } => text_fits(cast, &as_text(value)),
                KeyBind::Text { cast: None } => true,
            };
            if !fits {
                continue 'keys;
            }
        }
        for (i, (bind, value)) in binds.iter().zip(values).enumerate() {
            match bind {
                KeyBind::Int => ints[i].push(as_int(value).expect("checked above")),
                KeyBind::Text { .. } => texts[i].push(as_text(value)),
            }
        }
        sent.push(position);
    }
    let params = binds
        .iter()
        .zip(ints.into_iter().zip(texts))
        .map(
            |(bind, (ints, texts))| -> (Box<dyn ToSql + Sync + Send + 'k>, Type) {
                match bind {
                    KeyBind::Int => (Box::new(ints), Type::INT8_ARRAY),
                    KeyBind::Text { .. } => (Box::new(texts), Type::TEXT_ARRAY),
                }
            },
        )
        .collect();
    (params, sent)
}

/// Whether `text` is a valid input for the (quoted) type `cast`, for the types whose invalid
/// input would make PostgreSQL fail the whole statement. A key that fails this names no row and
/// is not sent; types not listed are sent as they are.
fn text_fits(cast: &str, text: &str) -> bool {
    match cast.trim_matches('"') {
        "uuid" => {
            let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
            hex.len() == 32 && hex.iter().all(u8::is_ascii_hexdigit) && !text.starts_with('-')
        }
        "bool" => matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "t" | "f" | "1" | "0" | "yes" | "no" | "on" | "off"
        ),
        "numeric" | "float4" | "float8" => text.trim().parse::<f64>().is_ok(),
        "date" => {
            let parts: Vec<&str> = text.split('-').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        }
        _ => true,
    }
}

fn as_int(value: &KeyValue) -> Option<i64> {
    match value {
        KeyValue::Int(i) => Some(*i),
        KeyValue::String(s) => s.parse().ok(),
        KeyValue::Float(f) if f.get().fract() == 0.0 && f.get().abs() < 9.0e15 => {
            Some(f.get() as i64)
        }
        KeyValue::Float(_) | KeyValue::Boolean(_) => None,
    }
}

fn as_text(value: &KeyValue) -> Cow<'_, str> {
    match value {
        KeyValue::String(s) => Cow::Borrowed(s),
        KeyValue::Int(i) => Cow::Owned(i.to_string()),
        KeyValue::Float(f) => Cow::Owned(f.get().to_string()),
        KeyValue::Boolean(b) => Cow::Owned(b.to_string()),
    }
}

impl crate::tenants::TenantSql for PgDialect {
    fn text_parameter(&self, n: usize) -> String {
        format!("${n}::text")
    }

    fn text_params<'k>(&self, values: Vec<Option<String>>) -> PgParams<'k> {
        values
            .into_iter()
            .map(|value| (Box::new(value) as Box<dyn ToSql + Sync + Send>, Type::TEXT))
            .collect()
    }

    fn position_zero(&self) -> &'static str {
        "0::int8"
    }

    fn column_exists(&self, table: &str, column: &str) -> String {
        format!(
            "SELECT 0::int8, COUNT(*)::text FROM pg_catalog.pg_attribute \
             WHERE attrelid = to_regclass('{table}') AND attname = '{column}' AND NOT attisdropped"
        )
    }

    fn table_exists(&self, name: &str) -> String {
        format!(
            "SELECT 0::int8, COUNT(*) FROM pg_catalog.pg_class WHERE oid = to_regclass('{name}')"
        )
    }

    fn insert_or_ignore(&self, rest: &str) -> String {
        format!("INSERT INTO {rest} ON CONFLICT DO NOTHING")
    }

    fn quote(&self, identifier: &str) -> String {
        quote_double(identifier)
    }

    fn reserved_schema(&self) -> Option<&'static str> {
        Some(
            "SELECT {position}, CASE WHEN s.n = current_schema() \
             OR s.n IN ('public', 'information_schema') OR s.n LIKE 'pg\\_%' \
             THEN '1' ELSE '0' END FROM (SELECT {1} AS n) AS s",
        )
    }

    fn create_schema(&self, schema: &graft_resolve::SchemaName) -> Option<String> {
        Some(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_double(schema.as_str())
        ))
    }

    fn drop_schema(&self, schema: &graft_resolve::SchemaName) -> Option<String> {
        Some(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_double(schema.as_str())
        ))
    }

    fn use_schema(&self, schema: &graft_resolve::SchemaName) -> Option<String> {
        Some(format!(
            "SET search_path TO {}",
            quote_double(schema.as_str())
        ))
    }

    /// A session advisory lock on the target's name (a validated schema name, or empty for
    /// the database's own schema), released when the connection closes.
    fn lock_target(&self, target: &str) -> Option<String> {
        Some(format!(
            "SELECT pg_advisory_lock(hashtext('graft_migrate:{target}'))"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use graft_keys::KeyIndex;
    use graft_schema::SubgraphSchema;

    use super::*;

    #[test]
    fn a_fetch_statement_is_built_once_per_table_and_selection() {
        let schema = SubgraphSchema::parse(
            r#"type U @key(fields: "id") @table(name: "u") { id: ID! name: String email: String }"#,
            "u.graphql",
        )
        .expect("valid schema");
        let mapping = schema.mapping("U").expect("mapped");
        let cache = SelectCache::default();
        let built = Cell::new(0);
        let fetch = |table_name: &str, columns: &[usize], many: bool| {
            let mut request = FetchRequest::by_key(mapping, KeyIndex(0), &[], columns);
            request.many = many;
            cache
                .get_or_build(table_name, &request, || {
                    built.set(built.get() + 1);
                    BatchSelect {
                        sql: format!("statement {}", built.get()),
                        reads: Vec::new(),
                        binds: Vec::new(),
                    }
                })
                .sql
                .clone()
        };
        assert_eq!(fetch("\"u\"", &[0, 1], false), "statement 1");
        assert_eq!(fetch("\"u\"", &[0, 1], false), "statement 1");
        // Another tenant's schema, other columns, other columns' order, a list: each its own.
        assert_eq!(fetch("\"t1\".\"u\"", &[0, 1], false), "statement 2");
        assert_eq!(fetch("\"u\"", &[0, 2], false), "statement 3");
        assert_eq!(fetch("\"u\"", &[1, 0], false), "statement 4");
        assert_eq!(fetch("\"u\"", &[0, 1], true), "statement 5");
        assert_eq!(fetch("\"t1\".\"u\"", &[0, 1], false), "statement 2");
        assert_eq!(built.get(), 5);
    }
}
