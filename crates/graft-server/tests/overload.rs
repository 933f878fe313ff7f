//! Overload and HTTP hygiene on the real server: requests past the admission limit and its
//! queue get a quick 503 with `Retry-After`; half-sent requests, idle connections and
//! connections past the maximum are closed rather than held forever.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{ENTITIES, first_error_code, org_user, serve};
use graft_resolve::EngineConfig;
use graft_server::{AdmissionConfig, HttpLimits, demo};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn state(limits: HttpLimits) -> graft_server::AppState {
    demo::demo_state(limits, EngineConfig::default())
        .await
        .expect("the demo starts")
}

/// Reads until the server closes the connection; what it sent, or `None` if it did not close
/// within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Some(received),
        Err(_) => None,
    }
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed_after_the_header_timeout() {
    let address = serve(
        state(HttpLimits {
            header_read_timeout: Duration::from_millis(300),
            ..HttpLimits::default()
        })
        .await,
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(address).await.expect("connects");
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: graft\r\nContent-")
            .await
            .expect("half a header");
        slow.push(stream);
    }
    let started = Instant::now();
    for stream in &mut slow {
        assert!(
            closed_within(stream, Duration::from_secs(3))
                .await
                .is_some(),
            "a half-sent request holds its socket"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));

    // A kept-alive connection that sends nothing more is closed too.
    let mut idle = TcpStream::connect(address).await.expect("connects");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: graft\r\n\r\n")
        .await
        .expect("a request");
    let answered = closed_within(&mut idle, Duration::from_secs(3))
        .await
        .expect("closed once idle");
    assert!(answered.starts_with(b"HTTP/1.1 200"), "{answered:?}");
}

#[tokio::test]
async fn connections_past_the_maximum_are_closed_at_once() {
    let address = serve(
        state(HttpLimits {
            max_connections: 3,
            header_read_timeout: Duration::from_secs(20),
            ..HttpLimits::default()
        })
        .await,
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(address).await.expect("connects");
        stream.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // Let the server take the three before the fourth arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(address)
        .await
        .expect("the kernel accepts");
    let _ = fourth
        .write_all(b"GET /health HTTP/1.1\r\nHost: graft\r\n\r\n")
        .await;
    let received = closed_within(&mut fourth, Duration::from_secs(2))
        .await
        .expect("closed at once");
    assert!(received.is_empty(), "{received:?}");
}

async fn entities(address: SocketAddr) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .header("content-type", "application/json")
        .body(
            json!({ "query": ENTITIES, "variables": { "representations": [org_user(1, "u1")] } })
                .to_string(),
        )
        .send()
        .await
        .expect("answered")
}

#[tokio::test]
async fn past_the_limit_and_its_queue_requests_get_503_at_once() {
    let state = state(HttpLimits {
        admission: AdmissionConfig {
            initial_limit: 1,
            min_limit: 1,
            max_limit: 1,
            max_queue: 1,
            queue_timeout: Duration::from_millis(500),
            ..AdmissionConfig::default()
        },
        ..HttpLimits::default()
    })
    .await;
    let admission = state.admission.clone();
    let address = serve(state).await;

    // The one slot is taken: the next request queues, the one after is refused.
    let slot = admission.admit().await.expect("the slot");
    let queued = tokio::spawn(entities(address));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let refused = entities(address).await;
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "refused at once"
    );
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(first_error_code(&body), "OVERLOADED");
    // The slot frees: the queued request is answered.
    drop(slot);
    assert_eq!(queued.await.unwrap().status(), 200);

    // A queued request gives up after the queue timeout, once the refusal above is more than
    // 100 ms old (until then the queue counts as standing, and a newcomer waits only about
    // twice the usual latency).
    tokio::time::sleep(Duration::from_millis(150)).await;
    let slot = admission.admit().await.expect("the slot");
    let started = Instant::now();
    let late = entities(address).await;
    assert_eq!(late.status(), 503);
    assert!(started.elapsed() >= Duration::from_millis(500));
    drop(slot);
    // Health is never queued.
    let health = reqwest::get(format!("http://{address}/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
