//! [`HttpSource`]: the HTTP client, the time budget of a fetch and its retries.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use graft_keys::apollo_compiler::Name;
use graft_resolve::{
    BoxFuture, EntitySource, FetchRequest, RequestContext, ResolveError, RowSet, SourceErrorKind,
    SourceEvent,
};
use graft_schema::{EntityMapping, SubgraphSchema};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use crate::HttpError;
use crate::query::{self, EntityQuery};
use crate::response::{self, Origin};

/// How many (type, columns) queries a source keeps before it starts over.
const MAX_CACHED_QUERIES: usize = 1024;

/// Where a remote subgraph is and how patiently to ask it.
#[derive(Clone)]
pub struct HttpSourceConfig {
    /// The source's name, for errors, logs and metrics.
    pub name: String,
    /// The remote's GraphQL endpoint (`http://users:4001/graphql`).
    pub url: String,
    /// How long to wait for a TCP (and TLS) connection. Default 5 s.
    pub connect_timeout: Duration,
    /// How long one attempt may take, answer body included. Default 5 s.
    pub request_timeout: Duration,
    /// The most attempts per fetch, the first included. Default 3.
    pub max_attempts: u32,
    /// The cap over all attempts of a fetch and the waits between them. Default 10 s. The
    /// request's own deadline, when sooner, wins.
    pub total_timeout: Duration,
    /// The first wait before a retry; each later one doubles, plus jitter. Default 50 ms.
    pub min_backoff: Duration,
    /// The longest wait before a retry, `Retry-After` included. Default 2 s.
    pub max_backoff: Duration,
    /// Headers sent with every request (`authorization`, …).
    pub headers: Vec<(String, String)>,
    /// The largest answer body read, in bytes. Default 64 MiB: a remote that sends more is
    /// answering something else, and graft does not buffer it all to find out.
    pub max_response_bytes: usize,
}

impl Default for HttpSourceConfig {
    fn default() -> Self {
        HttpSourceConfig {
            name: "http".to_owned(),
            url: String::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_attempts: 3,
            total_timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            headers: Vec::new(),
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

impl fmt::Debug for HttpSourceConfig {
    /// Header values are left out: they are often credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("HttpSourceConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("total_timeout", &self.total_timeout)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("headers", &headers)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// Entities of a remote subgraph, fetched through its `_entities`. See the crate docs.
pub struct HttpSource {
    config: HttpSourceConfig,
    url: reqwest::Url,
    client: reqwest::Client,
    /// The local subgraph schema: it gives each key's field set.
    schema: Arc<SubgraphSchema>,
    /// Queries built so far, by type and columns.
    queries: Mutex<QueryCache>,
}

#[derive(Default)]
struct QueryCache {
    by_type: HashMap<Name, HashMap<Box<[usize]>, Arc<EntityQuery>>>,
    len: usize,
}

impl fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A complete HTTP answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Bytes,
    /// `Retry-After`, when given in seconds.
    retry_after: Option<Duration>,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    /// The deadline had passed before the first attempt.
    NoTime,
    /// No complete answer within the attempt's time.
    Timeout(Duration),
    /// The exchange failed below HTTP.
    Transport {
        kind: SourceErrorKind,
        message: String,
    },
    /// A status another attempt may fix (429, 502, 503, 504).
    Status(Answer),
    /// The answer body passed `max_response_bytes`.
    TooLarge(usize),
}

impl Failure {
    /// Whether another attempt may succeed.
    fn is_retryable(&self) -> bool {
        match self {
            Failure::Timeout(_) | Failure::Status(_) => true,
            Failure::NoTime | Failure::TooLarge(_) => false,
            Failure::Transport { kind, .. } => {
                matches!(kind, SourceErrorKind::Connection | SourceErrorKind::Timeout)
            }
        }
    }

    /// The kind of failure, as the request's observer is told it.
    fn kind(&self) -> SourceErrorKind {
        match self {
            Failure::NoTime | Failure::Timeout(_) => SourceErrorKind::Timeout,
            Failure::Transport { kind, .. } => *kind,
            Failure::Status(_) => SourceErrorKind::Http,
            Failure::TooLarge(_) => SourceErrorKind::Protocol,
        }
    }

    /// A short description for logs.
    fn summary(&self) -> String {
        match self {
            Failure::NoTime => "the deadline had passed".to_owned(),
            Failure::Timeout(budget) => format!("no answer within {} ms", budget.as_millis()),
            Failure::Transport { message, .. } => message.clone(),
            Failure::Status(answer) => format!("HTTP {}", answer.status),
            Failure::TooLarge(limit) => format!("an answer over {limit} bytes"),
        }
    }

    /// The wait the remote asked for, if it did.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status(answer) => answer.retry_after,
            _ => None,
        }
    }

    fn into_error(self, origin: &Origin<'_>) -> ResolveError {
        match self {
            Failure::NoTime => origin.error(
                SourceErrorKind::Timeout,
                format!(
                    "{}: the deadline passed before a request could be sent",
                    origin.url
                ),
            ),
            Failure::Timeout(budget) => origin.error(
                SourceErrorKind::Timeout,
                format!(
                    "{}: no answer within {} ms",
                    origin.at(),
                    budget.as_millis()
                ),
            ),
            Failure::Transport { kind, message } => {
                origin.error(kind, format!("{}: {message}", origin.at()))
            }
            Failure::Status(answer) => response::http_error(answer.status, &answer.body, origin),
            Failure::TooLarge(limit) => origin.error(
                SourceErrorKind::Protocol,
                format!(
                    "{}: the answer is larger than {limit} bytes (max_response_bytes)",
                    origin.at()
                ),
            ),
        }
    }
}

/// Whether a status is worth another attempt: overload and gateway trouble, not a refusal.
fn retryable_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// `Retry-After` in seconds; the HTTP-date form is ignored (the backoff applies instead).
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// A transport error as a failure: its kind and its whole chain of causes.
fn transport(error: &reqwest::Error) -> Failure {
    let kind = if error.is_timeout() {
        SourceErrorKind::Timeout
    } else if error.is_builder() {
        SourceErrorKind::Other
    } else {
        // Refused, reset, closed mid-answer: the connection, in every case.
        SourceErrorKind::Connection
    };
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = inner.source();
    }
    Failure::Transport { kind, message }
}

impl HttpSource {
    /// A source for the remote at `config.url`. `schema` is the local subgraph schema, whose
    /// `@key`s say how to write each key as a representation.
    pub fn new(
        config: HttpSourceConfig,
        schema: Arc<SubgraphSchema>,
    ) -> Result<HttpSource, HttpError> {
        let source_name = || config.name.clone();
        let url = reqwest::Url::parse(&config.url).map_err(|e| HttpError::Url {
            source_name: source_name(),
            url: config.url.clone(),
            message: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::Url {
                source_name: source_name(),
                url: config.url.clone(),
                message: "the scheme must be http or https".to_owned(),
            });
        }
        let invalid = |message: &str| HttpError::Config {
            source_name: source_name(),
            message: message.to_owned(),
        };
        if config.max_response_bytes == 0 {
            return Err(invalid("max_response_bytes must be at least 1"));
        }
        if config.max_attempts == 0 {
            return Err(invalid("max_attempts must be at least 1"));
        }
        if config.min_backoff > config.max_backoff {
            return Err(invalid("min_backoff must not exceed max_backoff"));
        }
        if config.request_timeout.is_zero() || config.total_timeout.is_zero() {
            return Err(invalid(
                "request_timeout and total_timeout must not be zero",
            ));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let header = |message: String| HttpError::Header {
                source_name: source_name(),
                name: name.clone(),
                message,
            };
            let header_name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| header(e.to_string()))?;
            let mut header_value = HeaderValue::from_str(value)
                .map_err(|_| header("the value has characters a header cannot carry".into()))?;
            header_value.set_sensitive(true);
            headers.append(header_name, header_value);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .user_agent(concat!("graft/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| HttpError::Client {
                source_name: source_name(),
                source,
            })?;
        Ok(HttpSource {
            config,
            url,
            client,
            schema,
            queries: Mutex::new(QueryCache::default()),
        })
    }

    /// The configuration the source was built with.
    pub fn config(&self) -> &HttpSourceConfig {
        &self.config
    }

    /// The exact JSON body a fetch of `request` sends. Tests and logs use it.
    pub fn request_body(&self, request: FetchRequest<'_>) -> Result<String, ResolveError> {
        self.check(&request)?;
        let query = self.query(request.mapping, request.columns)?;
        let body = query::request_body(&query.text, request.keys, &self.schema)?;
        Ok(String::from_utf8(body).expect("serde_json writes UTF-8"))
    }

    /// Refuses what `_entities` cannot answer: many rows per key, or a lookup by columns that
    /// are no key of the type.
    fn check(&self, request: &FetchRequest<'_>) -> Result<(), ResolveError> {
        let refuse = |why: String| {
            ResolveError::Unsupported(format!(
                "source `{}` answers lookups by key only: {why}",
                self.config.name
            ))
        };
        if request.many {
            return Err(refuse(format!(
                "it cannot fetch every {} matching ({}) of a @hasMany relation",
                request.mapping.type_name,
                request.match_columns.join(", ")
            )));
        }
        for key in request.keys {
            let is_key = key.type_name() == &request.mapping.type_name
                && request
                    .mapping
                    .key_columns
                    .get(usize::from(key.key_index().0))
                    .is_some_and(|columns| columns.as_slice() == request.match_columns);
            if !is_key {
                return Err(refuse(format!(
                    "({}) is no key of {}",
                    request.match_columns.join(", "),
                    request.mapping.type_name
                )));
            }
        }
        Ok(())
    }

    /// The query for a type and columns, built on first use.
    fn query(
        &self,
        mapping: &EntityMapping,
        columns: &[usize],
    ) -> Result<Arc<EntityQuery>, ResolveError> {
        let mut cache = self.queries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(query) = cache
            .by_type
            .get(&mapping.type_name)
            .and_then(|queries| queries.get(columns))
        {
            return Ok(Arc::clone(query));
        }
        let query = Arc::new(query::entity_query(mapping, columns)?);
        if cache.len >= MAX_CACHED_QUERIES {
            *cache = QueryCache::default();
        }
        cache.len += 1;
        cache
            .by_type
            .entry(mapping.type_name.clone())
            .or_default()
            .insert(columns.into(), Arc::clone(&query));
        Ok(query)
    }

    async fn fetch_rows(
        &self,
        ctx: &RequestContext,
        request: FetchRequest<'_>,
    ) -> Result<RowSet, ResolveError> {
        self.check(&request)?;
        let mut rows = RowSet::new(request.keys.len(), request.columns.len());
        if request.keys.is_empty() {
            return Ok(rows);
        }
        let query = self.query(request.mapping, request.columns)?;
        let body = Bytes::from(query::request_body(
            &query.text,
            request.keys,
            &self.schema,
        )?);
        let started = Instant::now();
        let total = started + self.config.total_timeout;
        let limit = ctx.deadline.map_or(total, |deadline| deadline.min(total));
        let sent = self.send(ctx, body, limit).await;
        let origin = Origin {
            source: &self.config.name,
            url: self.url.as_str(),
            attempts: sent.attempts,
        };
        let answer = sent.result.map_err(|failure| {
            let error = failure.into_error(&origin);
            if sent.out_of_time {
                with_suffix(error, "; no time left for another attempt")
            } else {
                error
            }
        })?;
        response::read(
            answer.status,
            &answer.body,
            &query,
            request.keys.len(),
            &mut rows,
            &origin,
        )?;
        Ok(rows)
    }

    /// Sends `body` until an attempt succeeds, fails for good, runs out of attempts or would
    /// end past `limit`.
    /// Each attempt is reported to the request's observer.
    async fn send(&self, ctx: &RequestContext, body: Bytes, limit: Instant) -> Sent {
        if limit <= Instant::now() {
            return Sent {
                result: Err(Failure::NoTime),
                attempts: 0,
                out_of_time: false,
            };
        }
        let max_backoff = self.config.max_backoff;
        let backoff = ExponentialBuilder::new()
            .with_min_delay(self.config.min_backoff)
            .with_max_delay(max_backoff)
            .with_jitter()
            .with_max_times(self.config.max_attempts.saturating_sub(1) as usize);
        let mut attempts = 0_u32;
        let mut out_of_time = false;
        let result = (|| {
            attempts += 1;
            let body = body.clone();
            let span = tracing::debug_span!(
                "remote_call",
                source = %self.config.name,
                url.full = %self.config.url,
                attempt = attempts,
            );
            tracing::Instrument::instrument(
                async move {
                    let started = Instant::now();
                    let answer = self.attempt(body, limit).await;
                    ctx.observe(&SourceEvent::Request {
                        source: &self.config.name,
                        duration: started.elapsed(),
                        failed: answer.as_ref().err().map(Failure::kind),
                    });
                    answer
                },
                span,
            )
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(Failure::is_retryable)
        .adjust(|failure, next| {
            // `None`: the attempts are used up.
            let next = next?;
            // Jitter may add up to the delay again; the cap holds for it, and for Retry-After.
            let wait = failure.retry_after().unwrap_or(next).min(max_backoff);
            if Instant::now() + wait >= limit {
                out_of_time = true;
                return None;
            }
            Some(wait)
        })
        .notify(|failure, wait| {
            tracing::debug!(
                source = %self.config.name,
                url = %self.url,
                failure = %failure.summary(),
                wait_ms = wait.as_millis() as u64,
                "retrying the remote subgraph"
            );
        })
        .await;
        Sent {
            result,
            attempts,
            out_of_time,
        }
    }

    /// One POST, within `request_timeout` and `limit`, body read included.
    async fn attempt(&self, body: Bytes, limit: Instant) -> Result<Answer, Failure> {
        let budget = self
            .config
            .request_timeout
            .min(limit.saturating_duration_since(Instant::now()));
        let limit_bytes = self.config.max_response_bytes;
        let exchange = async {
            let mut response = self
                .client
                .post(self.url.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/json")
                .body(body)
                .send()
                .await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(parse_retry_after);
            // Read chunk by chunk, so that an oversized answer is refused, not buffered.
            if response
                .content_length()
                .is_some_and(|length| length > limit_bytes as u64)
            {
                return Ok(Err(Failure::TooLarge(limit_bytes)));
            }
            let mut body = bytes::BytesMut::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > limit_bytes {
                    return Ok(Err(Failure::TooLarge(limit_bytes)));
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Ok(Answer {
                status,
                body: body.freeze(),
                retry_after,
            }))
        };
        match tokio::time::timeout(budget, exchange).await {
            Err(_) => Err(Failure::Timeout(budget)),
            Ok(Err(error)) => Err(transport(&error)),
            Ok(Ok(Err(failure))) => Err(failure),
            Ok(Ok(Ok(answer))) if retryable_status(answer.status) => Err(Failure::Status(answer)),
            Ok(Ok(Ok(answer))) => Ok(answer),
        }
    }
}

/// The outcome of [`HttpSource::send`].
struct Sent {
    result: Result<Answer, Failure>,
    /// Requests sent.
    attempts: u32,
    /// Whether retrying stopped because the time budget could not fit another attempt.
    out_of_time: bool,
}

fn with_suffix(error: ResolveError, suffix: &str) -> ResolveError {
    match error {
        ResolveError::Source {
            source_name,
            kind,
            mut message,
        } => {
            message.push_str(suffix);
            ResolveError::Source {
                source_name,
                kind,
                message,
            }
        }
        other => other,
    }
}

impl EntitySource for HttpSource {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn strategy(&self) -> &'static str {
        "http"
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(self.fetch_rows(ctx, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Arc<SubgraphSchema> {
        Arc::new(
            SubgraphSchema::parse("type A @key(fields: \"id\") { id: ID! }", "t.graphql")
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn build(config: HttpSourceConfig) -> Result<HttpSource, HttpError> {
        HttpSource::new(config, schema())
    }

    #[test]
    fn bad_settings_are_refused_with_the_source_name() {
        let ok = HttpSourceConfig {
            name: "users".into(),
            url: "http://127.0.0.1:1/graphql".into(),
            ..HttpSourceConfig::default()
        };
        assert!(build(ok.clone()).is_ok());
        let cases = [
            HttpSourceConfig {
                url: "not a url".into(),
                ..ok.clone()
            },
            HttpSourceConfig {
                url: "ftp://host/graphql".into(),
                ..ok.clone()
            },
            HttpSourceConfig {
                max_attempts: 0,
                ..ok.clone()
            },
            HttpSourceConfig {
                min_backoff: Duration::from_secs(3),
                ..ok.clone()
            },
            HttpSourceConfig {
                headers: vec![("bad name".into(), "x".into())],
                ..ok.clone()
            },
            HttpSourceConfig {
                headers: vec![("authorization".into(), "secret\nvalue".into())],
                ..ok.clone()
            },
        ];
        for config in cases {
            let err = build(config).unwrap_err().to_string();
            assert!(err.starts_with("source `users`"), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn debug_output_leaves_header_values_out() {
        let config = HttpSourceConfig {
            headers: vec![("authorization".into(), "Bearer secret".into())],
            ..HttpSourceConfig::default()
        };
        let debug = format!("{config:?}");
        assert!(
            debug.contains("authorization") && !debug.contains("secret"),
            "{debug}"
        );
    }

    #[test]
    fn only_overload_and_gateway_statuses_are_retried() {
        for status in [429, 502, 503, 504] {
            assert!(retryable_status(StatusCode::from_u16(status).unwrap()));
        }
        for status in [200, 400, 401, 403, 404, 500] {
            assert!(!retryable_status(StatusCode::from_u16(status).unwrap()));
        }
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static(" 3 ")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }
}
