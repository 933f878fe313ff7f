//! The mutations graft derives for the entity types that opt in with `@mutations`.
//!
//! For a type `Order` keyed by `id`, graft adds to the schema (and to `_service { sdl }`):
//!
//! ```graphql
//! input CreateOrderInput { id: ID  total: Float!  note: String }
//! input OrderPatch { total: Float  note: String }
//! extend type Mutation {
//!   createOrder(input: CreateOrderInput!): Order
//!   createOrders(inputs: [CreateOrderInput!]!): [Order!]
//!   updateOrder(id: ID!, patch: OrderPatch!): Order
//!   deleteOrder(id: ID!): Order
//! }
//! ```
//!
//! The inputs come from the mapping: every stored field of the type (its own, not
//! `@external`, not embedded), non-null fields required, nullable ones optional, and key fields
//! of type `ID` optional, for the database to generate. A patch takes every stored field but
//! the key's, each optional; keys do not change.

use apollo_compiler::collections::HashMap;
use std::fmt::Write as _;

use apollo_compiler::schema::ExtendedType;
use apollo_compiler::{Name, Schema};
use graft_keys::{EntityTypes, KeyIndex};

use crate::{ColumnRole, EntityMapping};

/// A root `Mutation` field graft derived for a type with `@mutations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutationField {
    /// The field's name: `createOrder`, `updateOrder`, ...
    pub name: Name,
    /// The entity type it writes and returns.
    pub type_name: Name,
    /// What it does.
    pub kind: MutationKind,
}

/// What a derived mutation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationKind {
    /// `createX(input:)`: inserts one row.
    Create {
        /// The input object's fields.
        inputs: Vec<InputField>,
    },
    /// `createXs(inputs:)`: inserts every row in one statement.
    CreateMany {
        /// The input objects' fields.
        inputs: Vec<InputField>,
    },
    /// `updateX(<key>, patch:)`: changes the fields the patch gives, of the row with the key.
    Update {
        /// The key the arguments form.
        key: KeyIndex,
        /// The arguments giving each key leaf, in leaf order.
        arguments: Vec<Name>,
        /// The patch's fields.
        patch: Vec<InputField>,
    },
    /// `deleteX(<key>)`: deletes the row with the key, answering its last values.
    Delete {
        /// The key the arguments form.
        key: KeyIndex,
        /// The arguments giving each key leaf, in leaf order.
        arguments: Vec<Name>,
    },
}

/// A field of a derived input object: the entity field it sets and that field's column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputField {
    /// The field (the same name in the input as in the entity type).
    pub field: Name,
    /// Index into the entity's [`EntityMapping::columns`].
    pub column: usize,
    /// Whether the input must give it.
    pub required: bool,
}

/// The mutations of one type and the SDL that declares them.
pub(crate) struct Derived {
    pub(crate) fields: Vec<MutationField>,
    pub(crate) sdl: String,
}

/// Derives the mutations of every type `@mutations` marks; the error names the type.
pub(crate) fn derive(
    schema: &Schema,
    entities: &EntityTypes,
    mappings: &HashMap<Name, EntityMapping>,
) -> Result<Derived, (String, String)> {
    let mut derived = Derived {
        fields: Vec::new(),
        sdl: String::new(),
    };
    let mut marked: Vec<&Name> = schema
        .types
        .iter()
        .filter(|(_, ty)| matches!(ty, ExtendedType::Object(o) if o.directives.get("mutations").is_some()))
        .map(|(name, _)| name)
        .collect();
    marked.sort();
    for type_name in marked {
        let error = |message: String| (type_name.to_string(), format!("@mutations: {message}"));
        let mapping = mappings
            .get(type_name)
            .ok_or_else(|| error("the type needs @key and a table".to_owned()))?;
        derive_type(schema, entities, mapping, &mut derived).map_err(error)?;
    }
    Ok(derived)
}

fn derive_type(
    schema: &Schema,
    entities: &EntityTypes,
    mapping: &EntityMapping,
    derived: &mut Derived,
) -> Result<(), String> {
    let type_name = &mapping.type_name;
    let object = schema
        .get_object(type_name)
        .expect("mapped types are objects");
    let entity = entities.get(type_name).expect("mapped types are entities");
    let key = entity
        .keys()
        .iter()
        .find(|key| {
            key.is_resolvable() && key.field_set().leaves().iter().all(|l| l.path().len() == 1)
        })
        .ok_or("the type needs a key of its own top-level fields, for update and delete")?;
    let key_columns = mapping.key_columns(key.index());
    let mut inputs = Vec::new();
    let mut create_sdl = String::new();
    let mut patch_sdl = String::new();
    let mut patch = Vec::new();
    for (index, column) in mapping.columns.iter().enumerate() {
        if column.role != ColumnRole::Field {
            continue;
        }
        let Some(definition) = object.fields.get(&column.field) else {
            continue;
        };
        if definition.directives.get("external").is_some() {
            continue;
        }
        let is_key = key_columns.contains(&column.column);
        let generated = is_key && definition.ty.inner_named_type() == "ID";
        let required = definition.ty.is_non_null() && !generated;
        let optional = definition.ty.clone().nullable();
        let ty = if required { &definition.ty } else { &optional };
        let _ = writeln!(create_sdl, "  {}: {ty}", column.field);
        inputs.push(InputField {
            field: column.field.clone(),
            column: index,
            required,
        });
        if !is_key {
            let _ = writeln!(patch_sdl, "  {}: {optional}", column.field);
            patch.push(InputField {
                field: column.field.clone(),
                column: index,
                required: false,
            });
        }
    }
    if inputs.is_empty() {
        return Err("the type stores no field of its own to write".to_owned());
    }
    let arguments: Vec<Name> = key
        .field_set()
        .leaves()
        .iter()
        .map(|leaf| leaf.path()[0].clone())
        .collect();
    let key_arguments = arguments
        .iter()
        .map(|name| {
            let ty = &object.fields[name].ty;
            format!("{name}: {}", ty.clone().non_null())
        })
        .collect::<Vec<_>>()
        .join(", ");
    let name = |prefix: &str, suffix: &str| -> Result<Name, String> {
        let name = format!("{prefix}{type_name}{suffix}");
        if schema.types.contains_key(name.as_str()) {
            return Err(format!(
                "graft would declare `{name}`, which the schema already has"
            ));
        }
        Name::new(&name).map_err(|e| e.to_string())
    };
    let create_input = name("Create", "Input")?;
    let patch_input = name("", "Patch")?;
    let plural = plural(type_name);
    let field = |name: String| Name::new(&name).map_err(|e| e.to_string());
    let sdl = &mut derived.sdl;
    let _ = write!(
        sdl,
        "\"A new {type_name}. Fields left out take the table's defaults.\"\n\
         input {create_input} {{\n{create_sdl}}}\n"
    );
    let mut mutation = String::new();
    let _ = write!(
        mutation,
        "  \"Creates one {type_name}, in a transaction of its own.\"\n  \
         create{type_name}(input: {create_input}!): {type_name}\n  \
         \"Creates every {type_name} in a transaction of its own, all of them or none: one statement for the inputs that give the same fields.\"\n  \
         create{plural}(inputs: [{create_input}!]!): [{type_name}!]\n"
    );
    derived.fields.push(MutationField {
        name: field(format!("create{type_name}"))?,
        type_name: type_name.clone(),
        kind: MutationKind::Create {
            inputs: inputs.clone(),
        },
    });
    derived.fields.push(MutationField {
        name: field(format!("create{plural}"))?,
        type_name: type_name.clone(),
        kind: MutationKind::CreateMany { inputs },
    });
    if !patch.is_empty() {
        let _ = write!(
            sdl,
            "\"Changes to one {type_name}: each field given is set, and null clears it.\"\n\
             input {patch_input} {{\n{patch_sdl}}}\n"
        );
        let _ = write!(
            mutation,
            "  \"Changes the {type_name} with this key; null when there is none.\"\n  \
             update{type_name}({key_arguments}, patch: {patch_input}!): {type_name}\n"
        );
        derived.fields.push(MutationField {
            name: field(format!("update{type_name}"))?,
            type_name: type_name.clone(),
            kind: MutationKind::Update {
                key: key.index(),
                arguments: arguments.clone(),
                patch,
            },
        });
    }
    let _ = write!(
        mutation,
        "  \"Deletes the {type_name} with this key and answers its last values; null when there is none.\"\n  \
         delete{type_name}({key_arguments}): {type_name}\n"
    );
    derived.fields.push(MutationField {
        name: field(format!("delete{type_name}"))?,
        type_name: type_name.clone(),
        kind: MutationKind::Delete {
            key: key.index(),
            arguments,
        },
    });
    let _ = write!(sdl, "extend type Mutation {{\n{mutation}}}\n");
    Ok(())
}

/// The English plural of a type name, for `createXs`: `Orders`, `Addresses`, `Categories`.
pub(crate) fn plural(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| lower.ends_with(end))
    {
        format!("{name}es")
    } else if lower.ends_with('y') && !lower[..lower.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{}ies", &name[..name.len() - 1])
    } else {
        format!("{name}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_read_as_english() {
        assert_eq!(plural("Order"), "Orders");
        assert_eq!(plural("Address"), "Addresses");
        assert_eq!(plural("Category"), "Categories");
        assert_eq!(plural("Day"), "Days");
        assert_eq!(plural("Box"), "Boxes");
    }
}

#[cfg(test)]
mod derived_tests {
    use expect_test::expect;

    use crate::{MutationKind, SubgraphSchema};

    const SDL: &str = r#"
type Query { order(id: ID!): Order }
type Order @key(fields: "id") @table(name: "orders") @mutations {
  id: ID!
  orgId: String!
  total: Float!
  note: String
  user: OrgUser @belongsTo(fields: "orgId userId")
  userId: String!
}
type OrgUser @key(fields: "orgId userId") @table(name: "org_users") @mutations {
  orgId: String!
  userId: String!
  name: String!
}
"#;

    #[test]
    fn marked_types_get_inputs_and_mutations_in_the_served_sdl() {
        let schema = SubgraphSchema::parse(SDL, "m.graphql").expect("valid schema");
        let names: Vec<&str> = schema
            .mutation_fields()
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "createOrder",
                "createOrders",
                "updateOrder",
                "deleteOrder",
                "createOrgUser",
                "createOrgUsers",
                "updateOrgUser",
                "deleteOrgUser"
            ]
        );
        assert_eq!(schema.mutation_type().map(|n| n.as_str()), Some("Mutation"));
        let MutationKind::Create { inputs } = &schema.mutation_fields()[0].kind else {
            panic!("createOrder creates");
        };
        let required: Vec<(&str, bool)> = inputs
            .iter()
            .map(|i| (i.field.as_str(), i.required))
            .collect();
        assert_eq!(
            required,
            [
                ("id", false),
                ("orgId", true),
                ("total", true),
                ("note", false),
                ("userId", true)
            ]
        );
        let sdl = schema.federation_sdl();
        let derived = &sdl[sdl.find("\"A new Order").expect("derived SDL")..];
        expect![[r#"
            "A new Order. Fields left out take the table's defaults."""
            input CreateOrderInput {
              id: ID
              orgId: String!
              total: Float!
              note: String
              userId: String!
            }

            """Changes to one Order: each field given is set, and null clears it."""
            input OrderPatch {
              orgId: String
              total: Float
              note: String
              userId: String
            }

            extend type Mutation {
              """Creates one Order, in a transaction of its own."""
              createOrder(input: CreateOrderInput!): Order
              """
              Creates every Order in a transaction of its own, all of them or none: one statement for the inputs that give the same fields.
              """
              createOrders(inputs: [CreateOrderInput!]!): [Order!]
              """Changes the Order with this key; null when there is none."""
              updateOrder(id: ID!, patch: OrderPatch!): Order
              """
              Deletes the Order with this key and answers its last values; null when there is none.
              """
              deleteOrder(id: ID!): Order
            }

            """#]]
        .assert_eq(&derived[..derived.find("\"A new OrgUser").expect("the second type")]);
        assert!(
            !sdl.contains("@mutations"),
            "graft's directive is not served"
        );
    }

    #[test]
    fn a_type_without_a_table_cannot_have_mutations() {
        let error = SubgraphSchema::parse("type Note @mutations { text: String }", "m.graphql")
            .expect_err("no table");
        assert!(
            error
                .to_string()
                .contains("@mutations: the type needs @key and a table"),
            "{error}"
        );
    }
}
