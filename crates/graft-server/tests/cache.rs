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

/// Two instances on one database, sharing invalidations through the test's Redis channel.
#[tokio::test]
async fn a_write_through_one_instance_is_seen_by_another() {
    let schema = graft_testkit::PgSchema::create("").await;
    let keys = graft_testkit::RedisPrefix::new("graft_cache");
    let prefix = keys.name();
    let extra = format!(
        "[server]\ndebug_header = true\n[cache]\nredis_url = \"redis://127.0.0.1:6379\"\n\
         key_prefix = \"{prefix}\"\nchannel = \"{prefix}:invalidations\"\n\
         [cache.types]\nOrgUser = {{ ttl_seconds = 3600 }}\n"
    );
    let one = common::start_orgs(&schema.url(), "postgres", &extra).await;
    let two = common::start_orgs(&schema.url(), "postgres", &extra).await;
    // Let both subscribe before anything is published.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let read = |address| graphql(address, users(&[(1, "u1")]));
    let before = read(one).await;
    assert_eq!(statements(&before.body), 1);
    assert_eq!(statements(&read(one).await.body), 0, "from memory");
    // Instance two finds what one read in Redis (written back in the background, so waited
    // for), on its first read.
    // (An entry's key has five colons past the prefix, a generation's two.)
    for _ in 0..250 {
        if keys.count(":*:*:*:*:*") > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(statements(&read(two).await.body), 0, "from Redis");
    let rename = json!({ "query": r#"mutation { updateOrgUser(orgId: "org-1", userId: "u1", patch: { name: "Seen everywhere" }) { name } }"# });
    assert_eq!(graphql(two, rename).await.status, 200);
    // Instance one forgets its entry as soon as the message arrives.
    let mut seen = None;
    for _ in 0..50 {
        let now = read(one).await;
        if now.body["data"]["_entities"][0]["name"] == "Seen everywhere" {
            seen = Some(now);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen.is_some(), "instance one still answers {}", before.body);
}

#[tokio::test]
async fn without_redis_an_instance_still_serves_and_caches() {
    // Nothing listens on port 1: publishing and subscribing fail in the background.
    let (address, _schema) = orgs_on_postgres(
        "[server]\ndebug_header = true\n[cache]\nredis_url = \"redis://127.0.0.1:1\"\n\
         [cache.types]\nOrgUser = { ttl_seconds = 60 }\n",
    )
    .await;
    let first = graphql(address, users(&[(1, "u1")])).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        statements(&graphql(address, users(&[(1, "u1")])).await.body),
        0
    );
    let rename = json!({ "query": r#"mutation { updateOrgUser(orgId: "org-1", userId: "u1", patch: { name: "Still" }) { name } }"# });
    assert_eq!(graphql(address, rename).await.status, 200);
    let after = graphql(address, users(&[(1, "u1")])).await;
    assert_eq!(after.body["data"]["_entities"][0]["name"], "Still");
}

#[tokio::test]
async fn responses_tell_a_caching_gateway_what_it_may_keep() {
    let (address, _schema) = orgs_on_postgres(
        "[cache]\n[cache.types]\nOrgUser = { ttl_seconds = 60 }\nOrder = { ttl_seconds = 30 }\n\
         Membership = { ttl_seconds = 45 }\n",
    )
    .await;
    let (one_type, _other) = orgs_on_postgres(CACHED).await;
    let control = |address: std::net::SocketAddr, body: Value| async move {
        let response = reqwest::Client::new()
            .post(format!("http://{address}/graphql"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    // Only cached types read: for as long as the shortest TTL of the types `_entities` may
    // read (any entity type of the subgraph), to anyone (no tenancy here).
    assert_eq!(
        control(address, users(&[(1, "u1")])).await.as_deref(),
        Some("public, max-age=30")
    );
    let orders = json!({ "query": "{ orders(first: 1) { nodes { id } } }" });
    assert_eq!(
        control(address, orders.clone()).await.as_deref(),
        Some("public, max-age=30")
    );
    // A type graft does not cache: no advice, the gateway's own default applies.
    assert_eq!(control(one_type, orders).await, None);
    // Errors and writes: never kept.
    let invalid = json!({ "query": USERS, "variables": { "r": [{ "__typename": "OrgUser" }] } });
    assert_eq!(control(address, invalid).await.as_deref(), Some("no-store"));
    let write = json!({ "query": r#"mutation { updateOrgUser(orgId: "org-1", userId: "u3", patch: { name: "N" }) { name } }"# });
    assert_eq!(control(address, write).await.as_deref(), Some("no-store"));
    let broken = json!({ "query": "{ nope }" });
    assert_eq!(control(address, broken).await.as_deref(), Some("no-store"));
}

/// `Membership` and `OrgUser` are two views of one table: a write to one is seen by the other.
#[tokio::test]
async fn a_write_to_one_type_flushes_the_types_of_the_same_table() {
    let (address, _schema) = orgs_on_postgres(
        "[cache]\n[cache.types]\nOrgUser = { ttl_seconds = 3600 }\nMembership = { ttl_seconds = 3600 }\n",
    )
    .await;
    let membership = json!({
        "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on Membership { name } } }",
        "variables": { "r": [{ "__typename": "Membership", "org": { "id": "org-1" }, "userId": "u1" }] }
    });
    let before = graphql(address, membership.clone()).await;
    assert!(
        before.body["data"]["_entities"][0]["name"].is_string(),
        "{}",
        before.body
    );
    let rename = json!({ "query": r#"mutation { updateOrgUser(orgId: "org-1", userId: "u1", patch: { name: "Via OrgUser" }) { name } }"# });
    assert_eq!(graphql(address, rename).await.status, 200);
    let after = graphql(address, membership).await;
    assert_eq!(after.body["data"]["_entities"][0]["name"], "Via OrgUser");
}

/// With `apollo_cache_tags`, an `_entities` answer tells Apollo Router's response cache the tags
/// of each entity, in order (none for an invalid representation), beside graft's own
/// statistics when those are asked for too.
#[tokio::test]
async fn entities_carry_apollo_cache_tags_when_configured() {
    let (address, _schema) =
        orgs_on_postgres("[server]\ndebug_header = true\napollo_cache_tags = true\n").await;
    let body = json!({
        "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { name } } }",
        "variables": { "r": [
            { "__typename": "OrgUser", "orgId": "org-1", "userId": "u1" },
            { "__typename": "OrgUser", "orgId": "org-1" },
            { "__typename": "OrgUser", "orgId": "org-2", "userId": "u3" },
        ] }
    });
    let reply = graphql(address, body.clone()).await;
    assert_eq!(
        reply.body["extensions"]["apolloEntityCacheTags"],
        json!([
            ["OrgUser", "OrgUser:org-1:u1"],
            [],
            ["OrgUser", "OrgUser:org-2:u3"]
        ]),
        "{}",
        reply.body
    );
    assert_eq!(
        statements(&reply.body),
        1,
        "graft's statistics are there too"
    );
    // Without the debug header: the tags alone.
    let reply = common::post(
        address,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(
        reply.body["extensions"],
        json!({ "apolloEntityCacheTags": [
            ["OrgUser", "OrgUser:org-1:u1"],
            [],
            ["OrgUser", "OrgUser:org-2:u3"]
        ] })
    );
    let (plain, _schema) = orgs_on_postgres("").await;
    let reply = graphql(plain, body).await;
    assert!(reply.body.get("extensions").is_none(), "{}", reply.body);
}

/// `graft tenant destroy` runs outside the servers: through Redis, it moves the tenant's
/// generations and every instance forgets the tenant's entries in memory.
#[tokio::test]
async fn a_tenant_destroyed_from_the_command_line_is_forgotten_by_every_instance() {
    let schema = graft_testkit::PgSchema::create("").await;
    let keys = graft_testkit::RedisPrefix::new("graft_cache_cli");
    let prefix = keys.name();
    let text = format!(
        "[server]\ndebug_header = true\n[schema]\npath = \"schema.graphql\"\n[database]\n\
         url = \"{}\"\nsetup = [\"postgres/schema.sql\", \"postgres/seed.sql\"]\n[cache]\n\
         redis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{prefix}\"\n\
         channel = \"{prefix}:invalidations\"\n[cache.types]\nOrgUser = {{ ttl_seconds = 3600 }}\n",
        schema.url()
    );
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/graft.toml");
    let config = graft_server::config::Config::parse(&text, &path).expect("a valid config");
    let address = common::serve(
        graft_server::demo::configured_state(&config)
            .await
            .expect("graft starts"),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // subscribed
    let read = || graphql(address, users(&[(1, "u1")]));
    assert_eq!(statements(&read().await.body), 1);
    assert_eq!(statements(&read().await.body), 0, "from memory");
    // What `graft tenant destroy default --yes` does after the rows are gone.
    assert!(
        graft_server::demo::forget_cached_tenant(&config, "default")
            .await
            .expect("a valid cache section")
    );
    let mut forgotten = false;
    for _ in 0..50 {
        if statements(&read().await.body) == 1 {
            forgotten = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(forgotten, "the instance still answers from memory");
}
