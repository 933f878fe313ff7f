//! Key compatibility across subgraphs.
//!
//! A gateway moves from subgraph A to subgraph B for an entity by sending B a representation with
//! one of B's resolvable keys. If A only knows the entity by a key B does not accept (B keys
//! `OrgUser` by `orgId userId`, A by `userId`), the jump is impossible. This module finds such
//! mismatches, and key fields whose types differ between subgraphs, before composition does.

use std::fmt;

use apollo_compiler::Schema;
use apollo_compiler::validation::Valid;

use crate::{EntityTypes, KeyError};

/// One subgraph as the check sees it.
#[derive(Debug)]
pub struct SubgraphKeys {
    name: String,
    schema: Valid<Schema>,
    entities: EntityTypes,
}

/// A problem between two subgraphs' keys for one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMismatch {
    /// The entity type.
    pub type_name: String,
    /// The subgraph that refers to the entity.
    pub referencing: String,
    /// Its keys for the type, canonical.
    pub referencing_keys: Vec<String>,
    /// The subgraph that resolves the entity.
    pub owner: String,
    /// The owner's resolvable keys, canonical.
    pub owner_keys: Vec<String>,
    /// What is wrong.
    pub problem: MismatchKind,
}

/// The kind of a [`KeyMismatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MismatchKind {
    /// None of the referencing subgraph's keys is a resolvable key of the owner, and the
    /// referencing subgraph does not have the fields of any of them.
    NoSharedKey,
    /// A key field has different types in the two subgraphs.
    FieldType {
        /// The dotted field path.
        field: String,
        /// Its type in the referencing subgraph.
        referencing: String,
        /// Its type in the owner.
        owner: String,
    },
}

impl SubgraphKeys {
    /// Parses one subgraph's SDL; `name` (usually the file path) names it in reports.
    pub fn parse(name: impl Into<String>, sdl: &str) -> Result<SubgraphKeys, KeyError> {
        let name = name.into();
        let schema = crate::parse_subgraph_schema(sdl, &name, "")?;
        let entities = EntityTypes::from_schema(&schema)?;
        Ok(SubgraphKeys {
            name,
            schema,
            entities,
        })
    }

    /// The subgraph's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Checks every pair of subgraphs that share an entity type.
pub fn check_key_compatibility(subgraphs: &[SubgraphKeys]) -> Vec<KeyMismatch> {
    let mut mismatches = Vec::new();
    for (referencing_index, referencing) in subgraphs.iter().enumerate() {
        let mut types: Vec<_> = referencing.entities.iter().collect();
        types.sort_by(|a, b| a.name().cmp(b.name()));
        for entity in types {
            for (owner_index, owner) in subgraphs.iter().enumerate() {
                if owner_index == referencing_index {
                    continue;
                }
                let Some(owned) = owner.entities.get(entity.name()) else {
                    continue;
                };
                let owner_keys: Vec<_> =
                    owned.keys().iter().filter(|k| k.is_resolvable()).collect();
                if owner_keys.is_empty() {
                    continue;
                }
                let canonical =
                    |keys: &mut dyn Iterator<Item = &crate::KeyDefinition>| -> Vec<String> {
                        keys.map(|k| k.field_set().canonical()).collect()
                    };
                let referencing_canon = canonical(&mut entity.keys().iter());
                let owner_canon = canonical(&mut owner_keys.iter().copied());
                let mismatch = |problem| KeyMismatch {
                    type_name: entity.name().to_string(),
                    referencing: referencing.name.clone(),
                    referencing_keys: referencing_canon.clone(),
                    owner: owner.name.clone(),
                    owner_keys: owner_canon.clone(),
                    problem,
                };
                let shared = owner_keys.iter().any(|key| {
                    referencing_canon.contains(&key.field_set().canonical())
                        || has_all_fields(&referencing.schema, entity.name(), key.field_set())
                });
                if !shared {
                    mismatches.push(mismatch(MismatchKind::NoSharedKey));
                    continue;
                }
                // Same field, different type: the representation one side sends cannot be read by
                // the other. Each pair of subgraphs is reported once.
                let both_resolve = entity.is_resolvable();
                if both_resolve && referencing_index > owner_index && owned.is_resolvable() {
                    continue;
                }
                let mut reported = Vec::new();
                for leaf in entity.keys().iter().flat_map(|k| k.field_set().leaves()) {
                    let other = owner_keys
                        .iter()
                        .flat_map(|k| k.field_set().leaves())
                        .find(|l| l.path() == leaf.path());
                    if let Some(other) = other
                        && other.scalar().type_name() != leaf.scalar().type_name()
                        && !reported.contains(&leaf.path())
                    {
                        reported.push(leaf.path());
                        mismatches.push(mismatch(MismatchKind::FieldType {
                            field: leaf.dotted(),
                            referencing: leaf.scalar().type_name().to_owned(),
                            owner: other.scalar().type_name().to_owned(),
                        }));
                    }
                }
            }
        }
    }
    mismatches
}

/// Whether the type in `schema` defines every field of `field_set` (so the subgraph could build
/// that key itself).
fn has_all_fields(schema: &Schema, type_name: &str, field_set: &crate::KeyFieldSet) -> bool {
    field_set.leaves().iter().all(|leaf| {
        let mut current = type_name.to_owned();
        for name in leaf.path() {
            match schema.type_field(&current, name) {
                Ok(field) => current = field.ty.inner_named_type().to_string(),
                Err(_) => return false,
            }
        }
        true
    })
}

impl fmt::Display for KeyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |keys: &[String]| {
            keys.iter()
                .map(|k| format!("@key(fields: {k:?})"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match &self.problem {
            MismatchKind::NoSharedKey => write!(
                f,
                "type {}: {} knows it by {} but {} resolves it only by {}; the gateway cannot fetch it from {}",
                self.type_name,
                self.referencing,
                keys(&self.referencing_keys),
                self.owner,
                keys(&self.owner_keys),
                self.owner,
            ),
            MismatchKind::FieldType {
                field,
                referencing,
                owner,
            } => write!(
                f,
                "type {}: key field `{field}` is {referencing} in {} but {owner} in {} (keys there: {})",
                self.type_name,
                self.referencing,
                self.owner,
                keys(&self.owner_keys),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(subgraphs: &[(&str, &str)]) -> Vec<String> {
        let parsed: Vec<_> = subgraphs
            .iter()
            .map(|(name, sdl)| SubgraphKeys::parse(*name, sdl).unwrap())
            .collect();
        check_key_compatibility(&parsed)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const USERS: &str = r#"
        type Query { user(orgId: ID!, userId: ID!): OrgUser }
        type OrgUser @key(fields: "orgId userId") { orgId: ID! userId: ID! name: String }
    "#;

    #[test]
    fn reports_a_reference_by_a_key_the_owner_does_not_have() {
        let orders = r#"
            type Query { order(id: ID!): Order }
            type Order @key(fields: "id") { id: ID! user: OrgUser }
            type OrgUser @key(fields: "userId", resolvable: false) { userId: ID! }
        "#;
        let report = check(&[("users.graphql", USERS), ("orders.graphql", orders)]);
        assert_eq!(
            report,
            [
                "type OrgUser: orders.graphql knows it by @key(fields: \"userId\") but users.graphql resolves it only by @key(fields: \"orgId userId\"); the gateway cannot fetch it from users.graphql"
            ]
        );
    }

    #[test]
    fn accepts_the_same_key_in_another_field_order() {
        let orders = r#"
            type Query { order(id: ID!): Order }
            type Order @key(fields: "id") { id: ID! user: OrgUser }
            type OrgUser @key(fields: "userId orgId", resolvable: false) { orgId: ID! userId: ID! }
        "#;
        assert!(check(&[("users.graphql", USERS), ("orders.graphql", orders)]).is_empty());
    }

    #[test]
    fn reports_key_fields_of_different_types() {
        let orders = r#"
            type Query { order(id: ID!): Order }
            type Order @key(fields: "id") { id: ID! user: OrgUser }
            type OrgUser @key(fields: "orgId userId", resolvable: false) { orgId: ID! userId: Int! }
        "#;
        let report = check(&[("users.graphql", USERS), ("orders.graphql", orders)]);
        assert_eq!(report.len(), 1, "{report:?}");
        assert!(
            report[0]
                .contains("key field `userId` is Int in orders.graphql but ID in users.graphql"),
            "{report:?}"
        );
    }

    #[test]
    fn several_keys_need_only_one_in_common() {
        let products = r#"
            type Query { p: Product }
            type Product @key(fields: "id") @key(fields: "sku package") { id: ID! sku: String! package: String! }
        "#;
        let inventory = r#"
            type Query { i: Int }
            type Product @key(fields: "id") { id: ID! inStock: Boolean }
        "#;
        assert!(check(&[("products", products), ("inventory", inventory)]).is_empty());
    }
}
