//! `POST /batch` against real databases: the orgs example on SQLite (the embedded demo),
//! PostgreSQL and MariaDB. Each check runs on all three, and checks the database's state
//! afterwards with a batch `read`.

mod common;

use std::net::SocketAddr;

use graft_testkit::{MyDatabase, PgSchema};
use serde_json::{Value, json};

/// A running server and whatever keeps its database alive.
struct Server {
    address: SocketAddr,
    database: Database,
}

/// The throwaway database a server runs on, dropped with it.
#[allow(dead_code)]
enum Database {
    Sqlite(SqliteDir),
    Postgres(PgSchema),
    Mysql(MyDatabase),
}

/// A directory of SQLite files, removed when dropped.
struct SqliteDir(std::path::PathBuf);

impl Drop for SqliteDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn sqlite(extra: &str) -> Server {
    let dir = SqliteDir(std::env::temp_dir().join(graft_testkit::unique_name("graft_batch")));
    std::fs::create_dir_all(&dir.0).expect("a temp dir");
    let url = format!("sqlite://{}", dir.0.join("orgs.db").display());
    let address = start(&url, "sqlite", extra).await;
    Server {
        address,
        database: Database::Sqlite(dir),
    }
}

async fn postgres(extra: &str) -> Server {
    let schema = PgSchema::create("").await;
    let address = start(&schema.url(), "postgres", extra).await;
    Server {
        address,
        database: Database::Postgres(schema),
    }
}

async fn mysql(extra: &str) -> Server {
    let database = MyDatabase::create("SELECT 1").await;
    let address = start(&database.url(), "mysql", extra).await;
    Server {
        address,
        database: Database::Mysql(database),
    }
}

async fn start(url: &str, dir: &str, extra: &str) -> SocketAddr {
    common::start_orgs(url, dir, extra).await
}

struct Reply {
    status: u16,
    replayed: bool,
    body: Value,
}

async fn batch(address: SocketAddr, headers: &[(&str, &str)], body: &Value) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("http://{address}/batch"))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON, got {text:?}"));
    Reply {
        status,
        replayed,
        body,
    }
}

/// The users of `org`, by a batch read.
async fn users_of(address: SocketAddr, org: &str) -> Vec<String> {
    let reply = batch(
        address,
        &[],
        &json!({ "operations": [
            { "id": "r", "entity": "OrgUser", "action": "read", "query_params": { "orgId": org } }
        ]}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut users: Vec<String> = reply.body["results"]["r"]["data"]
        .as_array()
        .expect("a read answers a list")
        .iter()
        .map(|user| user["userId"].as_str().unwrap().to_owned())
        .collect();
    users.sort();
    users
}

fn user(id: &str, org: &str, user: &str) -> Value {
    json!({ "id": id, "entity": "OrgUser", "action": "create",
            "store_params": { "orgId": org, "userId": user, "name": format!("User {user}"), "active": true } })
}

fn statuses(body: &Value) -> Vec<(String, String)> {
    let order: Vec<&str> = body["results"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    order
        .iter()
        .map(|id| {
            (
                (*id).to_owned(),
                body["results"][*id]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Runs every batch check against one backend.
macro_rules! batch_checks {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn the_invoice_example_runs_in_dependency_order() {
                invoice_example(super::$backend("").await.address).await;
            }

            #[tokio::test]
            async fn a_unique_violation_in_each_mode_leaves_what_the_mode_promises() {
                unique_violation_in_each_mode(super::$backend("").await.address).await;
            }

            #[tokio::test]
            async fn a_chain_of_100_operations_runs_atomic_and_on_a_pool_of_one() {
                let server = super::$backend("").await;
                chain_of_100(server.address, true).await;
                let one = super::$backend("max_connections = 1\n").await;
                chain_of_100(one.address, false).await;
            }

            #[tokio::test]
            async fn references_of_every_form() {
                references(super::$backend("").await.address).await;
            }

            #[tokio::test]
            async fn idempotency_keys_replay_refuse_reuse_and_resume() {
                let server = super::$backend("").await;
                idempotency(server.address, &server.database).await;
            }

            #[tokio::test]
            async fn operations_the_caller_is_not_granted_are_forbidden() {
                forbidden(
                    super::$backend(
                        "[tenancy]\ndefault_tenant = \"t\"\ndefault_scopes = [\"*:read\", \"OrgUser:create\"]\n[[tenancy.tenants]]\nid = \"t\"\n",
                    )
                    .await
                    .address,
                )
                .await;
            }
        }
    };
}

batch_checks!(sqlite);
batch_checks!(postgres);
batch_checks!(mysql);

#[tokio::test]
async fn postgres_reruns_an_atomic_batch_that_lost_a_deadlock() {
    deadlocks(postgres("").await.address).await;
}

#[tokio::test]
async fn mariadb_reruns_an_atomic_batch_that_lost_a_deadlock() {
    deadlocks(mysql("").await.address).await;
}

/// Two atomic batches update the same two orders in opposite orders, at once: the database
/// kills one transaction of each deadlock, and graft runs that batch again.
async fn deadlocks(address: SocketAddr) {
    let created = batch(
        address,
        &[],
        &json!({ "operations": [
            { "id": "x", "entity": "Order", "action": "create",
              "store_params": { "id": "9101", "orgId": "org-1", "userId": "u1", "total": 1, "status": "x" } },
            { "id": "y", "entity": "Order", "action": "create",
              "store_params": { "id": "9102", "orgId": "org-1", "userId": "u1", "total": 1, "status": "y" } }
        ]}),
    )
    .await;
    assert_eq!(created.body["success"], true, "{}", created.body);
    let update = |first: &str, second: &str, status: &str| {
        json!({ "operations": [
            { "id": "a", "entity": "Order", "action": "update", "query_params": { "id": first },
              "store_params": { "status": status } },
            { "id": "b", "entity": "Order", "action": "update", "query_params": { "id": second },
              "store_params": { "status": status }, "depends_on": ["a"] }
        ]})
    };
    let mut reruns = 0;
    for round in 0..5 {
        let one = update("9101", "9102", "one");
        let two = update("9102", "9101", "two");
        let (a, b) = tokio::join!(batch(address, &[], &one), batch(address, &[], &two));
        for reply in [&a, &b] {
            assert_eq!(reply.body["success"], true, "round {round}: {}", reply.body);
            reruns += reply.body["attempts"].as_u64().unwrap_or(1) - 1;
        }
        if reruns > 0 {
            break;
        }
    }
    assert!(reruns > 0, "no deadlock in five rounds");
}

/// The user's document's example: a customer, an invoice naming it, then a change to the
/// invoice, ordered by their references alone.
async fn invoice_example(address: SocketAddr) {
    let reply = batch(
        address,
        &[],
        &json!({ "operations": [
            { "id": "ship", "entity": "Order", "action": "update",
              "query_params": { "id": "$ref:order.id" }, "store_params": { "status": "shipped" } },
            { "id": "order", "entity": "Order", "action": "create",
              "store_params": { "orgId": "$ref:customer.orgId", "userId": "$ref:customer.userId",
                                "total": 12.5, "status": "open" } },
            user("customer", "inv", "c-1"),
            { "id": "mine", "entity": "Order", "action": "read",
              "query_params": { "orgId": "inv" }, "depends_on": ["ship"] }
        ]}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(
        body["executionOrder"],
        json!(["customer", "order", "ship", "mine"])
    );
    assert_eq!(body["results"]["customer"]["statusCode"], 201);
    assert_eq!(body["results"]["order"]["data"]["userId"], "c-1");
    assert_eq!(body["results"]["ship"]["data"]["status"], "shipped");
    // A read answers a list, whatever its row count; a write the written row.
    let mine = body["results"]["mine"]["data"].as_array().expect("a list");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["status"], "shipped");
    assert_eq!(mine[0]["id"], body["results"]["order"]["data"]["id"]);
}

/// Operation 3 of 4 breaks a unique key, in each mode.
async fn unique_violation_in_each_mode(address: SocketAddr) {
    let operations = |org: &str| {
        json!([
            user("a", org, "u1"),
            user("b", org, "u2"),
            user("dup", org, "u1"),
            user("c", org, "u3"),
        ])
    };
    let run = |org: &'static str, options: Value| async move {
        let reply = batch(
            address,
            &[],
            &json!({ "operations": operations(org), "options": options }),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    };
    let failed = |body: &Value| {
        assert_eq!(body["success"], false);
        assert_eq!(body["failedOperations"], json!(["dup"]), "{body}");
        let error = &body["results"]["dup"];
        assert_eq!(error["statusCode"], 409, "{body}");
        assert_eq!(error["error"]["code"], "UNIQUE_VIOLATION");
        // PostgreSQL and MariaDB name a primary key's constraint, SQLite its columns.
        assert!(
            error["error"]["fields"] == json!(["orgId", "userId"])
                || error["error"]["constraint"].is_string(),
            "{body}"
        );
    };

    let atomic = run("m-atomic", json!({})).await;
    failed(&atomic);
    assert_eq!(
        statuses(&atomic),
        [
            ("a", "rolledBack"),
            ("b", "rolledBack"),
            ("c", "skipped"),
            ("dup", "failed")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(users_of(address, "m-atomic").await.is_empty());

    let savepoints = run("m-save", json!({ "atomic": true, "continueOnError": true })).await;
    failed(&savepoints);
    assert_eq!(users_of(address, "m-save").await, ["u1", "u2", "u3"]);

    let alone = run("m-alone", json!({ "atomic": false })).await;
    failed(&alone);
    assert_eq!(alone["results"]["c"]["status"], "skipped");
    assert_eq!(users_of(address, "m-alone").await, ["u1", "u2"]);

    // Here the independent operations of a wave run at once (docs/batch.md), so `a` and `dup`
    // race for the same key: exactly one of them fails, whichever inserts second.
    let alone_on = run("m-on", json!({ "atomic": false, "continueOnError": true })).await;
    let failed_one = alone_on["failedOperations"].clone();
    assert!(
        failed_one == json!(["dup"]) || failed_one == json!(["a"]),
        "{alone_on}"
    );
    let loser = failed_one[0].as_str().unwrap_or_default();
    assert_eq!(
        alone_on["results"][loser]["error"]["code"], "UNIQUE_VIOLATION",
        "{alone_on}"
    );
    assert_eq!(users_of(address, "m-on").await, ["u1", "u2", "u3"]);

    let dry = run("m-dry", json!({ "validate": true })).await;
    failed(&dry);
    assert_eq!(dry["results"]["c"]["status"], "rolledBack");
    assert!(users_of(address, "m-dry").await.is_empty());
    // A dry run without errors succeeds, and writes nothing either.
    let clean = batch(
        address,
        &[],
        &json!({ "operations": [user("a", "m-clean", "u1")], "options": { "validate": true } }),
    )
    .await;
    assert_eq!(clean.body["success"], true, "{}", clean.body);
    assert_eq!(clean.body["results"]["a"]["status"], "rolledBack");
    assert!(users_of(address, "m-clean").await.is_empty());
}

/// A user, then 99 orders each created after the previous one, naming it in its status.
async fn chain_of_100(address: SocketAddr, atomic: bool) {
    let org = if atomic { "chain-a" } else { "chain-n" };
    let mut operations = vec![user("op0", org, "u")];
    for i in 1..100 {
        operations.push(json!({
            "id": format!("op{i}"), "entity": "Order", "action": "create",
            "store_params": { "orgId": org, "userId": "$ref:op0.userId", "total": i,
                              "status": if i == 1 { "first".to_owned() } else { format!("after {{$ref:op{}.id}}", i - 1) } },
            "depends_on": [format!("op{}", i - 1)]
        }));
    }
    let reply = batch(
        address,
        &[],
        &json!({ "operations": operations, "options": { "atomic": atomic } }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["success"], true, "{}", reply.body);
    let results = &reply.body["results"];
    assert_eq!(
        results["op99"]["data"]["status"],
        format!("after {}", results["op98"]["data"]["id"].as_str().unwrap())
    );
    assert_eq!(reply.body["executionOrder"].as_array().unwrap().len(), 100);
}

async fn references(address: SocketAddr) {
    let reply = batch(
        address,
        &[],
        &json!({ "operations": [
            user("u", "refs", "r-1"),
            { "id": "o", "entity": "Order", "action": "create",
              "store_params": { "orgId": "refs", "userId": "$ref:u.userId", "total": 3,
                                "status": "$$ref:u" } },
            { "id": "list", "entity": "Order", "action": "read", "query_params": { "userId": "$ref:u.userId" },
              "depends_on": ["o"] },
            // A whole reference keeps its type: the total is the number 3, not "3".
            { "id": "copy", "entity": "Order", "action": "create",
              "store_params": { "orgId": "refs", "userId": "$ref:list.0.userId",
                                "total": "$ref:o.total", "status": "of {$ref:list.0.id}" } },
            { "id": "bad", "entity": "Order", "action": "update",
              "query_params": { "id": "$ref:list.0.nope" }, "store_params": { "status": "x" } }
        ], "options": { "atomic": true, "continueOnError": true } }),
    )
    .await;
    let body = &reply.body;
    assert_eq!(reply.status, 200, "{body}");
    let results = &body["results"];
    assert_eq!(results["o"]["data"]["status"], "$ref:u");
    assert_eq!(results["copy"]["data"]["total"], 3.0);
    assert_eq!(
        results["copy"]["data"]["status"],
        format!("of {}", results["o"]["data"]["id"].as_str().unwrap())
    );
    let bad = &results["bad"]["error"];
    assert_eq!(bad["code"], "BAD_REFERENCE", "{body}");
    let message = bad["message"].as_str().unwrap();
    assert!(
        message.contains("has no `nope`") && message.contains("userId"),
        "{message}"
    );
    assert_eq!(body["failedOperations"], json!(["bad"]));
}

async fn idempotency(address: SocketAddr, database: &Database) {
    let body = json!({ "operations": [user("a", "idem", "i-1"), user("b", "idem", "i-2")],
                       "options": { "atomic": false } });
    let key = [("idempotency-key", "key-1")];
    let first = batch(address, &key, &body).await;
    assert_eq!(first.body["success"], true, "{}", first.body);
    assert!(!first.replayed);
    // The same key and body: the first answer again, nothing written twice.
    let again = batch(address, &key, &body).await;
    assert!(again.replayed);
    assert_eq!(again.body, first.body);
    assert_eq!(users_of(address, "idem").await, ["i-1", "i-2"]);
    // The same body with its keys in another order and other whitespace is the same body.
    let reordered: Value = serde_json::from_str(
        r#"{ "options": { "atomic": false },
             "operations": [ { "store_params": { "active": true, "userId": "i-1", "name": "User i-1", "orgId": "idem" },
                               "action": "create", "entity": "OrgUser", "id": "a" },
                             { "id": "b", "entity": "OrgUser", "action": "create",
                               "store_params": { "orgId": "idem", "userId": "i-2", "name": "User i-2", "active": true } } ] }"#,
    )
    .unwrap();
    assert!(batch(address, &key, &reordered).await.replayed);
    // The key with another body.
    let other = json!({ "operations": [user("a", "idem", "i-3")] });
    let reused = batch(address, &key, &other).await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.body["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    // Keys are the caller's: another key runs.
    let fresh = batch(address, &[("idempotency-key", "key-2")], &other).await;
    assert_eq!(fresh.body["success"], true);
    // An atomic batch keeps its answer in its own transaction.
    let atomic = json!({ "operations": [user("a", "idem-at", "x")] });
    let key3 = [("idempotency-key", "key-3")];
    assert!(!batch(address, &key3, &atomic).await.replayed);
    assert!(batch(address, &key3, &atomic).await.replayed);
    // A batch that wrote nothing is not remembered: its retry runs.
    let failing = json!({ "operations": [user("a", "idem", "i-1")] });
    let key4 = [("idempotency-key", "key-4")];
    assert_eq!(batch(address, &key4, &failing).await.body["success"], false);
    assert!(!batch(address, &key4, &failing).await.replayed);
    // Malformed keys.
    let bad = batch(address, &[("idempotency-key", "")], &atomic).await;
    assert_eq!(bad.status, 400);

    // A request that crashed after committing its first operation left the key held with
    // that operation's result; once its lease ran out, the retry runs only the rest.
    let crashed = json!({ "operations": [user("a", "crash", "c-1"), user("b", "crash", "c-2")],
                          "options": { "atomic": false } });
    let Some(sql) = Sql::of(database) else {
        return;
    };
    let hash = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(serde_json::to_vec(&crashed).unwrap());
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let first_result = json!({ "status_code": 201, "wrote": true,
        "data": { "orgId": "crash", "userId": "c-1", "name": "User c-1", "email": null, "active": true, "createdAt": null } });
    // The crashed request's write of operation `a`, and what it kept.
    sql.run(&[
        "INSERT INTO org_users (org_id, user_id, name, active) VALUES ('crash', 'c-1', 'User c-1', true)".to_owned(),
        format!("INSERT INTO graft_idempotency_keys VALUES ('default', 'anonymous', 'key-crash', '', '{hash}', 'dead', '00000000000000000001', '99999999999999999999', NULL)"),
        format!("INSERT INTO graft_idempotency_keys VALUES ('default', 'anonymous', 'key-crash', 'a', '', '', '', '99999999999999999999', '{first_result}')"),
        // A key another request holds now.
        format!("INSERT INTO graft_idempotency_keys VALUES ('default', 'anonymous', 'key-busy', '', '{hash}', 'alive', '99999999999999999999', '99999999999999999999', NULL)"),
    ])
    .await;
    let busy = batch(address, &[("idempotency-key", "key-busy")], &crashed).await;
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert_eq!(busy.body["error"]["code"], "IDEMPOTENCY_KEY_IN_FLIGHT");
    let resumed = batch(address, &[("idempotency-key", "key-crash")], &crashed).await;
    assert_eq!(resumed.body["success"], true, "{}", resumed.body);
    assert_eq!(resumed.body["results"]["a"]["data"]["userId"], "c-1");
    assert_eq!(users_of(address, "crash").await, ["c-1", "c-2"]);
}

/// Statements straight to a server's database, beside graft.
enum Sql<'d> {
    Postgres(&'d PgSchema),
    Mysql(&'d MyDatabase),
}

impl Sql<'_> {
    fn of(database: &Database) -> Option<Sql<'_>> {
        match database {
            Database::Sqlite(_) => None,
            Database::Postgres(schema) => Some(Sql::Postgres(schema)),
            Database::Mysql(database) => Some(Sql::Mysql(database)),
        }
    }

    async fn run(&self, statements: &[String]) {
        match self {
            Sql::Postgres(schema) => {
                let client = graft_testkit::pg_admin().await;
                client
                    .batch_execute(&format!("SET search_path TO \"{}\"", schema.name()))
                    .await
                    .unwrap();
                for statement in statements {
                    client.batch_execute(statement).await.unwrap();
                }
            }
            Sql::Mysql(database) => {
                use mysql_async::prelude::Queryable as _;
                let mut conn = graft_testkit::mysql_admin().await;
                conn.query_drop(format!("USE `{}`", database.name()))
                    .await
                    .unwrap();
                for statement in statements {
                    conn.query_drop(statement).await.unwrap();
                }
            }
        }
    }
}

async fn forbidden(address: SocketAddr) {
    let reply = batch(
        address,
        &[],
        &json!({ "operations": [
            user("u", "perm", "p-1"),
            { "id": "o", "entity": "Order", "action": "create",
              "store_params": { "orgId": "perm", "userId": "p-1", "total": 1, "status": "x" }, "depends_on": ["u"] },
            { "id": "r", "entity": "OrgUser", "action": "read", "query_params": { "orgId": "perm" } }
        ], "options": { "atomic": true, "continueOnError": true } }),
    )
    .await;
    let body = &reply.body;
    assert_eq!(reply.status, 200, "{body}");
    assert_eq!(body["results"]["u"]["status"], "succeeded");
    assert_eq!(body["results"]["o"]["statusCode"], 403);
    assert_eq!(body["results"]["o"]["error"]["code"], "FORBIDDEN");
    assert_eq!(body["results"]["o"]["error"]["action"], "create");
    // A forged `claims` field is refused before anything runs.
    let forged = batch(
        address,
        &[],
        &json!({ "operations": [
            { "id": "o", "entity": "Order", "action": "delete", "query_params": { "id": "1" },
              "claims": { "scope": "*" } }
        ]}),
    )
    .await;
    assert_eq!(forged.status, 400);
    assert_eq!(forged.body["error"]["code"], "BATCH_INVALID");
    assert!(
        forged.body["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("claims")
    );
    // The same check guards GraphQL mutations.
    let mutation = common::graphql(
        address,
        json!({ "query": "mutation { deleteOrder(id: \"1\") { id } }" }),
    )
    .await;
    assert_eq!(common::first_error_code(&mutation.body), "FORBIDDEN");
}
