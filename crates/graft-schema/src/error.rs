//! The error type of graft-schema.

use graft_keys::KeyError;

/// Why a subgraph schema cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The SDL or one of its keys is invalid.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// A graft mapping directive or a field graft must resolve is not usable.
    #[error("{path}: {coordinate}: {message}")]
    Mapping {
        /// The schema file.
        path: String,
        /// The type or field, as `Type` or `Type.field`.
        coordinate: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}
