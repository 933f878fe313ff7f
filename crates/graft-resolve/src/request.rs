//! GraphQL requests and responses as the engine sees them.

use graft_keys::EntityKey;

use crate::ResolveError;
use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A GraphQL request, borrowing from the HTTP body where it can.
#[derive(Debug, Deserialize)]
pub struct GraphQLRequest<'a> {
    /// The query text.
    #[serde(borrow)]
    pub query: Option<Cow<'a, str>>,
    /// The operation to run, when the document has several.
    #[serde(borrow, default, rename = "operationName")]
    pub operation_name: Option<Cow<'a, str>>,
    /// The variables by name, each left as raw JSON until the plan says what it is for.
    #[serde(borrow, default)]
    pub variables: Option<Variables<'a>>,
    /// Extensions; graft reads none yet.
    #[serde(borrow, default)]
    pub extensions: Option<&'a RawValue>,
}

/// Request variables: names to raw JSON values.
pub type Variables<'a> = HashMap<Cow<'a, str>, &'a RawValue>;

/// One entry of a response's `errors`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphQLError {
    /// What went wrong, for a person.
    pub message: String,
    /// Where in the query, when known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    /// Where in the response data, for field errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<PathSegment>,
    /// A machine-readable code and details.
    pub extensions: ErrorExtensions,
}

/// A line and column in the query text, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Line.
    pub line: usize,
    /// Column.
    pub column: usize,
}

/// A step of an error path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// An object key: a response key or root field name from the plan, so pushing one onto a
    /// path for every field written costs a reference count, not an allocation.
    Key(apollo_compiler::Name),
    /// A list index.
    Index(usize),
}

/// The `extensions` of a [`GraphQLError`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorExtensions {
    /// A stable code: `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`,
    /// `BAD_USER_INPUT`, `INVALID_REPRESENTATION`, `FETCH_FAILED`, ...
    pub code: &'static str,
    /// More detail, by name.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl GraphQLError {
    /// An error with a code and no location or path.
    pub fn new(code: &'static str, message: impl Into<String>) -> GraphQLError {
        GraphQLError {
            message: message.into(),
            locations: Vec::new(),
            path: Vec::new(),
            extensions: ErrorExtensions {
                code,
                details: serde_json::Map::new(),
            },
        }
    }

    /// Sets the path.
    pub fn at(mut self, path: Vec<PathSegment>) -> GraphQLError {
        self.path = path;
        self
    }

    /// Adds a detail to the extensions.
    pub fn with_detail(mut self, name: &str, value: impl Into<serde_json::Value>) -> GraphQLError {
        self.extensions
            .details
            .insert(name.to_owned(), value.into());
        self
    }
}

/// The engine's answer: a serialized GraphQL response and what kind of response it is.
#[derive(Debug)]
pub struct GraphQLResponse {
    /// The JSON body.
    pub body: Vec<u8>,
    /// Whether execution started.
    pub kind: ResponseKind,
    /// Whether the body has `errors`: such a response is never to be cached.
    pub has_errors: bool,
    /// What the operation read and whether it wrote (`None` when it did not run).
    pub reads: Option<std::sync::Arc<graft_plan::Reads>>,
}

/// Whether a response carries data, which decides the HTTP status under
/// `application/graphql-response+json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// Execution ran; `data` is present (errors may be too).
    Executed,
    /// The request was rejected before execution (parse, validation, variables, limits).
    RequestError,
}

/// The error for an entity that could not be resolved: its message and extensions name the
/// type, the key (at most 200 characters of it), the source and the strategy that failed, and
/// the request id; the driver's own message goes to the log under that id, never to the client.
pub(crate) fn fetch_error(
    error: &ResolveError,
    key: &EntityKey,
    path: Vec<PathSegment>,
    strategy: &str,
    request_id: &str,
) -> GraphQLError {
    let mut shown = key.to_string();
    if shown.len() > 200 {
        shown.truncate(shown.floor_char_boundary(200));
        shown.push_str("...");
    }
    let source = match error {
        ResolveError::Source { source_name, .. } => source_name.clone(),
        _ => String::new(),
    };
    tracing::warn!(request_id, key = %shown, strategy, %error, "fetch failed");
    GraphQLError::new(
        "FETCH_FAILED",
        format!("could not resolve {shown}: {}", error.public_message()),
    )
    .at(path)
    .with_detail("type", key.type_name().to_string())
    .with_detail("key", shown)
    .with_detail("source", source)
    .with_detail("strategy", strategy.to_owned())
    .with_detail("requestId", request_id.to_owned())
}
