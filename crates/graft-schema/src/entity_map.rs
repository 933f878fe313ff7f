//! Mapping one entity type to its table: its columns (by `@column` or the snake_case default),
//! embedded objects stored in its row, fields `@computed` from `@requires`, and the `@external`
//! fields some `@provides` makes its own.

use std::collections::HashSet;

use apollo_compiler::ast;
use apollo_compiler::executable::{FieldSet, Selection, SelectionSet};
use apollo_compiler::schema::{Component, ExtendedType, ObjectType};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node, Schema};
use graft_keys::{EntityTypes, KeyScalar};
use heck::ToSnakeCase;

use crate::parse::{MappingError, string_argument};
use crate::{
    ColumnMapping, ColumnRole, ComputedField, EmbeddedField, EmbeddedMapping, EntityMapping,
    Expression, FieldType, OutputScalar, TableName,
};

/// The `(type, field)` pairs some `@provides(fields:)` names: `@external` fields this subgraph
/// can answer, so they are mapped to columns like its own.
pub(crate) fn provided_fields(schema: &Valid<Schema>) -> HashSet<(Name, Name)> {
    let mut provided = HashSet::new();
    for ty in schema.types.values() {
        let ExtendedType::Object(object) = ty else {
            continue;
        };
        for field in object.fields.values() {
            let Some(directive) = field.directives.get("provides") else {
                continue;
            };
            let target = field.ty.inner_named_type();
            let fields = string_argument(directive, "fields").unwrap_or_default();
            for leaf in field_set_leaves(schema, target, &fields) {
                provided.insert((target.clone(), leaf[0].clone()));
            }
        }
    }
    provided
}

/// The leaves of field set `fields` on type `type_name`, each as the path of field names that
/// leads to it (`a b { c }` -> `[a]`, `[b, c]`). apollo-compiler parses it, as graft-keys parses
/// keys; what does not parse contributes the leaves it could read (composition reports the rest).
pub(crate) fn field_set_leaves(
    schema: &Valid<Schema>,
    type_name: &Name,
    fields: &str,
) -> Vec<Vec<Name>> {
    let field_set = match FieldSet::parse(schema, type_name.clone(), fields, "field set") {
        Ok(field_set) => field_set,
        Err(with_errors) => with_errors.partial,
    };
    let mut leaves = Vec::new();
    collect_leaves(&field_set.selection_set, &mut Vec::new(), &mut leaves);
    leaves
}

fn collect_leaves(selection_set: &SelectionSet, path: &mut Vec<Name>, leaves: &mut Vec<Vec<Name>>) {
    for selection in &selection_set.selections {
        match selection {
            Selection::Field(field) => {
                path.push(field.name.clone());
                if field.selection_set.selections.is_empty() {
                    leaves.push(path.clone());
                } else {
                    collect_leaves(&field.selection_set, path, leaves);
                }
                path.pop();
            }
            Selection::InlineFragment(inline) => {
                collect_leaves(&inline.selection_set, path, leaves)
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// How deep embedded objects may nest (a guard against recursive types).
const MAX_EMBEDDING_DEPTH: usize = 8;

pub(crate) fn map_entity(
    schema: &Valid<Schema>,
    entities: &EntityTypes,
    provided: &HashSet<(Name, Name)>,
    object: &Node<ObjectType>,
    table_directive: Option<&Component<ast::Directive>>,
) -> Result<EntityMapping, MappingError> {
    let type_name = object.name.clone();
    let table = match table_directive {
        Some(directive) => TableName {
            name: string_argument(directive, "name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    (
                        type_name.to_string(),
                        "@table(name:) must be a non-empty string".to_owned(),
                    )
                })?,
            schema: string_argument(directive, "schema"),
        },
        None => TableName {
            schema: None,
            name: type_name.as_str().to_snake_case(),
        },
    };
    let entity = entities.get(&type_name).expect("mapped types are entities");
    let is_key_field = |name: &Name| {
        entity
            .keys()
            .iter()
            .any(|key| key.field_set().fields().iter().any(|f| f.name() == name))
    };
    let mut columns = Vec::new();
    let mut embedded = Vec::new();
    let mut computed = Vec::new();
    for (field_name, field) in &object.fields {
        let coordinate = format!("{type_name}.{field_name}");
        let column_directive = field.directives.get("column");
        if let Some(directive) = field.directives.get("computed") {
            computed.push(computed_field(
                schema,
                &type_name,
                &coordinate,
                field,
                directive,
            )?);
            continue;
        }
        // An @external field is the owner's; graft stores it only when it is part of a key
        // (its value is the key), when a @provides names it, or when @column says where.
        if field.directives.get("external").is_some()
            && !is_key_field(field_name)
            && !provided.contains(&(type_name.clone(), field_name.clone()))
            && column_directive.is_none()
        {
            continue;
        }
        if field.directives.get("belongsTo").is_some() || field.directives.get("hasMany").is_some()
        {
            continue;
        }
        let column = column_name(field_name, column_directive.map(|d| &**d), &coordinate)?;
        if let Some(ty) = field_type(schema, &field.ty) {
            columns.push(ColumnMapping {
                field: field_name.clone(),
                column,
                ty,
                role: ColumnRole::Field,
            });
            continue;
        }
        if column_directive.is_some() {
            return Err((
                coordinate,
                "@column maps scalar and enum fields only".to_owned(),
            ));
        }
        if let Some(object) = embeddable(schema, entities, &field.ty) {
            embedded.push(embed(
                schema,
                entities,
                field_name,
                &field.ty,
                object,
                &column,
                &mut columns,
                0,
            )?);
        }
    }
    let mut mapping = EntityMapping {
        type_name,
        table,
        columns,
        key_columns: Vec::new(),
        relations: Vec::new(),
        embedded,
        computed,
    };
    for key in entity.keys() {
        let columns = key
            .field_set()
            .leaves()
            .iter()
            .map(|leaf| {
                let path = leaf.path();
                mapping
                    .column_by_path(path)
                    .map(|index| mapping.columns[index].column.clone())
                    .ok_or_else(|| {
                        let dotted: Vec<&str> = path.iter().map(|n| n.as_str()).collect();
                        (
                            format!("{}.{}", mapping.type_name, dotted.join(".")),
                            "a key field must be a column-mapped scalar field, or one of an \
                             embedded object"
                                .to_owned(),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        mapping.key_columns.push(columns);
    }
    Ok(mapping)
}

/// The column of a field: `@column(name:)`, or the field's name in snake_case.
fn column_name(
    field_name: &Name,
    directive: Option<&ast::Directive>,
    coordinate: &str,
) -> Result<String, MappingError> {
    match directive {
        Some(directive) => string_argument(directive, "name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                (
                    coordinate.to_owned(),
                    "@column(name:) must be a non-empty string".to_owned(),
                )
            }),
        None => Ok(field_name.as_str().to_snake_case()),
    }
}

/// The object type of `ty` when a field of that type is stored in its parent's row: a single
/// object (not a list) of a type without `@key`.
fn embeddable<'s>(
    schema: &'s Schema,
    entities: &EntityTypes,
    ty: &ast::Type,
) -> Option<&'s Node<ObjectType>> {
    if ty.is_list() || entities.get(ty.inner_named_type()).is_some() {
        return None;
    }
    schema.get_object(ty.inner_named_type())
}

/// Maps an embedded object field: its scalar fields become columns prefixed with `prefix`.
#[allow(clippy::too_many_arguments)]
fn embed(
    schema: &Schema,
    entities: &EntityTypes,
    field_name: &Name,
    ty: &ast::Type,
    object: &Node<ObjectType>,
    prefix: &str,
    columns: &mut Vec<ColumnMapping>,
    depth: usize,
) -> Result<EmbeddedMapping, MappingError> {
    if depth >= MAX_EMBEDDING_DEPTH {
        return Err((
            format!("{}.{field_name}", object.name),
            format!("embedded objects nest at most {MAX_EMBEDDING_DEPTH} deep"),
        ));
    }
    let mut fields = Vec::new();
    for (name, field) in &object.fields {
        let coordinate = format!("{}.{name}", object.name);
        let column = format!(
            "{prefix}_{}",
            column_name(
                name,
                field.directives.get("column").map(|d| &**d),
                &coordinate
            )?
        );
        if let Some(field_ty) = field_type(schema, &field.ty) {
            columns.push(ColumnMapping {
                field: name.clone(),
                column,
                ty: field_ty,
                role: ColumnRole::Embedded,
            });
            fields.push(EmbeddedField::Column(columns.len() - 1));
        } else if let Some(inner) = embeddable(schema, entities, &field.ty) {
            fields.push(EmbeddedField::Object(embed(
                schema,
                entities,
                name,
                &field.ty,
                inner,
                &column,
                columns,
                depth + 1,
            )?));
        }
    }
    Ok(EmbeddedMapping {
        field: field_name.clone(),
        type_name: object.name.clone(),
        nullable: !ty.is_non_null(),
        fields,
    })
}

/// Reads `@computed(expression:)`: the expression may use the field's `@requires` fields only.
fn computed_field(
    schema: &Valid<Schema>,
    type_name: &Name,
    coordinate: &str,
    field: &ast::FieldDefinition,
    directive: &ast::Directive,
) -> Result<ComputedField, MappingError> {
    let bad = |message: String| (coordinate.to_owned(), format!("@computed: {message}"));
    let text = string_argument(directive, "expression").unwrap_or_default();
    let expression = Expression::parse(&text).map_err(bad)?;
    let Some(requires) = field.directives.get("requires") else {
        return Err(bad(
            "a computed field needs @requires(fields:) naming the values it is computed from"
                .to_owned(),
        ));
    };
    let required: Vec<String> = field_set_leaves(
        schema,
        type_name,
        &string_argument(requires, "fields").unwrap_or_default(),
    )
    .iter()
    .map(|path| {
        path.iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(".")
    })
    .collect();
    for variable in expression.variables() {
        if !required.contains(variable) {
            return Err(bad(format!(
                "`{variable}` is not among the @requires fields ({})",
                required.join(", ")
            )));
        }
    }
    let ty = field_type(schema, &field.ty)
        .filter(|t| matches!(t.scalar, OutputScalar::Int | OutputScalar::Float))
        .ok_or_else(|| bad("a computed field is an Int or a Float".to_owned()))?;
    Ok(ComputedField {
        field: field.name.clone(),
        ty,
        expression,
    })
}

/// The output scalar a key leaf's values are written as.
pub(crate) fn output_scalar(scalar: &KeyScalar) -> OutputScalar {
    match scalar {
        KeyScalar::Id => OutputScalar::Id,
        KeyScalar::String => OutputScalar::String,
        KeyScalar::Int => OutputScalar::Int,
        KeyScalar::Float => OutputScalar::Float,
        KeyScalar::Boolean => OutputScalar::Boolean,
        KeyScalar::Enum { .. } => OutputScalar::Enum,
        KeyScalar::Custom(_) => OutputScalar::Custom,
    }
}

/// The first key of `entity` whose leaves are `arity` top-level fields.
pub(crate) fn flat_key(
    entity: &graft_keys::EntityType,
    arity: usize,
    resolvable_only: bool,
) -> Option<&graft_keys::KeyDefinition> {
    entity.keys().iter().find(|key| {
        (key.is_resolvable() || !resolvable_only)
            && key.field_set().leaves().len() == arity
            && key
                .field_set()
                .leaves()
                .iter()
                .all(|leaf| leaf.path().len() == 1)
    })
}

/// The type of a scalar or enum field; `None` for lists and composite types.
fn field_type(schema: &Schema, ty: &ast::Type) -> Option<FieldType> {
    if ty.is_list() {
        return None;
    }
    let name = ty.inner_named_type();
    let scalar = match name.as_str() {
        "ID" => OutputScalar::Id,
        "String" => OutputScalar::String,
        "Int" => OutputScalar::Int,
        "Float" => OutputScalar::Float,
        "Boolean" => OutputScalar::Boolean,
        _ => match schema.types.get(name)? {
            ExtendedType::Scalar(_) => OutputScalar::Custom,
            ExtendedType::Enum(_) => OutputScalar::Enum,
            _ => return None,
        },
    };
    Some(FieldType {
        scalar,
        nullable: !ty.is_non_null(),
    })
}
