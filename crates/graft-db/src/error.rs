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
    #[error("connection pool: {}", pool_message(.0))]
    PostgresPool(#[from] deadpool_postgres::PoolError),
    /// A failure reported by mysql_async (MariaDB, MySQL).
    #[cfg(feature = "mysql")]
    #[error("{}", mysql_message(.0))]
    Mysql(#[from] mysql_async::Error),
    /// No pooled connection could be had in time (connecting took too long).
    #[error("connection pool: no connection within {0:?}")]
    AcquireTimeout(std::time::Duration),
    /// Every pooled connection stayed in use past the acquire timeout (or, with a zero
    /// duration, too many fetches were already waiting for one).
    #[error("connection pool: every connection stayed busy for {0:?}")]
    PoolBusy(std::time::Duration),
    /// A value the database returned could not be read as its column's type.
    #[error("reading a value: {0}")]
    Decode(String),
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

/// The server's message, or the driver's with its causes: tokio-postgres says only "error
/// connecting to server" and keeps why (refused, timed out, ...) in its source.
#[cfg(feature = "postgres")]
fn postgres_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut message = error.to_string();
            let mut cause = std::error::Error::source(error);
            while let Some(source) = cause {
                message.push_str(": ");
                message.push_str(&source.to_string());
                cause = source.source();
            }
            message
        }
    }
}

/// The pool's message; a failed connect as [`postgres_message`] gives it.
#[cfg(feature = "postgres")]
fn pool_message(error: &deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(error) => postgres_message(error),
        other => other.to_string(),
    }
}

#[cfg(feature = "mysql")]
fn mysql_message(error: &mysql_async::Error) -> String {
    match error {
        mysql_async::Error::Server(server) => format!(
            "server error {} ({}): {}",
            server.code, server.state, server.message
        ),
        other => other.to_string(),
    }
}

impl DbError {
    /// The failure's kind, whatever the driver: routing and fallback decide on this.
    pub fn kind(&self) -> SourceErrorKind {
        match self {
            #[cfg(feature = "sqlite")]
            DbError::Sqlx(error) => match error {
                // SQLite opens files, never waits on a network: a pool timeout means every
                // connection was busy.
                sqlx::Error::PoolTimedOut => SourceErrorKind::Busy,
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
                deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => {
                    SourceErrorKind::Busy
                }
                deadpool_postgres::PoolError::Timeout(_) => SourceErrorKind::Timeout,
                deadpool_postgres::PoolError::Backend(error) => postgres_kind(error),
                _ => SourceErrorKind::Connection,
            },
            #[cfg(feature = "mysql")]
            DbError::Mysql(error) => mysql_kind(error),
            DbError::Url(_) => SourceErrorKind::Connection,
            DbError::Timeout | DbError::AcquireTimeout(_) => SourceErrorKind::Timeout,
            DbError::PoolBusy(_) => SourceErrorKind::Busy,
            DbError::Decode(_) => SourceErrorKind::Decode,
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

/// The kind of a mysql_async failure. Server errors are query errors, except those that say the
/// connection is gone (the retry in `MysqlSource` depends on these) or that a time limit passed.
#[cfg(feature = "mysql")]
fn mysql_kind(error: &mysql_async::Error) -> SourceErrorKind {
    use mysql_async::{DriverError, Error, IoError};
    match error {
        Error::Io(IoError::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut => {
            SourceErrorKind::Timeout
        }
        Error::Io(_) | Error::Url(_) => SourceErrorKind::Connection,
        Error::Driver(driver) => match driver {
            DriverError::FromValue { .. } | DriverError::FromRow { .. } => SourceErrorKind::Decode,
            DriverError::ConnectionClosed
            | DriverError::PoolDisconnected
            | DriverError::PacketOutOfOrder
            | DriverError::UnexpectedPacket { .. }
            | DriverError::PacketTooLarge
            | DriverError::BadCompressedPacketHeader
            | DriverError::CantParseServerVersion { .. }
            | DriverError::UnknownAuthPlugin { .. }
            | DriverError::MysqlOldPasswordDisabled
            | DriverError::CleartextPluginDisabled
            | DriverError::NoClientSslFlagFromServer => SourceErrorKind::Connection,
            _ => SourceErrorKind::Other,
        },
        Error::Server(server) => match server.code {
            // ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN, ER_NET_READ_ERROR and its kin,
            // ER_CONNECTION_KILLED (MariaDB), CR_SERVER_GONE_ERROR, CR_SERVER_LOST,
            // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8).
            1040 | 1053 | 1152 | 1158..=1161 | 1927 | 2006 | 2013 | 4031 => {
                SourceErrorKind::Connection
            }
            // ER_LOCK_WAIT_TIMEOUT, ER_STATEMENT_TIMEOUT (MariaDB max_statement_time),
            // ER_QUERY_TIMEOUT (MySQL max_execution_time).
            1205 | 1969 | 3024 => SourceErrorKind::Timeout,
            _ if server.state.starts_with("08") => SourceErrorKind::Connection,
            _ => SourceErrorKind::Query,
        },
        Error::Other(_) => SourceErrorKind::Other,
    }
}
