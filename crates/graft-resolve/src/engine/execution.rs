//! One request's execution: its state, the staging of its root fields before any SQL, the
//! concurrent fetch of `_entities` groups, and the writing of entities. The modules per root
//! kind extend [`Execution`]; [`super::Engine::execute`] drives it.

use std::time::Duration;

use apollo_compiler::Name;
use futures_util::StreamExt as _;
use graft_keys::EntityKey;
use graft_plan::{BatchStats, EntityFetchPlan, EntitySelection, OperationPlan, RootKind};
use serde_json::value::RawValue;

use super::Engine;
use super::entities::StagedEntities;
use super::page;
use crate::limits::RequestBudget;
use crate::loader::Loaders;
use crate::related::{Fetched, Resolver, Writer};
use crate::request::{Variables, fetch_error};
use crate::{FetchRequest, GraphQLError, PathSegment, RequestContext, ResolveError};

/// The state of one execution.
pub(super) struct Execution<'e, 'v> {
    pub(super) engine: &'e Engine,
    pub(super) ctx: &'e RequestContext,
    pub(super) variables: &'e Variables<'v>,
    pub(super) errors: Vec<GraphQLError>,
    pub(super) stats: &'e mut BatchStats,
    /// The request's relation loaders.
    pub(super) loaders: Loaders<Fetched>,
    /// What the request may still spend.
    pub(super) budget: &'e RequestBudget,
    /// Where the time went, for `extensions.graft.timings`.
    pub(super) timings: Timings,
    /// `extensions.apolloEntityCacheTags` as JSON, when asked for: filled by the first
    /// `_entities` root.
    pub(super) cache_tags: Option<Vec<u8>>,
}

/// What a root field needs before any SQL runs, and what it is estimated to cost.
pub(super) enum Staged {
    /// Its conditions exclude it.
    Skipped,
    /// `_entities`: keys validated and grouped.
    Entities(Box<StagedEntities>),
    /// Anything else, with its estimated cost.
    Cost(u64),
}

impl Staged {
    pub(super) fn cost(&self) -> u64 {
        match self {
            Staged::Skipped => 0,
            Staged::Entities(stage) => stage.cost,
            Staged::Cost(cost) => *cost,
        }
    }
}

/// Where one request's time went inside the engine.
#[derive(Debug, Default)]
pub(super) struct Timings {
    /// Plan lookup (or parse, validate, compile) and variable coercion.
    pub(super) prepare: Duration,
    /// Representation validation and fetch planning.
    pub(super) keys: Duration,
    /// Sources, relations included.
    pub(super) fetch: Duration,
    /// Writing entities.
    pub(super) write: Duration,
}

impl Execution<'_, '_> {
    /// The key that root-field arguments give for an entity of `type_name`, validated as a
    /// representation is: `arguments` are the key fields by name, as JSON (`null` when absent).
    pub(super) fn key_from_arguments(
        &self,
        type_name: &Name,
        arguments: impl IntoIterator<Item = (Name, serde_json::Value)>,
    ) -> Result<EntityKey, String> {
        let mut representation = serde_json::Map::new();
        representation.insert("__typename".to_owned(), type_name.to_string().into());
        for (name, value) in arguments {
            representation.insert(name.to_string(), value);
        }
        let raw = RawValue::from_string(serde_json::Value::Object(representation).to_string())
            .expect("a JSON object is JSON");
        self.engine
            .schema
            .entities()
            .validate(0, &raw)
            .map(|representation| representation.into_key())
            .map_err(|error| format!("invalid key arguments: {error}"))
    }

    /// The value of a Boolean variable (coercion has checked its type).
    pub(super) fn boolean(&self, name: &Name) -> bool {
        self.variables
            .get(name.as_str())
            .is_some_and(|raw| raw.get() == "true")
    }

    /// Does for every included root field what needs no SQL (representations validated and
    /// grouped, page arguments read), so that the estimated cost of the whole operation is
    /// known, and checked, before any statement runs.
    pub(super) fn stage(&self, plan: &OperationPlan) -> Result<Vec<Staged>, GraphQLError> {
        let engine = self.engine;
        plan.root
            .iter()
            .map(|root| {
                if !root.conditions.hold(|name| self.boolean(name)) {
                    return Ok(Staged::Skipped);
                }
                Ok(match &root.kind {
                    RootKind::Entities {
                        representations,
                        selections,
                    } => Staged::Entities(Box::new(
                        self.stage_entities(representations, selections)?,
                    )),
                    RootKind::ByKey { selection, .. } => Staged::Cost(selection.cost),
                    RootKind::Mutation(plan) => {
                        Staged::Cost(plan.selection.cost.saturating_mul(
                            super::mutation::entities_written(plan, self.variables),
                        ))
                    }
                    RootKind::Page(page) => {
                        let first =
                            page::arguments(&engine.schema, page, self.variables, &engine.config)
                                .map_or(engine.config.page_size, |request| request.first);
                        Staged::Cost((first as u64 + 1).saturating_mul(page.node.cost))
                    }
                    _ => Staged::Cost(0),
                })
            })
            .collect()
    }

    /// Runs every group's fetch concurrently, each with its relations below; results line up
    /// with `plan.groups()`.
    pub(super) async fn fetch_groups(
        &self,
        plan: &EntityFetchPlan,
        selections: &[EntitySelection],
    ) -> Vec<Result<Fetched, ResolveError>> {
        let key_lists: Vec<Vec<&EntityKey>> = plan
            .groups()
            .iter()
            .map(|g| plan.group_keys(g).collect())
            .collect();
        let resolver = self.resolver();
        let resolver = &resolver;
        let fetches = plan
            .groups()
            .iter()
            .zip(&key_lists)
            .map(|(group, keys)| async move {
                let type_name = &group.key.type_name;
                let mapping = self
                    .engine
                    .schema
                    .mapping(type_name)
                    .ok_or_else(|| ResolveError::NoSource(type_name.to_string()))?;
                let source = self
                    .engine
                    .sources
                    .source_for(type_name)
                    .ok_or_else(|| ResolveError::NoSource(type_name.to_string()))?;
                let selection = selection_for(selections, type_name);
                let request =
                    FetchRequest::by_key(mapping, group.key.key, keys, &selection.columns);
                let turn = self.budget.statement().await?;
                // A span per group (its fields are formatted only when debug spans are on).
                let span = tracing::debug_span!(
                    "fetch_group",
                    type_name = %type_name,
                    source = source.name(),
                    strategy = source.strategy(),
                    keys = keys.len(),
                );
                // Called inside the span too: a source may make its own spans as it is called.
                let fetch = span.in_scope(|| source.fetch(self.ctx, request));
                let rows = tracing::Instrument::instrument(fetch, span).await?;
                drop(turn);
                self.budget.spent(rows.row_count())?;
                Ok(resolver.resolve(selection, rows).await)
            })
            // Collected first: a stream over the lazy map would not be `Send` for every
            // lifetime, which axum's handlers need.
            .collect::<Vec<_>>();
        // Groups run concurrently, at most `max_concurrent_fetches` at a time, in plan order.
        futures_util::stream::iter(fetches)
            .buffered(self.engine.config.max_concurrent_fetches.max(1))
            .collect()
            .await
    }

    pub(super) fn resolver(&self) -> Resolver<'_> {
        Resolver {
            schema: &self.engine.schema,
            sources: &self.engine.sources,
            ctx: self.ctx,
            loaders: &self.loaders,
            budget: self.budget,
            variables: self.variables,
        }
    }

    /// A writer of this request's entities; `representation` gives computed fields their
    /// inputs (`_entities` only).
    pub(super) fn writer<'w>(
        &'w mut self,
        representation: Option<&'w [(Box<str>, Box<RawValue>)]>,
    ) -> Writer<'w, impl Fn(&Name) -> bool + 'w> {
        let variables = self.variables;
        Writer {
            schema: &self.engine.schema,
            sources: &self.engine.sources,
            variable: move |name: &Name| {
                variables
                    .get(name.as_str())
                    .is_some_and(|raw| raw.get() == "true")
            },
            errors: &mut self.errors,
            representation,
            budget: self.budget,
            request_id: &self.ctx.request_id,
        }
    }

    /// Writes the entity at key `position` of `fetched`: `null` when it does not exist, and
    /// `null` with an error when a non-null field has no value.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_entity<'k>(
        &mut self,
        out: &mut Vec<u8>,
        selection: &EntitySelection,
        fetched: &Fetched,
        position: usize,
        path: &mut Vec<PathSegment>,
        representation: Option<&[(Box<str>, Box<RawValue>)]>,
        key: impl FnOnce() -> &'k EntityKey,
    ) {
        let Some(row) = fetched.rows.rows_of(position).next() else {
            out.extend_from_slice(b"null");
            // A key that failed on its own (a remote's error at its index) is an error; a key
            // without a row is simply an entity that does not exist.
            if let Some(error) = fetched.rows.key_error(position) {
                let key = key();
                let strategy = self.engine.sources.strategy_for(key.type_name());
                self.errors.push(fetch_error(
                    error,
                    key,
                    path.clone(),
                    strategy,
                    &self.ctx.request_id,
                ));
            }
            return;
        };
        let start = out.len();
        let mut writer = self.writer(representation);
        if writer.row(out, selection, fetched, row, path).is_err() {
            out.truncate(start);
            out.extend_from_slice(b"null");
        }
    }
}

/// Runs CPU-bound work (a plan compiled on a cache miss, a large answer written) without
/// holding up the other tasks queued on this worker: on a multi-threaded runtime the worker
/// hands them to another thread first (`block_in_place`); on a single-threaded one (tests) it
/// just runs.
pub(super) fn cpu_bound<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

pub(super) fn selection_for<'s>(
    selections: &'s [EntitySelection],
    type_name: &Name,
) -> &'s EntitySelection {
    selections
        .iter()
        .find(|s| s.type_name == *type_name)
        .expect("the plan has a selection for every mapped type")
}
