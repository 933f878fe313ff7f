//! The entity cache through the real server on PostgreSQL: `_entities` and relations are
//! answered from memory the second time, and graft's own writes (mutations, batches) are seen
//! by the next read.

mod common;

use common::{graphql, orgs_on_postgres};
use serde_json::{Value, json};

const CACHED: &str =
    "[server]\ndebug_header = true\n[cache]\n[cache.types]\nOrgUser = { ttl_seconds = 60 }\n";

const USERS: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
    ... on OrgUser { name email } } }";

fn statements(body: &Value) -> u64 {
    body["extensions"]["graft"]["batch"]["statements"]
        .as_u64()
        .unwrap_or_else(|| panic!("graft-debug statistics in {body}"))
}

fn users(keys: &[(u32, &str)]) -> Value {
    let r: Vec<Value> = keys
        .iter()
        .map(|(org, user)| common::org_user(*org, user))
        .collect();
    json!({ "query": USERS, "variables": { "r": r } })
}

#[tokio::test]
async fn entities_and_relations_come_from_memory_until_graft_writes() {
    let (address, _schema) = orgs_on_postgres(CACHED).await;
    let hundred: Vec<(u32, String)> = (1..=100)
        .map(|i| (1 + (i - 1) / 10, format!("u{i}")))
        .collect();
    let keys: Vec<(u32, &str)> = hundred.iter().map(|(o, u)| (*o, u.as_str())).collect();
    let first = graphql(address, users(&keys)).await;
    assert_eq!(statements(&first.body), 1, "{}", first.body);
    let again = graphql(address, users(&keys)).await;
    assert_eq!(statements(&again.body), 0, "all from memory");
    assert_eq!(again.body["data"], first.body["data"]);

    // A relation to a cached type: orders read, their users from memory.
    let orders = json!({ "query": "{ orders(first: 5) { nodes { id user { name } } } }" });
    let reply = graphql(address, orders.clone()).await;
    assert_eq!(statements(&reply.body), 1, "the page only: {}", reply.body);

    // A mutation's write is seen at once.
    let rename = json!({ "query": r#"mutation { updateOrgUser(orgId: "org-1", userId: "u1", patch: { name: "Renamed" }) { name } }"# });
    let renamed = graphql(address, rename).await;
    assert_eq!(
        renamed.body["data"]["updateOrgUser"]["name"], "Renamed",
        "{}",
        renamed.body
    );
    let after = graphql(address, users(&[(1, "u1"), (1, "u2")])).await;
    assert_eq!(after.body["data"]["_entities"][0]["name"], "Renamed");
    assert_eq!(statements(&after.body), 1, "u1 read again; u2 from memory");

    // So is a batch's.
    let reply = reqwest::Client::new()
        .post(format!("http://{address}/batch"))
        .header("content-type", "application/json")
        .body(
            json!({ "operations": [
                { "id": "u", "entity": "OrgUser", "action": "update",
                  "query_params": { "orgId": "org-1", "userId": "u2" },
                  "store_params": { "email": "new@example.com" } }
            ]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let after = graphql(address, users(&[(1, "u2")])).await;
    assert_eq!(
        after.body["data"]["_entities"][0]["email"],
        "new@example.com"
    );
}

#[tokio::test]
async fn a_cache_of_an_unknown_type_stops_the_server() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/graft.toml");
    let text = "[schema]\npath = \"schema.graphql\"\n[database]\nurl = \"sqlite::memory:\"\n\
                [cache]\n[cache.types]\nNope = { ttl_seconds = 5 }\n";
    let config = graft_server::config::Config::parse(text, &path).expect("parses");
    let error = graft_server::demo::configured_state(&config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("cache.types.Nope"), "{error}");
}
