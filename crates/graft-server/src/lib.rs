//! The graft server: configuration, the embedded demo and the axum application.
//!
//! `main.rs` only parses the command line; everything a test needs to drive the real server is
//! here: [`config::Config`], [`demo::demo_state`], and [`app`], which builds the router.

pub mod config;
pub mod demo;
mod ftv1;
mod http;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use graft_resolve::Engine;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The engine that answers GraphQL requests.
    pub engine: Arc<Engine>,
    /// HTTP-level limits.
    pub limits: HttpLimits,
}

/// Limits applied before a request reaches the engine.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest request body accepted, in bytes (default 8 MiB); larger bodies get 413.
    pub max_body_bytes: usize,
    /// Longest a request may run (default 30 s); it then gets 504.
    pub request_timeout: Duration,
    /// Whether the `graft-debug: true` header may add batch statistics (default true).
    pub debug_header: bool,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            debug_header: true,
        }
    }
}

/// Serves the application on `listener` until `shutdown` completes, with `TCP_NODELAY` on every
/// connection so that small responses leave at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The application: every route graft serves.
///
/// - `POST /graphql`: GraphQL over HTTP (`application/json` bodies).
/// - `GET /graphql`: a query given as `?query=` runs; without one, a page to try queries.
/// - `GET /health`: `{"status":"ok"}`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .route("/health", get(http::health))
        .fallback(http::not_found)
        .with_state(state)
}
