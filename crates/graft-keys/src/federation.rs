//! Parsing a subgraph's SDL the way federation reads it.
//!
//! A Federation v2 subgraph schema uses directives (`@key`, `@link`, ...) that it does not define:
//! composition supplies them. apollo-compiler validates only what is defined, so
//! [`parse_subgraph_schema`] appends the federation definitions that the document itself lacks,
//! then parses and validates the whole.

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
];

/// Parses and validates a subgraph's SDL, adding the federation definitions it uses but does not
/// define. `extra_sdl` is appended as well (graft-schema uses it for its mapping directives).
///
/// `path` names the source in error messages.
pub fn parse_subgraph_schema(
    sdl: &str,
    path: impl AsRef<Path>,
    extra_sdl: &str,
) -> Result<Valid<Schema>, KeyError> {
    let path = path.as_ref();
    let defined = defined_names(sdl);
    let mut builder = Schema::builder().parse(sdl, path);
    let mut supplied = String::new();
    for (name, definition) in FEDERATION_DEFINITIONS {
        if !defined.contains(*name) {
            supplied.push_str(definition);
            supplied.push('\n');
        }
    }
    supplied.push_str(extra_sdl);
    builder = builder.parse(supplied, "federation-definitions.graphql");
    builder
        .build()
        .and_then(|schema| schema.validate())
        .map_err(|with_errors| KeyError::Schema {
            path: path.display().to_string(),
            message: with_errors.errors.to_string(),
        })
}

/// The names of the types and directives a document defines. A document that does not even parse
/// defines nothing here; the parse error is reported by [`parse_subgraph_schema`].
fn defined_names(sdl: &str) -> HashSet<String> {
    let document = match ast::Document::parse(sdl, "subgraph.graphql") {
        Ok(document) => document,
        Err(with_errors) => with_errors.partial,
    };
    document
        .definitions
        .iter()
        .filter_map(|definition| definition.name())
        .map(|name| name.to_string())
        .collect()
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
