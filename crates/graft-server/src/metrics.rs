//! `GET /metrics`: Prometheus text, with names and units after OpenTelemetry's semantic
//! conventions (`http.server.request.duration` as `http_server_request_duration_seconds`), plus
//! graft's own.
//!
//! - `http_server_request_duration_seconds{http_route, http_request_method,
//!   http_response_status_code}`: every request, measured by a layer around the routes.
//! - `db_client_operation_duration_seconds{db_operation_name, graft_source, error_type}`: every
//!   statement a source reports to the request's observer (this [`Metrics`]).
//! - `db_client_connection_count{graft_source, db_client_connection_state}` and
//!   `db_client_connection_pending_requests{graft_source}`: each pool, read at scrape time.
//! - `graft_entities_representations_total`, `graft_entities_duplicates_removed_total`,
//!   `graft_request_statements` (statements per GraphQL request), `graft_rejections_total{reason}`
//!   (`overload` from admission, `rate_limit`), `graft_cache_requests_total{level, result}` (the
//!   entity cache's hits and misses in memory and in Redis), `graft_redis_errors_total{purpose,
//!   kind}` (Redis calls of the cache and the rate limits that failed, timed out, or were skipped
//!   while Redis rested).
//!
//! Labels are bounded: routes, methods, statuses, operation kinds and source names come from
//! the server's own configuration, never from a client. Tenants are a label only of
//! `graft_tenant_requests_total{tenant}`, and only with `[metrics] tenant_label = true` (one
//! series per tenant that sent a request: tenants are resolved against the tenant store, so a
//! client cannot invent them).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use graft_resolve::{SourceEvent, SourceObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::AppState;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    http_route: &'static str,
    http_request_method: &'static str,
    http_response_status_code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DbLabels {
    db_operation_name: &'static str,
    graft_source: &'static str,
    error_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabels {
    graft_source: String,
    db_client_connection_state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabels {
    graft_source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    level: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RedisLabels {
    purpose: &'static str,
    kind: &'static str,
}

/// Counters kept elsewhere (the cache's, Redis's), turned into Prometheus counters at each
/// scrape: each adds what its source counted since the last one.
struct Mirrored<L> {
    family: Family<L, Counter>,
    seen: std::sync::Mutex<std::collections::HashMap<L, u64>>,
}

impl<L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static>
    Mirrored<L>
{
    fn new() -> Mirrored<L> {
        Mirrored {
            family: Family::default(),
            seen: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Brings `labels`'s counter up to `now`, the source's total.
    fn update(&self, labels: L, now: u64) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = seen.insert(labels.clone(), now).unwrap_or(0);
        self.family
            .get_or_create(&labels)
            .inc_by(now.saturating_sub(before));
    }
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Durations from 0.1 ms to about 3.3 s, doubling.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

fn counts() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 12))
}

/// The server's metrics, and the observer every request's sources report to.
pub struct Metrics {
    registry: Registry,
    http: Histograms<HttpLabels>,
    db: Histograms<DbLabels>,
    connections: Family<PoolLabels, Gauge>,
    pending: Family<SourceLabels, Gauge>,
    representations: Counter,
    duplicates: Counter,
    statements: Histogram,
    rejections: Family<ReasonLabels, Counter>,
    cache: Mirrored<CacheLabels>,
    redis: Mirrored<RedisLabels>,
    /// GraphQL requests by tenant, when configured (one series per tenant).
    tenants: Option<Family<TenantLabels, Counter>>,
    /// Source names as labels, made once each: no allocation per statement.
    source_names: std::sync::RwLock<Vec<&'static str>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new(false)
    }
}

impl Metrics {
    /// Every metric, registered; with `tenant_label`, also requests by tenant (one series per
    /// tenant: for deployments whose tenants are few enough to be labels).
    pub fn new(tenant_label: bool) -> Metrics {
        let mut registry = Registry::default();
        let http: Histograms<HttpLabels> = Family::new_with_constructor(seconds);
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            Unit::Seconds,
            http.clone(),
        );
        let db: Histograms<DbLabels> = Family::new_with_constructor(seconds);
        registry.register_with_unit(
            "db_client_operation_duration",
            "Duration of database client operations (statements)",
            Unit::Seconds,
            db.clone(),
        );
        let connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_client_connection_count",
            "Connections of each pool, by state (idle, used)",
            connections.clone(),
        );
        let pending = Family::<SourceLabels, Gauge>::default();
        registry.register(
            "db_client_connection_pending_requests",
            "Requests waiting for a pooled connection",
            pending.clone(),
        );
        let representations = Counter::default();
        registry.register(
            "graft_entities_representations",
            "Representations received by _entities",
            representations.clone(),
        );
        let duplicates = Counter::default();
        registry.register(
            "graft_entities_duplicates_removed",
            "Representations answered from another of the same request",
            duplicates.clone(),
        );
        let statements = counts();
        registry.register(
            "graft_request_statements",
            "SQL statements and remote calls per GraphQL request",
            statements.clone(),
        );
        let rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "graft_rejections",
            "Requests refused before running, by reason",
            rejections.clone(),
        );
        let cache = Mirrored::new();
        registry.register(
            "graft_cache_requests",
            "Entity cache lookups by key, by level (memory, redis) and result (hit, miss)",
            cache.family.clone(),
        );
        let tenants = tenant_label.then(|| {
            let tenants = Family::<TenantLabels, Counter>::default();
            registry.register(
                "graft_tenant_requests",
                "GraphQL requests executed, by tenant",
                tenants.clone(),
            );
            tenants
        });
        let redis = Mirrored::new();
        registry.register(
            "graft_redis_errors",
            "Redis calls that failed, timed out or were skipped, by purpose (cache, rate_limit)",
            redis.family.clone(),
        );
        Metrics {
            registry,
            http,
            db,
            connections,
            pending,
            representations,
            duplicates,
            statements,
            rejections,
            cache,
            redis,
            tenants,
            source_names: std::sync::RwLock::new(Vec::new()),
        }
    }

    fn mirror_redis(&self, purpose: &'static str, redis: &graft_redis::Redis) {
        let stats = redis.stats();
        for (kind, counter) in [
            ("failure", &stats.failures),
            ("timeout", &stats.timeouts),
            ("skipped", &stats.skipped),
        ] {
            let now = counter.load(Ordering::Relaxed);
            self.redis.update(RedisLabels { purpose, kind }, now);
        }
    }

    /// `name` as a label. Source names come from the configuration, a handful, so each is
    /// made `'static` once (leaked) and found again by comparison.
    fn source_label(&self, name: &str) -> &'static str {
        let known = |names: &[&'static str]| names.iter().copied().find(|n| *n == name);
        let names = self
            .source_names
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(label) = known(&names) {
            return label;
        }
        drop(names);
        let mut names = self
            .source_names
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(label) = known(&names) {
            return label;
        }
        let label: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.push(label);
        label
    }

    /// Notes what one GraphQL request's execution did.
    pub(crate) fn executed(
        &self,
        stats: &graft_resolve::BatchStats,
        tenant: &graft_resolve::TenantId,
    ) {
        if let Some(tenants) = &self.tenants {
            tenants
                .get_or_create(&TenantLabels {
                    tenant: tenant.as_str().to_owned(),
                })
                .inc();
        }
        if stats.representations > 0 {
            self.representations.inc_by(stats.representations as u64);
            self.duplicates
                .inc_by(stats.representations.saturating_sub(stats.unique_keys) as u64);
        }
        self.statements.observe(stats.statements as f64);
    }

    /// Notes a request refused before it ran (`overload`).
    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejections
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// The text exposition, with the pools and the cache read now.
    fn render(&self, state: &AppState) -> String {
        for source in state.engine.sources().sources() {
            let Some(status) = source.pool_status() else {
                continue;
            };
            let name = source.name().to_owned();
            let gauge = |state: &'static str, value: usize| {
                self.connections
                    .get_or_create(&PoolLabels {
                        graft_source: name.clone(),
                        db_client_connection_state: state,
                    })
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            gauge("idle", status.idle);
            gauge("used", status.in_use);
            self.pending
                .get_or_create(&SourceLabels {
                    graft_source: name.clone(),
                })
                .set(i64::try_from(status.waiters).unwrap_or(i64::MAX));
        }
        if let Some(cache) = &state.cache {
            let stats = cache.stats();
            let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
            let redis_hits = load(&stats.shared_hits);
            let lookups = [
                ("memory", "hit", load(&stats.hits)),
                ("memory", "miss", redis_hits + load(&stats.misses)),
            ];
            for (level, result, now) in lookups {
                self.cache.update(CacheLabels { level, result }, now);
            }
            if let Some(redis) = cache.redis() {
                for (result, now) in [("hit", redis_hits), ("miss", load(&stats.shared_misses))] {
                    let level = "redis";
                    self.cache.update(CacheLabels { level, result }, now);
                }
                self.mirror_redis("cache", redis);
            }
        }
        if let Some(redis) = state.rate_limits.as_ref().and_then(|limits| limits.redis()) {
            self.mirror_redis("rate_limit", redis);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl SourceObserver for Metrics {
    fn observe(&self, event: &SourceEvent<'_>) {
        let (operation, source, duration, failed) = match *event {
            SourceEvent::Statement {
                source,
                kind,
                duration,
                failed,
                ..
            } => (kind.as_str(), source, duration, failed),
            SourceEvent::Request {
                source,
                duration,
                failed,
            } => ("http", source, duration, failed),
            _ => return,
        };
        let labels = DbLabels {
            db_operation_name: operation,
            graft_source: self.source_label(source),
            error_type: failed.map_or("", error_type),
        };
        self.db
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
    }
}

fn error_type(kind: graft_resolve::SourceErrorKind) -> &'static str {
    use graft_resolve::SourceErrorKind as K;
    match kind {
        K::Connection => "connection",
        K::Timeout => "timeout",
        K::Busy => "busy",
        K::Query => "query",
        K::Conflict => "conflict",
        K::LockTimeout => "lock_timeout",
        K::Decode => "decode",
        K::Http => "http",
        K::Remote => "remote",
        K::Protocol => "protocol",
        _ => "other",
    }
}

/// The layer around every route: times the request and counts its status.
pub(crate) async fn measure(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(metrics) = &state.metrics else {
        return next.run(request).await;
    };
    // A route layer: only matched routes get here, so the path is one of graft's.
    let route = match request.uri().path() {
        "/graphql" => "/graphql",
        "/batch" => "/batch",
        "/health" => "/health",
        "/metrics" => "/metrics",
        path if path.starts_with("/admin") => "/admin",
        _ => "other",
    };
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::DELETE => "DELETE",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .http
        .get_or_create(&HttpLabels {
            http_route: route,
            http_request_method: method,
            http_response_status_code: status,
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`.
pub(crate) async fn serve(State(state): State<AppState>) -> Response {
    let Some(metrics) = &state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let text = metrics.render(&state);
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The observer a request's context carries: the server's metrics, when it keeps them.
pub(crate) fn observer(state: &AppState) -> Option<Arc<dyn SourceObserver>> {
    state
        .metrics
        .as_ref()
        .map(|metrics| Arc::clone(metrics) as Arc<dyn SourceObserver>)
}
