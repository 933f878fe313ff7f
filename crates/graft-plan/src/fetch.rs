//! Grouping the keys of one `_entities` call into fetches.
//!
//! Keys are grouped by type, key and partition (by default there is one partition), each distinct
//! key is fetched once, groups are split at a maximum size, and every input remembers the group
//! and position its answer comes from. The caller then issues one fetch per group and answers
//! input `i` from `slots[i]`: input order is never lost, whatever the grouping.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use ahash::RandomState;

use apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};

/// Decides which partition a key falls into; keys of different partitions are never fetched
/// together. Implement it to batch per organisation, per shard, per region.
pub trait Grouping: Send + Sync {
    /// The partition of `key`; `None` puts it in its type's default partition.
    fn partition(&self, key: &EntityKey) -> Option<KeyValue>;
}

/// The default grouping: one group per type and key.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerTypeAndKey;

impl Grouping for PerTypeAndKey {
    fn partition(&self, _key: &EntityKey) -> Option<KeyValue> {
        None
    }
}

/// Partitions one type's keys by the value of one of its key leaves, e.g. `OrgUser` by `orgId`,
/// so that each group's keys share that value. Other types keep one partition.
#[derive(Debug, Clone)]
pub struct PartitionBy {
    type_name: Name,
    key: KeyIndex,
    leaf: usize,
}

impl PartitionBy {
    /// Partitions keys of `type_name` given by key `key` by the value of leaf `leaf` (its position
    /// in the key's field set, depth first).
    pub fn new(type_name: Name, key: KeyIndex, leaf: usize) -> PartitionBy {
        PartitionBy {
            type_name,
            key,
            leaf,
        }
    }
}

impl Grouping for PartitionBy {
    fn partition(&self, key: &EntityKey) -> Option<KeyValue> {
        if key.type_name() == &self.type_name && key.key_index() == self.key {
            key.values().get(self.leaf).cloned()
        } else {
            None
        }
    }
}

/// What identifies a group: keys with equal `GroupKey`s may be fetched together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupKey {
    /// The entity type.
    pub type_name: Name,
    /// The key the entities are given by.
    pub key: KeyIndex,
    /// The partition, if the grouping made one.
    pub partition: Option<KeyValue>,
}

/// Why a group was started other than for a new [`GroupKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitReason {
    /// The previous group of the same key reached the maximum group size.
    MaxGroupSize(usize),
}

/// One fetch: distinct keys of one type, key and partition.
#[derive(Debug, Clone)]
pub struct FetchGroup {
    /// What the keys share.
    pub key: GroupKey,
    /// Positions in the plan's keys of the distinct keys to fetch, in first-seen order.
    pub members: Vec<u32>,
    /// Set when this group continues a split one.
    pub split: Option<SplitReason>,
}

/// Where an input's answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Entry `position` of group `group`'s results.
    Fetched {
        /// The group.
        group: u32,
        /// The position within the group.
        position: u32,
    },
    /// The input had no valid key; its error is reported elsewhere.
    Invalid,
}

/// Figures about one batch, for tests, logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Representations received.
    pub representations: usize,
    /// Representations without a valid key.
    pub invalid: usize,
    /// Distinct keys fetched.
    pub unique_keys: usize,
    /// Representations answered by another's fetch.
    pub duplicates: usize,
    /// Fetch groups.
    pub groups: usize,
    /// Keys in the largest group.
    pub largest_group: usize,
    /// Groups started by a split, with the reason.
    pub splits: usize,
    /// SQL statements issued: filled in by the executor.
    pub statements: usize,
    /// HTTP requests sent to remote subgraphs, retries included: filled in by the executor.
    pub requests: usize,
    /// Fetches that left their first route (`db-then-http`), each with the reason: filled in
    /// by the executor.
    pub fallbacks: Vec<String>,
}

impl BatchStats {
    /// Adds another batch's figures to these (an operation may select `_entities` twice).
    pub fn absorb(&mut self, other: &BatchStats) {
        self.representations += other.representations;
        self.invalid += other.invalid;
        self.unique_keys += other.unique_keys;
        self.duplicates += other.duplicates;
        self.groups += other.groups;
        self.largest_group = self.largest_group.max(other.largest_group);
        self.splits += other.splits;
        self.statements += other.statements;
        self.requests += other.requests;
        self.fallbacks.extend(other.fallbacks.iter().cloned());
    }
}

/// The fetches for one `_entities` call.
#[derive(Debug, Clone)]
pub struct EntityFetchPlan {
    keys: Vec<Option<EntityKey>>,
    groups: Vec<FetchGroup>,
    slots: Vec<Slot>,
    stats: BatchStats,
}

impl EntityFetchPlan {
    /// Plans fetches for `keys`, one per input (`None` for an invalid input). No group holds
    /// more than `max_group_size` keys (at least 1).
    pub fn build(
        keys: Vec<Option<EntityKey>>,
        grouping: &dyn Grouping,
        max_group_size: usize,
    ) -> EntityFetchPlan {
        let max_group_size = max_group_size.max(1);
        let mut groups: Vec<FetchGroup> = Vec::new();
        let mut slots = Vec::with_capacity(keys.len());
        // ahash with a random seed: fast on short keys, and still resistant to crafted collisions.
        let mut open_group: HashMap<GroupKey, u32, RandomState> = HashMap::default();
        let mut seen: HashMap<&EntityKey, Slot, RandomState> =
            HashMap::with_capacity_and_hasher(keys.len(), RandomState::new());
        let mut stats = BatchStats {
            representations: keys.len(),
            ..BatchStats::default()
        };
        // The group the previous key went to: keys of one type and key usually come together,
        // and then their group is found without hashing its `GroupKey`.
        let mut last_group: Option<u32> = None;
        for (input, key) in keys.iter().enumerate() {
            let Some(key) = key else {
                stats.invalid += 1;
                slots.push(Slot::Invalid);
                continue;
            };
            let unseen = match seen.entry(key) {
                Entry::Occupied(first) => {
                    stats.duplicates += 1;
                    slots.push(*first.get());
                    continue;
                }
                Entry::Vacant(unseen) => unseen,
            };
            let partition = grouping.partition(key);
            let same_as_last = last_group.filter(|&g| {
                let group = &groups[g as usize];
                group.members.len() < max_group_size
                    && group.key.key == key.key_index()
                    && group.key.partition == partition
                    && group.key.type_name == *key.type_name()
            });
            let group = match same_as_last {
                Some(g) => g,
                None => {
                    let group_key = GroupKey {
                        type_name: key.type_name().clone(),
                        key: key.key_index(),
                        partition,
                    };
                    match open_group.get(&group_key) {
                        Some(&g) if groups[g as usize].members.len() < max_group_size => g,
                        previous => {
                            let split = previous.map(|_| SplitReason::MaxGroupSize(max_group_size));
                            stats.splits += usize::from(split.is_some());
                            groups.push(FetchGroup {
                                key: group_key.clone(),
                                members: Vec::new(),
                                split,
                            });
                            let g =
                                u32::try_from(groups.len() - 1).expect("fewer than 2^32 groups");
                            open_group.insert(group_key, g);
                            g
                        }
                    }
                }
            };
            last_group = Some(group);
            let members = &mut groups[group as usize].members;
            let slot = Slot::Fetched {
                group,
                position: u32::try_from(members.len()).expect("group fits u32"),
            };
            members.push(u32::try_from(input).expect("fewer than 2^32 inputs"));
            unseen.insert(slot);
            slots.push(slot);
        }
        stats.unique_keys = seen.len();
        stats.groups = groups.len();
        stats.largest_group = groups.iter().map(|g| g.members.len()).max().unwrap_or(0);
        drop(seen);
        EntityFetchPlan {
            keys,
            groups,
            slots,
            stats,
        }
    }

    /// The fetch groups.
    pub fn groups(&self) -> &[FetchGroup] {
        &self.groups
    }

    /// The key at `position` in `group`, in constant time.
    pub fn group_key(&self, group: &FetchGroup, position: usize) -> &EntityKey {
        self.keys[group.members[position] as usize]
            .as_ref()
            .expect("members are valid keys")
    }

    /// The keys of group `group`, in fetch order.
    pub fn group_keys(
        &self,
        group: &FetchGroup,
    ) -> impl ExactSizeIterator<Item = &EntityKey> + Clone {
        group.members.iter().map(|&i| {
            self.keys[i as usize]
                .as_ref()
                .expect("members are valid keys")
        })
    }

    /// Where each input's answer comes from, in input order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// Figures about the plan.
    pub fn stats(&self) -> &BatchStats {
        &self.stats
    }
}

impl fmt::Display for EntityFetchPlan {
    /// A stable, readable form for tests: one line per group, then the slot of each input.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.groups.iter().enumerate() {
            write!(
                f,
                "group {i}: {} key {}",
                group.key.type_name, group.key.key.0
            )?;
            if let Some(partition) = &group.key.partition {
                write!(f, " partition {partition}")?;
            }
            if let Some(SplitReason::MaxGroupSize(max)) = group.split {
                write!(f, " (split at {max})")?;
            }
            let keys: Vec<String> = self.group_keys(group).map(ToString::to_string).collect();
            writeln!(f, ": {}", keys.join(" "))?;
        }
        let slots: Vec<String> = self
            .slots
            .iter()
            .map(|slot| match slot {
                Slot::Fetched { group, position } => format!("{group}.{position}"),
                Slot::Invalid => "invalid".to_owned(),
            })
            .collect();
        writeln!(f, "slots: {}", slots.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn key(type_name: &str, values: &[&str]) -> Option<EntityKey> {
        let values: Vec<KeyValue> = values
            .iter()
            .map(|v| KeyValue::String((*v).into()))
            .collect();
        Some(EntityKey::new(
            Name::new(type_name).unwrap(),
            KeyIndex(0),
            values,
        ))
    }

    fn check(keys: Vec<Option<EntityKey>>, grouping: &dyn Grouping, max: usize, expect: Expect) {
        expect.assert_eq(&EntityFetchPlan::build(keys, grouping, max).to_string());
    }

    #[test]
    fn groups_by_type_dedups_and_keeps_input_order() {
        check(
            vec![
                key("OrgUser", &["a", "1"]),
                key("Order", &["9"]),
                None,
                key("OrgUser", &["b", "1"]),
                key("OrgUser", &["a", "1"]),
            ],
            &PerTypeAndKey,
            100,
            expect![[r#"
                group 0: OrgUser key 0: OrgUser("a", "1") OrgUser("b", "1")
                group 1: Order key 0: Order("9")
                slots: 0.0 1.0 invalid 0.1 0.0
            "#]],
        );
    }

    #[test]
    fn partitions_by_organisation_and_splits_at_max_size() {
        let by_org = PartitionBy::new(Name::new("OrgUser").unwrap(), KeyIndex(0), 0);
        check(
            vec![
                key("OrgUser", &["a", "1"]),
                key("OrgUser", &["b", "1"]),
                key("OrgUser", &["a", "2"]),
                key("OrgUser", &["a", "3"]),
            ],
            &by_org,
            2,
            expect![[r#"
                group 0: OrgUser key 0 partition "a": OrgUser("a", "1") OrgUser("a", "2")
                group 1: OrgUser key 0 partition "b": OrgUser("b", "1")
                group 2: OrgUser key 0 partition "a" (split at 2): OrgUser("a", "3")
                slots: 0.0 1.0 0.1 2.0
            "#]],
        );
    }

    #[test]
    fn stats_count_what_happened() {
        let plan = EntityFetchPlan::build(
            vec![key("A", &["1"]), key("A", &["1"]), None, key("A", &["2"])],
            &PerTypeAndKey,
            1,
        );
        let expected = BatchStats {
            representations: 4,
            invalid: 1,
            unique_keys: 2,
            duplicates: 1,
            groups: 2,
            largest_group: 1,
            splits: 1,
            ..BatchStats::default()
        };
        assert_eq!(plan.stats(), &expected);
    }
}
