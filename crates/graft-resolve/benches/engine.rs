//! What graft's GraphQL layer costs per `_entities` request, without a database: from the
//! request body bytes to the response body bytes, with rows served from memory.
//!
//! The same request shape as `shared/facts/graphql-layer-cost.md` (OrgUser by `orgId userId`,
//! four fields selected, 1 / 100 / 1,000 distinct keys), so the figures compare with the
//! measured floor (parse body + serialize response) and with async-graphql.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use graft_keys::KeyValue;
use graft_resolve::{
    BoxFuture, Cell, Engine, EngineConfig, EntitySource, ExecuteOptions, FetchRequest,
    GraphQLRequest, RequestContext, ResolveError, RowSet, SourceRouter,
};
use graft_schema::SubgraphSchema;

const SDL: &str = r#"
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { orgUser(orgId: String!, userId: String!): OrgUser }
type OrgUser @key(fields: "orgId userId") { orgId: String! userId: String! name: String email: String createdAt: String }
"#;

const QUERY: &str = "query($r:[_Any!]!){ _entities(representations:$r){ __typename ... on OrgUser { orgId userId name email } } }";

/// 100,000 users (1,000 orgs x 100) in a two-level map, as in the facts' setup.
struct MemorySource {
    rows: HashMap<String, HashMap<String, [String; 5]>>,
}

impl MemorySource {
    fn new() -> MemorySource {
        let mut rows: HashMap<String, HashMap<String, [String; 5]>> = HashMap::new();
        for org in 0..1_000 {
            for user in 0..100 {
                let (o, u) = (format!("org-{org}"), format!("u{user}"));
                let row = [
                    o.clone(),
                    u.clone(),
                    format!("User {user}"),
                    format!("{u}@{o}.example"),
                    "2026-01-01".to_owned(),
                ];
                rows.entry(o).or_default().insert(u, row);
            }
        }
        MemorySource { rows }
    }
}

impl EntitySource for MemorySource {
    fn name(&self) -> &str {
        "memory"
    }

    fn fetch<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let mut set = RowSet::new(request.keys.len(), request.columns.len());
            for (position, key) in request.keys.iter().enumerate() {
                let [KeyValue::String(org), KeyValue::String(user)] = key.values() else {
                    continue;
                };
                let Some(row) = self.rows.get(&**org).and_then(|users| users.get(&**user)) else {
                    continue;
                };
                let mut writer = set.row(position);
                for &column in request.columns {
                    writer.push_text(&row[column]);
                }
            }
            let _ = Cell::Null;
            Ok(set)
        })
    }
}

fn body(n: usize) -> Vec<u8> {
    let reps: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"__typename":"OrgUser","orgId":"org-{}","userId":"u{}"}}"#,
                (i * 7919) % 1_000,
                i % 100
            )
        })
        .collect();
    format!(
        r#"{{"query":"{QUERY}","variables":{{"r":[{}]}}}}"#,
        reps.join(",")
    )
    .into_bytes()
}

fn engine(c: &mut Criterion) {
    let schema = Arc::new(SubgraphSchema::parse(SDL, "bench.graphql").expect("valid schema"));
    let engine = Engine::new(
        schema,
        SourceRouter::single(Arc::new(MemorySource::new())),
        EngineConfig::default(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let ctx = RequestContext::new("bench");
    // `ENGINE_ITERATIONS=n` runs n requests of 100 keys and no benchmark: a fixed amount of
    // work for `valgrind --tool=callgrind`, whose instruction counts repeat exactly, to compare
    // two builds of the engine.
    if let Some(iterations) = std::env::var("ENGINE_ITERATIONS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let body = body(100);
        for _ in 0..iterations {
            let request = GraphQLRequest::from_json(&body).expect("a request");
            black_box(
                runtime
                    .block_on(engine.execute(&ctx, &request, ExecuteOptions::default()))
                    .0,
            );
        }
        return;
    }
    let mut group = c.benchmark_group("engine_entities");
    for n in [1, 100, 1_000] {
        let body = body(n);
        // Warm the plan cache and check the answer once.
        let request = GraphQLRequest::from_json(&body).expect("a request");
        let (response, _) =
            runtime.block_on(engine.execute(&ctx, &request, ExecuteOptions::default()));
        let text = String::from_utf8(response.body).expect("UTF-8");
        assert!(
            !text.contains("errors") && text.matches("OrgUser").count() == n,
            "{text}"
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &body, |b, body| {
            b.iter(|| {
                let request = GraphQLRequest::from_json(black_box(body)).expect("a request");
                runtime
                    .block_on(engine.execute(&ctx, &request, ExecuteOptions::default()))
                    .0
                    .body
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
