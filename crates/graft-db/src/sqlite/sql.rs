//! The SQL SQLite runs for a fetch group.

use std::fmt::Write as _;

use graft_keys::{EntityKey, KeyValue};
use graft_resolve::{FetchRequest, PageRequest};
use graft_schema::EntityMapping;

use crate::{first_key_order, quote_double};

/// `SELECT j.key, t."c1", ... FROM json_each(?1) AS j JOIN "table" AS t ON t."k1" = j.value ->> 0
/// AND ...`: one fixed text per (type, key, columns), whatever the number of keys. `j.key` is the
/// key's position in the parameter array, so rows are placed without sorting.
///
/// With a per-key limit (a list's `first`), each key's rows are numbered in the order of the
/// table's first key and only the first ones are kept: `SELECT * FROM (SELECT j.key AS graft_pos,
/// ..., ROW_NUMBER() OVER (PARTITION BY j.key ORDER BY t."k") AS graft_rank ...) AS w WHERE
/// w.graft_rank <= ?2`. The rank comes last, after the columns the rows are read from.
pub(crate) fn batch_select(request: &FetchRequest<'_>) -> String {
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
pub(crate) fn per_key_limit(request: &FetchRequest<'_>) -> Option<i64> {
    request
        .per_key_limit
        .filter(|_| request.many)
        .map(|limit| i64::try_from(limit).unwrap_or(i64::MAX))
}

/// The `LIMIT` a fetch binds after its keys, if it has one (`many` fetches with a row limit).
pub(crate) fn row_limit(request: &FetchRequest<'_>) -> Option<i64> {
    request
        .row_limit
        .filter(|_| request.many)
        .map(|limit| i64::try_from(limit).unwrap_or(i64::MAX))
}

/// `SELECT 0, t."c1", ... FROM "table" AS t WHERE (t."k1", t."k2") > (?1, ?2) ORDER BY t."k1",
/// t."k2" LIMIT ?3`: one page in key order, served by the key's index without sorting. The
/// leading `0` places every row under key position 0.
pub(crate) fn page_select(request: &PageRequest<'_>) -> String {
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
    if request.after.is_some() {
        let markers: Vec<String> = (1..=keys.len()).map(|i| format!("?{i}")).collect();
        let _ = write!(
            sql,
            " WHERE ({}) > ({})",
            keys.join(", "),
            markers.join(", ")
        );
        next += keys.len();
    }
    let _ = write!(sql, " ORDER BY {} LIMIT ?{next}", keys.join(", "));
    sql
}

/// Appends `, t."c1", ...` for `columns` to `sql` and returns the quoted table name.
fn select_list(sql: &mut String, mapping: &EntityMapping, columns: &[usize]) -> String {
    for &column in columns {
        let _ = write!(sql, ", t.{}", quote_double(&mapping.columns[column].column));
    }
    match &mapping.table.schema {
        Some(schema) => format!(
            "{}.{}",
            quote_double(schema),
            quote_double(&mapping.table.name)
        ),
        None => quote_double(&mapping.table.name),
    }
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
            batch_select(&request),
            r#"SELECT j.key, t."name" FROM json_each(?1) AS j JOIN "org""users" AS t ON t."org_id" = j.value ->> 0 AND t."user_id" = j.value ->> 1"#
        );
        assert_eq!(
            keys_parameter(&[&key, &key]),
            r#"[["o\"1","u"],["o\"1","u"]]"#
        );
    }
}
