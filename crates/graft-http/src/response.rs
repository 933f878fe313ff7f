//! Reading a remote subgraph's answer (GraphQL over HTTP) into a [`RowSet`]. Pure: it gets the
//! status and the body and knows nothing of the connection, so every shape is unit-tested here.
//!
//! - A non-2xx status is an [`SourceErrorKind::Http`] error with the status and either the
//!   GraphQL errors the body carries or a bounded snippet of it.
//! - A body that is not JSON, or JSON that is not a GraphQL response, or a `data._entities` list
//!   of the wrong length, is a [`SourceErrorKind::Protocol`] error; no `data._entities` list but
//!   `errors` is a [`SourceErrorKind::Remote`] error.
//! - An error whose `path` is `["_entities", i, …]` fails key `i` alone
//!   ([`RowSet::set_key_error`]); an error without such a path fails the keys whose entity is
//!   `null`; the other keys resolve.
//! - Each entity object becomes one row: one cell per requested column, read by the selection's
//!   paths. Values are taken as the remote wrote them (a JSON object or array stays JSON text).

use std::collections::{BTreeMap, HashMap};

use graft_resolve::{Cell, ResolveError, RowSet, RowWriter, SourceErrorKind};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::query::{EntityQuery, FieldKind, Selection};

/// The most characters of a body quoted in an error.
pub(crate) const SNIPPET_CHARS: usize = 200;

/// Who answered, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// The source's name.
    pub(crate) source: &'a str,
    /// The remote's URL.
    pub(crate) url: &'a str,
    /// How many HTTP requests this fetch sent.
    pub(crate) attempts: u32,
}

impl Origin<'_> {
    /// An error of this source.
    pub(crate) fn error(&self, kind: SourceErrorKind, message: String) -> ResolveError {
        ResolveError::Source {
            source_name: self.source.to_owned(),
            kind,
            message,
        }
    }

    /// `<url> (1 attempt)`, `<url> (3 attempts)`.
    pub(crate) fn at(&self) -> String {
        let plural = if self.attempts == 1 { "" } else { "s" };
        format!("{} ({} attempt{plural})", self.url, self.attempts)
    }
}

/// A GraphQL response, as far as graft reads it.
#[derive(Debug, Deserialize)]
struct Response<'a> {
    #[serde(borrow, default)]
    data: Option<Data<'a>>,
    #[serde(default)]
    errors: Option<Vec<GraphQLError>>,
}

#[derive(Debug, Deserialize)]
struct Data<'a> {
    #[serde(rename = "_entities", borrow, default)]
    entities: Option<Vec<&'a RawValue>>,
}

#[derive(Debug, Deserialize)]
struct GraphQLError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    path: Option<Vec<serde_json::Value>>,
}

impl GraphQLError {
    /// The `_entities` index the error's path points into, if it does.
    fn entity_index(&self) -> Option<usize> {
        match self.path.as_deref()? {
            [
                serde_json::Value::String(root),
                serde_json::Value::Number(index),
                ..,
            ] if root == "_entities" => usize::try_from(index.as_u64()?).ok(),
            _ => None,
        }
    }
}

/// Reads the answer to an `_entities` request for `keys` keys into `rows`, or fails the whole
/// fetch.
pub(crate) fn read(
    status: StatusCode,
    body: &[u8],
    query: &EntityQuery,
    keys: usize,
    rows: &mut RowSet,
    origin: &Origin<'_>,
) -> Result<(), ResolveError> {
    if !status.is_success() {
        return Err(http_error(status, body, origin));
    }
    let response: Response<'_> = serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() {
            "JSON but not a GraphQL response"
        } else {
            "not JSON"
        };
        origin.error(
            SourceErrorKind::Protocol,
            format!("{} answered {what} ({e}): {}", origin.at(), snippet(body)),
        )
    })?;
    let errors = response.errors.unwrap_or_default();
    let Some(entities) = response.data.and_then(|data| data.entities) else {
        return Err(if errors.is_empty() {
            origin.error(
                SourceErrorKind::Protocol,
                format!("{} answered without a `data._entities` list", origin.at()),
            )
        } else {
            origin.error(
                SourceErrorKind::Remote,
                format!(
                    "{} answered with errors: {}",
                    origin.at(),
                    messages(&errors)
                ),
            )
        });
    };
    if entities.len() != keys {
        return Err(origin.error(
            SourceErrorKind::Protocol,
            format!(
                "{} answered {} entities for {keys} representations",
                origin.at(),
                entities.len()
            ),
        ));
    }
    // Errors of one entity, by index, and errors of none in particular.
    let mut by_index: BTreeMap<usize, Vec<&GraphQLError>> = BTreeMap::new();
    let mut general: Vec<&GraphQLError> = Vec::new();
    for error in &errors {
        match error.entity_index().filter(|&i| i < keys) {
            Some(i) => by_index.entry(i).or_default().push(error),
            None => general.push(error),
        }
    }
    let remote = |errors: &[&GraphQLError]| {
        let text: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        origin.error(
            SourceErrorKind::Remote,
            format!("{} answered: {}", origin.url, text.join("; ")),
        )
    };
    let mut general_used = general.is_empty();
    let mut slots: Vec<Option<&RawValue>> = vec![None; query.width];
    for (position, entity) in entities.iter().enumerate() {
        if let Some(errors) = by_index.get(&position) {
            rows.set_key_error(position, remote(errors));
            continue;
        }
        if entity.get() == "null" {
            if !general.is_empty() {
                rows.set_key_error(position, remote(&general));
                general_used = true;
            }
            continue;
        }
        slots.iter_mut().for_each(|slot| *slot = None);
        collect(entity, &query.selection, &mut slots).map_err(|why| {
            origin.error(
                SourceErrorKind::Protocol,
                format!(
                    "{} answered a malformed entity {position}: {why}",
                    origin.at()
                ),
            )
        })?;
        let mut row = rows.row(position);
        for slot in &slots {
            push_cell(&mut row, *slot);
        }
    }
    if !general_used {
        tracing::warn!(
            source = origin.source,
            url = origin.url,
            errors = %general.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "),
            "remote subgraph answered every entity but also reported errors without an entity path"
        );
    }
    Ok(())
}

/// The error for a non-2xx answer: the status and the remote's GraphQL errors when the body
/// carries them, otherwise the start of the body.
pub(crate) fn http_error(status: StatusCode, body: &[u8], origin: &Origin<'_>) -> ResolveError {
    let errors = serde_json::from_slice::<Response<'_>>(body)
        .ok()
        .and_then(|r| r.errors)
        .filter(|errors| !errors.is_empty());
    let detail = match errors {
        Some(errors) => messages(&errors),
        None => snippet(body),
    };
    origin.error(
        SourceErrorKind::Http,
        format!("{} answered HTTP {status}: {detail}", origin.at()),
    )
}

/// The first few error messages, bounded.
fn messages(errors: &[GraphQLError]) -> String {
    let text: Vec<&str> = errors.iter().take(3).map(|e| e.message.as_str()).collect();
    let mut text = text.join("; ");
    if errors.len() > 3 {
        text.push_str(&format!(" (and {} more)", errors.len() - 3));
    }
    bounded(&text)
}

/// At most [`SNIPPET_CHARS`] characters of `body`, marked when cut.
pub(crate) fn snippet(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    bounded(String::from_utf8_lossy(body).trim())
}

fn bounded(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Finds the value of every selected leaf in one object, by output position. A missing field
/// or a `null` object leaves its positions empty (NULL).
fn collect<'a>(
    object: &'a RawValue,
    selection: &Selection,
    slots: &mut [Option<&'a RawValue>],
) -> Result<(), String> {
    let fields: HashMap<String, &'a RawValue> =
        serde_json::from_str(object.get()).map_err(|_| "not an object".to_owned())?;
    for field in &selection.fields {
        let Some(value) = fields.get(field.name.as_str()).copied() else {
            continue;
        };
        match &field.kind {
            FieldKind::Leaf(positions) => {
                for &position in positions {
                    if let Some(slot) = slots.get_mut(position) {
                        *slot = Some(value);
                    }
                }
            }
            FieldKind::Object(inner) => {
                if value.get() != "null" {
                    collect(value, inner, slots)
                        .map_err(|why| format!("field `{}`: {why}", field.name))?;
                }
            }
        }
    }
    Ok(())
}

/// Appends one JSON value as a cell: null or absent is NULL, a string text, a boolean a
/// boolean, an integer an integer, any other number a float, an object or array JSON text.
fn push_cell(row: &mut RowWriter<'_>, value: Option<&RawValue>) {
    let Some(value) = value else {
        row.push(Cell::Null);
        return;
    };
    let text = value.get();
    match text.as_bytes().first() {
        None | Some(b'n') => row.push(Cell::Null),
        Some(b't') => row.push(Cell::Bool(true)),
        Some(b'f') => row.push(Cell::Bool(false)),
        Some(b'"') => match serde_json::from_str::<String>(text) {
            Ok(s) => row.push_text(&s),
            Err(_) => row.push_json(text),
        },
        Some(b'{' | b'[') => row.push_json(text),
        Some(_) => match text.parse::<i64>() {
            Ok(i) => row.push(Cell::Int(i)),
            Err(_) => match text.parse::<f64>() {
                Ok(f) => row.push(Cell::Float(f)),
                Err(_) => row.push_json(text),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::entity_query;
    use graft_schema::SubgraphSchema;

    const SDL: &str = r#"
type Product @key(fields: "id") {
  id: ID!
  name: String
  price: Float
  stock: Int
  active: Boolean
  tags: JSON
  meta: JSON
  dims: Dims
}
scalar JSON
type Dims { size: String weight: Float }
"#;

    const ORIGIN: Origin<'static> = Origin {
        source: "products",
        url: "http://remote/graphql",
        attempts: 1,
    };

    /// The query for `columns` (by column name) of Product.
    fn selection(columns: &[&str]) -> EntityQuery {
        let schema = SubgraphSchema::parse(SDL, "t.graphql").unwrap_or_else(|e| panic!("{e}"));
        let product = schema.mapping("Product").expect("mapped");
        let indices: Vec<usize> = columns
            .iter()
            .map(|name| {
                product
                    .columns
                    .iter()
                    .position(|c| c.column == *name)
                    .unwrap_or_else(|| panic!("no column {name}"))
            })
            .collect();
        entity_query(product, &indices).expect("builds")
    }

    fn read_ok(body: &str, columns: &[&str], keys: usize) -> RowSet {
        let mut rows = RowSet::new(keys, columns.len());
        read(
            StatusCode::OK,
            body.as_bytes(),
            &selection(columns),
            keys,
            &mut rows,
            &ORIGIN,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        rows
    }

    fn read_err(status: u16, body: &str, keys: usize) -> ResolveError {
        let mut rows = RowSet::new(keys, 1);
        read(
            StatusCode::from_u16(status).expect("a status"),
            body.as_bytes(),
            &selection(&["name"]),
            keys,
            &mut rows,
            &ORIGIN,
        )
        .unwrap_err()
    }

    fn text(rows: &RowSet, cell: Cell) -> String {
        match cell {
            Cell::Text { start, len } | Cell::Json { start, len } => {
                rows.text(start, len).to_owned()
            }
            other => panic!("not text: {other:?}"),
        }
    }

    fn kind_and_message(err: &ResolveError) -> (SourceErrorKind, &str) {
        match err {
            ResolveError::Source { kind, message, .. } => (*kind, message),
            other => panic!("not a source error: {other}"),
        }
    }

    #[test]
    fn every_json_value_becomes_the_right_cell() {
        let columns = [
            "name",
            "price",
            "stock",
            "active",
            "tags",
            "meta",
            "dims_size",
            "dims_weight",
        ];
        let rows = read_ok(
            r#"{"data":{"_entities":[
                {"name":"Zoë \"Z\"","price":2.5,"stock":-3,"active":true,
                 "tags":["a", "b"],"meta":{"k":{"z":1,"a":[]}},"dims":{"size":"L","weight":1}},
                null,
                {"name":null,"price":1e2,"active":false,"tags":null,"dims":null}
            ]}}"#,
            &columns,
            3,
        );
        let row = rows.get(0).expect("entity 0");
        assert_eq!(text(&rows, row[0]), "Zoë \"Z\"");
        assert_eq!(row[1], Cell::Float(2.5));
        assert_eq!(row[2], Cell::Int(-3));
        assert_eq!(row[3], Cell::Bool(true));
        assert!(matches!(row[4], Cell::Json { .. }));
        assert_eq!(text(&rows, row[4]), r#"["a", "b"]"#);
        assert_eq!(
            text(&rows, row[5]),
            r#"{"k":{"z":1,"a":[]}}"#,
            "kept as written"
        );
        assert_eq!(text(&rows, row[6]), "L");
        assert_eq!(row[7], Cell::Int(1));
        assert!(rows.get(1).is_none(), "null entity has no row");
        assert!(rows.key_error(1).is_none(), "and no error");
        let row = rows.get(2).expect("entity 2");
        assert_eq!(
            row,
            [
                Cell::Null,
                Cell::Float(100.0),
                Cell::Null,
                Cell::Bool(false),
                Cell::Null,
                Cell::Null,
                Cell::Null,
                Cell::Null
            ]
        );
    }

    #[test]
    fn a_column_asked_twice_fills_both_positions() {
        let rows = read_ok(
            r#"{"data":{"_entities":[{"name":"a"}]}}"#,
            &["name", "name"],
            1,
        );
        let row = rows.get(0).expect("entity");
        assert_eq!(text(&rows, row[0]), "a");
        assert_eq!(text(&rows, row[1]), "a");
    }

    #[test]
    fn errors_at_an_entity_path_fail_that_key_only() {
        let rows = read_ok(
            r#"{"data":{"_entities":[{"name":"a"},{"name":"b"},null]},
                "errors":[{"message":"boom","path":["_entities",1,"name"]},
                          {"message":"again","path":["_entities",1]}]}"#,
            &["name"],
            3,
        );
        assert_eq!(text(&rows, rows.get(0).expect("0")[0]), "a");
        assert!(rows.get(1).is_none());
        let (kind, message) = kind_and_message(rows.key_error(1).expect("key 1 failed"));
        assert_eq!(kind, SourceErrorKind::Remote);
        assert!(message.contains("boom; again"), "{message}");
        assert!(rows.key_error(0).is_none());
        assert!(
            rows.key_error(2).is_none(),
            "a null entity alone is no error"
        );
    }

    #[test]
    fn errors_without_a_path_fail_the_null_entities() {
        let rows = read_ok(
            r#"{"data":{"_entities":[{"name":"a"},null]},"errors":[{"message":"db down"}]}"#,
            &["name"],
            2,
        );
        assert!(rows.get(0).is_some());
        assert!(rows.key_error(0).is_none());
        let (_, message) = kind_and_message(rows.key_error(1).expect("key 1 failed"));
        assert!(message.contains("db down"), "{message}");
        // With no null entity the errors are logged and ignored.
        let rows = read_ok(
            r#"{"data":{"_entities":[{"name":"a"}]},"errors":[{"message":"odd"}]}"#,
            &["name"],
            1,
        );
        assert!(rows.get(0).is_some() && rows.key_error(0).is_none());
    }

    #[test]
    fn broken_answers_are_protocol_errors() {
        for (body, expected) in [
            ("<html>oops</html>", "not JSON"),
            (
                r#"{"data":{"_entities":{"a":1}}}"#,
                "not a GraphQL response",
            ),
            (r#"{"data":{}}"#, "without a `data._entities` list"),
            (r#"{"data":null}"#, "without a `data._entities` list"),
            (
                r#"{"data":{"_entities":[null]}}"#,
                "1 entities for 2 representations",
            ),
            (r#"{"data":{"_entities":[1,null]}}"#, "malformed entity 0"),
            (
                r#"{"data":{"_entities":[{"dims":"big"},null]}}"#,
                "field `dims`",
            ),
        ] {
            let mut rows = RowSet::new(2, 1);
            let err = read(
                StatusCode::OK,
                body.as_bytes(),
                &selection(&["dims_size"]),
                2,
                &mut rows,
                &ORIGIN,
            )
            .unwrap_err();
            let (kind, message) = kind_and_message(&err);
            assert_eq!(kind, SourceErrorKind::Protocol, "{body}");
            assert!(message.contains(expected), "{body}: {message}");
            assert!(
                message.contains("http://remote/graphql (1 attempt)"),
                "{message}"
            );
        }
    }

    #[test]
    fn errors_instead_of_data_are_remote_errors() {
        let err = read_err(
            200,
            r#"{"data":null,"errors":[{"message":"no such type"}]}"#,
            1,
        );
        let (kind, message) = kind_and_message(&err);
        assert_eq!(kind, SourceErrorKind::Remote);
        assert!(message.contains("no such type"), "{message}");
    }

    #[test]
    fn http_errors_quote_graphql_errors_or_a_bounded_snippet() {
        let err = read_err(400, r#"{"errors":[{"message":"Cannot query field"}]}"#, 1);
        let (kind, message) = kind_and_message(&err);
        assert_eq!(kind, SourceErrorKind::Http);
        assert!(message.contains("HTTP 400 Bad Request"), "{message}");
        assert!(message.contains("Cannot query field"), "{message}");
        let long = "é".repeat(1000);
        let err = read_err(500, &long, 1);
        let (kind, message) = kind_and_message(&err);
        assert_eq!(kind, SourceErrorKind::Http);
        assert!(message.contains("HTTP 500"), "{message}");
        assert_eq!(message.matches('é').count(), SNIPPET_CHARS);
        let err = read_err(404, "", 1);
        assert!(kind_and_message(&err).1.contains("(empty body)"));
    }
}
