//! The PostgreSQL source against the machine's PostgreSQL 15, each test in a schema of its own.

mod common;

use std::sync::Arc;

use common::{PgSchema, Seen, key, s, seen};
use graft_db::postgres::{PostgresConfig, PostgresSource};
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{EntitySource, FetchRequest, RequestContext, ResolveError, SourceErrorKind};
use graft_schema::SubgraphSchema;

const DDL: &str = r#"
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE org_users (
    org_id varchar(64) NOT NULL, user_id text NOT NULL, name text NOT NULL, email text,
    small smallint, big bigint, score double precision, price numeric(12, 2), active boolean,
    uid uuid, born date, seen_at timestamptz, tags text[], meta jsonb, feeling mood,
    PRIMARY KEY (org_id, user_id)
);
INSERT INTO org_users VALUES
  ('org-1', 'u1', 'Ada', 'ada@example.org', 1, 9007199254740993, 1.5, 12.50, true,
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1815-12-10', '2026-01-02 09:00:00+00', ARRAY['x', 'y'], '{"k": [1, 2]}', 'happy'),
  ('org-2', 'u1', 'Grace', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('o#1', 'u:2', 'Zoë "Z" Ünal', '', -5, -1, -0.25, 0.00, false, NULL, NULL, NULL, '{}', 'null', 'sad'),
  ('', '', 'empty keys', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL);
INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 1000) AS i;
ANALYZE;
"#;

const SDL: &str = r#"
scalar JSON
scalar UUID
enum Mood { happy sad }
type OrgUser @key(fields: "orgId userId") @table(name: "org_users") {
  orgId: String! userId: String! name: String! email: String small: Int big: String score: Float
  price: Float active: Boolean uid: UUID born: String seenAt: String tags: JSON meta: JSON feeling: Mood
}
type Item @key(fields: "id") @table(name: "items") { id: ID! label: String! }
"#;

async fn source(schema_db: &PgSchema, schema: &SubgraphSchema) -> PostgresSource {
    PostgresSource::connect("pg", &PostgresConfig::new(schema_db.url()), schema)
        .await
        .expect("connects")
}

fn all_columns(schema: &SubgraphSchema, type_name: &str) -> Vec<usize> {
    (0..schema.mapping(type_name).expect("mapped").columns.len()).collect()
}

#[tokio::test]
async fn one_statement_answers_composite_keys_in_order_with_every_type() {
    let db = PgSchema::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "pg.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let keys = [
        key("OrgUser", vec![s("org-2"), s("u1")]),
        key("OrgUser", vec![s("nope"), s("u1")]),
        key("OrgUser", vec![s("o#1"), s("u:2")]),
        key("OrgUser", vec![s("org-1"), s("u1")]),
        key("OrgUser", vec![s(""), s("")]),
    ];
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let columns = all_columns(&schema, "OrgUser");
    let mapping = schema.mapping("OrgUser").expect("mapped");
    let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &columns);
    let (ctx, stats) = common::counted();
    let rows = source.fetch(&ctx, request).await.expect("fetches");
    assert_eq!(stats.statements(), 1);
    assert!(seen(&rows, 1).is_none(), "a missing key has no row");
    let text = |t: &str| Seen::Text(t.to_owned());
    assert_eq!(
        seen(&rows, 3).expect("org-1/u1"),
        vec![
            text("org-1"),
            text("u1"),
            text("Ada"),
            text("ada@example.org"),
            Seen::Int(1),
            Seen::Int(9_007_199_254_740_993),
            Seen::Float(1.5),
            text("12.50"),
            Seen::Bool(true),
            text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            text("1815-12-10"),
            text("2026-01-02T09:00:00+00:00"),
            Seen::Json(r#"["x","y"]"#.to_owned()),
            Seen::Json(r#"{"k": [1, 2]}"#.to_owned()),
            text("happy"),
        ]
    );
    let grace = seen(&rows, 0).expect("org-2/u1");
    assert_eq!(grace[2], text("Grace"));
    assert!(
        grace[3..].iter().all(|cell| *cell == Seen::Null),
        "{grace:?}"
    );
    let zoe = seen(&rows, 2).expect("delimiters in keys");
    assert_eq!(
        (&zoe[2], &zoe[3], &zoe[13]),
        (
            &text("Zoë \"Z\" Ünal"),
            &text(""),
            &Seen::Json("null".to_owned())
        )
    );
    assert_eq!(
        seen(&rows, 4).expect("empty-string keys")[2],
        text("empty keys")
    );
}

#[tokio::test]
async fn integer_keys_skip_values_that_cannot_be_integers_and_use_the_index() {
    // Enough rows that an index scan is the planner's choice, as in production tables.
    let db =
        PgSchema::create(&DDL.replace("generate_series(1, 1000)", "generate_series(1, 200000)"))
            .await;
    let schema = SubgraphSchema::parse(SDL, "pg.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let mut keys: Vec<EntityKey> = (1..=100)
        .map(|i| key("Item", vec![s(&(i * 7).to_string())]))
        .collect();
    keys.push(key("Item", vec![s("abc")]));
    keys.push(key("Item", vec![KeyValue::Int(5_000_000)]));
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let mapping = schema.mapping("Item").expect("mapped");
    let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[1]);
    let rows = source
        .fetch(&RequestContext::new("t"), request)
        .await
        .expect("fetches");
    assert_eq!(seen(&rows, 0), Some(vec![Seen::Text("item 7".to_owned())]));
    assert_eq!(
        seen(&rows, 99),
        Some(vec![Seen::Text("item 700".to_owned())])
    );
    assert!(seen(&rows, 100).is_none() && seen(&rows, 101).is_none());
    assert!(seen(&rows, 150).is_none() && seen(&rows, 142).is_none());
    let plan = source
        .query_plan(request)
        .await
        .expect("explains")
        .join("\n");
    assert!(plan.contains("Index Scan using items_pkey"), "{plan}");
}

#[tokio::test]
async fn a_missing_table_or_column_stops_start_up_with_its_name() {
    let db = PgSchema::create(DDL).await;
    let no_table = SubgraphSchema::parse(
        r#"type A @key(fields: "id") @table(name: "nowhere") { id: ID! }"#,
        "a.graphql",
    )
    .unwrap();
    let error = PostgresSource::connect("pg", &PostgresConfig::new(db.url()), &no_table)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "type A: table `nowhere` not found in the current schema"
    );
    let no_column = SubgraphSchema::parse(
        r#"type Item @key(fields: "id") @table(name: "items") { id: ID! colour: String }"#,
        "i.graphql",
    )
    .unwrap();
    let error = PostgresSource::connect("pg", &PostgresConfig::new(db.url()), &no_column)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(error, "type Item: table `items` has no column `colour`");
}

/// The items schema on a fresh database, served by a source with `max_connections` pooled.
async fn pooled_source(
    max_connections: usize,
) -> (PgSchema, Arc<SubgraphSchema>, Arc<PostgresSource>) {
    let db = PgSchema::create(DDL).await;
    let schema = Arc::new(SubgraphSchema::parse(SDL, "pg.graphql").expect("valid schema"));
    let mut config = PostgresConfig::new(db.url());
    config.max_connections = max_connections;
    let source = Arc::new(
        PostgresSource::connect("pg", &config, &schema)
            .await
            .expect("connects"),
    );
    (db, schema, source)
}

#[tokio::test]
async fn past_sixteen_waiters_per_connection_a_fetch_fails_at_once_as_busy() {
    let (_db, schema, source) = pooled_source(1).await;
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let (source, schema) = (source.clone(), schema.clone());
            tokio::spawn(async move {
                let keys = [key("Item", vec![KeyValue::Int(i + 1)])];
                let refs: Vec<&EntityKey> = keys.iter().collect();
                let mapping = schema.mapping("Item").expect("mapped");
                let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[1]);
                source
                    .fetch(&RequestContext::new("t"), request)
                    .await
                    .map(drop)
            })
        })
        .collect();
    let (mut answered, mut busy) = (0, 0);
    for task in tasks {
        match task.await.expect("the task finishes") {
            Ok(()) => answered += 1,
            Err(ResolveError::Source {
                kind: SourceErrorKind::Busy,
                ..
            }) => busy += 1,
            Err(other) => panic!("only busy is expected: {other}"),
        }
    }
    assert!(
        busy > 0 && answered >= 16,
        "{answered} answered, {busy} busy"
    );
    let status = source.status();
    assert_eq!((status.in_use, status.waiters), (0, 0), "{status:?}");
}

#[tokio::test]
async fn ten_times_the_pool_in_concurrent_fetches_all_finish_and_return_every_connection() {
    let (_db, schema, source) = pooled_source(3).await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (source, schema) = (source.clone(), schema.clone());
            tokio::spawn(async move {
                let keys = [key("Item", vec![KeyValue::Int(i + 1)])];
                let refs: Vec<&EntityKey> = keys.iter().collect();
                let mapping = schema.mapping("Item").expect("mapped");
                let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[1]);
                let rows = source
                    .fetch(&RequestContext::new("t"), request)
                    .await
                    .expect("fetches");
                assert_eq!(
                    seen(&rows, 0),
                    Some(vec![Seen::Text(format!("item {}", i + 1))])
                );
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the task finishes");
    }
    let status = source.status();
    assert_eq!(
        (status.max_size, status.in_use, status.waiters),
        (3, 0, 0),
        "{status:?}"
    );
    assert!(status.size <= 3 && status.acquired >= 30, "{status:?}");
}

#[tokio::test]
async fn the_next_request_succeeds_after_the_server_kills_the_connections() {
    let db = PgSchema::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "pg.graphql").expect("valid schema");
    // A name of its own, so that only this test's connections are killed.
    let application = common::unique_name("graft_kill");
    let url = format!("{}&application_name={application}", db.url());
    let source = PostgresSource::connect("pg", &PostgresConfig::new(url), &schema)
        .await
        .expect("connects");
    let fetch = || async {
        let keys = [key("Item", vec![KeyValue::Int(1)])];
        let refs: Vec<&EntityKey> = keys.iter().collect();
        let mapping = schema.mapping("Item").expect("mapped");
        let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[1]);
        source
            .fetch(&RequestContext::new("t"), request)
            .await
            .map(|rows| seen(&rows, 0))
    };
    assert!(fetch().await.expect("first fetch").is_some());
    let admin = common::pg_admin().await;
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&application],
        )
        .await
        .expect("terminates");
    assert!(!killed.is_empty());
    assert!(
        fetch()
            .await
            .expect("the fetch after the kill succeeds")
            .is_some()
    );
}

#[tokio::test]
async fn keys_that_are_no_valid_uuid_are_not_sent_and_do_not_fail_the_group() {
    let db = PgSchema::create(
        "CREATE TABLE devices (id uuid PRIMARY KEY, label text NOT NULL);
         INSERT INTO devices VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'lamp');",
    )
    .await;
    let schema = SubgraphSchema::parse(
        r#"type Device @key(fields: "id") @table(name: "devices") { id: ID! label: String! }"#,
        "d.graphql",
    )
    .expect("valid schema");
    let source = source(&db, &schema).await;
    let keys = [
        key("Device", vec![s("not-a-uuid")]),
        key("Device", vec![s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]),
        key("Device", vec![s("00000000-0000-0000-0000-000000000000")]),
    ];
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let mapping = schema.mapping("Device").expect("mapped");
    let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[1]);
    let rows = source
        .fetch(&RequestContext::new("t"), request)
        .await
        .expect("the group still resolves");
    assert!(seen(&rows, 0).is_none() && seen(&rows, 2).is_none());
    assert_eq!(seen(&rows, 1), Some(vec![Seen::Text("lamp".to_owned())]));
}

#[tokio::test]
async fn describe_tables_feeds_a_starter_schema_with_relations_that_graft_serves() {
    let db = PgSchema::create(include_str!("../../../examples/orgs/postgres/schema.sql")).await;
    let tables = PostgresSource::describe_tables(&db.url())
        .await
        .expect("describes");
    let order = tables.iter().find(|t| t.name == "orders").expect("orders");
    assert_eq!(order.primary_key, ["id"]);
    assert_eq!(order.foreign_keys[0].references_table, "org_users");
    let sdl = graft_schema::starter_sdl(&tables);
    assert!(
        sdl.contains("orgUser: OrgUser! @belongsTo(fields: \"orgId userId\")"),
        "{sdl}"
    );
    assert!(
        sdl.contains("orders: [Order!]! @hasMany(fields: \"orgId userId\")"),
        "{sdl}"
    );
    let schema = SubgraphSchema::parse(&sdl, "starter.graphql").expect("valid starter schema");
    PostgresSource::connect("pg", &PostgresConfig::new(db.url()), &schema)
        .await
        .expect("graft serves it");
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error_that_says_why() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port();
    let schema = SubgraphSchema::parse(SDL, "pg.graphql").expect("valid schema");
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let error = PostgresSource::connect("pg", &PostgresConfig::new(url.clone()), &schema)
        .await
        .expect_err("nothing listens");
    assert_eq!(error.kind(), graft_resolve::SourceErrorKind::Connection);
    // tokio-postgres keeps the reason in the error's source; the message must carry it.
    let message = error.to_string();
    assert!(
        message.contains("error connecting to server") && message.contains("refused"),
        "{message}"
    );
    let error = PostgresSource::setup_if_empty(&url, &[], std::time::Duration::from_secs(5))
        .await
        .expect_err("nothing listens");
    assert!(error.to_string().contains("refused"), "{error}");
}

#[tokio::test]
async fn setup_against_a_server_that_never_answers_times_out() {
    // Accepts connections and never says a word, like a hung server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound");
    let port = listener.local_addr().expect("address").port();
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let scripts = [("schema.sql".to_owned(), "SELECT 1".to_owned())];
    let started = std::time::Instant::now();
    let error =
        PostgresSource::setup_if_empty(&url, &scripts, std::time::Duration::from_millis(300))
            .await
            .expect_err("nothing answers");
    assert_eq!(
        error.kind(),
        graft_resolve::SourceErrorKind::Timeout,
        "{error}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    held.abort();
}
