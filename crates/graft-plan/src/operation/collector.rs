//! Collecting an operation's fields (GraphQL's CollectFields, with fragments expanded once per
//! selection set) into the selections of the plan.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use apollo_compiler::ast::{self, Value};
use apollo_compiler::executable::{ExecutableDocument, Field, Selection, SelectionSet};
use apollo_compiler::{Name, Node};
use graft_keys::KeyIndex;
use graft_schema::{EmbeddedField, EmbeddedMapping, EntityMapping, SubgraphSchema};

use super::*;
use crate::PlanError;
use crate::cost::{self, CompileOptions};
use crate::page::{EdgeValue, PageField, PageInfoValue, PagePlan, PageValue};

/// The slot of mapping column `index` in a selection's `columns`, added on first use.
pub(super) fn slot_of(columns: &mut Vec<usize>, index: usize) -> usize {
    columns.iter().position(|&c| c == index).unwrap_or_else(|| {
        columns.push(index);
        columns.len() - 1
    })
}

/// Whether the selection being compiled has representations to compute fields from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Representations {
    /// In `_entities`.
    Available,
    /// Anywhere else.
    Absent,
}

/// The fields of one response key, merged as GraphQL's CollectFields does.
pub(super) struct Collected<'a> {
    pub(super) response_key: ResponseKey,
    pub(super) conditions: Conditions,
    pub(super) fields: Vec<&'a Node<Field>>,
}

/// The fields of one selection set being collected: merged by response key and found by it
/// in constant time; a fragment already expanded under the same conditions is not expanded
/// again (GraphQL's CollectFields skips visited fragments), so repeated spreads cost nothing.
#[derive(Default)]
pub(super) struct Collection<'a> {
    fields: Vec<Collected<'a>>,
    by_key: HashMap<Name, usize>,
    /// Field nodes already merged, so a field reached twice is merged once.
    seen: HashSet<*const Field>,
    expanded: HashSet<(Name, Vec<Condition>)>,
}

/// What makes two relation fields one load: the parent type, the relation's index, the text of
/// its `first` argument and the target's selection.
pub(super) type LoadKey = (Name, usize, Option<String>, EntitySelection);

pub(super) struct Collector<'a> {
    pub(super) schema: &'a SubgraphSchema,
    pub(super) document: &'a ExecutableDocument,
    pub(super) options: &'a CompileOptions,
    /// Fields collected so far, for [`Shape::fields`] and the planning ceiling.
    pub(super) fields: Cell<u32>,
    /// Work spent collecting so far: a selection visited costs one plus the conditions it
    /// carries (which its field's conditions copy). Past [`crate::PLANNING_WORK_CEILING`] planning
    /// stops: fragments are expanded once per combination of `@include`/`@skip` conditions
    /// they are spread under, and those combinations can multiply with each level.
    pub(super) work: Cell<u64>,
    /// `@include`/`@skip` conditions kept in the plan so far beyond each field's first
    /// combination, over all fields; past [`crate::PLANNING_CONDITIONS_CEILING`] planning stops.
    pub(super) conditions: Cell<u64>,
    /// The relation loads handed out: equal (parent type, relation, `first`, target selection)
    /// share one.
    pub(super) loads: RefCell<HashMap<LoadKey, LoadId>>,
}

impl<'a> Collector<'a> {
    /// Collects the fields `selection_set` selects on an object of type `concrete`.
    pub(super) fn collect(
        &self,
        selection_set: &'a SelectionSet,
        concrete: &str,
    ) -> Result<Vec<Collected<'a>>, PlanError> {
        let mut out = Collection::default();
        self.collect_into(selection_set, concrete, &mut Vec::new(), &mut out);
        self.counted(out.fields)
    }

    /// Adds `fields` to the operation's field count; past the ceiling, planning stops.
    pub(super) fn counted(
        &self,
        fields: Vec<Collected<'a>>,
    ) -> Result<Vec<Collected<'a>>, PlanError> {
        if self.work.get() > cost::PLANNING_WORK_CEILING {
            return Err(PlanError::TooComplex {
                what: format!(
                    "take more than {} steps to expand: each fragment is expanded once for \
                     every combination of conditions it is spread under",
                    cost::PLANNING_WORK_CEILING
                ),
                limit: cost::PLANNING_WORK_CEILING,
            });
        }
        if self.conditions.get() > cost::PLANNING_CONDITIONS_CEILING {
            return Err(PlanError::TooComplex {
                what: format!(
                    "give its fields more than {} conditions to check for every object answered",
                    cost::PLANNING_CONDITIONS_CEILING
                ),
                limit: cost::PLANNING_CONDITIONS_CEILING,
            });
        }
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
    pub(super) fn count_unplanned(
        &self,
        selection_set: &'a SelectionSet,
    ) -> Result<u32, PlanError> {
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

    pub(super) fn collect_into(
        &self,
        selection_set: &'a SelectionSet,
        concrete: &str,
        path: &mut Vec<Condition>,
        out: &mut Collection<'a>,
    ) {
        for selection in &selection_set.selections {
            let work = self.work.get() + 1 + path.len() as u64;
            self.work.set(work);
            if work > cost::PLANNING_WORK_CEILING
                || self.conditions.get() > cost::PLANNING_CONDITIONS_CEILING
            {
                // `counted` refuses the operation once collecting returns.
                return;
            }
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
                    let kept = match out.by_key.get(key) {
                        Some(&existing) => {
                            let existing = &mut out.fields[existing];
                            if first_time {
                                existing.fields.push(field);
                            }
                            existing.conditions.merge(conditions)
                        }
                        None => {
                            // A field's first combination is part of the plan's size, which
                            // `max_fields` bounds; only further ones count.
                            out.by_key.insert(key.clone(), out.fields.len());
                            out.fields.push(Collected {
                                response_key: ResponseKey::new(key.clone()),
                                conditions,
                                fields: vec![field],
                            });
                            0
                        }
                    };
                    self.conditions
                        .set(self.conditions.get().saturating_add(kept as u64));
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

    pub(super) fn applies(&self, type_condition: &str, concrete: &str) -> bool {
        type_condition == concrete
            || self
                .schema
                .api_schema()
                .is_subtype(type_condition, concrete)
    }

    /// The sub-fields of a merged field, on an object of type `concrete`.
    pub(super) fn subfields(
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
    pub(super) fn load_id(
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
    pub(super) fn list_size(&self, type_name: &Name, field: &Name) -> u64 {
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

    pub(super) fn service_fields(
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
    pub(super) fn entity_selection(
        &self,
        type_name: &Name,
        collected: &Collected<'a>,
    ) -> Result<EntitySelection, PlanError> {
        self.selection(type_name, collected, Representations::Absent)
    }

    pub(super) fn selection(
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
    pub(super) fn embedded(
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
    pub(super) fn page(
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
    pub(super) fn reference_selection(
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
pub(super) fn push_conditions(directives: &ast::DirectiveList, path: &mut Vec<Condition>) -> bool {
    for directive in directives.iter() {
        let included_when = match directive.name.as_str() {
            "include" => true,
            "skip" => false,
            _ => continue,
        };
        match directive.specified_argument_by_name("if").map(|v| &**v) {
            Some(Value::Boolean(value)) if *value != included_when => return false,
            Some(Value::Variable(variable)) => {
                match path.iter().find(|c| c.variable == *variable) {
                    // Already required: nothing new.
                    Some(c) if c.included_when == included_when => {}
                    // Required to be both true and false: never included.
                    Some(_) => return false,
                    None => path.push(Condition {
                        variable: variable.clone(),
                        included_when,
                    }),
                }
            }
            _ => {}
        }
    }
    true
}
