//! Properties of entity fetch plans: every input is answered exactly once and in order,
//! deduplication never merges distinct keys, no group exceeds the maximum, and partitioning
//! loses nothing.

use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_plan::{EntityFetchPlan, Grouping, PartitionBy, PerTypeAndKey, Slot};
use proptest::prelude::*;

/// Keys drawn from a small space so that duplicates are common.
fn input() -> impl Strategy<Value = Vec<Option<EntityKey>>> {
    let key = (0..3usize, 0..2u16, 0..4i64, "[ab#:]{0,2}").prop_map(|(t, k, org, user)| {
        let type_name = Name::new(["OrgUser", "Order", "Product"][t]).expect("valid name");
        EntityKey::new(
            type_name,
            KeyIndex(k),
            vec![KeyValue::Int(org), KeyValue::String(user.into())],
        )
    });
    prop::collection::vec(prop::option::weighted(0.9, key), 0..200)
}

fn check_plan(
    keys: &[Option<EntityKey>],
    plan: &EntityFetchPlan,
    max: usize,
) -> Result<(), TestCaseError> {
    // Every input has exactly one slot, and the slot leads back to an equal key.
    prop_assert_eq!(plan.slots().len(), keys.len());
    for (input, slot) in keys.iter().zip(plan.slots()) {
        match (input, slot) {
            (None, Slot::Invalid) => {}
            (Some(key), Slot::Fetched { group, position }) => {
                let group = &plan.groups()[*group as usize];
                let fetched = plan
                    .group_keys(group)
                    .nth(*position as usize)
                    .expect("position inside the group");
                prop_assert_eq!(
                    fetched,
                    key,
                    "an input is answered by an equal key, never another"
                );
            }
            (input, slot) => prop_assert!(false, "{:?} got slot {:?}", input, slot),
        }
    }
    // Each distinct key is fetched once, and groups respect the maximum and share type and key.
    let mut fetched: Vec<&EntityKey> = Vec::new();
    for group in plan.groups() {
        prop_assert!(group.members.len() <= max && !group.members.is_empty());
        for key in plan.group_keys(group) {
            prop_assert_eq!(key.type_name(), &group.key.type_name);
            prop_assert_eq!(key.key_index(), group.key.key);
            fetched.push(key);
        }
    }
    let mut distinct: Vec<&EntityKey> = keys.iter().flatten().collect();
    distinct.sort();
    distinct.dedup();
    fetched.sort();
    prop_assert_eq!(fetched, distinct, "every distinct key fetched exactly once");
    let stats = plan.stats();
    prop_assert_eq!(stats.representations, keys.len());
    prop_assert_eq!(
        stats.unique_keys + stats.duplicates + stats.invalid,
        keys.len()
    );
    Ok(())
}

proptest! {
    #[test]
    fn default_grouping_answers_every_input_once(keys in input(), max in 1usize..50) {
        let plan = EntityFetchPlan::build(keys.clone(), &PerTypeAndKey, max);
        check_plan(&keys, &plan, max)?;
    }

    #[test]
    fn partitioning_loses_nothing_and_keeps_partitions_apart(keys in input(), max in 1usize..50) {
        let by_org = PartitionBy::new(Name::new("OrgUser").expect("valid name"), KeyIndex(0), 0);
        let plan = EntityFetchPlan::build(keys.clone(), &by_org, max);
        check_plan(&keys, &plan, max)?;
        for group in plan.groups() {
            for key in plan.group_keys(group) {
                prop_assert_eq!(&by_org.partition(key), &group.key.partition);
            }
        }
    }
}
