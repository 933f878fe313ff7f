//! Pages through the MariaDB source against the machine's MariaDB, each test in a database of
//! its own: every row once in key order, cursors the columns cannot hold refused, a range scan of
//! the key's index, and the deadline.

mod common;

use std::time::{Duration, Instant};

use common::mysql::{DDL, SDL, busy_connections, source};
use common::{MyDatabase, Seen, key, s};
use graft_db::mysql::MysqlSource;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{
    EntitySource, PageRequest, RequestContext, ResolveError, RowSet, SourceErrorKind,
};
use graft_schema::SubgraphSchema;

const PAGED_DDL: &str = "
CREATE TABLE members (
    team varchar(16) NOT NULL, handle varchar(16) NOT NULL, score int NOT NULL,
    PRIMARY KEY (team, handle)
);
INSERT INTO members SELECT CONCAT('team-', seq MOD 5), CONCAT('h', seq), seq FROM seq_1_to_50;
CREATE TABLE numbers (n int PRIMARY KEY, label text NOT NULL);
INSERT INTO numbers SELECT 100 - CAST(seq AS SIGNED) * 3, CONCAT('n', seq) FROM seq_1_to_50;
";

const PAGED_SDL: &str = r#"
type Member @key(fields: "team handle") @table(name: "members") {
  team: String! handle: String! score: Int!
}
type Number @key(fields: "n") @table(name: "numbers") { n: ID! label: String! }
"#;

/// The rows of a page (all at position 0), in order, as comparable values.
fn page_rows(rows: &RowSet) -> Vec<Vec<Seen>> {
    assert_eq!(rows.len(), 1, "a page has one position");
    let rows_of: Vec<u32> = rows.rows_of(0).collect();
    assert_eq!(
        rows_of.len(),
        rows.row_count(),
        "every row is at position 0"
    );
    rows_of
        .into_iter()
        .map(|row| common::seen_row(rows, row))
        .collect()
}

/// One page of `type_name` in the order of its first key, after `after`.
async fn page(
    source: &MysqlSource,
    schema: &SubgraphSchema,
    ctx: &RequestContext,
    type_name: &str,
    after: Option<&EntityKey>,
    limit: usize,
    columns: &[usize],
) -> Result<Vec<Vec<Seen>>, ResolveError> {
    let mapping = schema.mapping(type_name).expect("mapped");
    let request = PageRequest {
        mapping,
        key_columns: mapping.key_columns(KeyIndex(0)),
        after,
        limit,
        columns,
    };
    let stats = std::sync::Arc::new(graft_resolve::RequestStats::default());
    let rows = source
        .page(&ctx.observed_by(stats.clone()), request)
        .await?;
    assert_eq!(stats.statements(), 1);
    Ok(page_rows(&rows))
}

#[tokio::test]
async fn pages_of_a_composite_string_key_see_every_row_once_in_key_order() {
    let db = MyDatabase::create(PAGED_DDL).await;
    let schema = SubgraphSchema::parse(PAGED_SDL, "paged.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let ctx = RequestContext::new("t");
    // score, team, handle: the cursor comes from the last two cells of a page's last row.
    let columns = [2, 0, 1];
    let mut seen_rows: Vec<Vec<Seen>> = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<EntityKey> = None;
    loop {
        let rows = page(
            &source,
            &schema,
            &ctx,
            "Member",
            after.as_ref(),
            7,
            &columns,
        )
        .await
        .expect("pages");
        sizes.push(rows.len());
        let Some(last) = rows.last() else { break };
        let values = last[1..]
            .iter()
            .map(|cell| match cell {
                Seen::Text(text) => s(text),
                other => panic!("a key cell is text, not {other:?}"),
            })
            .collect::<Vec<_>>();
        after = Some(key("Member", values));
        let short = rows.len() < 7;
        seen_rows.extend(rows);
        if short {
            break;
        }
    }
    assert_eq!(sizes, [7, 7, 7, 7, 7, 7, 7, 1], "the last page is short");
    let mut expected: Vec<(String, String, i64)> = (1..=50)
        .map(|i| (format!("team-{}", i % 5), format!("h{i}"), i))
        .collect();
    expected.sort();
    let expected: Vec<Vec<Seen>> = expected
        .into_iter()
        .map(|(team, handle, score)| vec![Seen::Int(score), Seen::Text(team), Seen::Text(handle)])
        .collect();
    assert_eq!(seen_rows, expected, "every row once, in key order");
    let past_the_end = key("Member", vec![s("team-9"), s("")]);
    assert_eq!(
        page(
            &source,
            &schema,
            &ctx,
            "Member",
            Some(&past_the_end),
            7,
            &columns
        )
        .await
        .expect("pages"),
        Vec::<Vec<Seen>>::new()
    );
    let last = key("Member", vec![s("team-4"), s("h9")]);
    assert!(
        page(&source, &schema, &ctx, "Member", Some(&last), 7, &columns)
            .await
            .expect("pages")
            .is_empty(),
        "nothing follows the last row"
    );
    // A cursor inside a team continues with that team's next handle.
    let inside = key("Member", vec![s("team-0"), s("h20")]);
    assert_eq!(
        page(&source, &schema, &ctx, "Member", Some(&inside), 2, &[1])
            .await
            .expect("pages"),
        vec![
            vec![Seen::Text("h25".to_owned())],
            vec![Seen::Text("h30".to_owned())]
        ]
    );
    let forged = key(
        "Member",
        vec![s("team-0"), s("a handle that is far too long")],
    );
    let error = page(&source, &schema, &ctx, "Member", Some(&forged), 7, &columns)
        .await
        .expect_err("the cursor is refused");
    assert!(
        matches!(
            &error,
            ResolveError::Source { kind: SourceErrorKind::Query, message, .. }
                if message.contains("`handle` cannot be a value of that column (varchar(16))")
        ),
        "{error}"
    );
}

#[tokio::test]
async fn pages_of_an_integer_key_follow_numeric_order_and_refuse_forged_cursors() {
    let db = MyDatabase::create(PAGED_DDL).await;
    let schema = SubgraphSchema::parse(PAGED_SDL, "paged.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let ctx = RequestContext::new("t");
    let mut numbers = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<EntityKey> = None;
    loop {
        let rows = page(
            &source,
            &schema,
            &ctx,
            "Number",
            after.as_ref(),
            20,
            &[0, 1],
        )
        .await
        .expect("pages");
        sizes.push(rows.len());
        let Some(last) = rows.last() else { break };
        let Seen::Int(n) = last[0] else {
            panic!("n is an integer: {last:?}")
        };
        // IDs arrive as strings in representations; a cursor may carry either.
        after = Some(key("Number", vec![s(&n.to_string())]));
        for row in &rows {
            let (Seen::Int(n), Seen::Text(label)) = (&row[0], &row[1]) else {
                panic!("an integer and a label: {row:?}")
            };
            assert_eq!(*label, format!("n{}", (100 - n) / 3));
            numbers.push(*n);
        }
        if rows.len() < 20 {
            break;
        }
    }
    assert_eq!(sizes, [20, 20, 10]);
    let expected: Vec<i64> = (1..=50).rev().map(|i| 100 - i * 3).collect();
    assert_eq!(numbers, expected, "numeric order, negative numbers first");
    let after_minus_two = key("Number", vec![KeyValue::Int(-2)]);
    assert_eq!(
        page(
            &source,
            &schema,
            &ctx,
            "Number",
            Some(&after_minus_two),
            2,
            &[0]
        )
        .await
        .expect("pages"),
        vec![vec![Seen::Int(1)], vec![Seen::Int(4)]]
    );
    let past_the_end = key("Number", vec![KeyValue::Int(97)]);
    assert!(
        page(
            &source,
            &schema,
            &ctx,
            "Number",
            Some(&past_the_end),
            20,
            &[0]
        )
        .await
        .expect("pages")
        .is_empty()
    );
    for forged in [s("abc"), KeyValue::Int(5_000_000_000), s("1.5")] {
        let forged = key("Number", vec![forged]);
        let error = page(&source, &schema, &ctx, "Number", Some(&forged), 20, &[0])
            .await
            .expect_err("the cursor is refused");
        assert!(
            matches!(
                &error,
                ResolveError::Source { kind: SourceErrorKind::Query, message, .. }
                    if message.contains("key column `n` cannot be a value of that column")
            ),
            "{error}"
        );
    }
}

/// The plan of a page of 50 `type_name`s in the order of its first key, reading `column`.
async fn page_plan(
    source: &MysqlSource,
    schema: &SubgraphSchema,
    type_name: &str,
    after: Option<&EntityKey>,
    column: usize,
) -> Vec<String> {
    let mapping = schema.mapping(type_name).expect("mapped");
    let request = PageRequest {
        mapping,
        key_columns: mapping.key_columns(KeyIndex(0)),
        after,
        limit: 50,
        columns: &[column],
    };
    source.page_plan(request).await.expect("explains")
}

#[tokio::test]
async fn a_page_after_a_cursor_is_a_range_scan_of_the_primary_key_without_a_sort() {
    let db = MyDatabase::create(&format!(
        "{} INSERT INTO org_users (org_id, user_id, name) \
         SELECT CONCAT('org-', seq DIV 100), CONCAT('x', seq MOD 100), 'n' FROM seq_1_to_20000; \
         ANALYZE TABLE org_users;",
        DDL.replace("seq_1_to_1000", "seq_1_to_200000")
    ))
    .await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let cursor = key("OrgUser", vec![s("org-50"), s("x7")]);
    let composite = page_plan(&source, &schema, "OrgUser", Some(&cursor), 2).await;
    assert_eq!(composite, ["t range PRIMARY Using where"]);
    let cursor = key("Item", vec![KeyValue::Int(100_000)]);
    let integer = page_plan(&source, &schema, "Item", Some(&cursor), 1).await;
    assert_eq!(integer, ["t range PRIMARY Using where"]);
    // The first page reads the primary key's index from its start, in order.
    let first = page_plan(&source, &schema, "OrgUser", None, 2).await;
    assert_eq!(first, ["t index PRIMARY"]);
}

#[tokio::test]
async fn a_page_past_its_deadline_fails_as_a_timeout() {
    let db = MyDatabase::create(DDL).await;
    let schema = SubgraphSchema::parse(SDL, "my.graphql").expect("valid schema");
    let source = source(&db, &schema).await;
    let mut ctx = RequestContext::new("t");
    ctx.deadline = Some(Instant::now() + Duration::from_millis(300));
    let started = Instant::now();
    // SlowItem 1 comes first and takes the server two seconds to produce.
    let error = page(&source, &schema, &ctx, "SlowItem", None, 5, &[1, 2])
        .await
        .expect_err("the deadline passes");
    assert!(started.elapsed() < Duration::from_secs(1), "{error}");
    assert!(
        matches!(
            error,
            ResolveError::Source {
                kind: SourceErrorKind::Timeout,
                ..
            }
        ),
        "{error}"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(busy_connections(&db).await, Vec::<u64>::new());
    let after = key("SlowItem", vec![KeyValue::Int(1)]);
    assert_eq!(
        page(
            &source,
            &schema,
            &RequestContext::new("t"),
            "SlowItem",
            Some(&after),
            2,
            &[1]
        )
        .await
        .expect("the pool still answers"),
        vec![
            vec![Seen::Text("item 2".to_owned())],
            vec![Seen::Text("item 3".to_owned())]
        ]
    );
}
