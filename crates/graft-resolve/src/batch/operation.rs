//! One batch operation: its rights checked, its references resolved, then its read or its
//! [`Change`] run, and its rows as JSON.

use graft_keys::{EntityKey, KeyFloat, KeyIndex, KeyValue};
use graft_plan::{BatchAction, BatchOperation, Param, value_fits};
use graft_schema::{ColumnRole, EntityMapping, InputField, MutationKind, OutputScalar};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::BatchConfig;
use crate::change::{Change, describe_violation};
use crate::{
    Action, ConstraintKind, Engine, EntitySource, FetchRequest, PageRequest, RequestContext,
    ResolveError, RowSet, SourceErrorKind, UnitOfWork,
};

/// What a successful operation answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Done {
    /// 201 for a create, 200 otherwise.
    pub(super) status_code: u16,
    /// A read's rows (always a list), or the written row.
    pub(super) data: Value,
    /// Whether it wrote.
    pub(super) wrote: bool,
}

/// Why an operation failed, as the client is told.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OpError {
    pub(super) status_code: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
    /// Named constraint, fields and the like.
    pub(super) details: Map<String, Value>,
    /// Whether running it again may succeed (a lost conflict, a lock timeout).
    pub(super) retryable: bool,
    /// Whether it lost to a concurrent transaction (a serialization failure, a deadlock).
    pub(super) conflict: bool,
}

impl OpError {
    fn new(status_code: u16, code: &'static str, message: impl Into<String>) -> OpError {
        OpError {
            status_code,
            code,
            message: message.into(),
            details: Map::new(),
            retryable: false,
            conflict: false,
        }
    }

    /// A source's failure, by kind only: the driver's text goes to the log.
    pub(super) fn from_source(error: &ResolveError, ctx: &RequestContext) -> OpError {
        let kind = match error {
            ResolveError::Source { kind, .. } => Some(*kind),
            _ => None,
        };
        let mut op = match kind {
            Some(SourceErrorKind::Conflict) => {
                let mut op = OpError::new(
                    409,
                    "CONFLICT",
                    "the transaction lost to a concurrent one; running it again may succeed",
                );
                op.retryable = true;
                op.conflict = true;
                op
            }
            Some(SourceErrorKind::LockTimeout) => {
                let mut op = OpError::new(409, "LOCK_TIMEOUT", "a row stayed locked too long");
                op.retryable = true;
                op
            }
            Some(SourceErrorKind::Timeout) => {
                OpError::new(504, "TIMEOUT", "the database did not answer in time")
            }
            Some(SourceErrorKind::Connection | SourceErrorKind::Busy) => {
                let mut op = OpError::new(503, "SOURCE_UNAVAILABLE", error.public_message());
                op.retryable = true;
                op
            }
            // Constraint errors of the operation's own write are `write_error`'s; one here
            // broke graft's bookkeeping, which the client has no business knowing.
            _ if matches!(error, ResolveError::Constraint { .. }) => OpError::new(
                500,
                "OPERATION_FAILED",
                "the operation failed; the server log has the details",
            ),
            _ => OpError::new(500, "OPERATION_FAILED", error.public_message()),
        };
        if op.status_code >= 500 {
            tracing::warn!(request_id = %ctx.request_id, %error, "batch operation failed");
            op.details
                .insert("requestId".to_owned(), ctx.request_id.clone().into());
        }
        op
    }
}

/// Where an operation's statements go.
enum Via<'w> {
    /// The batch's (or the operation's own) transaction.
    Work(&'w mut dyn UnitOfWork),
    /// The source, outside any transaction: a read of a batch that is not atomic.
    Source(&'w dyn EntitySource),
}

/// One operation of a running batch.
pub(super) struct Operation<'o> {
    pub(super) engine: &'o Engine,
    pub(super) ctx: &'o RequestContext,
    pub(super) config: &'o BatchConfig,
    pub(super) op: &'o BatchOperation,
}

impl Operation<'_> {
    pub(super) fn is_read(&self) -> bool {
        self.op.action == BatchAction::Read
    }

    fn mapping(&self) -> Result<&EntityMapping, OpError> {
        self.engine
            .schema()
            .mapping(&self.op.entity)
            .ok_or_else(|| {
                OpError::new(
                    400,
                    "BATCH_INVALID",
                    format!("{} is not mapped", self.op.entity),
                )
            })
    }

    /// Checks the caller may do this: before anything else, so a forbidden operation costs
    /// no statement.
    fn permitted(&self) -> Result<(), OpError> {
        let action = action(self.op.action);
        if self.ctx.permissions.allows(&self.op.entity, action) {
            return Ok(());
        }
        let mut error = OpError::new(
            403,
            "FORBIDDEN",
            format!(
                "the caller's credential does not grant {action} on {}",
                self.op.entity
            ),
        );
        error
            .details
            .insert("entity".to_owned(), self.op.entity.to_string().into());
        error
            .details
            .insert("action".to_owned(), action.as_str().into());
        Err(error)
    }

    /// Runs it in `work`.
    pub(super) async fn run(
        &self,
        work: &mut dyn UnitOfWork,
        data: &[Option<Value>],
    ) -> Result<Done, OpError> {
        self.run_in(Via::Work(work), data).await
    }

    /// A read outside any transaction.
    pub(super) async fn run_read(
        &self,
        source: &dyn EntitySource,
        data: &[Option<Value>],
    ) -> Result<Done, OpError> {
        self.run_in(Via::Source(source), data).await
    }

    async fn run_in(&self, via: Via<'_>, data: &[Option<Value>]) -> Result<Done, OpError> {
        self.permitted()?;
        let mapping = self.mapping()?;
        let store = resolve(mapping, "store_params", &self.op.store, data)?;
        let query = resolve(mapping, "query_params", &self.op.query, data)?;
        let columns: Vec<usize> = mapping
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role == ColumnRole::Field)
            .map(|(i, _)| i)
            .collect();
        if self.op.action == BatchAction::Read {
            let rows = self.read(via, mapping, &columns, &query).await?;
            return Ok(Done {
                status_code: 200,
                data: Value::Array(rows),
                wrote: false,
            });
        }
        let bad = |message: String| OpError::new(422, "INVALID_VALUE", message);
        let change = match self.op.action {
            BatchAction::Create => {
                let inputs = self.inputs(|kind| match kind {
                    MutationKind::Create { inputs } => Some(inputs),
                    _ => None,
                })?;
                Change::insert(inputs, &[Value::Object(store)]).map_err(bad)?
            }
            BatchAction::Update => {
                let patch = self.inputs(|kind| match kind {
                    MutationKind::Update { patch, .. } => Some(patch),
                    _ => None,
                })?;
                let key = self.key(&query)?;
                Change::update(mapping, key, patch, &store)
                    .map_err(|message| bad(format!("store_params.{message}")))?
            }
            BatchAction::Delete => Change::Delete {
                key: self.key(&query)?,
            },
            BatchAction::Read => unreachable!("reads returned above"),
        };
        let Via::Work(work) = via else {
            return Err(OpError::new(
                500,
                "OPERATION_FAILED",
                "a write needs a transaction",
            ));
        };
        let rows = change
            .apply(work, mapping, &columns)
            .await
            .map_err(|error| self.write_error(mapping, &error))?;
        let Some(row) = objects(mapping, &columns, &rows, 0).into_iter().next() else {
            return Err(OpError::new(
                404,
                "NOT_FOUND",
                format!("no {} has this key", self.op.entity),
            ));
        };
        Ok(Done {
            status_code: if self.op.action == BatchAction::Create {
                201
            } else {
                200
            },
            data: row,
            wrote: true,
        })
    }

    /// The fields a write of the type takes, from its derived mutation.
    fn inputs(
        &self,
        pick: impl Fn(&MutationKind) -> Option<&Vec<InputField>>,
    ) -> Result<&[InputField], OpError> {
        self.engine
            .schema()
            .mutation_fields()
            .iter()
            .filter(|m| m.type_name == self.op.entity)
            .find_map(|m| pick(&m.kind))
            .map(Vec::as_slice)
            .ok_or_else(|| {
                OpError::new(
                    400,
                    "BATCH_INVALID",
                    format!("{} takes no {}", self.op.entity, self.op.action.as_str()),
                )
            })
    }

    /// The key `query` gives, validated as a representation is.
    fn key(&self, query: &Map<String, Value>) -> Result<EntityKey, OpError> {
        let mut representation = query.clone();
        representation.insert("__typename".to_owned(), self.op.entity.to_string().into());
        let raw = RawValue::from_string(Value::Object(representation).to_string())
            .expect("a JSON object is JSON");
        self.engine
            .schema()
            .entities()
            .validate(0, &raw)
            .map(|representation| representation.into_key())
            .map_err(|error| {
                OpError::new(
                    422,
                    "INVALID_VALUE",
                    format!("query_params do not form a key: {error}"),
                )
            })
    }

    /// A read: the rows whose fields equal `query`'s values (every row when it names none),
    /// at most `max_read_rows`.
    async fn read(
        &self,
        via: Via<'_>,
        mapping: &EntityMapping,
        columns: &[usize],
        query: &Map<String, Value>,
    ) -> Result<Vec<Value>, OpError> {
        let limit = self.config.max_read_rows;
        let failed = |error: ResolveError| OpError::from_source(&error, self.ctx);
        let rows = if query.is_empty() {
            let request = PageRequest {
                mapping,
                key_columns: mapping.key_columns(KeyIndex(0)),
                after: None,
                limit: limit + 1,
                columns,
            };
            match via {
                Via::Work(work) => work.page(request).await,
                Via::Source(source) => source.page(self.ctx, request).await,
            }
            .map_err(failed)?
        } else {
            let mut match_columns = Vec::with_capacity(query.len());
            let mut values = Vec::with_capacity(query.len());
            for (field, value) in query {
                let column = mapping.column(field).expect("planning checked the field");
                match_columns.push(column.column.clone());
                values.push(filter_value(value, column.ty.scalar).ok_or_else(|| {
                    OpError::new(
                        422,
                        "INVALID_VALUE",
                        format!("query_params.{field}: {value} cannot be matched"),
                    )
                })?);
            }
            let key = EntityKey::new(self.op.entity.clone(), KeyIndex(0), values);
            let keys = [&key];
            let request = FetchRequest {
                mapping,
                match_columns: &match_columns,
                keys: &keys,
                columns,
                many: true,
                row_limit: Some(u64::try_from(limit + 1).unwrap_or(u64::MAX)),
                per_key_limit: None,
            };
            match via {
                Via::Work(work) => work.fetch(request).await,
                Via::Source(source) => source.fetch(self.ctx, request).await,
            }
            .map_err(failed)?
        };
        let objects = (0..rows.len())
            .flat_map(|position| objects(mapping, columns, &rows, position))
            .collect::<Vec<_>>();
        if objects.len() > limit {
            return Err(OpError::new(
                422,
                "TOO_MANY_ROWS",
                format!("more than {limit} rows match; a read answers at most {limit}"),
            ));
        }
        Ok(objects)
    }

    /// A failed write, as [`crate::engine`]'s mutations report it: a broken constraint by its
    /// code, naming the constraint and the fields, never the value.
    fn write_error(&self, mapping: &EntityMapping, error: &ResolveError) -> OpError {
        let ResolveError::Constraint { violation, .. } = error else {
            return OpError::from_source(error, self.ctx);
        };
        let status_code = match violation.kind {
            ConstraintKind::Unique => 409,
            // Deleting a row others still refer to conflicts with them; writing a reference
            // to a row that does not exist is bad input.
            ConstraintKind::ForeignKey if self.op.action == BatchAction::Delete => 409,
            _ => 422,
        };
        let report = describe_violation(mapping, violation);
        let mut op = OpError::new(status_code, violation.kind.code(), report.message);
        if let Some(constraint) = report.constraint {
            op.details
                .insert("constraint".to_owned(), constraint.into());
        }
        if !report.fields.is_empty() {
            op.details.insert("fields".to_owned(), report.fields.into());
        }
        op
    }
}

/// The permission an action needs.
pub(super) fn action(action: BatchAction) -> Action {
    match action {
        BatchAction::Create => Action::Create,
        BatchAction::Read => Action::Read,
        BatchAction::Update => Action::Update,
        BatchAction::Delete => Action::Delete,
    }
}

/// The values of `params`, their references resolved against earlier results and checked
/// against their fields' types.
fn resolve(
    mapping: &EntityMapping,
    what: &str,
    params: &[(apollo_compiler::Name, Param)],
    data: &[Option<Value>],
) -> Result<Map<String, Value>, OpError> {
    let mut values = Map::new();
    for (field, param) in params {
        let value = param.resolve(data).map_err(|message| {
            OpError::new(422, "BAD_REFERENCE", format!("{what}.{field}: {message}"))
        })?;
        if !matches!(param, Param::Value(_)) {
            let column = mapping.column(field).expect("planning checked the field");
            if let Err(expected) = value_fits(&value, column.ty.scalar, column.ty.nullable) {
                return Err(OpError::new(
                    422,
                    "INVALID_VALUE",
                    format!("{what}.{field}: expected {expected}, the reference gave {value}"),
                ));
            }
        }
        values.insert(field.to_string(), value);
    }
    Ok(values)
}

/// A filter's value as the key value a fetch matches, by its field's type.
fn filter_value(value: &Value, scalar: OutputScalar) -> Option<KeyValue> {
    Some(match (value, scalar) {
        (Value::String(s), _) => KeyValue::String(s.as_str().into()),
        (Value::Bool(b), _) => KeyValue::Boolean(*b),
        (Value::Number(n), OutputScalar::Id | OutputScalar::String | OutputScalar::Enum) => {
            KeyValue::String(n.to_string().into())
        }
        (Value::Number(n), OutputScalar::Int | OutputScalar::Custom) if n.is_i64() => {
            KeyValue::Int(n.as_i64()?)
        }
        (Value::Number(n), _) => KeyValue::Float(KeyFloat::new(n.as_f64()?)?),
        _ => return None,
    })
}

/// The rows at `position` of `rows` as JSON objects of their fields.
fn objects(
    mapping: &EntityMapping,
    columns: &[usize],
    rows: &RowSet,
    position: usize,
) -> Vec<Value> {
    rows.rows_of(position)
        .map(|row| {
            let mut object = Map::new();
            for (cell, &index) in rows.cells(row).iter().zip(columns) {
                let column = &mapping.columns[index];
                let mut out = Vec::new();
                let value = match crate::write::cell(&mut out, rows, *cell, column.ty.scalar) {
                    Ok(()) => serde_json::from_slice(&out).unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
                object.insert(column.field.to_string(), value);
            }
            Value::Object(object)
        })
        .collect()
}
