//! Driving a real graft server over HTTP in tests.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

pub mod process;

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

/// Starts graft on the orgs example at `url`, set up by the scripts of
/// `examples/orgs/<dir>/`, with `extra` appended to its `graft.toml` (its lines before the
/// first section header go in `[database]`).
pub async fn start_orgs(url: &str, dir: &str, extra: &str) -> SocketAddr {
    let (database, extra) = match extra.find('[') {
        Some(at) => extra.split_at(at),
        None => (extra, ""),
    };
    let text = format!(
        "[schema]\npath = \"schema.graphql\"\n[database]\nurl = \"{url}\"\nsetup = [\"{dir}/schema.sql\", \"{dir}/seed.sql\"]\n{database}\n{extra}\n"
    );
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/graft.toml");
    let config = graft_server::config::Config::parse(&text, &path).expect("a valid config");
    let state = demo::configured_state(&config)
        .await
        .unwrap_or_else(|e| panic!("graft starts on {dir}: {e}"));
    serve(state).await
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

/// An answer as sent: status, headers and the body's bytes (reqwest here never decompresses).
pub struct RawReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawReply {
    /// The value of header `name`, or "" without one.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |value| value.to_str().unwrap())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!("a JSON body, got {:?}", String::from_utf8_lossy(&self.body))
        })
    }
}

pub async fn post_raw(
    address: SocketAddr,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> RawReply {
    let mut request = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    RawReply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

pub async fn post(
    address: SocketAddr,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Reply {
    let raw = post_raw(address, headers, body).await;
    Reply {
        status: raw.status,
        content_type: raw.header("content-type").to_owned(),
        body: raw.json(),
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

/// Every string in `value` that carries a tenant mark (`... @x`), as the marks.
pub fn tenant_marks(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            if let Some((_, mark)) = text.rsplit_once(" @") {
                found.push(mark.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|item| tenant_marks(item, found)),
        Value::Object(fields) => fields.values().for_each(|field| tenant_marks(field, found)),
        _ => {}
    }
}

/// Checks that a graft at `address` serving tenants `a` and `b` of the orgs example (every
/// name and status marked ` @a` or ` @b`, users `u1`..`u10` of `org-1`..`org-3` in each) keeps
/// them apart: `requests` requests, 24 at a time, alternating tenants, through `_entities`
/// with relations, a root lookup with relations both ways, and a page with a relation, each
/// named as `headers(i, tenant)` says; every mark in every answer is the asking tenant's.
/// Then tenant `a` creates order 9001, which `a` reads back and `b` does not see.
pub async fn each_tenant_sees_its_own_rows(
    address: SocketAddr,
    requests: usize,
    headers: impl Fn(usize, &str) -> Vec<(&'static str, String)>,
) {
    use futures_util::StreamExt as _;
    const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
        ... on OrgUser { name orders(first: 2) { status } } } }";
    const LOOKUP: &str =
        r#"{ orgUser(orgId: "org-3", userId: "u7") { name orders { status user { name } } } }"#;
    const PAGE: &str = "{ orders(first: 3) { nodes { status user { name } } } }";
    let representations = json!([
        { "__typename": "OrgUser", "orgId": "org-1", "userId": "u1" },
        { "__typename": "OrgUser", "orgId": "org-2", "userId": "u5" },
    ]);
    let bodies = [
        json!({ "query": ENTITIES, "variables": { "r": representations } }),
        json!({ "query": LOOKUP }),
        json!({ "query": PAGE }),
    ];
    let send = |extra: Vec<(&'static str, String)>, body: Value| {
        let mut all: Vec<(&str, String)> = vec![("content-type", "application/json".into())];
        all.extend(extra);
        async move {
            let borrowed: Vec<(&str, &str)> = all.iter().map(|(n, v)| (*n, v.as_str())).collect();
            post(address, &borrowed, body.to_string()).await
        }
    };
    let checks = futures_util::stream::iter(0..requests).map(|i| {
        let tenant = ["a", "b"][i % 2];
        let reply = send(headers(i, tenant), bodies[(i / 2) % 3].clone());
        async move {
            let reply = reply.await;
            assert_eq!(reply.status, 200, "request {i}: {}", reply.body);
            assert!(
                reply.body.get("errors").is_none(),
                "request {i}: {}",
                reply.body
            );
            let mut found = Vec::new();
            tenant_marks(&reply.body["data"], &mut found);
            assert!(found.len() >= 2, "request {i}: {}", reply.body);
            assert!(
                found.iter().all(|mark| mark == tenant),
                "request {i} as {tenant}: {found:?}"
            );
        }
    });
    checks.buffer_unordered(24).collect::<Vec<()>>().await;

    // A write of tenant a is seen by a only.
    let create = json!({ "query": r#"mutation { createOrder(input: { id: "9001", orgId: "org-1", userId: "u1", total: 1.5, status: "new @a" }) { id status user { name } } }"# });
    let created = send(headers(0, "a"), create).await;
    assert_eq!(
        created.body["data"]["createOrder"]["user"]["name"], "User 1 of org-1 @a",
        "{}",
        created.body
    );
    let read = |tenant: &'static str| {
        let query = json!({ "query": r#"{ order(id: "9001") { status } }"# });
        let reply = send(headers(0, tenant), query);
        async move { reply.await.body }
    };
    assert_eq!(read("a").await["data"]["order"]["status"], "new @a");
    assert_eq!(
        read("b").await["data"]["order"],
        Value::Null,
        "b does not see a's order"
    );

    // So are a batch's reads and writes, and its idempotency keys are kept per tenant.
    let batch = |tenant: &'static str, key: &'static str, body: Value| {
        let mut all: Vec<(&str, String)> = vec![
            ("content-type", "application/json".into()),
            ("idempotency-key", key.into()),
        ];
        all.extend(headers(1, tenant));
        async move {
            let mut request = reqwest::Client::new()
                .post(format!("http://{address}/batch"))
                .body(body.to_string());
            for (name, value) in &all {
                request = request.header(*name, value);
            }
            let response = request.send().await.expect("the server answers");
            let replayed = response.headers().contains_key("idempotent-replayed");
            let body: Value = response.json().await.expect("JSON");
            (replayed, body)
        }
    };
    let writes = |tenant: &str| {
        json!({ "operations": [
            { "id": "u", "entity": "OrgUser", "action": "create",
              "store_params": { "orgId": "org-b", "userId": "ub", "name": format!("B @{tenant}"), "active": true } },
            { "id": "o", "entity": "Order", "action": "create",
              "store_params": { "id": "9002", "orgId": "$ref:u.orgId", "userId": "$ref:u.userId",
                                "total": 2, "status": format!("new @{tenant}") } },
            { "id": "mine", "entity": "Order", "action": "read", "query_params": { "orgId": "org-1" } },
            { "id": "theirs", "entity": "Order", "action": "read", "query_params": { "id": "9001" } }
        ]})
    };
    for tenant in ["b", "a"] {
        // The same key in both tenants: two batches, neither a replay of the other.
        let (replayed, body) = batch(tenant, "same-key", writes(tenant)).await;
        assert!(!replayed, "{body}");
        assert_eq!(body["success"], true, "as {tenant}: {body}");
        let mut found = Vec::new();
        tenant_marks(&body["results"], &mut found);
        assert!(found.len() >= 4, "{body}");
        assert!(
            found.iter().all(|mark| mark == tenant),
            "as {tenant}: {found:?}"
        );
        let theirs = body["results"]["theirs"]["data"].as_array().unwrap().len();
        assert_eq!(
            theirs,
            usize::from(tenant == "a"),
            "order 9001 is a's: {body}"
        );
        let (replayed, again) = batch(tenant, "same-key", writes(tenant)).await;
        assert!(replayed);
        assert_eq!(again, body);
    }
}

/// The orgs example's rows for `tenant`: users `u1`..`u10` of `org-1`..`org-3`, two orders
/// each (ids 1..60), every name and status marked ` @tenant`; with `tenant_column`, each row
/// names its tenant in a first column `tenant_id`.
pub fn orgs_rows(tenant: &str, tenant_column: bool) -> String {
    let lead = |values: String| {
        if tenant_column {
            format!("('{tenant}', {values})")
        } else {
            format!("({values})")
        }
    };
    let columns = |list: &str| {
        if tenant_column {
            format!("(tenant_id, {list})")
        } else {
            format!("({list})")
        }
    };
    let mut users = Vec::new();
    let mut orders = Vec::new();
    for org in 1..=3 {
        for user in 1..=10 {
            users.push(lead(format!(
                "'org-{org}', 'u{user}', 'User {user} of org-{org} @{tenant}', TRUE"
            )));
            for k in 0..2 {
                let id = ((org - 1) * 10 + (user - 1)) * 2 + k + 1;
                orders.push(lead(format!(
                    "{id}, 'org-{org}', 'u{user}', {id}.5, 'paid @{tenant}'"
                )));
            }
        }
    }
    format!(
        "INSERT INTO org_users {} VALUES {};\nINSERT INTO orders {} VALUES {};",
        columns("org_id, user_id, name, active"),
        users.join(", "),
        columns("id, org_id, user_id, total, status"),
        orders.join(", ")
    )
}

/// The orgs example's tables for PostgreSQL with a first column `tenant_id`, for tenants that
/// share them (`isolation = "rows"`).
pub const PG_SHARED_ORGS: &str = "
CREATE TABLE org_users (tenant_id text NOT NULL, org_id varchar(64) NOT NULL,
  user_id varchar(64) NOT NULL, name varchar(200) NOT NULL, email varchar(200),
  active boolean NOT NULL DEFAULT true, created_at timestamptz,
  PRIMARY KEY (tenant_id, org_id, user_id));
CREATE TABLE orders (tenant_id text NOT NULL, id bigint NOT NULL, org_id varchar(64) NOT NULL,
  user_id varchar(64) NOT NULL, total numeric(10,2) NOT NULL, status varchar(16) NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, org_id, user_id) REFERENCES org_users (tenant_id, org_id, user_id));";
