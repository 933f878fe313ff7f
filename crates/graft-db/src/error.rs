//! The error type of graft-db.

use graft_resolve::{ResolveError, SourceErrorKind};

/// A database failure, with its normalised kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A failure reported by sqlx (SQLite).
    #[cfg(feature = "sqlite")]
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// A failure reported by tokio-postgres.
    #[cfg(feature = "postgres")]
    #[error("{}", postgres_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[cfg(feature = "postgres")]
    #[error("connection pool: {0}")]
    PostgresPool(#[from] deadpool_postgres::PoolError),
    /// The request's deadline passed while the statement ran; it was cancelled.
    #[error("the statement was cancelled: the request's deadline passed")]
    Timeout,
    /// A database URL graft cannot use.
    #[error("invalid database URL: {0}")]
    Url(String),
    /// The schema maps a type to a table or column the database does not have, or to a column
    /// type graft cannot read.
    #[error("{0}")]
    Mapping(String),
    /// A setup script failed.
    #[error("running {script}: {message}")]
    Script {
        /// The script's name.
        script: String,
        /// The failure.
        message: String,
    },
}

#[cfg(feature = "postgres")]
fn postgres_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => error.to_string(),
    }
}

impl DbError {
    /// The failure's kind, whatever the driver: routing and fallback decide on this.
    pub fn kind(&self) -> SourceErrorKind {
        match self {
            #[cfg(feature = "sqlite")]
            DbError::Sqlx(error) => match error {
                sqlx::Error::PoolTimedOut => SourceErrorKind::Timeout,
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => SourceErrorKind::Connection,
                sqlx::Error::Database(_) | sqlx::Error::RowNotFound => SourceErrorKind::Query,
                sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::Decode(_)
                | sqlx::Error::TypeNotFound { .. } => SourceErrorKind::Decode,
                _ => SourceErrorKind::Other,
            },
            #[cfg(feature = "postgres")]
            DbError::Postgres(error) => postgres_kind(error),
            #[cfg(feature = "postgres")]
            DbError::PostgresPool(error) => match error {
                deadpool_postgres::PoolError::Timeout(_) => SourceErrorKind::Timeout,
                deadpool_postgres::PoolError::Backend(error) => postgres_kind(error),
                _ => SourceErrorKind::Connection,
            },
            DbError::Url(_) => SourceErrorKind::Connection,
            DbError::Timeout => SourceErrorKind::Timeout,
            DbError::Mapping(_) | DbError::Script { .. } => SourceErrorKind::Query,
        }
    }

    /// This error as a [`ResolveError`] of source `source_name`.
    pub fn into_resolve_error(self, source_name: &str) -> ResolveError {
        ResolveError::Source {
            source_name: source_name.to_owned(),
            kind: self.kind(),
            message: self.to_string(),
        }
    }
}

#[cfg(feature = "postgres")]
fn postgres_kind(error: &tokio_postgres::Error) -> SourceErrorKind {
    use tokio_postgres::error::SqlState;
    if error.is_closed() {
        return SourceErrorKind::Connection;
    }
    match error.code() {
        Some(code) if *code == SqlState::ADMIN_SHUTDOWN || code.code().starts_with("08") => {
            SourceErrorKind::Connection
        }
        Some(code) if *code == SqlState::QUERY_CANCELED => SourceErrorKind::Timeout,
        Some(_) => SourceErrorKind::Query,
        None if std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>()) => {
            SourceErrorKind::Connection
        }
        None => SourceErrorKind::Other,
    }
}
