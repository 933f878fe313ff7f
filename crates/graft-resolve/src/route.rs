//! Routes to entities this subgraph does not store: another subgraph's own database
//! ([`RemoteDbSource`]), and a fallback from one route to another ([`FallbackSource`]).
//!
//! A type another subgraph owns is declared here with its key and the fields this subgraph
//! needs (`type OrgUser @key(fields: "orgId userId") { orgId: String! name: String }`). Reading
//! it from the owner's database needs the owner's mapping (its table and column names), so a
//! [`RemoteDbSource`] holds the owner's schema and translates each request from this
//! subgraph's mapping of the type into the owner's, field by field, before its inner database
//! source runs the one batched statement.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use graft_schema::{EntityMapping, SubgraphSchema};

use crate::{
    BoxFuture, Capabilities, EntitySource, FetchRequest, PoolStatus, RequestContext, ResolveError,
    RowSet, SourceErrorKind, SourceEvent, UnitOfWork,
};

/// Reads another subgraph's entities from that subgraph's database, through its mapping.
pub struct RemoteDbSource {
    name: String,
    owner: Arc<SubgraphSchema>,
    database: Arc<dyn EntitySource>,
}

impl RemoteDbSource {
    /// A source named `name` that reads types `owner` maps from `database`, a source on the
    /// owner's database (built with the owner's schema).
    pub fn new(
        name: impl Into<String>,
        owner: Arc<SubgraphSchema>,
        database: Arc<dyn EntitySource>,
    ) -> RemoteDbSource {
        RemoteDbSource {
            name: name.into(),
            owner,
            database,
        }
    }

    /// Checks that the owner stores every field this subgraph maps for `local`'s type, so that
    /// a mistake shows at start-up rather than at the first query.
    pub fn check(&self, local: &EntityMapping) -> Result<(), ResolveError> {
        let owner = self.owner_mapping(local)?;
        for (index, column) in local.columns.iter().enumerate() {
            if column.role != graft_schema::ColumnRole::Join {
                self.owner_index(local, owner, index)?;
            }
        }
        Ok(())
    }

    /// The owner's mapping of `local`'s type.
    fn owner_mapping(&self, local: &EntityMapping) -> Result<&EntityMapping, ResolveError> {
        self.owner.mapping(&local.type_name).ok_or_else(|| {
            self.error(format!(
                "{} has no table in the owner's schema ({})",
                local.type_name,
                self.owner.path()
            ))
        })
    }

    fn error(&self, message: String) -> ResolveError {
        ResolveError::Source {
            source_name: self.name.clone(),
            kind: SourceErrorKind::Query,
            message,
        }
    }

    /// The owner's column for the column of `local` named `column` (a key or foreign-key column).
    fn owner_column<'o>(
        &self,
        local: &EntityMapping,
        owner: &'o EntityMapping,
        column: &str,
    ) -> Result<&'o str, ResolveError> {
        let index = local
            .columns
            .iter()
            .position(|c| c.column == column)
            .ok_or_else(|| self.error(format!("{}: no column `{column}`", local.type_name)))?;
        self.owner_index(local, owner, index)
            .map(|i| owner.columns[i].column.as_str())
    }

    /// The owner's column index for the local column `index`, matched by field path.
    fn owner_index(
        &self,
        local: &EntityMapping,
        owner: &EntityMapping,
        index: usize,
    ) -> Result<usize, ResolveError> {
        let path = local.field_path(index).ok_or_else(|| {
            self.error(format!(
                "{}: column `{}` stores no field, so the owner's database cannot answer it",
                local.type_name, local.columns[index].column
            ))
        })?;
        owner.column_by_path(&path).ok_or_else(|| {
            let dotted: Vec<&str> = path.iter().map(|n| n.as_str()).collect();
            self.error(format!(
                "{}.{}: the owner's schema stores no such field",
                local.type_name,
                dotted.join(".")
            ))
        })
    }
}

impl EntitySource for RemoteDbSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn strategy(&self) -> &'static str {
        "remote-db"
    }

    /// Reads by key only: another subgraph's rows are paged and written by that subgraph.
    fn capabilities(&self) -> Capabilities {
        Capabilities::FETCH_ONLY
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.database.pool_status()
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let local = request.mapping;
            let owner = self.owner_mapping(local)?;
            let columns = request
                .columns
                .iter()
                .map(|&c| self.owner_index(local, owner, c))
                .collect::<Result<Vec<_>, _>>()?;
            let match_columns = request
                .match_columns
                .iter()
                .map(|c| self.owner_column(local, owner, c).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()?;
            self.database
                .fetch(
                    ctx,
                    FetchRequest {
                        mapping: owner,
                        match_columns: &match_columns,
                        keys: request.keys,
                        columns: &columns,
                        many: request.many,
                        row_limit: request.row_limit,
                        per_key_limit: request.per_key_limit,
                    },
                )
                .await
        })
    }
}

/// Tries `primary` (a database route) and, when it cannot be reached, `secondary` (HTTP).
///
/// Only a connection failure or a timeout falls back: a query error or bad data would fail the
/// same way twice, and is reported as it is. After a fallback the primary is skipped for
/// `cool_down`, so that a database that is down costs one connect timeout, not one per request.
/// Each fallback is reported to the request's observer ([`SourceEvent::Fallback`]), so batch
/// statistics and debug responses say what fell back and why.
pub struct FallbackSource {
    name: String,
    primary: Arc<dyn EntitySource>,
    secondary: Arc<dyn EntitySource>,
    cool_down: Duration,
    /// Until when the primary is skipped, and the failure that caused it.
    down: Mutex<Option<(Instant, String)>>,
}

impl FallbackSource {
    /// How long the primary is skipped after it failed, unless set otherwise.
    pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(5);

    /// A source named `name` that falls back from `primary` to `secondary`.
    pub fn new(
        name: impl Into<String>,
        primary: Arc<dyn EntitySource>,
        secondary: Arc<dyn EntitySource>,
    ) -> FallbackSource {
        FallbackSource {
            name: name.into(),
            primary,
            secondary,
            cool_down: Self::DEFAULT_COOL_DOWN,
            down: Mutex::new(None),
        }
    }

    /// Sets how long the primary is skipped after a failure (zero: never skipped).
    pub fn with_cool_down(mut self, cool_down: Duration) -> FallbackSource {
        self.cool_down = cool_down;
        self
    }

    /// The failure the primary is still cooling down from, if any.
    fn primary_down(&self) -> Option<String> {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        match &*down {
            Some((until, reason)) if Instant::now() < *until => Some(reason.clone()),
            Some(_) => {
                *down = None;
                None
            }
            None => None,
        }
    }

    fn mark_down(&self, reason: &str) {
        if !self.cool_down.is_zero() {
            let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
            *down = Some((Instant::now() + self.cool_down, reason.to_owned()));
        }
    }
}

/// Whether `error` means the route could not be reached (rather than that it answered badly).
fn unreachable(error: &ResolveError) -> bool {
    matches!(
        error,
        ResolveError::Source {
            kind: SourceErrorKind::Connection | SourceErrorKind::Timeout,
            ..
        }
    )
}

impl EntitySource for FallbackSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn strategy(&self) -> &'static str {
        "db-then-http"
    }

    /// Reads by key only: the fallback exists for another subgraph's entities.
    fn capabilities(&self) -> Capabilities {
        Capabilities::FETCH_ONLY
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.primary.pool_status()
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let reason = match self.primary_down() {
                Some(reason) => format!(
                    "{} skipped while cooling down from a failure ({reason})",
                    self.primary.name()
                ),
                None => match self.primary.fetch(ctx, request).await {
                    Err(error) if unreachable(&error) => {
                        // The driver's text (hosts, paths, server messages) goes to the log
                        // only: the reason kept for the cool-down and reported as the fallback's
                        // (`graft-debug` statistics reach clients) says what failed, not how.
                        tracing::warn!(source = %self.name, %error, "{} failed", self.primary.name());
                        let reason = match &error {
                            ResolveError::Source { kind, .. } => kind.to_string(),
                            other => other.public_message(),
                        };
                        self.mark_down(&reason);
                        format!("{} failed ({reason})", self.primary.name())
                    }
                    other => return other,
                },
            };
            tracing::warn!(source = %self.name, %reason, "falling back to {}", self.secondary.name());
            match self.secondary.fetch(ctx, request).await {
                Ok(rows) => {
                    // A fallback that answered; one that failed too is the fetch's error.
                    let fallback = format!(
                        "{} -> {}: {reason}",
                        self.primary.name(),
                        self.secondary.name()
                    );
                    ctx.observe(&SourceEvent::Fallback {
                        source: &self.name,
                        reason: &fallback,
                    });
                    Ok(rows)
                }
                Err(error) => Err(ResolveError::Source {
                    source_name: self.name.clone(),
                    kind: match &error {
                        ResolveError::Source { kind, .. } => *kind,
                        _ => SourceErrorKind::Other,
                    },
                    message: format!(
                        "both routes failed: {reason}; then {}: {error}",
                        self.secondary.name()
                    ),
                }),
            }
        })
    }
}

/// Connects a source.
pub type Connect =
    Box<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn EntitySource>, ResolveError>> + Send + Sync>;

/// A source that connects on first use, so that a subgraph starts even when another
/// subgraph's database is down. A failed connect is answered as a
/// [`SourceErrorKind::Connection`] error, or [`SourceErrorKind::Timeout`] when it timed out
/// (both of which a [`FallbackSource`] falls back on), and is tried again by a later fetch.
/// Concurrent fetches share one connect, also a failed one: the fetches that waited for it get
/// its error instead of trying again one after the other, so that a database that hangs costs
/// them one connect timeout, not one each.
pub struct LazySource {
    name: String,
    strategy: &'static str,
    connect: Connect,
    capabilities: Capabilities,
    connected: tokio::sync::Mutex<Option<Arc<dyn EntitySource>>>,
    /// Connects that failed so far, and the kind and message of the last one.
    failed: Mutex<(u64, Option<(SourceErrorKind, String)>)>,
}

impl LazySource {
    /// A source named `name`, with `strategy` (see [`EntitySource::strategy`]), that connects
    /// with `connect`.
    pub fn new(name: impl Into<String>, strategy: &'static str, connect: Connect) -> LazySource {
        LazySource {
            name: name.into(),
            strategy,
            connect,
            capabilities: Capabilities::FETCH_ONLY,
            connected: tokio::sync::Mutex::new(None),
            failed: Mutex::new((0, None)),
        }
    }

    /// Promises what the source `connect` makes can do, which is not known before it connects
    /// (fetches only, unless set).
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> LazySource {
        self.capabilities = capabilities;
        self
    }

    fn failed(&self) -> std::sync::MutexGuard<'_, (u64, Option<(SourceErrorKind, String)>)> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn source(&self) -> Result<Arc<dyn EntitySource>, ResolveError> {
        let failures = self.failed().0;
        let mut connected = self.connected.lock().await;
        if let Some(source) = &*connected {
            return Ok(Arc::clone(source));
        }
        let error = |kind, message| ResolveError::Source {
            source_name: self.name.clone(),
            kind,
            message,
        };
        // A connect failed while this fetch waited for it: its answer is this fetch's too.
        if let (count, Some((kind, message))) = &*self.failed()
            && *count != failures
        {
            return Err(error(*kind, message.clone()));
        }
        match (self.connect)().await {
            Ok(source) => {
                *connected = Some(Arc::clone(&source));
                Ok(source)
            }
            Err(failure) => {
                let (kind, message) = match failure {
                    ResolveError::Source {
                        kind: SourceErrorKind::Timeout,
                        message,
                        ..
                    } => (SourceErrorKind::Timeout, message),
                    // The source's name is this source's: not repeated in the message.
                    ResolveError::Source { message, .. } => (SourceErrorKind::Connection, message),
                    other => (SourceErrorKind::Connection, other.to_string()),
                };
                let message = format!("cannot connect: {message}");
                let mut failed = self.failed();
                *failed = (failed.0 + 1, Some((kind, message.clone())));
                Err(error(kind, message))
            }
        }
    }
}

impl EntitySource for LazySource {
    fn name(&self) -> &str {
        &self.name
    }

    fn strategy(&self) -> &'static str {
        self.strategy
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The connected source's pool; none before it connects (or while a connect is under way).
    fn pool_status(&self) -> Option<PoolStatus> {
        self.connected.try_lock().ok()?.as_ref()?.pool_status()
    }

    fn begin<'a>(
        &'a self,
        ctx: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Box<dyn UnitOfWork>, ResolveError>> {
        Box::pin(async move { self.source().await?.begin(ctx).await })
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move { self.source().await?.fetch(ctx, request).await })
    }

    fn page<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: crate::PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move { self.source().await?.page(ctx, request).await })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use graft_keys::apollo_compiler::Name;
    use graft_keys::{EntityKey, KeyIndex, KeyValue};

    use super::*;

    /// What a scripted source was asked: table, match columns, columns read.
    type Asked = (String, Vec<String>, Vec<String>);

    /// A source that answers from a script and records what it was asked.
    struct Scripted {
        name: &'static str,
        fail: Option<SourceErrorKind>,
        calls: AtomicUsize,
        asked: Mutex<Vec<Asked>>,
    }

    impl Scripted {
        fn new(name: &'static str, fail: Option<SourceErrorKind>) -> Arc<Scripted> {
            Arc::new(Scripted {
                name,
                fail,
                calls: AtomicUsize::new(0),
                asked: Mutex::new(Vec::new()),
            })
        }
    }

    impl EntitySource for Scripted {
        fn name(&self) -> &str {
            self.name
        }

        fn fetch<'a>(
            &'a self,
            _: &'a RequestContext,
            request: FetchRequest<'a>,
        ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                self.asked.lock().expect("not poisoned").push((
                    request.mapping.table.to_string(),
                    request.match_columns.to_vec(),
                    request
                        .columns
                        .iter()
                        .map(|&c| request.mapping.columns[c].column.clone())
                        .collect(),
                ));
                match self.fail {
                    Some(kind) => Err(ResolveError::Source {
                        source_name: self.name.to_owned(),
                        kind,
                        message: "scripted failure".to_owned(),
                    }),
                    None => {
                        let mut rows = RowSet::new(request.keys.len(), request.columns.len());
                        rows.row(0).push_text(self.name);
                        Ok(rows)
                    }
                }
            })
        }
    }

    const LOCAL: &str = r#"
type Query { order(id: ID!): Order }
type Order @key(fields: "id") { id: ID! user: OrgUser @belongsTo(fields: "orgId userId") orgId: String! userId: String! }
type OrgUser @key(fields: "orgId userId") { orgId: String! userId: String! name: String }
"#;
    const OWNER: &str = r#"
type OrgUser @key(fields: "orgId userId") @table(name: "accounts") {
  orgId: String! @column(name: "tenant")
  userId: String! @column(name: "login")
  name: String @column(name: "display_name")
  email: String
}
"#;

    fn schemas() -> (SubgraphSchema, Arc<SubgraphSchema>) {
        (
            SubgraphSchema::parse(LOCAL, "orders.graphql").expect("valid"),
            Arc::new(SubgraphSchema::parse(OWNER, "users.graphql").expect("valid")),
        )
    }

    fn key() -> EntityKey {
        EntityKey::new(
            Name::new("OrgUser").expect("a name"),
            KeyIndex(0),
            vec![
                KeyValue::String("org-1".into()),
                KeyValue::String("u1".into()),
            ],
        )
    }

    async fn fetch(
        source: &dyn EntitySource,
        local: &SubgraphSchema,
    ) -> Result<RowSet, ResolveError> {
        let mapping = local.mapping("OrgUser").expect("mapped");
        let name = mapping.column_index("name").expect("name");
        let key = key();
        let keys = [&key];
        let columns = [name];
        source
            .fetch(
                &RequestContext::new("test"),
                FetchRequest::by_key(mapping, KeyIndex(0), &keys, &columns),
            )
            .await
    }

    #[tokio::test]
    async fn a_remote_database_is_asked_in_its_owners_table_and_column_names() {
        let (local, owner) = schemas();
        let database = Scripted::new("users-db", None);
        let source = RemoteDbSource::new("users", owner, database.clone());
        fetch(&source, &local).await.expect("fetched");
        let asked = database.asked.lock().expect("not poisoned").clone();
        assert_eq!(
            asked,
            [(
                "accounts".to_owned(),
                vec!["tenant".to_owned(), "login".to_owned()],
                vec!["display_name".to_owned()]
            )]
        );
        assert_eq!(source.strategy(), "remote-db");
    }

    #[tokio::test]
    async fn a_field_the_owner_does_not_store_is_a_clear_error() {
        let local = SubgraphSchema::parse(
            r#"type OrgUser @key(fields: "orgId userId") { orgId: String! userId: String! nickname: String }"#,
            "orders.graphql",
        )
        .expect("valid");
        let (_, owner) = schemas();
        let source = RemoteDbSource::new("users", owner, Scripted::new("users-db", None));
        let mapping = local.mapping("OrgUser").expect("mapped");
        let key = key();
        let keys = [&key];
        let columns = [mapping.column_index("nickname").expect("nickname")];
        let error = source
            .fetch(
                &RequestContext::new("test"),
                FetchRequest::by_key(mapping, KeyIndex(0), &keys, &columns),
            )
            .await
            .expect_err("the owner has no nickname");
        assert!(error.to_string().contains("OrgUser.nickname"), "{error}");
    }

    #[tokio::test]
    async fn an_unreachable_database_falls_back_and_cools_down() {
        let (local, _) = schemas();
        let database = Scripted::new("users-db", Some(SourceErrorKind::Connection));
        let http = Scripted::new("users-http", None);
        let source = FallbackSource::new("users", database.clone(), http.clone());
        for _ in 0..3 {
            let stats = Arc::new(crate::RequestStats::default());
            let ctx = RequestContext::new("test").observed_by(stats.clone());
            let mapping = local.mapping("OrgUser").expect("mapped");
            let (key, columns) = (key(), [mapping.column_index("name").expect("name")]);
            source
                .fetch(
                    &ctx,
                    FetchRequest::by_key(mapping, KeyIndex(0), &[&key], &columns),
                )
                .await
                .expect("answered over HTTP");
            let fallbacks = stats.fallbacks();
            assert_eq!(fallbacks.len(), 1);
            assert!(
                fallbacks[0].starts_with("users-db -> users-http"),
                "{fallbacks:?}"
            );
        }
        // The database was tried once; then it cooled down.
        assert_eq!(database.calls.load(Ordering::SeqCst), 1);
        assert_eq!(http.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_query_error_does_not_fall_back() {
        let (local, _) = schemas();
        let database = Scripted::new("users-db", Some(SourceErrorKind::Query));
        let http = Scripted::new("users-http", None);
        let source = FallbackSource::new("users", database, http.clone());
        let error = fetch(&source, &local)
            .await
            .expect_err("a query error stands");
        assert!(error.to_string().contains("users-db"), "{error}");
        assert_eq!(http.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_busy_pool_is_no_outage_it_neither_falls_back_nor_cools_down() {
        let (local, _) = schemas();
        let database = Scripted::new("users-db", Some(SourceErrorKind::Busy));
        let http = Scripted::new("users-http", None);
        let source = FallbackSource::new("users", database.clone(), http.clone());
        for _ in 0..2 {
            let error = fetch(&source, &local).await.expect_err("busy stands");
            assert!(matches!(
                error,
                ResolveError::Source {
                    kind: SourceErrorKind::Busy,
                    ..
                }
            ));
        }
        // Tried each time (no cool-down), HTTP never.
        assert_eq!(database.calls.load(Ordering::SeqCst), 2);
        assert_eq!(http.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn when_both_routes_fail_the_error_names_both() {
        let (local, _) = schemas();
        let source = FallbackSource::new(
            "users",
            Scripted::new("users-db", Some(SourceErrorKind::Timeout)),
            Scripted::new("users-http", Some(SourceErrorKind::Http)),
        )
        .with_cool_down(Duration::ZERO);
        let error = fetch(&source, &local).await.expect_err("both fail");
        let message = error.to_string();
        assert!(
            message.contains("users-db failed") && message.contains("users-http"),
            "{message}"
        );
        assert!(matches!(
            error,
            ResolveError::Source {
                kind: SourceErrorKind::Http,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_lazy_source_connects_once_and_retries_after_a_failed_connect() {
        let (local, _) = schemas();
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&attempts);
        let lazy = LazySource::new(
            "users-db",
            "remote-db",
            Box::new(move || {
                let attempt = counter.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    if attempt == 0 {
                        Err(ResolveError::Unsupported("refused".to_owned()))
                    } else {
                        Ok(Scripted::new("users-db", None) as Arc<dyn EntitySource>)
                    }
                })
            }),
        );
        let error = fetch(&lazy, &local)
            .await
            .expect_err("the first connect fails");
        assert!(matches!(
            error,
            ResolveError::Source {
                kind: SourceErrorKind::Connection,
                ..
            }
        ));
        fetch(&lazy, &local).await.expect("connected");
        fetch(&lazy, &local).await.expect("still connected");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn fetches_that_wait_for_a_failed_connect_share_its_error() {
        let (local, _) = schemas();
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&attempts);
        let lazy = LazySource::new(
            "users-db",
            "remote-db",
            Box::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Box::pin(async {
                    // A database that hangs until the connect timeout.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(ResolveError::Source {
                        source_name: "users-db".to_owned(),
                        kind: SourceErrorKind::Timeout,
                        message: "timed out".to_owned(),
                    })
                })
            }),
        );
        let (a, b, c) = tokio::join!(
            fetch(&lazy, &local),
            fetch(&lazy, &local),
            fetch(&lazy, &local)
        );
        // One connect for the three, not three in a row.
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        for result in [a, b, c] {
            let error = result.expect_err("the connect failed");
            assert_eq!(
                error.to_string(),
                "source `users-db` failed (timeout): cannot connect: timed out"
            );
        }
        // A later fetch tries again.
        fetch(&lazy, &local).await.expect_err("still down");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }
}
