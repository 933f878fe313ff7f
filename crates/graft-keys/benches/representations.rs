//! Parse and validate 1,000 composite-key representations: the per-request cost of turning a
//! gateway's `_entities` argument into typed keys.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use graft_keys::{EntityTypes, parse_subgraph_schema};
use std::hint::black_box;

fn representations(c: &mut Criterion) {
    let schema = parse_subgraph_schema(
        r#"
        type Query { u: OrgUser }
        type OrgUser @key(fields: "orgId userId") { orgId: String! userId: String! name: String }
        "#,
        "bench.graphql",
        "",
    )
    .expect("valid schema");
    let types = EntityTypes::from_schema(&schema).expect("valid keys");
    let body: String = {
        let items: Vec<String> = (0..1_000)
            .map(|i| {
                format!(
                    r#"{{"__typename":"OrgUser","orgId":"org-{}","userId":"u{}"}}"#,
                    i % 37,
                    i
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    let mut group = c.benchmark_group("representations");
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("validate_1000_composite", |b| {
        b.iter(|| {
            let reps = types.validate_all(black_box(&body)).expect("a list");
            assert!(reps.iter().all(Result::is_ok));
            reps
        })
    });
    group.finish();
}

criterion_group!(benches, representations);
criterion_main!(benches);
