//! The compatibility suite's products subgraph (`examples/compat-products/`) served by graft on
//! SQLite, queried directly the way the suite queries it: keys of every shape, embedded
//! objects, relations through columns, `@provides`, `@inaccessible` and `@requires` with
//! `@computed`. `cargo xtask e2e` runs the same example under Apollo's gateway.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use graft_server::config::Config;
use graft_server::demo;
use serde_json::{Value, json};

/// The test's SQLite file, removed when the test ends.
struct TempDatabase(std::path::PathBuf);

impl Drop for TempDatabase {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn start() -> (SocketAddr, TempDatabase) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/compat-products/graft.toml");
    let mut config = Config::load(&path).expect("the example's config loads");
    let database = std::env::temp_dir().join(format!(
        "{}.db",
        graft_testkit::unique_name("compat_products")
    ));
    config.database.url = format!("sqlite://{}", database.display());
    let database = TempDatabase(database);
    let state = demo::configured_state(&config)
        .await
        .expect("the example starts");
    (common::serve(state).await, database)
}

async fn query(address: SocketAddr, query: &str, variables: Value) -> Value {
    let reply = common::graphql(address, json!({ "query": query, "variables": variables })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) {
    ... on Product { id sku }
    ... on DeprecatedProduct { deprecatedSku: sku package reason }
    ... on ProductResearch { study { caseNumber description } }
    ... on User { email name averageProductsCreatedPerYear }
    ... on Inventory { id deprecatedProducts { sku reason } } } }";

#[tokio::test]
async fn keys_of_every_shape_resolve_in_one_statement_per_group() {
    let (address, _database) = start().await;
    let body = query(
        address,
        ENTITIES,
        json!({ "r": [
            { "__typename": "Product", "id": "apollo-federation" },
            { "__typename": "Product", "sku": "federation", "package": "@apollo/federation" },
            { "__typename": "Product", "sku": "studio", "variation": { "id": "platform" } },
            { "__typename": "DeprecatedProduct", "sku": "apollo-federation-v1", "package": "@apollo/federation-v1" },
            { "__typename": "ProductResearch", "study": { "caseNumber": "1234" } },
            { "__typename": "Inventory", "id": "apollo-oss" },
            { "__typename": "Product", "id": "nope" },
        ] }),
    )
    .await;
    assert_eq!(
        body["data"]["_entities"],
        json!([
            { "id": "apollo-federation", "sku": "federation" },
            { "id": "apollo-federation", "sku": "federation" },
            { "id": "apollo-studio", "sku": "studio" },
            { "deprecatedSku": "apollo-federation-v1", "package": "@apollo/federation-v1", "reason": "Migrate to Federation V2" },
            { "study": { "caseNumber": "1234", "description": "Federation Study" } },
            { "id": "apollo-oss", "deprecatedProducts": [{ "sku": "apollo-federation-v1", "reason": "Migrate to Federation V2" }] },
            null,
        ]),
        "{body}"
    );
    assert!(body.get("errors").is_none(), "{body}");
    let batch = &body["extensions"]["graft"]["batch"];
    // Product by three keys, DeprecatedProduct, ProductResearch, Inventory, plus one
    // relation level under Inventory.
    assert_eq!(batch["groups"], 6, "{batch}");
    assert_eq!(batch["statements"], 7, "{batch}");
}

#[tokio::test]
async fn requires_values_from_the_representation_compute_a_field() {
    let (address, _database) = start().await;
    let body = query(
        address,
        ENTITIES,
        json!({ "r": [
            { "__typename": "User", "email": "support@apollographql.com", "totalProductsCreated": 1337, "yearsOfEmployment": 10 },
            { "__typename": "User", "email": "support@apollographql.com", "totalProductsCreated": 10, "yearsOfEmployment": 10 },
            { "__typename": "User", "email": "support@apollographql.com", "yearsOfEmployment": 10 },
            { "__typename": "User", "email": "support@apollographql.com", "totalProductsCreated": 1, "yearsOfEmployment": 0 },
            { "__typename": "User", "email": "support@apollographql.com", "totalProductsCreated": "many", "yearsOfEmployment": 3 },
        ] }),
    )
    .await;
    let averages: Vec<&Value> = body["data"]["_entities"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|user| &user["averageProductsCreatedPerYear"])
        .collect();
    // Same key five times: one row, but each representation computes its own value.
    assert_eq!(
        averages,
        [
            &json!(134),
            &json!(1),
            &Value::Null,
            &Value::Null,
            &Value::Null
        ]
    );
    assert_eq!(body["data"]["_entities"][0]["name"], "Jane Smith");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(
        errors[0]["path"],
        json!(["_entities", 3, "averageProductsCreatedPerYear"])
    );
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("division by zero")
    );
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .contains("not a number"),
        "{body}"
    );
    assert_eq!(body["extensions"]["graft"]["batch"]["statements"], 1);

    // Outside `_entities` there is no representation to compute from: a clear error.
    let body = query(
        address,
        r#"{ product(id: "apollo-federation") { createdBy { averageProductsCreatedPerYear } } }"#,
        json!({}),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("only `_entities`"),
        "{body}"
    );
}

#[tokio::test]
async fn embedded_objects_provided_and_inaccessible_fields_read_the_row() {
    let (address, _database) = start().await;
    let body = query(
        address,
        r#"query($id: ID!) { product(id: $id) {
            variation { id __typename } dimensions { size weight unit }
            createdBy { email totalProductsCreated }
            research { study { caseNumber } }
        } }"#,
        json!({ "id": "apollo-federation" }),
    )
    .await;
    assert_eq!(
        body["data"]["product"],
        json!({
            "variation": { "id": "OSS", "__typename": "ProductVariation" },
            "dimensions": { "size": "small", "weight": 1.0, "unit": "kg" },
            "createdBy": { "email": "support@apollographql.com", "totalProductsCreated": 1337 },
            "research": [{ "study": { "caseNumber": "1234" } }],
        }),
        "{body}"
    );
    // The product row, then the creator and the research, one statement each.
    assert_eq!(
        body["extensions"]["graft"]["batch"]["statements"], 3,
        "{body}"
    );
}

#[tokio::test]
async fn the_service_sdl_is_the_suites_schema_without_graft_directives() {
    let (address, _database) = start().await;
    let body = query(address, "{ _service { sdl } }", json!({})).await;
    let sdl = body["data"]["_service"]["sdl"].as_str().expect("sdl");
    for expected in [
        r#"@link(url: "https://specs.apollo.dev/federation/v2.3""#,
        r#"@composeDirective(name: "@custom")"#,
        "directive @custom on OBJECT",
        r#"extend type User @key(fields: "email")"#,
        r#"type Inventory @interfaceObject @key(fields: "id")"#,
        r#"createdBy: User @provides(fields: "totalProductsCreated")"#,
    ] {
        assert!(sdl.contains(expected), "{expected} missing from\n{sdl}");
    }
    for graft_only in ["@table", "@belongsTo", "@hasMany", "@computed"] {
        assert!(!sdl.contains(graft_only), "{graft_only} left in\n{sdl}");
    }
}
