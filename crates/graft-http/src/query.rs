//! What a fetch sends: the `_entities` query for one (type, columns) selection and the
//! representations of its keys. Pure: no I/O, so every shape is unit-tested here.
//!
//! The selection is a small tree of field names built from the requested columns: an entity
//! field is a leaf, a field of an embedded object is a leaf under its object's field (`dims {
//! size }`), and each field appears once however many columns read it. The same tree tells
//! [`crate::response`] where each cell sits in the answer.

use std::fmt::Write as _;

use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyField, KeyValue};
use graft_resolve::ResolveError;
use graft_schema::{ColumnRole, EntityMapping, SubgraphSchema};

/// The fields to select on one entity type, or on one embedded object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// The fields, in the order the columns first asked for them.
    pub(crate) fields: Vec<SelectedField>,
}

/// One selected field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SelectedField {
    /// The field's name (a response key: no aliases are used).
    pub(crate) name: Name,
    /// A scalar or an object.
    pub(crate) kind: FieldKind,
}

/// What a selected field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// A scalar: the positions in the request's `columns` (and so in each row) it fills.
    Leaf(Vec<usize>),
    /// An embedded object and the fields selected in it.
    Object(Selection),
}

/// The `_entities` query for one type and column list, built once and reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntityQuery {
    /// The GraphQL document.
    pub(crate) text: String,
    /// The selection the document makes, for reading the answer.
    pub(crate) selection: Selection,
    /// The row width: the number of requested columns.
    pub(crate) width: usize,
}

impl Selection {
    /// Adds a column read at `path` into output position `position`, merging shared prefixes.
    fn insert(&mut self, path: &[Name], position: usize) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let index = match self.fields.iter().position(|f| f.name == *first) {
            Some(index) => index,
            None => {
                self.fields.push(SelectedField {
                    name: first.clone(),
                    kind: if rest.is_empty() {
                        FieldKind::Leaf(Vec::new())
                    } else {
                        FieldKind::Object(Selection::default())
                    },
                });
                self.fields.len() - 1
            }
        };
        match (&mut self.fields[index].kind, rest.is_empty()) {
            (FieldKind::Leaf(positions), true) => positions.push(position),
            (FieldKind::Object(inner), false) => inner.insert(rest, position),
            // A field is either a scalar or an object in one schema; the mapping never mixes.
            _ => {}
        }
    }

    /// Writes the selection set's fields, separated by spaces.
    fn write(&self, out: &mut String) {
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&field.name);
            if let FieldKind::Object(inner) = &field.kind {
                out.push_str(" { ");
                inner.write(out);
                out.push_str(" }");
            }
        }
    }
}

/// Builds the `_entities` query selecting exactly `columns` (indices into `mapping.columns`).
/// A join column (`@belongsTo(columns:)`) is no field of the remote, so it cannot be asked for.
pub(crate) fn entity_query(
    mapping: &EntityMapping,
    columns: &[usize],
) -> Result<EntityQuery, ResolveError> {
    let mut selection = Selection::default();
    for (position, &index) in columns.iter().enumerate() {
        let column = mapping.columns.get(index).ok_or_else(|| {
            ResolveError::Unsupported(format!(
                "column {index} is not a column of type {}",
                mapping.type_name
            ))
        })?;
        if column.role == ColumnRole::Join {
            return Err(ResolveError::Unsupported(format!(
                "column `{}` of type {} is no GraphQL field (it serves relation `{}`), so a \
                 remote subgraph cannot return it",
                column.column, mapping.type_name, column.field
            )));
        }
        let path = mapping.field_path(index).ok_or_else(|| {
            ResolveError::Unsupported(format!(
                "column `{}` of type {} belongs to no field",
                column.column, mapping.type_name
            ))
        })?;
        selection.insert(&path, position);
    }
    let mut text = String::from(
        "query($representations: [_Any!]!) { _entities(representations: $representations) { ",
    );
    let _ = write!(text, "... on {} {{ ", mapping.type_name);
    if selection.fields.is_empty() {
        // An empty selection is not valid GraphQL; `__typename` still tells found from null.
        text.push_str("__typename");
    } else {
        selection.write(&mut text);
    }
    text.push_str(" } } }");
    Ok(EntityQuery {
        text,
        selection,
        width: columns.len(),
    })
}

/// Writes the whole POST body: `{"query": …, "variables": {"representations": […]}}`, one
/// representation per key, in key order.
pub(crate) fn request_body(
    query: &str,
    keys: &[&EntityKey],
    schema: &SubgraphSchema,
) -> Result<Vec<u8>, ResolveError> {
    let mut out = Vec::with_capacity(query.len() + 64 + keys.len() * 48);
    out.extend_from_slice(b"{\"query\":");
    json_string(&mut out, query);
    out.extend_from_slice(b",\"variables\":{\"representations\":[");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        representation(&mut out, key, schema)?;
    }
    out.extend_from_slice(b"]}}");
    Ok(out)
}

/// Writes one key as an `_Any`: `{"__typename": "T", <key fields>}`, nested key fields as
/// nested objects, each value typed as the key holds it (an `ID` is a string).
pub(crate) fn representation(
    out: &mut Vec<u8>,
    key: &EntityKey,
    schema: &SubgraphSchema,
) -> Result<(), ResolveError> {
    let unsupported = |why: String| ResolveError::Unsupported(format!("key {key}: {why}"));
    let entity = schema
        .entities()
        .get(key.type_name())
        .ok_or_else(|| unsupported(format!("type {} has no @key here", key.type_name())))?;
    let definition = entity.key(key.key_index()).ok_or_else(|| {
        unsupported(format!(
            "type {} has no key number {}",
            key.type_name(),
            key.key_index().0
        ))
    })?;
    let field_set = definition.field_set();
    if field_set.leaves().len() != key.values().len() {
        return Err(unsupported(format!(
            "{} values for the {} fields of `{field_set}`",
            key.values().len(),
            field_set.leaves().len()
        )));
    }
    out.extend_from_slice(b"{\"__typename\":");
    json_string(out, key.type_name());
    let mut values = key.values().iter();
    for field in field_set.fields() {
        out.push(b',');
        write_field(out, field, &mut values);
    }
    out.push(b'}');
    Ok(())
}

/// Writes `"name":value` for one key field, taking its leaves' values in depth-first order.
fn write_field<'v>(
    out: &mut Vec<u8>,
    field: &KeyField,
    values: &mut impl Iterator<Item = &'v KeyValue>,
) {
    json_string(out, field.name());
    out.push(b':');
    if field.subfields().is_empty() {
        match values.next() {
            Some(value) => write_value(out, value),
            None => out.extend_from_slice(b"null"),
        }
    } else {
        out.push(b'{');
        for (i, inner) in field.subfields().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_field(out, inner, values);
        }
        out.push(b'}');
    }
}

fn write_value(out: &mut Vec<u8>, value: &KeyValue) {
    match value {
        KeyValue::String(s) => json_string(out, s),
        KeyValue::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        KeyValue::Float(f) => match serde_json::Number::from_f64(f.get()) {
            Some(number) => out.extend_from_slice(number.to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        },
        KeyValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use graft_keys::{KeyFloat, KeyIndex};

    const SDL: &str = r#"
type Product @key(fields: "sku variation { id }") @key(fields: "id") {
  id: ID!
  sku: String!
  variation: Variation!
  name: String
  dims: Dims
  createdBy: User @belongsTo(columns: "created_by")
}
type Variation { id: ID! }
type Dims { size: String weight: Float inner: Inner }
type Inner { depth: Int }
type User @key(fields: "email") { email: ID! score: Float active: Boolean }
"#;

    fn schema() -> SubgraphSchema {
        SubgraphSchema::parse(SDL, "t.graphql").unwrap_or_else(|e| panic!("{e}"))
    }

    fn index(mapping: &EntityMapping, column: &str) -> usize {
        mapping
            .columns
            .iter()
            .position(|c| c.column == column)
            .unwrap_or_else(|| panic!("no column {column}"))
    }

    fn name(s: &str) -> Name {
        Name::new(s).expect("a name")
    }

    #[test]
    fn the_query_selects_exactly_the_columns_with_embedded_objects_merged() {
        let schema = schema();
        let product = schema.mapping("Product").expect("mapped");
        let columns = [
            index(product, "name"),
            index(product, "dims_size"),
            index(product, "variation_id"),
            index(product, "dims_inner_depth"),
            index(product, "dims_weight"),
            index(product, "name"),
        ];
        let query = entity_query(product, &columns).expect("builds");
        assert_eq!(
            query.text,
            "query($representations: [_Any!]!) { _entities(representations: $representations) { \
             ... on Product { name dims { size inner { depth } weight } variation { id } } } }"
        );
        assert_eq!(query.width, 6);
        let positions: Vec<(&str, &FieldKind)> = query
            .selection
            .fields
            .iter()
            .map(|f| (f.name.as_str(), &f.kind))
            .collect();
        assert_eq!(positions[0], ("name", &FieldKind::Leaf(vec![0, 5])));
        assert_eq!(
            positions[2],
            (
                "variation",
                &FieldKind::Object(Selection {
                    fields: vec![SelectedField {
                        name: name("id"),
                        kind: FieldKind::Leaf(vec![2]),
                    }],
                })
            )
        );
    }

    #[test]
    fn a_join_column_cannot_come_from_a_remote() {
        let schema = schema();
        let product = schema.mapping("Product").expect("mapped");
        let err = entity_query(product, &[index(product, "created_by")]).unwrap_err();
        assert!(
            matches!(&err, ResolveError::Unsupported(m) if m.contains("`created_by`")),
            "{err}"
        );
        let err = entity_query(product, &[999]).unwrap_err();
        assert!(matches!(err, ResolveError::Unsupported(_)));
    }

    #[test]
    fn an_empty_selection_asks_for_the_typename() {
        let schema = schema();
        let product = schema.mapping("Product").expect("mapped");
        let query = entity_query(product, &[]).expect("builds");
        assert!(
            query.text.contains("... on Product { __typename }"),
            "{}",
            query.text
        );
    }

    #[test]
    fn representations_nest_key_objects_and_type_their_values() {
        let schema = schema();
        let nested = EntityKey::new(
            name("Product"),
            KeyIndex(0),
            vec![
                KeyValue::String("sku \"1\"".into()),
                KeyValue::String("42".into()),
            ],
        );
        let by_id = EntityKey::new(
            name("Product"),
            KeyIndex(1),
            vec![KeyValue::String("p1".into())],
        );
        let body = request_body("{ x }", &[&nested, &by_id], &schema).expect("writes");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({
                "query": "{ x }",
                "variables": {"representations": [
                    {"__typename": "Product", "sku": "sku \"1\"", "variation": {"id": "42"}},
                    {"__typename": "Product", "id": "p1"},
                ]},
            })
        );
        let mut out = Vec::new();
        let typed = EntityKey::new(name("Product"), KeyIndex(1), vec![KeyValue::Int(7)]);
        representation(&mut out, &typed, &schema).expect("writes");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            r#"{"__typename":"Product","id":7}"#
        );
        let mut out = Vec::new();
        let float = KeyFloat::new(1.5).expect("finite");
        let key = EntityKey::new(name("Product"), KeyIndex(1), vec![KeyValue::Float(float)]);
        representation(&mut out, &key, &schema).expect("writes");
        assert!(out.ends_with(br#""id":1.5}"#));
    }

    #[test]
    fn keys_that_do_not_fit_the_schema_are_refused() {
        let schema = schema();
        let unknown = EntityKey::new(name("Nope"), KeyIndex(0), vec![KeyValue::Int(1)]);
        let short = EntityKey::new(
            name("Product"),
            KeyIndex(0),
            vec![KeyValue::String("x".into())],
        );
        let no_key = EntityKey::new(name("Product"), KeyIndex(9), vec![KeyValue::Int(1)]);
        for key in [unknown, short, no_key] {
            let err = representation(&mut Vec::new(), &key, &schema).unwrap_err();
            assert!(matches!(err, ResolveError::Unsupported(_)), "{err}");
        }
    }
}
