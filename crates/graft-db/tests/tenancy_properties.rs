//! A property test of tenant isolation: random interleavings of two tenants' reads and writes
//! of the same keys, on tables they share (SQLite with a tenant column, PostgreSQL under
//! row-level security), each read checked against a model that keeps one map of rows per
//! tenant, while the other tenant reads at the same moment over a pool of two connections.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{PgRole, PgSchema, Seen, SqliteFile, key, seen_row, unique_name};
use graft_db::postgres::{PostgresConfig, PostgresSource, row_security_ddl};
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{
    DeleteRequest, EntitySource, FetchRequest, InsertRequest, Isolation, PageRequest,
    RequestContext, TenantId, UpdateRequest, WriteValue,
};
use graft_schema::SubgraphSchema;
use proptest::prelude::*;

const SDL: &str = r#"type User @key(fields: "id") @table(name: "users") { id: ID! name: String! }"#;
const KEYS: [i64; 3] = [1, 2, 3];
const TENANTS: [&str; 2] = ["a", "b"];

#[derive(Debug, Clone)]
enum Op {
    Fetch,
    Page,
    Insert(i64, u8),
    Update(i64, u8),
    Delete(i64),
}

fn op() -> impl Strategy<Value = (usize, Op)> {
    let key = proptest::sample::select(KEYS.to_vec());
    let op = prop_oneof![
        Just(Op::Fetch),
        Just(Op::Page),
        (key.clone(), any::<u8>()).prop_map(|(k, n)| Op::Insert(k, n)),
        (key.clone(), any::<u8>()).prop_map(|(k, n)| Op::Update(k, n)),
        key.prop_map(Op::Delete),
    ];
    (0..TENANTS.len(), op)
}

/// One tenant's rows, as the model has them.
type Rows = BTreeMap<i64, String>;

struct World {
    source: Arc<dyn EntitySource>,
    schema: SubgraphSchema,
}

impl World {
    fn ctx(&self, tenant: usize) -> RequestContext {
        RequestContext::new("prop").for_tenant(
            TenantId::new(TENANTS[tenant]).expect("valid"),
            Isolation::Rows,
        )
    }

    /// Every key's name as tenant `tenant` sees it by key.
    async fn fetch(&self, tenant: usize) -> Rows {
        let keys: Vec<EntityKey> = KEYS
            .iter()
            .map(|k| key("User", vec![KeyValue::Int(*k)]))
            .collect();
        let refs: Vec<&EntityKey> = keys.iter().collect();
        let mapping = self.schema.mapping("User").expect("mapped");
        let rows = self
            .source
            .fetch(
                &self.ctx(tenant),
                FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[0, 1]),
            )
            .await
            .expect("fetches");
        collect(&rows)
    }

    /// Every row tenant `tenant` sees, paging.
    async fn page(&self, tenant: usize) -> Rows {
        let mapping = self.schema.mapping("User").expect("mapped");
        let rows = self
            .source
            .page(
                &self.ctx(tenant),
                PageRequest {
                    mapping,
                    key_columns: &mapping.key_columns[0],
                    after: None,
                    limit: 100,
                    columns: &[0, 1],
                },
            )
            .await
            .expect("pages");
        collect(&rows)
    }

    /// Applies a write as `tenant`; whether it changed a row.
    async fn write(&self, tenant: usize, op: &Op) -> bool {
        let mapping = self.schema.mapping("User").expect("mapped");
        let mut work = self.source.begin(&self.ctx(tenant)).await.expect("begins");
        let outcome = match op {
            Op::Insert(k, n) => {
                let rows = vec![vec![
                    WriteValue::Int(*k),
                    WriteValue::Text(name(tenant, *n)),
                ]];
                work.insert(InsertRequest {
                    mapping,
                    columns: &[0, 1],
                    rows: &rows,
                    returning: &[0],
                })
                .await
                .map(|rows| rows.row_count() == 1)
            }
            Op::Update(k, n) => {
                let key = key("User", vec![KeyValue::Int(*k)]);
                work.update(UpdateRequest {
                    mapping,
                    match_columns: &mapping.key_columns[0],
                    key: &key,
                    set: &[(1, WriteValue::Text(name(tenant, *n)))],
                    returning: &[0],
                })
                .await
                .map(|rows| rows.row_count() == 1)
            }
            Op::Delete(k) => {
                let key = key("User", vec![KeyValue::Int(*k)]);
                work.delete(DeleteRequest {
                    mapping,
                    match_columns: &mapping.key_columns[0],
                    key: &key,
                    returning: &[0],
                })
                .await
                .map(|rows| rows.row_count() == 1)
            }
            Op::Fetch | Op::Page => unreachable!("reads are not writes"),
        };
        match outcome {
            Ok(changed) => {
                work.commit().await.expect("commits");
                changed
            }
            // An insert of a key the tenant has: a unique violation, rolled back.
            Err(_) => {
                work.rollback().await.expect("rolls back");
                false
            }
        }
    }
}

fn key_of(op: &Op) -> &i64 {
    match op {
        Op::Insert(k, _) | Op::Update(k, _) | Op::Delete(k) => k,
        Op::Fetch | Op::Page => unreachable!("reads have no key"),
    }
}

fn name(tenant: usize, n: u8) -> String {
    format!("{} {n}", TENANTS[tenant])
}

fn collect(rows: &graft_resolve::RowSet) -> Rows {
    (0..rows.len())
        .flat_map(|position| rows.rows_of(position))
        .map(|row| match seen_row(rows, row).as_slice() {
            [Seen::Int(id), Seen::Text(name)] => (*id, name.clone()),
            other => panic!("a user row, not {other:?}"),
        })
        .collect()
}

/// Runs `ops` against `world` and the model; every read, and the other tenant's read at the
/// same moment, must see exactly the model's rows of its own tenant.
async fn check(world: &World, ops: &[(usize, Op)]) -> Result<(), TestCaseError> {
    let mut model: [Rows; 2] = Default::default();
    for (tenant, op) in ops {
        let tenant = *tenant;
        let other = 1 - tenant;
        match op {
            Op::Fetch | Op::Page => {
                let (mine, theirs) = match op {
                    Op::Fetch => {
                        futures_util::future::join(world.fetch(tenant), world.fetch(other)).await
                    }
                    _ => futures_util::future::join(world.page(tenant), world.page(other)).await,
                };
                prop_assert_eq!(&mine, &model[tenant]);
                prop_assert_eq!(&theirs, &model[other]);
            }
            write => {
                let (changed, theirs) =
                    futures_util::future::join(world.write(tenant, write), world.fetch(other))
                        .await;
                prop_assert_eq!(&theirs, &model[other], "the other tenant, during a write");
                let rows = &mut model[tenant];
                let expected = match write {
                    // A key the tenant has: the insert fails and changes nothing.
                    Op::Insert(_, _) if rows.contains_key(key_of(write)) => false,
                    Op::Insert(k, n) => rows.insert(*k, name(tenant, *n)).is_none(),
                    Op::Update(k, n) => match rows.get_mut(k) {
                        Some(row) => {
                            *row = name(tenant, *n);
                            true
                        }
                        None => false,
                    },
                    Op::Delete(k) => rows.remove(k).is_some(),
                    Op::Fetch | Op::Page => unreachable!(),
                };
                prop_assert_eq!(changed, expected, "{:?} as {}", write, TENANTS[tenant]);
            }
        }
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn sqlite_tenant_column_keeps_random_interleavings_apart() {
    let runtime = runtime();
    let file = SqliteFile(std::env::temp_dir().join(format!("{}.db", unique_name("prop"))));
    let url = format!("sqlite://{}", file.0.display());
    let (world, admin) = runtime.block_on(async {
        // The admin source has no tenant column: it sees (and cleans) every tenant's rows.
        let admin = SqliteSource::connect("admin", &SqliteConfig::new(url.clone()))
            .await
            .expect("opens");
        admin
            .run_script(
                "ddl",
                "CREATE TABLE users (tenant_id TEXT NOT NULL, id INTEGER NOT NULL,
                   name TEXT NOT NULL, PRIMARY KEY (tenant_id, id));",
            )
            .await
            .expect("ddl");
        let mut config = SqliteConfig::new(url.clone());
        config.max_connections = 2;
        config.tenant_column = Some("tenant_id".to_owned());
        let source = SqliteSource::connect("sqlite", &config)
            .await
            .expect("opens");
        let world = World {
            source: Arc::new(source),
            schema: SubgraphSchema::parse(SDL, "prop.graphql").expect("valid"),
        };
        (world, admin)
    });
    proptest!(config(), |(ops in proptest::collection::vec(op(), 1..40))| {
        runtime.block_on(async {
            admin.run_script("clean", "DELETE FROM users").await.expect("cleans");
            check(&world, &ops).await
        })?;
    });
}

#[test]
fn postgres_row_level_security_keeps_random_interleavings_apart() {
    let runtime = runtime();
    let schema = SubgraphSchema::parse(SDL, "prop.graphql").expect("valid");
    let (world, shared, _role) = runtime.block_on(async {
        let mapping = schema.mapping("User").expect("mapped");
        let shared = PgSchema::create(&format!(
            "CREATE TABLE users (tenant_id text NOT NULL, id int NOT NULL, name text NOT NULL,
               PRIMARY KEY (tenant_id, id)); {}",
            row_security_ddl(mapping, "tenant_id")
        ))
        .await;
        let role = PgRole::create(&format!(
            "GRANT USAGE ON SCHEMA \"{0}\" TO {{role}}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{0}\" TO {{role}};",
            shared.name()
        ))
        .await;
        let mut config = PostgresConfig::new(role.url(shared.name()));
        config.max_connections = 2;
        let source = PostgresSource::connect("pg", &config, &schema)
            .await
            .expect("connects");
        let world = World {
            source: Arc::new(source),
            schema: schema.clone(),
        };
        (world, shared, role)
    });
    proptest!(config(), |(ops in proptest::collection::vec(op(), 1..40))| {
        runtime.block_on(async {
            common::pg_admin()
                .await
                .batch_execute(&format!("DELETE FROM \"{}\".users", shared.name()))
                .await
                .expect("cleans");
            check(&world, &ops).await
        })?;
    });
}
