//! References between operations: `$ref:op.path` parsed into [`Param`]s, and resolved
//! against earlier results.

use serde_json::Value;

use super::check::{position_of, valid_id};
use super::{Param, PathStep, Piece, Reference};

/// The longest text a string with references may resolve to.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

impl Param {
    /// The value, its references taken from `results` (each operation's result, by position;
    /// `None` for one that has not run): a whole reference keeps the referenced value's type,
    /// a string with references gets each value's text (a string as it is, anything else as
    /// JSON). A path the result does not have is an error naming the keys (or the length) it
    /// does have.
    pub fn resolve(&self, results: &[Option<Value>]) -> Result<Value, String> {
        match self {
            Param::Value(value) => Ok(value.clone()),
            Param::Ref(reference) => reference.resolve(results).cloned(),
            Param::Template(pieces) => {
                let mut text = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(literal) => text.push_str(literal),
                        Piece::Ref(reference) => match reference.resolve(results)? {
                            Value::String(s) => text.push_str(s),
                            other => text.push_str(&other.to_string()),
                        },
                    }
                    // A template may name one large result many times: its text is bounded
                    // as it grows, not once it is whole.
                    if text.len() > MAX_TEMPLATE_BYTES {
                        return Err(format!(
                            "the text its references make is longer than {MAX_TEMPLATE_BYTES} bytes"
                        ));
                    }
                }
                Ok(Value::String(text))
            }
        }
    }
}

impl Reference {
    /// The referenced value in `results`.
    pub fn resolve<'r>(&self, results: &'r [Option<Value>]) -> Result<&'r Value, String> {
        let mut value = results
            .get(self.operation)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("operation #{} has no result", self.operation))?;
        for (depth, step) in self.path.iter().enumerate() {
            let at = || {
                let steps: Vec<String> = self.path[..depth]
                    .iter()
                    .map(|step| match step {
                        PathStep::Key(key) => key.clone(),
                        PathStep::Index(index) => index.to_string(),
                    })
                    .collect();
                if steps.is_empty() {
                    "the result".to_owned()
                } else {
                    format!("`{}`", steps.join("."))
                }
            };
            value =
                match (step, value) {
                    (PathStep::Key(key), Value::Object(object)) => {
                        object.get(key).ok_or_else(|| {
                            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
                            format!("{} has no `{key}`; it has {}", at(), keys.join(", "))
                        })?
                    }
                    (PathStep::Index(index), Value::Array(items)) => {
                        items.get(*index).ok_or_else(|| {
                            format!("{} has {} items, no item {index}", at(), items.len())
                        })?
                    }
                    // An index into an object is a key that happens to be digits.
                    (PathStep::Index(index), Value::Object(object)) => object
                        .get(&index.to_string())
                        .ok_or_else(|| format!("{} is an object without a key `{index}`", at()))?,
                    (PathStep::Key(key), other) => {
                        return Err(format!("{} is {other}, which has no key `{key}`", at()));
                    }
                    (PathStep::Index(index), other) => {
                        return Err(format!("{} is {other}, which has no item {index}", at()));
                    }
                };
        }
        Ok(value)
    }
}

const REF: &str = "$ref:";

/// `value` as a parameter: a whole reference, a string with references, or a plain value
/// (arrays and objects are plain: references are read in strings only).
pub(super) fn param(value: &Value, ids: &[Option<String>]) -> Result<Param, String> {
    let Value::String(text) = value else {
        return Ok(Param::Value(value.clone()));
    };
    if let Some(rest) = text.strip_prefix(REF) {
        return Ok(Param::Ref(reference(rest, ids)?));
    }
    if !text.contains(REF) && !text.contains("$$ref:") {
        return Ok(Param::Value(value.clone()));
    }
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("$$ref:") {
            literal.push_str(REF);
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{$ref:") {
            let end = after
                .find('}')
                .ok_or_else(|| format!("`{{$ref:` without its closing `}}` in {text:?}"))?;
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Ref(reference(&after[..end], ids)?));
            rest = &after[end + 1..];
        } else if rest.starts_with(REF) {
            return Err(format!(
                "a reference inside a string is written {{$ref:op.path}}, and the text $ref: as \
                 $$ref: ({text:?})"
            ));
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                literal.push(c);
            }
            rest = chars.as_str();
        }
    }
    if pieces.is_empty() {
        return Ok(Param::Value(Value::String(literal)));
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(Param::Template(pieces))
}

/// `op.path` as a reference to an operation of the batch.
fn reference(text: &str, ids: &[Option<String>]) -> Result<Reference, String> {
    let mut steps = text.split('.');
    let operation = steps.next().unwrap_or_default();
    if !valid_id(operation) {
        return Err(format!(
            "reference `$ref:{text}`: it starts with an operation id (letters, digits, `_`, `-`)"
        ));
    }
    let operation = position_of(ids, operation).ok_or_else(|| {
        format!("reference `$ref:{text}`: the batch has no operation `{operation}`")
    })?;
    let mut path = Vec::new();
    for step in steps {
        if step.is_empty() || !step.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "reference `$ref:{text}`: each step of a path is a key (letters, digits, `_`) \
                 or an index, between single dots"
            ));
        }
        path.push(match step.parse::<usize>() {
            Ok(index) => PathStep::Index(index),
            Err(_) => PathStep::Key(step.to_owned()),
        });
    }
    Ok(Reference { operation, path })
}
