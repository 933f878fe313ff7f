//! The entity types of one subgraph schema and their keys.

use apollo_compiler::ast::Value;
// Keyed by the schema's type names, looked up once per representation: ahash, not SipHash.
use apollo_compiler::collections::HashMap;
use apollo_compiler::schema::{Directive, ExtendedType};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node, Schema};

use crate::{KeyError, KeyFieldSet, KeyIndex};

/// A type with at least one `@key`: an object, or an interface (an entity interface).
#[derive(Debug, Clone)]
pub struct EntityType {
    name: Name,
    keys: Vec<KeyDefinition>,
    interface: bool,
}

/// One `@key` of an entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDefinition {
    index: KeyIndex,
    field_set: KeyFieldSet,
    resolvable: bool,
}

/// Every entity type of a subgraph schema, looked up by name.
#[derive(Debug, Clone, Default)]
pub struct EntityTypes {
    types: HashMap<Name, EntityType>,
}

impl EntityTypes {
    /// Reads every `@key` of every object and interface type in `schema`.
    pub fn from_schema(schema: &Valid<Schema>) -> Result<EntityTypes, KeyError> {
        let mut types = HashMap::default();
        for (name, ty) in &schema.types {
            let (directives, interface) = match ty {
                ExtendedType::Object(object) => (&object.directives, false),
                ExtendedType::Interface(interface) => (&interface.directives, true),
                _ => continue,
            };
            let mut keys = Vec::new();
            for directive in directives.get_all("key") {
                let index =
                    KeyIndex(u16::try_from(keys.len()).map_err(|_| KeyError::FieldSet {
                        type_name: name.to_string(),
                        fields: String::new(),
                        column: None,
                        message: "more than 65,535 keys".to_owned(),
                    })?);
                keys.push(KeyDefinition::from_directive(
                    schema, name, index, directive,
                )?);
            }
            if !keys.is_empty() {
                types.insert(
                    name.clone(),
                    EntityType {
                        name: name.clone(),
                        keys,
                        interface,
                    },
                );
            }
        }
        Ok(EntityTypes { types })
    }

    /// The entity type called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&EntityType> {
        self.types.get(name)
    }

    /// All entity types, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &EntityType> {
        self.types.values()
    }

    /// The number of entity types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether the schema has no entity types.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

impl EntityType {
    /// The type's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Its keys, in declaration order.
    pub fn keys(&self) -> &[KeyDefinition] {
        &self.keys
    }

    /// Whether it is an interface (an entity interface) rather than an object type.
    pub fn is_interface(&self) -> bool {
        self.interface
    }

    /// The key at `index`.
    pub fn key(&self, index: KeyIndex) -> Option<&KeyDefinition> {
        self.keys.get(usize::from(index.0))
    }

    /// Whether this subgraph can resolve the type from a representation: it has a key that is not
    /// `resolvable: false`.
    pub fn is_resolvable(&self) -> bool {
        self.keys.iter().any(|key| key.resolvable)
    }
}

impl KeyDefinition {
    fn from_directive(
        schema: &Valid<Schema>,
        type_name: &Name,
        index: KeyIndex,
        directive: &Node<Directive>,
    ) -> Result<KeyDefinition, KeyError> {
        let bad = |message: &str| KeyError::FieldSet {
            type_name: type_name.to_string(),
            fields: String::new(),
            column: None,
            message: message.to_owned(),
        };
        let fields = match directive.specified_argument_by_name("fields").map(|v| &**v) {
            Some(Value::String(fields)) => fields.as_str(),
            _ => return Err(bad("@key needs a `fields` string")),
        };
        let resolvable = match directive
            .specified_argument_by_name("resolvable")
            .map(|v| &**v)
        {
            None => true,
            Some(Value::Boolean(resolvable)) => *resolvable,
            Some(_) => return Err(bad("@key(resolvable:) must be true or false")),
        };
        let field_set = KeyFieldSet::parse(schema, type_name, fields)?;
        Ok(KeyDefinition {
            index,
            field_set,
            resolvable,
        })
    }

    /// The key's position among its type's keys.
    pub fn index(&self) -> KeyIndex {
        self.index
    }

    /// The key's fields.
    pub fn field_set(&self) -> &KeyFieldSet {
        &self.field_set
    }

    /// False for `@key(..., resolvable: false)`: this subgraph only references the entity.
    pub fn is_resolvable(&self) -> bool {
        self.resolvable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::parse_subgraph_schema;

    #[test]
    fn reads_several_keys_and_resolvable_false() {
        let schema = parse_subgraph_schema(
            r#"
            type Query { p: Product }
            type Product @key(fields: "id") @key(fields: "sku package") { id: ID! sku: String! package: String! }
            type User @key(fields: "id", resolvable: false) { id: ID! }
            type Plain { x: Int }
            "#,
            "products.graphql",
            "",
        )
        .unwrap();
        let types = EntityTypes::from_schema(&schema).unwrap();
        assert_eq!(types.len(), 2);
        let product = types.get("Product").unwrap();
        let keys: Vec<String> = product
            .keys()
            .iter()
            .map(|k| k.field_set().to_string())
            .collect();
        assert_eq!(keys, ["id", "sku package"]);
        assert!(product.is_resolvable());
        assert!(!types.get("User").unwrap().is_resolvable());
        assert!(types.get("Plain").is_none());
    }
}
