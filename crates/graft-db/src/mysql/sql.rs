//! The SQL MariaDB (or MySQL) runs for a fetch group.

use std::fmt::Write as _;

use graft_keys::{EntityKey, KeyValue};
use graft_resolve::FetchRequest;

use super::introspect::{KeyBind, MyTable};
use crate::column::ReadAs;
use crate::{DbError, quote_backtick};

/// A statement for one (type, key, columns): its text, how to read each selected column, and
/// how to check each key column's values.
#[derive(Debug)]
pub(crate) struct BatchSelect {
    pub(crate) sql: String,
    pub(crate) reads: Vec<ReadAs>,
    pub(crate) binds: Vec<KeyBind>,
}

/// `SELECT k.ord, <columns> FROM JSON_TABLE(?, '$[*]' COLUMNS(ord FOR ORDINALITY, k0 <type> PATH
/// '$[0]', ...)) AS k JOIN `table` AS t ON t.`c0` = k.k0 AND ...`: the same text for any number
/// of keys, so it is prepared once per connection and stays in the statement cache; `k.ord`
/// (from 1) places each row. The `JSON_TABLE` columns have the key columns' own types,
/// character sets and collations, so each key is an `eq_ref` lookup on the index.
pub(crate) fn batch_select(
    table: &MyTable,
    request: &FetchRequest<'_>,
) -> Result<BatchSelect, DbError> {
    let mapping = request.mapping;
    let unmapped = |name: &str| {
        DbError::Mapping(format!(
            "type {}: column `{name}` was not checked when this source started",
            mapping.type_name
        ))
    };
    let mut sql = String::from("SELECT k.ord");
    let mut reads = Vec::with_capacity(request.columns.len());
    for &index in request.columns {
        let name = &mapping.columns[index].column;
        let (read, expression) = table
            .column(name)
            .and_then(|column| column.read(&format!("t.{}", quote_backtick(name))))
            .ok_or_else(|| unmapped(name))?;
        reads.push(read);
        let _ = write!(sql, ", {expression}");
    }
    let key_columns = request.match_columns;
    let keys = key_columns
        .iter()
        .map(|name| table.key(name).ok_or_else(|| unmapped(name)))
        .collect::<Result<Vec<_>, _>>()?;
    sql.push_str(" FROM JSON_TABLE(?, '$[*]' COLUMNS(ord FOR ORDINALITY");
    for (i, key) in keys.iter().enumerate() {
        let _ = write!(sql, ", k{i} {} PATH '$[{i}]'", key.json_table_type);
    }
    let _ = write!(sql, ")) AS k JOIN {} AS t ON ", table.quoted_name);
    for (i, column) in key_columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        let _ = write!(sql, "t.{} = k.k{i}", quote_backtick(column));
    }
    if request.many {
        // Rows of one parent together, in the order of the table's first key.
        sql.push_str(" ORDER BY k.ord");
        for column in mapping.key_columns.first().into_iter().flatten() {
            let _ = write!(sql, ", t.{}", quote_backtick(column));
        }
    }
    Ok(BatchSelect {
        sql,
        reads,
        binds: keys.iter().map(|key| key.bind).collect(),
    })
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
fn fits(bind: KeyBind, value: &KeyValue) -> bool {
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

fn as_int(value: &KeyValue) -> Option<i128> {
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

fn as_text(value: &KeyValue) -> std::borrow::Cow<'_, str> {
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

    #[test]
    fn one_fixed_statement_with_quoted_identifiers_and_typed_key_columns() {
        let schema = SubgraphSchema::parse(
            r#"type OrgUser @key(fields: "orgId userId") @table(name: "org`users") { orgId: String! userId: Int! name: String }"#,
            "t.graphql",
        )
        .unwrap();
        let mapping = schema.mapping("OrgUser").unwrap();
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
        let table = MyTable {
            quoted_name: quote_backtick("org`users"),
            columns,
            keys,
        };
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
        let select = batch_select(&table, &request).unwrap();
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
}
