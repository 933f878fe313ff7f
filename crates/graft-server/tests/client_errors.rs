//! What clients see when something fails inside graft: a code, a plain message and the request
//! id, never the database's own words; and no batch statistics unless the deployment allows
//! them.

mod common;

use common::{first_error_code, graphql, org_user, post};
use graft_testkit::pg_admin;
use serde_json::json;

#[tokio::test]
async fn a_database_error_reaches_the_log_not_the_client() {
    let (address, schema) = common::orgs_on_postgres("").await;
    // The table goes away under the running server: every statement now fails on the server.
    pg_admin()
        .await
        .batch_execute(&format!(
            "ALTER TABLE \"{}\".org_users RENAME TO org_users_gone",
            schema.name()
        ))
        .await
        .expect("renamed");

    let query =
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { name } } }";
    let reply = post(
        address,
        &[
            ("content-type", "application/json"),
            ("x-request-id", "req-42"),
            ("graft-debug", "true"),
        ],
        json!({ "query": query, "variables": { "r": [org_user(1, "u1")] } }).to_string(),
    )
    .await;
    assert_eq!(first_error_code(&reply.body), "FETCH_FAILED");
    let error = &reply.body["errors"][0];
    let message = error["message"].as_str().unwrap();
    assert_eq!(
        message,
        "could not resolve OrgUser(\"org-1\", \"u1\"): source `db` failed (query); the server log has the details"
    );
    let text = reply.body.to_string();
    for internal in [
        "org_users",
        "relation",
        "does not exist",
        "postgres",
        "127.0.0.1",
        "42P01",
    ] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
    assert_eq!(error["extensions"]["requestId"], "req-42");
    // A configured server gives no statistics unless `debug_header = true`.
    assert!(reply.body.get("extensions").is_none(), "{text}");
}

#[tokio::test]
async fn the_demo_keeps_its_statistics() {
    let address = common::start_default().await;
    let reply = graphql(
        address,
        json!({ "query": common::ENTITIES, "variables": { "representations": [org_user(1, "u1")] } }),
    )
    .await;
    assert_eq!(reply.body["extensions"]["graft"]["batch"]["statements"], 1);
}
