//! SQL building: the statement text graft sends for a group, per database, for 1, 100 and
//! 1,000 keys. The text does not grow with the keys (one parameter or one array per key column),
//! so the figures should be flat.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_db::postgres::{PostgresConfig, PostgresSource};
use graft_db::sqlite::SqliteSource;
use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::FetchRequest;
use graft_schema::SubgraphSchema;
use graft_testkit::{MyDatabase, PgSchema};

fn keys(n: usize) -> Vec<EntityKey> {
    (0..n)
        .map(|i| {
            EntityKey::new(
                Name::new("OrgUser").expect("a name"),
                KeyIndex(0),
                vec![
                    KeyValue::String(format!("org-{}", i % 100).into()),
                    KeyValue::String(format!("u{i}").into()),
                ],
            )
        })
        .collect()
}

fn sql_building(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let schema = SubgraphSchema::parse(
        include_str!("../../../examples/orgs/schema.graphql"),
        "schema.graphql",
    )
    .expect("the example schema");
    let mapping = schema.mapping("OrgUser").expect("mapped");
    let columns: Vec<usize> = ["orgId", "userId", "name", "email"]
        .iter()
        .map(|f| mapping.column_index(f).expect("a column"))
        .collect();
    let (sqlite, postgres, _pg_schema, mysql, _my_database) = runtime.block_on(async {
        let sqlite = SqliteSource::in_memory("bench")
            .await
            .expect("SQLite opens");
        let pg_schema =
            PgSchema::create(include_str!("../../../examples/orgs/postgres/schema.sql")).await;
        let postgres =
            PostgresSource::connect("bench", &PostgresConfig::new(pg_schema.url()), &schema)
                .await
                .expect("PostgreSQL");
        let my_database =
            MyDatabase::create(include_str!("../../../examples/orgs/mysql/schema.sql")).await;
        let mysql = MysqlSource::connect("bench", &MysqlConfig::new(my_database.url()), &schema)
            .await
            .expect("MariaDB");
        (sqlite, postgres, pg_schema, mysql, my_database)
    });
    let mut group = c.benchmark_group("statement_sql");
    for n in [1, 100, 1_000] {
        let keys = keys(n);
        let refs: Vec<&EntityKey> = keys.iter().collect();
        let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &columns);
        group.bench_with_input(BenchmarkId::new("sqlite", n), &request, |b, r| {
            b.iter(|| sqlite.statement_sql(black_box(*r)))
        });
        group.bench_with_input(BenchmarkId::new("postgres", n), &request, |b, r| {
            b.iter(|| postgres.statement_sql(black_box(*r)).expect("mapped"))
        });
        group.bench_with_input(BenchmarkId::new("mysql", n), &request, |b, r| {
            b.iter(|| mysql.statement_sql(black_box(*r)).expect("mapped"))
        });
    }
    group.finish();
}

criterion_group!(benches, sql_building);
criterion_main!(benches);
