//! One conformance suite, written once, run against the orgs example on every database graft
//! supports: the embedded SQLite demo, PostgreSQL seeded from `examples/orgs/postgres/` and
//! MariaDB seeded from `examples/orgs/mysql/`.

mod common;

use std::net::SocketAddr;

use common::{ENTITIES, graphql, org_user};
use graft_testkit::{MyDatabase, PgSchema};
use serde_json::{Value, json};

/// A running server and whatever keeps its database alive.
struct Server {
    address: SocketAddr,
    _database: Option<Database>,
}

/// The throwaway database a server runs on, dropped with it.
#[allow(dead_code)]
enum Database {
    Postgres(PgSchema),
    Mysql(MyDatabase),
}

async fn sqlite() -> Server {
    Server {
        address: common::start_default().await,
        _database: None,
    }
}

async fn postgres() -> Server {
    let schema = PgSchema::create("").await;
    let address = start_configured(&schema.url(), "postgres").await;
    Server {
        address,
        _database: Some(Database::Postgres(schema)),
    }
}

async fn mysql() -> Server {
    let database = MyDatabase::create("SELECT 1").await;
    let address = start_configured(&database.url(), "mysql").await;
    Server {
        address,
        _database: Some(Database::Mysql(database)),
    }
}

/// Starts graft on the orgs example at `url`, set up by the scripts of `examples/orgs/<dir>/`.
async fn start_configured(url: &str, dir: &str) -> SocketAddr {
    common::start_orgs(url, dir, "[server]\ndebug_header = true\n").await
}

/// Runs every conformance check against one backend.
macro_rules! conformance {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn entities_batch_of_100() {
                let server = super::$backend().await;
                entities_batch_of_100_keeps_order_answers_missing_with_null_and_issues_one_statement(server.address).await;
            }

            #[tokio::test]
            async fn root_query_by_key() {
                let server = super::$backend().await;
                root_query_by_composite_key_and_by_id(server.address).await;
            }

            #[tokio::test]
            async fn invalid_representations() {
                let server = super::$backend().await;
                invalid_representations_give_null_and_an_error_each(server.address).await;
            }

            #[tokio::test]
            async fn relations_both_ways() {
                let server = super::$backend().await;
                relations_cost_one_statement_per_level(server.address).await;
            }

            #[tokio::test]
            async fn relation_lists_take_first() {
                let server = super::$backend().await;
                relation_lists_take_first_in_one_statement(server.address).await;
            }

            #[tokio::test]
            async fn nested_keys() {
                let server = super::$backend().await;
                nested_keys_resolve_through_their_column(server.address).await;
            }

            #[tokio::test]
            async fn connection_pages() {
                let server = super::$backend().await;
                pages_through_a_connection_in_key_order(server.address).await;
            }

            #[tokio::test]
            async fn mutations() {
                let server = super::$backend().await;
                mutations_write_in_order_and_name_the_constraint_they_break(server.address).await;
            }

            #[tokio::test]
            async fn five_thousand_representations() {
                let server = super::$backend().await;
                five_thousand_representations_in_one_request(server.address).await;
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
conformance!(mysql);

/// `Order.user` (`@belongsTo`) and `OrgUser.orders` (`@hasMany`) over 100 orders: the right
/// rows in the right places, with one statement per relation level, not one per row.
async fn relations_cost_one_statement_per_level(address: SocketAddr) {
    let representations: Vec<Value> = (1..=100)
        .map(|i| json!({ "__typename": "Order", "id": i.to_string() }))
        .collect();
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id status \
                 user { orgId userId name orders { id } } } } }";
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": representations } }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let entities = reply.body["data"]["_entities"].as_array().expect("a list");
    for (i, order) in (1..=100).zip(entities) {
        // The seed gives user k (0-based, org-major) the orders 5k+1 ..= 5k+5.
        let k = (i - 1) / 5;
        let (org, user) = (k / 100 + 1, k % 100 + 1);
        assert_eq!(order["id"], i.to_string());
        assert_eq!(order["user"]["orgId"], format!("org-{org}"));
        assert_eq!(order["user"]["userId"], format!("u{user}"));
        let ids: Vec<&str> = order["user"]["orders"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (5 * k + 1..=5 * k + 5).map(|id| id.to_string()).collect();
        assert_eq!(ids, expected, "orders of order {i}'s user, in id order");
    }
    let batch = &reply.body["extensions"]["graft"]["batch"];
    assert_eq!(
        batch["statements"], 3,
        "orders, their users, the users' orders: {batch}"
    );

    let reply = graphql(
        address,
        json!({ "query": "{ orgUser(orgId: \"org-2\", userId: \"u3\") { name orders { id total user { userId } } } }" }),
    )
    .await;
    let user = &reply.body["data"]["orgUser"];
    assert_eq!(
        user["orders"].as_array().map(Vec::len),
        Some(5),
        "{}",
        reply.body
    );
    assert_eq!(user["orders"][0]["id"], "511");
    assert_eq!(user["orders"][4]["user"]["userId"], "u3");
}

/// `Membership @key(fields: "org { id } userId")`: the nested leaf reads column `org_id`; a bad
/// nested value is an error naming the dotted field.
/// `orders(first: n)` keeps each user's first n orders, in one statement for all users, with
/// a literal or a variable; a `first` out of range is a field error.
async fn relation_lists_take_first_in_one_statement(address: SocketAddr) {
    let users: Vec<Value> = (1..=20).map(|u| org_user(2, &format!("u{u}"))).collect();
    let query = "query($r: [_Any!]!, $n: Int) { _entities(representations: $r) { ... on OrgUser { \
        userId two: orders(first: 2) { id } some: orders(first: $n) { id } all: orders { id } } } }";
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": users, "n": 3 } }),
    )
    .await;
    let body = &reply.body;
    assert!(body.get("errors").is_none(), "{body}");
    for (i, user) in body["data"]["_entities"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let ids = |list: &str| -> Vec<String> {
            user[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let all = ids("all");
        assert_eq!(all.len(), 5, "{user}");
        assert_eq!(ids("two"), all[..2], "user {i}");
        assert_eq!(ids("some"), all[..3], "user {i}");
    }
    // The users, then their orders three ways, one statement each: none per user. Each
    // statement read only the rows kept: 20 users, then 2, 3 and 5 orders each.
    let cost = &body["extensions"]["graft"];
    assert_eq!(cost["batch"]["statements"], 4, "{}", cost);
    assert_eq!(cost["cost"]["rows"], 220, "{}", cost);
    // first: 0 is an empty list; a negative first is the field's error, not a truncation.
    let query = "query($r: [_Any!]!, $n: Int) { _entities(representations: $r) { ... on OrgUser { \
        none: orders(first: 0) { id } bad: orders(first: $n) { id } } } }";
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": [org_user(1, "u1")], "n": -1 } }),
    )
    .await;
    let body = &reply.body;
    assert_eq!(body["data"]["_entities"][0], Value::Null, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    assert_eq!(body["errors"][0]["path"], json!(["_entities", 0, "bad"]));
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": [org_user(1, "u1")], "n": null } }),
    )
    .await;
    assert_eq!(
        reply.body["data"]["_entities"][0]["none"],
        json!([]),
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["data"]["_entities"][0]["bad"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
}

async fn nested_keys_resolve_through_their_column(address: SocketAddr) {
    let representations = json!([
        { "__typename": "Membership", "org": { "id": "org-2" }, "userId": "u7" },
        { "__typename": "Membership", "userId": "u7", "org": { "id": "org-404" } },
        { "__typename": "Membership", "org": { "id": 2 }, "userId": "u7" },
    ]);
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Membership { userId name } } }";
    let reply = graphql(
        address,
        json!({ "query": query, "variables": { "r": representations } }),
    )
    .await;
    let entities = reply.body["data"]["_entities"].as_array().expect("a list");
    assert_eq!(
        entities[0],
        json!({ "userId": "u7", "name": "User 7 of org-2" })
    );
    assert_eq!(entities[1], Value::Null);
    assert_eq!(entities[2], Value::Null);
    let message = reply.body["errors"][0]["message"]
        .as_str()
        .expect("an error for the bad value");
    assert!(
        message.contains("org.id") && message.contains("expects String"),
        "{message}"
    );
    assert_eq!(reply.body["extensions"]["graft"]["batch"]["statements"], 1);
}

/// `orders(first:, after:)` pages through all orders in id order with cursors, a relation
/// inside each node costing one statement per page.
async fn pages_through_a_connection_in_key_order(address: SocketAddr) {
    let query = "query($after: String) { orders(first: 10, after: $after) { \
                 edges { cursor node { id user { userId } } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    for page in 0..3 {
        let reply = graphql(
            address,
            json!({ "query": query, "variables": { "after": after } }),
        )
        .await;
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
        let connection = &reply.body["data"]["orders"];
        let edges = connection["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), 10);
        for edge in edges {
            seen.push(
                edge["node"]["id"]
                    .as_str()
                    .expect("an id")
                    .parse::<u32>()
                    .expect("numeric ids"),
            );
        }
        assert_eq!(connection["pageInfo"]["hasNextPage"], true);
        assert_eq!(connection["pageInfo"]["hasPreviousPage"], page > 0);
        assert_eq!(connection["pageInfo"]["endCursor"], edges[9]["cursor"]);
        assert_eq!(
            edges[0]["node"]["user"]["userId"],
            format!("u{}", page * 2 + 1)
        );
        assert_eq!(
            reply.body["extensions"]["graft"]["batch"]["statements"], 2,
            "the page and its users"
        );
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, (1..=30).collect::<Vec<_>>());

    // The last page is short and says so; a forged cursor is refused.
    let last = graphql(address, json!({ "query": "{ orders(first: 10, after: \"Order/0:s4:4995\") { nodes { id } pageInfo { hasNextPage } } }" })).await;
    let nodes: Vec<&str> = last.body["data"]["orders"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["4996", "4997", "4998", "4999", "5000"]);
    assert_eq!(
        last.body["data"]["orders"]["pageInfo"]["hasNextPage"],
        false
    );
    let forged = graphql(
        address,
        json!({ "query": "{ orders(after: \"OrgUser/0:s1:x\") { nodes { id } } }" }),
    )
    .await;
    assert_eq!(
        forged.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{}",
        forged.body
    );
}

/// 5,000 representations (every user of the example, five times over) in one request: one
/// statement, every answer in place.
async fn five_thousand_representations_in_one_request(address: SocketAddr) {
    let representations: Vec<Value> = (0..5_000)
        .map(|i| org_user(i % 10 + 1, &format!("u{}", (i / 10) % 100 + 1)))
        .collect();
    let reply = graphql(
        address,
        json!({ "query": ENTITIES, "variables": { "representations": representations } }),
    )
    .await;
    assert_eq!(reply.status, 200);
    let entities = reply.body["data"]["_entities"].as_array().expect("a list");
    assert_eq!(entities.len(), 5_000);
    for (entity, asked) in entities.iter().zip(&representations) {
        assert_eq!(
            (&entity["orgId"], &entity["userId"]),
            (&asked["orgId"], &asked["userId"])
        );
    }
    let batch = &reply.body["extensions"]["graft"]["batch"];
    assert_eq!(
        (batch["uniqueKeys"].as_u64(), batch["statements"].as_u64()),
        (Some(1_000), Some(1)),
        "{batch}"
    );
}

/// 100 composite keys with 2 missing and 3 repeated: input order, nulls, one statement.
async fn entities_batch_of_100_keeps_order_answers_missing_with_null_and_issues_one_statement(
    address: SocketAddr,
) {
    // 95 distinct users spread over 10 organisations (u1 exists in all of them), 2 that do not
    // exist, 3 repeats of earlier ones: 100 representations.
    let mut representations: Vec<Value> = (0..95)
        .map(|i| org_user(i % 10 + 1, &format!("u{}", i / 10 + 1)))
        .collect();
    representations.insert(17, org_user(3, "u404"));
    representations.insert(60, org_user(99, "u1"));
    for repeat in [0, 5, 41] {
        let copy = representations[repeat].clone();
        representations.push(copy);
    }
    assert_eq!(representations.len(), 100);

    let reply = graphql(
        address,
        json!({ "query": ENTITIES, "variables": { "representations": representations } }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let entities = reply.body["data"]["_entities"].as_array().expect("a list");
    assert_eq!(entities.len(), 100);
    for (i, (entity, asked)) in entities.iter().zip(&representations).enumerate() {
        if i == 17 || i == 60 {
            assert_eq!(entity, &Value::Null, "missing entity {i} is null");
            continue;
        }
        assert_eq!(entity["__typename"], "OrgUser");
        assert_eq!(
            (&entity["orgId"], &entity["userId"]),
            (&asked["orgId"], &asked["userId"]),
            "entity {i} in input order"
        );
        let expected_name = format!(
            "User {} of {}",
            asked["userId"].as_str().unwrap().trim_start_matches('u'),
            asked["orgId"].as_str().unwrap()
        );
        assert_eq!(entity["name"], expected_name.as_str());
    }
    assert_eq!(entities[97], entities[0]);
    let batch = &reply.body["extensions"]["graft"]["batch"];
    assert_eq!(batch["representations"], 100);
    assert_eq!(batch["uniqueKeys"], 97);
    assert_eq!(batch["duplicates"], 3);
    assert_eq!(batch["groups"], 1);
    assert_eq!(
        batch["statements"], 1,
        "one SQL statement for the whole batch"
    );
}

/// Root lookups by composite key and by id, one missing.
async fn root_query_by_composite_key_and_by_id(address: SocketAddr) {
    let reply = graphql(
        address,
        json!({
            "query": "query($org: String!) { a: orgUser(orgId: $org, userId: \"u1\") { userId name } \
                      b: orgUser(orgId: \"org-2\", userId: \"u1\") { name } none: orgUser(orgId: \"x\", userId: \"y\") { name } \
                      order(id: 12) { id total status } }",
            "variables": { "org": "org-1" }
        }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["data"],
        json!({
            "a": { "userId": "u1", "name": "User 1 of org-1" },
            "b": { "name": "User 1 of org-2" },
            "none": null,
            "order": { "id": "12", "total": 4.44, "status": "shipped" }
        })
    );
}

/// Each bad representation gets `null` and its own error; the good ones still resolve.
async fn invalid_representations_give_null_and_an_error_each(address: SocketAddr) {
    let representations = json!([
        org_user(1, "u1"),
        { "__typename": "OrgUser", "orgId": "org-1" },
        { "__typename": "OrgUser", "orgId": "org-1", "userId": 7 },
        "not an object",
        { "__typename": "Nope", "id": 1 },
        { "orgId": "org-1", "userId": "u1" },
    ]);
    let reply = graphql(
        address,
        json!({ "query": ENTITIES, "variables": { "representations": representations } }),
    )
    .await;
    assert_eq!(reply.status, 200);
    let entities = reply.body["data"]["_entities"].as_array().unwrap();
    assert_eq!(entities[0]["name"], "User 1 of org-1");
    assert!(entities[1..].iter().all(Value::is_null));
    let errors: Vec<(String, Value)> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["message"].as_str().unwrap().to_owned(), e["path"].clone()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "representation 1 (OrgUser): key field `userId` is missing".to_owned(),
                json!(["_entities", 1])
            ),
            (
                "representation 2 (OrgUser): key field `userId` expects String, found the number 7"
                    .to_owned(),
                json!(["_entities", 2])
            ),
            (
                "representation 3: expected an object, found a string".to_owned(),
                json!(["_entities", 3])
            ),
            (
                "representation 4: `Nope` is not an entity type of this subgraph".to_owned(),
                json!(["_entities", 4])
            ),
            (
                "representation 5: `__typename` is missing".to_owned(),
                json!(["_entities", 5])
            ),
        ]
    );
}

/// The derived mutations of `@mutations` types: generated keys, the caller's selection with
/// relations, root fields in order, constraint errors by code, and nothing of a failed
/// multi-row create.
async fn mutations_write_in_order_and_name_the_constraint_they_break(address: SocketAddr) {
    let created = graphql(
        address,
        json!({
            "query": "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id total status user { name } } }",
            "variables": { "input": { "orgId": "org-1", "userId": "u1", "total": 12.5, "status": "new" } }
        }),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let order = &created.body["data"]["createOrder"];
    let id: u64 = order["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{}", created.body));
    assert!(
        id > 5000,
        "the database generates ids after the seeded ones: {id}"
    );
    assert_eq!(
        order,
        &json!({ "id": id.to_string(), "total": 12.5, "status": "new", "user": { "name": "User 1 of org-1" } })
    );

    // Inputs that give different fields (an id, or none for the database to generate) are
    // written by one statement per shape, and answered in input order.
    let many = graphql(
        address,
        json!({ "query": "mutation { createOrders(inputs: [\
            {orgId: \"org-2\", userId: \"u2\", total: 1, status: \"a\"}, \
            {id: 900100, orgId: \"org-3\", userId: \"u3\", total: 2, status: \"b\"}, \
            {orgId: \"org-4\", userId: \"u4\", total: 3, status: \"c\"}]) { id userId total status } }" }),
    )
    .await;
    let created = many.body["data"]["createOrders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: Vec<&str> = created
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids.len(), 3, "{}", many.body);
    assert_eq!(ids[1], "900100");
    assert!(ids[0] != ids[2] && ids[0] != "900100", "{ids:?}");
    let rest: Vec<Value> = created
        .iter()
        .map(|o| json!([o["userId"], o["total"], o["status"]]))
        .collect();
    assert_eq!(
        rest,
        [
            json!(["u2", 1.0, "a"]),
            json!(["u3", 2.0, "b"]),
            json!(["u4", 3.0, "c"])
        ]
    );

    // Root mutation fields run in order: the first delete finds the row, the second does not.
    let serial = graphql(
        address,
        json!({ "query": format!(
            "mutation {{ update: updateOrder(id: {id}, patch: {{status: \"paid\"}}) {{ status }} \
             first: deleteOrder(id: {id}) {{ id status }} second: deleteOrder(id: {id}) {{ id }} }}"
        ) }),
    )
    .await;
    assert_eq!(
        serial.body["data"],
        json!({ "update": { "status": "paid" }, "first": { "id": id.to_string(), "status": "paid" }, "second": null }),
        "{}",
        serial.body
    );

    let refused = graphql(
        address,
        json!({ "query": "mutation { \
            fk: createOrder(input: {orgId: \"nope\", userId: \"u1\", total: 1, status: \"x\"}) { id } \
            check: createOrder(input: {orgId: \"org-1\", userId: \"u1\", total: -1, status: \"x\"}) { id } \
            unique: createOrgUser(input: {orgId: \"org-1\", userId: \"u1\", name: \"Twin\", active: true}) { name } \
            partial: createOrders(inputs: [\
              {id: 900001, orgId: \"org-1\", userId: \"u1\", total: 1, status: \"x\"}, \
              {id: 900002, orgId: \"org-1\", userId: \"u1\", total: -2, status: \"x\"}]) { id } }" }),
    )
    .await;
    assert_eq!(refused.status, 200);
    assert_eq!(
        refused.body["data"],
        json!({ "fk": null, "check": null, "unique": null, "partial": null }),
        "{}",
        refused.body
    );
    let codes: Vec<(&str, &str)> = refused.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["path"][0].as_str().unwrap_or_default(),
                e["extensions"]["code"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("fk", "FOREIGN_KEY_VIOLATION"),
            ("check", "CHECK_VIOLATION"),
            ("unique", "UNIQUE_VIOLATION"),
            ("partial", "CHECK_VIOLATION")
        ]
    );
    assert_eq!(
        refused.body["errors"][1]["extensions"]["constraint"],
        "orders_total_not_negative"
    );
    let message = refused.body.to_string();
    assert!(
        !message.contains("Twin") && !message.contains("nope"),
        "no value reaches an error: {message}"
    );
    let left = graphql(address, json!({ "query": "{ order(id: 900001) { id } }" })).await;
    assert_eq!(
        left.body["data"]["order"],
        Value::Null,
        "row 1 of the failed create is not kept"
    );

    let sdl = graphql(address, json!({ "query": "{ _service { sdl } }" })).await;
    let sdl = sdl.body["data"]["_service"]["sdl"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        sdl.contains("createOrders(inputs: [CreateOrderInput!]!): [Order!]"),
        "{sdl}"
    );
    assert!(!sdl.contains("@mutations"));
}
