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

/// The most work collecting an operation's fields may take, whatever the configuration: each
/// selection visited costs one plus the `@include`/`@skip` conditions it is under. A fragment
/// is expanded once per selection set and combination of conditions; conditions on spreads
/// nested level under level multiply those combinations (30 levels of two spreads under
/// different variables make 2^30), so this bounds planning's time and memory where the field
/// count cannot (every combination reaches the same fields). Ordinary operations take a few
/// thousand.
pub const PLANNING_WORK_CEILING: u64 = 400_000;

/// The most `@include`/`@skip` conditions a plan may keep beyond each field's first
/// combination, over all its fields: a field reached under several combinations keeps each
/// distinct one, and each object answered checks them all, so a plan that kept many would cost
/// every request that reuses it. A field selected under two different conditions keeps one
/// more; ordinary operations keep a handful.
pub const PLANNING_CONDITIONS_CEILING: u64 = 1_000;

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

#[cfg(test)]
mod tests {
    //! Costs, shapes and loads of compiled operations.

    use apollo_compiler::executable::ExecutableDocument;
    use graft_schema::SubgraphSchema;

    use super::*;
    use crate::{EntitySelection, FieldValue, LoadId, OperationPlan, PlanError, RootKind};

    const COST_SDL: &str = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@cost", "@listSize"])
        type Query { order(id: ID!): Order }
        type Order @key(fields: "id") {
          id: ID! total: Float @cost(weight: 3) userId: ID!
          user: User @belongsTo(fields: "userId")
        }
        type User @key(fields: "id") @cost(weight: 5) {
          id: ID! name: String
          orders: [Order!]! @hasMany(fields: "userId")
          recent: [Order!]! @hasMany(fields: "userId") @listSize(assumedSize: 2)
        }
    "#;

    fn compile(
        sdl: &str,
        query: &str,
        options: &CompileOptions,
    ) -> Result<OperationPlan, PlanError> {
        let schema = SubgraphSchema::parse(sdl, "plan.graphql").expect("valid schema");
        let document =
            ExecutableDocument::parse_and_validate(schema.api_schema(), query, "query.graphql")
                .expect("valid query");
        OperationPlan::compile_with(&schema, &document, None, options)
    }

    fn by_key_selection(plan: &OperationPlan) -> &EntitySelection {
        match &plan.root[0].kind {
            RootKind::ByKey { selection, .. } => selection,
            other => panic!("not a lookup: {other:?}"),
        }
    }

    #[test]
    fn estimated_cost_follows_weights_list_sizes_and_the_model() {
        let query = "{ order(id: 1) { total user { name orders { id } recent { total } } } }";
        let plan = compile(COST_SDL, query, &CompileOptions::default()).expect("plans");
        // Order 1 + total 3 + User (weight 5 + orders 10 × 1 + recent 2 × (1 + 3)) = 27.
        assert_eq!(by_key_selection(&plan).cost, 27);
        assert_eq!(
            plan.shape,
            Shape {
                depth: 4,
                fields: 8
            }
        );

        let mut options = CompileOptions::default();
        options.cost.default_list_size = 3;
        options.cost.list_sizes.insert("User.orders".into(), 100);
        options.cost.list_sizes.insert("User.recent".into(), 100);
        let plan = compile(COST_SDL, query, &options).expect("plans");
        // The configured size for `orders`; `@listSize` wins for `recent`.
        assert_eq!(by_key_selection(&plan).cost, 1 + 3 + 5 + 100 + 2 * 4);
    }

    #[test]
    fn a_fragment_spread_twice_is_expanded_once_and_aliases_share_a_load() {
        let query =
            "{ order(id: 1) { ...A ...A a: user { name } b: user { name } c: user { id } } }
            fragment A on Order { id ...B ...B } fragment B on Order { total }";
        let plan = compile(COST_SDL, query, &CompileOptions::default()).expect("plans");
        let selection = by_key_selection(&plan);
        let loads: Vec<Option<LoadId>> = selection
            .fields
            .iter()
            .filter_map(|f| match &f.value {
                FieldValue::Related(related) => Some(related.load),
                _ => None,
            })
            .collect();
        assert_eq!(loads, [Some(LoadId(0)), Some(LoadId(0)), Some(LoadId(1))]);
        // order; id, total, a, b, c; then name, name, id below them.
        assert_eq!(plan.shape.fields, 9);
    }

    #[test]
    fn the_same_fields_in_another_order_read_the_same_columns() {
        let options = CompileOptions::default();
        let a = compile(
            COST_SDL,
            "{ order(id: 1) { total user { name } id } }",
            &options,
        )
        .expect("plans");
        let b = compile(
            COST_SDL,
            "{ order(id: 1) { id user { name } total } }",
            &options,
        )
        .expect("plans");
        let (a, b) = (by_key_selection(&a), by_key_selection(&b));
        assert_eq!(a.columns, b.columns);
        assert!(a.columns.is_sorted(), "{:?}", a.columns);
        // Each field still reads its own column.
        let slot_of = |selection: &EntitySelection, name: &str| {
            selection.fields.iter().find_map(|f| match f.value {
                FieldValue::Column { slot, .. } if f.response_key.name() == name => {
                    Some(selection.columns[slot])
                }
                _ => None,
            })
        };
        assert_eq!(slot_of(a, "total"), slot_of(b, "total"));
        assert_eq!(slot_of(a, "id"), slot_of(b, "id"));
    }

    #[test]
    fn planning_stops_at_the_field_limit() {
        let query = "{ order(id: 1) { a: id b: id c: id d: id } }";
        let options = CompileOptions {
            max_fields: 4,
            ..CompileOptions::default()
        };
        assert_eq!(
            compile(COST_SDL, query, &options).unwrap_err(),
            PlanError::TooManyFields { limit: 4 }
        );
    }

    #[test]
    fn introspection_counts_towards_fields_and_is_bounded_by_its_lists() {
        let plan = compile(
            COST_SDL,
            "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }",
            &CompileOptions::default(),
        )
        .expect("plans");
        // `ofType` chains are as deep as a type's wrappers: they cost no depth.
        assert_eq!(
            plan.shape,
            Shape {
                depth: 1,
                fields: 8
            }
        );
        // Each nested list of the recursive introspection schema multiplies the response.
        for nested in [
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
            "{ ...Lists } fragment Lists on Query { __type(name: \"Order\") { fields { type { \
             interfaces { possibleTypes { name } } } } } }",
        ] {
            assert_eq!(
                compile(COST_SDL, nested, &CompileOptions::default()).unwrap_err(),
                PlanError::IntrospectionTooDeep,
                "{nested}"
            );
        }
    }
}
