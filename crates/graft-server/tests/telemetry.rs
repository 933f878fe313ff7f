//! OpenTelemetry export: a real `graft serve` process with `[telemetry]` sends its spans over
//! OTLP/HTTP to an in-process collector, continuing the trace the gateway's `traceparent`
//! names, with a span per request, fetch group, cache lookup and SQL statement.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{Instance, example};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::json;

/// One exported span: its name, trace id, parent span id and attribute keys.
#[derive(Debug, Clone)]
struct Exported {
    name: String,
    trace_id: String,
    parent: String,
    span_id: String,
    attributes: Vec<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A collector on an ephemeral port: every span posted to `/v1/traces`, decoded.
async fn collector() -> (String, Arc<Mutex<Vec<Exported>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = Arc::clone(&kept);
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut kept = kept.lock().unwrap();
                for span in request
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                {
                    kept.push(Exported {
                        name: span.name.clone(),
                        trace_id: hex(&span.trace_id),
                        parent: hex(&span.parent_span_id),
                        span_id: hex(&span.span_id),
                        attributes: span.attributes.iter().map(|a| a.key.clone()).collect(),
                    });
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/v1/traces"), spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_under_the_gateways_trace() {
    let (endpoint, spans) = collector().await;
    let dir = std::env::temp_dir().join(graft_testkit::unique_name("graft_telemetry"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("graft.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[schema]
path = "{schema}"
[database]
url = "sqlite://{db}"
setup = ["{tables}", "{seed}"]
[cache]
[cache.types]
OrgUser = {{ ttl_seconds = 60 }}
[telemetry]
otlp_endpoint = "{endpoint}"
service_name = "graft-test"
filter = "{every}"
"#,
            every = graft_server::telemetry::EVERY_SPAN,
            schema = example("schema.graphql"),
            db = dir.join("orgs.db").display(),
            tables = example("sqlite/schema.sql"),
            seed = example("sqlite/seed.sql"),
        ),
    )
    .unwrap();
    let instance = Instance::start_with(&config, &[("OTEL_BSP_SCHEDULE_DELAY", "100")]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let gateway_span = "00f067aa0ba902b7";
    let reply = reqwest::Client::new()
        .post(instance.url())
        .header("traceparent", format!("00-{trace_id}-{gateway_span}-01"))
        .json(&json!({
            "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { name } } }",
            "variables": { "r": [{ "__typename": "OrgUser", "orgId": "org-1", "userId": "u1" }] }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);

    let wanted = [
        "graphql",
        "plan",
        "fetch_group",
        "cache_lookup",
        "db_statement",
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let exported = loop {
        let now = spans.lock().unwrap().clone();
        if wanted
            .iter()
            .all(|name| now.iter().any(|span| span.name == *name))
        {
            break now;
        }
        assert!(Instant::now() < deadline, "spans exported so far: {now:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let named = |name: &str| {
        exported
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("a {name} span"))
    };
    let request = named("graphql");
    assert_eq!(
        request.trace_id, trace_id,
        "the gateway's trace is continued"
    );
    assert_eq!(request.parent, gateway_span, "under the gateway's span");
    for name in ["plan", "fetch_group", "cache_lookup", "db_statement"] {
        assert_eq!(
            named(name).trace_id,
            trace_id,
            "{name} is in the same trace"
        );
    }
    assert_eq!(named("fetch_group").parent, request.span_id);
    assert_eq!(named("cache_lookup").parent, named("fetch_group").span_id);
    assert_eq!(named("db_statement").parent, named("cache_lookup").span_id);
    let statement = named("db_statement");
    for attribute in ["db.system.name", "db.operation.name"] {
        assert!(
            statement.attributes.iter().any(|a| a == attribute),
            "{statement:?}"
        );
    }
    drop(instance);
    let _ = std::fs::remove_dir_all(&dir);
}
