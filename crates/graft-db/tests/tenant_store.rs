//! The tenant store and tenant lifecycle against the real databases: tenants created with their
//! schema migrated, found by id and by API key, suspended, destroyed with every other tenant's
//! rows counted before and after; migrations resumed after a failure, dry runs, and two runs
//! on one target at once.

mod common;

use common::{MyDatabase, PgSchema, unique_name};
use graft_db::mysql::{MysqlConfig, MysqlDriver, MysqlSource};
use graft_db::postgres::{PgDriver, PostgresConfig, PostgresSource};
use graft_db::sqlite::{SqliteConfig, SqliteDriver, SqliteSource};
use graft_db::tenants::{Migration, SqlTenantStore};
use graft_resolve::{
    ApiKeyHash, Isolation, SchemaName, TenantId, TenantRecord, TenantStatus, TenantStore,
};
use graft_schema::SubgraphSchema;

const SDL: &str = r#"
type User @key(fields: "id") @table(name: "users") { id: ID! name: String! }
type Order @key(fields: "id") @table(name: "orders") { id: ID! userId: Int! user: User @belongsTo(fields: "userId") }
"#;

fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "0001_users.sql",
            "CREATE TABLE users (tenant_id VARCHAR(63) NOT NULL DEFAULT '', id INT NOT NULL,
               name VARCHAR(64) NOT NULL, PRIMARY KEY (tenant_id, id));"
                .into(),
        )
        .expect("valid"),
        Migration::new(
            "0002_orders.sql",
            "CREATE TABLE orders (tenant_id VARCHAR(63) NOT NULL DEFAULT '', id INT NOT NULL,
               user_id INT NOT NULL, PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id));"
                .into(),
        )
        .expect("valid"),
    ]
}

fn schema() -> SubgraphSchema {
    SubgraphSchema::parse(SDL, "store.graphql").expect("valid schema")
}

fn id(s: &str) -> TenantId {
    TenantId::new(s).expect("valid")
}

/// Runs SQL and counts rows in one backend, outside graft.
trait Admin {
    async fn exec(&self, sql: &str);
    async fn count(&self, sql: &str) -> i64;
    /// The schema (PostgreSQL) or database (MariaDB) it runs in.
    fn name(&self) -> &str;
}

struct Pg(String);

impl Admin for Pg {
    fn name(&self) -> &str {
        &self.0
    }

    async fn exec(&self, sql: &str) {
        let client = common::pg_admin().await;
        client
            .batch_execute(&format!("SET search_path TO \"{}\"; {sql}", self.0))
            .await
            .expect("runs");
    }

    async fn count(&self, sql: &str) -> i64 {
        let client = common::pg_admin().await;
        client
            .batch_execute(&format!("SET search_path TO \"{}\"", self.0))
            .await
            .expect("sets the path");
        client.query_one(sql, &[]).await.expect("counts").get(0)
    }
}

struct My(String);

impl Admin for My {
    fn name(&self) -> &str {
        &self.0
    }

    async fn exec(&self, sql: &str) {
        use mysql_async::prelude::Queryable;
        let mut conn = common::mysql_admin().await;
        conn.query_drop(format!("USE `{}`; {sql}", self.0))
            .await
            .expect("runs");
        let _ = conn.disconnect().await;
    }

    async fn count(&self, sql: &str) -> i64 {
        use mysql_async::prelude::Queryable;
        let mut conn = common::mysql_admin().await;
        conn.query_drop(format!("USE `{}`", self.0))
            .await
            .expect("uses");
        let count: Option<i64> = conn.query_first(sql).await.expect("counts");
        let _ = conn.disconnect().await;
        count.expect("a row")
    }
}

/// A SQLite file, by URL: opened afresh for each call, since a tenant's file may be removed
/// and made again at the same path.
struct Lite(String);

impl Lite {
    async fn pool(&self) -> sqlx::SqlitePool {
        use std::str::FromStr as _;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.0)
            .expect("a URL")
            .create_if_missing(true);
        sqlx::SqlitePool::connect_with(options)
            .await
            .expect("opens")
    }
}

impl Admin for Lite {
    /// The file's name without `.db`: a tenant of that schema would have this very file.
    fn name(&self) -> &str {
        let file = self.0.rsplit('/').next().unwrap_or_default();
        file.strip_suffix(".db").unwrap_or(file)
    }

    async fn exec(&self, sql: &str) {
        let pool = self.pool().await;
        sqlx::raw_sql(sql).execute(&pool).await.expect("runs");
        pool.close().await;
    }

    async fn count(&self, sql: &str) -> i64 {
        let pool = self.pool().await;
        let count = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("counts");
        pool.close().await;
        count
    }
}

/// The lifecycle on one backend: tenants `a` and `b` share the database's own tables; with
/// `schemas`, tenant `s` has a schema of its own, called `schema_name`.
async fn lifecycle<D: graft_db::Driver>(
    store: &SqlTenantStore<D>,
    shared: &impl Admin,
    schema_tenant: Option<(SchemaName, &impl Admin)>,
    promotes: bool,
) where
    D::Dialect: graft_db::tenants::TenantSql,
{
    store.install().await.expect("installs");
    store.install().await.expect("installs again, harmlessly");
    let migrated = store
        .migrate(None, &migrations(), false)
        .await
        .expect("migrates the shared tables");
    assert_eq!(migrated.applied, ["0001_users", "0002_orders"]);

    for tenant in ["a", "b"] {
        let mut record = TenantRecord::active(id(tenant), Isolation::Rows);
        record.slug = Some(format!("Tenant {tenant}"));
        store.create(&record, &migrations()).await.expect("creates");
        shared
            .exec(&format!(
                "INSERT INTO users VALUES ('{tenant}', 1, '{tenant} one'), ('{tenant}', 2, '{tenant} two');
                 INSERT INTO orders VALUES ('{tenant}', 1, 1), ('{tenant}', 2, 1);"
            ))
            .await;
    }
    let duplicate = store
        .create(
            &TenantRecord::active(id("a"), Isolation::Rows),
            &migrations(),
        )
        .await;
    assert!(
        duplicate
            .expect_err("exists")
            .to_string()
            .contains("exists")
    );
    store
        .add_api_key(&id("b"), &ApiKeyHash::of("b's key"), None)
        .await
        .expect("adds a key");
    let scopes = ["Order:create".to_owned(), "*:read".to_owned()];
    store
        .add_api_key(&id("b"), &ApiKeyHash::of("b's reader"), Some(&scopes))
        .await
        .expect("adds a key with scopes");

    if let Some((schema_name, own)) = &schema_tenant {
        let record = TenantRecord::active(id("s"), Isolation::Schema(schema_name.clone()));
        let migrated = store.create(&record, &migrations()).await.expect("creates");
        assert_eq!(migrated.applied.len(), 2, "its schema is migrated");
        own.exec("INSERT INTO users VALUES ('', 1, 's one');").await;
        let taken = TenantRecord::active(id("t"), Isolation::Schema(schema_name.clone()));
        let refused = store.create(&taken, &migrations()).await;
        assert!(
            refused
                .expect_err("taken")
                .to_string()
                .contains("belongs to another tenant"),
            "a schema is one tenant's"
        );
        // Never the shared schema, where the store and the shared tables live, nor the
        // database's own: destroying the tenant would drop it.
        // (SQLite has no schemas of its own: `information_schema` is just a file there.)
        let reserved: &[&str] = if shared.name() == "main" {
            &["main"]
        } else {
            &["information_schema", shared.name()]
        };
        for &reserved in reserved {
            let record = TenantRecord::active(
                id("r"),
                Isolation::Schema(SchemaName::new(reserved).expect("valid")),
            );
            let refused = store.create(&record, &migrations()).await;
            let message = refused.expect_err("reserved").to_string();
            assert!(message.contains("of its own"), "{reserved}: {message}");
        }
        assert!(store.get(&id("r")).await.expect("answers").is_none());
        // A record naming one anyway (written by hand, or before the check) is not destroyed.
        shared
            .exec(&format!(
                "INSERT INTO graft_tenants (id, status, isolation, schema_name) \
                 VALUES ('r', 'active', 'schema', '{}')",
                reserved[0]
            ))
            .await;
        let refused = store.destroy(&id("r"), &schema()).await;
        let message = refused.expect_err("reserved").to_string();
        assert!(message.contains("of its own"), "{message}");
        shared
            .exec("DELETE FROM graft_tenants WHERE id = 'r'")
            .await;
    }

    // Found by id and by key, through the trait the server uses.
    let b = store.tenant(&id("b")).await.expect("answers").expect("b");
    assert_eq!(
        (b.slug.as_deref(), b.isolation),
        (Some("Tenant b"), Isolation::Rows)
    );
    let by_key = store
        .tenant_by_api_key(&ApiKeyHash::of("b's key"))
        .await
        .expect("answers");
    let by_key = by_key.expect("b's key");
    assert_eq!((by_key.tenant.id, by_key.scopes), (id("b"), None));
    let reader = store
        .tenant_by_api_key(&ApiKeyHash::of("b's reader"))
        .await
        .expect("answers")
        .expect("b's reader");
    assert_eq!(reader.scopes.as_deref(), Some(&scopes[..]));
    assert_eq!(store.tenant(&id("zzz")).await.expect("answers"), None);
    assert!(
        store
            .set_status(&id("b"), TenantStatus::Suspended)
            .await
            .expect("sets")
    );
    assert_eq!(
        store
            .tenant(&id("b"))
            .await
            .expect("answers")
            .map(|r| r.status),
        Some(TenantStatus::Suspended)
    );
    assert!(
        !store
            .set_status(&id("zzz"), TenantStatus::Active)
            .await
            .expect("answers")
    );
    let listed: Vec<String> = store
        .list()
        .await
        .expect("lists")
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    let expected: &[&str] = if schema_tenant.is_some() {
        &["a", "b", "s"]
    } else {
        &["a", "b"]
    };
    assert_eq!(listed, expected);

    // Destroying a removes a's rows, children first, and nothing else.
    let others = "SELECT (SELECT count(*) FROM users WHERE tenant_id <> 'a') \
                  + (SELECT count(*) FROM orders WHERE tenant_id <> 'a')";
    let before = shared.count(others).await;
    assert_eq!(before, 4);
    assert!(store.destroy(&id("a"), &schema()).await.expect("destroys"));
    assert_eq!(shared.count(others).await, before, "b's rows are untouched");
    assert_eq!(
        shared
            .count("SELECT (SELECT count(*) FROM users WHERE tenant_id = 'a') + (SELECT count(*) FROM orders WHERE tenant_id = 'a')")
            .await,
        0
    );
    assert_eq!(store.tenant(&id("a")).await.expect("answers"), None);
    assert!(!store.destroy(&id("a"), &schema()).await.expect("answers"));
    if let Some((schema_name, own)) = &schema_tenant {
        assert!(store.destroy(&id("s"), &schema()).await.expect("destroys"));
        assert_eq!(
            shared.count(others).await,
            before,
            "a schema's drop touches no shared row"
        );

        // b grows: promoted to a schema of its own (the one s had), its rows moved; where
        // schemas are files (SQLite), refused.
        let promoted = store
            .promote(&id("b"), schema_name, &schema(), &migrations())
            .await;
        if !promotes {
            let error = promoted.expect_err("no promotion between files");
            assert!(
                error.to_string().contains("cannot be promoted here"),
                "{error}"
            );
        } else {
            promoted.expect("promotes");
            let b_rows = "SELECT (SELECT count(*) FROM users WHERE tenant_id = 'b') \
                          + (SELECT count(*) FROM orders WHERE tenant_id = 'b')";
            assert_eq!(shared.count(b_rows).await, 0, "no row of b is left shared");
            assert_eq!(own.count(b_rows).await, 4, "b's rows are in its schema");
            assert_eq!(
                store
                    .tenant(&id("b"))
                    .await
                    .expect("answers")
                    .map(|r| r.isolation),
                Some(Isolation::Schema(schema_name.clone()))
            );
        }
    }
    // The key went with its tenant only.
    assert!(store.destroy(&id("b"), &schema()).await.expect("destroys"));
    assert_eq!(
        store
            .tenant_by_api_key(&ApiKeyHash::of("b's key"))
            .await
            .expect("answers"),
        None
    );
}

/// Migrations resume after a failure, a dry run changes nothing, and two runs at once apply
/// each migration once.
async fn migrations_resume<D: graft_db::Driver>(
    store: &SqlTenantStore<D>,
    target: Option<&SchemaName>,
) where
    D::Dialect: graft_db::tenants::TenantSql,
{
    let mut broken = migrations();
    broken.push(
        Migration::new("0003_broken.sql", "CREATE TABLE no_such_syntax (".into()).expect("valid"),
    );
    broken.push(
        Migration::new(
            "0004_later.sql",
            "CREATE TABLE later (id INT PRIMARY KEY);".into(),
        )
        .expect("valid"),
    );
    let dry = store
        .migrate(target, &broken, true)
        .await
        .expect("a dry run");
    assert!(
        dry.applied
            .ends_with(&["0003_broken".to_owned(), "0004_later".to_owned()])
    );
    let dry_again = store
        .migrate(target, &broken, true)
        .await
        .expect("a dry run");
    assert_eq!(dry_again, dry, "a dry run applies nothing");
    let error = store
        .migrate(target, &broken, false)
        .await
        .expect_err("0003 fails");
    assert!(error.to_string().contains("0003_broken"), "{error}");
    let mut fixed = migrations();
    fixed.push(
        Migration::new(
            "0003_broken.sql",
            "CREATE TABLE fixed (id INT PRIMARY KEY);".into(),
        )
        .expect("valid"),
    );
    fixed.push(
        Migration::new(
            "0004_later.sql",
            "CREATE TABLE later (id INT PRIMARY KEY);".into(),
        )
        .expect("valid"),
    );
    let (one, two) = futures_util::future::join(
        store.migrate(target, &fixed, false),
        store.migrate(target, &fixed, false),
    )
    .await;
    let (one, two) = (one.expect("migrates"), two.expect("migrates"));
    let mut applied = [one.applied, two.applied].concat();
    applied.sort();
    applied.retain(|name| name.as_str() > "0002");
    assert_eq!(
        applied,
        ["0003_broken", "0004_later"],
        "each applied once, by one run"
    );
    let again = store
        .migrate(target, &fixed, false)
        .await
        .expect("migrates");
    assert_eq!((again.applied.len(), again.up_to_date), (0, 4));
}

#[tokio::test]
async fn postgres_tenants_live_and_die_alone() {
    let control = PgSchema::create("").await;
    let source = PostgresSource::connect(
        "pg",
        &PostgresConfig::new(control.url()),
        &schema().with_mappings(|_| false),
    )
    .await
    .expect("connects");
    let store: SqlTenantStore<PgDriver> = SqlTenantStore::new(source, Some("tenant_id".into()));
    let own = unique_name("graft_test");
    lifecycle(
        &store,
        &Pg(control.name().to_owned()),
        Some((SchemaName::new(&own).expect("valid"), &Pg(own.clone()))),
        true,
    )
    .await;
    let own_schema = PgSchema::create("").await;
    let target = SchemaName::new(own_schema.name()).expect("valid");
    migrations_resume(&store, Some(&target)).await;
}

#[tokio::test]
async fn mariadb_tenants_live_and_die_alone() {
    let control = MyDatabase::create("").await;
    let source = MysqlSource::connect(
        "mysql",
        &MysqlConfig::new(control.url()),
        &schema().with_mappings(|_| false),
    )
    .await
    .expect("connects");
    let store: SqlTenantStore<MysqlDriver> = SqlTenantStore::new(source, Some("tenant_id".into()));
    let own = unique_name("graft_test");
    lifecycle(
        &store,
        &My(control.name().to_owned()),
        Some((SchemaName::new(&own).expect("valid"), &My(own.clone()))),
        true,
    )
    .await;
    migrations_resume(&store, None).await;
}

#[tokio::test]
async fn sqlite_tenants_live_and_die_alone() {
    let dir = std::env::temp_dir().join(unique_name("store"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let url = format!("sqlite://{}/main.db", dir.display());
    let mut config = SqliteConfig::new(url.clone());
    config.tenant_files = Some(format!("sqlite://{}/{{schema}}.db", dir.display()));
    let source = SqliteSource::connect("sqlite", &config)
        .await
        .expect("opens");
    let store: SqlTenantStore<SqliteDriver> = SqlTenantStore::new(source, Some("tenant_id".into()));
    // The tenant's file, which graft creates and removes.
    let own = unique_name("graft_test");
    let own_file = Lite(format!("sqlite://{}/{own}.db", dir.display()));
    lifecycle(
        &store,
        &Lite(url),
        Some((SchemaName::new(&own).expect("valid"), &own_file)),
        false,
    )
    .await;
    migrations_resume(&store, None).await;

    // Files named without an extension: a schema naming the shared file's journal is refused
    // too (a `..` in the template's directory resolves to the same place).
    let mut config = SqliteConfig::new(format!("sqlite://{}/bare", dir.display()));
    config.tenant_files = Some(format!(
        "sqlite://{}/../{}/{{schema}}",
        dir.display(),
        dir.file_name().expect("a name").to_string_lossy()
    ));
    let source = SqliteSource::connect("sqlite", &config)
        .await
        .expect("opens");
    let bare: SqlTenantStore<SqliteDriver> = SqlTenantStore::new(source, Some("tenant_id".into()));
    bare.install().await.expect("installs");
    for schema in ["bare", "bare-wal", "bare-journal"] {
        let record = TenantRecord::active(
            id("j"),
            Isolation::Schema(SchemaName::new(schema).expect("valid")),
        );
        let message = bare
            .create(&record, &migrations())
            .await
            .expect_err("refused")
            .to_string();
        assert!(message.contains("of its own"), "{schema}: {message}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A migration whose future is dropped part way (its admin client went away) leaves nothing on
/// the pool's one connection: no tenant's `search_path`, no open transaction, no lock. The
/// store's next statement, which names its table unqualified, finds it.
#[tokio::test]
async fn a_cancelled_migration_leaves_no_session_state_in_the_pool() {
    let control = PgSchema::create("").await;
    let mut config = PostgresConfig::new(control.url());
    config.max_connections = 1;
    let source = PostgresSource::connect("pg", &config, &schema().with_mappings(|_| false))
        .await
        .expect("connects");
    let store: SqlTenantStore<PgDriver> = SqlTenantStore::new(source, Some("tenant_id".into()));
    store.install().await.expect("installs");
    let own_schema = PgSchema::create("").await;
    let target = SchemaName::new(own_schema.name()).expect("valid");
    let migrations = migrations();
    let mut cancelled = 0;
    // Dropped after 0, 100, 200, ... microseconds: somewhere in acquiring, locking, setting the
    // schema or migrating, until one run finishes.
    for delay in (0..200).map(|step| std::time::Duration::from_micros(step * 100)) {
        let run = store.migrate(Some(&target), &migrations, false);
        if tokio::time::timeout(delay, run).await.is_ok() {
            break;
        }
        cancelled += 1;
        store
            .list()
            .await
            .unwrap_or_else(|e| panic!("after a run dropped at {delay:?}: {e}"));
    }
    assert!(cancelled > 0, "no run was dropped part way");
    store
        .migrate(Some(&target), &migrations, false)
        .await
        .expect("migrates");
}
