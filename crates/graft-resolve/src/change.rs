//! Writes, whoever asks for them: a [`Change`] to one entity type's rows, read from a GraphQL
//! mutation's arguments or a `/batch` operation's parameters, applied in a [`UnitOfWork`]. The
//! one code path from a write request to the storage layer.

use graft_keys::EntityKey;
use graft_schema::{EntityMapping, InputField};
use serde_json::Value as Json;

use crate::{
    Cell, DeleteRequest, EntitySource, InsertRequest, RequestContext, ResolveError, RowSet,
    UnitOfWork, UpdateRequest, WriteValue,
};

/// A write to one entity type's rows, checked before any SQL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
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
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InsertGroup {
    /// The columns written: the fields the rows give, in input-type order.
    columns: Vec<usize>,
    /// Each row's values.
    rows: Vec<Vec<WriteValue>>,
    /// Each row's position among the inputs.
    positions: Vec<usize>,
}

impl Change {
    /// The insert of `given` input objects, each giving some of `inputs`' fields.
    pub(crate) fn insert(inputs: &[InputField], given: &[Json]) -> Result<Change, String> {
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
        Ok(Change::Insert {
            groups,
            count: given.len(),
        })
    }

    /// The update setting the fields `patch` gives, of `fields`, on the row with `key`.
    pub(crate) fn update(
        mapping: &EntityMapping,
        key: EntityKey,
        fields: &[InputField],
        patch: &serde_json::Map<String, Json>,
    ) -> Result<Change, String> {
        let mut set = Vec::new();
        for input in fields {
            let Some(value) = patch.get(input.field.as_str()) else {
                continue;
            };
            let column = &mapping.columns[input.column];
            if value.is_null() && !column.ty.nullable {
                return Err(format!("{}: may not be null", input.field));
            }
            set.push((input.column, write_value(value)));
        }
        if set.is_empty() {
            return Err("the patch sets no field".to_owned());
        }
        Ok(Change::Update { key, set })
    }

    /// The key of the row it changes, for an update or a delete.
    pub(crate) fn key(&self) -> Option<&EntityKey> {
        match self {
            Change::Update { key, .. } | Change::Delete { key } => Some(key),
            Change::Insert { .. } => None,
        }
    }

    /// Writes it in `work`; the answer holds the written rows' `returning` columns: an
    /// insert's rows in input order (position `i` for input `i`), an update's or a delete's
    /// row at position 0, or no row there when no row has the key.
    pub(crate) async fn apply(
        &self,
        work: &mut dyn UnitOfWork,
        mapping: &EntityMapping,
        returning: &[usize],
    ) -> Result<RowSet, ResolveError> {
        match self {
            Change::Insert { groups, count } => {
                insert_groups(work, mapping, returning, groups, *count).await
            }
            Change::Update { key, set } => {
                work.update(UpdateRequest {
                    mapping,
                    match_columns: mapping.key_columns(key.key_index()),
                    key,
                    set,
                    returning,
                })
                .await
            }
            Change::Delete { key } => {
                work.delete(DeleteRequest {
                    mapping,
                    match_columns: mapping.key_columns(key.key_index()),
                    key,
                    returning,
                })
                .await
            }
        }
    }

    /// Writes it in a unit of work of its own on `source`: begin, write, commit; on a failed
    /// write, an explicit rollback (a dropped unit of work rolls back too, but may cost its
    /// connection).
    pub(crate) async fn apply_alone(
        &self,
        source: &dyn EntitySource,
        ctx: &RequestContext,
        mapping: &EntityMapping,
        returning: &[usize],
    ) -> Result<RowSet, ResolveError> {
        let mut work = source.begin(ctx).await?;
        match self.apply(work.as_mut(), mapping, returning).await {
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
}

/// Inserts each group in one statement, in the order of their first rows, and answers the
/// written rows in input order.
async fn insert_groups(
    work: &mut dyn UnitOfWork,
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
                        Cell::Text { start, len } => writer.push_text(rows.text(start, len)),
                        Cell::Json { start, len } => writer.push_json(rows.text(start, len)),
                        other => writer.push(other),
                    }
                }
            }
        }
    }
    Ok(merged)
}

/// A checked input value as the value written into its column: each database converts it to
/// the column's type as an assignment does.
pub(crate) fn write_value(value: &Json) -> WriteValue {
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

/// What a client is told of a broken constraint: a message naming the constraint and the
/// fields it concerns (never the value), and those names on their own.
pub(crate) struct ViolationReport {
    pub(crate) message: String,
    pub(crate) constraint: Option<String>,
    pub(crate) fields: Vec<String>,
}

/// Describes `violation` of a write to `mapping`'s table for the client: the database names
/// columns, the client knows fields (a column no field maps keeps its name).
pub(crate) fn describe_violation(
    mapping: &EntityMapping,
    violation: &crate::ConstraintViolation,
) -> ViolationReport {
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
    let mut message = violation.kind.description().to_owned();
    if let Some(constraint) = &violation.constraint {
        message.push_str(&format!(" (constraint `{constraint}`)"));
    }
    if !fields.is_empty() {
        message.push_str(&format!(" (fields: {})", fields.join(", ")));
    }
    ViolationReport {
        message,
        constraint: violation.constraint.clone(),
        fields,
    }
}
