//! Per-tenant rate limits through the real server: each tenant spends its own tier's budget,
//! on `/graphql` and `/batch` alike, and is told when to come back.

mod common;

use common::{orgs_on_postgres, post};
use serde_json::json;

/// Tenant `a`, named by a header or by one of two API keys (`k1`, `k2`), in tier `tier`.
fn tenants(tier: &str) -> String {
    // `printf %s k1 | sha256sum`, `printf %s k2 | sha256sum`.
    format!(
        r#"
[rate_limits]
default = {{ requests_per_second = 1, burst = 2 }}
[rate_limits.tiers]
premium = {{ requests_per_second = 100, burst = 100 }}
[tenancy]
resolvers = ["api_key", "header"]
[[tenancy.tenants]]
id = "a"
tier = "{tier}"
api_key_sha256 = ["{}", "{}"]
"#,
        sha256("k1"),
        sha256("k2")
    )
}

fn sha256(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn typename(address: std::net::SocketAddr, header: (&str, &str)) -> common::Reply {
    post(
        address,
        &[("content-type", "application/json"), header],
        json!({ "query": "{ __typename }" }).to_string(),
    )
    .await
}

#[tokio::test]
async fn each_tenant_spends_its_own_tiers_budget() {
    let (address, _schema) = orgs_on_postgres(&tenants("standard")).await;
    for _ in 0..2 {
        assert_eq!(typename(address, ("x-tenant-id", "a")).await.status, 200);
    }
    let limited = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .header("content-type", "application/json")
        .header("x-tenant-id", "a")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    let header = |name: &str| {
        limited
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("retry-after"), "1");
    assert_eq!(header("ratelimit-policy"), "\"default\";q=1;w=1");
    assert_eq!(header("ratelimit"), "\"default\";r=0;t=1");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(common::first_error_code(&body), "RATE_LIMITED");
    // Each API key of the tenant has a budget of its own.
    for key in ["k1", "k2"] {
        for _ in 0..2 {
            assert_eq!(typename(address, ("x-api-key", key)).await.status, 200);
        }
        assert_eq!(typename(address, ("x-api-key", key)).await.status, 429);
    }
    // A batch counts as a request too.
    let batch = reqwest::Client::new()
        .post(format!("http://{address}/batch"))
        .header("content-type", "application/json")
        .header("x-tenant-id", "a")
        .body(json!({ "operations": [] }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status().as_u16(), 429);
    // A second later, a has a request again.
    tokio::time::sleep(std::time::Duration::from_millis(1_050)).await;
    assert_eq!(typename(address, ("x-tenant-id", "a")).await.status, 200);
}

#[tokio::test]
async fn a_tenants_tier_sets_its_limit() {
    let (address, _schema) = orgs_on_postgres(&tenants("premium")).await;
    for _ in 0..20 {
        assert_eq!(typename(address, ("x-tenant-id", "a")).await.status, 200);
    }
}

#[tokio::test]
async fn a_zero_rate_is_refused_at_start() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/graft.toml");
    let text = "[schema]\npath = \"schema.graphql\"\n[database]\nurl = \"sqlite::memory:\"\n\
                [rate_limits]\ndefault = { requests_per_second = 0 }\n";
    let config = graft_server::config::Config::parse(text, &path).expect("parses");
    let error = graft_server::demo::configured_state(&config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("rate_limits.default.requests_per_second"),
        "{error}"
    );
}

/// Three instances on one Redis: one tenant's budget is shared, not tripled.
#[tokio::test]
async fn three_instances_share_one_tenants_budget() {
    let schema = graft_testkit::PgSchema::create("").await;
    let prefix = graft_testkit::unique_name("graft_rl");
    let extra = format!(
        "[rate_limits]\nredis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{prefix}\"\n\
         redis_timeout_ms = 1000\ndefault = {{ requests_per_second = 1, burst = 40 }}\n"
    );
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(common::start_orgs(&schema.url(), "postgres", &extra).await);
    }
    let mut allowed = 0;
    for i in 0..90 {
        let reply = post(
            instances[i % 3],
            &[("content-type", "application/json")],
            json!({ "query": "{ __typename }" }).to_string(),
        )
        .await;
        match reply.status {
            200 => allowed += 1,
            429 => {}
            other => panic!("status {other}"),
        }
    }
    // 40 at once, and at most a refill or two while the requests ran: within 5%.
    assert!((40..=42).contains(&allowed), "{allowed} allowed");
    // The key expires on its own; remove it now so that the test leaves nothing.
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}:default:default"))
        .query_async(&mut connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn without_redis_the_limit_holds_in_process() {
    let (address, _schema) = orgs_on_postgres(
        "[rate_limits]\nredis_url = \"redis://127.0.0.1:1\"\n\
         default = { requests_per_second = 1, burst = 2 }\n",
    )
    .await;
    let statuses = futures_util::future::join_all((0..3).map(|_| {
        post(
            address,
            &[("content-type", "application/json")],
            json!({ "query": "{ __typename }" }).to_string(),
        )
    }))
    .await;
    let mut codes: Vec<u16> = statuses.iter().map(|r| r.status).collect();
    codes.sort();
    assert_eq!(codes, [200, 200, 429]);
}

fn entities(count: usize) -> String {
    let representations: Vec<serde_json::Value> = (0..count)
        .map(|i| common::org_user(1 + (i % 10) as u32, &format!("u{}", 1 + i % 100)))
        .collect();
    json!({
        "query": "query($representations: [_Any!]!) { _entities(representations: $representations) { __typename } }",
        "variables": { "representations": representations }
    })
    .to_string()
}

/// Representations per second: counted per request, shared by instances through Redis, and a
/// request over the burst refused for good.
#[tokio::test]
async fn representations_are_counted_across_instances() {
    let schema = graft_testkit::PgSchema::create("").await;
    let prefix = graft_testkit::unique_name("graft_rl");
    let extra = format!(
        "[rate_limits]\nredis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{prefix}\"\n\
         redis_timeout_ms = 1000\ndefault = {{ requests_per_second = 1000, \
         representations_per_second = 10, representations_burst = 150 }}\n"
    );
    let one = common::start_orgs(&schema.url(), "postgres", &extra).await;
    let two = common::start_orgs(&schema.url(), "postgres", &extra).await;
    let json = [("content-type", "application/json")];
    assert_eq!(post(one, &json, entities(100)).await.status, 200);
    // 50 of the burst left, on every instance.
    let refused = post(two, &json, entities(100)).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(common::first_error_code(&refused.body), "RATE_LIMITED");
    assert_eq!(post(two, &json, entities(40)).await.status, 200);
    // More than the burst can never pass.
    let never = post(one, &json, entities(200)).await;
    assert_eq!(never.status, 429);
    assert!(
        never.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("can never pass"),
        "{}",
        never.body
    );
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}:default:default"))
        .arg(format!("{prefix}:default:default:representations"))
        .query_async(&mut connection)
        .await
        .unwrap();
}
