//! HTTP handlers: translate between GraphQL over HTTP and the engine.
//!
//! Status codes follow the GraphQL-over-HTTP spec: with `application/json` (the default and what
//! gateways ask for) every well-formed GraphQL request gets 200, errors or not; with
//! `application/graphql-response+json`, requests rejected before execution get 400. Transport
//! problems get their own codes whatever the media type: 400 for a body that is not a GraphQL
//! request, 413 for a body over the limit, 415 for a content type other than JSON, 504 when
//! the request runs out of time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use graft_resolve::{
    ExecuteOptions, GraphQLError, GraphQLRequest, Isolation, Permissions, RequestContext,
    ResponseKind, TenantId,
};
use graft_tenancy::{Rejection, RejectionKind, ResolvedTenant};
use tracing::Instrument as _;

use crate::encoding::BodyError;
use crate::{AppState, Rejected, ftv1};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// `POST /graphql`. The request timeout covers everything from here: reading the body,
/// planning, fetching and writing.
pub(crate) async fn graphql_post(
    State(state): State<AppState>,
    tenant: Option<Extension<ResolvedTenant>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let media = ResponseMedia::from_accept(&headers);
    let deadline = Instant::now() + state.limits.request_timeout;
    let tenant = tenant.map(|Extension(tenant)| tenant);
    let answer = post(&state, tenant.as_ref(), &headers, media, body, deadline);
    match tokio::time::timeout(state.limits.request_timeout, answer).await {
        Ok(response) => response,
        Err(_) => timed_out(&state, media),
    }
}

async fn post(
    state: &AppState,
    tenant: Option<&ResolvedTenant>,
    headers: &HeaderMap,
    media: ResponseMedia,
    body: Body,
    deadline: Instant,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && essence != GRAPHQL_RESPONSE_JSON {
        let shown = if content_type.is_empty() {
            "none".to_owned()
        } else {
            format!("`{content_type}`")
        };
        return transport_error(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("content type {shown} is not supported: send `Content-Type: application/json`"),
        );
    }
    let bytes = match crate::encoding::read_body(body, state.limits.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            return transport_error(
                media,
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the request body exceeds the limit of {} bytes (decompressed)",
                    state.limits.max_body_bytes
                ),
            );
        }
        Err(BodyError::Unreadable(reason)) => {
            return transport_error(
                media,
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the request body could not be read: {reason}"),
            );
        }
    };
    execute(state, tenant, headers, media, &bytes, deadline).await
}

/// `GET /graphql?query=...`: runs the query as if it had been posted. (A browser's `GET` with no
/// query gets GraphiQL from an outer layer, `graphiql::page_for_browsers`.)
pub(crate) async fn graphql_get(
    State(state): State<AppState>,
    tenant: Option<Extension<ResolvedTenant>>,
    headers: HeaderMap,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let media = ResponseMedia::from_accept(&headers);
    let Some(query) = params.get("query") else {
        return transport_error(
            media,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "a GET request needs a `query` parameter (a browser that accepts HTML gets GraphiQL)"
                .into(),
        );
    };
    let variables: Option<serde_json::Value> =
        match params.get("variables").map(|v| serde_json::from_str(v)) {
            None => None,
            Some(Ok(value)) => Some(value),
            Some(Err(_)) => {
                return transport_error(
                    media,
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "`variables` is not valid JSON".into(),
                );
            }
        };
    let body = serde_json::json!({
        "query": query,
        "operationName": params.get("operationName"),
        "variables": variables,
    });
    let bytes = serde_json::to_vec(&body).expect("a JSON value serializes");
    let deadline = Instant::now() + state.limits.request_timeout;
    let tenant = tenant.map(|Extension(tenant)| tenant);
    let answer = execute(&state, tenant.as_ref(), &headers, media, &bytes, deadline);
    match tokio::time::timeout(state.limits.request_timeout, answer).await {
        Ok(response) => response,
        Err(_) => timed_out(&state, media),
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if the
/// request has a well-formed one.
pub(crate) fn trace_id(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |part: &str, len: usize| {
        part.len() == len
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let well_formed = hex(version, 2)
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && parts.next().is_none()
        && trace != "0".repeat(32);
    well_formed.then_some(trace)
}

/// The context of a request served as `tenant` (the default tenant without tenancy), with
/// the caller's permissions.
pub(crate) fn request_context(
    tenant: Option<&ResolvedTenant>,
    headers: &HeaderMap,
    deadline: Instant,
    observer: Option<std::sync::Arc<dyn graft_resolve::SourceObserver>>,
) -> RequestContext {
    let (tenant, isolation, permissions) = match tenant {
        Some(tenant) => (
            tenant.record.id.clone(),
            tenant.record.isolation.clone(),
            tenant.permissions.clone(),
        ),
        None => (
            TenantId::default_tenant(),
            Isolation::None,
            Permissions::all(),
        ),
    };
    RequestContext {
        tenant,
        isolation,
        request_id: request_id(headers),
        deadline: Some(deadline),
        // The metrics watch here; the engine adds the request's own statistics.
        observer,
        permissions,
    }
}

fn timed_out(state: &AppState, media: ResponseMedia) -> Response {
    transport_error(
        media,
        StatusCode::GATEWAY_TIMEOUT,
        "TIMEOUT",
        format!(
            "the request did not finish within {:?}",
            state.limits.request_timeout
        ),
    )
}

async fn execute(
    state: &AppState,
    tenant: Option<&ResolvedTenant>,
    headers: &HeaderMap,
    media: ResponseMedia,
    body: &[u8],
    deadline: Instant,
) -> Response {
    if crate::batched::is_batch(body) {
        return crate::batched::execute(state, tenant, headers, media, body, deadline).await;
    }
    let request = match GraphQLRequest::from_json(body) {
        Ok(request) => request,
        Err(error) => {
            return transport_error(
                media,
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the body is not a GraphQL request: {error}"),
            );
        }
    };
    if let Err(refusal) = check_representations(state, tenant, headers, [&request]).await {
        return refusal;
    }
    let ctx = request_context(tenant, headers, deadline, crate::metrics::observer(state));
    let answer = run(state, &ctx, headers, &request, None).await;
    let status = match (answer.kind, media) {
        (ResponseKind::RequestError, ResponseMedia::GraphQLResponseJson) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let mut reply = json_response(status, media, answer.body);
    if let Some(advice) = answer.cache_control {
        reply
            .headers_mut()
            .insert(header::CACHE_CONTROL, advice.header());
    }
    reply
}

/// With per-representation rate limits, spends the `_entities` keys of `requests` (gateways
/// send them in the `representations` variable) from the tenant's allowance; the 429 to send
/// when it is spent.
pub(crate) async fn check_representations<'r>(
    state: &AppState,
    tenant: Option<&ResolvedTenant>,
    headers: &HeaderMap,
    requests: impl IntoIterator<Item = &'r GraphQLRequest<'r>>,
) -> Result<(), Response> {
    let Some(limits) = &state.rate_limits else {
        return Ok(());
    };
    if !limits.counts_representations() {
        return Ok(());
    }
    let representations = requests
        .into_iter()
        .map(|request| {
            request
                .variables
                .as_ref()
                .and_then(|variables| variables.get("representations"))
                .map_or(0, |raw| list_length(raw.get()))
        })
        .sum();
    if let Err(refusal) = limits.check_representations(tenant, representations).await {
        if let Some(metrics) = &state.metrics {
            metrics.rejected("rate_limit");
        }
        return Err(refusal.response(request_id(headers)));
    }
    Ok(())
}

/// What running one GraphQL request gave: the response body and what the HTTP side needs.
pub(crate) struct Answer {
    /// The GraphQL response, as JSON.
    pub(crate) body: Vec<u8>,
    /// Whether the request executed or was rejected before execution.
    pub(crate) kind: ResponseKind,
    /// The `Cache-Control` advice for the response, if any.
    pub(crate) cache_control: Option<CacheAdvice>,
}

/// Runs one GraphQL request (alone, or as one of `batch`) in its own `graphql` span: the
/// engine, then metrics, the batch log line, cache advice and the federated trace.
pub(crate) async fn run(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    request: &GraphQLRequest<'_>,
    batch: Option<&graft_resolve::BatchBudget>,
) -> Answer {
    let trace = headers
        .get(ftv1::HEADER)
        .is_some_and(|v| v.as_bytes() == ftv1::HEADER_VALUE)
        .then(ftv1::TraceClock::start);
    let options = ExecuteOptions {
        debug: state.limits.debug_header
            && headers
                .get("graft-debug")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true")),
        cache_tags: state.apollo_cache_tags,
    };
    // Every line logged while the request runs names its tenant and request id, and the
    // gateway's trace (W3C `traceparent`) when it sent one.
    let span = tracing::info_span!(
        "graphql",
        tenant = %ctx.tenant,
        request_id = %ctx.request_id,
        trace_id = tracing::field::Empty,
    );
    if let Some(trace_id) = trace_id(headers) {
        span.record("trace_id", trace_id);
    }
    crate::telemetry::continue_trace(&span, headers);
    let (response, stats) = match batch {
        Some(batch) => {
            state
                .engine
                .execute_in_batch(ctx, request, options, batch)
                .instrument(span)
                .await
        }
        None => {
            state
                .engine
                .execute(ctx, request, options)
                .instrument(span)
                .await
        }
    };
    if let Some(metrics) = &state.metrics {
        metrics.executed(&stats, &ctx.tenant);
    }
    if stats.representations > 0 {
        tracing::debug!(
            request_id = %ctx.request_id,
            representations = stats.representations,
            unique = stats.unique_keys,
            groups = stats.groups,
            statements = stats.statements,
            "entities batch"
        );
    }
    let cache_control = cache_control(state, &response);
    let body = match trace {
        Some(clock) => ftv1::add_to_response(response.body, clock),
        None => response.body,
    };
    Answer {
        body,
        kind: response.kind,
        cache_control,
    }
}

/// What a caching gateway may do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheAdvice {
    /// Keep nothing: a response with errors, or from a mutation.
    NoStore,
    /// Keep it for `seconds`; `private` when the server serves tenants, whose answers are
    /// theirs alone.
    MaxAge { private: bool, seconds: u64 },
}

impl CacheAdvice {
    /// The most careful of two pieces of advice: `no-store` over any `max-age`, else the
    /// shorter age, private if either is.
    pub(crate) fn and(self, other: CacheAdvice) -> CacheAdvice {
        match (self, other) {
            (
                CacheAdvice::MaxAge { private, seconds },
                CacheAdvice::MaxAge {
                    private: other_private,
                    seconds: other_seconds,
                },
            ) => CacheAdvice::MaxAge {
                private: private || other_private,
                seconds: seconds.min(other_seconds),
            },
            _ => CacheAdvice::NoStore,
        }
    }

    /// The `Cache-Control` header.
    pub(crate) fn header(self) -> HeaderValue {
        match self {
            CacheAdvice::NoStore => HeaderValue::from_static("no-store"),
            CacheAdvice::MaxAge { private, seconds } => {
                let scope = if private { "private" } else { "public" };
                HeaderValue::from_str(&format!("{scope}, max-age={seconds}"))
                    .expect("digits and letters make a header value")
            }
        }
    }
}

/// What a caching gateway may do with a response: `no-store` for one with errors or from a
/// mutation; `max-age` of the shortest TTL among the types read when graft caches every one
/// of them (`private` when the server serves tenants); no advice otherwise, leaving the
/// gateway's own default.
fn cache_control(
    state: &AppState,
    response: &graft_resolve::GraphQLResponse,
) -> Option<CacheAdvice> {
    let Some(reads) = &response.reads else {
        return Some(CacheAdvice::NoStore);
    };
    if response.has_errors || reads.writes {
        return Some(CacheAdvice::NoStore);
    }
    let cache = state.cache.as_ref()?;
    let mut max_age: Option<u64> = None;
    for type_name in &reads.types {
        let ttl = cache.ttl_of(type_name)?.as_secs();
        max_age = Some(max_age.map_or(ttl, |age| age.min(ttl)));
    }
    Some(CacheAdvice::MaxAge {
        private: state.tenancy.is_some(),
        seconds: max_age?,
    })
}

/// Admission control in front of the GraphQL routes: past the limit and its queue, 503 with
/// `Retry-After`, before the body is read.
pub(crate) async fn admit(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match state.admission.admit().await {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(rejected) => {
            if let Some(metrics) = &state.metrics {
                metrics.rejected("overload");
            }
            // Written once: under overload this answer is the hot path.
            let body: &'static [u8] = match rejected {
                Rejected::QueueFull => br#"{"errors":[{"message":"graft is at its limit of requests in flight (too many requests are waiting); retry after 1 s","extensions":{"code":"OVERLOADED"}}]}"#,
                Rejected::QueueTimeout => br#"{"errors":[{"message":"graft is at its limit of requests in flight (no slot freed in time); retry after 1 s","extensions":{"code":"OVERLOADED"}}]}"#,
            };
            let media = ResponseMedia::from_accept(request.headers());
            let mut response =
                (StatusCode::SERVICE_UNAVAILABLE, Bytes::from_static(body)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, media.content_type());
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// Tenant resolution in front of the GraphQL routes, after admission: the request goes on as
/// the tenant the server's [`graft_tenancy::Tenancy`] resolves (a [`ResolvedTenant`] in its
/// extensions), or is answered with the rejection's status, code and plain message and the
/// request id; why it was rejected goes to the log only, under that id. Resolution has the
/// request's time limit.
pub(crate) async fn resolve_tenant(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(tenancy) = &state.tenancy else {
        return next.run(request).await;
    };
    let resolved = tokio::time::timeout(
        state.limits.request_timeout,
        tenancy.resolve(request.headers()),
    )
    .await
    .unwrap_or_else(|_| {
        Err(Rejection::new(
            RejectionKind::StoreUnavailable,
            "the tenant store did not answer within the request timeout",
        ))
    });
    match resolved {
        Ok(tenant) => {
            request.extensions_mut().insert(tenant);
            next.run(request).await
        }
        Err(rejection) => {
            let request_id = request_id(request.headers());
            tracing::info!(%request_id, reason = rejection.reason(), code = rejection.code(), "tenant rejected");
            let media = ResponseMedia::from_accept(request.headers());
            let error = GraphQLError::new(rejection.code(), rejection.message().to_owned())
                .with_detail("requestId", request_id);
            let body = serde_json::json!({ "errors": [error] });
            let mut response = json_response(
                rejection.status(),
                media,
                serde_json::to_vec(&body).expect("a JSON value serializes"),
            );
            if rejection.status() == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"graft\""),
                );
            }
            if rejection.status() == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }
}

/// `GET /health`.
pub(crate) async fn health() -> Response {
    json_response(
        StatusCode::OK,
        ResponseMedia::Json,
        br#"{"status":"ok"}"#.to_vec(),
    )
}

/// How many items the JSON list `text` has (0 when it is not a list), counted as they are
/// skipped: no list of them is made, however many a body holds.
fn list_length(text: &str) -> usize {
    struct Count;
    impl<'de> serde::de::Visitor<'de> for Count {
        type Value = usize;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut count = 0;
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                count += 1;
            }
            Ok(count)
        }
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_seq(&mut reader, Count).unwrap_or(0)
}

/// Any other route.
pub(crate) async fn not_found() -> Response {
    transport_error(
        ResponseMedia::Json,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such route: use POST /graphql".into(),
    )
}

/// A request whose handling panicked: the panic's message goes to the log, the client gets a
/// 500 that says nothing of it, and the connection and the server carry on. Panics are bugs;
/// this keeps one from dropping the connection (and every request pipelined on it) without an
/// answer.
pub(crate) fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)");
    tracing::error!(panic = message, "a request's handler panicked");
    transport_error(
        ResponseMedia::Json,
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_SERVER_ERROR",
        "graft failed to answer this request; the server log has the details".into(),
    )
}

/// The media type of the response, chosen from the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMedia {
    Json,
    GraphQLResponseJson,
}

impl ResponseMedia {
    pub(crate) fn from_accept(headers: &HeaderMap) -> ResponseMedia {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains(GRAPHQL_RESPONSE_JSON) {
            ResponseMedia::GraphQLResponseJson
        } else {
            ResponseMedia::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            ResponseMedia::Json => "application/json",
            ResponseMedia::GraphQLResponseJson => "application/graphql-response+json",
        })
    }
}

pub(crate) fn json_response(status: StatusCode, media: ResponseMedia, body: Vec<u8>) -> Response {
    let mut response = (status, Bytes::from(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

pub(crate) fn transport_error(
    media: ResponseMedia,
    status: StatusCode,
    code: &'static str,
    message: String,
) -> Response {
    let body = serde_json::json!({ "errors": [GraphQLError::new(code, message)] });
    json_response(
        status,
        media,
        serde_json::to_vec(&body).expect("a JSON value serializes"),
    )
}

pub(crate) fn request_id(headers: &HeaderMap) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) if !id.is_empty() && id.len() <= 128 => id.to_owned(),
        _ => format!("graft-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
    }
}

#[cfg(test)]
mod trace_tests {
    use super::*;

    #[test]
    fn a_well_formed_traceparent_gives_its_trace_id() {
        let headers = |value: &str| {
            let mut map = HeaderMap::new();
            map.insert("traceparent", HeaderValue::from_str(value).unwrap());
            map
        };
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(&headers(good)),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            assert_eq!(trace_id(&headers(bad)), None, "{bad}");
        }
        assert_eq!(trace_id(&HeaderMap::new()), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_counted_without_being_kept() {
        assert_eq!(list_length(r#"[{"a": [1, 2]}, "x", null]"#), 3);
        assert_eq!(list_length("[]"), 0);
        assert_eq!(list_length(r#"{"not": "a list"}"#), 0);
        assert_eq!(list_length("[1, 2"), 0);
    }

    #[tokio::test]
    async fn a_panic_is_a_plain_500_that_keeps_its_message_from_the_client() {
        let response = panicked(Box::new(format!("index out of bounds in {}", "secret.rs")));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("a body");
        let body = String::from_utf8(body.to_vec()).expect("UTF-8");
        assert!(body.contains("INTERNAL_SERVER_ERROR"), "{body}");
        assert!(!body.contains("secret.rs"), "{body}");
    }
}
