//! Planning a `/batch` request (pure): up to [`BatchLimits::max_operations`] create, read,
//! update and delete operations, checked against the schema, their `$ref` references parsed,
//! and ordered into waves of operations that depend on nothing still to run.
//!
//! [`plan_batch`] reports every problem at once, each with the operation it concerns, before
//! anything runs. References:
//!
//! - a whole value `"$ref:op.path"` takes the referenced value with its type (`"$ref:c.id"`
//!   is the number 7 when operation `c`'s `id` is 7);
//! - inside a longer string, `{$ref:op.path}` is replaced by the value's text, and `$$ref:`
//!   writes a literal `$ref:`;
//! - a path is `.`-separated keys and array indexes (`items.0.id`); operation ids are letters,
//!   digits, `_` and `-`.
//!
//! Every reference is a dependency, with or without `depends_on`. The order is a deterministic
//! topological sort: wave `n` holds the operations whose dependencies all ran in earlier waves,
//! in input order.

use std::fmt;

use apollo_compiler::Name;
use graft_schema::{EntityMapping, OutputScalar, SubgraphSchema};
use serde_json::{Map, Value};

/// How large a batch may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// The most operations in one batch (default 100).
    pub max_operations: usize,
}

impl Default for BatchLimits {
    fn default() -> BatchLimits {
        BatchLimits {
            max_operations: 100,
        }
    }
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchAction {
    /// Inserts a row from `store_params`.
    Create,
    /// Reads the rows `query_params` name.
    Read,
    /// Sets `store_params` on the row `query_params` names by key.
    Update,
    /// Deletes the row `query_params` names by key.
    Delete,
}

impl BatchAction {
    fn parse(action: &str) -> Option<BatchAction> {
        Some(match action {
            "create" => BatchAction::Create,
            "read" => BatchAction::Read,
            "update" => BatchAction::Update,
            "delete" => BatchAction::Delete,
            _ => return None,
        })
    }

    /// The action's name, as requests spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchAction::Create => "create",
            BatchAction::Read => "read",
            BatchAction::Update => "update",
            BatchAction::Delete => "delete",
        }
    }
}

/// How a batch runs (`options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// One transaction for the whole batch (`atomic`, default true).
    pub atomic: bool,
    /// Go on after a failed operation (`continueOnError`, default false).
    pub continue_on_error: bool,
    /// Run everything, collect every error, then roll back (`validate`, default false).
    pub validate: bool,
}

impl Default for BatchOptions {
    fn default() -> BatchOptions {
        BatchOptions {
            atomic: true,
            continue_on_error: false,
            validate: false,
        }
    }
}

/// One step of a reference's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A reference to a value another operation's result holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The referenced operation, by position in the batch.
    pub operation: usize,
    /// Where in its result.
    pub path: Vec<PathStep>,
}

/// A part of a string with references in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text as it is.
    Text(String),
    /// A referenced value's text.
    Ref(Reference),
}

/// A parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A value as given (no reference in it).
    Value(Value),
    /// A whole value that is a reference: the referenced value, with its type.
    Ref(Reference),
    /// A string with references in it.
    Template(Vec<Piece>),
}

/// One planned operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOperation {
    /// Its id.
    pub id: String,
    /// The entity type it works on.
    pub entity: Name,
    /// What it does.
    pub action: BatchAction,
    /// The values it writes, by GraphQL field.
    pub store: Vec<(Name, Param)>,
    /// The key or filter it reads, updates or deletes by, by GraphQL field.
    pub query: Vec<(Name, Param)>,
    /// The operations it depends on (by `depends_on` or by reference), by position, each once.
    pub depends_on: Vec<usize>,
}

/// A batch, checked and ordered.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPlan {
    /// The operations, in input order.
    pub operations: Vec<BatchOperation>,
    /// The waves: positions of operations whose dependencies ran in earlier waves.
    pub waves: Vec<Vec<usize>>,
    /// How the batch runs.
    pub options: BatchOptions,
}

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

impl BatchPlan {
    /// The operations' ids in the order they run.
    pub fn execution_order(&self) -> Vec<&str> {
        self.waves
            .iter()
            .flatten()
            .map(|&i| self.operations[i].id.as_str())
            .collect()
    }
}

impl fmt::Display for BatchPlan {
    /// A stable, readable form for snapshot tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match (self.options.atomic, self.options.continue_on_error) {
            (_, _) if self.options.validate => "validate: run everything, then roll back",
            (true, false) => "atomic: one transaction",
            (true, true) => "atomic, continue on error: one transaction, a savepoint per operation",
            (false, _) => "each operation on its own",
        };
        writeln!(f, "{mode}")?;
        for (n, wave) in self.waves.iter().enumerate() {
            write!(f, "wave {}:", n + 1)?;
            for &i in wave {
                let op = &self.operations[i];
                write!(f, " {} ({} {}", op.id, op.action.as_str(), op.entity)?;
                if !op.depends_on.is_empty() {
                    let after: Vec<&str> = op
                        .depends_on
                        .iter()
                        .map(|&d| self.operations[d].id.as_str())
                        .collect();
                    write!(f, ", after {}", after.join(" "))?;
                }
                write!(f, ")")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// One thing wrong with a batch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProblem {
    /// The operation concerned: its id, or `#<position>` when it has none; `None` for the
    /// request as a whole.
    pub operation: Option<String>,
    /// What is wrong, and where.
    pub message: String,
}

impl fmt::Display for BatchProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.operation {
            Some(operation) => write!(f, "operation {operation}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Checks and orders the batch request `body` against `schema`: the plan, or every problem.
pub fn plan_batch(
    body: &Value,
    schema: &SubgraphSchema,
    limits: &BatchLimits,
) -> Result<BatchPlan, Vec<BatchProblem>> {
    let mut problems = Problems::default();
    let Some(request) = body.as_object() else {
        problems.request("the body must be an object with `operations` and `options`");
        return Err(problems.0);
    };
    for key in request.keys() {
        if key != "operations" && key != "options" {
            problems.request(format!(
                "unknown key `{key}`: a batch has `operations` and `options`"
            ));
        }
    }
    let options = options(request.get("options"), &mut problems);
    let raw: &[Value] = match request.get("operations") {
        Some(Value::Array(operations)) => operations,
        _ => {
            problems.request("`operations` must be an array of operations");
            return Err(problems.0);
        }
    };
    if raw.is_empty() {
        problems.request("`operations` is empty");
    }
    if raw.len() > limits.max_operations {
        problems.request(format!(
            "{} operations: a batch has at most {}",
            raw.len(),
            limits.max_operations
        ));
        return Err(problems.0);
    }
    let ids = ids(raw, &mut problems);
    let mut operations = Vec::with_capacity(raw.len());
    for (position, value) in raw.iter().enumerate() {
        if let Some(operation) = operation(position, value, &ids, schema, &mut problems) {
            operations.push(operation);
        }
    }
    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    match waves(&operations) {
        Ok(waves) => Ok(BatchPlan {
            operations,
            waves,
            options,
        }),
        Err(cycle) => {
            let path: Vec<&str> = cycle.iter().map(|&i| operations[i].id.as_str()).collect();
            problems.at(
                &operations[cycle[0]].id,
                format!("its dependencies form a cycle: {}", path.join(" -> ")),
            );
            Err(problems.0)
        }
    }
}

#[derive(Default)]
struct Problems(Vec<BatchProblem>);

impl Problems {
    fn request(&mut self, message: impl Into<String>) {
        self.0.push(BatchProblem {
            operation: None,
            message: message.into(),
        });
    }

    fn at(&mut self, operation: &str, message: impl Into<String>) {
        self.0.push(BatchProblem {
            operation: Some(operation.to_owned()),
            message: message.into(),
        });
    }
}

fn options(value: Option<&Value>, problems: &mut Problems) -> BatchOptions {
    let mut options = BatchOptions::default();
    let Some(value) = value else {
        return options;
    };
    let Some(object) = value.as_object() else {
        problems.request("`options` must be an object");
        return options;
    };
    for (key, value) in object {
        let slot = match key.as_str() {
            "atomic" => &mut options.atomic,
            "continueOnError" => &mut options.continue_on_error,
            "validate" => &mut options.validate,
            other => {
                problems.request(format!(
                    "options: unknown option `{other}` (atomic, continueOnError, validate)"
                ));
                continue;
            }
        };
        match value.as_bool() {
            Some(flag) => *slot = flag,
            None => problems.request(format!("options.{key} must be true or false")),
        }
    }
    options
}

/// Whether `id` is a valid operation id: 1 to 64 letters, digits, `_` or `-`.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Every operation's id, `None` where it has no valid one; reports duplicates.
fn ids(raw: &[Value], problems: &mut Problems) -> Vec<Option<String>> {
    let mut ids: Vec<Option<String>> = Vec::with_capacity(raw.len());
    for (position, value) in raw.iter().enumerate() {
        let id = value.get("id").and_then(Value::as_str);
        match id {
            Some(id) if valid_id(id) => {
                if ids.iter().flatten().any(|other| other == id) {
                    problems.at(id, "its id is used by an earlier operation too");
                    ids.push(None);
                } else {
                    ids.push(Some(id.to_owned()));
                }
            }
            Some(id) => {
                let shown: String = id.chars().take(80).collect();
                problems.at(
                    &format!("#{position}"),
                    format!("id {shown:?}: use 1 to 64 letters, digits, `_` or `-`"),
                );
                ids.push(None);
            }
            None => {
                problems.at(&format!("#{position}"), "it needs an `id` string");
                ids.push(None);
            }
        }
    }
    ids
}

fn operation(
    position: usize,
    value: &Value,
    ids: &[Option<String>],
    schema: &SubgraphSchema,
    problems: &mut Problems,
) -> Option<BatchOperation> {
    let name = ids[position]
        .clone()
        .unwrap_or_else(|| format!("#{position}"));
    let Some(object) = value.as_object() else {
        problems.at(&name, "an operation must be an object");
        return None;
    };
    let before = problems.0.len();
    for key in object.keys() {
        match key.as_str() {
            "id" | "entity" | "action" | "store_params" | "query_params" | "depends_on" => {}
            "claims" => problems.at(
                &name,
                "`claims` is refused: an operation's rights come from the caller's credential \
                 only",
            ),
            other => problems.at(
                &name,
                format!(
                    "unknown key `{other}` (id, entity, action, store_params, query_params, \
                     depends_on)"
                ),
            ),
        }
    }
    let mapping = match object.get("entity").and_then(Value::as_str) {
        Some(entity) => match schema.mapping(entity) {
            Some(mapping) => Some(mapping),
            None => {
                problems.at(&name, format!("entity `{entity}` is not a mapped type"));
                None
            }
        },
        None => {
            problems.at(&name, "it needs an `entity` string, a mapped type");
            None
        }
    };
    let action = match object.get("action").and_then(Value::as_str) {
        Some(action) => BatchAction::parse(action).or_else(|| {
            problems.at(
                &name,
                format!("action `{action}`: use create, read, update or delete"),
            );
            None
        }),
        None => {
            problems.at(
                &name,
                "it needs an `action`: create, read, update or delete",
            );
            None
        }
    };
    let mut depends_on = Vec::new();
    match object.get("depends_on") {
        None => {}
        Some(Value::Array(list)) => {
            for dependency in list {
                match dependency.as_str().and_then(|d| position_of(ids, d)) {
                    Some(d) if d == position => {
                        problems.at(&name, "it depends on itself");
                    }
                    Some(d) => {
                        if !depends_on.contains(&d) {
                            depends_on.push(d);
                        }
                    }
                    None => problems.at(
                        &name,
                        format!("depends_on names no operation of the batch: {dependency}"),
                    ),
                }
            }
        }
        Some(_) => problems.at(&name, "`depends_on` must be an array of operation ids"),
    }
    let (Some(mapping), Some(action)) = (mapping, action) else {
        return None;
    };
    let wants_store = matches!(action, BatchAction::Create | BatchAction::Update);
    let wants_query = !matches!(action, BatchAction::Create);
    let mut fields = |key: &str, wanted: bool| -> Vec<(Name, Param)> {
        let Some(value) = object.get(key) else {
            if wanted && !(key == "query_params" && action == BatchAction::Read) {
                problems.at(&name, format!("{} needs `{key}`", action.as_str()));
            }
            return Vec::new();
        };
        if !wanted {
            problems.at(&name, format!("{} takes no `{key}`", action.as_str()));
            return Vec::new();
        }
        let Some(params) = value.as_object() else {
            problems.at(&name, format!("`{key}` must be an object of fields"));
            return Vec::new();
        };
        params_of(
            &name,
            key,
            params,
            mapping,
            position,
            ids,
            problems,
            &mut depends_on,
        )
    };
    let store = fields("store_params", wants_store);
    let query = fields("query_params", wants_query);
    if problems.0.len() > before {
        return None;
    }
    Some(BatchOperation {
        id: name,
        entity: mapping.type_name.clone(),
        action,
        store,
        query,
        depends_on,
    })
}

fn position_of(ids: &[Option<String>], id: &str) -> Option<usize> {
    ids.iter().position(|other| other.as_deref() == Some(id))
}

/// The parameters of `params` (the operation's `key`), each a mapped field of `mapping` with
/// a value of its type or a reference; adds each reference's operation to `depends_on`.
#[allow(clippy::too_many_arguments)]
fn params_of(
    name: &str,
    key: &str,
    params: &Map<String, Value>,
    mapping: &EntityMapping,
    position: usize,
    ids: &[Option<String>],
    problems: &mut Problems,
    depends_on: &mut Vec<usize>,
) -> Vec<(Name, Param)> {
    let mut out = Vec::with_capacity(params.len());
    for (field, value) in params {
        let Some(column) = mapping.column(field) else {
            problems.at(
                name,
                format!("{key}.{field}: {} has no such field", mapping.type_name),
            );
            continue;
        };
        let param = match param(value, ids) {
            Ok(param) => param,
            Err(message) => {
                problems.at(name, format!("{key}.{field}: {message}"));
                continue;
            }
        };
        let mut refs = Vec::new();
        match &param {
            Param::Value(value) => {
                if let Err(expected) = fits(value, column.ty.scalar, column.ty.nullable) {
                    problems.at(
                        name,
                        format!("{key}.{field}: expected {expected}, got {value}"),
                    );
                    continue;
                }
            }
            Param::Ref(reference) => refs.push(reference.operation),
            Param::Template(pieces) => refs.extend(pieces.iter().filter_map(|p| match p {
                Piece::Ref(reference) => Some(reference.operation),
                Piece::Text(_) => None,
            })),
        }
        for operation in refs {
            if operation == position {
                problems.at(name, format!("{key}.{field}: it refers to itself"));
            } else if !depends_on.contains(&operation) {
                depends_on.push(operation);
            }
        }
        out.push((column.field.clone(), param));
    }
    out
}

/// Whether `value` can be a value of a field of type `scalar`; the expected type otherwise.
fn fits(value: &Value, scalar: OutputScalar, nullable: bool) -> Result<(), &'static str> {
    let ok = match (value, scalar) {
        (Value::Null, _) => nullable,
        (Value::String(_), OutputScalar::Id | OutputScalar::String | OutputScalar::Enum) => true,
        (Value::Number(n), OutputScalar::Id) => n.is_i64() || n.is_u64(),
        (Value::Number(n), OutputScalar::Int) => {
            n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
        }
        (Value::Number(_), OutputScalar::Float) => true,
        (Value::Bool(_), OutputScalar::Boolean) => true,
        (_, OutputScalar::Custom) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(match (value, scalar) {
        (Value::Null, _) => "a value: the field is not nullable",
        (_, OutputScalar::Id) => "an ID (a string or an integer)",
        (_, OutputScalar::String | OutputScalar::Enum) => "a string",
        (_, OutputScalar::Int) => "a 32-bit integer",
        (_, OutputScalar::Float) => "a number",
        (_, OutputScalar::Boolean) => "true or false",
        (_, OutputScalar::Custom) => "a value",
    })
}

const REF: &str = "$ref:";

/// `value` as a parameter: a whole reference, a string with references, or a plain value
/// (arrays and objects are plain: references are read in strings only).
fn param(value: &Value, ids: &[Option<String>]) -> Result<Param, String> {
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

/// The waves of `operations`, or a cycle (positions, first repeated at the end).
fn waves(operations: &[BatchOperation]) -> Result<Vec<Vec<usize>>, Vec<usize>> {
    let mut wave_of: Vec<Option<usize>> = vec![None; operations.len()];
    let mut waves: Vec<Vec<usize>> = Vec::new();
    let mut placed = 0;
    while placed < operations.len() {
        let ready: Vec<usize> = (0..operations.len())
            .filter(|&i| wave_of[i].is_none())
            .filter(|&i| {
                operations[i]
                    .depends_on
                    .iter()
                    .all(|&d| wave_of[d].is_some())
            })
            .collect();
        if ready.is_empty() {
            return Err(cycle(operations, &wave_of));
        }
        for &i in &ready {
            wave_of[i] = Some(waves.len());
        }
        placed += ready.len();
        waves.push(ready);
    }
    Ok(waves)
}

/// A cycle among the operations not placed: follow unplaced dependencies until one repeats.
fn cycle(operations: &[BatchOperation], wave_of: &[Option<usize>]) -> Vec<usize> {
    let start = (0..operations.len())
        .find(|&i| wave_of[i].is_none())
        .expect("an operation is left");
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = operations[current]
            .depends_on
            .iter()
            .copied()
            .find(|&d| wave_of[d].is_none())
            .expect("an unplaced operation waits on another unplaced one");
        if let Some(at) = path.iter().position(|&p| p == next) {
            let mut cycle = path[at..].to_vec();
            cycle.push(next);
            return cycle;
        }
        path.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::*;

    const SDL: &str = r#"
type Customer @key(fields: "id") @table(name: "customers") { id: ID! name: String! vip: Boolean }
type Invoice @key(fields: "id") @table(name: "invoices") { id: ID! customerId: Int! note: String total: Float }
"#;

    fn schema() -> SubgraphSchema {
        SubgraphSchema::parse(SDL, "batch.graphql").expect("valid")
    }

    fn plan(body: Value) -> Result<BatchPlan, Vec<BatchProblem>> {
        plan_batch(&body, &schema(), &BatchLimits::default())
    }

    fn check(body: Value, expected: Expect) {
        let shown = match plan(body) {
            Ok(plan) => plan.to_string(),
            Err(problems) => problems.iter().map(|p| format!("{p}\n")).collect(),
        };
        expected.assert_eq(&shown);
    }

    #[test]
    fn the_invoice_example_runs_in_waves_ordered_by_references() {
        check(
            json!({ "operations": [
                { "id": "line", "entity": "Invoice", "action": "create",
                  "store_params": { "customerId": "$ref:customer.id", "note": "for {$ref:customer.name}, $$ref: kept" } },
                { "id": "customer", "entity": "Customer", "action": "create",
                  "store_params": { "name": "Ada", "vip": true } },
                { "id": "audit", "entity": "Customer", "action": "read", "query_params": { "vip": true } },
                { "id": "done", "entity": "Invoice", "action": "update",
                  "query_params": { "id": "$ref:line.id" }, "store_params": { "total": 12.5 },
                  "depends_on": ["audit"] }
            ]}),
            expect![[r#"
                atomic: one transaction
                wave 1: customer (create Customer) audit (read Customer)
                wave 2: line (create Invoice, after customer)
                wave 3: done (update Invoice, after audit line)
            "#]],
        );
        let plan = plan(json!({ "operations": [
            { "id": "c", "entity": "Customer", "action": "create", "store_params": { "name": "x" } },
            { "id": "i", "entity": "Invoice", "action": "create",
              "store_params": { "customerId": "$ref:c.items.0.id", "note": "a {$ref:c.name} b" } }
        ], "options": { "atomic": false, "continueOnError": true } }))
        .expect("plans");
        assert_eq!(plan.execution_order(), ["c", "i"]);
        assert!(!plan.options.atomic && plan.options.continue_on_error);
        let store = &plan.operations[1].store;
        assert_eq!(
            store[0].1,
            Param::Ref(Reference {
                operation: 0,
                path: vec![
                    PathStep::Key("items".into()),
                    PathStep::Index(0),
                    PathStep::Key("id".into())
                ]
            })
        );
        assert_eq!(
            store[1].1,
            Param::Template(vec![
                Piece::Text("a ".into()),
                Piece::Ref(Reference {
                    operation: 0,
                    path: vec![PathStep::Key("name".into())]
                }),
                Piece::Text(" b".into()),
            ])
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_operation() {
        check(
            json!({ "operations": [
                { "id": "a", "entity": "Customer", "action": "create", "store_params": { "name": 7, "age": 3 } },
                { "id": "a", "entity": "Customer", "action": "read" },
                { "id": "bad id!", "entity": "Nope", "action": "create" },
                { "id": "b", "entity": "Customer", "action": "merge" },
                { "id": "c", "entity": "Invoice", "action": "delete", "query_params": { "id": "$ref:zz.id" },
                  "depends_on": ["ghost", "c"] },
                { "id": "d", "entity": "Invoice", "action": "create", "claims": { "admin": true },
                  "store_params": { "customerId": "$ref:a.", "note": "x $ref:a.id" } },
                { "id": "e", "entity": "Invoice", "action": "read", "store_params": { "note": "x" } }
            ], "options": { "atomic": "yes", "fast": true }, "extra": 1 }),
            expect![[r#"
                unknown key `extra`: a batch has `operations` and `options`
                options.atomic must be true or false
                options: unknown option `fast` (atomic, continueOnError, validate)
                operation a: its id is used by an earlier operation too
                operation #2: id "bad id!": use 1 to 64 letters, digits, `_` or `-`
                operation a: store_params.age: Customer has no such field
                operation a: store_params.name: expected a string, got 7
                operation #2: entity `Nope` is not a mapped type
                operation b: action `merge`: use create, read, update or delete
                operation c: depends_on names no operation of the batch: "ghost"
                operation c: it depends on itself
                operation c: query_params.id: reference `$ref:zz.id`: the batch has no operation `zz`
                operation d: `claims` is refused: an operation's rights come from the caller's credential only
                operation d: store_params.customerId: reference `$ref:a.`: each step of a path is a key (letters, digits, `_`) or an index, between single dots
                operation d: store_params.note: a reference inside a string is written {$ref:op.path}, and the text $ref: as $$ref: ("x $ref:a.id")
                operation e: read takes no `store_params`
            "#]],
        );
        check(
            json!({ "operations": [] }),
            expect![[r#"
                `operations` is empty
            "#]],
        );
        let many: Vec<Value> = (0..101)
            .map(|i| json!({ "id": format!("o{i}"), "entity": "Customer", "action": "read" }))
            .collect();
        check(
            json!({ "operations": many }),
            expect![[r#"
                101 operations: a batch has at most 100
            "#]],
        );
    }

    #[test]
    fn a_cycle_is_refused_with_its_path() {
        check(
            json!({ "operations": [
                { "id": "free", "entity": "Customer", "action": "read" },
                { "id": "a", "entity": "Customer", "action": "update", "query_params": { "id": "$ref:c.id" },
                  "store_params": { "name": "x" } },
                { "id": "b", "entity": "Customer", "action": "read", "depends_on": ["a"] },
                { "id": "c", "entity": "Customer", "action": "read", "depends_on": ["b"] }
            ]}),
            expect![[r#"
                operation a: its dependencies form a cycle: a -> c -> b -> a
            "#]],
        );
    }

    #[test]
    fn references_resolve_with_their_types_or_say_what_the_result_has() {
        let results = vec![
            Some(json!({ "id": 7, "name": "Ada", "items": [{ "id": "x1" }], "0": "zero" })),
            None,
        ];
        let reference = |path: Vec<PathStep>| Reference { operation: 0, path };
        let key = |k: &str| PathStep::Key(k.into());
        assert_eq!(
            Param::Ref(reference(vec![key("id")])).resolve(&results),
            Ok(json!(7))
        );
        let nested = reference(vec![key("items"), PathStep::Index(0), key("id")]);
        assert_eq!(nested.resolve(&results), Ok(&json!("x1")));
        let template = Param::Template(vec![
            Piece::Text("#".into()),
            Piece::Ref(reference(vec![key("id")])),
            Piece::Text(" for ".into()),
            Piece::Ref(reference(vec![key("name")])),
        ]);
        assert_eq!(template.resolve(&results), Ok(json!("#7 for Ada")));
        assert_eq!(
            reference(vec![PathStep::Index(0)]).resolve(&results),
            Ok(&json!("zero"))
        );
        assert_eq!(
            reference(vec![key("nope")]).resolve(&results),
            Err("the result has no `nope`; it has 0, id, items, name".to_owned())
        );
        assert_eq!(
            reference(vec![key("items"), PathStep::Index(3)]).resolve(&results),
            Err("`items` has 1 items, no item 3".to_owned())
        );
        assert_eq!(
            reference(vec![key("id"), key("x")]).resolve(&results),
            Err("`id` is 7, which has no key `x`".to_owned())
        );
        let unrun = Reference {
            operation: 1,
            path: vec![],
        };
        assert_eq!(
            unrun.resolve(&results),
            Err("operation #1 has no result".to_owned())
        );
    }

    /// The words a batch request is made of, and a few more: what generated requests use as
    /// keys and strings, so that they reach past the first check.
    const WORDS: [&str; 16] = [
        "operations",
        "options",
        "id",
        "entity",
        "action",
        "store_params",
        "query_params",
        "depends_on",
        "Customer",
        "create",
        "read",
        "name",
        "customerId",
        "atomic",
        "a",
        "0",
    ];

    /// Any JSON value, nested a few levels.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let word = proptest::sample::select(WORDS.to_vec()).prop_map(str::to_owned);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<f64>().prop_map(|f| json!(f)),
            "(\\$\\$?ref:|\\{\\$ref:|[a-z0-9_.}{-]){0,12}".prop_map(Value::String),
            word.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(word.clone(), inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #[test]
        fn no_request_and_no_result_makes_planning_or_resolving_panic(
            body in any_json(),
            result in any_json(),
            path in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-z0-9]{1,3}".prop_map(PathStep::Key),
                    (0usize..4).prop_map(PathStep::Index),
                ],
                0..4,
            ),
        ) {
            let _ = plan(body);
            let _ = Reference { operation: 0, path }.resolve(&[Some(result)]);
        }

        #[test]
        fn random_dags_respect_every_edge_and_back_edges_are_cycles(
            edges in proptest::collection::vec((0usize..20, 0usize..20), 0..60),
            back in proptest::option::of((0usize..20, 0usize..20)),
        ) {
            // Edges from an earlier to a later operation form a DAG; one more from a later to
            // an earlier one closes a cycle when a path leads back.
            let mut depends: Vec<Vec<String>> = vec![Vec::new(); 20];
            for (a, b) in edges {
                if a < b && !depends[b].contains(&format!("o{a}")) {
                    depends[b].push(format!("o{a}"));
                }
            }
            let operations = |depends: &[Vec<String>]| -> Value {
                let ops: Vec<Value> = (0..20).rev().map(|i| json!({
                    "id": format!("o{i}"), "entity": "Customer", "action": "read",
                    "depends_on": depends[i],
                })).collect();
                json!({ "operations": ops })
            };
            let planned = plan(operations(&depends)).expect("a DAG plans");
            let wave_of = |id: &str| planned.waves.iter().position(|w| w.iter().any(|&i| planned.operations[i].id == id)).unwrap();
            for (b, list) in depends.iter().enumerate() {
                let later = format!("o{b}");
                for a in list {
                    proptest::prop_assert!(wave_of(a) < wave_of(&later));
                }
            }
            if let Some((x, y)) = back.filter(|&(x, y)| x < y && !depends[x].contains(&format!("o{y}"))) {
                // Whether a path of dependents leads from x to y: then x depending on y
                // closes a cycle.
                let mut seen = [false; 20];
                let mut stack = vec![x];
                while let Some(n) = stack.pop() {
                    for (m, list) in depends.iter().enumerate() {
                        if list.contains(&format!("o{n}")) && !seen[m] {
                            seen[m] = true;
                            stack.push(m);
                        }
                    }
                }
                depends[x].push(format!("o{y}"));
                let outcome = plan(operations(&depends));
                if seen[y] {
                    let problems = outcome.expect_err("a cycle");
                    proptest::prop_assert!(problems[0].message.contains("form a cycle"));
                } else {
                    proptest::prop_assert!(outcome.is_ok());
                }
            }
        }
    }
}
