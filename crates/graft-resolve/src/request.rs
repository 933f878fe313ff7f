//! GraphQL requests and responses as the engine sees them.

use graft_keys::{EntityKey, Json, JsonReader};

use crate::ResolveError;
use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

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
    pub extensions: Option<Json<'a>>,
}

impl<'a> GraphQLRequest<'a> {
    /// Reads a request from a JSON body in one pass that checks its grammar (as serde_json
    /// does) and keeps each variable as the raw text it was sent as: `_entities`'
    /// representations are then read once more, by the key scanner, not twice. Accepts what
    /// the derived `Deserialize` accepts: unknown fields are skipped, `null` is as absent, a
    /// field given twice is an error, and so is anything after the object.
    pub fn from_json(body: &'a [u8]) -> Result<GraphQLRequest<'a>, graft_keys::KeyError> {
        let text = std::str::from_utf8(body).map_err(|error| {
            let valid = std::str::from_utf8(&body[..error.valid_up_to()]).unwrap_or_default();
            JsonReader::error_at(valid, valid.len(), "invalid UTF-8")
        })?;
        let mut request = GraphQLRequest {
            query: None,
            operation_name: None,
            variables: None,
            extensions: None,
        };
        const FIELDS: [&str; 4] = ["query", "operationName", "variables", "extensions"];
        let mut seen = [false; FIELDS.len()];
        let mut reader = JsonReader::new(text);
        reader.object(|reader, name| {
            let Some(field) = FIELDS.iter().position(|known| *known == name) else {
                reader.value()?; // a field graft does not read, checked all the same
                return Ok(());
            };
            if std::mem::replace(&mut seen[field], true) {
                return Err(reader.error(format!("duplicate field `{name}`")));
            }
            match FIELDS[field] {
                "query" => request.query = optional_string(reader, "query")?,
                "operationName" => {
                    request.operation_name = optional_string(reader, "operationName")?;
                }
                _ if reader.null() => {}
                "variables" => {
                    let mut variables = Variables::default();
                    reader.object(|reader, name| {
                        variables.insert(name, reader.value()?);
                        Ok(())
                    })?;
                    request.variables = Some(variables);
                }
                _ => request.extensions = Some(reader.value()?),
            }
            Ok(())
        })?;
        reader.end()?;
        Ok(request)
    }
}

/// A string or `null` for the field `name`.
fn optional_string<'a>(
    reader: &mut JsonReader<'a>,
    name: &str,
) -> Result<Option<Cow<'a, str>>, graft_keys::KeyError> {
    if reader.null() {
        return Ok(None);
    }
    reader.string().map(Some).map_err(|error| match error {
        graft_keys::KeyError::InvalidJson {
            message,
            line,
            column,
        } => graft_keys::KeyError::InvalidJson {
            message: format!("{message} for `{name}`"),
            line,
            column,
        },
        other => other,
    })
}

/// Request variables: names to raw JSON values.
pub type Variables<'a> = HashMap<Cow<'a, str>, Json<'a>>;

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// What a request holds, in plain types.
    type Summary = (
        Option<String>,
        Option<String>,
        Option<BTreeMap<String, String>>,
        Option<String>,
    );

    fn summary(request: &GraphQLRequest<'_>) -> Summary {
        (
            request.query.as_deref().map(str::to_owned),
            request.operation_name.as_deref().map(str::to_owned),
            request.variables.as_ref().map(|variables| {
                variables
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.get().to_owned()))
                    .collect()
            }),
            request.extensions.map(|value| value.get().to_owned()),
        )
    }

    fn with_serde(text: &str) -> Option<Summary> {
        serde_json::from_str::<GraphQLRequest<'_>>(text)
            .ok()
            .map(|request| summary(&request))
    }

    fn with_reader(text: &str) -> Option<Summary> {
        GraphQLRequest::from_json(text.as_bytes())
            .ok()
            .map(|request| summary(&request))
    }

    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i32>().prop_map(serde_json::Value::from),
            "[a-z\\n\"é]{0,6}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::vec(("[a-z]{0,3}", inner), 0..4)
                    .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// Request bodies with the four fields and others, in any order, some twice, of any type.
    fn any_body() -> impl Strategy<Value = String> {
        let field = (
            prop::sample::select(vec![
                "query",
                "operationName",
                "variables",
                "extensions",
                "other",
                "qu\\u0065ry",
            ]),
            any_json(),
            any::<bool>(),
        );
        prop::collection::vec(field, 0..5).prop_map(|fields| {
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(name, value, spaced)| {
                    let value = if spaced {
                        serde_json::to_string_pretty(&value).unwrap()
                    } else {
                        value.to_string()
                    };
                    format!("\"{name}\": {value}")
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        })
    }

    proptest! {
        #[test]
        fn reads_requests_as_the_derived_deserialize_does(body in any_body()) {
            prop_assert_eq!(with_reader(&body), with_serde(&body), "{}", body);
        }

        #[test]
        fn refuses_what_the_derived_deserialize_refuses(
            body in any_body(),
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"{}[]:,\"\\ -.0123456789eEtrufalsn\x01".to_vec()),
        ) {
            let mut bytes = body.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            if let Ok(text) = String::from_utf8(bytes) {
                prop_assert_eq!(with_reader(&text), with_serde(&text), "{}", text);
            }
        }
    }

    #[test]
    fn errors_name_the_field_and_the_place() {
        let error = GraphQLRequest::from_json(br#"{"query": 5}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid JSON: expected a string for `query` at line 1 column 11"
        );
        let error =
            GraphQLRequest::from_json(b"{\"query\": \"{ a }\", \"query\": null}").unwrap_err();
        assert!(
            error.to_string().contains("duplicate field `query`"),
            "{error}"
        );
        let error = GraphQLRequest::from_json(b"{\"query\": \"\xff\"}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid JSON: invalid UTF-8 at line 1 column 12"
        );
        let error = GraphQLRequest::from_json(br#"{"query": "{ a }"} x"#).unwrap_err();
        assert!(error.to_string().contains("trailing characters"), "{error}");
    }
}
