//! What Apollo Router sends a subgraph beyond one JSON request per POST: batched requests (a
//! JSON array), compressed request bodies, `Accept-Encoding` on responses; and the status and
//! content-type rules of GraphQL over HTTP, one table per response media type.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;

use common::{
    ENTITIES, RawReply as Raw, first_error_code, org_user, post_raw, start, start_default,
};
use graft_resolve::{EngineConfig, RequestLimits};
use graft_server::HttpLimits;
use serde_json::{Value, json};

async fn send(address: SocketAddr, headers: &[(&str, &str)], body: Vec<u8>) -> Raw {
    post_raw(address, headers, body).await
}

/// The demo with `limits`, running one request of a batch at a time.
async fn start_limited(limits: RequestLimits) -> SocketAddr {
    let http = HttpLimits {
        batch_concurrency: 1,
        ..HttpLimits::default()
    };
    start(
        http,
        EngineConfig {
            limits,
            ..EngineConfig::default()
        },
    )
    .await
}

const JSON: (&str, &str) = ("content-type", "application/json");

async fn batch(address: SocketAddr, body: Value) -> Raw {
    send(address, &[JSON], body.to_string().into_bytes()).await
}

fn entities(representations: Vec<Value>) -> Value {
    json!({ "query": ENTITIES, "variables": { "representations": representations } })
}

#[tokio::test]
async fn a_batch_is_answered_in_order_each_entry_as_if_alone() {
    let address = start_default().await;
    let reply = batch(
        address,
        json!([
            entities(vec![org_user(2, "u1")]),
            { "query": "{ nope }" },
            entities(vec![org_user(1, "u1"), org_user(1, "nobody")]),
            [ { "query": "{ __typename }" } ],
            42,
            { "query": "{ __typename }" },
        ]),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/json");
    let answers = reply.json();
    let answers = answers.as_array().expect("an array");
    assert_eq!(answers.len(), 6, "{answers:?}");
    assert_eq!(
        answers[0]["data"]["_entities"][0]["name"],
        "User 1 of org-2"
    );
    assert_eq!(first_error_code(&answers[1]), "GRAPHQL_VALIDATION_FAILED");
    assert!(answers[1].get("data").is_none(), "{}", answers[1]);
    assert_eq!(
        answers[2]["data"]["_entities"][0]["name"],
        "User 1 of org-1"
    );
    assert_eq!(answers[2]["data"]["_entities"][1], Value::Null);
    assert_eq!(first_error_code(&answers[3]), "BAD_REQUEST");
    let nested = answers[3]["errors"][0]["message"].as_str().unwrap();
    assert!(nested.contains("batch entry 3 is an array"), "{nested}");
    assert_eq!(answers[3]["errors"][0]["extensions"]["batchIndex"], 3);
    let number = answers[4]["errors"][0]["message"].as_str().unwrap();
    assert!(
        number.contains("batch entry 4 is not a GraphQL request"),
        "{number}"
    );
    assert_eq!(answers[5], json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test]
async fn batches_empty_too_large_malformed_or_turned_off_are_refused() {
    let address = start(
        HttpLimits {
            max_batch_size: 3,
            ..HttpLimits::default()
        },
        EngineConfig::default(),
    )
    .await;
    let one = json!({ "query": "{ __typename }" });
    let refused = |reply: &Raw| (reply.status, first_error_code(&reply.json()).to_owned());

    let empty = batch(address, json!([])).await;
    assert_eq!(refused(&empty), (400, "BAD_REQUEST".to_owned()));
    assert!(String::from_utf8_lossy(&empty.body).contains("the batch is empty"));
    let four = batch(address, json!([one, one, one, one])).await;
    assert_eq!(refused(&four), (400, "BATCH_TOO_LARGE".to_owned()));
    assert!(
        String::from_utf8_lossy(&four.body).contains("more than 3 requests, the limit"),
        "{}",
        String::from_utf8_lossy(&four.body)
    );
    // A million entries are refused by the limit, read no further than it: what follows the
    // fourth entry is not even looked at.
    let million = format!("[{}0]", "0,".repeat(999_999));
    let reply = send(address, &[JSON], million.into_bytes()).await;
    assert_eq!(refused(&reply), (400, "BATCH_TOO_LARGE".to_owned()));
    let unread = br#"[{}, {}, {}, {}, this is not JSON"#.to_vec();
    let reply = send(address, &[JSON], unread).await;
    assert_eq!(refused(&reply), (400, "BATCH_TOO_LARGE".to_owned()));
    let three = batch(address, json!([one, one, one])).await;
    assert_eq!(three.json().as_array().map(Vec::len), Some(3));
    let broken = send(
        address,
        &[JSON],
        b"[{\"query\": \"{ __typename }\"},".to_vec(),
    )
    .await;
    assert_eq!(refused(&broken), (400, "BAD_REQUEST".to_owned()));
    assert!(String::from_utf8_lossy(&broken.body).contains("not a batch of GraphQL requests"));

    let off = start(
        HttpLimits {
            batching: false,
            ..HttpLimits::default()
        },
        EngineConfig::default(),
    )
    .await;
    let reply = batch(off, json!([one])).await;
    assert_eq!(refused(&reply), (400, "BATCHING_DISABLED".to_owned()));
}

#[tokio::test]
async fn the_request_limits_bound_a_batch_as_a_whole() {
    // Each `_entities` entry below costs one statement; a batch of three may spend two.
    let address = start_limited(RequestLimits {
        max_statements: 2,
        ..RequestLimits::default()
    })
    .await;
    let reply = batch(
        address,
        json!([
            entities(vec![org_user(1, "u1")]),
            entities(vec![org_user(2, "u1")]),
            entities(vec![org_user(3, "u1")]),
        ]),
    )
    .await;
    let answers = reply.json();
    assert_eq!(
        answers[0]["data"]["_entities"][0]["name"],
        "User 1 of org-1"
    );
    assert_eq!(
        answers[1]["data"]["_entities"][0]["name"],
        "User 1 of org-2"
    );
    assert_eq!(first_error_code(&answers[2]), "MAX_STATEMENTS_EXCEEDED");
    assert_eq!(answers[2]["errors"][0]["extensions"]["scope"], "batch");

    // The estimated cost: each entry is under `max_cost`, the three together are not.
    let address = start_limited(RequestLimits {
        max_cost: 25,
        ..RequestLimits::default()
    })
    .await;
    let ten: Vec<Value> = (1..=10).map(|org| org_user(org, "u1")).collect();
    let reply = batch(
        address,
        json!([entities(ten.clone()), entities(ten.clone()), entities(ten)]),
    )
    .await;
    let answers = reply.json();
    assert!(answers[0]["data"]["_entities"].is_array(), "{answers}");
    assert!(answers[1]["data"]["_entities"].is_array(), "{answers}");
    assert_eq!(
        first_error_code(&answers[2]),
        "COST_ESTIMATED_TOO_EXPENSIVE"
    );
    assert_eq!(answers[2]["errors"][0]["extensions"]["scope"], "batch");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &Default::default()).unwrap();
    out
}

#[tokio::test]
async fn compressed_request_bodies_are_read_and_bombs_stop_at_the_body_limit() {
    let address = start(
        HttpLimits {
            max_body_bytes: 64 * 1024,
            ..HttpLimits::default()
        },
        EngineConfig::default(),
    )
    .await;
    let request = entities(vec![org_user(3, "u2")]).to_string().into_bytes();
    for (encoding, body) in [
        ("gzip", gzip(&request)),
        ("br", brotli(&request)),
        ("deflate", deflate(&request)),
        ("identity", request.clone()),
    ] {
        let reply = send(address, &[JSON, ("content-encoding", encoding)], body).await;
        assert_eq!(reply.status, 200, "{encoding}");
        assert_eq!(
            reply.json()["data"]["_entities"][0]["name"],
            "User 2 of org-3",
            "{encoding}"
        );
    }
    // A batch may come compressed too.
    let batched = json!([entities(vec![org_user(3, "u2")])]).to_string();
    let reply = send(
        address,
        &[JSON, ("content-encoding", "gzip")],
        gzip(batched.as_bytes()),
    )
    .await;
    assert_eq!(
        reply.json()[0]["data"]["_entities"][0]["name"],
        "User 2 of org-3"
    );

    // 16 MiB of spaces in a JSON string: 16 KiB gzipped, 256 times the body limit inflated.
    let mut bomb = b"{\"query\": \"{ __typename }\", \"extensions\": {\"x\": \"".to_vec();
    bomb.resize(bomb.len() + 16 * 1024 * 1024, b' ');
    bomb.extend_from_slice(b"\"}}");
    let compressed = gzip(&bomb);
    assert!(compressed.len() < 64 * 1024, "{}", compressed.len());
    let reply = send(address, &[JSON, ("content-encoding", "gzip")], compressed).await;
    assert_eq!(reply.status, 413);
    assert_eq!(first_error_code(&reply.json()), "PAYLOAD_TOO_LARGE");

    let reply = send(
        address,
        &[JSON, ("content-encoding", "gzip")],
        b"not gzip at all".to_vec(),
    )
    .await;
    assert_eq!(reply.status, 400);
    let message = reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("could not be read"), "{message}");

    // Content codings are case-insensitive.
    let reply = send(
        address,
        &[JSON, ("content-encoding", "GZip")],
        gzip(&request),
    )
    .await;
    assert_eq!(
        reply.json()["data"]["_entities"][0]["name"],
        "User 2 of org-3"
    );

    for (unknown, said) in [
        (
            &[("content-encoding", "zstd")][..],
            "`zstd` is not supported",
        ),
        (
            &[("content-encoding", "compress")][..],
            "`compress` is not supported",
        ),
        (
            &[("content-encoding", "gzip, br")][..],
            "several content encodings",
        ),
        (
            &[
                ("content-encoding", "identity"),
                ("content-encoding", "gzip"),
            ][..],
            "several content encodings",
        ),
    ] {
        let headers = [&[JSON][..], unknown].concat();
        let reply = send(address, &headers, request.clone()).await;
        assert_eq!(reply.status, 415, "{unknown:?}");
        assert_eq!(
            first_error_code(&reply.json()),
            "UNSUPPORTED_CONTENT_ENCODING"
        );
        assert_eq!(
            reply.header("accept-encoding"),
            "gzip, br, deflate, identity"
        );
        let message = reply.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(said), "{message}");
    }
}

#[tokio::test]
async fn responses_are_compressed_only_when_asked_and_large_enough() {
    let address = start_default().await;
    let many: Vec<Value> = (1..=10)
        .flat_map(|org| (1..=5).map(move |user| org_user(org, &format!("u{user}"))))
        .collect();
    let large = entities(many).to_string().into_bytes();
    let plain = send(address, &[JSON], large.clone()).await;
    assert_eq!(plain.header("content-encoding"), "");
    assert!(plain.body.len() > 1024, "{}", plain.body.len());
    let expected = plain.json();

    for encoding in ["gzip", "br", "zstd", "deflate"] {
        let reply = send(
            address,
            &[JSON, ("accept-encoding", encoding)],
            large.clone(),
        )
        .await;
        assert_eq!(reply.header("content-encoding"), encoding);
        assert!(reply.body.len() < plain.body.len() / 2, "{encoding}");
        let decoded = match encoding {
            "gzip" => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&reply.body[..]),
                    &mut out,
                )
                .unwrap();
                out
            }
            "deflate" => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::ZlibDecoder::new(&reply.body[..]),
                    &mut out,
                )
                .unwrap();
                out
            }
            "br" => {
                let mut out = Vec::new();
                brotli::BrotliDecompress(&mut &reply.body[..], &mut out).unwrap();
                out
            }
            _ => zstd::decode_all(&reply.body[..]).unwrap(),
        };
        let decoded: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(decoded, expected, "{encoding}");
    }

    // Below `compression_min_bytes`, a response goes as it is.
    let small = entities(vec![org_user(1, "u1")]).to_string().into_bytes();
    let reply = send(address, &[JSON, ("accept-encoding", "gzip")], small).await;
    assert_eq!(reply.header("content-encoding"), "");
    assert!(reply.body.len() < 1024);

    let off = start(
        HttpLimits {
            compression: false,
            ..HttpLimits::default()
        },
        EngineConfig::default(),
    )
    .await;
    let reply = send(off, &[JSON, ("accept-encoding", "gzip")], large).await;
    assert_eq!(reply.header("content-encoding"), "");
}

/// One row of a GraphQL-over-HTTP table: what is sent, and the status and error code expected
/// (`None` when the response carries `data` and no error).
struct Case {
    what: &'static str,
    content_type: &'static str,
    body: &'static str,
    status: u16,
    code: Option<&'static str>,
}

const fn case(
    what: &'static str,
    content_type: &'static str,
    body: &'static str,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case {
        what,
        content_type,
        body,
        status,
        code,
    }
}

async fn check_table(accept: &str, expected_type: &str, cases: &[Case]) {
    let address = start(
        HttpLimits {
            max_body_bytes: 4096,
            ..HttpLimits::default()
        },
        EngineConfig::default(),
    )
    .await;
    for case in cases {
        let mut headers = vec![("content-type", case.content_type)];
        if !accept.is_empty() {
            headers.push(("accept", accept));
        }
        let body = if case.body == "<large>" {
            format!("{{\"query\": \"{}\"}}", " ".repeat(5000)).into_bytes()
        } else {
            case.body.as_bytes().to_vec()
        };
        let reply = send(address, &headers, body).await;
        let what = format!("{accept:?}: {}", case.what);
        assert_eq!(reply.status, case.status, "{what}");
        assert_eq!(reply.header("content-type"), expected_type, "{what}");
        let json = reply.json();
        match case.code {
            None => {
                assert!(
                    json.get("data").is_some() && json.get("errors").is_none(),
                    "{what}: {json}"
                )
            }
            Some(code) => assert_eq!(first_error_code(&json), code, "{what}: {json}"),
        }
    }
}

const TWO_OPERATIONS: &str = r#"{"query": "query A { __typename } query B { __typename }"}"#;
const CHOSEN: &str =
    r#"{"query": "query A { __typename } query B { __typename }", "operationName": "B"}"#;

#[tokio::test]
async fn graphql_over_http_with_application_json() {
    let json = "application/json";
    // With `application/json`, every well-formed GraphQL request gets 200, errors or not.
    let cases = [
        case("a query", json, r#"{"query": "{ __typename }"}"#, 200, None),
        case(
            "a charset",
            "application/json; charset=utf-8",
            r#"{"query": "{ __typename }"}"#,
            200,
            None,
        ),
        case("operationName chooses", json, CHOSEN, 200, None),
        case(
            "two operations, no name",
            json,
            TWO_OPERATIONS,
            200,
            Some("OPERATION_NOT_SUPPORTED"),
        ),
        case(
            "a parse error",
            json,
            r#"{"query": "{"}"#,
            200,
            Some("GRAPHQL_PARSE_FAILED"),
        ),
        case(
            "a validation error",
            json,
            r#"{"query": "{ nope }"}"#,
            200,
            Some("GRAPHQL_VALIDATION_FAILED"),
        ),
        case(
            "no query",
            json,
            r#"{"variables": {}}"#,
            200,
            Some("BAD_REQUEST"),
        ),
        case(
            "bad variables",
            json,
            r#"{"query": "query($b: Boolean!) { __typename @include(if: $b) }", "variables": {"b": "x"}}"#,
            200,
            Some("BAD_USER_INPUT"),
        ),
        case("not JSON", json, "{", 400, Some("BAD_REQUEST")),
        case(
            "query not a string",
            json,
            r#"{"query": 1}"#,
            400,
            Some("BAD_REQUEST"),
        ),
        case(
            "a form",
            "application/x-www-form-urlencoded",
            "query=x",
            415,
            Some("UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "over the body limit",
            json,
            "<large>",
            413,
            Some("PAYLOAD_TOO_LARGE"),
        ),
    ];
    check_table("application/json", json, &cases).await;
    check_table("", json, &cases).await;
}

#[tokio::test]
async fn graphql_over_http_with_application_graphql_response_json() {
    let json = "application/json";
    let gql = "application/graphql-response+json";
    // With `application/graphql-response+json`, a request rejected before execution gets 400.
    let cases = [
        case("a query", json, r#"{"query": "{ __typename }"}"#, 200, None),
        case("operationName chooses", json, CHOSEN, 200, None),
        case(
            "two operations, no name",
            json,
            TWO_OPERATIONS,
            400,
            Some("OPERATION_NOT_SUPPORTED"),
        ),
        case(
            "a parse error",
            json,
            r#"{"query": "{"}"#,
            400,
            Some("GRAPHQL_PARSE_FAILED"),
        ),
        case(
            "a validation error",
            json,
            r#"{"query": "{ nope }"}"#,
            400,
            Some("GRAPHQL_VALIDATION_FAILED"),
        ),
        case(
            "no query",
            json,
            r#"{"variables": {}}"#,
            400,
            Some("BAD_REQUEST"),
        ),
        case(
            "bad variables",
            json,
            r#"{"query": "query($b: Boolean!) { __typename @include(if: $b) }", "variables": {"b": "x"}}"#,
            400,
            Some("BAD_USER_INPUT"),
        ),
        case("not JSON", json, "{", 400, Some("BAD_REQUEST")),
        case(
            "a form",
            "application/x-www-form-urlencoded",
            "query=x",
            415,
            Some("UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "over the body limit",
            json,
            "<large>",
            413,
            Some("PAYLOAD_TOO_LARGE"),
        ),
    ];
    check_table(gql, gql, &cases).await;
    check_table(&format!("{gql}, application/json;q=0.9"), gql, &cases).await;
}
