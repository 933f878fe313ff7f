//! The error type of graft-db.

use graft_resolve::{ResolveError, SourceErrorKind};

/// A database failure, with its normalised kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A failure reported by sqlx.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// A database URL graft cannot use.
    #[error("invalid database URL: {0}")]
    Url(String),
    /// A setup script failed.
    #[error("running {script}: {source}")]
    Script {
        /// The script's name.
        script: String,
        /// The failure.
        source: sqlx::Error,
    },
}

impl DbError {
    /// The failure's kind, whatever the driver: routing and fallback decide on this.
    pub fn kind(&self) -> SourceErrorKind {
        match self {
            DbError::Sqlx(error) | DbError::Script { source: error, .. } => match error {
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
            DbError::Url(_) => SourceErrorKind::Connection,
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
