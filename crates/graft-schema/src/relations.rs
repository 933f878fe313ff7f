//! `@belongsTo` and `@hasMany`: fields whose value is another entity found through columns.

use apollo_compiler::Name;
use apollo_compiler::ast;
use apollo_compiler::collections::HashMap;
use apollo_compiler::schema::ObjectType;
use graft_keys::EntityTypes;

use crate::entity_map::{flat_key, output_scalar};
use crate::parse::{MappingError, string_argument};
use crate::{ColumnMapping, ColumnRole, EntityMapping, FieldType, RelationMapping};

/// Reads the `@belongsTo` and `@hasMany` fields of a mapped type. A `@belongsTo(columns:)`
/// comes with the [`ColumnRole::Join`] columns its parent must read; its `local_columns` are
/// set when they are added to the mapping.
pub(crate) fn map_relations(
    entities: &EntityTypes,
    mappings: &HashMap<Name, EntityMapping>,
    mapping: &EntityMapping,
    object: &ObjectType,
) -> Result<Vec<(RelationMapping, Vec<ColumnMapping>)>, MappingError> {
    let mut relations = Vec::new();
    for (field_name, field) in &object.fields {
        let coordinate = format!("{}.{field_name}", mapping.type_name);
        let (directive, many) = match (
            field.directives.get("belongsTo"),
            field.directives.get("hasMany"),
        ) {
            (None, None) => continue,
            (Some(d), None) => (d, false),
            (None, Some(d)) => (d, true),
            (Some(_), Some(_)) => {
                return Err((
                    coordinate,
                    "use @belongsTo or @hasMany, not both".to_owned(),
                ));
            }
        };
        let name = if many { "@hasMany" } else { "@belongsTo" };
        let bad = |message: String| (coordinate.clone(), format!("{name}: {message}"));
        if field.ty.is_list() != many {
            return Err(bad(if many {
                "the field must be a list".into()
            } else {
                "the field must not be a list".into()
            }));
        }
        // A list may take `first: Int` (at most that many items per parent); nothing else.
        for argument in &field.arguments {
            let is_first = many
                && argument.name == "first"
                && matches!(&*argument.ty, ast::Type::Named(name) if name == "Int");
            if !is_first {
                return Err(bad(format!(
                    "argument `{}`: a relation field takes no arguments but, on a @hasMany \
                     list, `first: Int`",
                    argument.name
                )));
            }
        }
        let target = field.ty.inner_named_type().clone();
        let Some(target_entity) = entities.get(&target) else {
            return Err(bad(format!(
                "{target} is not an entity type (it has no @key)"
            )));
        };
        let (names_text, by_columns) = match (
            string_argument(directive, "fields"),
            string_argument(directive, "columns"),
        ) {
            (Some(fields), None) => (fields, false),
            (None, Some(columns)) => (columns, true),
            _ => {
                return Err(bad(
                    "give `fields` (the fields holding the key) or `columns` (the columns \
                     holding it), exactly one of them"
                        .into(),
                ));
            }
        };
        let fields: Vec<&str> = names_text.split_whitespace().collect();
        if fields.is_empty() {
            return Err(bad(format!(
                "`{}` names at least one {}",
                if by_columns { "columns" } else { "fields" },
                if by_columns { "column" } else { "field" }
            )));
        }
        let columns_of = |owner: &EntityMapping,
                          names: &mut dyn Iterator<Item = &str>|
         -> Result<Vec<usize>, MappingError> {
            names
                .map(|name| {
                    owner.column_index(name).ok_or_else(|| {
                        bad(format!(
                            "`{name}` is not a column-mapped field of {}",
                            owner.type_name
                        ))
                    })
                })
                .collect()
        };
        let nullable = !field.ty.is_non_null();
        if many {
            // The target's `fields` hold this entity's key.
            let Some(target_mapping) = mappings.get(&target) else {
                return Err(bad(format!("{target} has no table in this subgraph")));
            };
            let this = entities
                .get(&mapping.type_name)
                .expect("mapped types are entities");
            let Some(key) = flat_key(this, fields.len(), true) else {
                return Err(bad(format!(
                    "{} has no key of {} top-level fields to match",
                    mapping.type_name,
                    fields.len()
                )));
            };
            let target_columns = if by_columns {
                fields.iter().map(|c| (*c).to_owned()).collect()
            } else {
                columns_of(target_mapping, &mut fields.iter().copied())?
                    .into_iter()
                    .map(|i| target_mapping.columns[i].column.clone())
                    .collect()
            };
            let mut key_fields = key
                .field_set()
                .leaves()
                .iter()
                .map(|leaf| leaf.path()[0].as_str());
            relations.push((
                RelationMapping {
                    field: field_name.clone(),
                    target,
                    local_columns: columns_of(mapping, &mut key_fields)?,
                    target_columns,
                    target_key: None,
                    many,
                    nullable,
                    reference: false,
                },
                Vec::new(),
            ));
        } else {
            // This type's `fields` hold the target's key.
            let Some(key) = flat_key(target_entity, fields.len(), false) else {
                return Err(bad(format!(
                    "{target} has no key of {} top-level fields",
                    fields.len()
                )));
            };
            let target_mapping = mappings.get(&target);
            let target_columns = match target_mapping {
                Some(target_mapping) => target_mapping.key_columns(key.index()).to_vec(),
                None => Vec::new(),
            };
            let (local_columns, join_columns) = if by_columns {
                let join_columns = fields
                    .iter()
                    .zip(key.field_set().leaves())
                    .map(|(column, leaf)| ColumnMapping {
                        field: field_name.clone(),
                        column: (*column).to_owned(),
                        ty: FieldType {
                            scalar: output_scalar(leaf.scalar()),
                            nullable: true,
                        },
                        role: ColumnRole::Join,
                    })
                    .collect();
                (Vec::new(), join_columns)
            } else {
                (
                    columns_of(mapping, &mut fields.iter().copied())?,
                    Vec::new(),
                )
            };
            relations.push((
                RelationMapping {
                    field: field_name.clone(),
                    target,
                    local_columns,
                    target_columns,
                    target_key: Some(key.index()),
                    many,
                    nullable,
                    reference: target_mapping.is_none(),
                },
                join_columns,
            ));
        }
    }
    Ok(relations)
}
