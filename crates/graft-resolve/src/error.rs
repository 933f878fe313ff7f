//! The error type of graft-resolve.

/// Errors raised while resolving, by sources and by the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A tenant id that is not a valid identifier.
    #[error("invalid tenant id {0:?}: use 1-63 letters, digits, `_` or `-`")]
    InvalidTenant(String),
    /// The source cannot do what was asked (e.g. page through rows).
    #[error("{0}")]
    Unsupported(String),
    /// No source serves the type.
    #[error("no source serves type {0}")]
    NoSource(String),
    /// The request went over one of its limits; the code names it.
    #[error("the request went over its limit ({0})")]
    LimitExceeded(&'static str),
    /// A source failed.
    #[error("source `{source_name}` failed ({kind}): {message}")]
    Source {
        /// The source's name.
        source_name: String,
        /// The normalised failure kind, for routing and fallback decisions.
        kind: SourceErrorKind,
        /// The driver's message.
        message: String,
    },
}

impl ResolveError {
    /// What a client may be told: a source's failure by source name and kind only, never the
    /// driver's message (server error text, user names, hosts, paths), which only the log
    /// gets.
    pub fn public_message(&self) -> String {
        match self {
            ResolveError::Source {
                source_name, kind, ..
            } => format!("source `{source_name}` failed ({kind}); the server log has the details"),
            other => other.to_string(),
        }
    }
}

/// What kind of failure a source met, whatever its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceErrorKind {
    /// Could not connect or lost the connection.
    Connection,
    /// Timed out (connect or statement).
    Timeout,
    /// Every pooled connection stayed in use past the acquire timeout: the source is busy,
    /// not down. Never a reason to fall back or cool down.
    Busy,
    /// The database rejected the statement (bad table, bad column, permissions).
    Query,
    /// A value could not be converted to the field's type.
    Decode,
    /// A remote subgraph answered with an HTTP error status.
    Http,
    /// A remote subgraph answered with GraphQL errors.
    Remote,
    /// A remote subgraph's answer broke the protocol: not JSON, not a GraphQL response, or a
    /// different number of entities than asked for.
    Protocol,
    /// Anything else.
    Other,
}

impl std::fmt::Display for SourceErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceErrorKind::Connection => "connection",
            SourceErrorKind::Timeout => "timeout",
            SourceErrorKind::Busy => "busy",
            SourceErrorKind::Query => "query",
            SourceErrorKind::Decode => "decode",
            SourceErrorKind::Http => "http",
            SourceErrorKind::Remote => "remote",
            SourceErrorKind::Protocol => "protocol",
            SourceErrorKind::Other => "other",
        })
    }
}
