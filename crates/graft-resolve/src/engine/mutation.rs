//! Derived mutations (`createX`, `createXs`, `updateX`, `deleteX`): each root field one write
//! in a unit of work of its own, committed before the next field runs; then the written
//! entities with the caller's selection, their relations read as a query reads them.

use std::collections::HashMap;

use apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex};
use graft_plan::MutationPlan;
use graft_schema::{EntityMapping, MutationKind};
use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::Execution;
use crate::change::Change;
use crate::variables::literal_to_json;
use crate::{Action, GraphQLError, PathSegment, ResolveError, RowSet};

impl Execution<'_, '_> {
    /// Runs one derived mutation and writes its answer: the written entity (a list for
    /// `createXs`), or `null` with an error saying what was refused and why.
    pub(super) async fn mutate(
        &mut self,
        out: &mut Vec<u8>,
        response_key: &Name,
        plan: &MutationPlan,
    ) {
        let mut path = vec![PathSegment::Key(response_key.clone())];
        let type_name = &plan.field.type_name;
        let Some(mapping) = self.engine.schema.mapping(type_name) else {
            out.extend_from_slice(b"null");
            return;
        };
        let action = match plan.field.kind {
            MutationKind::Create { .. } | MutationKind::CreateMany { .. } => Action::Create,
            MutationKind::Update { .. } => Action::Update,
            MutationKind::Delete { .. } => Action::Delete,
        };
        if !self.ctx.permissions.allows(type_name, action) {
            out.extend_from_slice(b"null");
            self.errors
                .push(forbidden(response_key, type_name, action).at(path));
            return;
        }
        let write = match self.read_write(mapping, plan) {
            Ok(write) => write,
            Err(error) => {
                out.extend_from_slice(b"null");
                self.errors.push(error.at(path));
                return;
            }
        };
        if let Change::Insert { count: 0, .. } = &write {
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
        let key = || write.key().unwrap_or(&placeholder);
        if matches!(plan.field.kind, MutationKind::CreateMany { .. }) {
            out.push(b'[');
            for position in 0..fetched.rows.len() {
                if position > 0 {
                    out.push(b',');
                }
                let mut item = path.clone();
                item.push(PathSegment::Index(position));
                self.write_entity(
                    out,
                    &plan.selection,
                    &fetched,
                    position,
                    &mut item,
                    None,
                    key,
                );
            }
            out.push(b']');
        } else {
            self.write_entity(out, &plan.selection, &fetched, 0, &mut path, None, key);
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
    ) -> Result<Change, GraphQLError> {
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
                Change::insert(inputs, std::slice::from_ref(input)).map_err(bad)
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
                Change::insert(inputs, rows).map_err(bad)
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
                Change::update(mapping, key, patch, given).map_err(|message| {
                    bad(if message.starts_with("the patch") {
                        message
                    } else {
                        format!("patch.{message}")
                    })
                })
            }
            MutationKind::Delete {
                key,
                arguments: key_arguments,
            } => Ok(Change::Delete {
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
        write: &Change,
    ) -> Result<RowSet, ResolveError> {
        let source = self
            .engine
            .sources
            .source_for(&mapping.type_name)
            .ok_or_else(|| ResolveError::NoSource(mapping.type_name.to_string()))?;
        let turn = self.budget.statement().await?;
        let rows = write
            .apply_alone(source.as_ref(), self.ctx, mapping, returning)
            .await?;
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
                let report = crate::change::describe_violation(mapping, violation);
                let message = format!("{response_key}: {}", report.message);
                let mut graphql = GraphQLError::new(violation.kind.code(), message);
                if let Some(constraint) = report.constraint {
                    graphql = graphql.with_detail("constraint", constraint);
                }
                if !report.fields.is_empty() {
                    graphql = graphql.with_detail("fields", report.fields);
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

/// The error of a write the caller's credential does not grant.
pub(crate) fn forbidden(at: &str, type_name: &str, action: Action) -> GraphQLError {
    GraphQLError::new(
        "FORBIDDEN",
        format!("{at}: the caller's credential does not grant {action} on {type_name}"),
    )
    .with_detail("entity", type_name.to_owned())
    .with_detail("action", action.as_str())
}
