//! Tenancy through the real server on PostgreSQL: each request is served as the tenant its
//! headers name, every kind of request sees that tenant's rows only (under concurrency, over a
//! pool of two connections), and credentials that name no tenant this server serves are refused
//! without telling an unknown tenant from a bad credential.

mod common;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Reply, post};
use graft_testkit::PgSchema;
use serde_json::{Value, json};

const SECRET: &str = "a test secret of more than thirty-two bytes";
const SCHEMA_SQL: &str = include_str!("../../../examples/orgs/postgres/schema.sql");
const SEED_SQL: &str = include_str!("../../../examples/orgs/postgres/seed.sql");

/// The orgs example for tenant `tenant`: every name and status carries `@tenant`.
async fn tenant_schema(tenant: &str) -> PgSchema {
    PgSchema::create(&format!(
        "{SCHEMA_SQL}\n{SEED_SQL}\nUPDATE org_users SET name = name || ' @{tenant}';\n\
         UPDATE orders SET status = status || ' @{tenant}';"
    ))
    .await
}

/// The schemas a server of tenants `a` and `b` (and the suspended `c`) needs.
struct Schemas {
    template: PgSchema,
    a: PgSchema,
    b: PgSchema,
}

async fn schemas() -> Schemas {
    Schemas {
        template: PgSchema::create(SCHEMA_SQL).await,
        a: tenant_schema("a").await,
        b: tenant_schema("b").await,
    }
}

/// graft on the orgs example with a pool of two and tenants `a`, `b` and suspended `c`, each in
/// its own schema, named by a JWT or the `X-Tenant-ID` header.
async fn server(schemas: &Schemas) -> SocketAddr {
    let text = format!(
        r#"
[schema]
path = "schema.graphql"
[database]
url = "{url}"
max_connections = 2
[admission]
enabled = false
[tenancy]
resolvers = ["jwt", "header"]
[tenancy.jwt]
algorithm = "HS256"
secret = "{SECRET}"
[[tenancy.tenants]]
id = "a"
isolation = "schema"
schema = "{a}"
[[tenancy.tenants]]
id = "b"
isolation = "schema"
schema = "{b}"
[[tenancy.tenants]]
id = "c"
status = "suspended"
isolation = "schema"
schema = "{template}"
"#,
        url = schemas.template.url(),
        template = schemas.template.name(),
        a = schemas.a.name(),
        b = schemas.b.name(),
    );
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/graft.toml");
    let config = graft_server::config::Config::parse(&text, &path).expect("a valid config");
    let state = graft_server::demo::configured_state(&config)
        .await
        .expect("graft starts");
    common::serve(state).await
}

async fn as_tenant(address: SocketAddr, headers: &[(&str, &str)], body: Value) -> Reply {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    post(address, &all, body.to_string()).await
}

fn jwt(tenant: &str, expires_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    sign(&json!({ "tenant_id": tenant, "exp": now + expires_in }))
}

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("signs")
}

#[tokio::test]
async fn every_kind_of_request_sees_its_own_tenants_rows_only() {
    let schemas = schemas().await;
    let address = server(&schemas).await;
    let tokens = [jwt("a", 600), jwt("b", 600)];
    // Half name the tenant by header, half by token.
    common::each_tenant_sees_its_own_rows(address, 600, |i, tenant| {
        if i % 4 < 2 {
            vec![("x-tenant-id", tenant.to_owned())]
        } else {
            vec![("authorization", format!("Bearer {}", tokens[i % 2]))]
        }
    })
    .await;
}

#[tokio::test]
async fn credentials_that_name_no_served_tenant_are_refused_alike() {
    let schemas = schemas().await;
    let address = server(&schemas).await;
    let query = json!({ "query": "{ __typename }" });
    let refused = |headers: Vec<(&'static str, String)>| {
        let query = query.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("x-request-id", "fixed")];
            all.extend(headers.iter().map(|(name, value)| (*name, value.as_str())));
            as_tenant(address, &all, query).await
        }
    };

    let none = refused(vec![]).await;
    assert_eq!(
        (none.status, common::first_error_code(&none.body)),
        (401, "TENANT_REQUIRED")
    );
    // A browser asking for GraphiQL names no tenant: the page holds no tenant's data, and its
    // queries carry the tenant's headers, set in GraphiQL's Headers tab.
    let page = reqwest::Client::new()
        .get(format!("http://{address}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GraphiQL");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("graphiql.min.js"));

    // An unknown tenant, a forged, expired or unsigned token, a tenant id that could never be
    // one: the client cannot tell them apart.
    let unknown = refused(vec![("x-tenant-id", "zzz".into())]).await;
    assert_eq!(
        (unknown.status, common::first_error_code(&unknown.body)),
        (401, "UNAUTHENTICATED")
    );
    assert_eq!(
        unknown.body["errors"][0]["extensions"]["requestId"],
        "fixed"
    );
    let forged = {
        let token = jwt("a", 600);
        let (head, _) = token.rsplit_once('.').expect("three parts");
        format!("Bearer {head}.c2lnbmF0dXJl")
    };
    let unsigned = {
        use base64::Engine as _;
        let part =
            |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "Bearer {}.{}.",
            part(json!({"alg": "none", "typ": "JWT"})),
            part(json!({"tenant_id": "a", "exp": 9_999_999_999u64}))
        )
    };
    for headers in [
        vec![("x-tenant-id", "zzz".to_owned())],
        vec![("authorization", format!("Bearer {}", jwt("zzz", 600)))],
        vec![("authorization", forged)],
        vec![("authorization", format!("Bearer {}", jwt("a", -600)))],
        vec![("authorization", unsigned)],
        vec![("x-tenant-id", "a'; DROP TABLE org_users; --".to_owned())],
        vec![("x-tenant-id", "ä".repeat(10_000))],
    ] {
        let reply = refused(headers.clone()).await;
        assert_eq!(
            (reply.status, &reply.body),
            (401, &unknown.body),
            "{headers:?}"
        );
    }
    // A tenant id of 1 MB is refused by the HTTP layer before anything reads it.
    let huge = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .header("content-type", "application/json")
        .header("x-tenant-id", "a".repeat(1 << 20))
        .body(query.to_string())
        .send()
        .await;
    match huge {
        Ok(response) => assert!(response.status().is_client_error(), "{}", response.status()),
        // The server may close the connection while the header is still being sent.
        Err(error) => assert!(error.is_request() || error.is_connect(), "{error}"),
    }

    let suspended = refused(vec![("x-tenant-id", "c".into())]).await;
    assert_eq!(
        (suspended.status, common::first_error_code(&suspended.body)),
        (403, "TENANT_SUSPENDED")
    );
    let not_granted = refused(vec![
        ("authorization", format!("Bearer {}", jwt("a", 600))),
        ("x-tenant-id", "b".into()),
    ])
    .await;
    assert_eq!(
        (
            not_granted.status,
            common::first_error_code(&not_granted.body)
        ),
        (403, "TENANT_NOT_GRANTED")
    );
}

#[tokio::test]
async fn graft_refuses_to_start_when_a_source_cannot_keep_tenants_apart() {
    let text = r#"
[schema]
path = "schema.graphql"
[database]
url = "sqlite::memory:"
setup = ["sqlite/schema.sql"]
[tenancy]
resolvers = ["header"]
[[tenancy.tenants]]
id = "a"
isolation = "rows"
"#;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/graft.toml");
    let config = graft_server::config::Config::parse(text, &path).expect("a valid config");
    let error = graft_server::demo::configured_state(&config)
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("cannot isolate tenants by rows"),
        "{error}"
    );

    // Row isolation on PostgreSQL as a superuser, whom row-level security never holds.
    let shared = PgSchema::create(SCHEMA_SQL).await;
    let text = format!(
        "[schema]\npath = \"schema.graphql\"\n[database]\nurl = \"{}\"\n[tenancy]\nresolvers = [\"header\"]\n[[tenancy.tenants]]\nid = \"a\"\nisolation = \"rows\"\n",
        shared.url()
    );
    let config = graft_server::config::Config::parse(&text, &path).expect("a valid config");
    let error = graft_server::demo::configured_state(&config)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("is a superuser"), "{error}");
}

/// A token for `tenant` with `claims` besides, valid for ten minutes.
fn jwt_with(tenant: &str, claims: Value) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let mut all = json!({ "tenant_id": tenant, "exp": now + 600 });
    all.as_object_mut()
        .unwrap()
        .extend(claims.as_object().unwrap().clone());
    sign(&all)
}

#[tokio::test]
async fn batches_and_mutations_take_their_rights_from_the_tokens_scope() {
    let schemas = schemas().await;
    let address = server(&schemas).await;
    let send = |token: String, key: &'static str, body: Value| async move {
        let response = reqwest::Client::new()
            .post(format!("http://{address}/batch"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", key)
            .body(body.to_string())
            .send()
            .await
            .expect("the server answers");
        let replayed = response.headers().contains_key("idempotent-replayed");
        (replayed, response.json::<Value>().await.expect("JSON"))
    };
    let create = json!({ "operations": [
        { "id": "u", "entity": "OrgUser", "action": "create",
          "store_params": { "orgId": "org-s", "userId": "s1", "name": "S", "active": true } },
        { "id": "r", "entity": "OrgUser", "action": "read", "query_params": { "orgId": "org-s" },
          "depends_on": ["u"] }
    ], "options": { "atomic": false, "continueOnError": true } });
    let reader = jwt_with("a", json!({ "sub": "reader", "scope": "openid *:read" }));
    let (_, body) = send(reader.clone(), "k", create.clone()).await;
    assert_eq!(body["results"]["u"]["error"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(body["results"]["r"]["status"], "skipped", "{body}");
    let read = json!({ "operations": [
        { "id": "r", "entity": "OrgUser", "action": "read", "query_params": { "orgId": "org-1" } }
    ]});
    let (_, body) = send(reader.clone(), "k-read", read).await;
    assert_eq!(body["success"], true, "{body}");
    let mutation = as_tenant(
        address,
        &[("authorization", &format!("Bearer {reader}"))],
        json!({ "query": r#"mutation { deleteOrder(id: "1") { id } }"# }),
    )
    .await;
    assert_eq!(common::first_error_code(&mutation.body), "FORBIDDEN");
    // Another caller with the same key is not answered from the reader's batch.
    let writer = jwt_with(
        "a",
        json!({ "sub": "writer", "scp": ["OrgUser:write", "*:read"] }),
    );
    let (replayed, body) = send(writer.clone(), "k", create.clone()).await;
    assert!(!replayed);
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["results"]["r"]["data"][0]["userId"], "s1");
    let (replayed, _) = send(writer, "k", create).await;
    assert!(replayed);
}
