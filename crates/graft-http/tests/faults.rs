//! `HttpSource` against real HTTP servers on 127.0.0.1 (wiremock, and axum where a handler must
//! record when each attempt arrives): the happy path and the faults a remote subgraph shows —
//! silence, overload, refusals, malformed answers, partial errors, a closed port, a deadline.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use graft_http::{HttpSource, HttpSourceConfig};
use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{
    Cell, EntitySource, FetchRequest, RequestContext, RequestStats, ResolveError, RowSet,
    SourceErrorKind,
};
use graft_schema::SubgraphSchema;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SDL: &str = r#"
type OrgUser @key(fields: "orgId userId") {
  orgId: String!
  userId: String!
  name: String!
  email: String
}
"#;

/// `name` and `email` of OrgUser.
const COLUMNS: [usize; 2] = [2, 3];

const QUERY: &str = "query($representations: [_Any!]!) { _entities(representations: \
                     $representations) { ... on OrgUser { name email } } }";

fn schema() -> Arc<SubgraphSchema> {
    Arc::new(SubgraphSchema::parse(SDL, "t.graphql").unwrap_or_else(|e| panic!("{e}")))
}

fn key(org: &str, user: &str) -> EntityKey {
    EntityKey::new(
        Name::new("OrgUser").expect("a name"),
        KeyIndex(0),
        vec![KeyValue::String(org.into()), KeyValue::String(user.into())],
    )
}

fn three_keys() -> Vec<EntityKey> {
    vec![key("o1", "u1"), key("o1", "nobody"), key("o#2", "u\"2")]
}

/// Short timings, so that faults show within a second or two.
fn config(url: &str) -> HttpSourceConfig {
    HttpSourceConfig {
        name: "users".into(),
        url: url.into(),
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(2),
        max_attempts: 3,
        total_timeout: Duration::from_secs(5),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(2),
        headers: vec![("authorization".into(), "Bearer t0ken".into())],
        ..HttpSourceConfig::default()
    }
}

/// A fetch's rows, with the HTTP requests the source reported for it.
#[derive(Debug)]
struct Fetched {
    rows: RowSet,
    requests: usize,
}

impl std::ops::Deref for Fetched {
    type Target = RowSet;

    fn deref(&self) -> &RowSet {
        &self.rows
    }
}

impl Fetched {
    fn requests(&self) -> usize {
        self.requests
    }
}

async fn fetch_with(
    config: HttpSourceConfig,
    ctx: &RequestContext,
    keys: &[EntityKey],
) -> Result<Fetched, ResolveError> {
    let schema = schema();
    let source = HttpSource::new(config, Arc::clone(&schema)).expect("valid config");
    let mapping = schema.mapping("OrgUser").expect("mapped");
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let stats = Arc::new(RequestStats::default());
    let ctx = ctx.observed_by(stats.clone());
    let rows = source
        .fetch(
            &ctx,
            FetchRequest::by_key(mapping, KeyIndex(0), &refs, &COLUMNS),
        )
        .await?;
    Ok(Fetched {
        rows,
        requests: stats.requests(),
    })
}

async fn fetch(config: HttpSourceConfig, keys: &[EntityKey]) -> Result<Fetched, ResolveError> {
    fetch_with(config, &RequestContext::new("t"), keys).await
}

fn graphql_url(server: &MockServer) -> String {
    format!("{}/graphql", server.uri())
}

fn entities(list: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"data": {"_entities": list}}))
}

fn three_entities() -> ResponseTemplate {
    entities(json!([
        {"name": "Ada", "email": "ada@example.org"},
        null,
        {"name": "Zoë", "email": null},
    ]))
}

fn text(rows: &RowSet, cell: Cell) -> String {
    match cell {
        Cell::Text { start, len } => rows.text(start, len).to_owned(),
        other => panic!("not text: {other:?}"),
    }
}

/// The kind and message of a source error.
fn source_error(err: &ResolveError) -> (SourceErrorKind, &str) {
    match err {
        ResolveError::Source {
            source_name,
            kind,
            message,
        } => {
            assert_eq!(source_name, "users");
            (*kind, message)
        }
        other => panic!("not a source error: {other}"),
    }
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

/// An axum server on an ephemeral port.
async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn assert_between(elapsed: Duration, low_ms: u64, high_ms: u64) {
    assert!(
        elapsed >= Duration::from_millis(low_ms) && elapsed < Duration::from_millis(high_ms),
        "took {elapsed:?}, expected {low_ms}..{high_ms} ms"
    );
}

#[tokio::test]
async fn one_post_answers_every_key_in_order_with_the_exact_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(header("authorization", "Bearer t0ken"))
        .respond_with(three_entities())
        .expect(1)
        .mount(&server)
        .await;
    let rows = fetch(config(&graphql_url(&server)), &three_keys())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.requests(), 1);
    assert_eq!(rows.len(), 3);
    let row = rows.get(0).expect("o1/u1");
    assert_eq!(text(&rows, row[0]), "Ada");
    assert_eq!(text(&rows, row[1]), "ada@example.org");
    assert!(rows.get(1).is_none() && rows.key_error(1).is_none());
    let row = rows.get(2).expect("o#2/u\"2");
    assert_eq!(text(&rows, row[0]), "Zoë");
    assert_eq!(row[1], Cell::Null);

    let received = server.received_requests().await.expect("recorded");
    let body: Value = serde_json::from_slice(&received[0].body).expect("a JSON body");
    assert_eq!(
        body,
        json!({
            "query": QUERY,
            "variables": {"representations": [
                {"__typename": "OrgUser", "orgId": "o1", "userId": "u1"},
                {"__typename": "OrgUser", "orgId": "o1", "userId": "nobody"},
                {"__typename": "OrgUser", "orgId": "o#2", "userId": "u\"2"},
            ]},
        })
    );
}

#[tokio::test]
async fn a_silent_remote_is_a_timeout_after_request_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(three_entities().set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let started = Instant::now();
    let err = fetch(
        HttpSourceConfig {
            request_timeout: Duration::from_millis(300),
            max_attempts: 1,
            ..config(&graphql_url(&server))
        },
        &three_keys(),
    )
    .await
    .unwrap_err();
    assert_between(started.elapsed(), 300, 1_800);
    let (kind, message) = source_error(&err);
    assert_eq!(kind, SourceErrorKind::Timeout);
    assert!(message.contains("/graphql (1 attempt)"), "{message}");
    assert!(message.contains("within 300 ms"), "{message}");
}

/// The handler's state: when each request came.
type Arrivals = Arc<Mutex<Vec<Instant>>>;

async fn overloaded_three_times(
    axum::extract::State(arrivals): axum::extract::State<Arrivals>,
) -> (axum::http::StatusCode, String) {
    let count = {
        let mut arrivals = arrivals.lock().expect("not poisoned");
        arrivals.push(Instant::now());
        arrivals.len()
    };
    if count <= 3 {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "overloaded".to_owned(),
        )
    } else {
        let body = json!({"data": {"_entities": [{"name": "Ada", "email": null}, null, null]}});
        (axum::http::StatusCode::OK, body.to_string())
    }
}

#[tokio::test]
async fn overload_is_retried_with_growing_waits_until_it_passes() {
    let arrivals = Arrivals::default();
    let router = axum::Router::new()
        .route("/graphql", axum::routing::post(overloaded_three_times))
        .with_state(Arc::clone(&arrivals));
    let addr = serve(router).await;
    let rows = fetch(
        HttpSourceConfig {
            max_attempts: 4,
            min_backoff: Duration::from_millis(100),
            ..config(&format!("http://{addr}/graphql"))
        },
        &three_keys(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.requests(), 4);
    assert_eq!(text(&rows, rows.get(0).expect("entity 0")[0]), "Ada");
    let arrivals = arrivals.lock().expect("not poisoned").clone();
    assert_eq!(arrivals.len(), 4);
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    // Waits are 100, 200 and 400 ms, each plus up to as much again in jitter: the floors are
    // certain, and the third wait always exceeds the first.
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(200), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(400), "{gaps:?}");
    assert!(gaps[2] > gaps[0], "{gaps:?}");
}

#[tokio::test]
async fn refusals_and_server_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 500] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "errors": [{"message": "Cannot query field \"nope\" on type \"OrgUser\"."}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let err = fetch(config(&graphql_url(&server)), &three_keys())
            .await
            .unwrap_err();
        assert_eq!(requests(&server).await, 1, "status {status}");
        let (kind, message) = source_error(&err);
        assert_eq!(kind, SourceErrorKind::Http, "status {status}");
        assert!(message.contains(&format!("HTTP {status}")), "{message}");
        assert!(message.contains("(1 attempt)"), "{message}");
        assert!(message.contains("Cannot query field"), "{message}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_protocol_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"data\": {\"_entities\": ["))
        .expect(1)
        .mount(&server)
        .await;
    let err = fetch(config(&graphql_url(&server)), &three_keys())
        .await
        .unwrap_err();
    let (kind, message) = source_error(&err);
    assert_eq!(kind, SourceErrorKind::Protocol);
    assert!(message.contains("not JSON"), "{message}");
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_refused_and_not_retried() {
    let server = MockServer::start().await;
    let padding = "x".repeat(4096);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"_entities": [{"name": padding, "email": null}, null, null]},
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = config(&graphql_url(&server));
    settings.max_response_bytes = 1024;
    let err = fetch(settings, &three_keys()).await.unwrap_err();
    let (kind, message) = source_error(&err);
    assert_eq!(kind, SourceErrorKind::Protocol);
    assert!(message.contains("larger than 1024 bytes"), "{message}");
}

#[tokio::test]
async fn an_error_at_one_entity_fails_that_key_alone() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"_entities": [
                {"name": "Ada", "email": null},
                null,
                {"name": "Zoë", "email": "z@example.org"},
            ]},
            "errors": [{"message": "user store unavailable", "path": ["_entities", 1]}],
        })))
        .mount(&server)
        .await;
    let rows = fetch(config(&graphql_url(&server)), &three_keys())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text(&rows, rows.get(0).expect("key 0")[0]), "Ada");
    assert_eq!(text(&rows, rows.get(2).expect("key 2")[1]), "z@example.org");
    assert!(rows.get(1).is_none());
    let (kind, message) = source_error(rows.key_error(1).expect("key 1 failed"));
    assert_eq!(kind, SourceErrorKind::Remote);
    assert!(message.contains("user store unavailable"), "{message}");
    assert!(rows.key_error(0).is_none() && rows.key_error(2).is_none());
}

#[tokio::test]
async fn a_wrong_number_of_entities_is_a_protocol_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(entities(json!([{"name": "Ada", "email": null}, null])))
        .mount(&server)
        .await;
    let err = fetch(config(&graphql_url(&server)), &three_keys())
        .await
        .unwrap_err();
    let (kind, message) = source_error(&err);
    assert_eq!(kind, SourceErrorKind::Protocol);
    assert!(
        message.contains("2 entities for 3 representations"),
        "{message}"
    );
}

#[tokio::test]
async fn too_many_requests_waits_as_long_as_retry_after_says() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(three_entities())
        .mount(&server)
        .await;
    let started = Instant::now();
    let rows = fetch(config(&graphql_url(&server)), &three_keys())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_between(started.elapsed(), 1_000, 2_500);
    assert_eq!(rows.requests(), 2);
    assert!(rows.get(0).is_some());
}

#[tokio::test]
async fn retry_after_is_capped_by_max_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "60"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(three_entities())
        .mount(&server)
        .await;
    let started = Instant::now();
    let rows = fetch(
        HttpSourceConfig {
            max_backoff: Duration::from_millis(300),
            ..config(&graphql_url(&server))
        },
        &three_keys(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_between(started.elapsed(), 300, 1_500);
    assert_eq!(rows.requests(), 2);
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error_after_every_attempt() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("an address").port()
    };
    let started = Instant::now();
    let err = fetch(
        config(&format!("http://127.0.0.1:{port}/graphql")),
        &three_keys(),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (kind, message) = source_error(&err);
    assert_eq!(kind, SourceErrorKind::Connection, "{message}");
    assert!(
        message.contains(&format!("http://127.0.0.1:{port}/graphql (3 attempts)")),
        "{message}"
    );
}

#[tokio::test]
async fn the_request_deadline_cuts_the_attempt_short() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(three_entities().set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let ctx = RequestContext {
        deadline: Some(Instant::now() + Duration::from_millis(200)),
        ..RequestContext::new("t")
    };
    let started = Instant::now();
    let err = fetch_with(
        HttpSourceConfig {
            request_timeout: Duration::from_secs(5),
            ..config(&graphql_url(&server))
        },
        &ctx,
        &three_keys(),
    )
    .await
    .unwrap_err();
    assert_between(started.elapsed(), 190, 1_000);
    let (kind, message) = source_error(&err);
    assert_eq!(kind, SourceErrorKind::Timeout);
    assert!(message.contains("(1 attempt)"), "{message}");
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn a_deadline_already_passed_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(three_entities())
        .expect(0)
        .mount(&server)
        .await;
    let ctx = RequestContext {
        deadline: Some(Instant::now()),
        ..RequestContext::new("t")
    };
    let err = fetch_with(config(&graphql_url(&server)), &ctx, &three_keys())
        .await
        .unwrap_err();
    let (kind, message) = source_error(&err);
    assert_eq!(kind, SourceErrorKind::Timeout);
    assert!(
        message.contains("before a request could be sent"),
        "{message}"
    );
}

#[tokio::test]
async fn total_timeout_caps_attempts_and_waits_together() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(three_entities().set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let started = Instant::now();
    let err = fetch(
        HttpSourceConfig {
            request_timeout: Duration::from_millis(300),
            total_timeout: Duration::from_millis(500),
            max_attempts: 10,
            ..config(&graphql_url(&server))
        },
        &three_keys(),
    )
    .await
    .unwrap_err();
    assert_between(started.elapsed(), 490, 1_500);
    let (kind, _) = source_error(&err);
    assert_eq!(kind, SourceErrorKind::Timeout);
}

#[tokio::test]
async fn only_lookups_of_fields_by_key_are_sent() {
    let schema = schema();
    let source = HttpSource::new(config("http://127.0.0.1:9/graphql"), Arc::clone(&schema))
        .expect("valid config");
    let mapping = schema.mapping("OrgUser").expect("mapped");
    let keys = three_keys();
    let refs: Vec<&EntityKey> = keys.iter().collect();
    let stats = Arc::new(RequestStats::default());
    let ctx = RequestContext::new("t").observed_by(stats.clone());
    let many = FetchRequest {
        many: true,
        ..FetchRequest::by_key(mapping, KeyIndex(0), &refs, &COLUMNS)
    };
    let err = source.fetch(&ctx, many).await.unwrap_err();
    assert!(
        matches!(&err, ResolveError::Unsupported(m) if m.contains("answers lookups by key only")),
        "{err}"
    );
    let email = ["email".to_owned()];
    let not_a_key = FetchRequest {
        match_columns: &email,
        ..FetchRequest::by_key(mapping, KeyIndex(0), &refs, &COLUMNS)
    };
    let err = source.fetch(&ctx, not_a_key).await.unwrap_err();
    assert!(matches!(err, ResolveError::Unsupported(_)), "{err}");
    // No keys, no request: the port above has nothing listening.
    let rows = source
        .fetch(
            &ctx,
            FetchRequest::by_key(mapping, KeyIndex(0), &[], &COLUMNS),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((rows.len(), stats.requests()), (0, 0));
    let body: Value = serde_json::from_str(
        &source
            .request_body(FetchRequest::by_key(
                mapping,
                KeyIndex(0),
                &refs[..1],
                &COLUMNS,
            ))
            .expect("a body"),
    )
    .expect("JSON");
    assert_eq!(body["query"], QUERY);
}
