//! Which source serves which entity type.

use std::collections::HashMap;
use std::sync::Arc;

use apollo_compiler::Name;

use graft_schema::{RootFieldKind, SubgraphSchema};

use crate::{
    BoxFuture, Capabilities, EntitySource, FetchRequest, Isolation, PageRequest, PoolStatus,
    RequestContext, ResolveError, RowSet, UnitOfWork,
};

/// Maps entity types to the [`EntitySource`] that serves them, with a default for the rest.
#[derive(Clone, Default)]
pub struct SourceRouter {
    default: Option<Arc<dyn EntitySource>>,
    by_type: HashMap<Name, Arc<dyn EntitySource>>,
    /// Each source given, with the [`TenantGate`] it is served behind: one gate per source,
    /// however many types it serves, so that [`SourceRouter::sources`] sees it once.
    gates: Vec<(Arc<dyn EntitySource>, Arc<dyn EntitySource>)>,
}

impl SourceRouter {
    /// A router that sends every type to `source`.
    pub fn single(source: Arc<dyn EntitySource>) -> SourceRouter {
        let mut router = SourceRouter::default();
        router.default = Some(router.gated(source));
        router
    }

    /// Sends `type_name` to `source` instead of the default.
    pub fn route(mut self, type_name: Name, source: Arc<dyn EntitySource>) -> SourceRouter {
        let source = self.gated(source);
        self.by_type.insert(type_name, source);
        self
    }

    /// `source` behind its [`TenantGate`], the same one each time it is given.
    fn gated(&mut self, source: Arc<dyn EntitySource>) -> Arc<dyn EntitySource> {
        if let Some((_, gate)) = self
            .gates
            .iter()
            .find(|(given, _)| Arc::ptr_eq(given, &source))
        {
            return Arc::clone(gate);
        }
        let gate = TenantGate::around(Arc::clone(&source));
        self.gates.push((source, Arc::clone(&gate)));
        gate
    }

    /// The source for `type_name`.
    pub fn source_for(&self, type_name: &str) -> Option<&Arc<dyn EntitySource>> {
        self.by_type.get(type_name).or(self.default.as_ref())
    }

    /// Checks, at start-up, that the source of every type can do what `schema` asks of it: a
    /// type with a page field needs [`Capabilities::pages`](crate::Capabilities::pages), a type
    /// with mutations [`Capabilities::transactions`](crate::Capabilities::transactions). The
    /// error names the type, the field and the source.
    pub fn check(&self, schema: &SubgraphSchema) -> Result<(), ResolveError> {
        for field in schema.mutation_fields() {
            let type_name = &field.type_name;
            let Some(source) = self.source_for(type_name) else {
                return Err(ResolveError::NoSource(type_name.to_string()));
            };
            if !source.capabilities().transactions {
                return Err(ResolveError::Unsupported(format!(
                    "Mutation.{} writes {type_name}, but its source `{}` cannot write",
                    field.name,
                    source.name()
                )));
            }
        }
        for field in schema.root_fields() {
            let RootFieldKind::Page { type_name, .. } = &field.kind else {
                continue;
            };
            let Some(source) = self.source_for(type_name) else {
                return Err(ResolveError::NoSource(type_name.to_string()));
            };
            if !source.capabilities().pages {
                return Err(ResolveError::Unsupported(format!(
                    "Query.{} pages through {type_name}, but its source `{}` cannot page",
                    field.name,
                    source.name()
                )));
            }
        }
        Ok(())
    }

    /// Checks at start-up that every source honours each isolation tenants may have: a source
    /// that cannot scope its statements to a tenant must not serve a tenant's request.
    pub fn check_isolation(&self, isolations: &[crate::Isolation]) -> Result<(), ResolveError> {
        let routes = self.by_type.values().chain(&self.default);
        for source in routes {
            for isolation in isolations {
                if !source.capabilities().isolates(isolation) {
                    return Err(ResolveError::Unsupported(format!(
                        "source `{}` cannot isolate tenants by {}",
                        source.name(),
                        match isolation {
                            crate::Isolation::Schema(_) => "schema",
                            _ => "rows",
                        }
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every distinct source the router routes to, once each (for pool metrics).
    pub fn sources(&self) -> Vec<&Arc<dyn EntitySource>> {
        let mut distinct: Vec<&Arc<dyn EntitySource>> = Vec::new();
        for source in self.default.iter().chain(self.by_type.values()) {
            if !distinct.iter().any(|seen| Arc::ptr_eq(seen, source)) {
                distinct.push(source);
            }
        }
        distinct
    }

    /// The [`EntitySource::strategy`] of the source for `type_name`, `"none"` without one.
    pub fn strategy_for(&self, type_name: &str) -> &'static str {
        self.source_for(type_name).map_or("none", |s| s.strategy())
    }
}

impl std::fmt::Debug for SourceRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRouter")
            .field(
                "default",
                &self.default.as_ref().map(|s| s.name().to_owned()),
            )
            .field(
                "by_type",
                &self
                    .by_type
                    .iter()
                    .map(|(t, s)| (t.as_str(), s.name()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A source that cannot keep tenants apart by every isolation, behind a check of each call's
/// tenant: a tenant whose isolation the source cannot honour is refused, never answered
/// unscoped. [`SourceRouter::check_isolation`] refuses at start-up the isolations the
/// configuration names, but tenants kept in the database can be created later, with an
/// isolation a remote route cannot honour.
struct TenantGate {
    inner: Arc<dyn EntitySource>,
}

impl TenantGate {
    /// `source`, behind the gate unless it honours every isolation.
    fn around(source: Arc<dyn EntitySource>) -> Arc<dyn EntitySource> {
        let capabilities = source.capabilities();
        if capabilities.schema_isolation && capabilities.row_isolation {
            source
        } else {
            Arc::new(TenantGate { inner: source })
        }
    }

    /// Refused when the source cannot keep `ctx`'s tenant apart from the others.
    fn admit(&self, ctx: &RequestContext) -> Result<(), ResolveError> {
        if self.inner.capabilities().isolates(&ctx.isolation) {
            return Ok(());
        }
        Err(ResolveError::Unsupported(format!(
            "source `{}` cannot keep tenants isolated by {} apart, so it serves none of them",
            self.inner.name(),
            match ctx.isolation {
                Isolation::Schema(_) => "schema",
                _ => "rows",
            }
        )))
    }
}

impl EntitySource for TenantGate {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn strategy(&self) -> &'static str {
        self.inner.strategy()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }

    fn begin<'a>(
        &'a self,
        ctx: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Box<dyn UnitOfWork>, ResolveError>> {
        match self.admit(ctx) {
            Ok(()) => self.inner.begin(ctx),
            Err(error) => Box::pin(async move { Err(error) }),
        }
    }

    fn page<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        match self.admit(ctx) {
            Ok(()) => self.inner.page(ctx, request),
            Err(error) => Box::pin(async move { Err(error) }),
        }
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        match self.admit(ctx) {
            Ok(()) => self.inner.fetch(ctx, request),
            Err(error) => Box::pin(async move { Err(error) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{BoxFuture, Capabilities, FetchRequest, RequestContext, RowSet};

    /// A source that fetches by key and can do nothing more.
    struct FetchOnly;

    impl EntitySource for FetchOnly {
        fn name(&self) -> &str {
            "fetch-only"
        }

        fn fetch<'a>(
            &'a self,
            _ctx: &'a RequestContext,
            request: FetchRequest<'a>,
        ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
            let rows = RowSet::new(request.keys.len(), request.columns.len());
            Box::pin(async move { Ok(rows) })
        }
    }

    /// The same, saying it pages.
    struct Pages;

    impl EntitySource for Pages {
        fn name(&self) -> &str {
            "pages"
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities {
                pages: true,
                ..Capabilities::FETCH_ONLY
            }
        }

        fn fetch<'a>(
            &'a self,
            ctx: &'a RequestContext,
            request: FetchRequest<'a>,
        ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
            FetchOnly.fetch(ctx, request)
        }
    }

    const SDL: &str = r#"
        type Query { orders(first: Int, after: String): OrderConnection! }
        type OrderConnection { edges: [OrderEdge!]! pageInfo: PageInfo! }
        type OrderEdge { cursor: String! node: Order! }
        type PageInfo { hasNextPage: Boolean! endCursor: String }
        type Order @key(fields: "id") @table(name: "orders") { id: ID! total: Int }
    "#;

    #[test]
    fn a_type_with_mutations_needs_a_source_that_writes() {
        let sdl = r#"type Query { order(id: ID!): Order }
            type Order @key(fields: "id") @table(name: "orders") @mutations { id: ID! total: Int }"#;
        let schema = SubgraphSchema::parse(sdl, "orders.graphql").expect("valid schema");
        let error = SourceRouter::single(Arc::new(Pages))
            .check(&schema)
            .expect_err("cannot write");
        assert_eq!(
            error.to_string(),
            "Mutation.createOrder writes Order, but its source `pages` cannot write"
        );
    }

    #[test]
    fn a_page_field_needs_a_source_that_pages() {
        let schema = SubgraphSchema::parse(SDL, "orders.graphql").expect("valid schema");
        let error = SourceRouter::single(Arc::new(FetchOnly))
            .check(&schema)
            .expect_err("cannot page");
        assert_eq!(
            error.to_string(),
            "Query.orders pages through Order, but its source `fetch-only` cannot page"
        );
        SourceRouter::single(Arc::new(Pages))
            .check(&schema)
            .expect("pages");
    }

    fn error(result: Result<Box<dyn crate::UnitOfWork>, ResolveError>) -> String {
        match result {
            Ok(_) => panic!("refused"),
            Err(error) => error.to_string(),
        }
    }

    #[tokio::test]
    async fn a_source_that_cannot_isolate_a_tenant_refuses_it_instead_of_answering_unscoped() {
        let remote: Arc<dyn EntitySource> = Arc::new(FetchOnly);
        let router = SourceRouter::single(Arc::new(Pages))
            .route(Name::new_static_unchecked("User"), Arc::clone(&remote))
            .route(Name::new_static_unchecked("Account"), Arc::clone(&remote));
        // One gate per source given, however many types it serves.
        assert_eq!(router.sources().len(), 2);
        let source = router.source_for("User").expect("routed");
        // Without tenants, the source itself answers (here: it has no transactions).
        let untenanted = RequestContext::new("r");
        assert!(error(source.begin(&untenanted).await).contains("cannot open a transaction"));
        // A tenant kept apart by rows (one the store created after start-up) is refused.
        let tenant = RequestContext::new("r").for_tenant(
            crate::TenantId::new("acme").expect("valid"),
            crate::Isolation::Rows,
        );
        assert_eq!(
            error(source.begin(&tenant).await),
            "source `fetch-only` cannot keep tenants isolated by rows apart, so it serves none of them"
        );
    }

    #[tokio::test]
    async fn the_gate_refuses_fetches_too_and_lets_untenanted_ones_through() {
        let schema = SubgraphSchema::parse(
            r#"type Query { u(id: ID!): User } type User @key(fields: "id") @table(name: "users") { id: ID! }"#,
            "gate.graphql",
        )
        .expect("valid");
        let mapping = schema.mapping("User").expect("mapped");
        let router = SourceRouter::single(Arc::new(FetchOnly));
        let source = router.source_for("User").expect("routed");
        let request = FetchRequest::by_key(mapping, graft_keys::KeyIndex(0), &[], &[]);
        assert!(
            source
                .fetch(&RequestContext::new("r"), request)
                .await
                .is_ok()
        );
        let tenant = RequestContext::new("r").for_tenant(
            crate::TenantId::new("acme").expect("valid"),
            crate::Isolation::Schema(crate::SchemaName::new("tenant_acme").expect("valid")),
        );
        let refused = source.fetch(&tenant, request).await.map(|_| ());
        assert!(
            matches!(&refused, Err(ResolveError::Unsupported(m)) if m.contains("isolated by schema")),
            "{refused:?}"
        );
    }
}
