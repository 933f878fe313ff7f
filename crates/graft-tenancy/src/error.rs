//! The error type of graft-tenancy.

/// Errors raised while building a [`Tenancy`](crate::Tenancy) from its configuration, and by
/// tenant stores.
///
/// A request is never answered with one of these: [`Tenancy::resolve`](crate::Tenancy::resolve)
/// turns a store's error into a [`Rejection`](crate::Rejection) whose client-facing parts do not
/// carry the error's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenancyError {
    /// The configuration is wrong; the message says what and where (`tenancy.jwt: ...`).
    #[error("{0}")]
    Config(String),
    /// A tenant store could not answer (its database is down, a query failed).
    #[error("tenant store failed: {0}")]
    Store(String),
}

impl TenancyError {
    /// A [`TenancyError::Config`] for the setting at `path`.
    pub(crate) fn config(path: &str, message: impl std::fmt::Display) -> TenancyError {
        TenancyError::Config(format!("{path}: {message}"))
    }
}
