//! What an operation costs before it runs: its shape (depth, fields) and an estimate of the
//! rows it reads, after the IBM GraphQL cost specification that Apollo Router's demand control
//! also follows (`@cost`, `@listSize`).
//!
//! The planner measures; the engine decides. [`OperationPlan::compile_with`] records an
//! operation's [`Shape`] and, in every [`EntitySelection`], the estimated cost of one entity of
//! it with everything below. Costs that depend on the request (the number of representations, a
//! page's `first`) are multiplied in at execution. The only limit the planner enforces itself is
//! [`CompileOptions::max_fields`], so that planning stays bounded whatever the text asks for.
//!
//! [`OperationPlan::compile_with`]: crate::OperationPlan::compile_with
//! [`EntitySelection`]: crate::EntitySelection

use std::collections::HashMap;

use apollo_compiler::ast::Value;
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::{Name, Schema};

/// How the planner estimates list sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostModel {
    /// The assumed length of a `@hasMany` list that neither `@listSize(assumedSize:)` nor
    /// [`CostModel::list_sizes`] sizes (default 10).
    pub default_list_size: u32,
    /// Assumed list lengths by relation coordinate (`"OrgUser.orders"`); `@listSize` in the
    /// schema wins over these.
    pub list_sizes: HashMap<String, u32>,
}

impl Default for CostModel {
    fn default() -> CostModel {
        CostModel {
            default_list_size: 10,
            list_sizes: HashMap::new(),
        }
    }
}

/// Options of [`crate::OperationPlan::compile_with`].
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Planning stops with [`crate::PlanError::TooManyFields`] once the operation has more
    /// fields than this, counted after fragment expansion (default 100,000, a ceiling for
    /// planning itself; the configured limit is usually far lower).
    pub max_fields: u32,
    /// How list sizes are estimated.
    pub cost: CostModel,
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions {
            max_fields: PLANNING_CEILING,
            cost: CostModel::default(),
        }
    }
}

/// The most fields any operation may plan, whatever the configuration: planning an operation
/// costs time and memory in proportion to its fields, so even a limit that only measures
/// (`mode = "measure"`) keeps this one.
pub const PLANNING_CEILING: u32 = 100_000;

/// The size of an operation, measured while planning it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// The deepest nesting of selection sets: `{ a }` is 1, `{ a { b } }` 2. Fragments and
    /// inline fragments add no depth.
    pub depth: u32,
    /// Fields after fragment expansion: every response key of every selection set, aliases
    /// included, fields merged under one key counted once.
    pub fields: u32,
}

/// `@cost(weight:)` of a field definition, or else of the type it returns (a scalar's or
/// enum's); `None` when neither has one.
pub(crate) fn field_weight(schema: &Schema, type_name: &str, field: &str) -> Option<u64> {
    let definition = schema.type_field(type_name, field).ok()?;
    if let Some(weight) = weight(definition.directives.get("cost").map(|d| &**d)) {
        return Some(weight);
    }
    match schema.types.get(definition.ty.inner_named_type()) {
        Some(ExtendedType::Scalar(scalar)) => weight(scalar.directives.get("cost").map(|d| &***d)),
        Some(ExtendedType::Enum(e)) => weight(e.directives.get("cost").map(|d| &***d)),
        _ => None,
    }
}

/// The cost of one object of `type_name`: its `@cost(weight:)`, 1 by default.
pub(crate) fn object_weight(schema: &Schema, type_name: &Name) -> u64 {
    schema
        .get_object(type_name)
        .and_then(|object| weight(object.directives.get("cost").map(|d| &***d)))
        .unwrap_or(1)
}

/// `@listSize(assumedSize:)` of a field definition.
pub(crate) fn assumed_size(schema: &Schema, type_name: &str, field: &str) -> Option<u64> {
    let definition = schema.type_field(type_name, field).ok()?;
    let directive = definition.directives.get("listSize")?;
    match directive
        .specified_argument_by_name("assumedSize")
        .map(|v| &**v)
    {
        Some(Value::Int(size)) => size.try_to_i32().ok().map(|s| s.max(0) as u64),
        _ => None,
    }
}

fn weight(directive: Option<&apollo_compiler::ast::Directive>) -> Option<u64> {
    match directive?
        .specified_argument_by_name("weight")
        .map(|v| &**v)
    {
        Some(Value::Int(weight)) => weight.try_to_i32().ok().map(|w| w.max(0) as u64),
        _ => None,
    }
}
