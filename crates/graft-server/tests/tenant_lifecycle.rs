//! Tenants kept in the database, on PostgreSQL: `graft tenant` migrates the shared tables and
//! creates tenants in schemas of their own; the server then serves each tenant its rows,
//! refuses a tenant suspended by another process once its cache expires, and forgets a
//! destroyed one, while the other tenant's rows stay untouched.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::post;
use graft_resolve::TenantStatus;
use graft_server::config::Config;
use graft_server::tenants::{NewTenant, TenantControl};
use graft_testkit::PgSchema;
use serde_json::{Value, json};

const SCHEMA_SQL: &str = include_str!("../../../examples/orgs/postgres/schema.sql");

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A subgraph on the orgs example with its tenants in the database of a schema of its own.
struct Setup {
    control_schema: PgSchema,
    dir: TempDir,
    config: Config,
    control: TenantControl,
}

/// The graft.toml of [`Setup`] (`database` added to `[database]`, `extra` at its end), its
/// migrations directory holding `migration` as `0001_orgs.sql`, and the tenant store opened.
async fn setup(database: &str, extra: &str, migration: &str) -> Setup {
    let control_schema = PgSchema::create("").await;
    let dir = TempDir(std::env::temp_dir().join(graft_testkit::unique_name("lifecycle")));
    std::fs::create_dir_all(dir.0.join("migrations")).expect("creates");
    std::fs::write(dir.0.join("migrations/0001_orgs.sql"), migration).expect("writes");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/schema.graphql");
    let text = format!(
        "[schema]\npath = {schema:?}\n[database]\nurl = \"{}\"\nmax_connections = 2\n{database}\n\
         [tenancy]\nstore = \"database\"\nmigrations = \"migrations\"\ncache_ttl_seconds = 1\n\
         resolvers = [\"header\", \"api_key\"]\n{extra}",
        control_schema.url()
    );
    std::fs::write(dir.0.join("graft.toml"), text).expect("writes");
    let config = Config::load(&dir.0.join("graft.toml")).expect("a valid config");
    let (_, local) = graft_server::demo::schemas(&config).expect("schemas");
    let control = TenantControl::open(&config, local)
        .await
        .expect("opens the store");
    Setup {
        control_schema,
        dir,
        config,
        control,
    }
}

async fn name_of(address: std::net::SocketAddr, tenant: &str) -> (u16, Value) {
    let query = json!({ "query": r#"{ orgUser(orgId: "org-1", userId: "u1") { name } }"# });
    let reply = post(
        address,
        &[
            ("content-type", "application/json"),
            ("x-tenant-id", tenant),
        ],
        query.to_string(),
    )
    .await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn tenants_in_the_database_are_created_served_suspended_and_destroyed() {
    // Every field bound: the schema and the directory live as long as the test.
    let Setup {
        control_schema: _control_schema,
        dir,
        config,
        control,
    } = setup(
        "",
        "[tenancy.tiers]\npremium = \"schema\"\nstandard = \"rows\"\n",
        SCHEMA_SQL,
    )
    .await;

    let reports = control
        .migrate_all(false, 2, |_, _, _| {})
        .await
        .expect("migrates");
    assert_eq!(reports.len(), 1, "the shared tables only");
    assert_eq!(
        reports[0].outcome.as_ref().expect("applied").applied,
        ["0001_orgs"]
    );
    let mut schemas = Vec::new();
    for tenant in ["a", "b"] {
        let schema = graft_testkit::unique_name("graft_test");
        // a by its tier's isolation, b by its own.
        let new = NewTenant {
            id: tenant.into(),
            schema: Some(schema.clone()),
            tier: (tenant == "a").then(|| "premium".into()),
            isolation: (tenant == "b").then(|| "schema".into()),
            metadata: Some(json!({ "plan": tenant })),
            ..NewTenant::default()
        };
        let migrated = control.create(new).await.expect("creates");
        assert_eq!(migrated.applied, ["0001_orgs"], "its schema is migrated");
        common_admin(&format!(
            "SET search_path TO \"{schema}\"; INSERT INTO org_users (org_id, user_id, name) \
             VALUES ('org-1', 'u1', 'User 1 of {tenant}')"
        ))
        .await;
        schemas.push(schema);
    }
    // The standard tier shares tables: refused without row-level security.
    let standard = NewTenant {
        id: "c".into(),
        tier: Some("standard".into()),
        ..NewTenant::default()
    };
    let refused = control.create(standard).await;
    assert!(
        refused
            .expect_err("no row-level security")
            .to_string()
            .contains("row-level security"),
        "sharing tables needs row-level security on PostgreSQL"
    );

    // The command line sees them.
    let listed = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["tenant", "--config"])
        .arg(dir.0.join("graft.toml"))
        .arg("list")
        .output()
        .expect("runs graft");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("a\tActive\tschema") && listed.contains("b\tActive\tschema"),
        "{listed}"
    );
    let dry = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["tenant", "--config"])
        .arg(dir.0.join("graft.toml"))
        .args(["migrate", "--dry-run"])
        .output()
        .expect("runs graft");
    assert!(dry.status.success());
    assert!(
        String::from_utf8_lossy(&dry.stdout)
            .contains("3 schemas: 0 would apply migrations, 3 up to date, 0 failed")
    );

    let state = graft_server::demo::configured_state(&config)
        .await
        .expect("graft starts");
    let address = common::serve(state).await;
    for tenant in ["a", "b"] {
        let (status, body) = name_of(address, tenant).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["data"]["orgUser"]["name"],
            format!("User 1 of {tenant}"),
            "{body}"
        );
    }
    assert_eq!(name_of(address, "zzz").await.0, 401);

    // Suspended by another process (this test's own control, like `graft tenant suspend`):
    // refused once the server's cache (1 s) has expired.
    assert!(
        control
            .set_status("b", TenantStatus::Suspended)
            .await
            .expect("suspends")
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, body) = name_of(address, "b").await;
    assert_eq!(
        (status, common::first_error_code(&body)),
        (403, "TENANT_SUSPENDED")
    );

    assert!(control.destroy("a").await.expect("destroys"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        name_of(address, "a").await.0,
        401,
        "a destroyed tenant is unknown"
    );
    assert!(
        control
            .set_status("b", TenantStatus::Active)
            .await
            .expect("resumes")
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (_, body) = name_of(address, "b").await;
    assert_eq!(
        body["data"]["orgUser"]["name"], "User 1 of b",
        "b's rows are untouched"
    );
    let gone = common_admin_count(&format!(
        "SELECT count(*) FROM pg_namespace WHERE nspname = '{}'",
        schemas[0]
    ))
    .await;
    assert_eq!(gone, 0, "a's schema is dropped");
    assert!(control.destroy("b").await.expect("destroys"));
}

async fn common_admin(sql: &str) {
    graft_testkit::pg_admin()
        .await
        .batch_execute(sql)
        .await
        .expect("runs");
}

async fn common_admin_count(sql: &str) -> i64 {
    graft_testkit::pg_admin()
        .await
        .query_one(sql, &[])
        .await
        .expect("counts")
        .get(0)
}

const ADMIN_TOKEN: &str = "the admin token of this test";

async fn admin(
    address: std::net::SocketAddr,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{address}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_admin_api_manages_tenants_behind_its_own_token() {
    let hash = graft_resolve::ApiKeyHash::of(ADMIN_TOKEN);
    let admin_token = format!("[admin]\ntoken_sha256 = \"{hash}\"\n");
    let Setup {
        control_schema: _control_schema,
        dir: _dir,
        config,
        control,
    } = setup("", &admin_token, SCHEMA_SQL).await;
    control
        .migrate_all(false, 1, |_, _, _| {})
        .await
        .expect("migrates");
    let state = graft_server::demo::configured_state(&config)
        .await
        .expect("graft starts");
    let address = common::serve(state).await;
    use reqwest::Method;
    let as_admin =
        |method, path: &'static str, body| admin(address, method, path, body, ADMIN_TOKEN);

    let (status, _) = admin(
        address,
        Method::GET,
        "/admin/tenants",
        None,
        "a tenant's key",
    )
    .await;
    assert_eq!(status, 401, "another credential is refused");
    let schema = graft_testkit::unique_name("graft_test");
    let new = json!({ "id": "acme", "isolation": "schema", "schema": schema });
    let (status, body) = as_admin(Method::POST, "/admin/tenants", Some(new.clone())).await;
    assert_eq!(
        (status, &body["migrationsApplied"]),
        (201, &json!(["0001_orgs"])),
        "{body}"
    );
    let (status, _) = as_admin(Method::POST, "/admin/tenants", Some(new)).await;
    assert_eq!(status, 409, "it exists");
    let (status, body) = as_admin(
        Method::POST,
        "/admin/tenants",
        Some(json!({ "id": "x", "colour": "red" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, body) = as_admin(Method::GET, "/admin/tenants", None).await;
    assert_eq!(body["tenants"][0]["id"], "acme");
    assert_eq!(body["tenants"][0]["schema"], schema.as_str());

    assert_eq!(name_of(address, "acme").await.0, 200);
    let (status, body) = as_admin(Method::POST, "/admin/tenants/acme/api-keys", None).await;
    assert_eq!(status, 201);
    let key = body["apiKey"].as_str().expect("a key").to_owned();
    let query = json!({ "query": "{ __typename }" }).to_string();
    let by_key = post(
        address,
        &[("content-type", "application/json"), ("x-api-key", &key)],
        query,
    )
    .await;
    assert_eq!(by_key.status, 200, "the new key names the tenant");
    // A key with scopes: its bearer may read, not write.
    let (status, body) = as_admin(
        Method::POST,
        "/admin/tenants/acme/api-keys",
        Some(json!({ "scopes": ["Order:drop"] })),
    )
    .await;
    assert_eq!(status, 400, "not a grant: {body}");
    let (status, body) = as_admin(
        Method::POST,
        "/admin/tenants/acme/api-keys",
        Some(json!({ "scopes": ["*:read"] })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let reader = body["apiKey"].as_str().expect("a key").to_owned();
    let create = json!({ "query": r#"mutation { createOrgUser(input: { orgId: "o", userId: "u", name: "n", active: true }) { userId } }"# });
    let refused = post(
        address,
        &[("content-type", "application/json"), ("x-api-key", &reader)],
        create.to_string(),
    )
    .await;
    assert_eq!(common::first_error_code(&refused.body), "FORBIDDEN");

    // Migrations of every schema, a dry run: both up to date.
    let (status, body) = as_admin(
        Method::POST,
        "/admin/migrations",
        Some(json!({ "dryRun": true })),
    )
    .await;
    assert_eq!((status, &body["failed"]), (200, &json!(0)), "{body}");
    assert_eq!(body["targets"].as_array().map(Vec::len), Some(2), "{body}");
    // Only a tenant sharing tables is promoted.
    let (status, body) = as_admin(Method::POST, "/admin/tenants/acme/promote", None).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = as_admin(Method::POST, "/admin/tenants/nobody/promote", None).await;
    assert_eq!(status, 404);

    // Changes through this instance take effect at once, without waiting for the cache.
    as_admin(Method::POST, "/admin/tenants/acme/suspend", None).await;
    assert_eq!(name_of(address, "acme").await.0, 403);
    as_admin(Method::POST, "/admin/tenants/acme/resume", None).await;
    assert_eq!(name_of(address, "acme").await.0, 200);
    let (status, _) = as_admin(Method::DELETE, "/admin/tenants/acme", None).await;
    assert_eq!(status, 200);
    assert_eq!(name_of(address, "acme").await.0, 401);
    let (status, _) = as_admin(Method::DELETE, "/admin/tenants/acme", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn graft_writes_and_applies_the_row_level_security_of_every_mapped_table() {
    let Setup {
        control_schema,
        dir,
        control,
        config: _,
    } = setup("tenant_column = \"tenant_id\"", "", common::PG_SHARED_ORGS).await;
    let toml = dir.0.join("graft.toml");
    control
        .migrate_all(false, 1, |_, _, _| {})
        .await
        .expect("migrates");

    let printed = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["tenant", "--config"])
        .arg(&toml)
        .arg("row-security")
        .output()
        .expect("runs graft");
    let ddl = String::from_utf8_lossy(&printed.stdout);
    assert!(printed.status.success(), "{ddl}");
    // org_users is mapped twice (OrgUser, Membership) and written once.
    assert_eq!(ddl.matches("FORCE ROW LEVEL SECURITY").count(), 2, "{ddl}");
    assert!(
        ddl.contains("current_setting('graft.tenant_id', true)"),
        "{ddl}"
    );

    control.apply_row_security().await.expect("applies");
    let forced = common_admin_count(&format!(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = '{}' AND c.relforcerowsecurity",
        control_schema.name()
    ))
    .await;
    assert_eq!(forced, 2, "both tables are under row-level security");
}
