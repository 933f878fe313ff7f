//! The SQLite source against a real (in-memory) SQLite database: one statement per group, rows
//! in key order, missing keys empty, awkward values intact, and a primary-key search per key.

mod common;

use graft_db::sqlite::SqliteSource;
use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{Cell, EntitySource, FetchRequest, RowSet};
use graft_schema::SubgraphSchema;

const SDL: &str = r#"
type OrgUser @key(fields: "orgId userId") @table(name: "org_users") {
  orgId: String! userId: String! name: String! email: String score: Int
}
"#;

async fn source() -> SqliteSource {
    let source = SqliteSource::in_memory(format!("test-{}", std::process::id()))
        .await
        .expect("opens");
    source
        .run_script(
            "setup",
            "CREATE TABLE org_users (org_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, email TEXT, \
             score INTEGER, PRIMARY KEY (org_id, user_id)) WITHOUT ROWID;
             INSERT INTO org_users VALUES ('org-1', 'u1', 'Ada', 'ada@example.org', 7),
               ('org-2', 'u1', 'Grace', NULL, NULL),
               ('o#1', 'u:2', 'Zoë \"Z\" Ünal', '', -5),
               ('', '', 'empty keys', NULL, 9007199254740993);",
        )
        .await
        .expect("setup runs");
    source
}

fn key(org: &str, user: &str) -> EntityKey {
    EntityKey::new(
        Name::new("OrgUser").expect("a name"),
        KeyIndex(0),
        vec![KeyValue::String(org.into()), KeyValue::String(user.into())],
    )
}

fn text(rows: &RowSet, cell: Cell) -> Option<String> {
    match cell {
        Cell::Text { start, len } => Some(rows.text(start, len).to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn one_statement_returns_rows_in_key_order_and_nothing_for_missing_keys() {
    let source = source().await;
    let schema = SubgraphSchema::parse(SDL, "t.graphql").expect("valid schema");
    let mapping = schema.mapping("OrgUser").expect("mapped");
    let keys = [
        key("org-2", "u1"),
        key("nope", "u1"),
        key("o#1", "u:2"),
        key("org-1", "u1"),
        key("", ""),
    ];
    let key_refs: Vec<&EntityKey> = keys.iter().collect();
    let request = FetchRequest::by_key(mapping, KeyIndex(0), &key_refs, &[2, 3, 4]);
    let (ctx, stats) = common::counted();
    let rows = source.fetch(&ctx, request).await.expect("fetches");
    assert_eq!(stats.statements(), 1);
    assert_eq!(rows.len(), 5);
    let row = rows.get(0).expect("org-2/u1 exists");
    assert_eq!(text(&rows, row[0]).as_deref(), Some("Grace"));
    assert_eq!(row[1], Cell::Null);
    assert!(rows.get(1).is_none(), "missing key has no row");
    let row = rows.get(2).expect("delimiters in keys are fine");
    assert_eq!(text(&rows, row[0]).as_deref(), Some("Zoë \"Z\" Ünal"));
    assert_eq!(text(&rows, row[1]).as_deref(), Some(""));
    assert_eq!(row[2], Cell::Int(-5));
    assert_eq!(
        text(&rows, rows.get(3).expect("org-1/u1")[0]).as_deref(),
        Some("Ada")
    );
    assert_eq!(
        rows.get(4).expect("empty-string keys")[2],
        Cell::Int(9_007_199_254_740_993)
    );
}

#[tokio::test]
async fn each_key_is_a_primary_key_search() {
    let source = source().await;
    let schema = SubgraphSchema::parse(SDL, "t.graphql").expect("valid schema");
    let mapping = schema.mapping("OrgUser").expect("mapped");
    let keys: Vec<EntityKey> = (0..100).map(|i| key(&format!("org-{i}"), "u1")).collect();
    let key_refs: Vec<&EntityKey> = keys.iter().collect();
    let request = FetchRequest::by_key(mapping, KeyIndex(0), &key_refs, &[2]);
    let plan = source.query_plan(request).await.expect("explains");
    assert!(
        plan.iter()
            .any(|step| step.contains("SEARCH t USING PRIMARY KEY (org_id=? AND user_id=?)")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|step| step.starts_with("SCAN t")),
        "{plan:?}"
    );
}

#[tokio::test]
async fn describe_tables_finds_keys_and_foreign_keys() {
    let source = SqliteSource::in_memory("describe").await.expect("opens");
    source
        .run_script(
            "schema",
            include_str!("../../../examples/orgs/sqlite/schema.sql"),
        )
        .await
        .expect("runs");
    let tables = source.describe_tables().await.expect("describes");
    let order = tables.iter().find(|t| t.name == "orders").expect("orders");
    assert_eq!(order.primary_key, ["id"]);
    assert_eq!(order.foreign_keys[0].columns, ["org_id", "user_id"]);
    assert_eq!(
        order.foreign_keys[0].references_columns,
        ["org_id", "user_id"]
    );
    let sdl = graft_schema::starter_sdl(&tables);
    assert!(
        sdl.contains("orders: [Order!]! @hasMany(fields: \"orgId userId\")"),
        "{sdl}"
    );
    SubgraphSchema::parse(&sdl, "starter.graphql").expect("valid starter schema");
}

/// A fetch past the request's deadline fails as a timeout, and the connection it used serves
/// the next fetch: SQLite honours the deadline like the servers do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_past_its_deadline_is_a_timeout_and_the_source_still_answers() {
    let source = source().await;
    let schema = SubgraphSchema::parse(SDL, "t.graphql").expect("valid schema");
    let mapping = schema.mapping("OrgUser").expect("mapped");
    // Enough keys that the statement cannot finish within a millisecond.
    let keys: Vec<EntityKey> = (0..300_000)
        .map(|i| key(&format!("org-{i}"), "u1"))
        .collect();
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let request = FetchRequest::by_key(mapping, KeyIndex(0), &refs, &[2]);
    let ctx = graft_resolve::RequestContext {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_millis(1)),
        ..graft_resolve::RequestContext::new("t")
    };
    let error = source
        .fetch(&ctx, request)
        .await
        .expect_err("past the deadline");
    assert!(
        matches!(
            error,
            graft_resolve::ResolveError::Source {
                kind: graft_resolve::SourceErrorKind::Timeout,
                ..
            }
        ),
        "{error:?}"
    );
    let one = [&keys[0], &key("org-1", "u1")];
    let rows = source
        .fetch(
            &graft_resolve::RequestContext::new("t"),
            FetchRequest::by_key(mapping, KeyIndex(0), &one, &[2]),
        )
        .await
        .expect("the next fetch is answered");
    assert!(rows.get(0).is_none());
    let ada = rows.get(1).expect("org-1/u1");
    assert_eq!(text(&rows, ada[0]).as_deref(), Some("Ada"));
}
