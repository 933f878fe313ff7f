//! OpenTelemetry: graft's `tracing` spans exported over OTLP (HTTP, protobuf) when
//! `[telemetry] otlp_endpoint` is set, and the gateway's W3C `traceparent` continued.
//!
//! The spans: `graphql` and `batch` (one per request, at info), `plan` (an operation compiled
//! on a plan-cache miss), `fetch_group` (each `_entities` group: type, source, strategy,
//! keys), `cache_lookup` (the entity cache's answer for a group: hits in memory and in Redis),
//! `db_statement` (each SQL statement: system, operation, rows) and `remote_call` (each HTTP
//! call to a remote subgraph), all at debug. The exporter has its own filter (`filter`,
//! default `info`: the request spans only, which cost little; [`EVERY_SPAN`] exports all of
//! graft's), so the log on stderr keeps its level, and without `[telemetry]` no span below
//! info is even created.
//!
//! Spans go through the SDK's batch processor (its own thread; a blocking reqwest client),
//! so exporting never runs on a request's task; a collector that is down costs dropped spans,
//! never a slower request.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;

/// `[telemetry]`.
///
/// ```toml
/// [telemetry]
/// otlp_endpoint = "http://127.0.0.1:4318/v1/traces"   # OTLP over HTTP (protobuf)
/// service_name = "graft"          # default
/// sample_ratio = 1.0              # default: the share of traces graft starts that it keeps
/// filter = "info"                # default: request spans; see EVERY_SPAN for all of graft's
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Where spans are sent: an OTLP/HTTP traces endpoint (`.../v1/traces`).
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans (default `graft`).
    #[serde(default)]
    pub service_name: Option<String>,
    /// The share of traces started here that are kept (default 1.0); a trace the gateway
    /// started follows the gateway's decision.
    #[serde(default)]
    pub sample_ratio: Option<f64>,
    /// Which spans are exported, in `RUST_LOG` syntax (default `info`: one span per request;
    /// [`EVERY_SPAN`] adds plans, fetch groups, cache lookups, statements and remote calls).
    #[serde(default)]
    pub filter: Option<String>,
}

/// The default export filter: the request spans (`graphql`, `batch`).
pub const DEFAULT_FILTER: &str = "info";

/// The filter that exports every graft span, other crates' at info.
pub const EVERY_SPAN: &str = "info,graft_server=debug,graft_resolve=debug,graft_db=debug,\
graft_http=debug,graft_cache=debug";

static ENABLED: OnceLock<()> = OnceLock::new();

/// Whether spans are exported: request spans then continue the gateway's trace.
pub fn enabled() -> bool {
    ENABLED.get().is_some()
}

/// An OTLP exporter for `section`, as a `tracing` layer with its filter, and the provider to
/// shut down (flushing what is pending) when the server stops.
pub fn otlp_layer<S>(
    section: &TelemetrySection,
) -> Result<
    (
        Box<dyn tracing_subscriber::Layer<S> + Send + Sync>,
        SdkTracerProvider,
    ),
    String,
>
where
    S: tracing::Subscriber
        + for<'span> tracing_subscriber::registry::LookupSpan<'span>
        + Send
        + Sync,
{
    use tracing_subscriber::Layer as _;
    let ratio = section.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&ratio) {
        return Err(format!(
            "telemetry.sample_ratio: {ratio} is not between 0 and 1"
        ));
    }
    let filter =
        tracing_subscriber::EnvFilter::try_new(section.filter.as_deref().unwrap_or(DEFAULT_FILTER))
            .map_err(|e| format!("telemetry.filter: {e}"))?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("telemetry: an HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(BlockingClient(client))
        .with_endpoint(&section.otlp_endpoint)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("telemetry.otlp_endpoint: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(
            section
                .service_name
                .clone()
                .unwrap_or_else(|| "graft".into()),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
            opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(ratio),
        )))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("graft");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter);
    let _ = ENABLED.set(());
    Ok((Box::new(layer), provider))
}

/// Makes `span` a child of the trace the gateway's `traceparent` (W3C Trace Context) names,
/// when spans are exported and the header is well formed.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if !enabled() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&opentelemetry_http::HeaderExtractor(headers));
    let _ = span.set_parent(parent);
}

/// The OTLP exporter's HTTP client: reqwest's blocking client, the crate graft already uses
/// (rustls), called from the batch processor's own thread.
#[derive(Debug)]
struct BlockingClient(reqwest::blocking::Client);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for BlockingClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let mut sent = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let status = sent.status();
        let mut answer = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut sent, 1 << 20), &mut answer)?;
        Ok(http::Response::builder()
            .status(status)
            .body(bytes::Bytes::from(answer))?)
    }
}
