//! Parsing a subgraph's SDL the way federation reads it.
//!
//! A Federation v2 subgraph schema uses directives (`@key`, `@link`, ...) that it does not define:
//! composition supplies them. apollo-compiler validates only what is defined, so
//! [`parse_subgraph_schema`] appends the federation definitions that the document itself lacks,
//! plus what the federation spec adds to every subgraph (`_Service`, `Query._service`, and, when
//! some type has a `@key`, `_Entity` and `Query._entities`), then parses and validates the whole.

use std::collections::HashSet;
use std::path::Path;

use apollo_compiler::Schema;
use apollo_compiler::ast;
use apollo_compiler::validation::Valid;

use crate::KeyError;

/// The federation v2 definitions graft understands, one definition per entry, keyed by the name
/// they define. Only those the subgraph does not define itself are appended.
const FEDERATION_DEFINITIONS: &[(&str, &str)] = &[
    (
        "link",
        "directive @link(url: String!, as: String, import: [link__Import], for: link__Purpose) repeatable on SCHEMA",
    ),
    ("link__Import", "scalar link__Import"),
    ("link__Purpose", "enum link__Purpose { SECURITY EXECUTION }"),
    ("federation__FieldSet", "scalar federation__FieldSet"),
    ("FieldSet", "scalar FieldSet"),
    ("_Any", "scalar _Any"),
    (
        "key",
        "directive @key(fields: federation__FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE",
    ),
    (
        "requires",
        "directive @requires(fields: federation__FieldSet!) on FIELD_DEFINITION",
    ),
    (
        "provides",
        "directive @provides(fields: federation__FieldSet!) on FIELD_DEFINITION",
    ),
    (
        "external",
        "directive @external(reason: String) on OBJECT | FIELD_DEFINITION",
    ),
    (
        "shareable",
        "directive @shareable repeatable on OBJECT | FIELD_DEFINITION",
    ),
    ("extends", "directive @extends on OBJECT | INTERFACE"),
    (
        "tag",
        "directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION | SCHEMA",
    ),
    (
        "inaccessible",
        "directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION",
    ),
    (
        "override",
        "directive @override(from: String!, label: String) on FIELD_DEFINITION",
    ),
    (
        "composeDirective",
        "directive @composeDirective(name: String!) repeatable on SCHEMA",
    ),
    ("interfaceObject", "directive @interfaceObject on OBJECT"),
    (
        "authenticated",
        "directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM",
    ),
    ("federation__Scope", "scalar federation__Scope"),
    (
        "requiresScopes",
        "directive @requiresScopes(scopes: [[federation__Scope!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM",
    ),
    ("federation__Policy", "scalar federation__Policy"),
    (
        "policy",
        "directive @policy(policies: [[federation__Policy!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM",
    ),
    // Demand control (federation v2.9, after the IBM GraphQL cost specification).
    (
        "cost",
        "directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR",
    ),
    (
        "listSize",
        "directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION",
    ),
];

/// Parses and validates a subgraph's SDL into the schema the subgraph serves: the federation
/// definitions it uses but does not define are added, and so are `_Service`, `_Entity`,
/// `Query._service` and `Query._entities`. `extra_sdl` is appended as well (graft-schema uses it
/// for its mapping directives).
///
/// `path` names the source in error messages.
pub fn parse_subgraph_schema(
    sdl: &str,
    path: impl AsRef<Path>,
    extra_sdl: &str,
) -> Result<Valid<Schema>, KeyError> {
    let path = path.as_ref();
    let document = match ast::Document::parse(sdl, path) {
        Ok(document) => document,
        // The parse error is reported when the schema is built below.
        Err(with_errors) => with_errors.partial,
    };
    let mut defined: HashSet<&str> = document
        .definitions
        .iter()
        .filter(|d| !d.is_extension_definition())
        .filter_map(|d| d.name())
        .map(|n| n.as_str())
        .collect();
    let mut builder = Schema::builder().parse(sdl, path);
    let mut supplied = String::new();
    // A subgraph may extend a type it does not define (`extend type User @key(...)`, the
    // federation 1 idiom for an entity owned elsewhere, or `extend type Query`): federation reads
    // the extension as the definition, so an empty definition is supplied for it to extend.
    for definition in &document.definitions {
        let (keyword, name) = match definition {
            ast::Definition::ObjectTypeExtension(o) => ("type", &o.name),
            ast::Definition::InterfaceTypeExtension(i) => ("interface", &i.name),
            _ => continue,
        };
        if defined.insert(name.as_str()) {
            supplied.push_str(&format!("{keyword} {name}\n"));
        }
    }
    for (name, definition) in FEDERATION_DEFINITIONS {
        if !defined.contains(*name) {
            supplied.push_str(definition);
            supplied.push('\n');
        }
    }
    supplied.push_str(&federation_additions(&document, &defined));
    supplied.push_str(extra_sdl);
    builder = builder.parse(supplied, "federation-definitions.graphql");
    let schema_error = |errors: &apollo_compiler::validation::DiagnosticList| KeyError::Schema {
        path: path.display().to_string(),
        message: errors.to_string(),
    };
    let schema = builder
        .build()
        .map_err(|with_errors| schema_error(&with_errors.errors))?;
    schema
        .validate()
        .map_err(|with_errors| schema_error(&with_errors.errors))
}

/// `_Service`, `_Entity` and the two federation fields of the query root, for those the document
/// does not define itself.
fn federation_additions(document: &ast::Document, defined: &HashSet<&str>) -> String {
    let query_type = document
        .definitions
        .iter()
        .find_map(|d| match d {
            ast::Definition::SchemaDefinition(s) => s
                .root_operations
                .iter()
                .find(|op| op.0 == ast::OperationType::Query)
                .map(|op| op.1.clone()),
            _ => None,
        })
        .map(|name| name.to_string())
        .unwrap_or_else(|| "Query".to_owned());
    let mut entity_names: Vec<&str> = Vec::new();
    let mut query_fields: HashSet<&str> = HashSet::new();
    for definition in &document.definitions {
        let (name, directives, fields) = match definition {
            ast::Definition::ObjectTypeDefinition(o) => (&o.name, &o.directives, &o.fields),
            ast::Definition::ObjectTypeExtension(o) => (&o.name, &o.directives, &o.fields),
            _ => continue,
        };
        // `_Entity` lists the types this subgraph can resolve: those with a key that is not
        // `resolvable: false`. With none, `_Entity` and `_entities` are left out, as the spec says.
        let resolvable = directives.get_all("key").any(|key| {
            !matches!(
                key.specified_argument_by_name("resolvable").map(|v| &**v),
                Some(ast::Value::Boolean(false))
            )
        });
        if resolvable && !entity_names.contains(&name.as_str()) {
            entity_names.push(name.as_str());
        }
        if name.as_str() == query_type {
            query_fields.extend(fields.iter().map(|f| f.name.as_str()));
        }
    }
    entity_names.sort_unstable();
    let mut sdl = String::new();
    let mut fields = Vec::new();
    if !defined.contains("_Service") {
        sdl.push_str("type _Service { sdl: String! }\n");
    }
    if !query_fields.contains("_service") {
        fields.push("_service: _Service!");
    }
    if !entity_names.is_empty() {
        if !defined.contains("_Entity") {
            sdl.push_str(&format!("union _Entity = {}\n", entity_names.join(" | ")));
        }
        if !query_fields.contains("_entities") {
            fields.push("_entities(representations: [_Any!]!): [_Entity]!");
        }
    }
    if !fields.is_empty() {
        let keyword = if defined.contains(query_type.as_str()) {
            "extend type"
        } else {
            "type"
        };
        sdl.push_str(&format!(
            "{keyword} {query_type} {{ {} }}\n",
            fields.join(" ")
        ));
    }
    sdl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_v2_subgraph_that_defines_no_federation_directives() {
        let sdl = r#"
            extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
            type Query { me: User }
            type User @key(fields: "id") @shareable { id: ID! name: String }
        "#;
        let schema = parse_subgraph_schema(sdl, "users.graphql", "").expect("valid subgraph");
        assert!(schema.get_object("User").is_some());
        assert!(schema.type_field("Query", "_entities").is_ok());
        assert!(schema.type_field("Query", "_service").is_ok());
    }

    #[test]
    fn a_subgraph_needs_no_query_type_of_its_own() {
        let schema = parse_subgraph_schema(
            r#"type User @key(fields: "id") { id: ID! }"#,
            "users.graphql",
            "",
        )
        .expect("federation adds the query root");
        assert!(schema.type_field("Query", "_entities").is_ok());
        let plain =
            parse_subgraph_schema("type Thing { id: ID! }", "plain.graphql", "").expect("valid");
        assert!(plain.type_field("Query", "_entities").is_err());
        assert!(!plain.types.contains_key("_Entity"));
        let references = parse_subgraph_schema(
            r#"type Query { a: Int } type User @key(fields: "id", resolvable: false) { id: ID! }"#,
            "refs.graphql",
            "",
        )
        .expect("valid");
        assert!(
            references.type_field("Query", "_entities").is_err(),
            "no resolvable type: no _entities"
        );
        assert!(references.type_field("Query", "_service").is_ok());
    }

    #[test]
    fn keeps_the_subgraphs_own_definitions() {
        let sdl = r#"
            scalar _Any
            directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
            type Query { me: User }
            type User @key(fields: "id") { id: ID! }
        "#;
        parse_subgraph_schema(sdl, "own.graphql", "").expect("own definitions are not duplicated");
    }

    #[test]
    fn reports_errors_with_the_file_name() {
        let err = parse_subgraph_schema("type Query { me: Missing }", "broken.graphql", "")
            .expect_err("undefined type");
        let message = err.to_string();
        assert!(message.contains("broken.graphql"), "{message}");
        assert!(message.contains("Missing"), "{message}");
    }
}
