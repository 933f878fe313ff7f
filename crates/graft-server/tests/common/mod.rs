//! Driving a real graft server over HTTP in tests.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use graft_resolve::EngineConfig;
use graft_server::{AppState, HttpLimits, demo};
use serde_json::{Value, json};

/// Serves `state` on an ephemeral port and returns the address.
pub async fn serve(state: AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an ephemeral port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        graft_server::serve(listener, state, std::future::pending())
            .await
            .expect("serves")
    });
    address
}

/// graft on the orgs example in a fresh PostgreSQL schema, with `extra` appended to its
/// `graft.toml` (e.g. a `[limits]` section).
pub async fn orgs_on_postgres(extra: &str) -> (SocketAddr, graft_testkit::PgSchema) {
    let schema = graft_testkit::PgSchema::create("").await;
    let text = format!(
        "[schema]\npath = \"schema.graphql\"\n[database]\nurl = \"{}\"\nsetup = [\"postgres/schema.sql\", \"postgres/seed.sql\"]\n{extra}\n",
        schema.url()
    );
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/graft.toml");
    let config = graft_server::config::Config::parse(&text, &path).expect("a valid config");
    let state = demo::configured_state(&config).await.expect("graft starts");
    (serve(state).await, schema)
}

/// Starts the demo server with `limits` and `config` and returns its address.
pub async fn start(limits: HttpLimits, config: EngineConfig) -> SocketAddr {
    serve(
        demo::demo_state(limits, config)
            .await
            .expect("the demo starts"),
    )
    .await
}

pub async fn start_default() -> SocketAddr {
    start(HttpLimits::default(), EngineConfig::default()).await
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

pub async fn post(
    address: SocketAddr,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, got {text:?}"));
    Reply {
        status,
        content_type,
        body,
    }
}

pub async fn graphql(address: SocketAddr, body: Value) -> Reply {
    post(
        address,
        &[
            ("content-type", "application/json"),
            ("graft-debug", "true"),
        ],
        body.to_string(),
    )
    .await
}

pub const ENTITIES: &str = "query($representations: [_Any!]!) { _entities(representations: $representations) { \
    __typename ... on OrgUser { orgId userId name email active } } }";

pub fn org_user(org: u32, user: &str) -> Value {
    json!({ "__typename": "OrgUser", "orgId": format!("org-{org}"), "userId": user })
}

pub fn first_error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}
