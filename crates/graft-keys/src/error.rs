//! The error type of graft-keys.

/// Everything that can be wrong with a schema's keys, a representation, or an encoded key.
///
/// Representation errors carry `index`, the representation's position in the `_entities` call,
/// and name the field and the reason, so a gateway's user can find the bad input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The subgraph SDL does not parse or validate.
    #[error("{path}: invalid subgraph schema:\n{message}")]
    Schema {
        /// The file or name the SDL came from.
        path: String,
        /// apollo-compiler's diagnostics.
        message: String,
    },
    /// A `@key(fields: ...)` is not a valid key of its type.
    #[error("{type_name} @key(fields: {fields:?}){}: {message}", column.map(|c| format!(" at column {c}")).unwrap_or_default())]
    FieldSet {
        /// The type the key is declared on.
        type_name: String,
        /// The `fields` string.
        fields: String,
        /// 1-based column in `fields` where the problem is, when known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A string given to [`crate::EntityKey::decode`] is not an encoded key.
    #[error("not an encoded entity key ({message}): {encoded:?}")]
    Encoding {
        /// The input.
        encoded: String,
        /// What is wrong.
        message: String,
    },
    /// A text is not JSON ([`crate::Json::parse`], [`crate::JsonReader`]).
    #[error("invalid JSON: {message} at line {line} column {column}")]
    InvalidJson {
        /// What is wrong.
        message: String,
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
    },
    /// The `representations` argument is not a JSON list.
    #[error("representations must be a list: {message}")]
    NotAList {
        /// The JSON parser's message.
        message: String,
    },
    /// More representations than the limit allows.
    #[error("more than {limit} representations: this subgraph accepts at most {limit} per request")]
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// A representation is not a JSON object.
    #[error("representation {index}: expected an object, found {found}")]
    NotAnObject {
        /// Position in the call.
        index: usize,
        /// What was found instead.
        found: &'static str,
    },
    /// A representation has no `__typename`.
    #[error("representation {index}: `__typename` is missing")]
    MissingTypename {
        /// Position in the call.
        index: usize,
    },
    /// `__typename` is not a string.
    #[error("representation {index}: `__typename` must be a string, found {found}")]
    TypenameNotString {
        /// Position in the call.
        index: usize,
        /// What was found instead.
        found: String,
    },
    /// `__typename` names no entity type of this subgraph.
    #[error("representation {index}: `{type_name}` is not an entity type of this subgraph")]
    UnknownType {
        /// Position in the call.
        index: usize,
        /// The `__typename` given.
        type_name: String,
    },
    /// The type's keys are all `resolvable: false`.
    #[error(
        "representation {index}: this subgraph cannot resolve `{type_name}`: all its keys are `resolvable: false`"
    )]
    NotResolvable {
        /// Position in the call.
        index: usize,
        /// The type.
        type_name: String,
    },
    /// `__typename` names an entity interface: a representation names the entity's object
    /// type, the only kind graft resolves.
    #[error(
        "representation {index}: `{type_name}` is an interface: `__typename` must name one of its object types"
    )]
    InterfaceType {
        /// Position in the call.
        index: usize,
        /// The interface.
        type_name: String,
    },
    /// The type's only key lacks a field.
    #[error("representation {index} ({type_name}): key field `{field}` is missing")]
    MissingKeyField {
        /// Position in the call.
        index: usize,
        /// The type.
        type_name: String,
        /// The field's dotted path.
        field: String,
    },
    /// A key field is `null`.
    #[error("representation {index} ({type_name}): key field `{field}` is null")]
    NullKeyValue {
        /// Position in the call.
        index: usize,
        /// The type.
        type_name: String,
        /// The field's dotted path.
        field: String,
    },
    /// A key field's value does not have the schema's type.
    #[error(
        "representation {index} ({type_name}): key field `{field}` expects {expected}, found {found}"
    )]
    WrongKeyType {
        /// Position in the call.
        index: usize,
        /// The type.
        type_name: String,
        /// The field's dotted path.
        field: String,
        /// The schema's type.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A type with several keys, none of which the representation carries whole.
    #[error("representation {index}: matches none of {type_name}'s keys: {tried}")]
    NoMatchingKey {
        /// Position in the call.
        index: usize,
        /// The type.
        type_name: String,
        /// Each key with the field it lacked.
        tried: String,
    },
}

impl KeyError {
    /// The position of the representation this error concerns, if it concerns one.
    pub fn representation_index(&self) -> Option<usize> {
        match self {
            KeyError::NotAnObject { index, .. }
            | KeyError::MissingTypename { index }
            | KeyError::TypenameNotString { index, .. }
            | KeyError::UnknownType { index, .. }
            | KeyError::NotResolvable { index, .. }
            | KeyError::InterfaceType { index, .. }
            | KeyError::MissingKeyField { index, .. }
            | KeyError::NullKeyValue { index, .. }
            | KeyError::WrongKeyType { index, .. }
            | KeyError::NoMatchingKey { index, .. } => Some(*index),
            KeyError::Schema { .. }
            | KeyError::FieldSet { .. }
            | KeyError::Encoding { .. }
            | KeyError::InvalidJson { .. }
            | KeyError::NotAList { .. }
            | KeyError::TooMany { .. } => None,
        }
    }
}
