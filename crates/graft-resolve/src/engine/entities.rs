//! `_entities`: representations validated and grouped before any SQL (with the call's
//! estimated cost), then fetched group by group and written in input order.

use std::time::{Duration, Instant};

use apollo_compiler::Node;
use apollo_compiler::ast::Value;
use graft_keys::{ExtraFields, Json, KeyError};
use graft_plan::{EntityFetchPlan, EntitySelection, Slot};
use serde_json::value::RawValue;

use super::{Execution, cpu_bound, selection_for};
use crate::related::Fetched;
use crate::request::fetch_error;
use crate::variables::literal_to_json;
use crate::{GraphQLError, PathSegment, ResolveError};

/// An `_entities` call with its representations validated and its fetches planned.
pub(super) struct StagedEntities {
    plan: EntityFetchPlan,
    /// Invalid representations, by index, with why.
    invalid: Vec<(usize, KeyError)>,
    /// Each representation's fields besides its key, when computed fields need them.
    representation_fields: Vec<ExtraFields>,
    /// The sum of each valid representation's selection cost.
    pub(super) cost: u64,
    /// Time spent validating and planning.
    elapsed: Duration,
}

/// Entities in one `_entities` answer past which writing it counts as a long CPU phase.
const LARGE_WRITE: usize = 1_000;

impl Execution<'_, '_> {
    /// Validates and groups the representations of an `_entities` call, and estimates its
    /// cost. A request-level problem (not a list, too many) is returned.
    pub(super) fn stage_entities(
        &self,
        representations: &Node<Value>,
        selections: &[EntitySelection],
    ) -> Result<StagedEntities, GraphQLError> {
        let started = Instant::now();
        let not_a_list = || {
            GraphQLError::new(
                "BAD_USER_INPUT",
                "`representations` must be a list of representation objects",
            )
        };
        let literal: Box<RawValue>;
        let raw: Json<'_> = match &**representations {
            Value::Variable(name) => self
                .variables
                .get(name.as_str())
                .copied()
                .ok_or_else(not_a_list)?,
            value => {
                literal = RawValue::from_string(literal_to_json(value, self.variables).to_string())
                    .map_err(|_| not_a_list())?;
                Json::from_raw(&literal)
            }
        };
        let limit = self.engine.config.max_representations;
        let mut keys = Vec::new();
        let mut invalid: Vec<(usize, KeyError)> = Vec::new();
        // Computed fields read the representations' other fields; otherwise they are not copied.
        let keep_fields = selections.iter().any(|s| s.uses_representation);
        let mut representation_fields: Vec<ExtraFields> = Vec::new();
        let counted = self.engine.schema.entities().validate_each(
            raw,
            limit,
            keep_fields,
            |index, result| match result {
                Ok(representation) if keep_fields => {
                    let (key, fields) = representation.into_parts();
                    keys.push(Some(key));
                    representation_fields.push(fields);
                }
                Ok(representation) => keys.push(Some(representation.into_key())),
                Err(error) => {
                    keys.push(None);
                    if keep_fields {
                        representation_fields.push(Vec::new());
                    }
                    invalid.push((index, error));
                }
            },
        );
        match counted {
            Ok(_) => {}
            Err(error @ KeyError::TooMany { .. }) => {
                return Err(
                    GraphQLError::new("TOO_MANY_REPRESENTATIONS", error.to_string())
                        .with_detail("limit", limit),
                );
            }
            Err(_) => return Err(not_a_list()),
        }
        let plan = EntityFetchPlan::build(
            keys,
            &*self.engine.grouping,
            self.engine.config.max_group_size,
        );
        let group_costs: Vec<u64> = plan
            .groups()
            .iter()
            .map(|group| selection_for(selections, &group.key.type_name).cost)
            .collect();
        let cost = plan
            .slots()
            .iter()
            .map(|slot| match *slot {
                Slot::Invalid => 0,
                Slot::Fetched { group, .. } => group_costs[group as usize],
            })
            .fold(0u64, u64::saturating_add);
        Ok(StagedEntities {
            plan,
            invalid,
            representation_fields,
            cost,
            elapsed: started.elapsed(),
        })
    }

    /// Writes the `_entities` list of a staged call.
    pub(super) async fn entities(
        &mut self,
        out: &mut Vec<u8>,
        stage: StagedEntities,
        selections: &[EntitySelection],
    ) {
        let StagedEntities {
            plan,
            invalid,
            representation_fields,
            elapsed,
            ..
        } = stage;
        let planned = Instant::now();
        let results = self.fetch_groups(&plan, selections).await;
        let fetched = Instant::now();
        self.timings.keys += elapsed;
        self.timings.fetch += fetched - planned;
        self.stats.absorb(plan.stats());
        let write = |execution: &mut Self| {
            execution.write_entities(
                out,
                &plan,
                &results,
                invalid,
                &representation_fields,
                selections,
            )
        };
        if plan.slots().len() > LARGE_WRITE {
            cpu_bound(|| write(self));
        } else {
            write(self);
        }
        self.timings.write += fetched.elapsed();
    }

    /// Writes the `_entities` list from the fetched groups, in input order.
    fn write_entities(
        &mut self,
        out: &mut Vec<u8>,
        plan: &EntityFetchPlan,
        results: &[Result<Fetched, ResolveError>],
        invalid: Vec<(usize, KeyError)>,
        representation_fields: &[ExtraFields],
        selections: &[EntitySelection],
    ) {
        let mut invalid = invalid.into_iter().peekable();
        // One path for every entity, reset to `_entities.<index>` for each: the writer pushes
        // and pops nested fields on it, and errors take a copy.
        let mut entity_path: Vec<PathSegment> = Vec::with_capacity(8);
        out.push(b'[');
        for (index, slot) in plan.slots().iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            let path = || {
                vec![
                    PathSegment::Key(apollo_compiler::name!("_entities")),
                    PathSegment::Index(index),
                ]
            };
            match *slot {
                Slot::Invalid => {
                    out.extend_from_slice(b"null");
                    if let Some((_, error)) = invalid.next_if(|(i, _)| *i == index) {
                        self.errors.push(
                            GraphQLError::new("INVALID_REPRESENTATION", error.to_string())
                                .at(path()),
                        );
                    }
                }
                Slot::Fetched {
                    group: group_index,
                    position,
                } => {
                    let group = &plan.groups()[group_index as usize];
                    match &results[group_index as usize] {
                        Err(error) => {
                            out.extend_from_slice(b"null");
                            let key = plan.group_key(group, position as usize);
                            let strategy = self.engine.sources.strategy_for(key.type_name());
                            self.errors.push(fetch_error(
                                error,
                                key,
                                path(),
                                strategy,
                                &self.ctx.request_id,
                            ));
                        }
                        Ok(fetched) => {
                            let selection = selection_for(selections, &group.key.type_name);
                            let fields = representation_fields.get(index).map(Vec::as_slice);
                            let key = || plan.group_key(group, position as usize);
                            entity_path.clear();
                            entity_path.push(PathSegment::Key(apollo_compiler::name!("_entities")));
                            entity_path.push(PathSegment::Index(index));
                            self.write_entity(
                                out,
                                selection,
                                fetched,
                                position as usize,
                                &mut entity_path,
                                fields,
                                key,
                            );
                        }
                    }
                }
            }
        }
        out.push(b']');
        let tenant = &self.ctx.tenant;
        if let Some(tags) = self.cache_tags.as_mut().filter(|tags| tags.is_empty()) {
            write_cache_tags(tags, plan, tenant);
        }
    }
}

/// `extensions.apolloEntityCacheTags`: for each representation, in order, `["<Type>",
/// "<Type>:<key values>"]` (each prefixed `<tenant>/` for a tenant's request), or `[]` for an
/// invalid one. An operator invalidates a type, or one entity, in Apollo Router's response
/// cache by these tags.
fn write_cache_tags(out: &mut Vec<u8>, plan: &EntityFetchPlan, tenant: &crate::TenantId) {
    use std::fmt::Write as _;
    let prefix = if *tenant == crate::TenantId::default_tenant() {
        String::new()
    } else {
        format!("{tenant}/")
    };
    out.push(b'[');
    for (index, slot) in plan.slots().iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let Slot::Fetched { group, position } = *slot else {
            out.extend_from_slice(b"[]");
            continue;
        };
        let key = plan.group_key(&plan.groups()[group as usize], position as usize);
        let type_tag = format!("{prefix}{}", key.type_name());
        let mut key_tag = type_tag.clone();
        for value in key.values() {
            key_tag.push(':');
            let _ = match value {
                graft_keys::KeyValue::String(text) => write!(key_tag, "{text}"),
                other => write!(key_tag, "{other}"),
            };
        }
        out.push(b'[');
        crate::write::string(out, &type_tag);
        out.push(b',');
        crate::write::string(out, &key_tag);
        out.push(b']');
    }
    out.push(b']');
}
