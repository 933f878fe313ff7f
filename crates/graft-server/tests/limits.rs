//! Bounded cost: the hostile queries of issue 10, each refused before any SQL or stopped by the
//! request's budget, on the embedded demo and on PostgreSQL, with the error each gives.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{first_error_code, graphql, start};
use graft_resolve::{EngineConfig, LimitMode, RequestLimits};
use graft_server::HttpLimits;
use serde_json::{Value, json};

/// The demo with `limits`.
async fn demo_with(limits: RequestLimits) -> SocketAddr {
    start(
        HttpLimits::default(),
        EngineConfig {
            limits,
            ..EngineConfig::default()
        },
    )
    .await
}

/// `order(id: "1") { user { orders { user { orders ... } } } }`, `levels` times `orders`.
fn relation_cycle(levels: usize) -> String {
    let mut query = String::from("{ order(id: \"1\") { id ");
    for _ in 0..levels {
        query.push_str("user { name orders { id ");
    }
    for _ in 0..levels {
        query.push_str("} } ");
    }
    query.push_str("} }");
    query
}

fn orders(count: usize) -> Value {
    (1..=count)
        .map(|i| json!({ "__typename": "Order", "id": i.to_string() }))
        .collect()
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or("<none>")
}

fn statements(body: &Value) -> u64 {
    body["extensions"]["graft"]["batch"]["statements"]
        .as_u64()
        .expect("debug statistics")
}

#[tokio::test]
async fn a_relation_cycle_is_refused_by_depth_and_by_estimated_cost() {
    let address = demo_with(RequestLimits::default()).await;
    let reply = graphql(address, json!({ "query": relation_cycle(12) })).await;
    assert_eq!(first_error_code(&reply.body), "MAX_DEPTH_EXCEEDED");
    assert_eq!(reply.body["errors"][0]["extensions"]["found"], 26);
    assert_eq!(reply.body["errors"][0]["extensions"]["max"], 12);
    assert!(message(&reply.body).contains("26 levels deep, over the limit of 12"));
    assert!(reply.body.get("data").is_none(), "refused before execution");

    // Seven levels fit the depth; for 1,000 orders the estimate is over the default cost.
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id \
        user { orders { user { orders { user { orders { id } } } } } } } } }";
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": orders(1_000) } }),
    )
    .await;
    assert_eq!(
        first_error_code(&reply.body),
        "COST_ESTIMATED_TOO_EXPENSIVE"
    );
    // 1,000 × (1 + 1 + 10 × (1 + 1 + 10 × (1 + 1 + 10 × 1)))
    assert_eq!(reply.body["errors"][0]["extensions"]["found"], 1_222_000);
    assert_eq!(reply.body["errors"][0]["extensions"]["limit"], "max_cost");
    // The same for 10 orders fits, and runs at one statement per level.
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": orders(10) } }),
    )
    .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(statements(&reply.body), 7);
    assert_eq!(
        reply.body["extensions"]["graft"]["cost"]["estimated"],
        12_220
    );
}

/// A multi-row create is estimated for every entity it writes, before anything is written.
#[tokio::test]
async fn a_multi_row_create_is_estimated_per_input_before_any_write() {
    let address = demo_with(RequestLimits::default()).await;
    let query = "mutation($inputs: [CreateOrderInput!]!) { createOrders(inputs: $inputs) { id \
        user { orders { user { orders { user { orders { id } } } } } } } }";
    let inputs: Vec<Value> = (0..1_000)
        .map(|i| json!({ "id": 800_000 + i, "orgId": "org-1", "userId": "u1", "total": 1, "status": "x" }))
        .collect();
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "inputs": inputs } }),
    )
    .await;
    assert_eq!(
        first_error_code(&reply.body),
        "COST_ESTIMATED_TOO_EXPENSIVE"
    );
    // 1,000 × the selection's 1,222, as for 1,000 `_entities` above.
    assert_eq!(reply.body["errors"][0]["extensions"]["found"], 1_222_000);
    let written = graphql(address, json!({ "query": "{ order(id: 800000) { id } }" })).await;
    assert_eq!(
        written.body["data"]["order"],
        Value::Null,
        "nothing was written"
    );
}

#[tokio::test]
async fn measure_mode_reports_and_the_response_budget_stops_the_writer() {
    let address = demo_with(RequestLimits {
        mode: LimitMode::Measure,
        max_response_bytes: 2 * 1024 * 1024,
        ..RequestLimits::default()
    })
    .await;
    // Each level multiplies the response by five: twelve would be gigabytes.
    let reply = graphql(address, json!({ "query": relation_cycle(12) })).await;
    assert_eq!(first_error_code(&reply.body), "MAX_RESPONSE_BYTES_EXCEEDED");
    assert_eq!(
        reply.body["errors"][0]["extensions"]["max"],
        2 * 1024 * 1024
    );
    assert!(reply.body.get("data").is_none());
    // Under the budget, measure mode answers and reports what it would have refused.
    let reply = graphql(address, json!({ "query": relation_cycle(6) })).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(
        reply.body["extensions"]["graft"]["cost"]["overLimits"],
        json!(["MAX_DEPTH_EXCEEDED", "COST_ESTIMATED_TOO_EXPENSIVE"])
    );
    // Every level's users and orders were loaded once: the cache answers the cycle.
    assert!(statements(&reply.body) <= 14, "{}", statements(&reply.body));
}

#[tokio::test]
async fn fragments_spread_twice_are_planned_once() {
    let address = demo_with(RequestLimits::default()).await;
    // 40 fragments, each spreading the next twice: 2^40 expansions if expanded naively.
    let mut query = String::from("{ order(id: \"1\") { ...F0 } }");
    for i in 0..40 {
        query.push_str(&format!(
            " fragment F{i} on Order {{ id ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    query.push_str(" fragment F40 on Order { total }");
    assert!(query.len() < 2_000, "{}", query.len());
    let started = Instant::now();
    let reply = graphql(address, json!({ "query": query })).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(reply.body["data"]["order"]["id"], "1");
    assert_eq!(reply.body["extensions"]["graft"]["cost"]["fields"], 3);
    // A safety bound, not a benchmark: the naive expansion would not finish at all.
    assert!(started.elapsed() < Duration::from_secs(10));

    // Doubling through aliases cannot be merged away: planning stops at the field limit.
    let mut query = String::from("{ order(id: \"1\") { ...G0 } }");
    for i in 0..30 {
        query.push_str(&format!(
            " fragment G{i} on Order {{ a: user {{ orders {{ ...G{} }} }} b: user {{ orders {{ ...G{} }} }} }}",
            i + 1,
            i + 1
        ));
    }
    query.push_str(" fragment G30 on Order { id }");
    let reply = graphql(address, json!({ "query": query })).await;
    assert_eq!(first_error_code(&reply.body), "MAX_FIELDS_EXCEEDED");
    assert!(
        message(&reply.body).contains("more than 2000 fields"),
        "{}",
        message(&reply.body)
    );
}

/// Each fragment spreads the next twice under conditions: `(a, b)` are the two spreads'
/// directives at level `i`.
fn conditional_doubling(levels: usize, spreads: impl Fn(usize) -> (String, String)) -> String {
    let mut variables: Vec<String> = Vec::new();
    let mut fragments = String::new();
    for i in 0..levels {
        let (a, b) = spreads(i);
        for directive in [&a, &b] {
            // `@include(if: $name)`: the variable is declared once.
            let name = directive
                .split('$')
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .expect("a variable");
            let declared = format!("${name}: Boolean!");
            if !variables.contains(&declared) {
                variables.push(declared);
            }
        }
        fragments.push_str(&format!(
            " fragment F{i} on Order {{ id ...F{next} {a} ...F{next} {b} }}",
            next = i + 1
        ));
    }
    format!(
        "query({}) {{ order(id: \"1\") {{ ...F0 }} }}{fragments} fragment F{levels} on Order {{ total }}",
        variables.join(", ")
    )
}

#[tokio::test]
async fn fragments_spread_under_conditions_cannot_multiply_planning() {
    let address = demo_with(RequestLimits::default()).await;
    let variables = |levels: usize| {
        let mut values = serde_json::Map::new();
        for i in 0..levels {
            values.insert(format!("a{i}"), json!(true));
            values.insert(format!("b{i}"), json!(false));
        }
        Value::Object(values)
    };
    // One variable, included then skipped, at every level: each path needs `$a0` both true
    // and false past the first level, so it is dropped, and the combinations do not grow.
    let query = conditional_doubling(30, |_| {
        ("@include(if: $a0)".to_owned(), "@skip(if: $a0)".to_owned())
    });
    let started = Instant::now();
    let reply = graphql(
        address,
        json!({ "query": query, "variables": variables(30) }),
    )
    .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(reply.body["data"]["order"]["id"], "1");
    assert!(
        reply.body["data"]["order"].get("total").is_some(),
        "{}",
        reply.body
    );

    // Two variables of their own at every level, none contradicting another: 30 levels are
    // 2^30 combinations; even 12 take few steps but would leave `total` 4,096 combinations of
    // 12 conditions to check for every order answered, each time the cached plan is used.
    // Planning stops at a ceiling, quickly, with an error that says why.
    for levels in [30, 12] {
        let query = conditional_doubling(levels, |i| {
            (
                format!("@include(if: $a{i})"),
                format!("@include(if: $b{i})"),
            )
        });
        assert!(query.len() < 4_000, "{}", query.len());
        let reply = graphql(
            address,
            json!({ "query": query, "variables": variables(levels) }),
        )
        .await;
        assert_eq!(
            first_error_code(&reply.body),
            "OPERATION_TOO_COMPLEX",
            "{levels}: {}",
            reply.body
        );
        assert!(
            message(&reply.body).contains("more than 1000 conditions to check for every object"),
            "{levels}: {}",
            message(&reply.body)
        );
    }
    // A safety bound, not a benchmark: without the ceilings it would not finish at all.
    assert!(started.elapsed() < Duration::from_secs(10));

    // Many fields under one condition are an ordinary plan: each keeps one combination.
    let aliases: Vec<String> = (0..1_200).map(|i| format!("a{i}: id")).collect();
    let query = format!(
        "query($x: Boolean!) {{ order(id: \"1\") {{ ...W @include(if: $x) }} }} \
         fragment W on Order {{ {} }}",
        aliases.join(" ")
    );
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "x": true } }),
    )
    .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(reply.body["data"]["order"]["a1199"], "1");
}

#[tokio::test]
async fn aliases_of_one_relation_share_one_load() {
    let aliases: String = (0..2_000)
        .map(|i| format!(" u{i}: user {{ name }}"))
        .collect();
    let query = format!(
        "query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on Order {{ id{aliases} }} }} }}"
    );
    let variables = json!({ "r": orders(20) });

    let address = demo_with(RequestLimits::default()).await;
    let reply = graphql(address, json!({ "query": query, "variables": variables })).await;
    assert_eq!(first_error_code(&reply.body), "MAX_FIELDS_EXCEEDED");

    let address = demo_with(RequestLimits {
        max_fields: 20_000,
        ..RequestLimits::default()
    })
    .await;
    let reply = graphql(address, json!({ "query": query, "variables": variables })).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(
        reply.body["data"]["_entities"][0]["u1999"]["name"],
        "User 1 of org-1"
    );
    // The orders, then their users once: 2,000 aliases, one statement.
    assert_eq!(statements(&reply.body), 2);
}

#[tokio::test]
async fn wide_entities_calls_and_huge_pages_are_refused() {
    let address = demo_with(RequestLimits::default()).await;
    let aliases: String = (0..50)
        .map(|i| format!(" e{i}: _entities(representations: $r) {{ ... on Order {{ user {{ orders {{ id }} }} }} }}"))
        .collect();
    let query = format!("query($r: [_Any!]!) {{{aliases} }}");
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": orders(2_000) } }),
    )
    .await;
    assert_eq!(
        first_error_code(&reply.body),
        "COST_ESTIMATED_TOO_EXPENSIVE"
    );
    // 50 calls × 2,000 orders × (1 + 1 + 10)
    assert_eq!(reply.body["errors"][0]["extensions"]["found"], 1_200_000);

    let reply = graphql(
        address,
        json!({ "query": "{ orders(first: 100000000) { nodes { id } } }" }),
    )
    .await;
    assert_eq!(first_error_code(&reply.body), "BAD_USER_INPUT");
    let reply = graphql(
        address,
        json!({ "query": "{ orders(first: 1000) { nodes { user { orders { user { orders { user { orders { id } } } } } } } } }" }),
    )
    .await;
    assert_eq!(
        first_error_code(&reply.body),
        "COST_ESTIMATED_TOO_EXPENSIVE"
    );
}

#[tokio::test]
async fn budgets_stop_requests_that_read_too_much() {
    let users: Value = (1..=20)
        .map(|i| json!({ "__typename": "OrgUser", "orgId": "org-1", "userId": format!("u{i}") }))
        .collect();
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { name orders { id user { name } } } } }";
    let variables = json!({ "r": users });

    // 20 users with 5 orders each: 120 rows.
    let address = demo_with(RequestLimits {
        max_rows: 100,
        ..RequestLimits::default()
    })
    .await;
    let reply = graphql(address, json!({ "query": query, "variables": variables })).await;
    assert_eq!(first_error_code(&reply.body), "MAX_ROWS_EXCEEDED");
    assert!(
        message(&reply.body).contains("100"),
        "{}",
        message(&reply.body)
    );

    let address = demo_with(RequestLimits {
        max_statements: 2,
        ..RequestLimits::default()
    })
    .await;
    let reply = graphql(address, json!({ "query": query, "variables": variables })).await;
    assert_eq!(first_error_code(&reply.body), "MAX_STATEMENTS_EXCEEDED");

    let address = demo_with(RequestLimits {
        max_list_size: 4,
        ..RequestLimits::default()
    })
    .await;
    let reply = graphql(
        address,
        json!({ "query": "{ orgUser(orgId: \"org-1\", userId: \"u1\") { name orders { id } } }" }),
    )
    .await;
    assert_eq!(reply.body["data"]["orgUser"], Value::Null);
    assert_eq!(first_error_code(&reply.body), "LIST_SIZE_EXCEEDED");
    assert_eq!(
        reply.body["errors"][0]["path"],
        json!(["orgUser", "orders"])
    );
    assert_eq!(
        message(&reply.body),
        "OrgUser.orders has 5 items here, over the limit of 4 (`max_list_size`); select fewer parents or raise the limit"
    );
}

#[tokio::test]
async fn postgres_limits_from_graft_toml() {
    let (address, _schema) = common::orgs_on_postgres(
        "[server]\ndebug_header = true\n[limits]\nmax_rows = 300\nmax_list_size = 4\nmax_fields = 20000\nlist_sizes = { \"OrgUser.orders\" = 5 }",
    )
    .await;
    // The estimate uses the configured list size: 10 × (1 + 1 + 5 × 2).
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { user { orders { id user { name } } } } } }";
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": orders(10) } }),
    )
    .await;
    assert_eq!(reply.body["extensions"]["graft"]["cost"]["estimated"], 120);
    // Each user has 5 orders, over the list limit of 4: the error names the field.
    assert_eq!(first_error_code(&reply.body), "LIST_SIZE_EXCEEDED");
    assert_eq!(reply.body["data"]["_entities"][0]["user"], Value::Null);

    // 100 users' orders are 500 rows: the statement reads at most the budget, then stops.
    let users: Value = (1..=100)
        .map(|i| json!({ "__typename": "OrgUser", "orgId": "org-2", "userId": format!("u{i}") }))
        .collect();
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { orders { id } } } }";
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": users } }),
    )
    .await;
    assert_eq!(first_error_code(&reply.body), "MAX_ROWS_EXCEEDED");

    // 2,000 aliases of one relation: one statement for all of them.
    let aliases: String = (0..2_000)
        .map(|i| format!(" u{i}: user {{ name }}"))
        .collect();
    let query = format!(
        "query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on Order {{ id{aliases} }} }} }}"
    );
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": orders(50) } }),
    )
    .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(statements(&reply.body), 2);
}

/// The real binary, so that its memory is its own: a twelve-level cycle asks for gigabytes,
/// the 4 MiB response budget stops it, and ten of them leave the process less than 64 MiB
/// above its warm size (the buffer's doublings, freed but kept a while by the allocator, count
/// in the resident peak; the peak stops growing once the allocator reuses them).
#[tokio::test]
async fn a_hostile_query_leaves_the_process_within_its_memory_bound() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orgs");
    let directory = std::env::temp_dir().join(graft_testkit::unique_name("graft_memory"));
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = directory.join("graft.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[schema]\npath = {schema:?}\n[database]\nurl = \"sqlite://{db}\"\nsetup = [{tables:?}, {seed:?}]\n[limits]\nmode = \"measure\"\nmax_response_bytes = 4194304\n",
            schema = examples.join("schema.graphql"),
            db = directory.join("orgs.db").display(),
            tables = examples.join("sqlite/schema.sql"),
            seed = examples.join("sqlite/seed.sql"),
        ),
    )
    .expect("written");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("graft starts");
    let resident = |field: &str| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .expect("the process runs");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a size in kB")
    };
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "graft did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Warm: connections open, threads started, caches filled.
    for _ in 0..3 {
        let reply = graphql(address, json!({ "query": relation_cycle(4) })).await;
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    }
    let warm_kib = resident("VmRSS:");
    for _ in 0..10 {
        let reply = graphql(address, json!({ "query": relation_cycle(12) })).await;
        assert_eq!(first_error_code(&reply.body), "MAX_RESPONSE_BYTES_EXCEEDED");
    }
    let peak_kib = resident("VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&directory);
    assert!(
        peak_kib < warm_kib + 64 * 1024,
        "peak resident memory {peak_kib} KiB, {warm_kib} KiB when warm"
    );
}
