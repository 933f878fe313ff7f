//! The error type of graft-resolve.

/// Errors raised while resolving, by sources and by the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A tenant id that is not a valid identifier.
    #[error("invalid tenant id {0:?}: use 1-63 letters, digits, `_` or `-`")]
    InvalidTenant(String),
    /// An API key hash that is not 64 hex digits.
    #[error("an API key hash is the SHA-256 of the key as 64 hex digits")]
    InvalidApiKeyHash,
    /// The tenant store could not answer.
    #[error("tenant store: {0}")]
    TenantStore(String),
    /// A tenant schema name that is not a valid identifier.
    #[error("invalid schema name {0:?}: use 1-63 letters, digits, `_` or `-`")]
    InvalidSchemaName(String),
    /// The source cannot do what was asked (e.g. page through rows).
    #[error("{0}")]
    Unsupported(String),
    /// No source serves the type.
    #[error("no source serves type {0}")]
    NoSource(String),
    /// The request went over one of its limits; the code names it.
    #[error("the request went over its limit ({0})")]
    LimitExceeded(&'static str),
    /// The database refused a write that breaks one of its constraints.
    #[error("source `{source_name}`: {violation}")]
    Constraint {
        /// The source's name.
        source_name: String,
        /// Which constraint, and where.
        violation: ConstraintViolation,
    },
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
            ResolveError::Constraint { violation, .. } => violation.to_string(),
            other => other.to_string(),
        }
    }
}

/// Which kind of constraint a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConstraintKind {
    /// A unique index or primary key already holds the value.
    Unique,
    /// A foreign key names a row that does not exist, or a row other rows still reference.
    ForeignKey,
    /// A column that may not be NULL was given none (and has no default).
    NotNull,
    /// A `CHECK` constraint rejected the row.
    Check,
    /// A value does not fit its column: too long, out of range, or not of the column's type.
    Value,
}

impl ConstraintKind {
    /// What the constraint refused, in words.
    pub fn description(self) -> &'static str {
        match self {
            ConstraintKind::Unique => "another row already has this unique value",
            ConstraintKind::ForeignKey => {
                "a reference does not match: the row refers to a row that does not exist, or rows still refer to it"
            }
            ConstraintKind::NotNull => "a value that may not be null is missing",
            ConstraintKind::Check => "a check constraint refused the row",
            ConstraintKind::Value => {
                "a value does not fit its column (too long, out of range, or not of its type)"
            }
        }
    }

    /// The error code clients see: `UNIQUE_VIOLATION`, `FOREIGN_KEY_VIOLATION`,
    /// `NOT_NULL_VIOLATION`, `CHECK_VIOLATION`, `INVALID_VALUE`.
    pub fn code(self) -> &'static str {
        match self {
            ConstraintKind::Unique => "UNIQUE_VIOLATION",
            ConstraintKind::ForeignKey => "FOREIGN_KEY_VIOLATION",
            ConstraintKind::NotNull => "NOT_NULL_VIOLATION",
            ConstraintKind::Check => "CHECK_VIOLATION",
            ConstraintKind::Value => "INVALID_VALUE",
        }
    }
}

/// A constraint a write broke, with the names the database gave: schema-level names (the
/// constraint, the table, the column), never values or the driver's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintViolation {
    /// The kind of constraint.
    pub kind: ConstraintKind,
    /// The constraint's (or unique index's) name, where the database gives it.
    pub constraint: Option<String>,
    /// The table, where the database gives it.
    pub table: Option<String>,
    /// The column, where the database gives it (always for `NOT NULL`).
    pub column: Option<String>,
}

impl ConstraintViolation {
    /// A violation of kind `kind` with no names yet.
    pub fn new(kind: ConstraintKind) -> ConstraintViolation {
        ConstraintViolation {
            kind,
            constraint: None,
            table: None,
            column: None,
        }
    }
}

impl std::fmt::Display for ConstraintViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind.description())?;
        if let Some(constraint) = &self.constraint {
            write!(f, " (constraint `{constraint}`)")?;
        }
        if let Some(column) = &self.column {
            write!(f, " (column `{column}`)")?;
        }
        Ok(())
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
    /// The transaction lost to a concurrent one (a serialization failure or a deadlock): it
    /// was rolled back, and running it again may succeed.
    Conflict,
    /// A lock the statement needed stayed held past the database's lock timeout.
    LockTimeout,
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
            SourceErrorKind::Conflict => "conflict",
            SourceErrorKind::LockTimeout => "lock timeout",
            SourceErrorKind::Decode => "decode",
            SourceErrorKind::Http => "http",
            SourceErrorKind::Remote => "remote",
            SourceErrorKind::Protocol => "protocol",
            SourceErrorKind::Other => "other",
        })
    }
}
