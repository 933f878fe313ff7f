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
use graft_schema::SubgraphSchema;
use serde_json::Value;

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
        return Err(problems.into_list());
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
            return Err(problems.into_list());
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
        return Err(problems.into_list());
    }
    let ids = ids(raw, &mut problems);
    let mut operations = Vec::with_capacity(raw.len());
    for (position, value) in raw.iter().enumerate() {
        if let Some(operation) = operation(position, value, &ids, schema, &mut problems) {
            operations.push(operation);
        }
    }
    if problems.count > 0 {
        return Err(problems.into_list());
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
            Err(problems.into_list())
        }
    }
}

/// The problems found, the first [`Problems::LISTED`] of them kept: a body of a few megabytes
/// can hold millions of bad items (`depends_on` entries, unknown keys), and the answer lists
/// what to fix, not each of them.
#[derive(Default)]
struct Problems {
    listed: Vec<BatchProblem>,
    /// Every problem found, listed or not.
    count: usize,
}

impl Problems {
    /// Most problems listed in one answer.
    const LISTED: usize = 100;

    fn request(&mut self, message: impl Into<String>) {
        self.push(None, message.into());
    }

    fn at(&mut self, operation: &str, message: impl Into<String>) {
        self.push(Some(operation), message.into());
    }

    fn push(&mut self, operation: Option<&str>, message: String) {
        self.count += 1;
        if self.listed.len() < Self::LISTED {
            self.listed.push(BatchProblem {
                operation: operation.map(str::to_owned),
                message,
            });
        }
    }

    /// The problems listed, and how many more there were.
    fn into_list(mut self) -> Vec<BatchProblem> {
        if self.count > self.listed.len() {
            self.listed.push(BatchProblem {
                operation: None,
                message: format!(
                    "{} more problems not listed",
                    self.count - self.listed.len()
                ),
            });
        }
        self.listed
    }
}

mod check;
mod order;
mod reference;
#[cfg(test)]
mod tests;

pub use check::value_fits;
use check::{ids, operation, options};
use order::waves;
pub use reference::MAX_TEMPLATE_BYTES;
