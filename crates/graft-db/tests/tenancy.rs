//! Tenant isolation in the storage layer, against the real databases: two tenants with the same
//! keys, many concurrent requests alternating between them over a pool of two connections, and
//! every answer belongs to its tenant. Nothing of a tenant's scope survives on a pooled
//! connection: a request without a tenant afterwards sees none of either tenant's rows.

mod common;

use std::sync::Arc;

use common::{MyDatabase, PgRole, PgSchema, Seen, SqliteFile, key, seen};
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_db::postgres::{PostgresConfig, PostgresSource, row_security_ddl};
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{
    DeleteRequest, EntitySource, FetchRequest, InsertRequest, Isolation, PageRequest,
    RequestContext, ResolveError, SchemaName, TenantId, UpdateRequest, WriteValue,
};
use graft_schema::SubgraphSchema;

const SDL: &str = r#"
type User @key(fields: "id") @table(name: "users") { id: ID! name: String! }
"#;

/// Requests per test, alternating tenants.
const REQUESTS: usize = 2000;
/// Requests in flight at once: many more than the pool's two connections.
const IN_FLIGHT: usize = 24;

fn schema() -> SubgraphSchema {
    SubgraphSchema::parse(SDL, "tenancy.graphql").expect("valid schema")
}

fn tenant(id: &str, isolation: Isolation) -> RequestContext {
    RequestContext::new(format!("req-{id}"))
        .for_tenant(TenantId::new(id).expect("valid"), isolation)
}

fn in_schema(id: &str, schema: &str) -> RequestContext {
    tenant(
        id,
        Isolation::Schema(SchemaName::new(schema).expect("valid")),
    )
}

fn user_key(id: i64) -> EntityKey {
    key("User", vec![KeyValue::Int(id)])
}

/// The names of users 1, 2 and 3 as `ctx` sees them (`None` for a missing user).
async fn names(
    source: &dyn EntitySource,
    schema: &SubgraphSchema,
    ctx: &RequestContext,
) -> Vec<Option<String>> {
    let keys = [user_key(1), user_key(2), user_key(3)];
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let mapping = schema.mapping("User").expect("mapped");
    let columns = [1];
    let rows = source
        .fetch(
            ctx,
            FetchRequest::by_key(mapping, KeyIndex(0), &refs, &columns),
        )
        .await
        .expect("fetches");
    (0..3)
        .map(|position| {
            seen(&rows, position).map(|row| match &row[0] {
                Seen::Text(name) => name.clone(),
                other => panic!("a name, not {other:?}"),
            })
        })
        .collect()
}

/// Every user name `ctx` sees when paging through the table.
async fn paged(
    source: &dyn EntitySource,
    schema: &SubgraphSchema,
    ctx: &RequestContext,
) -> Vec<String> {
    let mapping = schema.mapping("User").expect("mapped");
    let columns = [1];
    let rows = source
        .page(
            ctx,
            PageRequest {
                mapping,
                key_columns: &mapping.key_columns[0],
                after: None,
                limit: 100,
                columns: &columns,
            },
        )
        .await
        .expect("pages");
    (0..rows.len())
        .flat_map(|position| rows.rows_of(position))
        .map(|row| match &common::seen_row(&rows, row)[0] {
            Seen::Text(name) => name.clone(),
            other => panic!("a name, not {other:?}"),
        })
        .collect()
}

fn expected(tenant: &str) -> Vec<Option<String>> {
    vec![
        Some(format!("{tenant} one")),
        Some(format!("{tenant} two")),
        None,
    ]
}

/// Checks that `source` keeps tenants `a` and `b` apart: `REQUESTS` fetches and pages,
/// `IN_FLIGHT` at a time (within what the pool lets wait), alternate between them, each
/// checked to see only its own tenant's rows; a write of `a` is seen by `a` only; and a request
/// without a tenant afterwards sees neither tenant's rows, so nothing of a tenant's scope
/// stayed on a pooled connection.
async fn keeps_apart(
    source: Arc<dyn EntitySource>,
    schema: &SubgraphSchema,
    a: RequestContext,
    b: RequestContext,
    unscoped: Unscoped,
) {
    use futures_util::StreamExt as _;
    let tasks = futures_util::stream::iter(0..REQUESTS).map(|i| {
        let (ctx, name) = if i % 2 == 0 {
            (a.clone(), "a")
        } else {
            (b.clone(), "b")
        };
        let source = Arc::clone(&source);
        let schema = schema.clone();
        tokio::spawn(async move {
            if i % 4 < 2 {
                assert_eq!(
                    names(&*source, &schema, &ctx).await,
                    expected(name),
                    "request {i}"
                );
            } else {
                assert_eq!(
                    paged(&*source, &schema, &ctx).await,
                    vec![format!("{name} one"), format!("{name} two")],
                    "request {i}"
                );
            }
        })
    });
    let outcomes: Vec<_> = tasks.buffer_unordered(IN_FLIGHT).collect().await;
    for outcome in outcomes {
        outcome.expect("every answer belongs to its tenant");
    }

    create_user(&*source, schema, &a, 3, "a three").await;
    assert_eq!(
        names(&*source, schema, &a).await[2].as_deref(),
        Some("a three")
    );
    assert_eq!(
        names(&*source, schema, &b).await[2],
        None,
        "b does not see a's write"
    );
    // b's update and delete of keys a has too change b's rows only.
    rename_and_delete(&*source, schema, &b).await;
    assert_eq!(
        names(&*source, schema, &a).await,
        vec![
            Some("a one".into()),
            Some("a two".into()),
            Some("a three".into())
        ]
    );
    assert_eq!(
        names(&*source, schema, &b).await,
        vec![None, Some("b renamed".into()), None]
    );
    if unscoped == Unscoped::SeesNothing {
        let unscoped = RequestContext::new("none");
        assert_eq!(
            names(&*source, schema, &unscoped).await,
            vec![None, None, None],
            "nothing of a tenant's scope stays on a pooled connection"
        );
    }
}

/// Two tenants' rows in one table with a tenant column, for `rows` isolation.
const SHARED_ROWS: &str = "INSERT INTO users VALUES ('a', 1, 'a one'), ('a', 2, 'a two'),
    ('b', 1, 'b one'), ('b', 2, 'b two');";

/// [`keeps_apart`] for tenants `a` and `b` sharing a table told apart by a tenant column only:
/// a request without a tenant sees all of it.
async fn keeps_shared_rows_apart(source: Arc<dyn EntitySource>, schema: &SubgraphSchema) {
    let (a, b) = (tenant("a", Isolation::Rows), tenant("b", Isolation::Rows));
    keeps_apart(source, schema, a, b, Unscoped::SeesAll).await;
}

/// [`keeps_apart`] for tenants `a` and `b` in schemas of their own.
async fn keeps_schemas_apart(
    source: Arc<dyn EntitySource>,
    schema: &SubgraphSchema,
    a: &str,
    b: &str,
) {
    let (a, b) = (in_schema("a", a), in_schema("b", b));
    keeps_apart(source, schema, a, b, Unscoped::SeesNothing).await;
}

/// What a request without a tenant sees after the tenants' requests.
#[derive(Debug, PartialEq, Eq)]
enum Unscoped {
    /// Nothing: the tables it reads are the template's, or row-level security hides every row
    /// unless a tenant is set.
    SeesNothing,
    /// Every tenant's rows: shared tables, told apart only by the predicate graft adds.
    SeesAll,
}

/// Renames user 2 and deletes user 1 as `ctx`'s tenant, in one unit of work.
async fn rename_and_delete(
    source: &dyn EntitySource,
    schema: &SubgraphSchema,
    ctx: &RequestContext,
) {
    let mapping = schema.mapping("User").expect("mapped");
    let mut work = source.begin(ctx).await.expect("begins");
    let (two, one) = (user_key(2), user_key(1));
    let renamed = work
        .update(UpdateRequest {
            mapping,
            match_columns: &mapping.key_columns[0],
            key: &two,
            set: &[(1, WriteValue::Text("b renamed".into()))],
            returning: &[1],
        })
        .await
        .expect("updates");
    assert_eq!(renamed.row_count(), 1);
    let deleted = work
        .delete(DeleteRequest {
            mapping,
            match_columns: &mapping.key_columns[0],
            key: &one,
            returning: &[1],
        })
        .await
        .expect("deletes");
    assert_eq!(deleted.row_count(), 1, "one row deleted: the tenant's own");
    work.commit().await.expect("commits");
}

/// Writes a user `id` named `name` for `ctx`'s tenant and commits.
async fn create_user(
    source: &dyn EntitySource,
    schema: &SubgraphSchema,
    ctx: &RequestContext,
    id: i64,
    name: &str,
) {
    let mapping = schema.mapping("User").expect("mapped");
    let mut work = source.begin(ctx).await.expect("begins");
    let rows = vec![vec![WriteValue::Int(id), WriteValue::Text(name.to_owned())]];
    work.insert(InsertRequest {
        mapping,
        columns: &[0, 1],
        rows: &rows,
        returning: &[0, 1],
    })
    .await
    .expect("inserts");
    work.commit().await.expect("commits");
}

const PG_USERS: &str = "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);";

fn pg_tenant_ddl(tenant: &str) -> String {
    format!("{PG_USERS} INSERT INTO users VALUES (1, '{tenant} one'), (2, '{tenant} two');")
}

#[tokio::test]
async fn postgres_schemas_keep_tenants_apart_over_a_shared_pool() {
    let schema = schema();
    // The template schema graft reads the tables' shape from; it has no rows.
    let template = PgSchema::create(PG_USERS).await;
    let a = PgSchema::create(&pg_tenant_ddl("a")).await;
    let b = PgSchema::create(&pg_tenant_ddl("b")).await;
    let mut config = PostgresConfig::new(template.url());
    config.max_connections = 2;
    let source: Arc<dyn EntitySource> = Arc::new(
        PostgresSource::connect("pg", &config, &schema)
            .await
            .expect("connects"),
    );
    keeps_schemas_apart(source, &schema, a.name(), b.name()).await;
}

#[tokio::test]
async fn postgres_row_level_security_keeps_tenants_apart_over_a_shared_pool() {
    let schema = schema();
    let role = PgRole::create("").await;
    let shared = PgSchema::create(&rls_users(&schema)).await;
    grant(&role, &[shared.name()]).await;
    let mut config = PostgresConfig::new(role.url(shared.name()));
    config.max_connections = 2;
    let source = PostgresSource::connect("pg", &config, &schema)
        .await
        .expect("connects");
    keeps_rows_apart_by_row_level_security(source, &schema).await;
}

/// The users of tenants `a` and `b` in one table under row-level security on `tenant_id`.
fn rls_users(schema: &SubgraphSchema) -> String {
    let mapping = schema.mapping("User").expect("mapped");
    format!(
        "CREATE TABLE users (tenant_id text NOT NULL, id int NOT NULL, name text NOT NULL,
           PRIMARY KEY (tenant_id, id)); {SHARED_ROWS} {}",
        row_security_ddl(mapping, "tenant_id")
    )
}

/// Checks that row-level security holds for `source`'s role, then [`keeps_apart`] for tenants
/// `a` and `b` sharing its table. Writes leave the tenant column out: the database fills it
/// from graft.tenant_id.
async fn keeps_rows_apart_by_row_level_security(source: PostgresSource, schema: &SubgraphSchema) {
    source
        .check_row_security(schema)
        .await
        .expect("the role is held to row-level security");
    let (a, b) = (tenant("a", Isolation::Rows), tenant("b", Isolation::Rows));
    keeps_apart(Arc::new(source), schema, a, b, Unscoped::SeesNothing).await;
}

#[tokio::test]
async fn postgres_names_keys_that_tenants_sharing_tables_would_share() {
    let schema = schema();
    let shared = PgSchema::create(
        "CREATE TABLE users (tenant_id text NOT NULL, id int NOT NULL, name text NOT NULL,
           PRIMARY KEY (tenant_id, id));
         CREATE UNIQUE INDEX users_by_name ON users (name);",
    )
    .await;
    let source = PostgresSource::connect("pg", &PostgresConfig::new(shared.url()), &schema)
        .await
        .expect("connects");
    let keys = source
        .shared_keys(&schema, "tenant_id")
        .await
        .expect("reads the catalog");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].contains("unique index") && keys[0].contains("users_by_name"),
        "{keys:?}"
    );
}

#[tokio::test]
async fn mariadb_names_keys_that_tenants_sharing_tables_would_share() {
    let schema = schema();
    let shared = MyDatabase::create(
        "CREATE TABLE teams (id int PRIMARY KEY) ENGINE=InnoDB;
         CREATE TABLE users (tenant_id varchar(63) NOT NULL, id int NOT NULL,
           name varchar(64) NOT NULL, team_id int, PRIMARY KEY (tenant_id, id),
           UNIQUE KEY users_by_name (name),
           CONSTRAINT users_team FOREIGN KEY (team_id) REFERENCES teams (id)) ENGINE=InnoDB;",
    )
    .await;
    let mut config = MysqlConfig::new(shared.url());
    config.tenant_column = Some("tenant_id".to_owned());
    let source = MysqlSource::connect("mysql", &config, &schema)
        .await
        .expect("connects");
    let mut keys = source
        .shared_keys(&schema, "tenant_id")
        .await
        .expect("reads information_schema");
    keys.sort();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys[0].contains("foreign key users_team"), "{keys:?}");
    assert!(keys[1].contains("unique index users_by_name"), "{keys:?}");
}

#[tokio::test]
async fn sqlite_names_keys_that_tenants_sharing_tables_would_share() {
    let schema = schema();
    let source = SqliteSource::in_memory("sqlite").await.expect("opens");
    source
        .run_script(
            "ddl",
            "CREATE TABLE teams (id INTEGER PRIMARY KEY);
             CREATE TABLE users (tenant_id TEXT NOT NULL, id INTEGER NOT NULL,
               name TEXT NOT NULL, team_id INTEGER REFERENCES teams (id),
               PRIMARY KEY (tenant_id, id));
             CREATE UNIQUE INDEX users_by_name ON users (name);",
        )
        .await
        .expect("ddl");
    let mut keys = source
        .shared_keys(&schema, "TENANT_ID")
        .await
        .expect("reads the pragmas");
    keys.sort();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys[0].contains("foreign key to teams"), "{keys:?}");
    assert!(keys[1].contains("unique index users_by_name"), "{keys:?}");

    // A rowid primary key, which SQLite keeps without an index.
    let rowid = SqliteSource::in_memory("sqlite").await.expect("opens");
    rowid
        .run_script(
            "ddl",
            "CREATE TABLE users (tenant_id TEXT NOT NULL, id INTEGER PRIMARY KEY, name TEXT);",
        )
        .await
        .expect("ddl");
    let keys = rowid
        .shared_keys(&schema, "tenant_id")
        .await
        .expect("reads the pragmas");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains("primary key"), "{keys:?}");
}

#[tokio::test]
async fn postgres_row_isolation_refuses_roles_that_skip_row_level_security() {
    let schema = schema();
    let shared = PgSchema::create(
        "CREATE TABLE users (tenant_id text NOT NULL, id int NOT NULL, name text NOT NULL,
           PRIMARY KEY (tenant_id, id));",
    )
    .await;
    // As the superuser graft's tests connect with.
    let source = PostgresSource::connect("pg", &PostgresConfig::new(shared.url()), &schema)
        .await
        .expect("connects");
    let error = source
        .check_row_security(&schema)
        .await
        .expect_err("a superuser");
    assert!(error.to_string().contains("is a superuser"), "{error}");

    // A plain role, on a table without row-level security.
    let role = PgRole::create(&format!(
        "GRANT USAGE ON SCHEMA \"{0}\" TO {{role}}; GRANT SELECT ON ALL TABLES IN SCHEMA \"{0}\" TO {{role}};",
        shared.name()
    ))
    .await;
    let source =
        PostgresSource::connect("pg", &PostgresConfig::new(role.url(shared.name())), &schema)
            .await
            .expect("connects");
    let error = source
        .check_row_security(&schema)
        .await
        .expect_err("no row-level security");
    assert!(
        error.to_string().contains("has no row-level security"),
        "{error}"
    );
}

const MY_USERS: &str =
    "CREATE TABLE users (id int PRIMARY KEY, name varchar(64) NOT NULL) ENGINE=InnoDB;";

#[tokio::test]
async fn mariadb_databases_keep_tenants_apart_over_a_shared_pool() {
    let schema = schema();
    let template = MyDatabase::create(MY_USERS).await;
    let tenant_ddl =
        |t: &str| format!("{MY_USERS} INSERT INTO users VALUES (1, '{t} one'), (2, '{t} two');");
    let a = MyDatabase::create(&tenant_ddl("a")).await;
    let b = MyDatabase::create(&tenant_ddl("b")).await;
    let mut config = MysqlConfig::new(template.url());
    config.max_connections = 2;
    let source: Arc<dyn EntitySource> = Arc::new(
        MysqlSource::connect("mysql", &config, &schema)
            .await
            .expect("connects"),
    );
    keeps_schemas_apart(source, &schema, a.name(), b.name()).await;
}

#[tokio::test]
async fn isolation_a_source_cannot_apply_is_refused_not_ignored() {
    let schema = schema();
    let source = SqliteSource::connect("sqlite", &SqliteConfig::new("sqlite::memory:"))
        .await
        .expect("opens");
    source
        .run_script("ddl", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO users VALUES (1, 'shared');")
        .await
        .expect("ddl");
    assert!(!source.capabilities().schema_isolation && !source.capabilities().row_isolation);
    let keys = [user_key(1)];
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let mapping = schema.mapping("User").expect("mapped");
    for ctx in [in_schema("a", "tenant_a"), tenant("a", Isolation::Rows)] {
        let error = source
            .fetch(
                &ctx,
                FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[1]),
            )
            .await
            .expect_err("refused");
        assert!(matches!(error, ResolveError::Source { .. }), "{error:?}");
        assert!(
            error.to_string().contains("cannot isolate tenants"),
            "{error}"
        );
        assert!(
            source.begin(&ctx).await.is_err(),
            "a unit of work is refused too"
        );
    }
}

#[tokio::test]
async fn mariadb_tenant_column_keeps_tenants_apart_over_a_shared_pool() {
    let schema = schema();
    let shared = MyDatabase::create(&format!(
        "CREATE TABLE users (tenant_id varchar(63) NOT NULL, id int NOT NULL,
           name varchar(64) NOT NULL, PRIMARY KEY (tenant_id, id)) ENGINE=InnoDB; {SHARED_ROWS}"
    ))
    .await;
    let mut config = MysqlConfig::new(shared.url());
    config.max_connections = 2;
    config.tenant_column = Some("tenant_id".to_owned());
    let source = MysqlSource::connect("mysql", &config, &schema)
        .await
        .expect("connects");
    assert!(source.capabilities().row_isolation);
    keeps_shared_rows_apart(Arc::new(source), &schema).await;
}

#[tokio::test]
async fn mariadb_tenant_column_must_exist_and_stay_unmapped() {
    let db = MyDatabase::create(MY_USERS).await;
    let mut config = MysqlConfig::new(db.url());
    config.tenant_column = Some("tenant_id".to_owned());
    let error = MysqlSource::connect("mysql", &config, &schema())
        .await
        .expect_err("no tenant column");
    assert!(
        error
            .to_string()
            .contains("has no tenant column `tenant_id`"),
        "{error}"
    );
    config.tenant_column = Some("name".to_owned());
    let error = MysqlSource::connect("mysql", &config, &schema())
        .await
        .expect_err("a mapped tenant column");
    assert!(
        error
            .to_string()
            .contains("field User.name maps the tenant column `name`"),
        "{error}"
    );
}

#[tokio::test]
async fn sqlite_tenant_column_keeps_tenants_apart_over_a_shared_pool() {
    let schema = schema();
    let file =
        SqliteFile(std::env::temp_dir().join(format!("{}.db", common::unique_name("tenancy"))));
    let mut config = SqliteConfig::new(format!("sqlite://{}", file.0.display()));
    config.max_connections = 2;
    config.tenant_column = Some("tenant_id".to_owned());
    let source = SqliteSource::connect("sqlite", &config)
        .await
        .expect("opens");
    source
        .run_script(
            "ddl",
            &format!(
                "CREATE TABLE users (tenant_id TEXT NOT NULL, id INTEGER NOT NULL,
                   name TEXT NOT NULL, PRIMARY KEY (tenant_id, id)); {SHARED_ROWS}"
            ),
        )
        .await
        .expect("ddl");
    assert!(source.capabilities().row_isolation);
    keeps_shared_rows_apart(Arc::new(source), &schema).await;
}

#[tokio::test]
async fn a_write_that_sets_the_tenant_column_is_refused() {
    let schema = SubgraphSchema::parse(
        r#"type User @key(fields: "id") @table(name: "users") { id: ID! name: String! tenant: String @column(name: "tenant_id") }"#,
        "tenancy.graphql",
    )
    .expect("valid schema");
    let mut config = SqliteConfig::new("sqlite::memory:");
    config.tenant_column = Some("tenant_id".to_owned());
    let source = SqliteSource::connect("sqlite", &config)
        .await
        .expect("opens");
    let mapping = schema.mapping("User").expect("mapped");
    let ctx = tenant("a", Isolation::Rows);
    let mut work = source.begin(&ctx).await.expect("begins");
    let rows = vec![vec![WriteValue::Int(1), WriteValue::Text("b".into())]];
    let error = work
        .insert(InsertRequest {
            mapping,
            columns: &[0, 2],
            rows: &rows,
            returning: &[0],
        })
        .await
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("writes the tenant column `tenant_id`"),
        "{error}"
    );
}

/// A source as `role` through PgBouncer in transaction mode (started by `cargo xtask test`),
/// over a pool of two, statements sent unnamed.
async fn through_pgbouncer(role: &PgRole, schema: &SubgraphSchema) -> PostgresSource {
    let mut config = PostgresConfig::new(common::pgbouncer_url(role.name(), "postgres"));
    config.max_connections = 2;
    config.prepared_statements = false;
    PostgresSource::connect("pgbouncer", &config, schema)
        .await
        .expect("connects through PgBouncer")
}

/// Grants `role` the use of `schemas` and their tables.
async fn grant(role: &PgRole, schemas: &[&str]) {
    let mut sql = String::new();
    for schema in schemas {
        sql.push_str(&format!(
            "GRANT USAGE ON SCHEMA \"{schema}\" TO \"{0}\";
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{0}\";",
            role.name()
        ));
    }
    common::pg_admin()
        .await
        .batch_execute(&sql)
        .await
        .expect("grants");
}

#[tokio::test]
async fn postgres_schemas_keep_tenants_apart_behind_pgbouncer() {
    let schema = schema();
    let role = PgRole::create("").await;
    // The template, named as the role: PgBouncer drops `options`, and `"$user"` leads the
    // default search_path.
    let template = PgSchema::create_named(role.name(), PG_USERS).await;
    let a = PgSchema::create(&pg_tenant_ddl("a")).await;
    let b = PgSchema::create(&pg_tenant_ddl("b")).await;
    grant(&role, &[template.name(), a.name(), b.name()]).await;
    let source = through_pgbouncer(&role, &schema).await;
    keeps_schemas_apart(Arc::new(source), &schema, a.name(), b.name()).await;
}

#[tokio::test]
async fn postgres_row_level_security_keeps_tenants_apart_behind_pgbouncer() {
    let schema = schema();
    let role = PgRole::create("").await;
    let shared = PgSchema::create_named(role.name(), &rls_users(&schema)).await;
    grant(&role, &[shared.name()]).await;
    let source = through_pgbouncer(&role, &schema).await;
    keeps_rows_apart_by_row_level_security(source, &schema).await;
}
