//! The error type of graft-tenancy.

/// Errors raised while building a [`Tenancy`](crate::Tenancy) from its configuration.
///
/// A request is never answered with one of these, nor with a store's error:
/// [`Tenancy::resolve`](crate::Tenancy::resolve) turns the latter into a
/// [`Rejection`](crate::Rejection) whose client-facing parts do not carry the error's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenancyError {
    /// The configuration is wrong; the message says what and where (`tenancy.jwt: ...`).
    #[error("{0}")]
    Config(String),
}

impl TenancyError {
    /// A [`TenancyError::Config`] for the setting at `path`.
    pub(crate) fn config(path: &str, message: impl std::fmt::Display) -> TenancyError {
        TenancyError::Config(format!("{path}: {message}"))
    }
}
