//! Compiling a validated operation into an [`OperationPlan`].
//!
//! graft is a GraphQL-to-SQL compiler: the fields an operation selects decide the columns read
//! and the JSON written. Compilation happens once per query text; execution then walks plain
//! vectors, with no per-field resolver dispatch.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use apollo_compiler::ast::{self, Value};
use apollo_compiler::executable::{self, ExecutableDocument};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node};
use graft_keys::KeyIndex;
use graft_schema::{MutationField, OutputScalar, RootFieldKind, SubgraphSchema};

use crate::PlanError;
use crate::cost::{CompileOptions, Shape};
use crate::page::PagePlan;

mod collector;
mod display;

use collector::{Collector, Representations};

/// The plan of one operation.
#[derive(Debug, Clone)]
pub struct OperationPlan {
    /// The operation's variables, for coercion at execution time.
    pub variables: Vec<VariablePlan>,
    /// The root fields, in response order.
    pub root: Vec<RootPlan>,
    /// How deep and wide the operation is, after fragment expansion.
    pub shape: Shape,
}

/// A variable the operation declares.
#[derive(Debug, Clone)]
pub struct VariablePlan {
    /// Its name, without `$`.
    pub name: Name,
    /// Its declared type.
    pub ty: Node<ast::Type>,
    /// Its default value, if any.
    pub default: Option<Node<Value>>,
}

/// A key of the response object, with its JSON form (`"name":`) written once at compile time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResponseKey {
    name: Name,
    json_prefix: Box<str>,
}

impl ResponseKey {
    fn new(name: Name) -> ResponseKey {
        // GraphQL names are ASCII letters, digits and `_`: nothing to escape.
        let json_prefix = format!("\"{name}\":").into_boxed_str();
        ResponseKey { name, json_prefix }
    }

    /// The key.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// `"key":`, ready to write.
    pub fn json_prefix(&self) -> &str {
        &self.json_prefix
    }
}

/// One `@skip`/`@include` that depends on a variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Condition {
    /// The Boolean variable.
    pub variable: Name,
    /// The value the variable must have for the field to be included (`true` for `@include`,
    /// `false` for `@skip`).
    pub included_when: bool,
}

/// When a field is included in the response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Conditions {
    /// Always.
    Always,
    /// When at least one alternative holds; an alternative holds when all its conditions do.
    /// A field selected twice under different directives has two alternatives.
    AnyOf(Vec<Vec<Condition>>),
}

impl Conditions {
    /// Whether the field is included, given the value of each Boolean variable.
    pub fn hold(&self, variable: impl Fn(&Name) -> bool) -> bool {
        match self {
            Conditions::Always => true,
            Conditions::AnyOf(alternatives) => alternatives
                .iter()
                .any(|all| all.iter().all(|c| variable(&c.variable) == c.included_when)),
        }
    }

    fn from_path(path: &[Condition]) -> Conditions {
        if path.is_empty() {
            Conditions::Always
        } else {
            Conditions::AnyOf(vec![path.to_vec()])
        }
    }

    /// Adds `other`'s alternatives, each once; how many conditions that added.
    fn merge(&mut self, other: Conditions) -> usize {
        match (&mut *self, other) {
            (Conditions::Always, _) => 0,
            (_, Conditions::Always) => {
                *self = Conditions::Always;
                0
            }
            (Conditions::AnyOf(mine), Conditions::AnyOf(theirs)) => {
                let mut added = 0;
                for alternative in theirs {
                    if !mine.contains(&alternative) {
                        added += alternative.len();
                        mine.push(alternative);
                    }
                }
                added
            }
        }
    }
}

/// A root field of the operation.
#[derive(Debug, Clone)]
pub struct RootPlan {
    /// Where the answer goes.
    pub response_key: ResponseKey,
    /// When it is included.
    pub conditions: Conditions,
    /// What answers it.
    pub kind: RootKind,
}

/// How a root field is answered.
#[derive(Debug, Clone)]
pub enum RootKind {
    /// `__typename` on the query root.
    Typename(Name),
    /// `__schema` or `__type`: answered by apollo-compiler's introspection.
    Introspection,
    /// `_service { sdl }`.
    Service(Vec<(ResponseKey, ServiceField)>),
    /// `_entities(representations:)`.
    Entities {
        /// The `representations` argument: usually a variable.
        representations: Node<Value>,
        /// The selection for each entity type graft resolves.
        selections: Vec<EntitySelection>,
    },
    /// A root field that looks one entity up by key.
    ByKey {
        /// The key the arguments form.
        key: KeyIndex,
        /// For each key leaf, the argument's value (`None` when not given).
        arguments: Vec<(Name, Option<Node<Value>>)>,
        /// What to write for the entity.
        selection: EntitySelection,
    },
    /// A connection root field: a page of entities in key order.
    Page(Box<PagePlan>),
    /// A derived mutation: a write in a transaction of its own, then the written entities.
    Mutation(Box<MutationPlan>),
}

/// A root `Mutation` field graft derived (see [`graft_schema::MutationField`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MutationPlan {
    /// The field as the schema derived it: what it writes, from which arguments.
    pub field: MutationField,
    /// The arguments the operation gives, by name (values or variables).
    pub arguments: Vec<(Name, Node<Value>)>,
    /// What to write for each written entity.
    pub selection: EntitySelection,
}

/// A field of `_Service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceField {
    /// `sdl`.
    Sdl,
    /// `__typename`.
    Typename,
}

/// What to read and write for entities of one type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntitySelection {
    /// The entity type.
    pub type_name: Name,
    /// Indices into the type's [`graft_schema::EntityMapping::columns`] to read, each once, in
    /// first-selected order. A [`FieldValue::Column`] refers to a position in this list.
    pub columns: Vec<usize>,
    /// The fields to write, in response order.
    pub fields: Vec<FieldPlan>,
    /// Whether some field is computed from the representation ([`FieldValue::Computed`]), so
    /// the representations' other fields must be kept.
    pub uses_representation: bool,
    /// The estimated cost of one entity of this selection with everything below it: the
    /// type's weight (1, or its `@cost`), plus each field's `@cost`, plus each relation's
    /// target cost, times its assumed list size for a `@hasMany` (see [`crate::CostModel`]).
    pub cost: u64,
}

/// One field of an entity's response object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPlan {
    /// Where the value goes.
    pub response_key: ResponseKey,
    /// When it is included.
    pub conditions: Conditions,
    /// What to write.
    pub value: FieldValue,
}

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    /// The entity's type name.
    Typename,
    /// A column, by position in [`EntitySelection::columns`].
    Column {
        /// Position in the selection's column list.
        slot: usize,
        /// The field's scalar type.
        scalar: OutputScalar,
        /// Whether the field may be null.
        nullable: bool,
    },
    /// Another entity, or a list of them, found through a relation.
    Related(Box<RelatedPlan>),
    /// An object stored in the entity's own row.
    Embedded(Box<EmbeddedPlan>),
    /// A value computed from the fields the representation carries (`@requires`); selectable
    /// in `_entities` only, where representations exist.
    Computed {
        /// Index into the mapping's `computed`.
        computed: usize,
        /// `Int` or `Float`.
        scalar: OutputScalar,
        /// Whether the field may be null.
        nullable: bool,
    },
}

impl FieldValue {
    /// Whether the field may be null (a `__typename` never is).
    pub fn nullable(&self) -> bool {
        match self {
            FieldValue::Typename => false,
            FieldValue::Column { nullable, .. } | FieldValue::Computed { nullable, .. } => {
                *nullable
            }
            FieldValue::Related(plan) => plan.nullable,
            FieldValue::Embedded(plan) => plan.nullable,
        }
    }
}

/// An object stored in its entity's row: its fields are columns of that row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmbeddedPlan {
    /// The object's type.
    pub type_name: Name,
    /// Whether the field may be null.
    pub nullable: bool,
    /// Slots (in the entity's [`EntitySelection::columns`]) of all the object's columns: when
    /// every one is NULL, the object is null.
    pub presence: Vec<usize>,
    /// The fields to write: [`FieldValue::Typename`], [`FieldValue::Column`] (slots in the
    /// entity's columns) and nested [`FieldValue::Embedded`].
    pub fields: Vec<FieldPlan>,
}

/// How to resolve a relation field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelatedPlan {
    /// Index into the parent mapping's `relations`.
    pub relation: usize,
    /// The load a [`RelatedTarget::Fetched`] field's rows come from (`None` for a reference).
    /// Fields of one operation that read the same relation with the same selection (the same
    /// field under several aliases) share one, so they cost one statement per level together.
    pub load: Option<LoadId>,
    /// Positions in the parent's [`EntitySelection::columns`] of the values looked up.
    pub key_slots: Vec<usize>,
    /// A list of every match (`@hasMany`), or at most one.
    pub many: bool,
    /// The list's `first` argument (at most that many items per parent), when given: a
    /// literal or a variable.
    pub first: Option<Node<Value>>,
    /// Whether the field may be null.
    pub nullable: bool,
    /// What to write for each related entity.
    pub target: RelatedTarget,
}

/// Names the relation loads of one operation: equal ids read the same rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoadId(pub u32);

/// What a relation leads to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RelatedTarget {
    /// Rows of the target's table, fetched for all parents of a level at once.
    Fetched(EntitySelection),
    /// An entity another subgraph owns: written from the parent's columns, key fields only.
    Reference {
        /// The entity type.
        type_name: Name,
        /// The fields to write.
        fields: Vec<ReferenceField>,
    },
}

/// One field of a reference to another subgraph's entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReferenceField {
    /// Where the value goes.
    pub response_key: ResponseKey,
    /// When it is included.
    pub conditions: Conditions,
    /// What to write.
    pub value: ReferenceValue,
}

/// The value of a [`ReferenceField`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceValue {
    /// The type name.
    Typename,
    /// Key leaf `i`, read from the parent's `key_slots[i]`.
    KeyLeaf(usize),
}

impl OperationPlan {
    /// Compiles operation `operation_name` of `document` against `schema` with the default
    /// [`CompileOptions`].
    pub fn compile(
        schema: &SubgraphSchema,
        document: &Valid<ExecutableDocument>,
        operation_name: Option<&str>,
    ) -> Result<OperationPlan, PlanError> {
        OperationPlan::compile_with(schema, document, operation_name, &CompileOptions::default())
    }

    /// Compiles operation `operation_name` of `document` against `schema`.
    ///
    /// Planning takes time in proportion to the operation's fields after fragment expansion:
    /// a fragment spread twice in one selection set is expanded once, and planning stops with
    /// [`PlanError::TooManyFields`] past `options.max_fields`.
    pub fn compile_with(
        schema: &SubgraphSchema,
        document: &Valid<ExecutableDocument>,
        operation_name: Option<&str>,
        options: &CompileOptions,
    ) -> Result<OperationPlan, PlanError> {
        let operation =
            document
                .operations
                .get(operation_name)
                .map_err(|_| match operation_name {
                    Some(name) => PlanError::UnknownOperation(name.to_owned()),
                    None => PlanError::OperationNameRequired,
                })?;
        let root_type = match operation.operation_type {
            ast::OperationType::Query => schema.query_type(),
            ast::OperationType::Mutation => schema
                .mutation_type()
                .ok_or(PlanError::UnsupportedOperationType("mutation"))?,
            ast::OperationType::Subscription => {
                return Err(PlanError::UnsupportedOperationType("subscription"));
            }
        };
        let mutation = operation.operation_type == ast::OperationType::Mutation;
        let variables = operation
            .variables
            .iter()
            .map(|v| VariablePlan {
                name: v.name.clone(),
                ty: v.ty.clone(),
                default: v.default_value.clone(),
            })
            .collect();
        let collector = Collector {
            schema,
            document,
            options,
            fields: Cell::new(0),
            work: Cell::new(0),
            conditions: Cell::new(0),
            loads: RefCell::new(HashMap::new()),
        };
        let mut root = Vec::new();
        let mut depth = 0;
        for collected in collector.collect(&operation.selection_set, root_type)? {
            let field = collected.fields[0];
            let kind = match field.name.as_str() {
                "__typename" => RootKind::Typename(root_type.clone()),
                name if mutation => {
                    let derived =
                        schema
                            .mutation_field(name)
                            .ok_or_else(|| PlanError::UnsupportedField {
                                coordinate: format!("{root_type}.{name}"),
                                reason: "graft has no resolver for this root field".to_owned(),
                            })?;
                    RootKind::Mutation(Box::new(MutationPlan {
                        field: derived.clone(),
                        arguments: field
                            .arguments
                            .iter()
                            .map(|argument| (argument.name.clone(), argument.value.clone()))
                            .collect(),
                        selection: collector.entity_selection(&derived.type_name, &collected)?,
                    }))
                }
                "__schema" | "__type" => {
                    // Answered by apollo-compiler, not planned. Its fields count towards the
                    // operation's; its depth does not, past the meta-field itself: the
                    // introspection query every tool sends nests `ofType` 15 deep, and what
                    // bounds an introspection response is the nesting of its list fields,
                    // checked here as graphql-js and Apollo Router do.
                    collector.count_unplanned(&field.selection_set)?;
                    check_introspection_lists(document, &collected.fields)?;
                    depth = depth.max(1);
                    RootKind::Introspection
                }
                "_service" => RootKind::Service(collector.service_fields(&collected)?),
                "_entities" => {
                    let representations = field
                        .argument_by_name("representations")
                        .expect("validation requires `representations`")
                        .clone();
                    let mut selections = Vec::new();
                    for mapping in schema.mappings() {
                        selections.push(collector.selection(
                            &mapping.type_name,
                            &collected,
                            Representations::Available,
                        )?);
                    }
                    selections.sort_by(|a, b| a.type_name.cmp(&b.type_name));
                    RootKind::Entities {
                        representations,
                        selections,
                    }
                }
                name => match schema.root_field(name).map(|f| &f.kind) {
                    Some(RootFieldKind::ByKey {
                        type_name,
                        key,
                        arguments,
                    }) => RootKind::ByKey {
                        key: *key,
                        arguments: arguments
                            .iter()
                            .map(|arg| {
                                (arg.clone(), field.specified_argument_by_name(arg).cloned())
                            })
                            .collect(),
                        selection: collector.entity_selection(type_name, &collected)?,
                    },
                    Some(RootFieldKind::Page { type_name, key }) => RootKind::Page(Box::new(
                        collector.page(field, type_name, *key, &collected)?,
                    )),
                    None => {
                        return Err(PlanError::UnsupportedField {
                            coordinate: format!("{}.{name}", schema.query_type()),
                            reason: "graft has no resolver for this root field".to_owned(),
                        });
                    }
                },
            };
            depth = depth.max(root_depth(&kind));
            root.push(RootPlan {
                response_key: collected.response_key,
                conditions: collected.conditions,
                kind,
            });
        }
        let shape = Shape {
            depth,
            fields: collector.fields.get(),
        };
        Ok(OperationPlan {
            variables,
            root,
            shape,
        })
    }
}

/// Refuses an introspection root field whose list fields (`fields`, `interfaces`,
/// `possibleTypes`, `inputFields`) nest 3 deep or more: the introspection schema is recursive,
/// so each such level can multiply the response by the size of the schema.
fn check_introspection_lists(
    document: &Valid<ExecutableDocument>,
    fields: &[&Node<executable::Field>],
) -> Result<(), PlanError> {
    let introspection = executable::Operation {
        operation_type: ast::OperationType::Query,
        name: None,
        variables: Vec::new(),
        directives: Default::default(),
        selection_set: executable::SelectionSet {
            ty: Name::new_static_unchecked("Query"),
            selections: fields
                .iter()
                .map(|&field| executable::Selection::Field(field.clone()))
                .collect(),
        },
    };
    apollo_compiler::introspection::check_max_depth(document, &introspection)
        .map_err(|_| PlanError::IntrospectionTooDeep)
}

/// The depth of a root field: 1, plus the depth of what it selects.
fn root_depth(kind: &RootKind) -> u32 {
    1 + match kind {
        RootKind::Typename(_) | RootKind::Introspection => 0,
        RootKind::Service(fields) => u32::from(!fields.is_empty()),
        RootKind::Entities { selections, .. } => {
            selections.iter().map(selection_depth).max().unwrap_or(0)
        }
        RootKind::ByKey { selection, .. } => selection_depth(selection),
        RootKind::Mutation(plan) => selection_depth(&plan.selection),
        // `edges { node { ... } }`: two levels above the node's fields.
        RootKind::Page(page) => 2 + selection_depth(&page.node),
    }
}

/// The depth of an entity's selection: 1 for its own fields (0 when it selects none), plus
/// the deepest object below them.
fn selection_depth(selection: &EntitySelection) -> u32 {
    fields_depth(&selection.fields)
}

fn fields_depth(fields: &[FieldPlan]) -> u32 {
    if fields.is_empty() {
        return 0;
    }
    1 + fields
        .iter()
        .map(|field| match &field.value {
            FieldValue::Related(plan) => match &plan.target {
                RelatedTarget::Fetched(target) => selection_depth(target),
                RelatedTarget::Reference { fields, .. } => u32::from(!fields.is_empty()),
            },
            FieldValue::Embedded(plan) => fields_depth(&plan.fields),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// Puts a selection's columns in mapping order and moves every slot that refers to them, so
/// that the same fields selected in another order read the same columns in the same order: one
/// SQL text, one prepared statement per connection. Returns where each old slot went.
fn canonical_order(columns: &mut Vec<usize>, fields: &mut [FieldPlan]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_key(|&slot| columns[slot]);
    let mut moved = vec![0; columns.len()];
    for (new, &old) in order.iter().enumerate() {
        moved[old] = new;
    }
    *columns = order.iter().map(|&old| columns[old]).collect();
    move_slots(fields, &moved);
    moved
}

fn move_slots(fields: &mut [FieldPlan], moved: &[usize]) {
    for field in fields {
        match &mut field.value {
            FieldValue::Column { slot, .. } => *slot = moved[*slot],
            FieldValue::Related(plan) => {
                for slot in &mut plan.key_slots {
                    *slot = moved[*slot];
                }
            }
            FieldValue::Embedded(plan) => {
                for slot in &mut plan.presence {
                    *slot = moved[*slot];
                }
                move_slots(&mut plan.fields, moved);
            }
            FieldValue::Typename | FieldValue::Computed { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    const SDL: &str = r#"
        type Query { orgUser(orgId: String!, userId: String!): OrgUser }
        type OrgUser @key(fields: "orgId userId") @table(name: "org_users") {
          orgId: String! userId: String! name: String email: String
        }
        type Order @key(fields: "id") { id: ID! total: Float }
    "#;

    fn check(query: &str, expect: Expect) {
        let schema = SubgraphSchema::parse(SDL, "plan.graphql").expect("valid schema");
        let document =
            ExecutableDocument::parse_and_validate(schema.api_schema(), query, "query.graphql")
                .expect("valid query");
        let plan = OperationPlan::compile(&schema, &document, None);
        let actual = match plan {
            Ok(plan) => plan.to_string(),
            Err(err) => format!("error: {err}\n"),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn entities_with_fragments_aliases_and_typename() {
        check(
            r#"query($r: [_Any!]!) { _entities(representations: $r) {
                __typename
                ... on OrgUser { orgId userId name mail: email }
                ...OrderFields
            } }
            fragment OrderFields on Order { id total id }"#,
            expect![[r#"
                _entities: _entities($r)
                  Order columns [0, 1] { __typename=typename id=$0 total=$1 }
                  OrgUser columns [0, 1, 2, 3] { __typename=typename orgId=$0 userId=$1 name=$2 mail=$3 }
            "#]],
        );
    }

    #[test]
    fn skip_and_include_with_literals_and_variables() {
        check(
            r#"query($r: [_Any!]!, $withName: Boolean!) { _entities(representations: $r) {
                ... on OrgUser { orgId @skip(if: true) userId name @include(if: $withName) email @include(if: false) }
                ... on OrgUser @include(if: $withName) { userId }
            } }"#,
            expect![[r#"
                _entities: _entities($r)
                  Order columns [] { }
                  OrgUser columns [1, 2] { userId=$0 name=$1 if $withName }
            "#]],
        );
    }

    #[test]
    fn root_lookup_by_key_and_service() {
        check(
            r#"{ __typename _service { sdl } u: orgUser(orgId: "o", userId: "u") { name name } }"#,
            expect![[r#"
                __typename: __typename = Query
                _service: _service { sdl=Sdl }
                u: by key 0 (orgId: "o", userId: "u")
                  OrgUser columns [2] { name=$0 }
            "#]],
        );
    }

    #[test]
    fn errors_name_the_operation_problem() {
        check(
            "query A { __typename } query B { __typename }",
            expect![[r#"
            error: the document has several operations: name the one to run with `operationName`
        "#]],
        );
    }
}

/// What an operation may read and whether it writes: for the caching advice a response
/// carries (`Cache-Control`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Every entity type whose rows it may read, once each, in first-seen order.
    pub types: Vec<Name>,
    /// Whether it writes (a mutation).
    pub writes: bool,
}

impl OperationPlan {
    /// The entity types the operation may read (through `_entities`, lookups, pages and
    /// relations at any depth), and whether it writes.
    pub fn reads(&self) -> Reads {
        fn selection(entity: &EntitySelection, reads: &mut Reads) {
            if !reads.types.contains(&entity.type_name) {
                reads.types.push(entity.type_name.clone());
            }
            for field in &entity.fields {
                if let FieldValue::Related(related) = &field.value
                    && let RelatedTarget::Fetched(target) = &related.target
                {
                    selection(target, reads);
                }
            }
        }
        let mut reads = Reads::default();
        for root in &self.root {
            match &root.kind {
                RootKind::Entities { selections, .. } => {
                    for entity in selections {
                        selection(entity, &mut reads);
                    }
                }
                RootKind::ByKey {
                    selection: entity, ..
                } => selection(entity, &mut reads),
                RootKind::Page(page) => selection(&page.node, &mut reads),
                RootKind::Mutation(_) => reads.writes = true,
                RootKind::Typename(_) | RootKind::Introspection | RootKind::Service(_) => {}
            }
        }
        reads
    }
}
