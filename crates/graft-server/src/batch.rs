//! `POST /batch`: up to `max_operations` dependent create, read, update and delete operations
//! in one request (`docs/batch.md`).
//!
//! The handler reads and parses the body, has graft-plan check and order it (every problem
//! at once, 400), reads the `Idempotency-Key` header, and hands the plan to the engine's
//! [`Engine::run_batch`](graft_resolve::Engine::run_batch) in the request's tenant scope with
//! the caller's permissions. The batch passes the same admission and tenant layers as
//! `/graphql`.

use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use graft_plan::{BatchLimits, plan_batch};
use graft_resolve::{BatchConfig, BatchOutcome, Idempotency, LedgerKey};
use graft_tenancy::ResolvedTenant;
use serde_json::json;
use sha2::Digest as _;

use crate::AppState;
use crate::http::request_context;

/// How `/batch` is served (`[batch]` in `graft.toml`).
#[derive(Debug, Clone, Default)]
pub struct BatchSettings {
    /// How large a batch may be.
    pub limits: BatchLimits,
    /// How batches run.
    pub config: BatchConfig,
}

/// How often expired idempotency keys are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Deletes expired idempotency keys from every source that keeps them, every
/// [`SWEEP_EVERY`], for as long as `engine` lives: keys used once do not pile up.
pub(crate) fn sweep_expired_keys(engine: std::sync::Weak<graft_resolve::Engine>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            for source in engine.sources().sources() {
                if !source.capabilities().transactions {
                    continue;
                }
                let ctx = graft_resolve::RequestContext::new("sweep-idempotency-keys");
                let swept = async {
                    let mut work = source.begin(&ctx).await?;
                    let swept = work.sweep_keys(now_ms).await?;
                    work.commit().await?;
                    Ok::<u64, graft_resolve::ResolveError>(swept)
                };
                match swept.await {
                    Ok(0) => {}
                    Ok(swept) => tracing::info!(
                        source = source.name(),
                        swept,
                        "expired idempotency keys deleted"
                    ),
                    Err(error) => {
                        tracing::debug!(source = source.name(), %error, "no idempotency keys swept")
                    }
                }
            }
        }
    });
}

/// The header naming a batch's idempotency key.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `POST /batch`.
pub(crate) async fn batch_post(
    State(state): State<AppState>,
    tenant: Option<Extension<ResolvedTenant>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let deadline = Instant::now() + state.limits.request_timeout;
    let tenant = tenant.map(|Extension(tenant)| tenant);
    let answer = run(&state, tenant.as_ref(), &headers, body, deadline);
    match tokio::time::timeout(state.limits.request_timeout, answer).await {
        Ok(response) => response,
        Err(_) => refused(
            StatusCode::GATEWAY_TIMEOUT,
            "TIMEOUT",
            format!(
                "the batch did not finish within {:?}; in an atomic batch nothing was written",
                state.limits.request_timeout
            ),
        ),
    }
}

async fn run(
    state: &AppState,
    tenant: Option<&ResolvedTenant>,
    headers: &HeaderMap,
    body: Body,
    deadline: Instant,
) -> Response {
    // The route is mounted only with settings; this is never refused in practice.
    let Some(settings) = &state.batch else {
        return refused(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "this server does not serve /batch".to_owned(),
        );
    };
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/json") {
        return refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the batch as `Content-Type: application/json`".to_owned(),
        );
    }
    let bytes = match crate::encoding::read_body(body, state.limits.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(crate::encoding::BodyError::TooLarge) => {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the request body exceeds the limit of {} bytes (decompressed)",
                    state.limits.max_body_bytes
                ),
            );
        }
        Err(crate::encoding::BodyError::Unreadable(reason)) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the request body could not be read: {reason}"),
            );
        }
    };
    let request: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the body is not JSON: {error}"),
            );
        }
    };
    let plan = match plan_batch(&request, state.engine.schema(), &settings.limits) {
        Ok(plan) => plan,
        Err(problems) => {
            let listed: Vec<serde_json::Value> = problems
                .iter()
                .map(|p| json!({ "operation": p.operation, "message": p.message }))
                .collect();
            let body = json!({
                "success": false,
                "error": {
                    "code": "BATCH_INVALID",
                    "message": format!(
                        "the batch has {} problem{}; nothing ran",
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" }
                    ),
                },
                "problems": listed,
            });
            return json_response(StatusCode::BAD_REQUEST, &body);
        }
    };
    let ctx = request_context(tenant, headers, deadline, crate::metrics::observer(state));
    let idempotency = match idempotency_key(headers) {
        Ok(None) => None,
        Ok(Some(key)) => Some(Idempotency {
            key: LedgerKey {
                tenant: ctx.tenant.clone(),
                caller: tenant.map_or_else(|| "anonymous".to_owned(), |t| t.caller.to_string()),
                key,
            },
            // Keys are hashed in sorted order, so that a retry's whitespace and key order do
            // not make it another body.
            body_hash: hex(&sha2::Sha256::digest(
                serde_json::to_vec(&request).expect("JSON values serialize"),
            )),
        }),
        Err(message) => return refused(StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
    };
    let span = tracing::info_span!("batch", tenant = %ctx.tenant, request_id = %ctx.request_id);
    crate::telemetry::continue_trace(&span, headers);
    let outcome = tracing::Instrument::instrument(
        state
            .engine
            .run_batch(&ctx, &plan, &settings.config, idempotency),
        span,
    )
    .await;
    match outcome {
        BatchOutcome::Ran { status, body } => raw_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        ),
        BatchOutcome::Replayed(body) => {
            let mut response = raw_response(StatusCode::OK, body);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
        BatchOutcome::Refused {
            status,
            code,
            message,
        } => refused(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message,
        ),
    }
}

/// The `Idempotency-Key` header: at most one, of 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("the request has more than one Idempotency-Key header".to_owned());
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(
            "Idempotency-Key: use 1 to 255 visible ASCII characters (a UUID, for one)".to_owned(),
        );
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A batch that did not run: `{"success": false, "error": {code, message}}`.
fn refused(status: StatusCode, code: &str, message: String) -> Response {
    json_response(
        status,
        &json!({ "success": false, "error": { "code": code, "message": message } }),
    )
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    raw_response(
        status,
        serde_json::to_vec(body).expect("JSON values serialize"),
    )
}

fn raw_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `[batch]` in `graft.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSection {
    /// Whether `POST /batch` is served (default true).
    pub enabled: bool,
    /// The most operations in one batch (default 100).
    pub max_operations: usize,
    /// Most operations of a batch that is not atomic run at once (default 4).
    pub max_concurrency: usize,
    /// Most rows one `read` answers (default 1,000).
    pub max_read_rows: usize,
    /// Reruns of an atomic batch that lost to a concurrent transaction (default 3).
    pub conflict_retries: u32,
    /// How long an idempotency key and its response are kept, in seconds (default 86,400).
    pub idempotency_ttl_seconds: u64,
    /// How long a crashed request keeps holding its key, in seconds (default 60).
    pub idempotency_lease_seconds: u64,
}

impl Default for BatchSection {
    fn default() -> BatchSection {
        let config = BatchConfig::default();
        BatchSection {
            enabled: true,
            max_operations: BatchLimits::default().max_operations,
            max_concurrency: config.max_concurrency,
            max_read_rows: config.max_read_rows,
            conflict_retries: config.conflict_retries,
            idempotency_ttl_seconds: config.idempotency_ttl.as_secs(),
            idempotency_lease_seconds: config.idempotency_lease.as_secs(),
        }
    }
}

impl BatchSection {
    /// The settings it describes.
    pub fn settings(&self) -> BatchSettings {
        BatchSettings {
            limits: BatchLimits {
                max_operations: self.max_operations.max(1),
            },
            config: BatchConfig {
                max_concurrency: self.max_concurrency.max(1),
                max_read_rows: self.max_read_rows.max(1),
                conflict_retries: self.conflict_retries,
                idempotency_ttl: Duration::from_secs(self.idempotency_ttl_seconds.max(1)),
                idempotency_lease: Duration::from_secs(self.idempotency_lease_seconds.max(1)),
            },
        }
    }
}
