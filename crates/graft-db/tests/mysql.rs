//! The MariaDB source against the machine's MariaDB 10.11, each test in a database of its own.

#![cfg(feature = "mysql")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::mysql::{DDL, SDL, busy_connections, source};
use common::{MyDatabase, Seen, key, s, seen};
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{EntitySource, FetchRequest, RequestContext};
use graft_schema::SubgraphSchema;
use mysql_async::prelude::Queryable;

fn all_columns(schema: &SubgraphSchema, type_name: &str) -> Vec<usize> {
    (0..schema.mapping(type_name).expect("mapped").columns.len()).collect()
}

#[tokio::test]
async fn one_statement_answers_composite_keys_in_order_with_every_type() {
    let db = MyDatabase::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
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
            text("18446744073709551615"),
            Seen::Float(1.5),
            Seen::Float(0.1),
            text("12.50"),
            Seen::Bool(true),
            text("1815-12-10"),
            text("2026-01-02T09:00:00"),
            text("2026-01-02T09:00:00+00:00"),
            text("-838:59:59"),
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
        zoe,
        vec![
            text("o#1"),
            text("u:2"),
            text("Zoë \"Z\" Ünal 😀"),
            text(""),
            Seen::Int(-5),
            Seen::Int(-1),
            Seen::Int(0),
            Seen::Float(-0.25),
            Seen::Float(-2.0),
            text("0.00"),
            Seen::Bool(false),
            Seen::Null,
            Seen::Null,
            Seen::Null,
            text("10:11:12"),
            Seen::Json("null".to_owned()),
            text("sad"),
        ]
    );
    assert_eq!(
        seen(&rows, 4).expect("empty-string keys")[2],
        text("empty keys")
    );
}

#[tokio::test]
async fn integer_keys_skip_values_that_cannot_be_integers_and_use_the_primary_key() {
    // Enough rows that the primary key is the optimizer's choice, as in production tables.
    let db = MyDatabase::create(&DDL.replace("seq_1_to_1000", "seq_1_to_200000")).await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let mut keys: Vec<EntityKey> = (1..=100)
        .map(|i| key("Item", vec![s(&(i * 7).to_string())]))
        .collect();
    keys.push(key("Item", vec![s("abc")]));
    keys.push(key("Item", vec![KeyValue::Int(5_000_000)]));
    keys.push(key("Item", vec![s("1.5")]));
    keys.push(key("Item", vec![s("99999999999999999999")]));
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let mapping = schema.mapping("Item").expect("mapped");
    let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[1]);
    let (ctx, stats) = common::counted();
    let rows = source.fetch(&ctx, request).await.expect("fetches");
    assert_eq!(stats.statements(), 1);
    assert_eq!(seen(&rows, 0), Some(vec![Seen::Text("item 7".to_owned())]));
    assert_eq!(
        seen(&rows, 99),
        Some(vec![Seen::Text("item 700".to_owned())])
    );
    assert!((100..=103).all(|i| seen(&rows, i).is_none()));
    let plan = source.query_plan(request).await.expect("explains");
    assert!(
        plan.iter().any(|line| line == "t eq_ref PRIMARY"),
        "{plan:?}"
    );
    assert!(
        source
            .statement_sql(request)
            .expect("the statement")
            .contains("JSON_TABLE(?, '$[*]' COLUMNS(ord FOR ORDINALITY, k0 bigint(20) PATH"),
    );
}

#[tokio::test]
async fn composite_string_keys_use_the_primary_key() {
    let db = MyDatabase::create(&format!(
        "{DDL} INSERT INTO org_users (org_id, user_id, name) \
         SELECT CONCAT('org-', seq DIV 100), CONCAT('x', seq MOD 100), 'n' FROM seq_1_to_20000; \
         ANALYZE TABLE org_users;"
    ))
    .await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let keys: Vec<EntityKey> = (1..=100)
        .map(|i| {
            key(
                "OrgUser",
                vec![s(&format!("org-{i}")), s(&format!("x{}", i % 100))],
            )
        })
        .collect();
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let request = FetchRequest::by_key(
        schema.mapping("OrgUser").expect("mapped"),
        KeyIndex(0),
        &refs,
        &[2],
    );
    let plan = source.query_plan(request).await.expect("explains");
    assert!(
        plan.iter().any(|line| line == "t eq_ref PRIMARY"),
        "{plan:?}"
    );
    let rows = source
        .fetch(&RequestContext::new("t"), request)
        .await
        .expect("fetches");
    assert!((0..100).all(|i| seen(&rows, i).is_some()));
}

#[tokio::test]
async fn keys_that_the_column_cannot_hold_are_not_sent_so_they_match_no_converted_row() {
    // JSON_TABLE would turn 5000000000 into 2147483647, "abc" into 0 and "two!" into "two".
    let db = MyDatabase::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let mapping = schema.mapping("SmallItem").expect("mapped");
    let fetch = |key_index: u16, values: Vec<KeyValue>| {
        let keys: Vec<EntityKey> = values
            .into_iter()
            .map(|v| {
                EntityKey::new(
                    graft_keys::apollo_compiler::Name::new("SmallItem").expect("a name"),
                    KeyIndex(key_index),
                    vec![v],
                )
            })
            .collect();
        let source = &source;
        async move {
            let refs: Vec<&EntityKey> = keys.iter().collect();
            let rows = source
                .fetch(
                    &RequestContext::new("t"),
                    FetchRequest::by_key(mapping, KeyIndex(key_index), &refs, &[1]),
                )
                .await
                .expect("fetches");
            (0..refs.len())
                .map(|i| seen(&rows, i).is_some())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        fetch(
            0,
            vec![
                KeyValue::Int(5_000_000_000),
                s("abc"),
                s("2147483647"),
                KeyValue::Int(2)
            ]
        )
        .await,
        vec![false, false, true, true]
    );
    assert_eq!(
        fetch(1, vec![s("two!"), s("two"), s("tw😀"), s("max")]).await,
        vec![false, true, false, true]
    );
}

#[tokio::test]
async fn a_missing_table_or_column_stops_start_up_with_its_name() {
    let db = MyDatabase::create(DDL).await;
    let no_table = SubgraphSchema::parse(
        r#"type A @key(fields: "id") @table(name: "nowhere") { id: ID! }"#,
        "a.graphql",
    )
    .unwrap();
    let error = MysqlSource::connect("my", &MysqlConfig::new(db.url()), &no_table)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "type A: table `nowhere` not found in the current database"
    );
    let no_column = SubgraphSchema::parse(
        r#"type Item @key(fields: "id") @table(name: "items") { id: ID! colour: String }"#,
        "i.graphql",
    )
    .unwrap();
    let error = MysqlSource::connect("my", &MysqlConfig::new(db.url()), &no_column)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(error, "type Item: table `items` has no column `colour`");
}

#[tokio::test]
async fn run_script_runs_every_statement_and_names_the_script_that_failed() {
    let db = MyDatabase::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    source
        .run_script(
            "seed",
            "INSERT INTO items VALUES (5001, 'a'); INSERT INTO items VALUES (5002, 'b');",
        )
        .await
        .expect("the script runs");
    let error = source
        .run_script("broken", "INSERT INTO items VALUES (5003, 'c'); SELEC 1;")
        .await
        .expect_err("the second statement fails")
        .to_string();
    assert!(
        error.starts_with("running broken: server error 1064"),
        "{error}"
    );
    let keys = [5001, 5002, 5003].map(|id| key("Item", vec![KeyValue::Int(id)]));
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let request = FetchRequest::by_key(
        schema.mapping("Item").expect("mapped"),
        KeyIndex(0),
        &refs,
        &[1],
    );
    let rows = source
        .fetch(&RequestContext::new("t"), request)
        .await
        .expect("fetches");
    assert!((0..3).all(|i| seen(&rows, i).is_some()));
}

#[tokio::test]
async fn binary_columns_and_unbindable_key_columns_stop_start_up_with_their_names() {
    let db = MyDatabase::create(
        "CREATE TABLE files (id int PRIMARY KEY, body blob, day date NOT NULL UNIQUE);",
    )
    .await;
    let blob = SubgraphSchema::parse(
        r#"type File @key(fields: "id") @table(name: "files") { id: ID! body: String }"#,
        "f.graphql",
    )
    .unwrap();
    let error = MysqlSource::connect("my", &MysqlConfig::new(db.url()), &blob)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("type File: column `body` of table `files` has type `blob`"),
        "{error}"
    );
    let date_key = SubgraphSchema::parse(
        r#"type File @key(fields: "day") @table(name: "files") { id: ID! day: String! }"#,
        "f.graphql",
    )
    .unwrap();
    let error = MysqlSource::connect("my", &MysqlConfig::new(db.url()), &date_key)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("type File: key column `day` of table `files` has type `date`"),
        "{error}"
    );
}

#[tokio::test]
async fn ten_times_the_pool_in_concurrent_fetches_all_finish_and_return_every_connection() {
    let db = MyDatabase::create(DDL).await;
    let schema = Arc::new(SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema"));
    let mut config = MysqlConfig::new(db.url());
    config.max_connections = 3;
    let source = Arc::new(
        MysqlSource::connect("my", &config, &schema)
            .await
            .expect("connects"),
    );
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
    let db = MyDatabase::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let mut config = MysqlConfig::new(db.url());
    config.max_connections = 3;
    let source = MysqlSource::connect("my", &config, &schema)
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
    // Open every connection of the pool, so that each one the pool hands out next is dead.
    let (a, b, c) = tokio::join!(fetch(), fetch(), fetch());
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    let mut admin = common::mysql_admin().await;
    // The database is this test's own, so only this test's connections are killed.
    let ids: Vec<u64> = admin
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
            (db.name().to_owned(),),
        )
        .await
        .expect("lists connections");
    assert!(!ids.is_empty());
    for id in ids {
        admin.query_drop(format!("KILL {id}")).await.expect("kills");
    }
    let _ = admin.disconnect().await;
    assert!(
        fetch()
            .await
            .expect("the fetch after the kill succeeds")
            .is_some()
    );
    assert!(fetch().await.expect("and the one after").is_some());
}

/// Fetches `SlowItem` 1, whose row takes the server two seconds to produce.
async fn fetch_slow(
    source: &MysqlSource,
    schema: &SubgraphSchema,
    ctx: &RequestContext,
) -> Result<Option<Vec<Seen>>, graft_resolve::ResolveError> {
    let keys = [key("SlowItem", vec![KeyValue::Int(1)])];
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let request = FetchRequest::by_key(
        schema.mapping("SlowItem").expect("mapped"),
        KeyIndex(0),
        &refs,
        &[1, 2],
    );
    source.fetch(ctx, request).await.map(|rows| seen(&rows, 0))
}

/// The ids of the connections using `db` that run a statement now.
#[tokio::test]
async fn a_connection_killed_during_a_fetch_is_retried_once_on_a_live_connection() {
    let db = MyDatabase::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let ctx = RequestContext::new("t");
    let killer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ids = busy_connections(&db).await;
        let mut admin = common::mysql_admin().await;
        for id in &ids {
            admin.query_drop(format!("KILL {id}")).await.expect("kills");
        }
        let _ = admin.disconnect().await;
        ids.len()
    };
    let (fetched, killed) = tokio::join!(fetch_slow(&source, &schema, &ctx), killer);
    assert_eq!(killed, 1, "the fetch's connection was busy");
    assert_eq!(
        fetched.expect("the retry succeeds"),
        Some(vec![Seen::Text("item 1".to_owned()), Seen::Int(0)])
    );
    let status = source.status();
    assert_eq!((status.acquired, status.in_use), (2, 0), "{status:?}");
}

#[tokio::test]
async fn a_fetch_past_its_deadline_fails_as_a_timeout_and_stops_its_statement() {
    let db = MyDatabase::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let mut ctx = RequestContext::new("t");
    ctx.deadline = Some(Instant::now() + Duration::from_millis(300));
    let started = Instant::now();
    let error = fetch_slow(&source, &schema, &ctx)
        .await
        .expect_err("the deadline passes");
    assert!(started.elapsed() < Duration::from_secs(1), "{error}");
    assert!(
        matches!(
            error,
            graft_resolve::ResolveError::Source {
                kind: graft_resolve::SourceErrorKind::Timeout,
                ..
            }
        ),
        "{error}"
    );
    // KILL QUERY runs in the background; the statement stops well before its two seconds.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(busy_connections(&db).await, Vec::<u64>::new());
    assert_eq!(source.status().in_use, 0);
    // The pool still answers.
    let keys = [key("Item", vec![KeyValue::Int(3)])];
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let rows = source
        .fetch(
            &RequestContext::new("t"),
            FetchRequest::by_key(
                schema.mapping("Item").expect("mapped"),
                KeyIndex(0),
                &refs,
                &[1],
            ),
        )
        .await
        .expect("fetches");
    assert_eq!(seen(&rows, 0), Some(vec![Seen::Text("item 3".to_owned())]));
}

#[tokio::test]
async fn less_common_types_read_as_the_type_table_says() {
    let db = MyDatabase::create(
        "CREATE TABLE odd (id int unsigned PRIMARY KEY, flags bit(5), born year, tags set('a', 'b'), \
           uid uuid, at6 datetime(6), stamp3 timestamp(3) NULL, notes longtext, doc json, \
           big_unsigned int unsigned, cost decimal(30, 10));
         INSERT INTO odd VALUES (4294967295, b'10101', 1999, 'a,b', \
           'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2026-01-02 09:00:00.123456', \
           '2026-01-02 09:00:00.5', '{\"not\": \"checked\"}', '[1, \"x\"]', 4000000000, \
           '12345678901234567890.0123456789');",
    )
    .await;
    let schema = SubgraphSchema::parse(
        r#"scalar JSON
        type Odd @key(fields: "id") @table(name: "odd") {
          id: ID! flags: Int born: Int tags: String uid: ID at6: String stamp3: String
          notes: JSON doc: JSON bigUnsigned: Float cost: String
        }"#,
        "odd.graphql",
    )
    .expect("valid schema");
    let source = source(&db, &schema).await;
    let keys = [key("Odd", vec![s("4294967295")])];
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let columns = all_columns(&schema, "Odd");
    let request = FetchRequest::by_key(
        schema.mapping("Odd").expect("mapped"),
        KeyIndex(0),
        &refs,
        &columns,
    );
    let rows = source
        .fetch(&RequestContext::new("t"), request)
        .await
        .expect("fetches");
    let text = |t: &str| Seen::Text(t.to_owned());
    assert_eq!(
        seen(&rows, 0).expect("the row"),
        vec![
            Seen::Int(4_294_967_295),
            Seen::Int(21),
            Seen::Int(1999),
            text("a,b"),
            text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            text("2026-01-02T09:00:00.123456"),
            text("2026-01-02T09:00:00.500000+00:00"),
            // A longtext without a json_valid check is text, even when it holds JSON.
            text(r#"{"not": "checked"}"#),
            Seen::Json(r#"[1, "x"]"#.to_owned()),
            Seen::Int(4_000_000_000),
            text("12345678901234567890.0123456789"),
        ]
    );
}

const ORGS_SCHEMA: &str = include_str!("../../../examples/orgs/mysql/schema.sql");
const ORGS_SEED: &str = include_str!("../../../examples/orgs/mysql/seed.sql");

fn orgs_scripts() -> Vec<(String, String)> {
    vec![
        ("schema.sql".to_owned(), ORGS_SCHEMA.to_owned()),
        ("seed.sql".to_owned(), ORGS_SEED.to_owned()),
    ]
}

async fn count(db: &MyDatabase, table: &str) -> u64 {
    let mut conn = mysql_async::Conn::from_url(db.url())
        .await
        .expect("connects");
    let count: Option<u64> = conn
        .query_first(format!("SELECT COUNT(*) FROM `{table}`"))
        .await
        .expect("counts");
    let _ = conn.disconnect().await;
    count.expect("one row")
}

#[tokio::test]
async fn setup_if_empty_runs_the_example_scripts_once() {
    let db = MyDatabase::create("DO 0").await;
    let scripts = orgs_scripts();
    assert!(
        MysqlSource::setup_if_empty(&db.url(), &scripts, std::time::Duration::from_secs(5))
            .await
            .expect("the scripts run")
    );
    assert_eq!(count(&db, "org_users").await, 1000);
    assert_eq!(count(&db, "orders").await, 5000);
    assert!(
        !MysqlSource::setup_if_empty(&db.url(), &scripts, std::time::Duration::from_secs(5))
            .await
            .expect("the tables are counted"),
        "the database has tables now"
    );
    assert_eq!(count(&db, "org_users").await, 1000);
    assert_eq!(count(&db, "orders").await, 5000);
}

#[tokio::test]
async fn a_failing_setup_script_is_named_in_the_error() {
    let db = MyDatabase::create("DO 0").await;
    let scripts = vec![
        (
            "ok.sql".to_owned(),
            "CREATE TABLE a (id int PRIMARY KEY);".to_owned(),
        ),
        (
            "broken.sql".to_owned(),
            // The second statement fails: every statement of a script is checked.
            "CREATE TABLE b (id int PRIMARY KEY); INSERT INTO missing VALUES (1);".to_owned(),
        ),
    ];
    let error = MysqlSource::setup_if_empty(&db.url(), &scripts, std::time::Duration::from_secs(5))
        .await
        .expect_err("the script fails");
    match &error {
        graft_db::DbError::Script { script, message } => {
            assert_eq!(script, "broken.sql");
            assert!(message.contains("missing"), "{message}");
        }
        other => panic!("not a script error: {other}"),
    }
    assert!(error.to_string().contains("broken.sql"), "{error}");
}

#[tokio::test]
async fn describe_tables_gives_a_starter_schema_for_the_example() {
    let db = MyDatabase::create("DO 0").await;
    MysqlSource::setup_if_empty(
        &db.url(),
        &orgs_scripts(),
        std::time::Duration::from_secs(5),
    )
    .await
    .expect("the scripts run");
    let tables = MysqlSource::describe_tables(&db.url())
        .await
        .expect("describes");
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["orders", "org_users"]);
    let column = |table: &str, column: &str| {
        tables
            .iter()
            .find(|t| t.name == table)
            .and_then(|t| t.columns.iter().find(|c| c.name == column))
            .cloned()
            .unwrap_or_else(|| panic!("{table}.{column} is described"))
    };
    let users = &tables[1];
    assert_eq!(users.primary_key, ["org_id", "user_id"]);
    let user_columns: Vec<&str> = users.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        user_columns,
        ["org_id", "user_id", "name", "email", "active", "created_at"]
    );
    assert_eq!(column("org_users", "org_id").graphql_type, "String");
    assert!(!column("org_users", "org_id").nullable);
    assert_eq!(column("org_users", "active").graphql_type, "Boolean");
    assert!(!column("org_users", "active").nullable);
    assert_eq!(column("org_users", "created_at").graphql_type, "DateTime");
    assert!(column("org_users", "created_at").nullable);
    assert!(column("org_users", "email").nullable);
    assert_eq!(tables[0].primary_key, ["id"]);
    assert_eq!(column("orders", "id").graphql_type, "ID");
    assert_eq!(column("orders", "total").graphql_type, "Decimal");
    assert_eq!(column("orders", "status").graphql_type, "String");
    let sdl = graft_schema::starter_sdl(&tables);
    let schema = SubgraphSchema::parse(&sdl, "starter.graphql")
        .unwrap_or_else(|e| panic!("the starter SDL parses: {e}\n{sdl}"));
    // The starter schema maps tables that the source can serve.
    MysqlSource::connect("my", &MysqlConfig::new(db.url()), &schema)
        .await
        .expect("the starter schema's tables and columns exist");
}

#[tokio::test]
async fn describe_tables_types_json_and_wide_integers_and_skips_views() {
    let db = MyDatabase::create(
        "CREATE TABLE things (id int unsigned PRIMARY KEY, doc json, notes longtext, \
           wide int unsigned, small smallint unsigned, big bigint, ratio double, \
           flag tinyint(1), level tinyint);
         CREATE TABLE log (at datetime, line text);
         CREATE VIEW thing_ids AS SELECT id FROM things;",
    )
    .await;
    let tables = MysqlSource::describe_tables(&db.url())
        .await
        .expect("describes");
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["log", "things"], "views are not tables");
    assert!(tables[0].primary_key.is_empty());
    let types: Vec<(&str, &str)> = tables[1]
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.graphql_type.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("id", "ID"),
            ("doc", "JSON"),
            ("notes", "String"),
            ("wide", "String"),
            ("small", "Int"),
            ("big", "String"),
            ("ratio", "Float"),
            ("flag", "Boolean"),
            ("level", "Int"),
        ]
    );
    let sdl = graft_schema::starter_sdl(&tables);
    SubgraphSchema::parse(&sdl, "starter.graphql")
        .unwrap_or_else(|e| panic!("the starter SDL parses: {e}\n{sdl}"));
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
    let url = format!("mysql://root@127.0.0.1:{port}/none");
    let scripts = [("schema.sql".to_owned(), "SELECT 1".to_owned())];
    let started = std::time::Instant::now();
    let error = MysqlSource::setup_if_empty(&url, &scripts, std::time::Duration::from_millis(300))
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
