//! The real server on an ephemeral port, driven over HTTP: `_service`, introspection, the query
//! page, and every kind of bad input with its status. Resolution itself, on every database, is
//! in `conformance.rs`.

mod common;

use common::{ENTITIES, first_error_code, graphql, org_user, post, start, start_default};
use graft_resolve::EngineConfig;
use graft_server::HttpLimits;
use serde_json::{Value, json};

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
async fn health_graphiql_and_get_queries() {
    let address = start_default().await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{address}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // A browser's navigation gets GraphiQL; every file it loads is served by graft itself.
    let page = client
        .get(format!("http://{address}/graphql"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(policy.contains("connect-src 'self';"), "{policy}");
    let html = page.text().await.unwrap();
    let files: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("graphiql/"))
        .collect();
    assert_eq!(files.len(), 5, "{html}");
    for file in &files {
        let asset = client
            .get(format!("http://{address}/{file}"))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{file}");
        assert!(
            asset.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert!(!asset.bytes().await.unwrap().is_empty());
    }
    let stale = files[0].replacen("graphiql/", "graphiql/000000", 1);
    let stale = client
        .get(format!("http://{address}/{stale}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);
    // A client that is not a browser and sends no query is told what is missing.
    let no_query = client
        .get(format!("http://{address}/graphql"))
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(no_query.status(), 400);
    let body: Value = no_query.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`query` parameter"),
        "{body}"
    );
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
    // Variables reach introspection too.
    let reply = graphql(
        address,
        json!({
            "query": "query($name: String!) { __type(name: $name) { name } }",
            "variables": { "name": "Order" }
        }),
    )
    .await;
    assert_eq!(
        reply.body["data"]["__type"]["name"], "Order",
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn the_introspection_query_of_every_tool_passes_the_default_limits() {
    let address = start_default().await;
    let query = include_str!("fixtures/introspection.graphql");
    let reply = graphql(address, json!({ "query": query })).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let types = reply.body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|ty| ty["name"] == "OrgUser"));

    // Its list fields nested once more would multiply the response by the schema's size.
    let nested =
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    let reply = graphql(address, json!({ "query": nested })).await;
    assert_eq!(reply.status, 200);
    assert_eq!(common::first_error_code(&reply.body), "MAX_DEPTH_EXCEEDED");
    assert!(reply.body.get("data").is_none(), "{}", reply.body);
}

#[tokio::test]
async fn service_sdl_still_answers_when_introspection_is_disabled() {
    let address = start(
        HttpLimits::default(),
        EngineConfig {
            introspection: false,
            ..EngineConfig::default()
        },
    )
    .await;
    let reply = graphql(address, json!({ "query": "{ _service { sdl } }" })).await;
    assert!(
        reply.body["data"]["_service"]["sdl"]
            .as_str()
            .is_some_and(|sdl| sdl.contains("@key"))
    );
    let reply = graphql(
        address,
        json!({ "query": "{ __schema { queryType { name } } }" }),
    )
    .await;
    assert_eq!(first_error_code(&reply.body), "INTROSPECTION_DISABLED");
    assert_eq!(reply.body["data"]["__schema"], Value::Null);
}

/// The top-level fields of a protobuf message: (number, varint value or bytes).
fn protobuf_fields(mut input: &[u8]) -> Vec<(u64, Result<u64, Vec<u8>>)> {
    fn varint(input: &mut &[u8]) -> u64 {
        let mut value = 0;
        let mut shift = 0;
        loop {
            let (&byte, rest) = input.split_first().expect("a varint byte");
            *input = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }
    let mut fields = Vec::new();
    while !input.is_empty() {
        let key = varint(&mut input);
        match key & 7 {
            0 => fields.push((key >> 3, Ok(varint(&mut input)))),
            2 => {
                let len = usize::try_from(varint(&mut input)).unwrap();
                let (value, rest) = input.split_at(len);
                fields.push((key >> 3, Err(value.to_vec())));
                input = rest;
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    fields
}

#[tokio::test]
async fn ftv1_header_adds_a_federated_trace_to_the_response() {
    use base64::Engine as _;

    let address = start_default().await;
    let body = json!({ "query": "query { __typename }" }).to_string();
    let reply = post(
        address,
        &[
            ("content-type", "application/json"),
            ("Apollo-Federation-Include-Trace", "ftv1"),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let encoded = reply.body["extensions"]["ftv1"]
        .as_str()
        .unwrap_or_else(|| panic!("extensions.ftv1 is a string: {}", reply.body));
    assert_eq!(
        reply.body,
        json!({ "data": { "__typename": "Query" }, "extensions": { "ftv1": encoded } })
    );
    let trace = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("standard, padded base64");
    let fields = protobuf_fields(&trace);
    let numbers: Vec<u64> = fields.iter().map(|(number, _)| *number).collect();
    assert_eq!(numbers, [3, 4, 11, 14], "{fields:?}");
    assert!(
        matches!(fields[2], (11, Ok(ns)) if ns > 0),
        "duration_ns: {fields:?}"
    );
    let seconds =
        |field: &Result<u64, Vec<u8>>| match protobuf_fields(field.as_ref().unwrap_err()).first() {
            Some((1, Ok(seconds))) => *seconds,
            other => panic!("a timestamp starts with its seconds: {other:?}"),
        };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (start, end) = (seconds(&fields[1].1), seconds(&fields[0].1));
    assert!(
        start <= end && now.abs_diff(start) < 60,
        "{start} {end} {now}"
    );
    let root = protobuf_fields(fields[3].1.as_ref().unwrap_err());
    let [(12, Err(child))] = root.as_slice() else {
        panic!("the root has one child: {root:?}")
    };
    let child = protobuf_fields(child);
    assert_eq!(child[0], (1, Err(b"__typename".to_vec())));
    assert_eq!(child.last(), Some(&(13, Err(b"Query".to_vec()))));

    // Without the header, or with another value, the response is untouched.
    for headers in [
        &[("content-type", "application/json")][..],
        &[
            ("content-type", "application/json"),
            ("apollo-federation-include-trace", "ftv2"),
        ][..],
    ] {
        let reply = post(address, headers, body.clone()).await;
        assert_eq!(reply.body, json!({ "data": { "__typename": "Query" } }));
    }
}

#[tokio::test]
async fn ftv1_trace_records_errors_and_keeps_debug_extensions() {
    use base64::Engine as _;

    let address = start_default().await;
    let reply = post(
        address,
        &[
            ("content-type", "application/json"),
            ("graft-debug", "true"),
            ("apollo-federation-include-trace", "ftv1"),
        ],
        json!({
            "query": ENTITIES,
            "variables": { "representations": [org_user(1, "u1"), { "__typename": "Nope" }] },
        })
        .to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(first_error_code(&reply.body), "INVALID_REPRESENTATION");
    assert!(reply.body["extensions"]["graft"]["batch"].is_object());
    let trace = base64::engine::general_purpose::STANDARD
        .decode(reply.body["extensions"]["ftv1"].as_str().unwrap())
        .unwrap();
    let (_, root) = protobuf_fields(&trace)
        .into_iter()
        .find(|(number, _)| *number == 14)
        .expect("a root node");
    let root = protobuf_fields(&root.unwrap_err());
    let errors: Vec<_> = root.iter().filter(|(number, _)| *number == 11).collect();
    assert_eq!(errors.len(), 1, "{root:?}");
    let error = protobuf_fields(errors[0].1.as_ref().unwrap_err());
    let (1, Err(message)) = &error[0] else {
        panic!("{error:?}")
    };
    assert_eq!(
        std::str::from_utf8(message).unwrap(),
        reply.body["errors"][0]["message"].as_str().unwrap()
    );
    let (4, Err(json)) = &error[1] else {
        panic!("{error:?}")
    };
    let json: Value = serde_json::from_slice(json).unwrap();
    assert_eq!(json, reply.body["errors"][0]);
}
