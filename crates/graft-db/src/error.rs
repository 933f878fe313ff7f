//! The error type of graft-db.

use graft_resolve::{ConstraintKind, ConstraintViolation, ResolveError, SourceErrorKind};

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
    /// The unit of work lost its connection (a connection error, a passed deadline) and was
    /// rolled back by the server; nothing more can run in it.
    #[error("the transaction ended when its connection was lost or its statement cancelled")]
    Ended,
    /// A database URL graft cannot use.
    #[error("invalid database URL: {0}")]
    Url(String),
    /// The schema maps a type to a table or column the database does not have, or to a column
    /// type graft cannot read.
    #[error("{0}")]
    Mapping(String),
    /// The request's tenant is isolated in a way this source cannot apply: it is refused
    /// rather than answered from other tenants' data.
    #[error("this source cannot isolate tenants by {0}")]
    Isolation(&'static str),
    /// What was to be created exists (a tenant, or a schema another tenant has).
    #[error("{0}")]
    Exists(String),
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
                sqlx::Error::Database(error) => sqlite_kind(error.code().as_deref()),
                sqlx::Error::RowNotFound => SourceErrorKind::Query,
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
            DbError::Url(_) | DbError::Ended => SourceErrorKind::Connection,
            DbError::Timeout | DbError::AcquireTimeout(_) => SourceErrorKind::Timeout,
            DbError::PoolBusy(_) => SourceErrorKind::Busy,
            DbError::Decode(_) => SourceErrorKind::Decode,
            DbError::Mapping(_)
            | DbError::Script { .. }
            | DbError::Isolation(_)
            | DbError::Exists(_) => SourceErrorKind::Query,
        }
    }

    /// The constraint a write broke, when that is what failed, with the names the database
    /// gave.
    pub fn constraint(&self) -> Option<ConstraintViolation> {
        match self {
            #[cfg(feature = "sqlite")]
            DbError::Sqlx(sqlx::Error::Database(error)) => sqlite_constraint(error.as_ref()),
            #[cfg(feature = "postgres")]
            DbError::Postgres(error) => postgres_constraint(error),
            #[cfg(feature = "mysql")]
            DbError::Mysql(mysql_async::Error::Server(error)) => {
                mysql_constraint(error.code, &error.message)
            }
            _ => None,
        }
    }

    /// This error as a [`ResolveError`] of source `source_name`: a broken constraint as
    /// [`ResolveError::Constraint`], anything else as [`ResolveError::Source`] with the
    /// driver's message (which only the log shows).
    pub fn into_resolve_error(self, source_name: &str) -> ResolveError {
        if let Some(violation) = self.constraint() {
            return ResolveError::Constraint {
                source_name: source_name.to_owned(),
                violation,
            };
        }
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
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            SourceErrorKind::Conflict
        }
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => SourceErrorKind::LockTimeout,
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
            // ER_LOCK_WAIT_TIMEOUT.
            1205 => SourceErrorKind::LockTimeout,
            // ER_LOCK_DEADLOCK.
            1213 => SourceErrorKind::Conflict,
            // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time), ER_QUERY_TIMEOUT (MySQL
            // max_execution_time).
            1969 | 3024 => SourceErrorKind::Timeout,
            _ if server.state.starts_with("08") => SourceErrorKind::Connection,
            _ => SourceErrorKind::Query,
        },
        Error::Other(_) => SourceErrorKind::Other,
    }
}

/// The kind of a SQLite error by its extended result code: `SQLITE_BUSY` (5) once the busy
/// timeout passed is a lock timeout; `SQLITE_LOCKED` (6) and `SQLITE_BUSY_SNAPSHOT` (517) mean
/// a concurrent transaction won.
#[cfg(feature = "sqlite")]
fn sqlite_kind(code: Option<&str>) -> SourceErrorKind {
    match code.and_then(|c| c.parse::<i32>().ok()) {
        Some(5) => SourceErrorKind::LockTimeout,
        Some(code) if code & 0xff == 6 || code == 517 => SourceErrorKind::Conflict,
        _ => SourceErrorKind::Query,
    }
}

/// SQLite's constraint errors, by extended result code. Their messages name the table and
/// column (`UNIQUE constraint failed: users.email`, `NOT NULL constraint failed: users.name`)
/// or the check's name (`CHECK constraint failed: positive_total`); a foreign key names
/// nothing.
#[cfg(feature = "sqlite")]
fn sqlite_constraint(error: &dyn sqlx::error::DatabaseError) -> Option<ConstraintViolation> {
    use sqlx::error::ErrorKind;
    let kind = match error.kind() {
        ErrorKind::UniqueViolation => ConstraintKind::Unique,
        ErrorKind::ForeignKeyViolation => ConstraintKind::ForeignKey,
        ErrorKind::NotNullViolation => ConstraintKind::NotNull,
        ErrorKind::CheckViolation => ConstraintKind::Check,
        // SQLITE_CONSTRAINT_DATATYPE: a value of the wrong type in a STRICT table.
        _ if error.code().as_deref() == Some("3091") => ConstraintKind::Value,
        _ => return None,
    };
    let mut violation = ConstraintViolation::new(kind);
    let named = error
        .message()
        .split_once("constraint failed: ")
        .map(|(_, n)| n);
    match (kind, named) {
        (ConstraintKind::Check, Some(name)) => violation.constraint = Some(name.to_owned()),
        (ConstraintKind::Unique | ConstraintKind::NotNull, Some(columns)) => {
            // `t.a, t.b` for a unique index over two columns: the first names the table.
            let first = columns.split(", ").next().unwrap_or(columns);
            if let Some((table, _)) = first.split_once('.') {
                violation.table = Some(table.to_owned());
            }
            let names: Vec<&str> = columns
                .split(", ")
                .map(|c| c.split_once('.').map_or(c, |(_, column)| column))
                .collect();
            violation.column = Some(names.join(", "));
        }
        _ => {}
    }
    Some(violation)
}

/// PostgreSQL's constraint errors, by SQLSTATE, with the constraint, table and column the
/// server reports.
#[cfg(feature = "postgres")]
fn postgres_constraint(error: &tokio_postgres::Error) -> Option<ConstraintViolation> {
    use tokio_postgres::error::SqlState;
    let db = error.as_db_error()?;
    let code = db.code();
    let kind = if *code == SqlState::UNIQUE_VIOLATION {
        ConstraintKind::Unique
    } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
        ConstraintKind::ForeignKey
    } else if *code == SqlState::NOT_NULL_VIOLATION {
        ConstraintKind::NotNull
    } else if *code == SqlState::CHECK_VIOLATION {
        ConstraintKind::Check
    } else if code.code().starts_with("22") {
        // Class 22, data exception: too long, out of range, not of the column's type.
        ConstraintKind::Value
    } else {
        return None;
    };
    Some(ConstraintViolation {
        kind,
        constraint: db.constraint().map(str::to_owned),
        table: db.table().map(str::to_owned),
        column: db.column().map(str::to_owned),
    })
}

/// MariaDB's and MySQL's constraint errors, by error number, with the names their messages
/// quote: `Duplicate entry '...' for key 'users_email'` (the value is not kept), `... a foreign
/// key constraint fails (`db`.`orders`, CONSTRAINT `orders_user` FOREIGN KEY (`user_id`) ...`,
/// `Column 'name' cannot be null`, `Field 'name' doesn't have a default value`, `CONSTRAINT
/// `positive` failed for `db`.`t`` (MariaDB) and `Check constraint 'positive' is violated.`
/// (MySQL).
#[cfg(feature = "mysql")]
fn mysql_constraint(code: u16, message: &str) -> Option<ConstraintViolation> {
    /// The text between the first `open` after `after` and the next `close`.
    fn quoted<'m>(message: &'m str, after: &str, open: char, close: char) -> Option<&'m str> {
        let rest = &message[message.find(after)? + after.len()..];
        let rest = &rest[rest.find(open)? + open.len_utf8()..];
        Some(&rest[..rest.find(close)?])
    }
    let mut violation = match code {
        // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME.
        1062 | 1586 => {
            let mut violation = ConstraintViolation::new(ConstraintKind::Unique);
            violation.constraint = message
                .rfind(" for key '")
                .map(|at| &message[at + " for key '".len()..])
                .and_then(|rest| rest.strip_suffix('\''))
                .map(|key| key.rsplit('.').next().unwrap_or(key).to_owned());
            violation
        }
        // ER_ROW_IS_REFERENCED_2, ER_NO_REFERENCED_ROW_2 (and the older forms without names).
        1451 | 1452 | 1216 | 1217 => {
            let mut violation = ConstraintViolation::new(ConstraintKind::ForeignKey);
            violation.constraint = quoted(message, "CONSTRAINT ", '`', '`').map(str::to_owned);
            violation.column = quoted(message, "FOREIGN KEY (", '`', '`').map(str::to_owned);
            // `(`db`.`orders`, CONSTRAINT ...`: the table is the last name before the comma.
            violation.table = message
                .split_once("fails (")
                .and_then(|(_, rest)| rest.split_once(", CONSTRAINT"))
                .and_then(|(table, _)| table.trim_end_matches('`').rsplit('`').next())
                .map(str::to_owned);
            violation
        }
        // ER_BAD_NULL_ERROR, ER_NO_DEFAULT_FOR_FIELD.
        1048 | 1364 => {
            let mut violation = ConstraintViolation::new(ConstraintKind::NotNull);
            violation.column = quoted(message, "", '\'', '\'').map(str::to_owned);
            violation
        }
        // ER_DATA_TOO_LONG, ER_WARN_DATA_OUT_OF_RANGE, WARN_DATA_TRUNCATED,
        // ER_TRUNCATED_WRONG_VALUE, ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: errors in strict mode.
        1406 | 1264 | 1265 | 1292 | 1366 => {
            let mut violation = ConstraintViolation::new(ConstraintKind::Value);
            violation.column = message.rfind(" for column ").map(|at| {
                // `'total'`, or MariaDB's `` `db`.`t`.`total` ``: the last quoted name.
                let rest = &message[at + " for column ".len()..];
                let quoted = rest.split(" at row").next().unwrap_or(rest);
                let name = quoted.trim_matches(|c| c == '\'' || c == '`');
                name.rsplit("`.`").next().unwrap_or(name).to_owned()
            });
            violation
        }
        // ER_CONSTRAINT_FAILED (MariaDB), ER_CHECK_CONSTRAINT_VIOLATED (MySQL).
        4025 => {
            let mut violation = ConstraintViolation::new(ConstraintKind::Check);
            violation.constraint = quoted(message, "CONSTRAINT ", '`', '`').map(str::to_owned);
            violation
        }
        3819 => {
            let mut violation = ConstraintViolation::new(ConstraintKind::Check);
            violation.constraint = quoted(message, "constraint ", '\'', '\'').map(str::to_owned);
            violation
        }
        _ => return None,
    };
    if violation.constraint.as_deref() == Some("") {
        violation.constraint = None;
    }
    Some(violation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_constraint_messages_give_their_names_and_never_the_values() {
        let unique =
            mysql_constraint(1062, "Duplicate entry 'ada@x.io' for key 'users_email'").unwrap();
        assert_eq!(unique.kind, ConstraintKind::Unique);
        assert_eq!(unique.constraint.as_deref(), Some("users_email"));
        let mysql8 =
            mysql_constraint(1062, "Duplicate entry 'x' for key 'users.users_email'").unwrap();
        assert_eq!(mysql8.constraint.as_deref(), Some("users_email"));
        let fk = mysql_constraint(
            1452,
            "Cannot add or update a child row: a foreign key constraint fails (`t1`.`orders`, CONSTRAINT `orders_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`))",
        )
        .unwrap();
        assert_eq!(
            (
                fk.kind,
                fk.constraint.as_deref(),
                fk.column.as_deref(),
                fk.table.as_deref()
            ),
            (
                ConstraintKind::ForeignKey,
                Some("orders_user"),
                Some("user_id"),
                Some("orders")
            )
        );
        let null = mysql_constraint(1048, "Column 'name' cannot be null").unwrap();
        assert_eq!(null.column.as_deref(), Some("name"));
        let default = mysql_constraint(1364, "Field 'name' doesn't have a default value").unwrap();
        assert_eq!(default.column.as_deref(), Some("name"));
        let check =
            mysql_constraint(4025, "CONSTRAINT `positive` failed for `t1`.`orders`").unwrap();
        assert_eq!(check.constraint.as_deref(), Some("positive"));
        let check = mysql_constraint(3819, "Check constraint 'positive' is violated.").unwrap();
        assert_eq!(check.constraint.as_deref(), Some("positive"));
        let long = mysql_constraint(1406, "Data too long for column 'name' at row 1").unwrap();
        assert_eq!(
            (long.kind, long.column.as_deref()),
            (ConstraintKind::Value, Some("name"))
        );
        let range =
            mysql_constraint(1264, "Out of range value for column 'total' at row 1").unwrap();
        assert_eq!(range.column.as_deref(), Some("total"));
        let wrong = mysql_constraint(
            1366,
            "Incorrect integer value: 'abc' for column `db`.`orders`.`total` at row 1",
        )
        .unwrap();
        assert_eq!(wrong.column.as_deref(), Some("total"));
        assert!(mysql_constraint(1064, "You have an error in your SQL syntax").is_none());
    }
}
