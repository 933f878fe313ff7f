//! The leak suite through the real server, on every database and every isolation it offers:
//! tenants `a` and `b` with the same keys, hundreds of concurrent requests alternating between
//! them over a pool of two connections, through `_entities`, root lookups, pages, relations and
//! a mutation; every answer belongs to its tenant (`common::each_tenant_sees_its_own_rows`).

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::orgs_rows;
use graft_testkit::{MyDatabase, PgRole, PgSchema};

const REQUESTS: usize = 300;

/// graft on the orgs example over `url` with a pool of two, tenants `a` and `b` with
/// `isolation` (`schema`: in `schemas`), and `database` added to `[database]`. Admission
/// control is off: these tests load the server on purpose, and shed requests would prove
/// nothing about isolation.
async fn serve(url: &str, database: &str, isolation: &str, schemas: [&str; 2]) -> SocketAddr {
    let mut text = format!(
        "[schema]\npath = \"schema.graphql\"\n[database]\nurl = \"{url}\"\nmax_connections = 2\n\
         {database}\n[admission]\nenabled = false\n[tenancy]\nresolvers = [\"header\"]\n"
    );
    for (tenant, schema) in ["a", "b"].into_iter().zip(schemas) {
        text.push_str(&format!(
            "[[tenancy.tenants]]\nid = \"{tenant}\"\nisolation = \"{isolation}\"\n"
        ));
        if isolation == "schema" {
            text.push_str(&format!("schema = \"{schema}\"\n"));
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/graft.toml");
    let config = graft_server::config::Config::parse(&text, &path).expect("a valid config");
    let state = graft_server::demo::configured_state(&config)
        .await
        .expect("graft starts");
    common::serve(state).await
}

/// An entity cache of both types, added to the servers of half the tests: entries are kept per
/// tenant (and schema), so a cached row never answers another tenant.
const CACHED: &str =
    "\n[cache]\n[cache.types]\nOrgUser = { ttl_seconds = 60 }\nOrder = { ttl_seconds = 60 }\n";

async fn each_sees_its_own(address: SocketAddr) {
    common::each_tenant_sees_its_own_rows(address, REQUESTS, |_, tenant| {
        vec![("x-tenant-id", tenant.to_owned())]
    })
    .await;
}

const PG_TABLES: &str = include_str!("../../../examples/orgs/postgres/schema.sql");
const MY_TABLES: &str = include_str!("../../../examples/orgs/mysql/schema.sql");

const MY_SHARED: &str = "
CREATE TABLE org_users (tenant_id varchar(63) NOT NULL, org_id varchar(64) NOT NULL,
  user_id varchar(64) NOT NULL, name varchar(200) NOT NULL, email varchar(200),
  active tinyint(1) NOT NULL DEFAULT 1, created_at datetime,
  PRIMARY KEY (tenant_id, org_id, user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE orders (tenant_id varchar(63) NOT NULL, id bigint NOT NULL,
  org_id varchar(64) NOT NULL, user_id varchar(64) NOT NULL, total decimal(10,2) NOT NULL,
  status varchar(16) NOT NULL, PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, org_id, user_id) REFERENCES org_users (tenant_id, org_id, user_id))
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;";

const SQLITE_SHARED: &str = "
CREATE TABLE org_users (tenant_id TEXT NOT NULL, org_id TEXT NOT NULL, user_id TEXT NOT NULL,
  name TEXT NOT NULL, email TEXT, active INTEGER NOT NULL DEFAULT 1, created_at TEXT,
  PRIMARY KEY (tenant_id, org_id, user_id)) WITHOUT ROWID;
CREATE TABLE orders (tenant_id TEXT NOT NULL, id INTEGER NOT NULL, org_id TEXT NOT NULL,
  user_id TEXT NOT NULL, total REAL NOT NULL, status TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, org_id, user_id) REFERENCES org_users (tenant_id, org_id, user_id));";

/// Both tenants' rows in shared tables.
fn shared_rows() -> String {
    format!("{}\n{}", orgs_rows("a", true), orgs_rows("b", true))
}

#[tokio::test]
async fn postgres_schemas() {
    let template = PgSchema::create(PG_TABLES).await;
    let a = PgSchema::create(&format!("{PG_TABLES}\n{}", orgs_rows("a", false))).await;
    let b = PgSchema::create(&format!("{PG_TABLES}\n{}", orgs_rows("b", false))).await;
    let address = serve(&template.url(), CACHED, "schema", [a.name(), b.name()]).await;
    each_sees_its_own(address).await;
}

#[tokio::test]
async fn postgres_row_level_security() {
    let schema = graft_schema::SubgraphSchema::parse(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs/schema.graphql"),
        )
        .expect("reads"),
        "schema.graphql",
    )
    .expect("valid");
    // graft's role may not create tables: the owner makes the idempotency-key table too.
    let mut ddl = format!(
        "{}\n{}\n{};",
        common::PG_SHARED_ORGS,
        shared_rows(),
        graft_db::IDEMPOTENCY_KEYS_DDL
    );
    for type_name in ["OrgUser", "Order"] {
        let mapping = schema.mapping(type_name).expect("mapped");
        ddl.push_str(&graft_db::postgres::row_security_ddl(mapping, "tenant_id"));
    }
    let shared = PgSchema::create(&ddl).await;
    let role = PgRole::create(&format!(
        "GRANT USAGE ON SCHEMA \"{0}\" TO {{role}}; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{0}\" TO {{role}};",
        shared.name()
    ))
    .await;
    let address = serve(&role.url(shared.name()), CACHED, "rows", ["", ""]).await;
    each_sees_its_own(address).await;
}

#[tokio::test]
async fn mariadb_databases() {
    let template = MyDatabase::create(MY_TABLES).await;
    let a = MyDatabase::create(&format!("{MY_TABLES}\n{}", orgs_rows("a", false))).await;
    let b = MyDatabase::create(&format!("{MY_TABLES}\n{}", orgs_rows("b", false))).await;
    let address = serve(&template.url(), "", "schema", [a.name(), b.name()]).await;
    each_sees_its_own(address).await;
}

#[tokio::test]
async fn mariadb_tenant_column() {
    let shared = MyDatabase::create(&format!("{MY_SHARED}\n{}", shared_rows())).await;
    let column = "tenant_column = \"tenant_id\"";
    let address = serve(&shared.url(), column, "rows", ["", ""]).await;
    each_sees_its_own(address).await;
}

#[tokio::test]
async fn sqlite_tenant_column() {
    let path = std::env::temp_dir().join(format!("{}.db", graft_testkit::unique_name("leaks")));
    let url = format!("sqlite://{}", path.display());
    {
        let source = graft_db::sqlite::SqliteSource::connect(
            "setup",
            &graft_db::sqlite::SqliteConfig::new(url.clone()),
        )
        .await
        .expect("opens");
        source
            .run_script("tables", &format!("{SQLITE_SHARED}\n{}", shared_rows()))
            .await
            .expect("creates");
    }
    let column = "tenant_column = \"tenant_id\"";
    let address = serve(&url, column, "rows", ["", ""]).await;
    each_sees_its_own(address).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

const SQLITE_TABLES: &str = include_str!("../../../examples/orgs/sqlite/schema.sql");

#[tokio::test]
async fn sqlite_files() {
    let dir = std::env::temp_dir().join(graft_testkit::unique_name("leaks"));
    std::fs::create_dir_all(&dir).expect("a directory");
    for tenant in ["a", "b"] {
        let url = format!("sqlite://{}/tenant_{tenant}.db", dir.display());
        let source = graft_db::sqlite::SqliteSource::connect(
            "setup",
            &graft_db::sqlite::SqliteConfig::new(url),
        )
        .await
        .expect("opens");
        source
            .run_script(
                "tables",
                &format!("{SQLITE_TABLES}\n{}", orgs_rows(tenant, false)),
            )
            .await
            .expect("creates");
    }
    let url = format!("sqlite://{}/main.db", dir.display());
    let files = format!(
        "tenant_files = \"sqlite://{}/{{schema}}.db\"",
        dir.display()
    );
    let address = serve(
        &url,
        &format!("{files}{CACHED}"),
        "schema",
        ["tenant_a", "tenant_b"],
    )
    .await;
    each_sees_its_own(address).await;
    let _ = std::fs::remove_dir_all(&dir);
}
