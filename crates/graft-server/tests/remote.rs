//! Remote resolution between two real graft instances: the `examples/remote-orgs/` subgraphs,
//! `users` on PostgreSQL and `orders` on MariaDB, each configured with the other's types as
//! `[[remote]]` types, served over HTTP on 127.0.0.1.
//!
//! Each test creates its own PostgreSQL schema and MariaDB database (graft-testkit), which the
//! example's setup scripts fill when each instance starts, and the example's graft.toml files
//! are used as they are, with only the database URLs, the users endpoint and the route replaced.
//! The expected answers follow a model of the seed (`user`, `order`).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::graphql;
use graft_server::config::Config;
use graft_server::demo;
use graft_testkit::{MyDatabase, PgSchema};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The example's URLs, replaced in its configs.
const USERS_DB: &str = "postgres://postgres@127.0.0.1:5432/graft_remote_users";
const ORDERS_DB: &str = "mysql://root@127.0.0.1:3306/graft_remote_orders";
const USERS_URL: &str = "http://127.0.0.1:4021/graphql";
const ORDERS_ROUTE: &str = "route = \"db-then-http\"";

/// The seed's user `u<user>` of `org-<org>`: `{ name email }`.
fn user(org: u32, user: u32) -> Value {
    let row = (org - 1) * 100 + user;
    let email = if row.is_multiple_of(10) {
        Value::Null
    } else {
        json!(format!("u{user}@org-{org}.example"))
    };
    json!({ "name": format!("User {user} of org-{org}"), "email": email })
}

/// The seed's order `id`: its owner (org, user) and total. User k (0-based, org-major) has
/// the orders 5k+1 ..= 5k+5.
fn order(id: u32) -> (u32, u32, f64) {
    let k = (id - 1) / 5;
    (
        k / 100 + 1,
        k % 100 + 1,
        f64::from((id * 37) % 10_000) / 100.0,
    )
}

/// How the orders instance reaches OrgUser.
#[derive(Clone, Copy)]
struct Users {
    /// `db`, `http` or `db-then-http`.
    route: &'static str,
    /// What the orders instance finds at the users database's URL.
    database: Database,
    /// Whether the users instance runs (else its URL names a closed port).
    http_up: bool,
}

/// The users database as the orders instance finds it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Database {
    /// The users' PostgreSQL schema.
    Up,
    /// A closed port: connections are refused at once.
    Closed,
    /// A server that accepts connections and never answers (a hung or blackholed database);
    /// the orders instance gives it a connect timeout of [`SILENT_CONNECT_TIMEOUT_MS`].
    Silent,
}

const SILENT_CONNECT_TIMEOUT_MS: u64 = 300;

const DB: Users = Users {
    route: "db",
    database: Database::Up,
    http_up: true,
};

/// Both instances, and the databases they live on.
struct RemoteOrgs {
    users: Option<SocketAddr>,
    orders: SocketAddr,
    _databases: (PgSchema, MyDatabase),
}

/// The example config `file` (under `examples/remote-orgs/`) with every `(from, to)` replaced;
/// each `from` must occur, so that the example and this test cannot drift apart silently.
fn example_config(file: &str, replacements: &[(&str, &str)]) -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/remote-orgs")
        .join(file);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in replacements {
        assert!(text.contains(from), "{file} no longer contains {from}");
        text = text.replace(from, to);
    }
    Config::parse(&text, &path).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A server that accepts connections, holds them and never sends a byte.
async fn silent_server() -> SocketAddr {
    let (listener, address) = listener().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    address
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port()
}

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an ephemeral port");
    let address = listener.local_addr().expect("bound");
    (listener, address)
}

fn spawn(listener: TcpListener, state: graft_server::AppState) {
    tokio::spawn(async move {
        graft_server::serve(listener, state, std::future::pending())
            .await
            .expect("serves")
    });
}

/// Starts the users instance (unless `users.http_up` is false: then its port is closed) and
/// the orders instance, OrgUser reached as `users` says.
async fn start(users: Users) -> RemoteOrgs {
    let (pg, my) = tokio::join!(PgSchema::create(""), MyDatabase::create("SELECT 1"));
    // Both addresses first, so that each config can name the other instance.
    let (users_listener, users_address) = listener().await;
    let (orders_listener, orders_address) = listener().await;
    let closed = format!("127.0.0.1:{}", closed_port());
    let (pg_url, my_url) = (pg.url(), my.url());

    let (users_url, users_address) = if users.http_up {
        // Sets up and seeds the PostgreSQL schema; the orders database is read on first use.
        let config = example_config(
            "users/users.graft.toml",
            &[(USERS_DB, &pg_url), (ORDERS_DB, &my_url)],
        );
        let state = demo::configured_state(&config)
            .await
            .unwrap_or_else(|e| panic!("the users instance starts: {e}"));
        spawn(users_listener, state);
        (
            format!("http://{users_address}/graphql"),
            Some(users_address),
        )
    } else {
        drop(users_listener);
        (format!("http://{closed}/graphql"), None)
    };

    let users_db = match users.database {
        Database::Up => pg_url.clone(),
        Database::Closed => format!("postgres://postgres@{closed}/postgres"),
        Database::Silent => format!("postgres://postgres@{}/postgres", silent_server().await),
    };
    let route = format!("route = \"{}\"", users.route);
    let timeout = format!("[remote.database]\nconnect_timeout_ms = {SILENT_CONNECT_TIMEOUT_MS}\n");
    let mut replacements = vec![
        (ORDERS_DB, my_url.as_str()),
        (USERS_DB, &users_db),
        (USERS_URL, &users_url),
        (ORDERS_ROUTE, &route),
    ];
    if users.database == Database::Silent {
        replacements.push(("[remote.database]\n", &timeout));
    }
    let config = example_config("orders/orders.graft.toml", &replacements);
    let state = demo::configured_state(&config)
        .await
        .unwrap_or_else(|e| panic!("the orders instance starts: {e}"));
    spawn(orders_listener, state);
    RemoteOrgs {
        users: users_address,
        orders: orders_address,
        _databases: (pg, my),
    }
}

const ORDERS_WITH_USERS: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
    ... on Order { id total user { name email } } } }";

/// Orders 41..=60: users u9 ..= u12 of org-1, five orders each (u10 has no email).
fn order_representations() -> Value {
    (41..=60)
        .map(|id: u32| json!({ "__typename": "Order", "id": id.to_string() }))
        .collect()
}

/// What [`ORDERS_WITH_USERS`] answers for [`order_representations`].
fn orders_with_users() -> Value {
    (41..=60)
        .map(|id| {
            let (org, u, total) = order(id);
            json!({ "id": id.to_string(), "total": total, "user": user(org, u) })
        })
        .collect()
}

async fn orders_with_users_reply(address: SocketAddr) -> Value {
    let reply = graphql(
        address,
        json!({ "query": ORDERS_WITH_USERS, "variables": { "r": order_representations() } }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn stats_of(body: &Value) -> &Value {
    &body["extensions"]["graft"]["batch"]
}

/// (a) The orders instance reads the users of 20 orders from the users' PostgreSQL itself:
/// one MariaDB statement for the orders, one PostgreSQL statement for their users, no HTTP.
/// The example's own route, db-then-http, does the same while the database is up.
#[tokio::test]
async fn orders_read_their_users_from_the_users_database() {
    for route in ["db", "db-then-http"] {
        let remote = start(Users { route, ..DB }).await;
        let body = orders_with_users_reply(remote.orders).await;
        assert!(body.get("errors").is_none(), "{route}: {body}");
        assert_eq!(body["data"]["_entities"], orders_with_users(), "{route}");
        let batch = stats_of(&body);
        assert_eq!(
            batch["statements"], 2,
            "{route}: orders, then users: {batch}"
        );
        assert_eq!(batch["requests"], 0, "{route}: {batch}");
        assert_eq!(batch["fallbacks"], json!([]), "{route}: {batch}");
        assert_eq!(batch["groups"], 1, "{route}: {batch}");
    }
}

/// (b) With the `http` route, the users come from the users instance's `_entities`: one
/// MariaDB statement here, one HTTP request for the four distinct users.
#[tokio::test]
async fn orders_ask_the_users_instance_over_http() {
    let remote = start(Users {
        route: "http",
        ..DB
    })
    .await;
    let body = orders_with_users_reply(remote.orders).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["_entities"], orders_with_users());
    let batch = stats_of(&body);
    assert_eq!(batch["statements"], 1, "the orders only: {batch}");
    assert_eq!(
        batch["requests"], 1,
        "one _entities call for all users: {batch}"
    );
    assert_eq!(batch["fallbacks"], json!([]), "{batch}");
}

/// (c) db-then-http with the users database unreachable: the answer is still complete,
/// through the users instance, and the fallback says which route failed and why. Within the
/// cool-down the database is not tried again.
#[tokio::test]
async fn an_unreachable_users_database_falls_back_to_http() {
    let remote = start(Users {
        route: "db-then-http",
        database: Database::Closed,
        http_up: true,
    })
    .await;
    let body = orders_with_users_reply(remote.orders).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["_entities"], orders_with_users());
    let batch = stats_of(&body);
    assert_eq!(batch["statements"], 1, "{batch}");
    assert_eq!(batch["requests"], 1, "{batch}");
    let fallbacks = batch["fallbacks"].as_array().expect("a list");
    assert_eq!(fallbacks.len(), 1, "{batch}");
    let reason = fallbacks[0].as_str().expect("a reason");
    assert!(
        reason == "users-db -> users-http: users-db failed (connection)",
        "{reason}"
    );
    // What failed, not how: the driver's text and the database's address stay in the log.
    assert!(
        !reason.contains("refused") && !reason.contains("127.0.0.1"),
        "{reason}"
    );

    let body = orders_with_users_reply(remote.orders).await;
    assert_eq!(body["data"]["_entities"], orders_with_users());
    let batch = stats_of(&body);
    assert_eq!(batch["requests"], 1, "{batch}");
    let reason = batch["fallbacks"][0].as_str().expect("a reason");
    assert!(
        reason
            == "users-db -> users-http: users-db skipped while cooling down from a failure \
                   (connection)",
        "{reason}"
    );
}

/// db-then-http with a users database that accepts connections and never answers: the
/// connect gives up after the remote database's `connect_timeout_ms`, and the answer comes over
/// HTTP well before the request's deadline.
#[tokio::test]
async fn a_hung_users_database_times_out_and_falls_back_to_http() {
    let remote = start(Users {
        route: "db-then-http",
        database: Database::Silent,
        http_up: true,
    })
    .await;
    let started = std::time::Instant::now();
    let body = orders_with_users_reply(remote.orders).await;
    let elapsed = started.elapsed();
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["_entities"], orders_with_users());
    let batch = stats_of(&body);
    assert_eq!(batch["requests"], 1, "{batch}");
    let reason = batch["fallbacks"][0].as_str().expect("a fallback");
    assert!(
        reason == "users-db -> users-http: users-db failed (timeout)",
        "{reason}"
    );
    assert!(
        elapsed < std::time::Duration::from_millis(SILENT_CONNECT_TIMEOUT_MS * 10),
        "the fallback took {elapsed:?}"
    );
}

/// (d) The users instance reads a user's orders from the orders' MariaDB itself: one
/// PostgreSQL statement for the user, one MariaDB statement for the orders, also for the
/// orders of ten users at once; and it answers `_entities` for Order, its remote type, from
/// MariaDB.
#[tokio::test]
async fn users_read_their_orders_from_the_orders_database() {
    let remote = start(DB).await;
    let users = remote.users.expect("the users instance runs");
    let reply = graphql(
        users,
        json!({ "query": "{ orgUser(orgId: \"org-3\", userId: \"u7\") { name orders { id total } } }" }),
    )
    .await;
    let body = reply.body;
    assert!(body.get("errors").is_none(), "{body}");
    // User 7 of org-3 is user k = 206: orders 1031 ..= 1035.
    let orders: Vec<Value> = (1031..=1035)
        .map(|id| json!({ "id": id.to_string(), "total": order(id).2 }))
        .collect();
    assert_eq!(
        body["data"]["orgUser"],
        json!({ "name": "User 7 of org-3", "orders": orders })
    );
    let batch = stats_of(&body);
    assert_eq!(batch["statements"], 2, "the user, then its orders: {batch}");
    assert_eq!(batch["requests"], 0, "{batch}");

    let representations: Vec<Value> = (1..=10)
        .map(|u| json!({ "__typename": "OrgUser", "orgId": "org-2", "userId": format!("u{u}") }))
        .collect();
    let reply = graphql(
        users,
        json!({
            "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { userId orders { id status } } } }",
            "variables": { "r": representations },
        }),
    )
    .await;
    let body = reply.body;
    assert!(body.get("errors").is_none(), "{body}");
    for (u, entity) in (1..=10u32).zip(body["data"]["_entities"].as_array().expect("a list")) {
        let k = 100 + u - 1;
        let ids: Vec<String> = entity["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["id"].as_str().expect("an id").to_owned())
            .collect();
        let expected: Vec<String> = (5 * k + 1..=5 * k + 5).map(|id| id.to_string()).collect();
        assert_eq!(ids, expected, "orders of u{u}");
    }
    assert_eq!(stats_of(&body)["statements"], 2, "{}", stats_of(&body));

    // Order is an entity of the users subgraph too: `_entities` answers it from MariaDB.
    let reply = graphql(
        users,
        json!({
            "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id total } } }",
            "variables": { "r": [{ "__typename": "Order", "id": "7" }, { "__typename": "Order", "id": "99999" }] },
        }),
    )
    .await;
    let body = reply.body;
    assert_eq!(
        body["data"]["_entities"],
        json!([{ "id": "7", "total": order(7).2 }, null]),
        "{body}"
    );
    assert!(
        body.get("errors").is_none(),
        "a missing order is no error: {body}"
    );
    assert_eq!(stats_of(&body)["statements"], 1, "{}", stats_of(&body));
}

/// (e) db-then-http with both routes down: every order is answered, each `user` is null with
/// a FETCH_FAILED error at its path naming the type, the key, the source and the strategy.
#[tokio::test]
async fn when_both_routes_are_down_only_the_users_are_null() {
    let remote = start(Users {
        route: "db-then-http",
        database: Database::Closed,
        http_up: false,
    })
    .await;
    let body = orders_with_users_reply(remote.orders).await;
    let expected: Value = (41..=60)
        .map(|id| json!({ "id": id.to_string(), "total": order(id).2, "user": null }))
        .collect();
    assert_eq!(body["data"]["_entities"], expected, "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 20, "one per order: {body}");
    for (i, (id, error)) in (41..=60).zip(errors).enumerate() {
        let (org, u, _) = order(id);
        let key = format!("OrgUser(\"org-{org}\", \"u{u}\")");
        assert_eq!(error["path"], json!(["_entities", i, "user"]), "{error}");
        assert_eq!(
            error["extensions"],
            json!({
                "code": "FETCH_FAILED",
                "type": "OrgUser",
                "key": key,
                "source": "users",
                "strategy": "db-then-http",
                "requestId": error["extensions"]["requestId"],
            }),
            "{error}"
        );
        // Why each route failed goes to the log under the request id, not to the client.
        let message = error["message"].as_str().expect("a message");
        assert_eq!(
            message,
            format!(
                "could not resolve {key}: source `users` failed (connection); the server log has the details"
            ),
        );
    }
    let batch = stats_of(&body);
    assert_eq!(batch["statements"], 1, "the orders were read: {batch}");
    assert_eq!(
        batch["fallbacks"],
        json!([]),
        "no fallback succeeded: {batch}"
    );
}

/// (f) One `_entities` call with 10 local Orders and 10 remote OrgUsers on the orders instance:
/// two groups, both resolved; the orders' users come through the same route.
#[tokio::test]
async fn local_and_remote_entities_in_one_request() {
    let remote = start(DB).await;
    let mut representations: Vec<Value> = Vec::new();
    let mut expected: Vec<Value> = Vec::new();
    for i in 1..=10u32 {
        let id = 500 + i;
        representations.push(json!({ "__typename": "Order", "id": id.to_string() }));
        let (org, u, total) = order(id);
        expected.push(json!({ "__typename": "Order", "id": id.to_string(), "total": total, "user": user(org, u) }));
        representations
            .push(json!({ "__typename": "OrgUser", "orgId": "org-5", "userId": format!("u{i}") }));
        let mut org_user = user(5, i);
        org_user["__typename"] = json!("OrgUser");
        expected.push(org_user);
    }
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { __typename \
                 ... on Order { id total user { name email } } ... on OrgUser { name email } } }";
    let reply = graphql(
        remote.orders,
        json!({ "query": query, "variables": { "r": representations } }),
    )
    .await;
    let body = reply.body;
    assert!(body.get("errors").is_none(), "{body}");
    let answered = body["data"]["_entities"].as_array().expect("a list");
    assert_eq!(answered.len(), 20);
    for (got, want) in answered.iter().zip(&expected) {
        for (field, value) in want.as_object().expect("an object") {
            assert_eq!(&got[field], value, "{field} of {got}");
        }
    }
    let batch = stats_of(&body);
    assert_eq!(batch["groups"], 2, "{batch}");
    assert_eq!(
        batch["statements"], 3,
        "orders and their users' level, and the OrgUser group: {batch}"
    );
    assert_eq!(batch["requests"], 0, "{batch}");
}
