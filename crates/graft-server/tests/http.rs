//! The real server on an ephemeral port, driven over HTTP: `_service`, `_entities` batching,
//! the root query, and every kind of bad input with its status.

use std::net::SocketAddr;

use graft_resolve::EngineConfig;
use graft_server::{HttpLimits, app, demo};
use serde_json::{Value, json};

/// Starts the demo server with `limits` and `config` and returns its address.
async fn start(limits: HttpLimits, config: EngineConfig) -> SocketAddr {
    let state = demo::demo_state(limits, config)
        .await
        .expect("the demo starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an ephemeral port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app(state)).await.expect("serves") });
    address
}

async fn start_default() -> SocketAddr {
    start(HttpLimits::default(), EngineConfig::default()).await
}

struct Reply {
    status: u16,
    content_type: String,
    body: Value,
}

async fn post(
    address: SocketAddr,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, got {text:?}"));
    Reply {
        status,
        content_type,
        body,
    }
}

async fn graphql(address: SocketAddr, body: Value) -> Reply {
    post(
        address,
        &[
            ("content-type", "application/json"),
            ("graft-debug", "true"),
        ],
        body.to_string(),
    )
    .await
}

const ENTITIES: &str = "query($representations: [_Any!]!) { _entities(representations: $representations) { \
    __typename ... on OrgUser { orgId userId name email active } } }";

fn org_user(org: u32, user: &str) -> Value {
    json!({ "__typename": "OrgUser", "orgId": format!("org-{org}"), "userId": user })
}

fn first_error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

#[tokio::test]
async fn service_sdl_is_the_federation_schema_without_graft_directives() {
    let address = start_default().await;
    let reply = graphql(address, json!({ "query": "{ _service { sdl } }" })).await;
    assert_eq!(reply.status, 200);
    let sdl = reply.body["data"]["_service"]["sdl"]
        .as_str()
        .expect("sdl is a string");
    assert!(sdl.contains(r#"@key(fields: "orgId userId")"#), "{sdl}");
    assert!(
        sdl.contains("@link(url: \"https://specs.apollo.dev/federation/v2.3\""),
        "{sdl}"
    );
    assert!(!sdl.contains("@table") && !sdl.contains("@column"), "{sdl}");
    // What graft advertises is itself a valid subgraph schema.
    graft_keys::parse_subgraph_schema(sdl, "advertised.graphql", "")
        .expect("the advertised SDL is valid");
}

#[tokio::test]
async fn entities_batch_of_100_keeps_order_answers_missing_with_null_and_issues_one_statement() {
    let address = start_default().await;
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

#[tokio::test]
async fn root_query_by_composite_key_and_by_id() {
    let address = start_default().await;
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

#[tokio::test]
async fn invalid_representations_give_null_and_an_error_each() {
    let address = start_default().await;
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

#[tokio::test]
async fn bad_http_input_gets_a_graphql_error_and_the_right_status() {
    let address = start(
        HttpLimits {
            max_body_bytes: 4096,
            ..HttpLimits::default()
        },
        EngineConfig {
            max_representations: 10,
            ..EngineConfig::default()
        },
    )
    .await;
    let json = [("content-type", "application/json")];
    let gql_response = [
        ("content-type", "application/json"),
        ("accept", "application/graphql-response+json"),
    ];

    let reply = post(address, &json, "{not json").await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (400, "BAD_REQUEST")
    );
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not a GraphQL request")
    );

    let reply = post(address, &[("content-type", "text/plain")], "{}").await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (415, "UNSUPPORTED_MEDIA_TYPE")
    );

    let reply = post(
        address,
        &json,
        json!({ "query": "{ _service { sdl }" }).to_string(),
    )
    .await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (200, "GRAPHQL_PARSE_FAILED")
    );
    assert!(reply.body.get("data").is_none());
    let reply = post(
        address,
        &gql_response,
        json!({ "query": "{ _service { sdl }" }).to_string(),
    )
    .await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (400, "GRAPHQL_PARSE_FAILED")
    );
    assert_eq!(reply.content_type, "application/graphql-response+json");

    let reply = post(
        address,
        &json,
        json!({ "query": "{ orgUser(orgId: \"a\", userId: \"b\") { salary } }" }).to_string(),
    )
    .await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (200, "GRAPHQL_VALIDATION_FAILED")
    );
    let messages = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap());
    assert!(
        messages
            .clone()
            .any(|m| m == "type `OrgUser` does not have a field `salary`"),
        "{}",
        reply.body
    );
    assert!(reply.body["errors"][0]["locations"][0]["line"].is_number());
    let reply = post(
        address,
        &gql_response,
        json!({ "query": "{ nope }" }).to_string(),
    )
    .await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (400, "GRAPHQL_VALIDATION_FAILED")
    );

    let reply = post(address, &json, json!({ "query": ENTITIES }).to_string()).await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (200, "BAD_USER_INPUT")
    );
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("$representations")
    );

    let eleven: Vec<Value> = (1..=11).map(|i| org_user(1, &format!("u{i}"))).collect();
    let body = json!({ "query": ENTITIES, "variables": { "representations": eleven } }).to_string();
    let reply = post(address, &json, body.clone()).await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (200, "TOO_MANY_REPRESENTATIONS")
    );
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 10")
    );
    let reply = post(address, &gql_response, body).await;
    assert_eq!(reply.status, 400);

    let reply = post(address, &json, "x".repeat(5000)).await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (413, "PAYLOAD_TOO_LARGE")
    );

    let reply = post(address, &json, json!({ "variables": {} }).to_string()).await;
    assert_eq!(
        (reply.status, first_error_code(&reply.body)),
        (200, "BAD_REQUEST")
    );

    let reply = post(
        address,
        &json,
        json!({ "query": "mutation { x }" }).to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body["errors"].is_array());
}

#[tokio::test]
async fn health_page_and_get_queries() {
    let address = start_default().await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{address}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let page = client
        .get(format!("http://{address}/graphql"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<textarea"));
    let query = client
        .get(format!("http://{address}/graphql"))
        .query(&[(
            "query",
            "{ orgUser(orgId: \"org-1\", userId: \"u2\") { name } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    let body: Value = query.json().await.unwrap();
    assert_eq!(body["data"]["orgUser"]["name"], "User 2 of org-1");
    let missing = client
        .get(format!("http://{address}/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn introspection_answers_schema_queries() {
    let address = start_default().await;
    let reply = graphql(
        address,
        json!({ "query": "{ __type(name: \"OrgUser\") { name fields { name } } __typename }" }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["data"]["__type"]["name"], "OrgUser");
    assert_eq!(reply.body["data"]["__typename"], "Query");
    assert_eq!(reply.body["data"]["__type"]["fields"][0]["name"], "orgId");
}
