//! The `fields` argument of `@key`: a selection of fields, possibly nested, that identifies an
//! entity.
//!
//! A [`KeyFieldSet`] is parsed and validated against the schema with apollo-compiler, then kept
//! in graft's own small form: a tree of field names whose leaves carry their scalar type. The
//! leaves, read depth first, are the values of an [`crate::EntityKey`].

use std::fmt;

use apollo_compiler::executable::{FieldSet, Selection, SelectionSet};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Schema};

use crate::KeyError;

/// A parsed, schema-checked key field set such as `orgId userId` or `org { id } userId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyFieldSet {
    fields: Vec<KeyField>,
    leaves: Vec<KeyLeaf>,
}

/// One field of a key field set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyField {
    name: Name,
    /// Empty for a leaf (a scalar or enum field).
    subfields: Vec<KeyField>,
}

/// A scalar leaf of a key: where it sits in the representation and what type it has.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyLeaf {
    path: Vec<Name>,
    scalar: KeyScalar,
}

/// The type of a key leaf, which decides how its JSON value is read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyScalar {
    /// `ID`: given as a string or an integer, kept as a string.
    Id,
    /// `String`.
    String,
    /// `Int`: a 32-bit signed integer.
    Int,
    /// `Float`: any JSON number.
    Float,
    /// `Boolean`.
    Boolean,
    /// An enum type; the value must be one of its values.
    Enum {
        /// The enum's name.
        name: Name,
        /// Its values.
        values: Vec<Name>,
    },
    /// A custom scalar: any JSON scalar, kept as given.
    Custom(Name),
}

impl KeyFieldSet {
    /// Parses `source` (the `fields` string of a `@key` on `type_name`) and checks it against the
    /// schema: every field exists, objects have subselections, no arguments, no aliases, no
    /// fragments, no lists.
    pub fn parse(
        schema: &Valid<Schema>,
        type_name: &Name,
        source: &str,
    ) -> Result<KeyFieldSet, KeyError> {
        let error = |message: String, column: Option<usize>| KeyError::FieldSet {
            type_name: type_name.to_string(),
            fields: source.to_owned(),
            column,
            message,
        };
        let parsed = FieldSet::parse_and_validate(schema, type_name.clone(), source, "@key")
            .map_err(|with_errors| {
                let first = with_errors.errors.iter().next();
                let column = first
                    .as_ref()
                    .and_then(|d| d.line_column_range())
                    .map(|range| range.start.column);
                let message = first
                    .map(|d| d.error.to_string())
                    .unwrap_or_else(|| "invalid field set".to_owned());
                error(message, column)
            })?;
        let mut leaves = Vec::new();
        let fields = convert(schema, &parsed.selection_set, &mut Vec::new(), &mut leaves)
            .map_err(|message| error(message, None))?;
        if fields.is_empty() {
            return Err(error("a key selects at least one field".to_owned(), None));
        }
        Ok(KeyFieldSet { fields, leaves })
    }

    /// The top-level fields, in the order written.
    pub fn fields(&self) -> &[KeyField] {
        &self.fields
    }

    /// The scalar leaves, depth first: the order of an [`crate::EntityKey`]'s values.
    pub fn leaves(&self) -> &[KeyLeaf] {
        &self.leaves
    }

    /// The field set written with its fields sorted at every level, so that `userId orgId` and
    /// `orgId userId` compare equal: the form used to compare keys across subgraphs.
    pub fn canonical(&self) -> String {
        fn write(fields: &[KeyField], out: &mut String) {
            let mut sorted: Vec<&KeyField> = fields.iter().collect();
            sorted.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
            for (i, field) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&field.name);
                if !field.subfields.is_empty() {
                    out.push_str(" { ");
                    write(&field.subfields, out);
                    out.push_str(" }");
                }
            }
        }
        let mut out = String::new();
        write(&self.fields, &mut out);
        out
    }
}

impl fmt::Display for KeyFieldSet {
    /// Writes the field set as declared: `org { id } userId`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write(fields: &[KeyField], f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                f.write_str(&field.name)?;
                if !field.subfields.is_empty() {
                    f.write_str(" { ")?;
                    write(&field.subfields, f)?;
                    f.write_str(" }")?;
                }
            }
            Ok(())
        }
        write(&self.fields, f)
    }
}

impl KeyField {
    /// The field's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The nested fields of an object-typed key field; empty for a leaf.
    pub fn subfields(&self) -> &[KeyField] {
        &self.subfields
    }
}

impl KeyLeaf {
    /// The field names from the entity down to this leaf: `["org", "id"]` for `org { id }`.
    pub fn path(&self) -> &[Name] {
        &self.path
    }

    /// The leaf's type.
    pub fn scalar(&self) -> &KeyScalar {
        &self.scalar
    }

    /// The path written with dots, as in error messages: `org.id`.
    pub fn dotted(&self) -> String {
        let mut out = String::new();
        for (i, name) in self.path.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(name);
        }
        out
    }
}

impl KeyScalar {
    /// The GraphQL name of the type.
    pub fn type_name(&self) -> &str {
        match self {
            KeyScalar::Id => "ID",
            KeyScalar::String => "String",
            KeyScalar::Int => "Int",
            KeyScalar::Float => "Float",
            KeyScalar::Boolean => "Boolean",
            KeyScalar::Enum { name, .. } | KeyScalar::Custom(name) => name,
        }
    }

    fn from_schema(schema: &Schema, name: &Name) -> Option<KeyScalar> {
        Some(match name.as_str() {
            "ID" => KeyScalar::Id,
            "String" => KeyScalar::String,
            "Int" => KeyScalar::Int,
            "Float" => KeyScalar::Float,
            "Boolean" => KeyScalar::Boolean,
            _ => match schema.types.get(name)? {
                ExtendedType::Scalar(_) => KeyScalar::Custom(name.clone()),
                ExtendedType::Enum(e) => KeyScalar::Enum {
                    name: name.clone(),
                    values: e.values.keys().cloned().collect(),
                },
                _ => return None,
            },
        })
    }
}

/// Converts apollo-compiler's selection set into key fields, collecting leaves on the way.
fn convert(
    schema: &Schema,
    selection_set: &SelectionSet,
    path: &mut Vec<Name>,
    leaves: &mut Vec<KeyLeaf>,
) -> Result<Vec<KeyField>, String> {
    let mut fields = Vec::new();
    for selection in &selection_set.selections {
        let field = match selection {
            Selection::Field(field) => field,
            Selection::FragmentSpread(_) | Selection::InlineFragment(_) => {
                return Err("fragments are not allowed in a key".to_owned());
            }
        };
        if field.alias.is_some() {
            return Err(format!(
                "field `{}`: aliases are not allowed in a key",
                field.name
            ));
        }
        if !field.arguments.is_empty() {
            return Err(format!(
                "field `{}`: arguments are not allowed in a key",
                field.name
            ));
        }
        if field.definition.ty.is_list() {
            return Err(format!(
                "field `{}`: list fields cannot be part of a key",
                field.name
            ));
        }
        path.push(field.name.clone());
        let subfields = if field.selection_set.selections.is_empty() {
            let type_name = field.definition.ty.inner_named_type();
            let scalar = KeyScalar::from_schema(schema, type_name).ok_or_else(|| {
                format!(
                    "field `{}` of type {type_name} needs a subselection",
                    field.name
                )
            })?;
            leaves.push(KeyLeaf {
                path: path.clone(),
                scalar,
            });
            Vec::new()
        } else {
            convert(schema, &field.selection_set, path, leaves)?
        };
        path.pop();
        fields.push(KeyField {
            name: field.name.clone(),
            subfields,
        });
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::parse_subgraph_schema;

    fn schema() -> Valid<Schema> {
        parse_subgraph_schema(
            r#"
            type Query { u: OrgUser }
            enum Region { EU US }
            scalar UUID
            type Org { id: ID! region: Region! }
            type OrgUser { orgId: String! userId: Int! org: Org! tags: [String!]! uuid: UUID score: Float }
            "#,
            "keys.graphql",
            "",
        )
        .expect("valid")
    }

    fn parse(source: &str) -> Result<KeyFieldSet, KeyError> {
        KeyFieldSet::parse(&schema(), &Name::new("OrgUser").unwrap(), source)
    }

    #[test]
    fn parses_single_composite_and_nested_keys() {
        assert_eq!(parse("orgId").unwrap().to_string(), "orgId");
        let composite = parse("orgId userId").unwrap();
        assert_eq!(composite.leaves().len(), 2);
        assert_eq!(composite.leaves()[1].scalar(), &KeyScalar::Int);
        let nested = parse("org { id region } userId").unwrap();
        assert_eq!(nested.to_string(), "org { id region } userId");
        let dotted: Vec<String> = nested.leaves().iter().map(KeyLeaf::dotted).collect();
        assert_eq!(dotted, ["org.id", "org.region", "userId"]);
        assert!(matches!(
            nested.leaves()[1].scalar(),
            KeyScalar::Enum { .. }
        ));
        assert_eq!(
            parse("uuid").unwrap().leaves()[0].scalar().type_name(),
            "UUID"
        );
    }

    #[test]
    fn canonical_form_ignores_field_order() {
        assert_eq!(
            parse("userId orgId").unwrap().canonical(),
            parse("orgId userId").unwrap().canonical()
        );
        assert_eq!(
            parse("userId org { region id }").unwrap().canonical(),
            "org { id region } userId"
        );
    }

    #[test]
    fn errors_name_the_type_and_the_column() {
        let err = parse("orgId usrId").unwrap_err().to_string();
        assert!(err.contains("OrgUser"), "{err}");
        assert!(err.contains("column 7"), "{err}");
        assert!(err.contains("usrId"), "{err}");
        let err = parse("orgId {").unwrap_err().to_string();
        assert!(
            err.contains("OrgUser") && err.contains("syntax error"),
            "{err}"
        );
    }

    #[test]
    fn rejects_what_cannot_be_a_key() {
        for (source, expected) in [
            ("org", "must have a subselection"),
            ("tags", "list fields"),
            ("", "at least one Selection"),
            ("a: orgId", "aliases"),
        ] {
            let err = parse(source).unwrap_err().to_string();
            assert!(err.contains(expected), "{source:?}: {err}");
        }
    }
}
