//! What response compression costs per `_entities` request: the whole HTTP application
//! (`graft_server::app`, every layer) on the embedded SQLite demo, answering 100 and 5,000
//! representations, without the compression layer (`no layer`), with it but no
//! `Accept-Encoding` (`none`), and with each encoding graft offers. The
//! difference between a row's encodings is the CPU compression adds to a request; the
//! printed sizes are what it saves on the wire.
//!
//! `cargo bench -p graft-server --bench compression`

use std::hint::black_box;

use axum::body::Body;
use axum::http::Request;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use graft_resolve::EngineConfig;
use graft_server::HttpLimits;
use http_body_util::BodyExt as _;
use serde_json::json;
use tower::ServiceExt as _;

const QUERY: &str = "query($representations: [_Any!]!) { _entities(representations: $representations) { \
    __typename ... on OrgUser { orgId userId name email active } } }";

/// An `_entities` request for `n` representations, cycling through the demo's 1,000 users
/// (10 organisations of 100), so 5,000 ask for each user 5 times.
fn body(n: usize) -> String {
    let representations: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "__typename": "OrgUser",
                "orgId": format!("org-{}", i % 10 + 1),
                "userId": format!("u{}", i / 10 % 100 + 1),
            })
        })
        .collect();
    json!({ "query": QUERY, "variables": { "representations": representations } }).to_string()
}

fn compression(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let state = runtime
        .block_on(graft_server::demo::demo_state(
            HttpLimits::default(),
            EngineConfig::default(),
        ))
        .expect("the demo starts");
    let app = graft_server::app(state);
    // The same without the compression layer: what the layer costs a request that asks for
    // no compression.
    let uncompressed = graft_server::app(
        runtime
            .block_on(graft_server::demo::demo_state(
                HttpLimits {
                    compression: false,
                    ..HttpLimits::default()
                },
                EngineConfig::default(),
            ))
            .expect("the demo starts"),
    );
    let mut group = c.benchmark_group("entities_response");
    for n in [100, 5_000] {
        let body = body(n);
        for encoding in ["no layer", "none", "gzip", "br", "zstd"] {
            let request = || {
                let mut request = Request::post("/graphql")
                    .header("content-type", "application/json")
                    .body(Body::from(body.clone()))
                    .expect("a request");
                if !encoding.starts_with("n") {
                    request
                        .headers_mut()
                        .insert("accept-encoding", encoding.parse().expect("a header value"));
                }
                request
            };
            let answer = |request: Request<Body>| {
                let app = if encoding == "no layer" {
                    uncompressed.clone()
                } else {
                    app.clone()
                };
                async move {
                    let response = app.oneshot(request).await.expect("infallible");
                    response
                        .into_body()
                        .collect()
                        .await
                        .expect("a body")
                        .to_bytes()
                }
            };
            let size = runtime.block_on(answer(request())).len();
            // On stderr: test runners read a bench binary's stdout when they list it.
            eprintln!("{n} entities, {encoding}: {size} bytes on the wire");
            group.bench_function(BenchmarkId::new(encoding, n), |b| {
                b.iter(|| black_box(runtime.block_on(answer(request()))));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, compression);
criterion_main!(benches);
