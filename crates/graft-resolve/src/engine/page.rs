//! Connection root fields: reading `first`/`after` and writing a page Relay style.
//!
//! A cursor is the [`EntityKey::encode`] form of the last row's key: opaque to clients, stable,
//! and enough for the source to continue with `WHERE (key) > (cursor) ORDER BY key LIMIT n`,
//! which an index on the key serves without sorting, however deep the page.

use apollo_compiler::Name;
use graft_keys::{EntityKey, KeyValue};
use graft_plan::{EdgeValue, PageInfoValue, PagePlan, PageValue};
use graft_schema::SubgraphSchema;

use super::Execution;
use crate::related::{Fetched, Writer, key_value};
use crate::request::Variables;
use crate::variables::literal_to_json;
use crate::{EngineConfig, GraphQLError, PageRequest, PathSegment, ResolveError, write};

/// The arguments of one page request.
pub(crate) struct PageArguments {
    /// How many entities.
    pub(crate) first: usize,
    /// The cursor to continue after.
    pub(crate) after: Option<EntityKey>,
}

/// Reads `first` (default [`EngineConfig::page_size`], at most [`EngineConfig::max_page_size`])
/// and `after`; a message for the user when either is wrong.
pub(crate) fn arguments(
    schema: &SubgraphSchema,
    page: &PagePlan,
    variables: &Variables<'_>,
    config: &EngineConfig,
) -> Result<PageArguments, String> {
    let value = |argument: &Option<apollo_compiler::Node<apollo_compiler::ast::Value>>| {
        argument
            .as_ref()
            .map(|v| literal_to_json(v, variables))
            .filter(|v| !v.is_null())
    };
    let first = match value(&page.first) {
        None => config.page_size,
        Some(first) => match first.as_u64() {
            Some(first) if first as usize <= config.max_page_size => first as usize,
            _ => {
                return Err(format!(
                    "`first` must be between 0 and {}, got {first}",
                    config.max_page_size
                ));
            }
        },
    };
    let after =
        match value(&page.after) {
            None => None,
            Some(serde_json::Value::String(cursor)) => {
                let key = EntityKey::decode(&cursor).ok().filter(|key| {
                    key.type_name() == &page.node.type_name
                        && key.key_index() == page.key
                        && schema
                            .entities()
                            .get(&page.node.type_name)
                            .and_then(|e| e.key(page.key))
                            .is_some_and(|k| k.field_set().leaves().len() == key.values().len())
                });
                Some(key.ok_or_else(|| {
                    format!("`after` is not a cursor of this connection: {cursor:?}")
                })?)
            }
            Some(other) => return Err(format!("`after` must be a cursor string, got {other}")),
        };
    Ok(PageArguments { first, after })
}

/// Writes the connection object for the rows of `fetched` (all under key position 0).
pub(crate) fn write<V: Fn(&Name) -> bool>(
    out: &mut Vec<u8>,
    writer: &mut Writer<'_, V>,
    page: &PagePlan,
    fetched: &Fetched,
    arguments: &PageArguments,
    mut path: Vec<PathSegment>,
) {
    let mapping = writer
        .schema
        .mapping(&page.node.type_name)
        .expect("paged types are mapped");
    let mut rows: Vec<u32> = fetched.rows.rows_of(0).collect();
    let has_next = rows.len() > arguments.first;
    rows.truncate(arguments.first);
    let key_columns: Vec<usize> = page
        .key_slots
        .iter()
        .map(|&slot| page.node.columns[slot])
        .collect();
    let cursor = |row: u32| -> String {
        let cells = fetched.rows.cells(row);
        let values: Vec<KeyValue> = page
            .key_slots
            .iter()
            .zip(&key_columns)
            .map(|(&slot, &column)| {
                key_value(
                    &fetched.rows,
                    cells[slot],
                    mapping.columns[column].ty.scalar,
                )
                .unwrap_or(KeyValue::String("".into()))
            })
            .collect();
        EntityKey::new(page.node.type_name.clone(), page.key, values).encode()
    };
    let start = out.len();
    out.push(b'{');
    let mut first_field = true;
    for field in &page.fields {
        if !field.conditions.hold(&writer.variable) {
            continue;
        }
        if !first_field {
            out.push(b',');
        }
        first_field = false;
        out.extend_from_slice(field.response_key.json_prefix().as_bytes());
        path.push(PathSegment::Key(field.response_key.name().clone()));
        match &field.value {
            PageValue::Typename => write::string(out, &page.connection),
            PageValue::Nodes => {
                out.push(b'[');
                for (i, &row) in rows.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    path.push(PathSegment::Index(i));
                    entity(out, writer, page, fetched, row, &mut path);
                    path.pop();
                }
                out.push(b']');
            }
            PageValue::Edges { type_name, fields } => {
                out.push(b'[');
                for (i, &row) in rows.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    path.push(PathSegment::Index(i));
                    out.push(b'{');
                    let mut first_edge_field = true;
                    for edge_field in fields {
                        if !edge_field.conditions.hold(&writer.variable) {
                            continue;
                        }
                        if !first_edge_field {
                            out.push(b',');
                        }
                        first_edge_field = false;
                        out.extend_from_slice(edge_field.response_key.json_prefix().as_bytes());
                        match edge_field.value {
                            EdgeValue::Typename => write::string(out, type_name),
                            EdgeValue::Cursor => write::string(out, &cursor(row)),
                            EdgeValue::Node => {
                                path.push(PathSegment::Key(edge_field.response_key.name().clone()));
                                entity(out, writer, page, fetched, row, &mut path);
                                path.pop();
                            }
                        }
                    }
                    out.push(b'}');
                    path.pop();
                }
                out.push(b']');
            }
            PageValue::PageInfo { type_name, fields } => {
                out.push(b'{');
                for (i, info_field) in fields
                    .iter()
                    .filter(|f| f.conditions.hold(&writer.variable))
                    .enumerate()
                {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(info_field.response_key.json_prefix().as_bytes());
                    let boolean = |b: bool| if b { &b"true"[..] } else { &b"false"[..] };
                    match info_field.value {
                        PageInfoValue::Typename => write::string(out, type_name),
                        PageInfoValue::HasNextPage => out.extend_from_slice(boolean(has_next)),
                        PageInfoValue::HasPreviousPage => {
                            out.extend_from_slice(boolean(arguments.after.is_some()))
                        }
                        PageInfoValue::StartCursor | PageInfoValue::EndCursor => {
                            let row = if info_field.value == PageInfoValue::StartCursor {
                                rows.first()
                            } else {
                                rows.last()
                            };
                            match row {
                                Some(&row) => write::string(out, &cursor(row)),
                                None => out.extend_from_slice(b"null"),
                            }
                        }
                    }
                }
                out.push(b'}');
            }
        }
        path.pop();
    }
    out.push(b'}');
    debug_assert!(out.len() > start);
}

/// One entity of the page; `null` (with the error already recorded) when a non-null field of
/// it has no value.
fn entity<V: Fn(&Name) -> bool>(
    out: &mut Vec<u8>,
    writer: &mut Writer<'_, V>,
    page: &PagePlan,
    fetched: &Fetched,
    row: u32,
    path: &mut Vec<PathSegment>,
) {
    let start = out.len();
    if writer.row(out, &page.node, fetched, row, path).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

impl Execution<'_, '_> {
    /// Writes a connection root field: one page of entities in key order.
    pub(super) async fn page(&mut self, out: &mut Vec<u8>, response_key: &Name, page: &PagePlan) {
        let path = vec![PathSegment::Key(response_key.clone())];
        let request = match arguments(
            &self.engine.schema,
            page,
            self.variables,
            &self.engine.config,
        ) {
            Ok(request) => request,
            Err(message) => {
                out.extend_from_slice(b"null");
                self.errors.push(
                    GraphQLError::new("BAD_USER_INPUT", format!("{response_key}: {message}"))
                        .at(path),
                );
                return;
            }
        };
        let type_name = &page.node.type_name;
        let mapping = self
            .engine
            .schema
            .mapping(type_name)
            .expect("paged types are mapped");
        let fetched = match self.engine.sources.source_for(type_name) {
            None => Err(ResolveError::NoSource(type_name.to_string())),
            Some(source) => {
                let page_request = PageRequest {
                    mapping,
                    key_columns: mapping.key_columns(page.key),
                    after: request.after.as_ref(),
                    limit: request.first + 1,
                    columns: &page.node.columns,
                };
                let paged = async {
                    let turn = self.budget.statement().await?;
                    let rows = source.page(self.ctx, page_request).await?;
                    drop(turn);
                    self.budget.spent(rows.row_count())?;
                    Ok(rows)
                };
                match paged.await {
                    Ok(rows) => Ok(self.resolver().resolve(&page.node, rows).await),
                    Err(error) => Err(error),
                }
            }
        };
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                out.extend_from_slice(b"null");
                let request_id = &self.ctx.request_id;
                tracing::warn!(request_id, %type_name, %error, "page failed");
                self.errors.push(
                    GraphQLError::new(
                        "FETCH_FAILED",
                        format!(
                            "{response_key}: could not read a page of {type_name}: {}",
                            error.public_message()
                        ),
                    )
                    .at(path)
                    .with_detail("requestId", request_id.clone()),
                );
                return;
            }
        };
        let mut writer = self.writer(None);
        write(out, &mut writer, page, &fetched, &request, path);
    }
}
