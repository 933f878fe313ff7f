//! Compiling a validated operation into an [`OperationPlan`].
//!
//! graft is a GraphQL-to-SQL compiler: the fields an operation selects decide the columns read
//! and the JSON written. Compilation happens once per query text; execution then walks plain
//! vectors, with no per-field resolver dispatch.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;

use apollo_compiler::ast::{self, Value};
use apollo_compiler::executable::{ExecutableDocument, Field, Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node};
use graft_keys::KeyIndex;
use graft_schema::{
    EmbeddedField, EmbeddedMapping, EntityMapping, MutationField, OutputScalar, RootFieldKind,
    SubgraphSchema,
};

use crate::PlanError;
use crate::cost::{self, CompileOptions, Shape};
use crate::page::{EdgeValue, PageField, PageInfoValue, PagePlan, PageValue};

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

    fn merge(&mut self, other: Conditions) {
        match (&mut *self, other) {
            (Conditions::Always, _) => {}
            (_, Conditions::Always) => *self = Conditions::Always,
            (Conditions::AnyOf(mine), Conditions::AnyOf(theirs)) => mine.extend(theirs),
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
                    // Answered by apollo-compiler, not planned: counted all the same.
                    let below = collector.count_unplanned(&field.selection_set)?;
                    depth = depth.max(1 + below);
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

/// The slot of mapping column `index` in a selection's `columns`, added on first use.
fn slot_of(columns: &mut Vec<usize>, index: usize) -> usize {
    columns.iter().position(|&c| c == index).unwrap_or_else(|| {
        columns.push(index);
        columns.len() - 1
    })
}

/// Whether the selection being compiled has representations to compute fields from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Representations {
    /// In `_entities`.
    Available,
    /// Anywhere else.
    Absent,
}

/// The fields of one response key, merged as GraphQL's CollectFields does.
struct Collected<'a> {
    response_key: ResponseKey,
    conditions: Conditions,
    fields: Vec<&'a Node<Field>>,
}

/// The fields of one selection set being collected: merged by response key and found by it
/// in constant time; a fragment already expanded under the same conditions is not expanded
/// again (GraphQL's CollectFields skips visited fragments), so repeated spreads cost nothing.
#[derive(Default)]
struct Collection<'a> {
    fields: Vec<Collected<'a>>,
    by_key: HashMap<Name, usize>,
    /// Field nodes already merged, so a field reached twice is merged once.
    seen: HashSet<*const Field>,
    expanded: HashSet<(Name, Vec<Condition>)>,
}

/// What makes two relation fields one load: the parent type, the relation's index, the text of
/// its `first` argument and the target's selection.
type LoadKey = (Name, usize, Option<String>, EntitySelection);

struct Collector<'a> {
    schema: &'a SubgraphSchema,
    document: &'a ExecutableDocument,
    options: &'a CompileOptions,
    /// Fields collected so far, for [`Shape::fields`] and the planning ceiling.
    fields: Cell<u32>,
    /// The relation loads handed out: equal (parent type, relation, `first`, target selection)
    /// share one.
    loads: RefCell<HashMap<LoadKey, LoadId>>,
}

impl<'a> Collector<'a> {
    /// Collects the fields `selection_set` selects on an object of type `concrete`.
    fn collect(
        &self,
        selection_set: &'a SelectionSet,
        concrete: &str,
    ) -> Result<Vec<Collected<'a>>, PlanError> {
        let mut out = Collection::default();
        self.collect_into(selection_set, concrete, &mut Vec::new(), &mut out);
        self.counted(out.fields)
    }

    /// Adds `fields` to the operation's field count; past the ceiling, planning stops.
    fn counted(&self, fields: Vec<Collected<'a>>) -> Result<Vec<Collected<'a>>, PlanError> {
        let count = u32::try_from(fields.len())
            .unwrap_or(u32::MAX)
            .saturating_add(self.fields.get());
        self.fields.set(count);
        if count > self.options.max_fields {
            return Err(PlanError::TooManyFields {
                limit: self.options.max_fields,
            });
        }
        Ok(fields)
    }

    /// Counts the fields of a selection set graft does not plan (introspection), with the same
    /// expansion rules; returns its depth.
    fn count_unplanned(&self, selection_set: &'a SelectionSet) -> Result<u32, PlanError> {
        if selection_set.selections.is_empty() {
            return Ok(0);
        }
        let mut out = Collection::default();
        self.collect_into(selection_set, &selection_set.ty, &mut Vec::new(), &mut out);
        let mut deepest = 0;
        for collected in self.counted(out.fields)? {
            for field in &collected.fields {
                deepest = deepest.max(self.count_unplanned(&field.selection_set)?);
            }
        }
        Ok(1 + deepest)
    }

    fn collect_into(
        &self,
        selection_set: &'a SelectionSet,
        concrete: &str,
        path: &mut Vec<Condition>,
        out: &mut Collection<'a>,
    ) {
        for selection in &selection_set.selections {
            let (directives, applies) = match selection {
                Selection::Field(field) => (&field.directives, true),
                Selection::InlineFragment(inline) => (
                    &inline.directives,
                    inline
                        .type_condition
                        .as_ref()
                        .is_none_or(|t| self.applies(t, concrete)),
                ),
                Selection::FragmentSpread(spread) => (
                    &spread.directives,
                    self.document
                        .fragments
                        .get(&spread.fragment_name)
                        .is_some_and(|f| self.applies(f.type_condition(), concrete)),
                ),
            };
            if !applies {
                continue;
            }
            let depth = path.len();
            if !push_conditions(directives, path) {
                path.truncate(depth);
                continue;
            }
            match selection {
                Selection::Field(field) => {
                    let key = field.response_key();
                    let conditions = Conditions::from_path(path);
                    let first_time = out.seen.insert(std::ptr::from_ref::<Field>(field));
                    match out.by_key.get(key) {
                        Some(&existing) => {
                            let existing = &mut out.fields[existing];
                            existing.conditions.merge(conditions);
                            if first_time {
                                existing.fields.push(field);
                            }
                        }
                        None => {
                            out.by_key.insert(key.clone(), out.fields.len());
                            out.fields.push(Collected {
                                response_key: ResponseKey::new(key.clone()),
                                conditions,
                                fields: vec![field],
                            });
                        }
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.collect_into(&inline.selection_set, concrete, path, out)
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = self
                        .document
                        .fragments
                        .get(&spread.fragment_name)
                        .expect("checked above");
                    if out
                        .expanded
                        .insert((spread.fragment_name.clone(), path.clone()))
                    {
                        self.collect_into(&fragment.selection_set, concrete, path, out);
                    }
                }
            }
            path.truncate(depth);
        }
    }

    fn applies(&self, type_condition: &str, concrete: &str) -> bool {
        type_condition == concrete
            || self
                .schema
                .api_schema()
                .is_subtype(type_condition, concrete)
    }

    /// The sub-fields of a merged field, on an object of type `concrete`.
    fn subfields(
        &self,
        collected: &Collected<'a>,
        concrete: &str,
    ) -> Result<Vec<Collected<'a>>, PlanError> {
        let mut out = Collection::default();
        for field in &collected.fields {
            self.collect_into(&field.selection_set, concrete, &mut Vec::new(), &mut out);
        }
        self.counted(out.fields)
    }

    /// The load of relation `relation` of `parent` with `target`: one per distinct pair in the
    /// operation.
    fn load_id(
        &self,
        parent: &Name,
        relation: usize,
        first: Option<&Node<Value>>,
        target: &EntitySelection,
    ) -> LoadId {
        let mut loads = self.loads.borrow_mut();
        let next = LoadId(u32::try_from(loads.len()).expect("fewer loads than fields"));
        let first = first.map(|value| value.to_string());
        *loads
            .entry((parent.clone(), relation, first, target.clone()))
            .or_insert(next)
    }

    /// The assumed length of relation list `type_name.field`.
    fn list_size(&self, type_name: &Name, field: &Name) -> u64 {
        cost::assumed_size(self.schema.api_schema(), type_name, field).unwrap_or_else(|| {
            let model = &self.options.cost;
            u64::from(
                *model
                    .list_sizes
                    .get(&format!("{type_name}.{field}"))
                    .unwrap_or(&model.default_list_size),
            )
        })
    }

    fn service_fields(
        &self,
        collected: &Collected<'a>,
    ) -> Result<Vec<(ResponseKey, ServiceField)>, PlanError> {
        self.subfields(collected, "_Service")?
            .into_iter()
            .map(|sub| {
                let field = match sub.fields[0].name.as_str() {
                    "sdl" => ServiceField::Sdl,
                    "__typename" => ServiceField::Typename,
                    other => {
                        return Err(PlanError::UnsupportedField {
                            coordinate: format!("_Service.{other}"),
                            reason: "unknown field".to_owned(),
                        });
                    }
                };
                Ok((sub.response_key, field))
            })
            .collect()
    }

    /// The selection of an entity reached other than through `_entities`.
    fn entity_selection(
        &self,
        type_name: &Name,
        collected: &Collected<'a>,
    ) -> Result<EntitySelection, PlanError> {
        self.selection(type_name, collected, Representations::Absent)
    }

    fn selection(
        &self,
        type_name: &Name,
        collected: &Collected<'a>,
        representations: Representations,
    ) -> Result<EntitySelection, PlanError> {
        let mapping = self
            .schema
            .mapping(type_name)
            .expect("entity selections are built for mapped types");
        let api = self.schema.api_schema();
        let mut columns: Vec<usize> = Vec::new();
        let mut uses_representation = false;
        let mut fields = Vec::new();
        let mut cost = cost::object_weight(api, type_name);
        for sub in self.subfields(collected, type_name)? {
            let field_name = &sub.fields[0].name;
            if field_name != "__typename" {
                let weight = cost::field_weight(api, type_name, field_name).unwrap_or(0);
                cost = cost.saturating_add(weight);
            }
            let value = if field_name == "__typename" {
                FieldValue::Typename
            } else if let Some(index) = mapping.column_index(field_name) {
                let ty = mapping.columns[index].ty;
                FieldValue::Column {
                    slot: slot_of(&mut columns, index),
                    scalar: ty.scalar,
                    nullable: ty.nullable,
                }
            } else if let Some(embedded) = mapping.embedded(field_name) {
                FieldValue::Embedded(Box::new(self.embedded(
                    mapping,
                    embedded,
                    &sub,
                    &mut columns,
                )?))
            } else if let Some((index, computed)) = mapping.computed(field_name) {
                if representations == Representations::Absent {
                    return Err(PlanError::UnsupportedField {
                        coordinate: format!("{type_name}.{field_name}"),
                        reason: "the field is computed from @requires fields, which only \
                                 `_entities` representations carry"
                            .to_owned(),
                    });
                }
                uses_representation = true;
                FieldValue::Computed {
                    computed: index,
                    scalar: computed.ty.scalar,
                    nullable: computed.ty.nullable,
                }
            } else if let Some((relation_index, relation)) = mapping.relation(field_name) {
                // The parent reads the columns the relation looks up by, even if unselected.
                let key_slots = relation
                    .local_columns
                    .iter()
                    .map(|&c| slot_of(&mut columns, c))
                    .collect();
                let target = if relation.reference {
                    self.reference_selection(&relation.target, relation.target_key, &sub)?
                } else {
                    RelatedTarget::Fetched(self.entity_selection(&relation.target, &sub)?)
                };
                let target_cost = match &target {
                    RelatedTarget::Fetched(selection) => selection.cost,
                    RelatedTarget::Reference { type_name, .. } => {
                        cost::object_weight(api, type_name)
                    }
                };
                let first = relation
                    .many
                    .then(|| sub.fields[0].specified_argument_by_name("first").cloned())
                    .flatten();
                // `first` is the list's slicing argument: a literal sizes it exactly; a
                // variable is sized as the field would be without it.
                let size = match first.as_deref() {
                    Some(Value::Int(n)) => n.try_to_i32().map_or(0, |n| n.max(0) as u64),
                    _ if relation.many => self.list_size(type_name, field_name),
                    _ => 1,
                };
                cost = cost.saturating_add(size.saturating_mul(target_cost));
                let load = match &target {
                    RelatedTarget::Fetched(selection) => {
                        Some(self.load_id(type_name, relation_index, first.as_ref(), selection))
                    }
                    RelatedTarget::Reference { .. } => None,
                };
                FieldValue::Related(Box::new(RelatedPlan {
                    relation: relation_index,
                    load,
                    key_slots,
                    many: relation.many,
                    first,
                    nullable: relation.nullable,
                    target,
                }))
            } else {
                return Err(PlanError::UnsupportedField {
                    coordinate: format!("{type_name}.{field_name}"),
                    reason:
                        "the field is neither stored in a column nor a @belongsTo/@hasMany relation"
                            .to_owned(),
                });
            };
            fields.push(FieldPlan {
                response_key: sub.response_key,
                conditions: sub.conditions,
                value,
            });
        }
        canonical_order(&mut columns, &mut fields);
        Ok(EntitySelection {
            type_name: type_name.clone(),
            columns,
            fields,
            uses_representation,
            cost,
        })
    }

    /// The plan of embedded object field `embedded` of `mapping`, reading its columns into
    /// `columns`.
    fn embedded(
        &self,
        mapping: &EntityMapping,
        embedded: &EmbeddedMapping,
        collected: &Collected<'a>,
        columns: &mut Vec<usize>,
    ) -> Result<EmbeddedPlan, PlanError> {
        let presence = embedded
            .all_columns()
            .into_iter()
            .map(|c| slot_of(columns, c))
            .collect();
        let mut fields = Vec::new();
        for sub in self.subfields(collected, &embedded.type_name)? {
            let field_name = &sub.fields[0].name;
            let value = if field_name == "__typename" {
                FieldValue::Typename
            } else {
                let found = embedded.fields.iter().find_map(|f| match f {
                    EmbeddedField::Column(index)
                        if mapping.columns[*index].field == *field_name =>
                    {
                        let ty = mapping.columns[*index].ty;
                        Some(FieldValue::Column {
                            slot: slot_of(columns, *index),
                            scalar: ty.scalar,
                            nullable: ty.nullable,
                        })
                    }
                    _ => None,
                });
                match found {
                    Some(value) => value,
                    None => match embedded.fields.iter().find_map(|f| match f {
                        EmbeddedField::Object(o) if o.field == *field_name => Some(o),
                        _ => None,
                    }) {
                        Some(inner) => FieldValue::Embedded(Box::new(
                            self.embedded(mapping, inner, &sub, columns)?,
                        )),
                        None => {
                            return Err(PlanError::UnsupportedField {
                                coordinate: format!("{}.{field_name}", embedded.type_name),
                                reason: "an embedded object's fields are its columns and \
                                         nested objects"
                                    .to_owned(),
                            });
                        }
                    },
                }
            };
            fields.push(FieldPlan {
                response_key: sub.response_key,
                conditions: sub.conditions,
                value,
            });
        }
        Ok(EmbeddedPlan {
            type_name: embedded.type_name.clone(),
            nullable: embedded.nullable,
            presence,
            fields,
        })
    }

    /// The plan of a connection field paging through `type_name` in the order of key `key`.
    fn page(
        &self,
        field: &Node<Field>,
        type_name: &Name,
        key: KeyIndex,
        collected: &Collected<'a>,
    ) -> Result<PagePlan, PlanError> {
        let connection = field.definition.ty.inner_named_type().clone();
        let unsupported = |coordinate: String, reason: &str| PlanError::UnsupportedField {
            coordinate,
            reason: reason.to_owned(),
        };
        let mut fields = Vec::new();
        let mut node: Option<Collected<'a>> = None;
        let take_node = |sub: Collected<'a>, node: &mut Option<Collected<'a>>| match node {
            None => {
                *node = Some(sub);
                Ok(())
            }
            Some(_) => Err(unsupported(
                format!("{connection}"),
                "select the entities once per connection: `edges { node }` or `nodes`, not both",
            )),
        };
        for sub in self.subfields(collected, &connection)? {
            let value = match sub.fields[0].name.as_str() {
                "__typename" => PageValue::Typename,
                "nodes" => {
                    let (response_key, conditions) =
                        (sub.response_key.clone(), sub.conditions.clone());
                    take_node(sub, &mut node)?;
                    fields.push(PageField {
                        response_key,
                        conditions,
                        value: PageValue::Nodes,
                    });
                    continue;
                }
                "edges" => {
                    let edge_type = sub.fields[0].definition.ty.inner_named_type().clone();
                    let mut edge_fields = Vec::new();
                    for edge_sub in self.subfields(&sub, &edge_type)? {
                        let value = match edge_sub.fields[0].name.as_str() {
                            "__typename" => EdgeValue::Typename,
                            "cursor" => EdgeValue::Cursor,
                            "node" => {
                                let (response_key, conditions) =
                                    (edge_sub.response_key.clone(), edge_sub.conditions.clone());
                                take_node(edge_sub, &mut node)?;
                                edge_fields.push(PageField {
                                    response_key,
                                    conditions,
                                    value: EdgeValue::Node,
                                });
                                continue;
                            }
                            other => {
                                return Err(unsupported(
                                    format!("{edge_type}.{other}"),
                                    "edges have `cursor` and `node`",
                                ));
                            }
                        };
                        edge_fields.push(PageField {
                            response_key: edge_sub.response_key,
                            conditions: edge_sub.conditions,
                            value,
                        });
                    }
                    PageValue::Edges {
                        type_name: edge_type,
                        fields: edge_fields,
                    }
                }
                "pageInfo" => {
                    let info_type = sub.fields[0].definition.ty.inner_named_type().clone();
                    let mut info_fields = Vec::new();
                    for info_sub in self.subfields(&sub, &info_type)? {
                        let value = match info_sub.fields[0].name.as_str() {
                            "__typename" => PageInfoValue::Typename,
                            "hasNextPage" => PageInfoValue::HasNextPage,
                            "hasPreviousPage" => PageInfoValue::HasPreviousPage,
                            "startCursor" => PageInfoValue::StartCursor,
                            "endCursor" => PageInfoValue::EndCursor,
                            other => {
                                return Err(unsupported(
                                    format!("{info_type}.{other}"),
                                    "page info has hasNextPage, hasPreviousPage, startCursor and endCursor",
                                ));
                            }
                        };
                        info_fields.push(PageField {
                            response_key: info_sub.response_key,
                            conditions: info_sub.conditions,
                            value,
                        });
                    }
                    PageValue::PageInfo {
                        type_name: info_type,
                        fields: info_fields,
                    }
                }
                other => {
                    return Err(unsupported(
                        format!("{connection}.{other}"),
                        "connections have edges, nodes and pageInfo",
                    ));
                }
            };
            fields.push(PageField {
                response_key: sub.response_key,
                conditions: sub.conditions,
                value,
            });
        }
        let mut node = match &node {
            Some(node) => self.entity_selection(type_name, node)?,
            None => EntitySelection {
                type_name: type_name.clone(),
                columns: Vec::new(),
                fields: Vec::new(),
                uses_representation: false,
                cost: cost::object_weight(self.schema.api_schema(), type_name),
            },
        };
        // Cursors are made of the key's values: read its columns even when not selected.
        let mapping = self
            .schema
            .mapping(type_name)
            .expect("paged types are mapped");
        let entity = self
            .schema
            .entities()
            .get(type_name)
            .expect("paged types are entities");
        let mut key_slots: Vec<usize> = entity
            .key(key)
            .expect("the key exists")
            .field_set()
            .leaves()
            .iter()
            .map(|leaf| {
                let column = mapping
                    .column_index(&leaf.path()[0])
                    .expect("page keys are mapped top-level fields");
                node.columns
                    .iter()
                    .position(|&c| c == column)
                    .unwrap_or_else(|| {
                        node.columns.push(column);
                        node.columns.len() - 1
                    })
            })
            .collect();
        let moved = canonical_order(&mut node.columns, &mut node.fields);
        for slot in &mut key_slots {
            *slot = moved[*slot];
        }
        Ok(PagePlan {
            key,
            first: field.specified_argument_by_name("first").cloned(),
            after: field.specified_argument_by_name("after").cloned(),
            connection,
            fields,
            node,
            key_slots,
        })
    }

    /// The selection on an entity another subgraph owns: only `__typename` and the key's fields,
    /// which the parent row holds.
    fn reference_selection(
        &self,
        type_name: &Name,
        key: Option<graft_keys::KeyIndex>,
        collected: &Collected<'a>,
    ) -> Result<RelatedTarget, PlanError> {
        let entity = self
            .schema
            .entities()
            .get(type_name)
            .expect("relation targets are entities");
        let key = entity
            .key(key.expect("references are @belongsTo relations"))
            .expect("the key exists");
        let mut fields = Vec::new();
        for sub in self.subfields(collected, type_name)? {
            let field_name = &sub.fields[0].name;
            let value = if field_name == "__typename" {
                ReferenceValue::Typename
            } else if let Some(leaf) = key
                .field_set()
                .leaves()
                .iter()
                .position(|l| l.path()[0] == *field_name)
            {
                ReferenceValue::KeyLeaf(leaf)
            } else {
                return Err(PlanError::UnsupportedField {
                    coordinate: format!("{type_name}.{field_name}"),
                    reason: format!(
                        "{type_name} is owned by another subgraph; here only its key fields (`{}`) can be selected",
                        key.field_set()
                    ),
                });
            };
            fields.push(ReferenceField {
                response_key: sub.response_key,
                conditions: sub.conditions,
                value,
            });
        }
        Ok(RelatedTarget::Reference {
            type_name: type_name.clone(),
            fields,
        })
    }
}

/// Adds the variable conditions of `@skip`/`@include` to `path`; returns `false` when a literal
/// condition excludes the selection.
fn push_conditions(directives: &ast::DirectiveList, path: &mut Vec<Condition>) -> bool {
    for directive in directives.iter() {
        let included_when = match directive.name.as_str() {
            "include" => true,
            "skip" => false,
            _ => continue,
        };
        match directive.specified_argument_by_name("if").map(|v| &**v) {
            Some(Value::Boolean(value)) if *value != included_when => return false,
            Some(Value::Variable(variable)) => path.push(Condition {
                variable: variable.clone(),
                included_when,
            }),
            _ => {}
        }
    }
    true
}

impl fmt::Display for OperationPlan {
    /// A stable, readable form for tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for root in &self.root {
            write!(f, "{}", root.response_key.name)?;
            write_conditions(&root.conditions, f)?;
            match &root.kind {
                RootKind::Typename(name) => writeln!(f, ": __typename = {name}")?,
                RootKind::Introspection => writeln!(f, ": introspection")?,
                RootKind::Service(fields) => {
                    let fields: Vec<String> = fields
                        .iter()
                        .map(|(k, v)| format!("{}={v:?}", k.name))
                        .collect();
                    writeln!(f, ": _service {{ {} }}", fields.join(" "))?
                }
                RootKind::Entities {
                    representations,
                    selections,
                } => {
                    writeln!(f, ": _entities({representations})")?;
                    for selection in selections {
                        writeln!(f, "  {selection}")?;
                    }
                }
                RootKind::Mutation(plan) => {
                    let arguments: Vec<String> = plan
                        .arguments
                        .iter()
                        .map(|(name, value)| format!("{name}: {value}"))
                        .collect();
                    writeln!(f, ": {}({})", plan.field.name, arguments.join(", "))?;
                    writeln!(f, "  {}", plan.selection)?;
                }
                RootKind::Page(page) => {
                    let fields: Vec<String> = page
                        .fields
                        .iter()
                        .map(|f| format!("{}={:?}", f.response_key.name, f.value))
                        .collect();
                    writeln!(
                        f,
                        ": page by key {} slots {:?} {{ {} }}",
                        page.key.0,
                        page.key_slots,
                        fields.join(" ")
                    )?;
                    writeln!(f, "  {}", page.node)?;
                }
                RootKind::ByKey {
                    key,
                    arguments,
                    selection,
                } => {
                    let args: Vec<String> = arguments
                        .iter()
                        .map(|(n, v)| {
                            format!(
                                "{n}: {}",
                                v.as_ref().map_or("<absent>".to_owned(), |v| v.to_string())
                            )
                        })
                        .collect();
                    writeln!(f, ": by key {} ({})", key.0, args.join(", "))?;
                    writeln!(f, "  {selection}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for EntitySelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} columns {:?} {{", self.type_name, self.columns)?;
        for field in &self.fields {
            write!(f, " {}", field.response_key.name)?;
            match &field.value {
                FieldValue::Typename => write!(f, "=typename")?,
                FieldValue::Column { slot, .. } => write!(f, "=${slot}")?,
                FieldValue::Computed { computed, .. } => write!(f, "=computed{computed}")?,
                FieldValue::Embedded(embedded) => {
                    let fields: Vec<String> = embedded
                        .fields
                        .iter()
                        .map(|field| match &field.value {
                            FieldValue::Column { slot, .. } => {
                                format!("{}=${slot}", field.response_key.name)
                            }
                            _ => field.response_key.name.to_string(),
                        })
                        .collect();
                    write!(f, "=embedded{{{}}}", fields.join(" "))?
                }
                FieldValue::Related(related) => {
                    let slots: Vec<String> =
                        related.key_slots.iter().map(|s| format!("${s}")).collect();
                    write!(
                        f,
                        "={}({})",
                        if related.many { "many" } else { "one" },
                        slots.join(",")
                    )?;
                    match &related.target {
                        RelatedTarget::Fetched(selection) => write!(f, "[{selection}]")?,
                        RelatedTarget::Reference { type_name, fields } => {
                            let fields: Vec<String> = fields
                                .iter()
                                .map(|field| match field.value {
                                    ReferenceValue::Typename => {
                                        format!("{}=typename", field.response_key.name)
                                    }
                                    ReferenceValue::KeyLeaf(i) => {
                                        format!("{}=key{i}", field.response_key.name)
                                    }
                                })
                                .collect();
                            write!(f, "[{type_name} reference {{ {} }}]", fields.join(" "))?
                        }
                    }
                }
            }
            write_conditions(&field.conditions, f)?;
        }
        f.write_str(" }")
    }
}

fn write_conditions(conditions: &Conditions, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if let Conditions::AnyOf(alternatives) = conditions {
        let alternatives: Vec<String> = alternatives
            .iter()
            .map(|all| {
                all.iter()
                    .map(|c| format!("{}${}", if c.included_when { "" } else { "!" }, c.variable))
                    .collect::<Vec<_>>()
                    .join("&")
            })
            .collect();
        write!(f, " if {}", alternatives.join("|"))?;
    }
    Ok(())
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
