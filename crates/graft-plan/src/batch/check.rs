//! Checking a batch request against the schema: its options, its operations' ids, entities,
//! actions, fields and values, and their dependencies.

use apollo_compiler::Name;
use graft_schema::{EntityMapping, MutationKind, OutputScalar, SubgraphSchema};
use serde_json::{Map, Value};

use super::reference::param;
use super::{BatchAction, BatchOperation, BatchOptions, Param, Piece, Problems};

pub(super) fn options(value: Option<&Value>, problems: &mut Problems) -> BatchOptions {
    let mut options = BatchOptions::default();
    let Some(value) = value else {
        return options;
    };
    let Some(object) = value.as_object() else {
        problems.request("`options` must be an object");
        return options;
    };
    for (key, value) in object {
        let slot = match key.as_str() {
            "atomic" => &mut options.atomic,
            "continueOnError" => &mut options.continue_on_error,
            "validate" => &mut options.validate,
            other => {
                problems.request(format!(
                    "options: unknown option `{other}` (atomic, continueOnError, validate)"
                ));
                continue;
            }
        };
        match value.as_bool() {
            Some(flag) => *slot = flag,
            None => problems.request(format!("options.{key} must be true or false")),
        }
    }
    options
}

/// Whether `id` is a valid operation id: 1 to 64 letters, digits, `_` or `-`.
pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Every operation's id, `None` where it has no valid one; reports duplicates.
pub(super) fn ids(raw: &[Value], problems: &mut Problems) -> Vec<Option<String>> {
    let mut ids: Vec<Option<String>> = Vec::with_capacity(raw.len());
    for (position, value) in raw.iter().enumerate() {
        let id = value.get("id").and_then(Value::as_str);
        match id {
            Some(id) if valid_id(id) => {
                if ids.iter().flatten().any(|other| other == id) {
                    problems.at(id, "its id is used by an earlier operation too");
                    ids.push(None);
                } else {
                    ids.push(Some(id.to_owned()));
                }
            }
            Some(id) => {
                let shown: String = id.chars().take(80).collect();
                problems.at(
                    &format!("#{position}"),
                    format!("id {shown:?}: use 1 to 64 letters, digits, `_` or `-`"),
                );
                ids.push(None);
            }
            None => {
                problems.at(&format!("#{position}"), "it needs an `id` string");
                ids.push(None);
            }
        }
    }
    ids
}

pub(super) fn operation(
    position: usize,
    value: &Value,
    ids: &[Option<String>],
    schema: &SubgraphSchema,
    problems: &mut Problems,
) -> Option<BatchOperation> {
    let name = ids[position]
        .clone()
        .unwrap_or_else(|| format!("#{position}"));
    let Some(object) = value.as_object() else {
        problems.at(&name, "an operation must be an object");
        return None;
    };
    let before = problems.count;
    for key in object.keys() {
        match key.as_str() {
            "id" | "entity" | "action" | "store_params" | "query_params" | "depends_on" => {}
            "claims" => problems.at(
                &name,
                "`claims` is refused: an operation's rights come from the caller's credential \
                 only",
            ),
            other => problems.at(
                &name,
                format!(
                    "unknown key `{other}` (id, entity, action, store_params, query_params, \
                     depends_on)"
                ),
            ),
        }
    }
    let mapping = match object.get("entity").and_then(Value::as_str) {
        Some(entity) => match schema.mapping(entity) {
            Some(mapping) => Some(mapping),
            None => {
                problems.at(&name, format!("entity `{entity}` is not a mapped type"));
                None
            }
        },
        None => {
            problems.at(&name, "it needs an `entity` string, a mapped type");
            None
        }
    };
    let action = match object.get("action").and_then(Value::as_str) {
        Some(action) => BatchAction::parse(action).or_else(|| {
            problems.at(
                &name,
                format!("action `{action}`: use create, read, update or delete"),
            );
            None
        }),
        None => {
            problems.at(
                &name,
                "it needs an `action`: create, read, update or delete",
            );
            None
        }
    };
    let mut depends_on = Vec::new();
    match object.get("depends_on") {
        None => {}
        Some(Value::Array(list)) => {
            for dependency in list {
                match dependency.as_str().and_then(|d| position_of(ids, d)) {
                    Some(d) if d == position => {
                        problems.at(&name, "it depends on itself");
                    }
                    Some(d) => {
                        if !depends_on.contains(&d) {
                            depends_on.push(d);
                        }
                    }
                    None => problems.at(
                        &name,
                        format!("depends_on names no operation of the batch: {dependency}"),
                    ),
                }
            }
        }
        Some(_) => problems.at(&name, "`depends_on` must be an array of operation ids"),
    }
    let (Some(mapping), Some(action)) = (mapping, action) else {
        return None;
    };
    let wants_store = matches!(action, BatchAction::Create | BatchAction::Update);
    let wants_query = !matches!(action, BatchAction::Create);
    let mut fields = |key: &str, wanted: bool| -> Vec<(Name, Param)> {
        let Some(value) = object.get(key) else {
            if wanted && !(key == "query_params" && action == BatchAction::Read) {
                problems.at(&name, format!("{} needs `{key}`", action.as_str()));
            }
            return Vec::new();
        };
        if !wanted {
            problems.at(&name, format!("{} takes no `{key}`", action.as_str()));
            return Vec::new();
        }
        let Some(params) = value.as_object() else {
            problems.at(&name, format!("`{key}` must be an object of fields"));
            return Vec::new();
        };
        params_of(
            &name,
            key,
            params,
            mapping,
            position,
            ids,
            problems,
            &mut depends_on,
        )
    };
    let store = fields("store_params", wants_store);
    let query = fields("query_params", wants_query);
    let keys = |key: &str| -> Vec<&str> {
        object
            .get(key)
            .and_then(Value::as_object)
            .map(|params| params.keys().map(String::as_str).collect())
            .unwrap_or_default()
    };
    let given = Given {
        store: keys("store_params"),
        query: keys("query_params"),
    };
    shape(&name, action, mapping, schema, &given, &query, problems);
    if problems.count > before {
        return None;
    }
    Some(BatchOperation {
        id: name,
        entity: mapping.type_name.clone(),
        action,
        store,
        query,
        depends_on,
    })
}

/// The fields an operation names, whether or not their values passed.
struct Given<'a> {
    store: Vec<&'a str>,
    query: Vec<&'a str>,
}

/// Checks the fields an operation gives against what its action takes: a write's fields
/// are those of the type's derived mutations (so a type without `@mutations` takes no
/// writes), a create gives every required field, an update or a delete names its row by the
/// mutation's key and no more, and a read filters on values, never on null.
fn shape(
    name: &str,
    action: BatchAction,
    mapping: &EntityMapping,
    schema: &SubgraphSchema,
    given: &Given<'_>,
    query: &[(Name, Param)],
    problems: &mut Problems,
) {
    let type_name = &mapping.type_name;
    let store = &given.store;
    let list = |names: &mut dyn Iterator<Item = &Name>| {
        names.map(Name::as_str).collect::<Vec<_>>().join(", ")
    };
    if action == BatchAction::Read {
        for (field, param) in query {
            if matches!(param, Param::Value(serde_json::Value::Null)) {
                problems.at(
                    name,
                    format!("query_params.{field}: a read filters on values; null matches no row"),
                );
            }
        }
        return;
    }
    let kinds: Vec<&MutationKind> = schema
        .mutation_fields()
        .iter()
        .filter(|m| &m.type_name == type_name)
        .map(|m| &m.kind)
        .collect();
    if kinds.is_empty() {
        problems.at(
            name,
            format!("{type_name} takes no writes: its type has no @mutations"),
        );
        return;
    }
    let key_arguments = |kind: &&MutationKind| match kind {
        MutationKind::Update { arguments, .. } | MutationKind::Delete { arguments, .. } => {
            Some(arguments.clone())
        }
        _ => None,
    };
    match action {
        BatchAction::Create => {
            let Some(MutationKind::Create { inputs }) = kinds
                .iter()
                .find(|k| matches!(k, MutationKind::Create { .. }))
            else {
                return;
            };
            for field in store {
                if mapping.column(field).is_some() && !inputs.iter().any(|i| i.field == *field) {
                    problems.at(
                        name,
                        format!(
                            "store_params.{field}: a create of {type_name} sets {}",
                            list(&mut inputs.iter().map(|i| &i.field))
                        ),
                    );
                }
            }
            for input in inputs.iter().filter(|i| i.required) {
                if !store.contains(&input.field.as_str()) {
                    problems.at(
                        name,
                        format!(
                            "store_params.{}: required to create {type_name}",
                            input.field
                        ),
                    );
                }
            }
        }
        BatchAction::Update | BatchAction::Delete => {
            if let (BatchAction::Update, Some(MutationKind::Update { patch, .. })) = (
                action,
                kinds
                    .iter()
                    .find(|k| matches!(k, MutationKind::Update { .. })),
            ) {
                if store.is_empty() {
                    problems.at(name, "store_params: an update sets at least one field");
                }
                for field in store {
                    if mapping.column(field).is_some() && !patch.iter().any(|i| i.field == *field) {
                        problems.at(
                            name,
                            format!(
                                "store_params.{field}: an update of {type_name} sets {} (keys do \
                                 not change)",
                                list(&mut patch.iter().map(|i| &i.field))
                            ),
                        );
                    }
                }
            }
            if let Some(arguments) = kinds.iter().find_map(key_arguments) {
                let names_the_key = given.query.len() == arguments.len()
                    && arguments.iter().all(|a| given.query.contains(&a.as_str()));
                if !names_the_key {
                    problems.at(
                        name,
                        format!(
                            "query_params: {} names its row by the key of {type_name}: {}",
                            action.as_str(),
                            list(&mut arguments.iter())
                        ),
                    );
                }
            }
        }
        BatchAction::Read => {}
    }
}

pub(super) fn position_of(ids: &[Option<String>], id: &str) -> Option<usize> {
    ids.iter().position(|other| other.as_deref() == Some(id))
}

/// The parameters of `params` (the operation's `key`), each a mapped field of `mapping` with
/// a value of its type or a reference; adds each reference's operation to `depends_on`.
#[allow(clippy::too_many_arguments)]
fn params_of(
    name: &str,
    key: &str,
    params: &Map<String, Value>,
    mapping: &EntityMapping,
    position: usize,
    ids: &[Option<String>],
    problems: &mut Problems,
    depends_on: &mut Vec<usize>,
) -> Vec<(Name, Param)> {
    let mut out = Vec::with_capacity(params.len());
    for (field, value) in params {
        let Some(column) = mapping.column(field) else {
            problems.at(
                name,
                format!("{key}.{field}: {} has no such field", mapping.type_name),
            );
            continue;
        };
        let param = match param(value, ids) {
            Ok(param) => param,
            Err(message) => {
                problems.at(name, format!("{key}.{field}: {message}"));
                continue;
            }
        };
        let mut refs = Vec::new();
        match &param {
            Param::Value(value) => {
                if let Err(expected) = value_fits(value, column.ty.scalar, column.ty.nullable) {
                    problems.at(
                        name,
                        format!("{key}.{field}: expected {expected}, got {value}"),
                    );
                    continue;
                }
            }
            Param::Ref(reference) => refs.push(reference.operation),
            Param::Template(pieces) => refs.extend(pieces.iter().filter_map(|p| match p {
                Piece::Ref(reference) => Some(reference.operation),
                Piece::Text(_) => None,
            })),
        }
        for operation in refs {
            if operation == position {
                problems.at(name, format!("{key}.{field}: it refers to itself"));
            } else if !depends_on.contains(&operation) {
                depends_on.push(operation);
            }
        }
        out.push((column.field.clone(), param));
    }
    out
}

/// Whether `value` can be a value of a field of type `scalar` (`nullable` or not); the
/// expected type otherwise.
pub fn value_fits(value: &Value, scalar: OutputScalar, nullable: bool) -> Result<(), &'static str> {
    let ok = match (value, scalar) {
        (Value::Null, _) => nullable,
        (Value::String(_), OutputScalar::Id | OutputScalar::String | OutputScalar::Enum) => true,
        (Value::Number(n), OutputScalar::Id) => n.is_i64() || n.is_u64(),
        (Value::Number(n), OutputScalar::Int) => {
            n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
        }
        (Value::Number(_), OutputScalar::Float) => true,
        (Value::Bool(_), OutputScalar::Boolean) => true,
        (_, OutputScalar::Custom) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(match (value, scalar) {
        (Value::Null, _) => "a value: the field is not nullable",
        (_, OutputScalar::Id) => "an ID (a string or an integer)",
        (_, OutputScalar::String | OutputScalar::Enum) => "a string",
        (_, OutputScalar::Int) => "a 32-bit integer",
        (_, OutputScalar::Float) => "a number",
        (_, OutputScalar::Boolean) => "true or false",
        (_, OutputScalar::Custom) => "a value",
    })
}
