//! The graft server: configuration, the embedded demo and the axum application.
//!
//! `main.rs` only parses the command line; everything a test needs to drive the real server is
//! here: [`config::Config`], [`demo::demo_state`], and [`app`], which builds the router.

mod admin;
mod admission;
pub mod batch;
mod batched;
pub mod config;
pub mod demo;
mod encoding;
mod ftv1;
mod graphiql;
mod http;
pub mod metrics;
pub mod rate_limit;
pub mod telemetry;
pub mod tenants;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use graft_resolve::Engine;
use graft_tenancy::Tenancy;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

pub use admission::{Admission, AdmissionConfig, Rejected};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The engine that answers GraphQL requests.
    pub engine: Arc<Engine>,
    /// HTTP-level limits.
    pub limits: HttpLimits,
    /// The server-wide limit on GraphQL requests in flight.
    pub admission: Arc<Admission>,
    /// Which tenant each request is served as; `None` serves one tenant.
    pub tenancy: Option<Arc<Tenancy>>,
    /// The tenants kept in the database, for the admin API.
    pub tenant_control: Option<Arc<tenants::TenantControl>>,
    /// The SHA-256 of the admin API's bearer token; without it there is no admin API.
    pub admin_token: Option<graft_resolve::ApiKeyHash>,
    /// How `POST /batch` is served; `None` does not serve it.
    pub batch: Option<Arc<batch::BatchSettings>>,
    /// The metrics `GET /metrics` serves; `None` keeps none (and serves no route).
    pub metrics: Option<Arc<metrics::Metrics>>,
    /// The entity cache in front of the database, for its metrics.
    pub cache: Option<Arc<graft_cache::EntityCache>>,
    /// Per-tenant rate limits; `None` limits nothing (and adds no layer).
    pub rate_limits: Option<Arc<rate_limit::RateLimits>>,
    /// Whether `_entities` answers carry Apollo's entity cache tags.
    pub apollo_cache_tags: bool,
}

impl AppState {
    /// The state for `engine` with `limits`, admission included, serving one tenant.
    pub fn new(engine: Engine, limits: HttpLimits) -> AppState {
        AppState {
            engine: Arc::new(engine),
            admission: Admission::new(limits.admission),
            limits,
            tenancy: None,
            tenant_control: None,
            admin_token: None,
            batch: Some(Arc::new(batch::BatchSettings::default())),
            metrics: None,
            cache: None,
            rate_limits: None,
            apollo_cache_tags: false,
        }
    }

    /// The same state, limiting each tenant's requests with `limits`. Their idle cells are
    /// pruned once a minute, for as long as the state lives.
    pub fn with_rate_limits(self, limits: Option<rate_limit::RateLimits>) -> AppState {
        let limits = limits.map(Arc::new);
        if let Some(limits) = &limits {
            let weak = Arc::downgrade(limits);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(60));
                every.tick().await;
                loop {
                    every.tick().await;
                    let Some(limits) = weak.upgrade() else { return };
                    limits.prune();
                }
            });
        }
        AppState {
            rate_limits: limits,
            ..self
        }
    }

    /// The same state, keeping metrics and serving them at `GET /metrics` (or not).
    pub fn with_metrics(self, enabled: bool, tenant_label: bool) -> AppState {
        AppState {
            metrics: enabled.then(|| Arc::new(metrics::Metrics::new(tenant_label))),
            ..self
        }
    }

    /// The same state, reporting the hits and misses of `cache` in its metrics.
    pub fn with_cache(self, cache: Option<Arc<graft_cache::EntityCache>>) -> AppState {
        AppState { cache, ..self }
    }

    /// The same state, serving `POST /batch` with `settings` (or not, with `None`); expired
    /// idempotency keys are then swept every ten minutes.
    pub fn with_batch(self, settings: Option<batch::BatchSettings>) -> AppState {
        if settings.is_some() {
            batch::sweep_expired_keys(Arc::downgrade(&self.engine));
        }
        AppState {
            batch: settings.map(Arc::new),
            ..self
        }
    }

    /// The same state, managing the tenants of `control` over the admin API for callers with
    /// the token whose SHA-256 is `admin_token` (no admin API without one).
    pub fn with_tenant_control(
        self,
        control: tenants::TenantControl,
        admin_token: Option<graft_resolve::ApiKeyHash>,
    ) -> AppState {
        AppState {
            tenant_control: Some(Arc::new(control)),
            admin_token,
            ..self
        }
    }

    /// The same state, serving each request as the tenant `tenancy` resolves.
    pub fn with_tenancy(self, tenancy: Tenancy) -> AppState {
        AppState {
            tenancy: Some(Arc::new(tenancy)),
            ..self
        }
    }
}

/// Limits applied before a request reaches the engine.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest request body accepted, in bytes (default 8 MiB); larger bodies get 413.
    pub max_body_bytes: usize,
    /// Longest a request may run, from its first body byte to its last response byte (default
    /// 30 s); it then gets 504.
    pub request_timeout: Duration,
    /// Whether the `graft-debug: true` header may add batch statistics (default true for the
    /// embedded demo; a configured server defaults to false).
    pub debug_header: bool,
    /// Longest a connection may take to send a request's head (default 10 s). hyper starts
    /// the clock whenever the connection waits for a request, so this is also how long an
    /// idle keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// Most connections open at once (default 4,096); past it, new connections are closed
    /// as soon as they are accepted.
    pub max_connections: usize,
    /// The adaptive limit on GraphQL requests in flight.
    pub admission: AdmissionConfig,
    /// Whether `POST /graphql` takes a batch, a JSON array of requests (default true); when
    /// off, a batch gets 400 `BATCHING_DISABLED`.
    pub batching: bool,
    /// Most requests in one batch (default 32); a longer batch gets 400 `BATCH_TOO_LARGE`.
    pub max_batch_size: usize,
    /// Most requests of one batch run at once (default 4).
    pub batch_concurrency: usize,
    /// Whether responses are compressed for a client that asks (`Accept-Encoding`: zstd, br,
    /// gzip or deflate; default true).
    pub compression: bool,
    /// The smallest response body compressed, in bytes (default 1,024): smaller ones gain
    /// less than they cost.
    pub compression_min_bytes: u16,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            debug_header: true,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4_096,
            admission: AdmissionConfig::default(),
            batching: true,
            max_batch_size: 32,
            batch_concurrency: 4,
            compression: true,
            compression_min_bytes: 1024,
        }
    }
}

/// Serves the application on `listener` until `shutdown` completes, then waits for the
/// requests in flight.
///
/// Every connection gets `TCP_NODELAY`, so that small responses leave at once, the header read
/// timeout and a slot among `max_connections`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits;
    let app = app(state);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        // Responses go out as they are (head and body in one writev), not copied into a
        // per-connection buffer that would then stay as large as the largest response.
        .writev(true);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!("max_connections reached: closing a new connection");
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The application: every route graft serves.
///
/// - `POST /graphql`: GraphQL over HTTP (`application/json` bodies).
/// - `GET /graphql`: a query given as `?query=` runs; a browser asking for no query gets
///   GraphiQL (`graphiql.rs`), whose files are at `GET /graphiql/{tag}/{file}`.
/// - `POST /batch`: dependent create, read, update and delete operations in one request
///   (`batch.rs`, `docs/batch.md`), unless `[batch] enabled = false`.
/// - `GET /health`: `{"status":"ok"}`.
/// - `GET /metrics`: Prometheus text (`metrics.rs`), with `[metrics] enabled = true`.
/// - `/admin/tenants...`: the admin API (`admin.rs`), with tenants in the database and an
///   `[admin]` token.
///
/// GraphQL requests and batches pass up to three layers, in this order: admission control
/// ([`Admission`]), which answers 503 with `Retry-After` past the limit and its queue; then,
/// when the server has a [`Tenancy`], tenant resolution, which answers 401, 403 or 503 when
/// the request cannot be served as a tenant; then, with `[rate_limits]`, the tenant's rate
/// limit, which answers 429.
pub fn app(state: AppState) -> Router {
    let admission = axum::middleware::from_fn_with_state(state.clone(), http::admit);
    let admin = if state.tenant_control.is_some() && state.admin_token.is_some() {
        admin::routes(state.clone())
    } else {
        Router::new()
    };
    let mut graphql = get(http::graphql_get).post(http::graphql_post);
    let mut batch = post(batch::batch_post);
    // Rate limits count a request once its tenant is known: this layer runs after the
    // tenant layer (added below, so outside it).
    if state.rate_limits.is_some() {
        let limit = axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit);
        graphql = graphql.route_layer(limit.clone());
        batch = batch.route_layer(limit);
    }
    // A server of one tenant has no tenant layer at all, not one that passes requests on.
    if state.tenancy.is_some() {
        let tenant = axum::middleware::from_fn_with_state(state.clone(), http::resolve_tenant);
        graphql = graphql.route_layer(tenant.clone());
        batch = batch.route_layer(tenant);
    }
    let batch = if state.batch.is_some() {
        Router::new().route("/batch", batch.route_layer(admission.clone()))
    } else {
        Router::new()
    };
    let mut router = Router::new()
        .merge(admin)
        .merge(batch)
        .route(
            "/graphql",
            graphql
                .route_layer(admission)
                .route_layer(axum::middleware::from_fn(graphiql::page_for_browsers)),
        )
        .route("/graphiql/{tag}/{file}", get(graphiql::asset))
        .route("/health", get(http::health));
    // Without metrics, no layer at all, not one that passes requests on.
    if state.metrics.is_some() {
        let measure = axum::middleware::from_fn_with_state(state.clone(), metrics::measure);
        router = router
            .route("/metrics", get(metrics::serve))
            .route_layer(measure);
    }
    let compression = encoding::compression(&state.limits);
    let router = router
        .fallback(http::not_found)
        .with_state(state)
        .layer(encoding::decompression())
        .layer(axum::middleware::from_fn(encoding::refuse_unknown_encoding));
    let router = match compression {
        Some(compression) => router.layer(compression),
        None => router,
    };
    // Outermost, so that a panic in any layer or handler is answered (500) and logged.
    router.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        http::panicked,
    ))
}
