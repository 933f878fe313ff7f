//! The engine: from a GraphQL request to response bytes.
//!
//! Per request: look the operation's plan up by query text (parsing, validating and compiling it
//! on a miss), coerce the variables, then for each root field read what it needs through the
//! sources and write JSON straight into the response buffer.
//!
//! The modules form layers. This one dispatches on the root field's kind to one module per
//! kind (`entities`, `by_key`, `page`, `mutation`); below them, `crate::related` resolves
//! relations level by level and writes entities, over `crate::loader`, `crate::write` and the
//! sources. Nothing below calls back up.

use apollo_compiler::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use apollo_compiler::Name;
use apollo_compiler::executable::ExecutableDocument;
use apollo_compiler::response::JsonMap;
use apollo_compiler::schema::Implementers;
use apollo_compiler::validation::Valid;
use graft_keys::Json;
use graft_plan::{
    BatchStats, CompileOptions, Grouping, OperationPlan, PLANNING_CEILING, PerTypeAndKey,
    PlanError, RootKind, ServiceField, Shape,
};
use graft_schema::SubgraphSchema;

use crate::limits::{BatchBudget, Exceeded, LimitMode, RequestBudget, RequestLimits};
use crate::loader::{LoaderConfig, Loaders};
use crate::observe::Both;
use crate::request::Variables;
use crate::variables::coerce;
use crate::write;
use crate::{
    GraphQLError, GraphQLRequest, GraphQLResponse, Location, PathSegment, RequestContext,
    RequestStats, ResponseKind, SourceRouter,
};

mod by_key;
mod entities;
mod execution;
mod mutation;
mod page;

use execution::{Execution, Staged, Timings, cpu_bound, selection_for};

/// Limits and switches of the engine, with defaults suited to a gateway-facing subgraph.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most representations one `_entities` call may carry (default 10,000).
    pub max_representations: usize,
    /// Most keys in one fetch group; larger groups are split (default 10,000). Sources may
    /// chunk further where their database limits parameters.
    pub max_group_size: usize,
    /// Memory for query plans kept by query text, in (estimated) bytes: the text, its parsed
    /// document and its plan (default 32 MiB).
    pub plan_cache_bytes: u64,
    /// Whether `__schema` and `__type` are answered (default true). `_service { sdl }` is always
    /// answered.
    pub introspection: bool,
    /// Entities per page of a connection when `first` is not given (default 20).
    pub page_size: usize,
    /// Most entities a connection page may ask for (default 1,000).
    pub max_page_size: usize,
    /// The relation DataLoader: batch window and size.
    pub loader: LoaderConfig,
    /// Most statements of one request in flight at once, fetch groups and relation loads
    /// alike (default 8): groups served by different sources cost the slowest of them, not the
    /// sum, without one request taking every pooled connection.
    pub max_concurrent_fetches: usize,
    /// What one request may cost: limits checked before execution and the budget it spends.
    pub limits: RequestLimits,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            max_representations: 10_000,
            max_group_size: 10_000,
            plan_cache_bytes: 32 * 1024 * 1024,
            introspection: true,
            page_size: 20,
            max_page_size: 1_000,
            loader: LoaderConfig::default(),
            max_concurrent_fetches: 8,
            limits: RequestLimits::default(),
        }
    }
}

/// Per-call switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecuteOptions {
    /// Adds `extensions.graft.batch` (batch statistics) to the response.
    pub debug: bool,
    /// Adds `extensions.apolloEntityCacheTags` to an `_entities` answer: for each entity, in
    /// order, the tags a caching gateway (Apollo Router's response cache) indexes it under,
    /// so that an operator can invalidate it by type or by key.
    pub cache_tags: bool,
}

/// Executes GraphQL requests against one subgraph schema and its sources.
pub struct Engine {
    schema: Arc<SubgraphSchema>,
    sources: SourceRouter,
    grouping: Arc<dyn Grouping>,
    config: EngineConfig,
    compile_options: CompileOptions,
    plans: quick_cache::sync::Cache<PlanKey, Arc<Prepared>, PreparedWeight>,
    implementers: HashMap<Name, Implementers>,
}

/// Weighs a cached plan by the memory it holds.
#[derive(Debug, Clone, Copy)]
struct PreparedWeight;

impl quick_cache::Weighter<PlanKey, Arc<Prepared>> for PreparedWeight {
    fn weight(&self, _key: &PlanKey, prepared: &Arc<Prepared>) -> u64 {
        prepared.weight
    }
}

/// The plan cache's key: operation name and query text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PlanKey(Option<String>, String);

/// [`PlanKey`] borrowed from a request; hashes as `PlanKey` does (`String` hashes as `str`).
#[derive(Hash)]
struct PlanKeyRef<'a>(Option<&'a str>, &'a str);

impl quick_cache::Equivalent<PlanKey> for PlanKeyRef<'_> {
    fn equivalent(&self, key: &PlanKey) -> bool {
        self.0 == key.0.as_deref() && self.1 == key.1
    }
}

/// A parsed, validated and compiled operation.
struct Prepared {
    document: Valid<ExecutableDocument>,
    operation_name: Option<String>,
    plan: OperationPlan,
    /// What the plan reads and whether it writes, for the response's caching advice.
    reads: Arc<graft_plan::Reads>,
    /// Estimated bytes held: the text twice (key and source map), its syntax tree and the plan.
    weight: u64,
}

impl Prepared {
    fn weight(query: &str, shape: Shape) -> u64 {
        // Measured roughly with a counting allocator: a parsed and validated document holds
        // about 12 bytes per byte of text, a planned field about 300 bytes.
        14 * query.len() as u64 + 300 * u64::from(shape.fields) + 1024
    }
}

impl Engine {
    /// An engine for `schema` whose entities come from `sources`.
    pub fn new(schema: Arc<SubgraphSchema>, sources: SourceRouter, config: EngineConfig) -> Engine {
        let implementers = schema.api_schema().implementers_map();
        let limits = &config.limits;
        let compile_options = CompileOptions {
            max_fields: match limits.mode {
                LimitMode::Enforce => limits.max_fields.min(PLANNING_CEILING),
                LimitMode::Measure => PLANNING_CEILING,
            },
            cost: limits.cost.clone(),
        };
        let plan_bytes = config.plan_cache_bytes.max(1);
        Engine {
            plans: quick_cache::sync::Cache::with_weighter(
                usize::try_from(plan_bytes / 16_384)
                    .unwrap_or(usize::MAX)
                    .max(16),
                plan_bytes,
                PreparedWeight,
            ),
            compile_options,
            schema,
            sources,
            grouping: Arc::new(PerTypeAndKey),
            config,
            implementers,
        }
    }

    /// Replaces the default grouping (one group per type and key).
    pub fn with_grouping(mut self, grouping: Arc<dyn Grouping>) -> Engine {
        self.grouping = grouping;
        self
    }

    /// The schema served.
    pub fn schema(&self) -> &SubgraphSchema {
        &self.schema
    }

    /// The sources, by type.
    pub fn sources(&self) -> &SourceRouter {
        &self.sources
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Executes `request` and returns the response body with its kind, plus batch statistics.
    pub async fn execute(
        &self,
        ctx: &RequestContext,
        request: &GraphQLRequest<'_>,
        options: ExecuteOptions,
    ) -> (GraphQLResponse, BatchStats) {
        self.execute_with(ctx, request, options, None).await
    }

    /// A budget for a batch of requests, each run with [`Engine::execute_in_batch`]: the
    /// request limits applied to the batch as a whole.
    pub fn batch_budget(&self) -> BatchBudget {
        BatchBudget::new(&self.config.limits, self.config.max_concurrent_fetches)
    }

    /// Executes one request of a batch: as if alone (its own errors, statistics and limits),
    /// and spending from the batch's `budget` too.
    pub async fn execute_in_batch(
        &self,
        ctx: &RequestContext,
        request: &GraphQLRequest<'_>,
        options: ExecuteOptions,
        budget: &BatchBudget,
    ) -> (GraphQLResponse, BatchStats) {
        self.execute_with(ctx, request, options, Some(budget)).await
    }

    async fn execute_with(
        &self,
        ctx: &RequestContext,
        request: &GraphQLRequest<'_>,
        options: ExecuteOptions,
        batch: Option<&BatchBudget>,
    ) -> (GraphQLResponse, BatchStats) {
        let started = Instant::now();
        let mut stats = BatchStats::default();
        let Some(query) = request.query.as_deref() else {
            return (
                request_error(vec![GraphQLError::new(
                    "BAD_REQUEST",
                    "the request has no `query`",
                )]),
                stats,
            );
        };
        let prepared = match self.prepare(query, request.operation_name.as_deref()) {
            Ok(prepared) => prepared,
            Err(errors) => return (request_error(errors), stats),
        };
        let mut report = CostReport {
            shape: prepared.plan.shape,
            ..CostReport::default()
        };
        if let Some(error) = self.check_shape(&mut report, &ctx.request_id) {
            return (request_error(vec![error]), stats);
        }
        let (variables, defaults) = match coerce(
            self.schema.api_schema(),
            &prepared.plan.variables,
            request.variables.as_ref(),
        ) {
            Ok(coerced) => coerced,
            Err(message) => {
                return (
                    request_error(vec![GraphQLError::new("BAD_USER_INPUT", message)]),
                    stats,
                );
            }
        };
        let mut variables = variables;
        for (name, raw) in &defaults {
            variables.insert(name.as_str().into(), Json::from_raw(raw));
        }
        let budget = Arc::new(RequestBudget::in_batch(
            &self.config.limits,
            self.config.max_concurrent_fetches,
            batch,
        ));
        // The request's sources report to its statistics and its budget.
        let sources_did = Arc::new(RequestStats::default());
        let observed = ctx.observed_by(Arc::new(Both(
            Arc::clone(&sources_did),
            Arc::clone(&budget),
        )));
        let ctx = &observed;
        let mut execution = Execution {
            engine: self,
            ctx,
            variables: &variables,
            errors: Vec::new(),
            stats: &mut stats,
            loaders: Loaders::new(self.config.loader),
            budget: &budget,
            timings: Timings {
                prepare: started.elapsed(),
                ..Timings::default()
            },
            cache_tags: options.cache_tags.then(Vec::new),
        };
        let staged = match execution.stage(&prepared.plan) {
            Ok(staged) => staged,
            Err(error) => {
                drop(execution);
                return (request_error(vec![error]), stats);
            }
        };
        report.estimated = staged.iter().map(Staged::cost).fold(0, u64::saturating_add);
        if let Some(error) = self.check_cost(&mut report, &ctx.request_id) {
            drop(execution);
            return (request_error(vec![error]), stats);
        }
        if let Some(Err(error)) = batch.map(|batch| batch.estimate(report.estimated)) {
            drop(execution);
            return (request_error(vec![error]), stats);
        }
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(b"{\"data\":{");
        let mut first = true;
        let mut introspection: Option<JsonMap> = None;
        for (root, stage) in prepared.plan.root.iter().zip(staged) {
            if matches!(stage, Staged::Skipped) {
                continue;
            }
            if let Some(limit) = budget.exceeded() {
                drop(execution);
                sources_did.add_to(&mut stats);
                return (request_error(vec![budget.error(limit)]), stats);
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(root.response_key.json_prefix().as_bytes());
            let path = || vec![PathSegment::Key(root.response_key.name().clone())];
            match &root.kind {
                RootKind::Typename(name) => write::string(&mut out, name),
                RootKind::Service(fields) => {
                    out.push(b'{');
                    for (i, (key, field)) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(key.json_prefix().as_bytes());
                        match field {
                            ServiceField::Sdl => {
                                write::string(&mut out, self.schema.federation_sdl())
                            }
                            ServiceField::Typename => write::string(&mut out, "_Service"),
                        }
                    }
                    out.push(b'}');
                }
                RootKind::Introspection => {
                    if !self.config.introspection {
                        out.extend_from_slice(b"null");
                        execution.errors.push(
                            GraphQLError::new(
                                "INTROSPECTION_DISABLED",
                                "introspection is disabled on this subgraph",
                            )
                            .at(path()),
                        );
                        continue;
                    }
                    if introspection.is_none() {
                        introspection = Some(self.introspect(
                            &prepared,
                            request.variables.as_ref(),
                            &mut execution.errors,
                        ));
                    }
                    let value = introspection
                        .as_ref()
                        .and_then(|data| data.get(root.response_key.name().as_str()));
                    serde_json::to_writer(&mut out, &value).expect("writing to a Vec cannot fail");
                }
                RootKind::Entities { selections, .. } => {
                    let Staged::Entities(stage) = stage else {
                        unreachable!("entities roots are staged as such")
                    };
                    execution.entities(&mut out, *stage, selections).await;
                }
                RootKind::ByKey {
                    arguments,
                    selection,
                    ..
                } => {
                    execution
                        .by_key(&mut out, root.response_key.name(), arguments, selection)
                        .await;
                }
                RootKind::Page(page) => {
                    execution
                        .page(&mut out, root.response_key.name(), page)
                        .await;
                }
                // Root mutation fields run one after the other, each committed before the next.
                RootKind::Mutation(plan) => {
                    execution
                        .mutate(&mut out, root.response_key.name(), plan)
                        .await;
                }
            }
        }
        out.push(b'}');
        if let Some(limit) = budget.exceeded() {
            drop(execution);
            sources_did.add_to(&mut stats);
            return (request_error(vec![budget.error(limit)]), stats);
        }
        let errors = std::mem::take(&mut execution.errors);
        let has_errors = !errors.is_empty();
        let timings = std::mem::take(&mut execution.timings);
        let cache_tags = execution.cache_tags.take().filter(|tags| !tags.is_empty());
        drop(execution);
        sources_did.add_to(&mut stats);
        if !errors.is_empty() {
            out.extend_from_slice(b",\"errors\":");
            serde_json::to_writer(&mut out, &errors).expect("writing to a Vec cannot fail");
        }
        if options.debug || cache_tags.is_some() {
            out.extend_from_slice(b",\"extensions\":{");
        }
        if let Some(tags) = &cache_tags {
            out.extend_from_slice(b"\"apolloEntityCacheTags\":");
            out.extend_from_slice(tags);
            if options.debug {
                out.push(b',');
            }
        }
        if options.debug {
            let _ = std::io::Write::write_fmt(
                &mut out,
                format_args!(
                    "\"graft\":{{\"batch\":{{\"representations\":{},\"invalid\":{},\"uniqueKeys\":{},\"duplicates\":{},\"groups\":{},\"largestGroup\":{},\"splits\":{},\"statements\":{},\"requests\":{},\"fallbacks\":{}}},\"timingsUs\":{{\"prepare\":{},\"keys\":{},\"fetch\":{},\"write\":{},\"total\":{}}}}}",
                    stats.representations,
                    stats.invalid,
                    stats.unique_keys,
                    stats.duplicates,
                    stats.groups,
                    stats.largest_group,
                    stats.splits,
                    stats.statements,
                    stats.requests,
                    serde_json::to_string(&stats.fallbacks).expect("a list of strings serializes"),
                    timings.prepare.as_micros(),
                    timings.keys.as_micros(),
                    timings.fetch.as_micros(),
                    timings.write.as_micros(),
                    started.elapsed().as_micros(),
                ),
            );
            // Inside `graft`: drop its closing brace, add `cost`, close again.
            out.truncate(out.len() - 1);
            let (statements, rows) = budget.used();
            let bytes = out.len();
            let _ = std::io::Write::write_fmt(
                &mut out,
                format_args!(
                    ",\"cost\":{{\"estimated\":{},\"depth\":{},\"fields\":{},\"statements\":{},\"rows\":{},\"bytes\":{},\"overLimits\":{}}}}}",
                    report.estimated,
                    report.shape.depth,
                    report.shape.fields,
                    statements,
                    rows,
                    bytes,
                    serde_json::to_string(&report.measured_over).expect("strings serialize"),
                ),
            );
        }
        if options.debug || cache_tags.is_some() {
            out.push(b'}');
        }
        out.push(b'}');
        let wrote = prepared.reads.writes;
        if let Some(Err(error)) = batch.map(|batch| batch.answer(out.len(), wrote)) {
            return (request_error(vec![error]), stats);
        }
        (
            GraphQLResponse {
                body: out,
                kind: ResponseKind::Executed,
                has_errors,
                reads: Some(Arc::clone(&prepared.reads)),
            },
            stats,
        )
    }

    /// Finds or builds the plan for `query`.
    fn prepare(
        &self,
        query: &str,
        operation_name: Option<&str>,
    ) -> Result<Arc<Prepared>, Vec<GraphQLError>> {
        // Looked up with borrowed text: a hit copies nothing.
        if let Some(prepared) = self.plans.get(&PlanKeyRef(operation_name, query)) {
            return Ok(prepared);
        }
        let _span = tracing::debug_span!("plan", operation_name = operation_name).entered();
        cpu_bound(|| self.compile(query, operation_name))
    }

    /// Parses, validates and compiles `query`, and caches the plan.
    fn compile(
        &self,
        query: &str,
        operation_name: Option<&str>,
    ) -> Result<Arc<Prepared>, Vec<GraphQLError>> {
        let schema = self.schema.api_schema();
        let ast = apollo_compiler::ast::Document::parse(query, "request.graphql")
            .map_err(|with_errors| diagnostics("GRAPHQL_PARSE_FAILED", &with_errors.errors))?;
        let document = ast
            .to_executable_validate(schema)
            .map_err(|with_errors| diagnostics("GRAPHQL_VALIDATION_FAILED", &with_errors.errors))?;
        let plan = OperationPlan::compile_with(
            &self.schema,
            &document,
            operation_name,
            &self.compile_options,
        )
        .map_err(|e| match e {
            PlanError::TooManyFields { limit } => {
                vec![Exceeded::Fields.error(None, u64::from(limit))]
            }
            e @ PlanError::TooComplex { limit, .. } => {
                vec![
                    GraphQLError::new("OPERATION_TOO_COMPLEX", e.to_string())
                        .with_detail("limit", limit),
                ]
            }
            e @ PlanError::IntrospectionTooDeep => {
                vec![GraphQLError::new("MAX_DEPTH_EXCEEDED", e.to_string())]
            }
            e => vec![GraphQLError::new("OPERATION_NOT_SUPPORTED", e.to_string())],
        })?;
        let weight = Prepared::weight(query, plan.shape);
        let prepared = Arc::new(Prepared {
            document,
            operation_name: operation_name.map(str::to_owned),
            reads: Arc::new(plan.reads()),
            plan,
            weight,
        });
        let key = PlanKey(operation_name.map(str::to_owned), query.to_owned());
        self.plans.insert(key, prepared.clone());
        Ok(prepared)
    }

    /// Checks the operation's depth and fields against the limits: the error to refuse it
    /// with, or `None` (in measure mode, excesses are noted in `report` and logged).
    fn check_shape(&self, report: &mut CostReport, request_id: &str) -> Option<GraphQLError> {
        let limits = &self.config.limits;
        let shape = report.shape;
        let over = [
            (
                Exceeded::Depth,
                u64::from(shape.depth),
                u64::from(limits.max_depth),
            ),
            (
                Exceeded::Fields,
                u64::from(shape.fields),
                u64::from(limits.max_fields),
            ),
        ];
        self.over_limits(report, request_id, &over)
    }

    /// Checks the operation's estimated cost against the limit, as [`Engine::check_shape`].
    fn check_cost(&self, report: &mut CostReport, request_id: &str) -> Option<GraphQLError> {
        let over = [(
            Exceeded::EstimatedCost,
            report.estimated,
            self.config.limits.max_cost,
        )];
        self.over_limits(report, request_id, &over)
    }

    fn over_limits(
        &self,
        report: &mut CostReport,
        request_id: &str,
        checks: &[(Exceeded, u64, u64)],
    ) -> Option<GraphQLError> {
        for &(limit, found, max) in checks {
            if found <= max {
                continue;
            }
            match self.config.limits.mode {
                LimitMode::Enforce => return Some(limit.error(Some(found), max)),
                LimitMode::Measure => {
                    tracing::warn!(
                        request_id,
                        code = limit.code(),
                        found,
                        max,
                        "operation over a limit (measure mode: not refused)"
                    );
                    report.measured_over.push(limit.code());
                }
            }
        }
        None
    }

    /// Answers the introspection fields of an operation with apollo-compiler.
    fn introspect(
        &self,
        prepared: &Prepared,
        variables: Option<&Variables<'_>>,
        errors: &mut Vec<GraphQLError>,
    ) -> JsonMap {
        let schema = self.schema.api_schema();
        let operation = prepared
            .document
            .operations
            .get(prepared.operation_name.as_deref())
            .expect("the plan was compiled for this operation");
        // The slow path, for introspection only: re-read the variables as apollo-compiler's JSON.
        let values: JsonMap = variables
            .into_iter()
            .flatten()
            .filter_map(|(name, value)| {
                let value = serde_json::from_str(value.get()).ok()?;
                Some((name.as_ref().into(), value))
            })
            .collect();
        let result = apollo_compiler::request::coerce_variable_values(schema, operation, &values)
            .and_then(|values| {
                apollo_compiler::introspection::partial_execute(
                    schema,
                    &self.implementers,
                    &prepared.document,
                    operation,
                    &values,
                )
            });
        match result {
            Ok(response) => {
                errors.extend(
                    response
                        .errors
                        .into_iter()
                        .map(|e| GraphQLError::new("INTROSPECTION_FAILED", e.message)),
                );
                response.data.unwrap_or_default()
            }
            Err(error) => {
                errors.push(GraphQLError::new(
                    "INTROSPECTION_FAILED",
                    error.message().to_string(),
                ));
                JsonMap::new()
            }
        }
    }
}

/// An operation's measured size and estimated cost.
#[derive(Debug, Default)]
struct CostReport {
    shape: Shape,
    estimated: u64,
    /// Codes of limits exceeded in measure mode.
    measured_over: Vec<&'static str>,
}

fn diagnostics(
    code: &'static str,
    list: &apollo_compiler::validation::DiagnosticList,
) -> Vec<GraphQLError> {
    list.iter()
        .map(|diagnostic| {
            let mut error = GraphQLError::new(code, diagnostic.error.to_string());
            if let Some(range) = diagnostic.line_column_range() {
                error.locations.push(Location {
                    line: range.start.line,
                    column: range.start.column,
                });
            }
            error
        })
        .collect()
}

fn request_error(errors: Vec<GraphQLError>) -> GraphQLResponse {
    let mut body = b"{\"errors\":".to_vec();
    serde_json::to_writer(&mut body, &errors).expect("writing to a Vec cannot fail");
    body.push(b'}');
    GraphQLResponse {
        body,
        kind: ResponseKind::RequestError,
        has_errors: true,
        reads: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine for a schema of one entity type and no sources.
    fn item_engine() -> Engine {
        let schema =
            SubgraphSchema::parse(r#"type Item @key(fields: "id") { id: ID! }"#, "t.graphql")
                .expect("valid");
        Engine::new(
            Arc::new(schema),
            SourceRouter::default(),
            EngineConfig::default(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plans_compiled_on_a_multi_threaded_runtime_leave_the_worker_free() {
        let engine = item_engine();
        // A cache miss compiles inside `block_in_place`; a hit does not need to.
        let first = engine
            .prepare("{ _service { sdl } }", None)
            .expect("prepares");
        let again = engine
            .prepare("{ _service { sdl } }", None)
            .expect("cached");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(cpu_bound(|| 7), 7);
    }

    #[test]
    fn a_prepared_plan_is_found_again_by_borrowed_text() {
        let engine = item_engine();
        let query = "{ _service { sdl } }";
        let first = engine.prepare(query, None).expect("prepares");
        let again = engine.prepare(query, None).expect("cached");
        assert!(Arc::ptr_eq(&first, &again));
        let named = engine
            .prepare("query Q { _service { sdl } }", Some("Q"))
            .expect("prepares");
        assert!(Arc::ptr_eq(
            &named,
            &engine
                .prepare("query Q { _service { sdl } }", Some("Q"))
                .expect("cached")
        ));
    }
}
