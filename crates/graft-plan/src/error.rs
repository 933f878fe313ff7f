//! The error type of graft-plan.

/// Why an operation cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The document has several operations and the request named none.
    #[error("the document has several operations: name the one to run with `operationName`")]
    OperationNameRequired,
    /// `operationName` names no operation of the document.
    #[error("the document has no operation called `{0}`")]
    UnknownOperation(String),
    /// Mutations and subscriptions are not served.
    #[error("{0} operations are not supported: graft serves queries")]
    UnsupportedOperationType(&'static str),
    /// The operation has more fields, after fragment expansion, than planning allows.
    #[error(
        "the operation selects more than {limit} fields (aliases and fragment spreads included)"
    )]
    TooManyFields {
        /// The limit.
        limit: u32,
    },
    /// The operation's fragments under their `@include`/`@skip` conditions take more work to
    /// expand than planning allows ([`crate::PLANNING_WORK_CEILING`]), or leave its fields more
    /// conditions to check than a plan may keep ([`crate::PLANNING_CONDITIONS_CEILING`]).
    #[error("the operation's fragment spreads and their @include/@skip conditions {what}")]
    TooComplex {
        /// Which ceiling, and what passing it means.
        what: String,
        /// The ceiling.
        limit: u64,
    },
    /// An introspection query nests the list fields of the introspection schema (`fields`,
    /// `interfaces`, `possibleTypes`, `inputFields`) 3 deep or more.
    #[error(
        "the introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` \
         3 levels deep or more"
    )]
    IntrospectionTooDeep,
    /// A selected field that graft cannot answer.
    #[error("{coordinate}: {reason}")]
    UnsupportedField {
        /// `Type.field`.
        coordinate: String,
        /// Why.
        reason: String,
    },
}
