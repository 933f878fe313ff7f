//! Building a [`SubgraphSchema`] from SDL.

use std::path::Path;

use apollo_compiler::ast::{self, Definition, Value};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
// Keyed by the schema's type names, looked up for every entity written: ahash, not SipHash.
use apollo_compiler::collections::HashMap;
use apollo_compiler::{Name, Node, Schema};
use graft_keys::{EntityTypes, parse_subgraph_schema};

use crate::entity_map::{map_entity, provided_fields};
use crate::mutations::{self, MutationField};
use crate::relations::map_relations;
use crate::roots::root_fields;
use crate::{EntityMapping, RootField, SchemaError};

/// The definitions of graft's own mapping directives. They are stripped from `_service { sdl }`.
const GRAFT_DIRECTIVES: &str = "
directive @table(name: String!, schema: String) on OBJECT
directive @column(name: String!) on FIELD_DEFINITION
directive @belongsTo(fields: String, columns: String) on FIELD_DEFINITION
directive @hasMany(fields: String, columns: String) on FIELD_DEFINITION
directive @computed(expression: String!) on FIELD_DEFINITION
directive @mutations on OBJECT
";
const GRAFT_DIRECTIVE_NAMES: [&str; 6] = [
    "table",
    "column",
    "belongsTo",
    "hasMany",
    "computed",
    "mutations",
];

/// A validated subgraph schema with graft's mapping.
#[derive(Debug, Clone)]
pub struct SubgraphSchema {
    path: String,
    federation_sdl: String,
    api_schema: Valid<Schema>,
    entities: EntityTypes,
    mappings: HashMap<Name, EntityMapping>,
    root_fields: Vec<RootField>,
    query_type: Name,
    mutation_fields: Vec<MutationField>,
    mutation_type: Option<Name>,
}

impl SubgraphSchema {
    /// Parses and validates `sdl`; `path` names the file in error messages. The mutations of
    /// the types marked `@mutations` are added to it (see [`MutationField`]).
    pub fn parse(sdl: &str, path: impl AsRef<Path>) -> Result<SubgraphSchema, SchemaError> {
        let schema = SubgraphSchema::parse_as_written(sdl, path.as_ref())?;
        let derived = mutations::derive(
            schema.api_schema.as_ref(),
            &schema.entities,
            &schema.mappings,
        )
        .map_err(|(coordinate, message)| SchemaError::Mapping {
            path: schema.path.clone(),
            coordinate,
            message,
        })?;
        if derived.fields.is_empty() {
            return Ok(schema);
        }
        let mut with_mutations =
            SubgraphSchema::parse_as_written(&format!("{sdl}\n{}", derived.sdl), path.as_ref())?;
        with_mutations.mutation_type = with_mutations
            .api_schema
            .schema_definition
            .mutation
            .as_ref()
            .map(|c| c.name.clone());
        with_mutations.mutation_fields = derived.fields;
        Ok(with_mutations)
    }

    /// [`SubgraphSchema::parse`] without derived mutations.
    fn parse_as_written(sdl: &str, path: &Path) -> Result<SubgraphSchema, SchemaError> {
        let path_str = path.display().to_string();
        let schema = parse_subgraph_schema(sdl, path, GRAFT_DIRECTIVES)?;
        let entities = EntityTypes::from_schema(&schema)?;
        let query_type = schema
            .schema_definition
            .query
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| Name::new_static_unchecked("Query"));
        let error = |coordinate: String, message: String| SchemaError::Mapping {
            path: path_str.clone(),
            coordinate,
            message,
        };

        let provided = provided_fields(&schema);
        let mut mappings = HashMap::default();
        for (name, ty) in &schema.types {
            let ExtendedType::Object(object) = ty else {
                continue;
            };
            let table_directive = object.directives.get("table");
            let resolvable = entities.get(name).is_some_and(|e| e.is_resolvable());
            if !resolvable {
                if table_directive.is_some() {
                    return Err(error(
                        name.to_string(),
                        "@table needs a resolvable @key on the type".into(),
                    ));
                }
                continue;
            }
            let mapping = map_entity(&schema, &entities, &provided, object, table_directive)
                .map_err(|(coordinate, message)| error(coordinate, message))?;
            mappings.insert(name.clone(), mapping);
        }

        // Relations need every mapping, so they are read in a second pass.
        let mut relations = Vec::new();
        for mapping in mappings.values() {
            let object = schema
                .get_object(&mapping.type_name)
                .expect("mapped types are objects");
            for relation in map_relations(&entities, &mappings, mapping, object)
                .map_err(|(c, m)| error(c, m))?
            {
                relations.push((mapping.type_name.clone(), relation));
            }
        }
        for (type_name, (mut relation, join_columns)) in relations {
            let mapping = mappings
                .get_mut(&type_name)
                .expect("collected from mappings");
            if !join_columns.is_empty() {
                relation.local_columns = join_columns
                    .into_iter()
                    .map(|column| {
                        mapping.columns.push(column);
                        mapping.columns.len() - 1
                    })
                    .collect();
            }
            mapping.relations.push(relation);
        }

        let root_fields = match schema.get_object(&query_type) {
            Some(query) => {
                root_fields(&schema, query, &entities, &mappings).map_err(|(c, m)| error(c, m))?
            }
            None => Vec::new(),
        };

        let federation_sdl = strip_graft_directives(sdl, path);
        Ok(SubgraphSchema {
            path: path_str,
            federation_sdl,
            api_schema: schema,
            entities,
            mappings,
            root_fields,
            query_type,
            mutation_fields: Vec::new(),
            mutation_type: None,
        })
    }

    /// The file the schema came from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The SDL for `_service { sdl }`: the user's schema with graft's directives removed.
    pub fn federation_sdl(&self) -> &str {
        &self.federation_sdl
    }

    /// The schema operations are validated against, with the federation fields added.
    pub fn api_schema(&self) -> &Valid<Schema> {
        &self.api_schema
    }

    /// The entity types and their keys.
    pub fn entities(&self) -> &EntityTypes {
        &self.entities
    }

    /// The table mapping of entity type `name`, if it is table-backed.
    pub fn mapping(&self, name: &str) -> Option<&EntityMapping> {
        self.mappings.get(name)
    }

    /// Every table-backed entity type.
    pub fn mappings(&self) -> impl Iterator<Item = &EntityMapping> {
        self.mappings.values()
    }

    /// The same schema with only the mappings of the types `keep` accepts: what this
    /// subgraph's own database must hold when the other types are read from elsewhere (another
    /// subgraph's database or `_entities`).
    pub fn with_mappings(&self, keep: impl Fn(&Name) -> bool) -> SubgraphSchema {
        let mut schema = self.clone();
        schema.mappings.retain(|name, _| keep(name));
        schema
    }

    /// The root `Query` fields graft resolves.
    pub fn root_field(&self, name: &str) -> Option<&RootField> {
        self.root_fields.iter().find(|f| f.name == name)
    }

    /// Every root `Query` field graft resolves, in schema order.
    pub fn root_fields(&self) -> &[RootField] {
        &self.root_fields
    }

    /// The root `Mutation` fields graft derived (see [`MutationField`]), in schema order.
    pub fn mutation_fields(&self) -> &[MutationField] {
        &self.mutation_fields
    }

    /// The derived mutation field `name`.
    pub fn mutation_field(&self, name: &str) -> Option<&MutationField> {
        self.mutation_fields.iter().find(|f| f.name == name)
    }

    /// The name of the mutation root type, when the schema has derived mutations.
    pub fn mutation_type(&self) -> Option<&Name> {
        self.mutation_type.as_ref()
    }

    /// The name of the query root type.
    pub fn query_type(&self) -> &Name {
        &self.query_type
    }
}

/// A mapping problem: the schema coordinate, and what is wrong there.
pub(crate) type MappingError = (String, String);

pub(crate) fn string_argument(directive: &ast::Directive, name: &str) -> Option<String> {
    match directive.specified_argument_by_name(name).map(|v| &**v) {
        Some(Value::String(s)) => Some(s.to_string()),
        _ => None,
    }
}

/// The user's SDL without graft's mapping directives and their definitions: what the subgraph
/// serves as `_service { sdl }`, and what other federation tools (composition, `graft check`)
/// read. `path` names the source of parse errors, which are left for validation to report.
pub fn strip_graft_directives(sdl: &str, path: &Path) -> String {
    let mut document = match ast::Document::parse(sdl, path) {
        Ok(document) => document,
        Err(with_errors) => with_errors.partial,
    };
    let is_graft = |d: &Node<ast::Directive>| GRAFT_DIRECTIVE_NAMES.contains(&d.name.as_str());
    document.definitions.retain(|definition| match definition {
        Definition::DirectiveDefinition(d) => !GRAFT_DIRECTIVE_NAMES.contains(&d.name.as_str()),
        _ => true,
    });
    for definition in &mut document.definitions {
        let (directives, fields) = match definition {
            Definition::ObjectTypeDefinition(node) => {
                let node = node.make_mut();
                (&mut node.directives, &mut node.fields)
            }
            Definition::ObjectTypeExtension(node) => {
                let node = node.make_mut();
                (&mut node.directives, &mut node.fields)
            }
            Definition::InterfaceTypeDefinition(node) => {
                let node = node.make_mut();
                (&mut node.directives, &mut node.fields)
            }
            Definition::InterfaceTypeExtension(node) => {
                let node = node.make_mut();
                (&mut node.directives, &mut node.fields)
            }
            _ => continue,
        };
        directives.0.retain(|d| !is_graft(d));
        for field in fields {
            field.make_mut().directives.0.retain(|d| !is_graft(d));
        }
    }
    document.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RootFieldKind;

    const SDL: &str = r#"
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])

type Query {
  orgUser(orgId: String!, userId: String!): OrgUser
}

type OrgUser @key(fields: "orgId userId") @table(name: "org_users") {
  orgId: String!
  userId: String!
  name: String
  email: String @column(name: "email_address")
  createdAt: String
}

type Order @key(fields: "id") {
  id: ID!
  total: Float @shareable
}
"#;

    #[test]
    fn maps_tables_and_columns_by_directive_or_default() {
        let schema = SubgraphSchema::parse(SDL, "orgs.graphql").unwrap();
        let user = schema.mapping("OrgUser").unwrap();
        assert_eq!(user.table.to_string(), "org_users");
        let columns: Vec<&str> = user.columns.iter().map(|c| c.column.as_str()).collect();
        assert_eq!(
            columns,
            ["org_id", "user_id", "name", "email_address", "created_at"]
        );
        assert_eq!(user.key_columns[0], ["org_id", "user_id"]);
        assert_eq!(schema.mapping("Order").unwrap().table.to_string(), "order");
        assert!(!user.column("orgId").unwrap().ty.nullable);
    }

    #[test]
    fn strips_graft_directives_from_the_federation_sdl() {
        let schema = SubgraphSchema::parse(SDL, "orgs.graphql").unwrap();
        let sdl = schema.federation_sdl();
        assert!(!sdl.contains("@table") && !sdl.contains("@column"), "{sdl}");
        assert!(
            sdl.contains(r#"@key(fields: "orgId userId")"#) && sdl.contains("@link"),
            "{sdl}"
        );
    }

    #[test]
    fn adds_the_federation_fields_to_the_api_schema() {
        let schema = SubgraphSchema::parse(SDL, "orgs.graphql").unwrap();
        let api = schema.api_schema();
        assert!(api.type_field("Query", "_entities").is_ok());
        assert!(api.type_field("Query", "_service").is_ok());
        assert!(api.types.contains_key("_Entity"));
        assert!(matches!(
            schema.root_field("orgUser").unwrap().kind,
            RootFieldKind::ByKey { ref type_name, .. } if type_name == "OrgUser"
        ));
    }

    #[test]
    fn unresolvable_root_fields_and_reference_types() {
        let schema = SubgraphSchema::parse("type Query { _dummy: String }", "plain.graphql");
        // A root field graft cannot resolve is an error that says so.
        let err = schema.unwrap_err().to_string();
        assert!(err.contains("plain.graphql: Query._dummy"), "{err}");
        let schema = SubgraphSchema::parse(
            "type Item @key(fields: \"id\", resolvable: false) { id: ID! }",
            "refs.graphql",
        )
        .unwrap();
        assert!(schema.api_schema().type_field("Query", "_service").is_ok());
        assert!(schema.mapping("Item").is_none());
    }

    #[test]
    fn relations_both_ways_and_references() {
        let sdl = r#"
            type OrgUser @key(fields: "orgId userId") {
              orgId: String! userId: String! orders: [Order!]! @hasMany(fields: "orgId userId")
            }
            type Order @key(fields: "id") {
              id: ID! orgId: String! userId: String! sellerId: ID!
              user: OrgUser @belongsTo(fields: "orgId userId")
              seller: Seller! @belongsTo(fields: "sellerId")
            }
            type Seller @key(fields: "id", resolvable: false) { id: ID! }
        "#;
        let schema = SubgraphSchema::parse(sdl, "rel.graphql").unwrap();
        let (_, orders) = schema
            .mapping("OrgUser")
            .unwrap()
            .relation("orders")
            .unwrap();
        assert!(orders.many && !orders.reference);
        assert_eq!(
            (
                orders.local_columns.as_slice(),
                orders.target_columns.as_slice()
            ),
            (
                &[0, 1][..],
                &["org_id".to_owned(), "user_id".to_owned()][..]
            )
        );
        let order = schema.mapping("Order").unwrap();
        let (_, user) = order.relation("user").unwrap();
        assert!(!user.many && user.nullable && user.target_key == Some(graft_keys::KeyIndex(0)));
        let (_, seller) = order.relation("seller").unwrap();
        assert!(seller.reference && !seller.nullable && seller.target_columns.is_empty());
        assert!(
            !schema.federation_sdl().contains("@hasMany")
                && !schema.federation_sdl().contains("@belongsTo")
        );
    }

    #[test]
    fn mapping_errors_name_the_file_and_coordinate() {
        let cases = [
            (
                "type Query { x: Int } type A @table(name: \"a\") { id: ID! }",
                "t.graphql: A: @table needs a resolvable @key",
            ),
            (
                "type Query { a(id: ID!, other: Int): A } type A @key(fields: \"id\") { id: ID! }",
                "t.graphql: Query.a: its arguments (id, other) match none of A's keys (`id`)",
            ),
            (
                "type A @key(fields: \"id\") { id: ID! @column(name: \"\") }",
                "t.graphql: A.id: @column(name:) must be a non-empty string",
            ),
            (
                "type A @key(fields: \"id\") { id: ID! b: [A!]! @belongsTo(fields: \"id\") }",
                "t.graphql: A.b: @belongsTo: the field must not be a list",
            ),
            (
                "type A @key(fields: \"id\") { id: ID! b: A @belongsTo(fields: \"nope\") }",
                "t.graphql: A.b: @belongsTo: `nope` is not a column-mapped field of A",
            ),
            (
                "type A @key(fields: \"id\") { id: ID! b: A @belongsTo(fields: \"id id\") }",
                "t.graphql: A.b: @belongsTo: A has no key of 2 top-level fields",
            ),
        ];
        for (sdl, expected) in cases {
            let err = SubgraphSchema::parse(sdl, "t.graphql")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{err}");
        }
    }
}

#[cfg(test)]
mod compat_products_tests {
    use super::*;
    use crate::ColumnRole;
    use crate::entity_map::field_set_leaves;

    fn schema() -> SubgraphSchema {
        SubgraphSchema::parse(
            include_str!("../../../examples/compat-products/schema.graphql"),
            "schema.graphql",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn embedded_objects_map_to_prefixed_columns_and_serve_nested_keys() {
        let schema = schema();
        let product = schema.mapping("Product").expect("mapped");
        let dimensions = product.embedded("dimensions").expect("embedded");
        assert!(dimensions.nullable);
        let columns: Vec<&str> = dimensions
            .all_columns()
            .iter()
            .map(|&i| product.columns[i].column.as_str())
            .collect();
        assert_eq!(
            columns,
            ["dimensions_size", "dimensions_weight", "dimensions_unit"]
        );
        // Embedded fields are not the entity's own: `id` is Product.id, not variation.id.
        assert_eq!(product.column("id").expect("id").column, "id");
        assert_eq!(product.key_columns[2], ["sku", "variation_id"]);
        let research = schema.mapping("ProductResearch").expect("mapped");
        assert_eq!(research.key_columns[0], ["study_case_number"]);
        assert!(!research.embedded("study").expect("embedded").nullable);
    }

    #[test]
    fn relation_lists_take_only_first() {
        let sdl = |orders: &str, user: &str| {
            format!(
                r#"type User @key(fields: "id") {{ id: ID! orders{orders}: [Order!]! @hasMany(fields: "userId") }}
                type Order @key(fields: "id") {{ id: ID! userId: ID! user{user}: User @belongsTo(fields: "userId") }}"#
            )
        };
        assert!(SubgraphSchema::parse(&sdl("(first: Int)", ""), "t.graphql").is_ok());
        for (orders, user, wrong) in [
            ("(after: String)", "", "User.orders"),
            ("(first: Int!)", "", "User.orders"),
            ("", "(first: Int)", "Order.user"),
        ] {
            let error = SubgraphSchema::parse(&sdl(orders, user), "t.graphql")
                .expect_err("refused")
                .to_string();
            assert!(
                error.contains(wrong) && error.contains("`first: Int`"),
                "{error}"
            );
        }
    }

    #[test]
    fn relations_through_columns_that_are_no_fields() {
        let schema = schema();
        let product = schema.mapping("Product").expect("mapped");
        let (_, created_by) = product.relation("createdBy").expect("relation");
        let join = &product.columns[created_by.local_columns[0]];
        assert_eq!(join.column, "created_by");
        assert_eq!(join.role, ColumnRole::Join);
        assert_eq!(created_by.target_columns, ["email"]);
        let (_, research) = product.relation("research").expect("relation");
        assert_eq!(research.target_columns, ["product_id"]);
        assert!(research.many);
        let inventory = schema.mapping("Inventory").expect("mapped");
        let (_, deprecated) = inventory.relation("deprecatedProducts").expect("relation");
        assert_eq!(deprecated.target_columns, ["inventory_id"]);
    }

    #[test]
    fn external_fields_are_stored_only_when_keys_or_provided() {
        let schema = schema();
        let user = schema.mapping("User").expect("mapped");
        let stored: Vec<&str> = user.columns.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(stored, ["email", "name", "totalProductsCreated"]);
        let (_, computed) = user
            .computed("averageProductsCreatedPerYear")
            .expect("computed");
        assert_eq!(
            computed.expression.variables(),
            ["totalProductsCreated", "yearsOfEmployment"]
        );
    }

    #[test]
    fn the_federation_sdl_keeps_every_federation_directive_and_drops_graft_ones() {
        let schema = schema();
        let sdl = schema.federation_sdl();
        for kept in [
            "@composeDirective(name: \"@custom\")",
            "directive @custom on OBJECT",
            "@interfaceObject",
            "@override(from: \"users\")",
            "@requires(fields: \"totalProductsCreated yearsOfEmployment\")",
            "@provides(fields: \"totalProductsCreated\")",
            "@tag(name: \"internal\")",
            "@inaccessible",
        ] {
            assert!(sdl.contains(kept), "{kept} missing from\n{sdl}");
        }
        for dropped in ["@table", "@belongsTo", "@hasMany", "@computed", "@column"] {
            assert!(!sdl.contains(dropped), "{dropped} left in\n{sdl}");
        }
    }

    #[test]
    fn computed_fields_are_checked_against_requires() {
        let sdl = |field: &str| {
            format!(
                r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
type User @key(fields: "email") {{
  email: ID!
  a: Int @external
  {field}
}}"#
            )
        };
        let error = |field: &str| {
            SubgraphSchema::parse(&sdl(field), "s.graphql")
                .unwrap_err()
                .to_string()
        };
        assert!(
            error(r#"x: Int @computed(expression: "a + 1")"#).contains("needs @requires"),
            "{}",
            error(r#"x: Int @computed(expression: "a + 1")"#)
        );
        assert!(
            error(r#"x: Int @requires(fields: "a") @computed(expression: "b + 1")"#)
                .contains("`b` is not among the @requires fields (a)")
        );
        assert!(
            error(r#"x: String @requires(fields: "a") @computed(expression: "a")"#)
                .contains("Int or a Float")
        );
        assert!(
            error(r#"x: Int @requires(fields: "a") @computed(expression: "a +")"#)
                .contains("User.x")
        );
    }

    #[test]
    fn field_set_paths_are_dotted_leaves() {
        let schema = Schema::parse_and_validate(
            "type Query { t: T } type T { a: Int b: B f: Int } type B { c: Int d: D } type D { e: Int }",
            "s.graphql",
        )
        .expect("valid");
        let leaves = field_set_leaves(
            &schema,
            &Name::new("T").expect("a name"),
            "a b { c d { e } } f",
        );
        let dotted = |path: &Vec<Name>| {
            path.iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(".")
        };
        assert_eq!(
            leaves.iter().map(dotted).collect::<Vec<_>>(),
            ["a", "b.c", "b.d.e", "f"]
        );
        let mut top: Vec<&str> = leaves.iter().map(|leaf| leaf[0].as_str()).collect();
        top.dedup();
        assert_eq!(top, ["a", "b", "f"]);
    }
}

#[cfg(test)]
mod field_path_tests {
    use super::*;
    use crate::ColumnRole;

    #[test]
    fn columns_and_field_paths_map_both_ways() {
        let schema = SubgraphSchema::parse(
            include_str!("../../../examples/compat-products/schema.graphql"),
            "schema.graphql",
        )
        .expect("valid");
        let product = schema.mapping("Product").expect("mapped");
        for index in 0..product.columns.len() {
            match product.field_path(index) {
                Some(path) => assert_eq!(product.column_by_path(&path), Some(index), "{path:?}"),
                None => assert_eq!(product.columns[index].role, ColumnRole::Join),
            }
        }
        let weight = product
            .column_by_path(&[
                Name::new("dimensions").unwrap(),
                Name::new("weight").unwrap(),
            ])
            .expect("embedded column");
        assert_eq!(product.columns[weight].column, "dimensions_weight");
    }
}
