//! An [`EntitySource`](graft_resolve::EntitySource) over a remote subgraph: graft resolves a
//! fetch group by asking another subgraph's `_entities` over HTTP.
//!
//! [`HttpSource`] answers lookups by key (`FetchRequest::many == false`) and nothing else: a
//! `@hasMany` fetch, a page, or a column that is no GraphQL field (a `@belongsTo(columns:)` join
//! column) is [`ResolveError::Unsupported`](graft_resolve::ResolveError::Unsupported).
//!
//! One fetch sends one `POST` with one representation per key:
//!
//! ```text
//! {"query": "query($representations: [_Any!]!) { _entities(representations: $representations)
//!            { ... on OrgUser { name email } } }",
//!  "variables": {"representations": [{"__typename": "OrgUser", "orgId": "o1", "userId": "u1"}]}}
//! ```
//!
//! - **Query** (`query.rs`, pure). The selection covers exactly the requested columns: an
//!   entity's field, or `outer { inner }` for a field of an embedded object, each field once. It
//!   is built once per (type, columns) and cached. Representations are written from the
//!   [`EntityKey`](graft_keys::EntityKey)s with the *local* schema's key field sets: nested key
//!   fields become nested objects, each value keeps its type (an `ID` is a string).
//! - **Answer** (`response.rs`, pure). Entity `i` becomes key `i`'s row (`null` is no row); an
//!   error at `["_entities", i, …]` fails key `i` alone through
//!   [`RowSet::set_key_error`](graft_resolve::RowSet::set_key_error). A non-2xx status is a
//!   `Http` error, a broken answer a `Protocol` error, errors instead of data a `Remote` error.
//! - **Transport** (`source.rs`). One `reqwest` client per remote, so connections are reused
//!   (rustls only). Retries use `backon`'s exponential backoff with jitter between
//!   `min_backoff` and `max_backoff`, for at most `max_attempts` attempts, and only for what
//!   another attempt can fix: connection failures, timeouts, 502, 503, 504 and 429. A
//!   `Retry-After` in seconds replaces the backoff's wait; every wait is capped by
//!   `max_backoff`. Each attempt gets `request_timeout`, or less when the
//!   request's deadline or the fetch's `total_timeout` comes first; no wait is started that
//!   would end past them. A timeout is a `Timeout` error and a connection failure a
//!   `Connection` error, exactly, because a db-then-http fallback decides on those two kinds.
//!   Every attempt is reported to the request's observer
//!   ([`SourceEvent::Request`](graft_resolve::SourceEvent::Request)), and every error names the
//!   source, the URL and the number of attempts.

mod query;
mod response;
mod source;

pub use source::{HttpSource, HttpSourceConfig};

/// Why an [`HttpSource`] could not be built. Failures of a fetch are
/// [`ResolveError::Source`](graft_resolve::ResolveError::Source) values instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL does not parse, or is not `http`/`https`.
    #[error("source `{source_name}`: invalid URL {url:?}: {message}")]
    Url {
        /// The source's name.
        source_name: String,
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// A configured header has an invalid name or value (the value is not repeated here).
    #[error("source `{source_name}`: invalid header `{name}`: {message}")]
    Header {
        /// The source's name.
        source_name: String,
        /// The header's name as configured.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The retry or timeout settings contradict each other.
    #[error("source `{source_name}`: {message}")]
    Config {
        /// The source's name.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("source `{source_name}`: cannot build the HTTP client: {source}")]
    Client {
        /// The source's name.
        source_name: String,
        /// The client's error.
        source: reqwest::Error,
    },
}
