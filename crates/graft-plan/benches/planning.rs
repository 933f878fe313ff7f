//! Planning cost: grouping and deduplicating 10,000 composite keys.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_plan::{EntityFetchPlan, PartitionBy, PerTypeAndKey};

fn keys() -> Vec<Option<EntityKey>> {
    let type_name = Name::new("OrgUser").expect("valid name");
    (0..10_000)
        .map(|i| {
            // One in ten repeats an earlier key.
            let n = if i % 10 == 9 { i / 2 } else { i };
            Some(EntityKey::new(
                type_name.clone(),
                KeyIndex(0),
                vec![
                    KeyValue::String(format!("org-{}", n % 1_000).into()),
                    KeyValue::String(format!("u{n}").into()),
                ],
            ))
        })
        .collect()
}

fn planning(c: &mut Criterion) {
    let input = keys();
    let by_org = PartitionBy::new(Name::new("OrgUser").expect("valid name"), KeyIndex(0), 0);
    let mut group = c.benchmark_group("fetch_plan_10000");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("per_type_and_key", |b| {
        b.iter_batched(
            || input.clone(),
            |keys| EntityFetchPlan::build(black_box(keys), &PerTypeAndKey, 10_000),
            criterion::BatchSize::LargeInput,
        )
    });
    group.bench_function("per_organisation", |b| {
        b.iter_batched(
            || input.clone(),
            |keys| EntityFetchPlan::build(black_box(keys), &by_org, 10_000),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, planning);
criterion_main!(benches);
