//! The root `Query` fields graft resolves: a lookup by the fields of one of a type's keys, or
//! a Relay connection that pages through a type in key order.

use apollo_compiler::collections::HashMap;
use apollo_compiler::schema::ObjectType;
use apollo_compiler::{Name, Schema};
use graft_keys::{EntityTypes, KeyScalar};

use crate::parse::MappingError;
use crate::{EntityMapping, RootField, RootFieldKind};

/// Whether `type_name` is a connection type (an object with `edges { node }` or `nodes` of a
/// table-backed entity): `Some(Ok(kind))` when it is and can be paged, `Some(Err(why))` when it
/// is but cannot, `None` when it is no connection.
fn page_field(
    schema: &Schema,
    entities: &EntityTypes,
    mappings: &HashMap<Name, EntityMapping>,
    type_name: &Name,
) -> Option<Result<RootFieldKind, String>> {
    let connection = schema.get_object(type_name)?;
    let node_type = connection
        .fields
        .get("nodes")
        .map(|nodes| nodes.ty.inner_named_type().clone())
        .or_else(|| {
            let edge = schema.get_object(connection.fields.get("edges")?.ty.inner_named_type())?;
            Some(edge.fields.get("node")?.ty.inner_named_type().clone())
        })?;
    let (Some(entity), true) = (entities.get(&node_type), mappings.contains_key(&node_type)) else {
        return Some(Err(format!(
            "{node_type} is not a table-backed entity type"
        )));
    };
    let key = entity.keys().iter().find(|k| {
        k.is_resolvable()
            && k.field_set()
                .leaves()
                .iter()
                .all(|leaf| leaf.path().len() == 1)
    });
    Some(match key {
        Some(key) => Ok(RootFieldKind::Page {
            type_name: node_type,
            key: key.index(),
        }),
        None => Err(format!(
            "{node_type} has no key of top-level fields to order pages by"
        )),
    })
}

pub(crate) fn root_fields(
    schema: &Schema,
    query: &ObjectType,
    entities: &EntityTypes,
    mappings: &HashMap<Name, EntityMapping>,
) -> Result<Vec<RootField>, MappingError> {
    let mut fields = Vec::new();
    for (name, field) in &query.fields {
        if matches!(name.as_str(), "_service" | "_entities") {
            continue;
        }
        let coordinate = format!("{}.{name}", query.name);
        let returned = field.ty.inner_named_type();
        let unsupported = |why: String| {
            (
                coordinate.clone(),
                format!(
                    "{why}; graft resolves root fields that look an entity up by the fields of one of its keys"
                ),
            )
        };
        if let Some(page) = page_field(schema, entities, mappings, field.ty.inner_named_type()) {
            if field.ty.is_list() {
                return Err(unsupported(
                    "a connection field returns one connection, not a list".to_owned(),
                ));
            }
            for argument in &field.arguments {
                let expected = match argument.name.as_str() {
                    "first" => "Int",
                    "after" => "String",
                    other => {
                        return Err(unsupported(format!(
                            "a connection takes `first` and `after`, not `{other}`"
                        )));
                    }
                };
                if argument.ty.inner_named_type() != expected || argument.ty.is_list() {
                    return Err(unsupported(format!(
                        "`{}` must be of type {expected}",
                        argument.name
                    )));
                }
            }
            let page = page.map_err(unsupported)?;
            fields.push(RootField {
                name: name.clone(),
                kind: page,
            });
            continue;
        }
        if field.ty.is_list() {
            return Err(unsupported(
                "list root fields are not supported: return a connection (`edges { cursor node }`, \
                 `pageInfo`) to page through a type"
                    .to_owned(),
            ));
        }
        let (Some(entity), true) = (entities.get(returned), mappings.contains_key(returned)) else {
            return Err(unsupported(format!(
                "{returned} is not a table-backed entity type"
            )));
        };
        let argument_names: Vec<&Name> = field.arguments.iter().map(|a| &a.name).collect();
        let key = entity
            .keys()
            .iter()
            .filter(|k| k.is_resolvable())
            .find(|key| {
                let leaves = key.field_set().leaves();
                leaves.len() == argument_names.len()
                    && leaves.iter().all(|leaf| {
                        leaf.path().len() == 1 && argument_names.contains(&&leaf.path()[0])
                    })
            });
        let Some(key) = key else {
            let keys = entity
                .keys()
                .iter()
                .map(|k| format!("`{}`", k.field_set()))
                .collect::<Vec<_>>()
                .join(", ");
            let args = argument_names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(unsupported(format!(
                "its arguments ({args}) match none of {returned}'s keys ({keys})"
            )));
        };
        for argument in &field.arguments {
            let leaf = key
                .field_set()
                .leaves()
                .iter()
                .find(|l| l.path()[0] == argument.name)
                .expect("matched above");
            if argument.ty.inner_named_type().as_str() != leaf.scalar().type_name()
                && !matches!(leaf.scalar(), KeyScalar::Id)
            {
                return Err((
                    format!("{coordinate}({}:)", argument.name),
                    format!(
                        "argument type {} differs from the key field's type {}",
                        argument.ty,
                        leaf.scalar().type_name()
                    ),
                ));
            }
        }
        fields.push(RootField {
            name: name.clone(),
            kind: RootFieldKind::ByKey {
                type_name: returned.clone(),
                key: key.index(),
                arguments: key
                    .field_set()
                    .leaves()
                    .iter()
                    .map(|l| l.path()[0].clone())
                    .collect(),
            },
        });
    }
    Ok(fields)
}
