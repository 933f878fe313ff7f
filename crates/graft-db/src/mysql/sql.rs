//! The statements MariaDB (or MySQL) reads with: a fetch group's and a page's, with their
//! parameters. The writes, and the [`super::MyDialect`] that puts them together, are in
//! `dialect.rs`.

use std::fmt::Write as _;

use graft_keys::{EntityKey, KeyValue};
use graft_resolve::{FetchRequest, PageRequest};
use graft_schema::EntityMapping;
use mysql_async::Value;

use super::introspect::{KeyBind, KeyColumn, MyTable};
use crate::column::ReadAs;
use crate::{DbError, first_key_order, quote_backtick};

/// A statement for one (type, key, columns): its text, how to read each selected column (they
/// follow the position column that [`super::rows::read_row`] reads first), and how to check
/// each key column's values.
#[derive(Debug)]
pub(crate) struct Select {
    pub(crate) sql: String,
    pub(crate) reads: Vec<ReadAs>,
    pub(crate) binds: Vec<KeyBind>,
}

/// The error for a column the source did not check at start-up.
pub(super) fn unmapped(mapping: &EntityMapping, name: &str) -> DbError {
    DbError::Mapping(format!(
        "type {}: column `{name}` was not checked when this source started",
        mapping.type_name
    ))
}

/// Appends `, <expression>` to `sql` for each of `columns` (indices into `mapping.columns`) of
/// the table aliased `t`, and returns how to read each one.
fn select_columns(
    table: &MyTable,
    mapping: &EntityMapping,
    columns: &[usize],
    sql: &mut String,
) -> Result<Vec<ReadAs>, DbError> {
    let mut reads = Vec::with_capacity(columns.len());
    for &index in columns {
        let name = &mapping.columns[index].column;
        let (read, expression) = table
            .column(name)
            .and_then(|column| column.read(&format!("t.{}", quote_backtick(name))))
            .ok_or_else(|| unmapped(mapping, name))?;
        reads.push(read);
        let _ = write!(sql, ", {expression}");
    }
    Ok(reads)
}

/// How each of `names` is bound, as a key column of `table`.
pub(super) fn bound_keys<'t>(
    table: &'t MyTable,
    mapping: &EntityMapping,
    names: &[String],
) -> Result<Vec<&'t KeyColumn>, DbError> {
    names
        .iter()
        .map(|name| table.key(name).ok_or_else(|| unmapped(mapping, name)))
        .collect()
}

/// `SELECT k.ord, <columns> FROM JSON_TABLE(?, '$[*]' COLUMNS(ord FOR ORDINALITY, k0 <type> PATH
/// '$[0]', ...)) AS k JOIN `table` AS t ON t.`c0` = k.k0 AND ...`: the same text for any number
/// of keys, so it is prepared once per connection and stays in the statement cache; `k.ord`
/// (from 1) places each row. The `JSON_TABLE` columns have the key columns' own types,
/// character sets and collations, so each key is an `eq_ref` lookup on the index.
///
/// With `tenant_column`, only the tenant's rows join: `... AND t.`tenant` = ?`, bound right
/// after the keys.
pub(crate) fn batch_select(
    table: &MyTable,
    table_name: &str,
    request: &FetchRequest<'_>,
    tenant_column: Option<&str>,
) -> Result<Select, DbError> {
    let mapping = request.mapping;
    let ranked = request.many && request.per_key_limit.is_some();
    let mut sql = String::from(if ranked {
        "SELECT * FROM (SELECT k.ord AS graft_pos"
    } else {
        "SELECT k.ord"
    });
    let reads = select_columns(table, mapping, request.columns, &mut sql)?;
    let key_columns = request.match_columns;
    let keys = bound_keys(table, mapping, key_columns)?;
    let first_key = first_key_order(mapping, quote_backtick);
    if ranked {
        // Each key's rows numbered in key order, the first ones kept (a list's `first`).
        let _ = write!(
            sql,
            ", ROW_NUMBER() OVER (PARTITION BY k.ord ORDER BY {}) AS graft_rank",
            first_key.join(", ")
        );
    }
    sql.push_str(" FROM JSON_TABLE(?, '$[*]' COLUMNS(ord FOR ORDINALITY");
    for (i, key) in keys.iter().enumerate() {
        let _ = write!(sql, ", k{i} {} PATH '$[{i}]'", key.json_table_type);
    }
    let _ = write!(sql, ")) AS k JOIN {table_name} AS t ON ");
    for (i, column) in key_columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        let _ = write!(sql, "t.{} = k.k{i}", quote_backtick(column));
    }
    if let Some(column) = tenant_column {
        let _ = write!(sql, " AND t.{} = ?", quote_backtick(column));
    }
    // Bound after the keys (and the tenant): the per-key limit, then the row limit.
    if ranked {
        sql.push_str(") AS w WHERE w.graft_rank <= ? ORDER BY w.graft_pos, w.graft_rank");
    } else if request.many {
        // Rows of one parent together, in the order of the table's first key.
        sql.push_str(" ORDER BY k.ord");
        for column in &first_key {
            let _ = write!(sql, ", {column}");
        }
    }
    if request.many && request.row_limit.is_some() {
        sql.push_str(" LIMIT ?");
    }
    Ok(Select {
        sql,
        reads,
        binds: keys.iter().map(|key| key.bind).collect(),
    })
}

/// `SELECT 1, <columns> FROM `table` AS t [WHERE <after the cursor>] ORDER BY t.k0, t.k1 LIMIT ?`:
/// one text for the first page and one for the pages after a cursor. The constant `1` is the
/// position column, so every row lands at position 0, in key order.
///
/// "After the cursor" is written out as `t.k0 > ? OR (t.k0 = ? AND t.k1 > ?) OR ...` rather
/// than as the row comparison `(t.k0, t.k1) > (?, ?)`: MariaDB (10.11) makes no range of a row
/// comparison and would scan the index from its start on every page, while each disjunct here
/// is a range of the index, so a page is a range scan on it that stops after `LIMIT` rows, in
/// index order, without a sort. Each parameter is cast to its column's character set and
/// collation ([`KeyColumn::parameter`]), so that it compares in the index's order.
///
/// With `tenant_column`, only the tenant's rows: `WHERE t.`tenant` = ? AND (<after the
/// cursor>)`, the tenant bound first.
pub(crate) fn page_select(
    table: &MyTable,
    table_name: &str,
    request: &PageRequest<'_>,
    tenant_column: Option<&str>,
) -> Result<Select, DbError> {
    let mapping = request.mapping;
    let mut sql = String::from("SELECT 1");
    let reads = select_columns(table, mapping, request.columns, &mut sql)?;
    let keys = bound_keys(table, mapping, request.key_columns)?;
    let quoted: Vec<String> = request
        .key_columns
        .iter()
        .map(|name| format!("t.{}", quote_backtick(name)))
        .collect();
    let _ = write!(sql, " FROM {table_name} AS t");
    if let Some(column) = tenant_column {
        let _ = write!(sql, " WHERE t.{} = ?", quote_backtick(column));
    }
    if request.after.is_some() {
        sql.push_str(if tenant_column.is_some() {
            " AND ("
        } else {
            " WHERE "
        });
        for (last, key) in keys.iter().enumerate() {
            if last > 0 {
                sql.push_str(" OR (");
            }
            for (column, equal) in quoted.iter().zip(&keys).take(last) {
                let _ = write!(sql, "{column} = {} AND ", equal.parameter);
            }
            let _ = write!(sql, "{} > {}", quoted[last], key.parameter);
            if last > 0 {
                sql.push(')');
            }
        }
        if tenant_column.is_some() {
            sql.push(')');
        }
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(&quoted.join(", "));
    sql.push_str(" LIMIT ?");
    Ok(Select {
        sql,
        reads,
        binds: keys.iter().map(|key| key.bind).collect(),
    })
}

/// The parameters of a [`page_select`]: the cursor's values as [`page_select`]'s `WHERE` uses
/// them (`k0`; `k0, k1`; ...), then the limit. A cursor value that cannot be a value of its
/// column (checked as [`keys_parameter`] checks keys) names no row: graft made no such cursor,
/// so it is refused with the reason rather than sent, converted, to name another row.
pub(crate) fn page_parameters(
    table: &MyTable,
    select: &Select,
    request: &PageRequest<'_>,
) -> Result<Vec<Value>, String> {
    let limit = u64::try_from(request.limit).unwrap_or(u64::MAX);
    let Some(after) = request.after else {
        return Ok(vec![Value::UInt(limit)]);
    };
    let values = after.values();
    let type_name = &request.mapping.type_name;
    if values.len() != select.binds.len() {
        return Err(format!(
            "the cursor does not name a row of type {type_name}: it has {} values for {} key \
             columns",
            values.len(),
            select.binds.len()
        ));
    }
    let mut bound = Vec::with_capacity(values.len());
    for ((bind, value), name) in select.binds.iter().zip(values).zip(request.key_columns) {
        if !fits(*bind, value) {
            let column_type = table
                .column(name)
                .map_or("?", |column| column.column_type.as_str());
            return Err(format!(
                "the cursor does not name a row of type {type_name}: its value for key column \
                 `{name}` cannot be a value of that column ({column_type})"
            ));
        }
        bound.push(match bind {
            KeyBind::Int { .. } => {
                let int = as_int(value).expect("checked by fits");
                match i64::try_from(int) {
                    Ok(int) => Value::Int(int),
                    Err(_) => Value::UInt(u64::try_from(int).expect("within the column's range")),
                }
            }
            KeyBind::Text { .. } => Value::Bytes(as_text(value).into_owned().into_bytes()),
        });
    }
    let mut parameters = Vec::with_capacity(bound.len() * (bound.len() + 1) / 2 + 1);
    for last in 0..bound.len() {
        parameters.extend_from_slice(&bound[..=last]);
    }
    parameters.push(Value::UInt(limit));
    Ok(parameters)
}

/// The single bind parameter, the keys as a JSON array of arrays (`[["org-1","u1"],[7]]`),
/// and the position of each key sent. A key whose value cannot be a value of its column (the
/// ID `"abc"` or 5000000000 for an `int` column, a string longer than a `varchar(64)`) names no
/// row, so it is not sent at all: `JSON_TABLE` would convert it, with only a warning, into a
/// value that could name another row.
pub(crate) fn keys_parameter(binds: &[KeyBind], keys: &[&EntityKey]) -> (String, Vec<usize>) {
    let mut json: Vec<u8> = Vec::with_capacity(keys.len() * 24 + 2);
    let mut sent = Vec::with_capacity(keys.len());
    json.push(b'[');
    'keys: for (position, key) in keys.iter().enumerate() {
        let values = key.values();
        if values.len() != binds.len() {
            continue;
        }
        for (bind, value) in binds.iter().zip(values) {
            if !fits(*bind, value) {
                continue 'keys;
            }
        }
        if !sent.is_empty() {
            json.push(b',');
        }
        json.push(b'[');
        for (i, (bind, value)) in binds.iter().zip(values).enumerate() {
            if i > 0 {
                json.push(b',');
            }
            match bind {
                KeyBind::Int { .. } => {
                    let _ = write!(
                        Utf8(&mut json),
                        "{}",
                        as_int(value).expect("checked by fits")
                    );
                }
                KeyBind::Text { .. } => {
                    serde_json::to_writer(&mut json, &as_text(value))
                        .expect("writing to a Vec cannot fail");
                }
            }
        }
        json.push(b']');
        sent.push(position);
    }
    json.push(b']');
    let json = String::from_utf8(json).expect("serde_json and integers write UTF-8");
    (json, sent)
}

/// Whether `value` can be a value of a key column bound as `bind`.
pub(super) fn fits(bind: KeyBind, value: &KeyValue) -> bool {
    match bind {
        KeyBind::Int { min, max } => as_int(value).is_some_and(|i| (min..=max).contains(&i)),
        KeyBind::Text {
            max_chars,
            repertoire,
        } => {
            let text = as_text(value);
            u64::try_from(text.chars().count()).is_ok_and(|n| n <= max_chars)
                && repertoire.holds(&text)
        }
    }
}

pub(super) fn as_int(value: &KeyValue) -> Option<i128> {
    match value {
        KeyValue::Int(i) => Some((*i).into()),
        KeyValue::String(s) => s.parse().ok(),
        KeyValue::Float(f) if f.get().fract() == 0.0 && f.get().abs() < 9.0e15 => {
            Some(f.get() as i128)
        }
        KeyValue::Boolean(b) => Some((*b).into()),
        KeyValue::Float(_) => None,
    }
}

pub(super) fn as_text(value: &KeyValue) -> std::borrow::Cow<'_, str> {
    match value {
        KeyValue::String(s) => std::borrow::Cow::Borrowed(&**s),
        KeyValue::Int(i) => i.to_string().into(),
        KeyValue::Float(f) => f.get().to_string().into(),
        KeyValue::Boolean(b) => b.to_string().into(),
    }
}

/// `fmt::Write` into a byte buffer, for integers.
struct Utf8<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Utf8<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use graft_keys::KeyIndex;
    use graft_keys::apollo_compiler::Name;
    use graft_schema::SubgraphSchema;

    use super::super::introspect::{KeyColumn, MyColumn, Repertoire};
    use super::*;

    fn varchar(max_chars: u64) -> MyColumn {
        MyColumn {
            data_type: "varchar".to_owned(),
            column_type: format!("varchar({max_chars})"),
            charset: Some("utf8mb4".to_owned()),
            collation: Some("utf8mb4_bin".to_owned()),
            max_chars: Some(max_chars),
            fraction_digits: 0,
            json: false,
        }
    }

    fn key(values: Vec<KeyValue>) -> EntityKey {
        EntityKey::new(Name::new("OrgUser").unwrap(), KeyIndex(0), values)
    }

    fn org_users() -> SubgraphSchema {
        SubgraphSchema::parse(
            r#"type OrgUser @key(fields: "orgId userId") @table(name: "org`users") { orgId: String! userId: Int! name: String }"#,
            "t.graphql",
        )
        .unwrap()
    }

    /// `org_id varchar(3)`, `user_id int(11)`, `name varchar(200)`.
    fn org_users_table() -> MyTable {
        let user = MyColumn {
            data_type: "int".to_owned(),
            column_type: "int(11)".to_owned(),
            charset: None,
            collation: None,
            max_chars: None,
            fraction_digits: 0,
            json: false,
        };
        let columns: HashMap<String, MyColumn> = [
            ("org_id".to_owned(), varchar(3)),
            ("user_id".to_owned(), user.clone()),
            ("name".to_owned(), varchar(200)),
        ]
        .into();
        let keys: HashMap<String, KeyColumn> = [
            ("org_id".to_owned(), varchar(3).key_column().unwrap()),
            ("user_id".to_owned(), user.key_column().unwrap()),
        ]
        .into();
        MyTable { columns, keys }
    }

    #[test]
    fn one_fixed_statement_with_quoted_identifiers_and_typed_key_columns() {
        let schema = org_users();
        let mapping = schema.mapping("OrgUser").unwrap();
        let table = org_users_table();
        let keys = [
            key(vec![KeyValue::String("o\"1".into()), KeyValue::Int(7)]),
            key(vec![
                KeyValue::String("o".into()),
                KeyValue::String("abc".into()),
            ]),
            key(vec![
                KeyValue::String("o".into()),
                KeyValue::Int(5_000_000_000),
            ]),
            key(vec![KeyValue::String("long".into()), KeyValue::Int(1)]),
            key(vec![
                KeyValue::String("".into()),
                KeyValue::String("-8".into()),
            ]),
        ];
        let refs: Vec<&EntityKey> = keys.iter().collect();
        let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[2]);
        let select = batch_select(&table, &quote_backtick("org`users"), &request, None).unwrap();
        assert_eq!(
            select.sql,
            "SELECT k.ord, t.`name` FROM JSON_TABLE(?, '$[*]' COLUMNS(ord FOR ORDINALITY, \
             k0 varchar(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[0]', \
             k1 int(11) PATH '$[1]')) AS k JOIN `org``users` AS t ON t.`org_id` = k.k0 AND \
             t.`user_id` = k.k1"
        );
        assert_eq!(
            keys_parameter(&select.binds, &refs),
            (r#"[["o\"1",7],["",-8]]"#.to_owned(), vec![0, 4])
        );
        assert_eq!(
            select.binds[0],
            KeyBind::Text {
                max_chars: 3,
                repertoire: Repertoire::Unicode
            }
        );
    }

    #[test]
    fn a_page_is_a_range_after_the_cursor_in_key_order_with_typed_parameters() {
        let schema = org_users();
        let mapping = schema.mapping("OrgUser").unwrap();
        let table = org_users_table();
        let first = PageRequest {
            mapping,
            key_columns: mapping.key_columns(KeyIndex(0)),
            after: None,
            limit: 7,
            columns: &[2, 0],
        };
        let select = page_select(&table, &quote_backtick("org`users"), &first, None).unwrap();
        assert_eq!(
            select.sql,
            "SELECT 1, t.`name`, t.`org_id` FROM `org``users` AS t \
             ORDER BY t.`org_id`, t.`user_id` LIMIT ?"
        );
        assert_eq!(
            page_parameters(&table, &select, &first),
            Ok(vec![Value::UInt(7)])
        );
        let cursor = key(vec![KeyValue::String("o\"1".into()), KeyValue::Int(7)]);
        let next = PageRequest {
            after: Some(&cursor),
            ..first
        };
        let select = page_select(&table, &quote_backtick("org`users"), &next, None).unwrap();
        let text = "CAST(? AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin";
        assert_eq!(
            select.sql,
            format!(
                "SELECT 1, t.`name`, t.`org_id` FROM `org``users` AS t \
                 WHERE t.`org_id` > {text} OR (t.`org_id` = {text} AND t.`user_id` > ?) \
                 ORDER BY t.`org_id`, t.`user_id` LIMIT ?"
            )
        );
        let org = Value::Bytes(b"o\"1".to_vec());
        assert_eq!(
            page_parameters(&table, &select, &next),
            Ok(vec![org.clone(), org, Value::Int(7), Value::UInt(7)])
        );
        // Confined to a tenant's rows: the tenant first, the cursor's range in parentheses.
        let select = page_select(
            &table,
            &quote_backtick("org`users"),
            &next,
            Some("tenant_id"),
        )
        .unwrap();
        assert_eq!(
            select.sql,
            format!(
                "SELECT 1, t.`name`, t.`org_id` FROM `org``users` AS t WHERE t.`tenant_id` = ? \
                 AND (t.`org_id` > {text} OR (t.`org_id` = {text} AND t.`user_id` > ?)) \
                 ORDER BY t.`org_id`, t.`user_id` LIMIT ?"
            )
        );
        for forged in [
            key(vec![
                KeyValue::String("o".into()),
                KeyValue::String("abc".into()),
            ]),
            key(vec![KeyValue::String("long".into()), KeyValue::Int(1)]),
            key(vec![KeyValue::String("o".into())]),
        ] {
            let request = PageRequest {
                after: Some(&forged),
                ..first
            };
            let error = page_parameters(&table, &select, &request).unwrap_err();
            assert!(
                error.starts_with("the cursor does not name a row of type OrgUser"),
                "{error}"
            );
        }
        let forged = key(vec![KeyValue::String("o".into()), KeyValue::Int(1 << 40)]);
        let request = PageRequest {
            after: Some(&forged),
            ..first
        };
        assert_eq!(
            page_parameters(&table, &select, &request),
            Err(
                "the cursor does not name a row of type OrgUser: its value for key column \
                 `user_id` cannot be a value of that column (int(11))"
                    .to_owned()
            )
        );
    }
}
