//! Derived mutations (`createX`, `createXs`, `updateX`, `deleteX`): each root field one write
//! in a unit of work of its own, committed before the next field runs; then the written
//! entities with the caller's selection, their relations read as a query reads them.

use std::collections::HashMap;

use apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex};
use graft_plan::MutationPlan;
use graft_schema::{EntityMapping, InputField, MutationKind};
use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::Execution;
use crate::variables::literal_to_json;
use crate::{
    DeleteRequest, EntitySource, GraphQLError, InsertRequest, PathSegment, ResolveError, RowSet,
    UpdateRequest, WriteValue,
};

/// A mutation's write, read from its arguments before any SQL.
enum Write {
    /// Rows to insert, `count` of them, in groups of rows that give the same fields.
    Insert {
        groups: Vec<InsertGroup>,
        count: usize,
    },
    /// Columns to set on the row with a key.
    Update {
        key: EntityKey,
        set: Vec<(usize, WriteValue)>,
    },
    /// The row with a key to delete.
    Delete { key: EntityKey },
}

/// Rows of an insert that give the same fields: one statement, so that a field a row leaves
/// out takes the table's default rather than a NULL another row's shape would force on it.
struct InsertGroup {
    /// The columns written: the fields the rows give, in input-type order.
    columns: Vec<usize>,
    /// Each row's values.
    rows: Vec<Vec<WriteValue>>,
    /// Each row's position among the mutation's inputs.
    positions: Vec<usize>,
}

impl Execution<'_, '_> {
    /// Runs one derived mutation and writes its answer: the written entity (a list for
    /// `createXs`), or `null` with an error saying what was refused and why.
    pub(super) async fn mutate(
        &mut self,
        out: &mut Vec<u8>,
        response_key: &Name,
        plan: &MutationPlan,
    ) {
        let path = vec![PathSegment::Key(response_key.clone())];
        let type_name = &plan.field.type_name;
        let Some(mapping) = self.engine.schema.mapping(type_name) else {
            out.extend_from_slice(b"null");
            return;
        };
        let write = match self.read_write(mapping, plan) {
            Ok(write) => write,
            Err(error) => {
                out.extend_from_slice(b"null");
                self.errors.push(error.at(path));
                return;
            }
        };
        if let Write::Insert { count: 0, .. } = &write {
            out.extend_from_slice(b"[]");
            return;
        }
        let rows = match self
            .run_write(mapping, &plan.selection.columns, &write)
            .await
        {
            Ok(rows) => rows,
            Err(error) => {
                out.extend_from_slice(b"null");
                let error = self.write_error(mapping, response_key, &error);
                self.errors.push(error.at(path));
                return;
            }
        };
        let fetched = self.resolver().resolve(&plan.selection, rows).await;
        let placeholder = EntityKey::new(type_name.clone(), KeyIndex(0), Vec::new());
        let key = || match &write {
            Write::Update { key, .. } | Write::Delete { key } => key,
            Write::Insert { .. } => &placeholder,
        };
        if matches!(plan.field.kind, MutationKind::CreateMany { .. }) {
            out.push(b'[');
            for position in 0..fetched.rows.len() {
                if position > 0 {
                    out.push(b',');
                }
                let mut item = path.clone();
                item.push(PathSegment::Index(position));
                self.write_entity(out, &plan.selection, &fetched, position, item, None, key);
            }
            out.push(b']');
        } else {
            self.write_entity(out, &plan.selection, &fetched, 0, path, None, key);
        }
    }

    /// Reads the write from the mutation's arguments: input objects to rows, key arguments to a
    /// key, a patch to the columns it sets. Validation has checked their types; what is left
    /// to refuse is a key that is not one, a null for a field that may not be null, an empty
    /// patch, and more rows than a list may have.
    fn read_write(
        &self,
        mapping: &EntityMapping,
        plan: &MutationPlan,
    ) -> Result<Write, GraphQLError> {
        let arguments: HashMap<&str, Json> = plan
            .arguments
            .iter()
            .map(|(name, value)| (name.as_str(), literal_to_json(value, self.variables)))
            .collect();
        let field = &plan.field.name;
        let bad =
            |message: String| GraphQLError::new("BAD_USER_INPUT", format!("{field}: {message}"));
        match &plan.field.kind {
            MutationKind::Create { inputs } => {
                let input = arguments.get("input").unwrap_or(&Json::Null);
                insert(inputs, std::slice::from_ref(input)).map_err(bad)
            }
            MutationKind::CreateMany { inputs } => {
                let rows = match arguments.get("inputs") {
                    Some(Json::Array(rows)) => rows.as_slice(),
                    _ => &[],
                };
                let max = self.engine.config.limits.max_list_size as usize;
                if rows.len() > max {
                    return Err(GraphQLError::new(
                        "LIST_SIZE_EXCEEDED",
                        format!(
                            "{field}: {} inputs, past the most a list may have ({max})",
                            rows.len()
                        ),
                    )
                    .with_detail("limit", "max_list_size")
                    .with_detail("found", rows.len())
                    .with_detail("max", max));
                }
                insert(inputs, rows).map_err(bad)
            }
            MutationKind::Update {
                key,
                arguments: key_arguments,
                patch,
            } => {
                let key = self
                    .key(mapping, *key, key_arguments, &arguments)
                    .map_err(bad)?;
                let given = match arguments.get("patch") {
                    Some(Json::Object(given)) => given,
                    _ => return Err(bad("`patch` must be an object".to_owned())),
                };
                let mut set = Vec::new();
                for input in patch {
                    let Some(value) = given.get(input.field.as_str()) else {
                        continue;
                    };
                    let column = &mapping.columns[input.column];
                    if value.is_null() && !column.ty.nullable {
                        return Err(bad(format!("patch.{}: may not be null", input.field)));
                    }
                    set.push((input.column, write_value(value)));
                }
                if set.is_empty() {
                    return Err(bad("the patch sets no field".to_owned()));
                }
                Ok(Write::Update { key, set })
            }
            MutationKind::Delete {
                key,
                arguments: key_arguments,
            } => Ok(Write::Delete {
                key: self
                    .key(mapping, *key, key_arguments, &arguments)
                    .map_err(bad)?,
            }),
        }
    }

    /// The entity key the key arguments form, validated as a representation is.
    fn key(
        &self,
        mapping: &EntityMapping,
        key: KeyIndex,
        names: &[Name],
        arguments: &HashMap<&str, Json>,
    ) -> Result<EntityKey, String> {
        let given = names.iter().map(|name| {
            let value = arguments.get(name.as_str()).cloned().unwrap_or(Json::Null);
            (name.clone(), value)
        });
        let found = self.key_from_arguments(&mapping.type_name, given)?;
        if found.key_index() != key {
            return Err("the arguments form another key than the mutation's".to_owned());
        }
        Ok(found)
    }

    /// Opens a unit of work on the type's source, writes, commits. A failed write is rolled
    /// back before its error is returned.
    async fn run_write(
        &self,
        mapping: &EntityMapping,
        returning: &[usize],
        write: &Write,
    ) -> Result<RowSet, ResolveError> {
        let source = self
            .engine
            .sources
            .source_for(&mapping.type_name)
            .ok_or_else(|| ResolveError::NoSource(mapping.type_name.to_string()))?;
        let turn = self.budget.statement().await?;
        let rows =
            write_in_unit_of_work(source.as_ref(), self.ctx, mapping, returning, write).await?;
        drop(turn);
        self.budget.spent(rows.row_count())?;
        Ok(rows)
    }

    /// The client's error for a failed write: a broken constraint by its code, naming the
    /// constraint and the field (never the value); anything else by kind only, the details in
    /// the log under the request id.
    fn write_error(
        &self,
        mapping: &EntityMapping,
        response_key: &Name,
        error: &ResolveError,
    ) -> GraphQLError {
        let request_id = &self.ctx.request_id;
        match error {
            ResolveError::Constraint { violation, .. } => {
                // The database names columns; the client knows fields.
                let fields: Vec<String> = violation
                    .column
                    .as_deref()
                    .into_iter()
                    .flat_map(|columns| columns.split(", "))
                    .map(|column| {
                        mapping
                            .columns
                            .iter()
                            .find(|c| c.column.eq_ignore_ascii_case(column))
                            .map_or_else(|| column.to_owned(), |c| c.field.to_string())
                    })
                    .collect();
                let mut message = format!("{response_key}: {}", violation.kind.description());
                if let Some(constraint) = &violation.constraint {
                    message.push_str(&format!(" (constraint `{constraint}`)"));
                }
                if !fields.is_empty() {
                    message.push_str(&format!(" (fields: {})", fields.join(", ")));
                }
                let mut graphql = GraphQLError::new(violation.kind.code(), message);
                if let Some(constraint) = &violation.constraint {
                    graphql = graphql.with_detail("constraint", constraint.clone());
                }
                if !fields.is_empty() {
                    graphql = graphql.with_detail("fields", fields);
                }
                graphql
            }
            ResolveError::LimitExceeded(code) => {
                GraphQLError::new(code, format!("{response_key}: {}", error.public_message()))
            }
            other => {
                tracing::warn!(request_id, type_name = %mapping.type_name, error = %other, "write failed");
                GraphQLError::new(
                    "WRITE_FAILED",
                    format!(
                        "{response_key}: nothing was written: {}",
                        other.public_message()
                    ),
                )
                .with_detail("requestId", request_id.clone())
            }
        }
    }
}

/// How many entities a mutation writes, for its estimated cost before any SQL: the number of
/// `createXs` inputs (a literal list's or a variable's items), one for any other mutation.
pub(super) fn entities_written(
    plan: &MutationPlan,
    variables: &crate::request::Variables<'_>,
) -> u64 {
    if !matches!(plan.field.kind, MutationKind::CreateMany { .. }) {
        return 1;
    }
    let Some((_, value)) = plan.arguments.iter().find(|(name, _)| name == "inputs") else {
        return 1;
    };
    let items = match &**value {
        apollo_compiler::ast::Value::List(items) => items.len(),
        apollo_compiler::ast::Value::Variable(name) => variables
            .get(name.as_str())
            .and_then(|raw| serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok())
            .map_or(1, |items| items.len()),
        _ => 1,
    };
    u64::try_from(items).unwrap_or(u64::MAX).max(1)
}

/// Runs `write` in a unit of work of its own on `source`: begin, write, commit; on a failed
/// write, an explicit rollback (a dropped unit of work rolls back too, but may cost its
/// connection).
async fn write_in_unit_of_work(
    source: &dyn EntitySource,
    ctx: &crate::RequestContext,
    mapping: &EntityMapping,
    returning: &[usize],
    write: &Write,
) -> Result<RowSet, ResolveError> {
    let mut work = source.begin(ctx).await?;
    let written = match write {
        Write::Insert { groups, count } => {
            insert_groups(work.as_mut(), mapping, returning, groups, *count).await
        }
        Write::Update { key, set } => {
            work.update(UpdateRequest {
                mapping,
                match_columns: mapping.key_columns(key.key_index()),
                key,
                set,
                returning,
            })
            .await
        }
        Write::Delete { key } => {
            work.delete(DeleteRequest {
                mapping,
                match_columns: mapping.key_columns(key.key_index()),
                key,
                returning,
            })
            .await
        }
    };
    match written {
        Ok(rows) => {
            work.commit().await?;
            Ok(rows)
        }
        Err(error) => {
            if let Err(rollback) = work.rollback().await {
                tracing::debug!(%rollback, "rolling back a failed write");
            }
            Err(error)
        }
    }
}

/// Inserts each group in one statement, in the order of their first rows, and answers the
/// written rows in input order.
async fn insert_groups(
    work: &mut dyn crate::UnitOfWork,
    mapping: &EntityMapping,
    returning: &[usize],
    groups: &[InsertGroup],
    count: usize,
) -> Result<RowSet, ResolveError> {
    let mut written = Vec::with_capacity(groups.len());
    for group in groups {
        let rows = work
            .insert(InsertRequest {
                mapping,
                columns: &group.columns,
                rows: &group.rows,
                returning,
            })
            .await?;
        written.push(rows);
    }
    // One group of every input, the usual case: its rows are already in input order.
    if let [only] = groups
        && only.rows.len() == count
    {
        return Ok(written.pop().expect("one group, one row set"));
    }
    let mut merged = RowSet::new(count, returning.len());
    for (group, rows) in groups.iter().zip(&written) {
        for (i, &position) in group.positions.iter().enumerate() {
            for row in rows.rows_of(i) {
                let mut writer = merged.row(position);
                for cell in rows.cells(row) {
                    match *cell {
                        crate::Cell::Text { start, len } => writer.push_text(rows.text(start, len)),
                        crate::Cell::Json { start, len } => writer.push_json(rows.text(start, len)),
                        other => writer.push(other),
                    }
                }
            }
        }
    }
    Ok(merged)
}

/// The rows of an insert, grouped by the fields they give (see [`InsertGroup`]).
fn insert(inputs: &[InputField], given: &[Json]) -> Result<Write, String> {
    let mut groups: Vec<InsertGroup> = Vec::new();
    for (position, object) in given.iter().enumerate() {
        let Json::Object(object) = object else {
            return Err(format!("input {position} must be an object"));
        };
        let fields: Vec<&InputField> = inputs
            .iter()
            .filter(|input| object.contains_key(input.field.as_str()))
            .collect();
        if fields.is_empty() {
            return Err(format!("input {position} gives no field to write"));
        }
        let columns: Vec<usize> = fields.iter().map(|input| input.column).collect();
        let row = fields
            .iter()
            .map(|input| write_value(&object[input.field.as_str()]))
            .collect();
        match groups.iter_mut().find(|group| group.columns == columns) {
            Some(group) => {
                group.rows.push(row);
                group.positions.push(position);
            }
            None => groups.push(InsertGroup {
                columns,
                rows: vec![row],
                positions: vec![position],
            }),
        }
    }
    Ok(Write::Insert {
        groups,
        count: given.len(),
    })
}

/// A coerced input value as the value written into its column: each database converts it
/// to the column's type as an assignment does.
fn write_value(value: &Json) -> WriteValue {
    match value {
        Json::Null => WriteValue::Null,
        Json::Bool(b) => WriteValue::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => WriteValue::Int(i),
            // serde_json's numbers are finite.
            None => WriteValue::Float(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => WriteValue::Text(s.clone()),
        // Objects and lists are custom scalars' values (JSON columns).
        Json::Array(_) | Json::Object(_) => WriteValue::Json(value.to_string()),
    }
}
