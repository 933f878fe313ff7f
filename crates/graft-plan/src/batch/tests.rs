//! Tests of batch planning: snapshots of plans and problems, references, and properties over
//! random requests and graphs.

use expect_test::{Expect, expect};
use serde_json::json;

use super::*;

const SDL: &str = r#"
type Customer @key(fields: "id") @table(name: "customers") @mutations { id: ID! name: String! vip: Boolean }
type Audit @key(fields: "id") @table(name: "audits") { id: ID! text: String }
type Invoice @key(fields: "id") @table(name: "invoices") @mutations { id: ID! customerId: Int! note: String total: Float }
"#;

fn schema() -> SubgraphSchema {
    SubgraphSchema::parse(SDL, "batch.graphql").expect("valid")
}

fn plan(body: Value) -> Result<BatchPlan, Vec<BatchProblem>> {
    plan_batch(&body, &schema(), &BatchLimits::default())
}

fn check(body: Value, expected: Expect) {
    let shown = match plan(body) {
        Ok(plan) => plan.to_string(),
        Err(problems) => problems.iter().map(|p| format!("{p}\n")).collect(),
    };
    expected.assert_eq(&shown);
}

#[test]
fn the_invoice_example_runs_in_waves_ordered_by_references() {
    check(
        json!({ "operations": [
            { "id": "line", "entity": "Invoice", "action": "create",
              "store_params": { "customerId": "$ref:customer.id", "note": "for {$ref:customer.name}, $$ref: kept" } },
            { "id": "customer", "entity": "Customer", "action": "create",
              "store_params": { "name": "Ada", "vip": true } },
            { "id": "audit", "entity": "Customer", "action": "read", "query_params": { "vip": true } },
            { "id": "done", "entity": "Invoice", "action": "update",
              "query_params": { "id": "$ref:line.id" }, "store_params": { "total": 12.5 },
              "depends_on": ["audit"] }
        ]}),
        expect![[r#"
            atomic: one transaction
            wave 1: customer (create Customer) audit (read Customer)
            wave 2: line (create Invoice, after customer)
            wave 3: done (update Invoice, after audit line)
        "#]],
    );
    let plan = plan(json!({ "operations": [
        { "id": "c", "entity": "Customer", "action": "create", "store_params": { "name": "x" } },
        { "id": "i", "entity": "Invoice", "action": "create",
          "store_params": { "customerId": "$ref:c.items.0.id", "note": "a {$ref:c.name} b" } }
    ], "options": { "atomic": false, "continueOnError": true } }))
    .expect("plans");
    assert_eq!(plan.execution_order(), ["c", "i"]);
    assert!(!plan.options.atomic && plan.options.continue_on_error);
    let store = &plan.operations[1].store;
    assert_eq!(
        store[0].1,
        Param::Ref(Reference {
            operation: 0,
            path: vec![
                PathStep::Key("items".into()),
                PathStep::Index(0),
                PathStep::Key("id".into())
            ]
        })
    );
    assert_eq!(
        store[1].1,
        Param::Template(vec![
            Piece::Text("a ".into()),
            Piece::Ref(Reference {
                operation: 0,
                path: vec![PathStep::Key("name".into())]
            }),
            Piece::Text(" b".into()),
        ])
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_operation() {
    check(
        json!({ "operations": [
            { "id": "a", "entity": "Customer", "action": "create", "store_params": { "name": 7, "age": 3 } },
            { "id": "a", "entity": "Customer", "action": "read" },
            { "id": "bad id!", "entity": "Nope", "action": "create" },
            { "id": "b", "entity": "Customer", "action": "merge" },
            { "id": "c", "entity": "Invoice", "action": "delete", "query_params": { "id": "$ref:zz.id" },
              "depends_on": ["ghost", "c"] },
            { "id": "d", "entity": "Invoice", "action": "create", "claims": { "admin": true },
              "store_params": { "customerId": "$ref:a.", "note": "x $ref:a.id" } },
            { "id": "e", "entity": "Invoice", "action": "read", "store_params": { "note": "x" } }
        ], "options": { "atomic": "yes", "fast": true }, "extra": 1 }),
        expect![[r#"
            unknown key `extra`: a batch has `operations` and `options`
            options.atomic must be true or false
            options: unknown option `fast` (atomic, continueOnError, validate)
            operation a: its id is used by an earlier operation too
            operation #2: id "bad id!": use 1 to 64 letters, digits, `_` or `-`
            operation a: store_params.age: Customer has no such field
            operation a: store_params.name: expected a string, got 7
            operation #2: entity `Nope` is not a mapped type
            operation b: action `merge`: use create, read, update or delete
            operation c: depends_on names no operation of the batch: "ghost"
            operation c: it depends on itself
            operation c: query_params.id: reference `$ref:zz.id`: the batch has no operation `zz`
            operation d: `claims` is refused: an operation's rights come from the caller's credential only
            operation d: store_params.customerId: reference `$ref:a.`: each step of a path is a key (letters, digits, `_`) or an index, between single dots
            operation d: store_params.note: a reference inside a string is written {$ref:op.path}, and the text $ref: as $$ref: ("x $ref:a.id")
            operation e: read takes no `store_params`
        "#]],
    );
    check(
        json!({ "operations": [] }),
        expect![[r#"
            `operations` is empty
        "#]],
    );
    let many: Vec<Value> = (0..101)
        .map(|i| json!({ "id": format!("o{i}"), "entity": "Customer", "action": "read" }))
        .collect();
    check(
        json!({ "operations": many }),
        expect![[r#"
            101 operations: a batch has at most 100
        "#]],
    );
}

#[test]
fn a_cycle_is_refused_with_its_path() {
    check(
        json!({ "operations": [
            { "id": "free", "entity": "Customer", "action": "read" },
            { "id": "a", "entity": "Customer", "action": "update", "query_params": { "id": "$ref:c.id" },
              "store_params": { "name": "x" } },
            { "id": "b", "entity": "Customer", "action": "read", "depends_on": ["a"] },
            { "id": "c", "entity": "Customer", "action": "read", "depends_on": ["b"] }
        ]}),
        expect![[r#"
            operation a: its dependencies form a cycle: a -> c -> b -> a
        "#]],
    );
}

#[test]
fn references_resolve_with_their_types_or_say_what_the_result_has() {
    let results = vec![
        Some(json!({ "id": 7, "name": "Ada", "items": [{ "id": "x1" }], "0": "zero" })),
        None,
    ];
    let reference = |path: Vec<PathStep>| Reference { operation: 0, path };
    let key = |k: &str| PathStep::Key(k.into());
    assert_eq!(
        Param::Ref(reference(vec![key("id")])).resolve(&results),
        Ok(json!(7))
    );
    let nested = reference(vec![key("items"), PathStep::Index(0), key("id")]);
    assert_eq!(nested.resolve(&results), Ok(&json!("x1")));
    let template = Param::Template(vec![
        Piece::Text("#".into()),
        Piece::Ref(reference(vec![key("id")])),
        Piece::Text(" for ".into()),
        Piece::Ref(reference(vec![key("name")])),
    ]);
    assert_eq!(template.resolve(&results), Ok(json!("#7 for Ada")));
    assert_eq!(
        reference(vec![PathStep::Index(0)]).resolve(&results),
        Ok(&json!("zero"))
    );
    assert_eq!(
        reference(vec![key("nope")]).resolve(&results),
        Err("the result has no `nope`; it has 0, id, items, name".to_owned())
    );
    assert_eq!(
        reference(vec![key("items"), PathStep::Index(3)]).resolve(&results),
        Err("`items` has 1 items, no item 3".to_owned())
    );
    assert_eq!(
        reference(vec![key("id"), key("x")]).resolve(&results),
        Err("`id` is 7, which has no key `x`".to_owned())
    );
    let unrun = Reference {
        operation: 1,
        path: vec![],
    };
    assert_eq!(
        unrun.resolve(&results),
        Err("operation #1 has no result".to_owned())
    );
}

#[test]
fn a_body_of_many_bad_items_lists_the_first_hundred_problems() {
    let schema = schema();
    let depends_on: Vec<u32> = vec![0; 100_000];
    let body = json!({ "operations": [{ "id": "a", "action": "read", "entity": "Customer", "depends_on": depends_on }] });
    let problems = plan_batch(&body, &schema, &BatchLimits::default()).expect_err("refused");
    assert_eq!(problems.len(), 101);
    assert_eq!(problems[100].message, "99900 more problems not listed");
}

#[test]
fn a_template_naming_a_large_result_many_times_stops_at_its_bound() {
    // A result of 1,000 rows of about 100 bytes, named 10,000 times: 1 GB if built whole.
    let rows: Vec<_> = (0..1_000)
        .map(|i| json!({ "id": i, "name": "x".repeat(90) }))
        .collect();
    let results = vec![Some(json!(rows))];
    let whole = Piece::Ref(Reference {
        operation: 0,
        path: vec![],
    });
    let template = Param::Template(vec![whole; 10_000]);
    assert_eq!(
        template.resolve(&results),
        Err("the text its references make is longer than 65536 bytes".to_owned())
    );
}

/// The words a batch request is made of, and a few more: what generated requests use as
/// keys and strings, so that they reach past the first check.
const WORDS: [&str; 16] = [
    "operations",
    "options",
    "id",
    "entity",
    "action",
    "store_params",
    "query_params",
    "depends_on",
    "Customer",
    "create",
    "read",
    "name",
    "customerId",
    "atomic",
    "a",
    "0",
];

/// Any JSON value, nested a few levels.
fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let word = proptest::sample::select(WORDS.to_vec()).prop_map(str::to_owned);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        "(\\$\\$?ref:|\\{\\$ref:|[a-z0-9_.}{-]){0,12}".prop_map(Value::String),
        word.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(word.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

use proptest::strategy::Strategy as _;

proptest::proptest! {
    #[test]
    fn no_request_and_no_result_makes_planning_or_resolving_panic(
        body in any_json(),
        result in any_json(),
        path in proptest::collection::vec(
            proptest::prop_oneof![
                "[a-z0-9]{1,3}".prop_map(PathStep::Key),
                (0usize..4).prop_map(PathStep::Index),
            ],
            0..4,
        ),
    ) {
        let _ = plan(body);
        let _ = Reference { operation: 0, path }.resolve(&[Some(result)]);
    }

    #[test]
    fn random_dags_respect_every_edge_and_back_edges_are_cycles(
        edges in proptest::collection::vec((0usize..20, 0usize..20), 0..60),
        back in proptest::option::of((0usize..20, 0usize..20)),
    ) {
        // Edges from an earlier to a later operation form a DAG; one more from a later to
        // an earlier one closes a cycle when a path leads back.
        let mut depends: Vec<Vec<String>> = vec![Vec::new(); 20];
        for (a, b) in edges {
            if a < b && !depends[b].contains(&format!("o{a}")) {
                depends[b].push(format!("o{a}"));
            }
        }
        let operations = |depends: &[Vec<String>]| -> Value {
            let ops: Vec<Value> = (0..20).rev().map(|i| json!({
                "id": format!("o{i}"), "entity": "Customer", "action": "read",
                "depends_on": depends[i],
            })).collect();
            json!({ "operations": ops })
        };
        let planned = plan(operations(&depends)).expect("a DAG plans");
        let wave_of = |id: &str| planned.waves.iter().position(|w| w.iter().any(|&i| planned.operations[i].id == id)).unwrap();
        for (b, list) in depends.iter().enumerate() {
            let later = format!("o{b}");
            for a in list {
                proptest::prop_assert!(wave_of(a) < wave_of(&later));
            }
        }
        if let Some((x, y)) = back.filter(|&(x, y)| x < y && !depends[x].contains(&format!("o{y}"))) {
            // Whether a path of dependents leads from x to y: then x depending on y
            // closes a cycle.
            let mut seen = [false; 20];
            let mut stack = vec![x];
            while let Some(n) = stack.pop() {
                for (m, list) in depends.iter().enumerate() {
                    if list.contains(&format!("o{n}")) && !seen[m] {
                        seen[m] = true;
                        stack.push(m);
                    }
                }
            }
            depends[x].push(format!("o{y}"));
            let outcome = plan(operations(&depends));
            if seen[y] {
                let problems = outcome.expect_err("a cycle");
                proptest::prop_assert!(problems[0].message.contains("form a cycle"));
            } else {
                proptest::prop_assert!(outcome.is_ok());
            }
        }
    }
}

#[test]
fn writes_take_the_fields_of_the_types_mutations_and_name_rows_by_key() {
    check(
        json!({ "operations": [
            { "id": "a", "entity": "Audit", "action": "create", "store_params": { "text": "x" } },
            { "id": "b", "entity": "Invoice", "action": "update", "query_params": { "note": "x" },
              "store_params": { "id": "9" } },
            { "id": "c", "entity": "Invoice", "action": "update", "query_params": { "id": "1" },
              "store_params": {} },
            { "id": "d", "entity": "Invoice", "action": "read", "query_params": { "note": null } },
            { "id": "e", "entity": "Audit", "action": "read", "query_params": { "text": "x" } }
        ]}),
        expect![[r#"
            operation a: Audit takes no writes: its type has no @mutations
            operation b: store_params.id: an update of Invoice sets customerId, note, total (keys do not change)
            operation b: query_params: update names its row by the key of Invoice: id
            operation c: store_params: an update sets at least one field
            operation d: query_params.note: a read filters on values; null matches no row
        "#]],
    );
}
