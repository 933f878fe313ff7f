//! `GET /metrics` through the real server on PostgreSQL: what requests, statements, pools and
//! the entity cache did, in Prometheus text.

mod common;

use common::{graphql, orgs_on_postgres};
use serde_json::json;

async fn scrape(address: std::net::SocketAddr) -> (u16, String, String) {
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The value of the sample `name` (with its labels, as exposed), if exposed.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn requests_statements_pools_and_the_cache_are_measured() {
    let (address, _schema) = orgs_on_postgres(
        "[metrics]\nenabled = true\n[cache]\n[cache.types]\nOrgUser = { ttl_seconds = 60 }\n",
    )
    .await;
    let entities = json!({
        "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { name } } }",
        "variables": { "r": [common::org_user(1, "u1"), common::org_user(1, "u2"), common::org_user(1, "u1")] }
    });
    for _ in 0..2 {
        assert_eq!(graphql(address, entities.clone()).await.status, 200);
    }
    let (status, content_type, text) = scrape(address).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let graphql_ok = "http_server_request_duration_seconds_count{http_route=\"/graphql\",http_request_method=\"POST\",http_response_status_code=\"200\"}";
    assert_eq!(sample(&text, graphql_ok), Some(2.0), "{text}");
    assert_eq!(
        sample(&text, "graft_entities_representations_total"),
        Some(6.0)
    );
    assert_eq!(
        sample(&text, "graft_entities_duplicates_removed_total"),
        Some(2.0)
    );
    // One fetch for the first request's two users; the second came from the cache.
    let fetches = "db_client_operation_duration_seconds_count{db_operation_name=\"fetch\",graft_source=\"db\",error_type=\"\"}";
    assert_eq!(sample(&text, fetches), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "graft_cache_requests_total{level=\"memory\",result=\"hit\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "graft_cache_requests_total{level=\"memory\",result=\"miss\"}"
        ),
        Some(2.0)
    );
    assert!(
        sample(
            &text,
            "db_client_connection_count{graft_source=\"db\",db_client_connection_state=\"idle\"}"
        )
        .is_some(),
        "{text}"
    );
    assert!(text.contains("# UNIT http_server_request_duration_seconds seconds"));
}

#[tokio::test]
async fn without_metrics_there_is_no_route() {
    let (address, _schema) = orgs_on_postgres("").await;
    assert_eq!(scrape(address).await.0, 404);
}

/// Every metric the Grafana dashboard in docs/ queries is one graft exposes.
#[tokio::test]
async fn the_dashboard_queries_only_metrics_graft_exposes() {
    let (address, _schema) = orgs_on_postgres(
        "[metrics]\nenabled = true\n[cache]\n[cache.types]\nOrgUser = { ttl_seconds = 60 }\n",
    )
    .await;
    let (_, _, text) = scrape(address).await;
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/grafana/graft-dashboard.json"))
            .expect("the dashboard is JSON");
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                let label = [
                    "http_route",
                    "http_request_method",
                    "http_response_status_code",
                    "db_operation_name",
                    "db_client_connection_state",
                    "graft_source",
                ]
                .contains(&word);
                let metric = word.starts_with("graft_")
                    || word.starts_with("http_")
                    || word.starts_with("db_");
                if metric && !label {
                    names.push(word.to_owned());
                }
            }
        }
    }
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        let base = ["_bucket", "_count", "_sum", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        // A histogram's or counter's samples carry a suffix its TYPE line does not; a gauge
        // may end in `_count` of its own.
        let declared = |metric: &str| {
            text.lines()
                .any(|line| line.starts_with(&format!("# TYPE {metric} ")))
        };
        assert!(
            declared(base) || declared(&name),
            "the dashboard queries {name}, which /metrics does not expose"
        );
    }
}

/// Tenants are a label only where configured: `graft_tenant_requests_total{tenant}`.
#[tokio::test]
async fn requests_are_counted_by_tenant_only_when_asked() {
    let tenancy = "[tenancy]\nresolvers = [\"header\"]\n[[tenancy.tenants]]\nid = \"acme\"\n";
    for (tenant_label, expected) in [(true, Some(2.0)), (false, None)] {
        let (address, _schema) = orgs_on_postgres(&format!(
            "[metrics]\nenabled = true\ntenant_label = {tenant_label}\n{tenancy}"
        ))
        .await;
        for _ in 0..2 {
            let reply = common::post(
                address,
                &[
                    ("content-type", "application/json"),
                    ("x-tenant-id", "acme"),
                ],
                json!({ "query": "{ __typename }" }).to_string(),
            )
            .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        let (_, _, text) = scrape(address).await;
        assert_eq!(
            sample(&text, "graft_tenant_requests_total{tenant=\"acme\"}"),
            expected,
            "{text}"
        );
    }
}
