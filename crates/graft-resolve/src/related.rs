//! Rows and what their relation fields lead to, and writing them as JSON.
//!
//! Relations resolve level by level: for a fetched [`RowSet`], each `@belongsTo`/`@hasMany`
//! field collects the values its parent rows look up by, deduplicates them, and loads the
//! target rows through the request's [`Loaders`] (one statement per `max_batch` keys, shared by
//! concurrent loads of the same field, cached for the request), for all the parents at once.
//! The same happens below, so a query costs one statement per relation and level, never one
//! per row.

use std::collections::HashMap;

use apollo_compiler::Name;
use graft_keys::{EntityKey, KeyFloat, KeyIndex, KeyValue};
use graft_plan::{
    EmbeddedPlan, EntitySelection, FieldPlan, FieldValue, ReferenceValue, RelatedPlan,
    RelatedTarget,
};
use graft_schema::{
    ComputedField, EntityMapping, Number, OutputScalar, RelationMapping, SubgraphSchema,
};
use serde_json::value::RawValue;

use crate::limits::RequestBudget;
use crate::loader::{Loaded, Loaders};
use crate::request::Variables;
use crate::variables::literal_to_json;
use crate::write::{self, CoercionError};
use crate::{
    BoxFuture, Cell, FetchRequest, GraphQLError, PathSegment, RequestContext, ResolveError, RowSet,
    SourceRouter,
};

/// Fetched rows of one selection, and the resolved relations of its fields.
pub(crate) struct Fetched {
    pub(crate) rows: RowSet,
    /// By field index of the selection: the relation's result, for relation fields.
    related: Vec<Option<Related>>,
}

/// What one relation field of a level resolved to.
struct Related {
    /// For each parent row: the index of its lookup key in `keys`, or `None` when the parent's
    /// columns are NULL.
    parent_keys: Vec<Option<u32>>,
    /// The distinct lookup keys.
    keys: Vec<EntityKey>,
    /// Each key's rows: a shared batch and the key's position in it.
    loaded: Vec<Loaded<Fetched>>,
    /// The list's `first` argument, read once for all parents: at most that many items, or
    /// why the value cannot be used.
    first: Result<Option<u64>, String>,
}

/// What resolving needs from the engine.
pub(crate) struct Resolver<'a> {
    pub(crate) schema: &'a SubgraphSchema,
    pub(crate) sources: &'a SourceRouter,
    pub(crate) ctx: &'a RequestContext,
    /// The request's relation loaders.
    pub(crate) loaders: &'a Loaders<Fetched>,
    /// What the request may still spend.
    pub(crate) budget: &'a RequestBudget,
    /// The request's variables, for arguments such as a list's `first`.
    pub(crate) variables: &'a Variables<'a>,
}

impl Resolver<'_> {
    /// Resolves the relation fields of `selection` for every row of `rows`, and theirs below.
    pub(crate) fn resolve<'s>(
        &'s self,
        selection: &'s EntitySelection,
        rows: RowSet,
    ) -> BoxFuture<'s, Fetched> {
        Box::pin(async move {
            let mapping = self
                .schema
                .mapping(&selection.type_name)
                .expect("selections are of mapped types");
            // All relation fields of the level at once, so that their loads can coalesce.
            let loads = selection.fields.iter().map(|field| {
                let rows = &rows;
                async move {
                    match &field.value {
                        FieldValue::Related(plan) => match &plan.target {
                            RelatedTarget::Fetched(target) => {
                                Some(self.related(mapping, plan, target, rows).await)
                            }
                            RelatedTarget::Reference { .. } => None,
                        },
                        _ => None,
                    }
                }
            });
            let related = futures_util::future::join_all(loads).await;
            Fetched { rows, related }
        })
    }

    async fn related(
        &self,
        mapping: &EntityMapping,
        plan: &RelatedPlan,
        target: &EntitySelection,
        rows: &RowSet,
    ) -> Related {
        let relation = &mapping.relations[plan.relation];
        let target_mapping = self
            .schema
            .mapping(&relation.target)
            .expect("fetched relation targets are mapped");
        let key_index = relation.target_key.unwrap_or(KeyIndex(0));
        // Distinct lookup values, in first-seen order, and each parent's.
        let mut positions: HashMap<EntityKey, u32> = HashMap::new();
        let mut keys: Vec<EntityKey> = Vec::new();
        let mut parent_keys = Vec::with_capacity(rows.row_count());
        for row in 0..rows.row_count() {
            let cells = rows.cells(u32::try_from(row).expect("fewer than 2^32 rows"));
            let values: Option<Vec<KeyValue>> = plan
                .key_slots
                .iter()
                .zip(&relation.local_columns)
                .map(|(&slot, &column)| {
                    key_value(rows, cells[slot], mapping.columns[column].ty.scalar)
                })
                .collect();
            parent_keys.push(values.map(|values| {
                let key = EntityKey::new(relation.target.clone(), key_index, values);
                let next = u32::try_from(keys.len()).expect("fewer than 2^32 keys");
                *positions.entry(key.clone()).or_insert_with(|| {
                    keys.push(key);
                    next
                })
            }));
        }
        // One loader per load of the plan: fields that read the same relation with the same
        // selection (aliases of one field) share it, and its statements.
        let loader = plan.load.expect("fetched relations have a load").0 as usize;
        let first = first_argument(plan, self.variables, self.budget.max_list_size);
        // An invalid `first` reads nothing; the writer reports it.
        let per_key_limit = first.clone().unwrap_or(Some(0));
        let fetch = |batch: Vec<EntityKey>| async move {
            let refs: Vec<&EntityKey> = batch.iter().collect();
            let source = self
                .sources
                .source_for(&relation.target)
                .ok_or_else(|| ResolveError::NoSource(relation.target.to_string()))?;
            let request = FetchRequest {
                mapping: target_mapping,
                match_columns: &relation.target_columns,
                keys: &refs,
                columns: &target.columns,
                many: relation.many,
                row_limit: relation.many.then(|| self.budget.row_limit()),
                per_key_limit,
            };
            let turn = self.budget.statement().await?;
            let rows = source.fetch(self.ctx, request).await?;
            drop(turn);
            self.budget.spent(rows.row_count())?;
            Ok(self.resolve(target, rows).await)
        };
        let loaded = self.loaders.load(loader, &keys, fetch).await;
        Related {
            parent_keys,
            keys,
            loaded,
            first,
        }
    }
}

/// The value of a list's `first` argument: `None` when not given or null, an error message
/// when it is negative or over `max`.
fn first_argument(
    plan: &RelatedPlan,
    variables: &Variables<'_>,
    max: u32,
) -> Result<Option<u64>, String> {
    let Some(value) = &plan.first else {
        return Ok(None);
    };
    match literal_to_json(value, variables) {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(n) if (0..=i64::from(max)).contains(&n) => Ok(Some(n as u64)),
            _ => Err(format!(
                "`first` is {n}: give 0 to {max} (the server's `max_list_size`)"
            )),
        },
        other => Err(format!("`first` is {other}, not an Int")),
    }
}

/// A cell as a key value typed like the column's field, so that equal values deduplicate.
/// The values of a computed field's variables, read from the representation's fields: a
/// missing field or `null` is null; anything but a number is an error naming the field.
fn computed_inputs(
    field: &ComputedField,
    representation: &[(Box<str>, Box<RawValue>)],
) -> Result<Vec<Number>, String> {
    field
        .expression
        .variables()
        .iter()
        .map(|variable| {
            let mut parts = variable.split('.');
            let top = parts.next().unwrap_or_default();
            let Some((_, raw)) = representation.iter().find(|(name, _)| &**name == top) else {
                return Ok(Number::Null);
            };
            let mut value: serde_json::Value = serde_json::from_str(raw.get())
                .map_err(|e| format!("the representation's `{top}` is not JSON: {e}"))?;
            for part in parts {
                value = match value {
                    serde_json::Value::Object(mut object) => {
                        object.remove(part).unwrap_or(serde_json::Value::Null)
                    }
                    serde_json::Value::Null => serde_json::Value::Null,
                    other => {
                        return Err(format!(
                            "the representation's `{variable}` cannot be read: {other} is not an object"
                        ));
                    }
                };
            }
            match value {
                serde_json::Value::Null => Ok(Number::Null),
                serde_json::Value::Number(n) => Ok(match n.as_i64() {
                    Some(i) => Number::Int(i),
                    None => Number::Float(n.as_f64().unwrap_or(f64::NAN)),
                }),
                other => Err(format!(
                    "the representation's `{variable}` is {other}, not a number"
                )),
            }
        })
        .collect()
}

pub(crate) fn key_value(rows: &RowSet, cell: Cell, scalar: OutputScalar) -> Option<KeyValue> {
    Some(match (cell, scalar) {
        (Cell::Null, _) => return None,
        (Cell::Text { start, len } | Cell::Json { start, len }, _) => {
            KeyValue::String(rows.text(start, len).into())
        }
        (Cell::Int(i), OutputScalar::Int | OutputScalar::Float | OutputScalar::Custom) => {
            KeyValue::Int(i)
        }
        (Cell::Int(i), OutputScalar::Boolean) => KeyValue::Boolean(i != 0),
        (Cell::Int(i), _) => KeyValue::String(i.to_string().into()),
        (Cell::Float(f), _) => KeyValue::Float(KeyFloat::new(f)?),
        (Cell::Bool(b), _) => KeyValue::Boolean(b),
    })
}

/// A non-null field had no value: the enclosing nullable position becomes `null`.
pub(crate) struct NullPropagates;

/// Writes rows as JSON and collects field errors.
pub(crate) struct Writer<'a, V: Fn(&Name) -> bool> {
    pub(crate) schema: &'a SubgraphSchema,
    /// The sources, to name the strategy of a failed relation.
    pub(crate) sources: &'a SourceRouter,
    pub(crate) variable: V,
    pub(crate) errors: &'a mut Vec<GraphQLError>,
    /// The fields of the representation being answered, besides its key, for computed fields
    /// (`_entities` only).
    pub(crate) representation: Option<&'a [(Box<str>, Box<RawValue>)]>,
    /// The request's budget: the writer stops at its byte limit.
    pub(crate) budget: &'a RequestBudget,
    /// The request id, in errors and the log.
    pub(crate) request_id: &'a str,
}

impl<V: Fn(&Name) -> bool> Writer<'_, V> {
    /// Writes row `row` of `fetched` as an object of `selection`.
    pub(crate) fn row(
        &mut self,
        out: &mut Vec<u8>,
        selection: &EntitySelection,
        fetched: &Fetched,
        row: u32,
        path: &mut Vec<PathSegment>,
    ) -> Result<(), NullPropagates> {
        // Checked once per object: the response outgrows its limit by one row at most. Once
        // over, always over: null propagation truncates what was written, and the writer must
        // not fill the buffer again with the next sibling.
        if self.budget.over_bytes(out.len()) {
            return Err(NullPropagates);
        }
        // Looked up only for the fields that need it: hashing the type's name for every row
        // written cost more than writing a column.
        let schema = self.schema;
        let mapping = || {
            schema
                .mapping(&selection.type_name)
                .expect("selections are of mapped types")
        };
        let rows = &fetched.rows;
        let cells = rows.cells(row);
        let type_name = &selection.type_name;
        self.object(
            out,
            &selection.fields,
            path,
            |writer, out, index, field, path| match &field.value {
                FieldValue::Typename => {
                    write::string(out, type_name);
                    Ok(())
                }
                FieldValue::Column {
                    slot,
                    scalar,
                    nullable,
                } => writer.column(
                    out,
                    rows,
                    cells[*slot],
                    *scalar,
                    *nullable,
                    type_name,
                    field.response_key.name(),
                    path,
                ),
                FieldValue::Embedded(plan) => writer.embedded(out, rows, cells, plan, path),
                FieldValue::Computed {
                    computed,
                    scalar,
                    nullable,
                } => writer.computed(
                    out,
                    &mapping().computed[*computed],
                    *scalar,
                    *nullable,
                    type_name,
                    path,
                ),
                FieldValue::Related(plan) => {
                    let mapping = mapping();
                    let relation = &mapping.relations[plan.relation];
                    match &plan.target {
                        RelatedTarget::Reference { type_name, fields } => writer.reference(
                            out, rows, cells, plan, relation, mapping, type_name, fields,
                        ),
                        RelatedTarget::Fetched(target) => {
                            let related = fetched.related[index]
                                .as_ref()
                                .expect("resolved with the rows");
                            let field = (type_name, &relation.field);
                            writer.related(out, plan, field, target, related, row as usize, path)
                        }
                    }
                }
            },
        )
    }

    /// Writes an object of `fields` (those whose conditions hold), each value by `value`. A
    /// field whose value fails becomes `null` when nullable; otherwise the object fails.
    fn object(
        &mut self,
        out: &mut Vec<u8>,
        fields: &[FieldPlan],
        path: &mut Vec<PathSegment>,
        mut value: impl FnMut(
            &mut Self,
            &mut Vec<u8>,
            usize,
            &FieldPlan,
            &mut Vec<PathSegment>,
        ) -> Result<(), NullPropagates>,
    ) -> Result<(), NullPropagates> {
        out.push(b'{');
        let mut first = true;
        for (index, field) in fields.iter().enumerate() {
            if !field.conditions.hold(&self.variable) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(field.response_key.json_prefix().as_bytes());
            let value_start = out.len();
            path.push(PathSegment::Key(field.response_key.name().clone()));
            let result = value(self, out, index, field, path);
            path.pop();
            if result.is_err() {
                if !field.value.nullable() {
                    return Err(NullPropagates);
                }
                out.truncate(value_start);
                out.extend_from_slice(b"null");
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// Writes an object stored in the row: `null` when it may be and all its columns are NULL.
    fn embedded(
        &mut self,
        out: &mut Vec<u8>,
        rows: &RowSet,
        cells: &[Cell],
        plan: &EmbeddedPlan,
        path: &mut Vec<PathSegment>,
    ) -> Result<(), NullPropagates> {
        if plan.nullable
            && plan
                .presence
                .iter()
                .all(|&slot| matches!(cells[slot], Cell::Null))
        {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        self.object(
            out,
            &plan.fields,
            path,
            |writer, out, _, field, path| match &field.value {
                FieldValue::Typename => {
                    write::string(out, &plan.type_name);
                    Ok(())
                }
                FieldValue::Column {
                    slot,
                    scalar,
                    nullable,
                } => writer.column(
                    out,
                    rows,
                    cells[*slot],
                    *scalar,
                    *nullable,
                    &plan.type_name,
                    field.response_key.name(),
                    path,
                ),
                FieldValue::Embedded(inner) => writer.embedded(out, rows, cells, inner, path),
                FieldValue::Related(_) | FieldValue::Computed { .. } => {
                    unreachable!("embedded plans hold columns and objects only")
                }
            },
        )
    }

    /// Records that the relation's `key` could not be resolved: the field fails, with an error
    /// naming the key and the strategy that failed.
    fn failed(
        &mut self,
        out: &mut Vec<u8>,
        error: &ResolveError,
        key: &EntityKey,
        path: &[PathSegment],
    ) -> Result<(), NullPropagates> {
        let strategy = self.sources.strategy_for(key.type_name());
        self.errors.push(crate::request::fetch_error(
            error,
            key,
            path.to_vec(),
            strategy,
            self.request_id,
        ));
        out.extend_from_slice(b"null");
        Err(NullPropagates)
    }

    /// Writes a field computed from the representation's `@requires` values.
    fn computed(
        &mut self,
        out: &mut Vec<u8>,
        field: &ComputedField,
        scalar: OutputScalar,
        nullable: bool,
        type_name: &Name,
        path: &[PathSegment],
    ) -> Result<(), NullPropagates> {
        let value =
            computed_inputs(field, self.representation.unwrap_or_default()).and_then(|inputs| {
                field
                    .expression
                    .evaluate(&inputs)
                    .map_err(|error| error.to_string())
            });
        let problem = match value {
            Err(message) => Some(message),
            Ok(Number::Null) if nullable => {
                out.extend_from_slice(b"null");
                None
            }
            Ok(Number::Null) => Some("computed null for a non-null field".to_owned()),
            Ok(Number::Int(i)) if scalar == OutputScalar::Float => {
                write::float(out, i as f64);
                None
            }
            Ok(Number::Int(i)) => match i32::try_from(i) {
                Ok(i) => {
                    write::int(out, i64::from(i));
                    None
                }
                Err(_) => Some(format!("computed {i}, which does not fit an Int (32 bits)")),
            },
            Ok(Number::Float(f)) if scalar == OutputScalar::Float && f.is_finite() => {
                write::float(out, f);
                None
            }
            Ok(Number::Float(f)) if scalar == OutputScalar::Float => {
                Some(format!("computed {f}, which is not a finite Float"))
            }
            Ok(Number::Float(f)) => Some(format!(
                "computed {f} for an Int; make the expression integral with round(), floor() or ceil()"
            )),
        };
        match problem {
            None => Ok(()),
            Some(message) => {
                self.errors.push(
                    GraphQLError::new(
                        "FIELD_VALUE_INVALID",
                        format!("{type_name}.{}: {message}", field.field),
                    )
                    .at(path.to_vec()),
                );
                Err(NullPropagates)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn column(
        &mut self,
        out: &mut Vec<u8>,
        rows: &RowSet,
        cell: Cell,
        scalar: OutputScalar,
        nullable: bool,
        type_name: &Name,
        field: &Name,
        path: &[PathSegment],
    ) -> Result<(), NullPropagates> {
        let problem = match write::cell(out, rows, cell, scalar) {
            Err(CoercionError(message)) => Some(message),
            Ok(()) if matches!(cell, Cell::Null) && !nullable => {
                Some("the column is NULL but the field is non-null".to_owned())
            }
            Ok(()) => None,
        };
        match problem {
            None => Ok(()),
            Some(message) => {
                self.errors.push(
                    GraphQLError::new(
                        "FIELD_VALUE_INVALID",
                        format!("{type_name}.{field}: {message}"),
                    )
                    .at(path.to_vec()),
                );
                Err(NullPropagates)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reference(
        &mut self,
        out: &mut Vec<u8>,
        rows: &RowSet,
        cells: &[Cell],
        plan: &RelatedPlan,
        relation: &RelationMapping,
        mapping: &EntityMapping,
        type_name: &Name,
        fields: &[graft_plan::ReferenceField],
    ) -> Result<(), NullPropagates> {
        if plan
            .key_slots
            .iter()
            .any(|&slot| matches!(cells[slot], Cell::Null))
        {
            out.extend_from_slice(b"null");
            return if plan.nullable {
                Ok(())
            } else {
                Err(NullPropagates)
            };
        }
        out.push(b'{');
        let mut first = true;
        for field in fields {
            if !field.conditions.hold(&self.variable) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(field.response_key.json_prefix().as_bytes());
            match field.value {
                ReferenceValue::Typename => write::string(out, type_name),
                ReferenceValue::KeyLeaf(leaf) => {
                    let scalar = mapping.columns[relation.local_columns[leaf]].ty.scalar;
                    if write::cell(out, rows, cells[plan.key_slots[leaf]], scalar).is_err() {
                        write::string(out, "");
                    }
                }
            }
        }
        out.push(b'}');
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn related(
        &mut self,
        out: &mut Vec<u8>,
        plan: &RelatedPlan,
        (parent, field): (&Name, &Name),
        target: &EntitySelection,
        related: &Related,
        parent_row: usize,
        path: &mut Vec<PathSegment>,
    ) -> Result<(), NullPropagates> {
        let Some(index) = related.parent_keys[parent_row] else {
            out.extend_from_slice(if plan.many { b"[]" } else { b"null" });
            return if plan.many || plan.nullable {
                Ok(())
            } else {
                Err(NullPropagates)
            };
        };
        let key = &related.keys[index as usize];
        let (fetched, position) = match &related.loaded[index as usize] {
            Ok((fetched, position)) => match fetched.rows.key_error(*position as usize) {
                None => (&**fetched, *position),
                Some(error) => return self.failed(out, error, key, path),
            },
            Err(error) => return self.failed(out, error, key, path),
        };
        if plan.many {
            let max = self.budget.max_list_size;
            let first = match &related.first {
                Ok(first) => *first,
                Err(message) => {
                    self.errors.push(
                        GraphQLError::new("BAD_USER_INPUT", format!("{parent}.{field}: {message}"))
                            .at(path.clone()),
                    );
                    out.extend_from_slice(b"null");
                    return if plan.nullable {
                        Ok(())
                    } else {
                        Err(NullPropagates)
                    };
                }
            };
            let length = fetched.rows.rows_of(position as usize).count();
            // The source kept the first `first` rows of each key; a source that cannot still
            // has them in order.
            let length = first.map_or(length, |first| length.min(first as usize));
            if length > max as usize {
                self.errors.push(
                    GraphQLError::new(
                        "LIST_SIZE_EXCEEDED",
                        format!(
                            "{parent}.{field} has {length} items here, over the limit of {max} \
                             (`max_list_size`); select fewer parents or raise the limit"
                        ),
                    )
                    .at(path.clone())
                    .with_detail("field", format!("{parent}.{field}"))
                    .with_detail("found", length)
                    .with_detail("max", max),
                );
                out.extend_from_slice(b"null");
                return if plan.nullable {
                    Ok(())
                } else {
                    Err(NullPropagates)
                };
            }
            out.push(b'[');
            for (i, row) in fetched
                .rows
                .rows_of(position as usize)
                .take(length)
                .enumerate()
            {
                if i > 0 {
                    out.push(b',');
                }
                path.push(PathSegment::Index(i));
                // Items are non-null (`[T!]`): a null item makes the whole list null.
                let item = self.row(out, target, fetched, row, path);
                path.pop();
                item?;
            }
            out.push(b']');
            Ok(())
        } else {
            match fetched.rows.rows_of(position as usize).next() {
                Some(row) => self.row(out, target, fetched, row, path),
                None => {
                    out.extend_from_slice(b"null");
                    if plan.nullable {
                        Ok(())
                    } else {
                        Err(NullPropagates)
                    }
                }
            }
        }
    }
}
