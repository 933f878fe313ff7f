//! Variable coercion and literal values, as far as graft's plans need them.

use std::borrow::Cow;

use apollo_compiler::ast::{Type, Value};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::{Name, Schema};
use graft_keys::Json;
use graft_plan::VariablePlan;
use serde_json::value::RawValue;

use crate::request::Variables;

/// Default values of variables the request did not give, as JSON.
pub(crate) type Defaults = Vec<(Name, Box<RawValue>)>;

/// Checks each declared variable of the request against its type and collects the defaults of
/// those not given. Returns a message naming the variable and the problem.
pub(crate) fn coerce<'a>(
    schema: &Schema,
    declared: &[VariablePlan],
    provided: Option<&Variables<'a>>,
) -> Result<(Variables<'a>, Defaults), String> {
    let provided: Variables<'a> = provided.cloned().unwrap_or_default();
    let mut defaults = Vec::new();
    for variable in declared {
        match provided.get(variable.name.as_str()) {
            Some(value) => check(
                schema,
                &variable.ty,
                *value,
                &variable.name,
                &mut String::new(),
            )?,
            None => match &variable.default {
                Some(default) => {
                    let json = literal_to_json(default, &Variables::new());
                    let raw =
                        RawValue::from_string(json.to_string()).expect("serialized JSON is valid");
                    defaults.push((variable.name.clone(), raw));
                }
                None if variable.ty.is_non_null() => {
                    return Err(format!(
                        "variable `${}` of type `{}` was not provided",
                        variable.name, variable.ty
                    ));
                }
                None => {}
            },
        }
    }
    Ok((provided, defaults))
}

fn check(
    schema: &Schema,
    ty: &Type,
    value: Json<'_>,
    name: &str,
    path: &mut String,
) -> Result<(), String> {
    let text = value.get();
    let fail = |why: &str| {
        Err(format!(
            "variable `${name}`{path}: {why}, found {}",
            preview(text)
        ))
    };
    if text == "null" {
        return if ty.is_non_null() {
            fail(&format!("expected a non-null `{ty}`"))
        } else {
            Ok(())
        };
    }
    match ty {
        Type::List(inner) | Type::NonNullList(inner) => {
            if text.starts_with('[') && accepts_any_value(schema, inner) {
                // A list of a custom scalar such as `[_Any!]!`: whoever reads the items checks
                // them (`_entities` reports a null or non-object representation by index), so
                // thousands of representations are not parsed one more time here.
                Ok(())
            } else if text.starts_with('[') {
                let items: Vec<&RawValue> =
                    serde_json::from_str(text).map_err(|e| e.to_string())?;
                for (i, item) in items.iter().enumerate() {
                    let depth = path.len();
                    path.push_str(&format!("[{i}]"));
                    check(schema, inner, Json::from_raw(item), name, path)?;
                    path.truncate(depth);
                }
                Ok(())
            } else {
                // Input coercion wraps a single value in a list.
                check(schema, inner, value, name, path)
            }
        }
        Type::Named(named) | Type::NonNullNamed(named) => {
            let first = text.as_bytes()[0];
            let ok = match named.as_str() {
                "Int" => text.parse::<i32>().is_ok(),
                "Float" => first == b'-' || first.is_ascii_digit(),
                "String" => first == b'"',
                "Boolean" => text == "true" || text == "false",
                "ID" => first == b'"' || text.parse::<i64>().is_ok(),
                _ => match schema.types.get(named) {
                    Some(ExtendedType::Enum(e)) => serde_json::from_str::<Cow<'_, str>>(text)
                        .is_ok_and(|s| e.values.contains_key(s.as_ref())),
                    Some(ExtendedType::InputObject(object)) if first == b'{' => {
                        return check_object(schema, object, text, name, path);
                    }
                    Some(ExtendedType::InputObject(_)) => false,
                    _ => true,
                },
            };
            if ok {
                Ok(())
            } else {
                fail(&format!("expected `{named}`"))
            }
        }
    }
}

/// Checks an input object's fields against its type: no field it does not declare, every
/// non-null field without a default given, each given field of its type.
fn check_object(
    schema: &Schema,
    object: &apollo_compiler::schema::InputObjectType,
    text: &str,
    name: &str,
    path: &mut String,
) -> Result<(), String> {
    let given: std::collections::BTreeMap<Cow<'_, str>, &RawValue> =
        serde_json::from_str(text).map_err(|e| format!("variable `${name}`{path}: {e}"))?;
    if let Some(unknown) = given
        .keys()
        .find(|field| !object.fields.contains_key(field.as_ref()))
    {
        return Err(format!(
            "variable `${name}`{path}: `{}` has no field `{unknown}`",
            object.name
        ));
    }
    for (field, definition) in &object.fields {
        let depth = path.len();
        path.push('.');
        path.push_str(field);
        match given.get(field.as_str()) {
            Some(value) => check(schema, &definition.ty, Json::from_raw(value), name, path)?,
            None if definition.ty.is_non_null() && definition.default_value.is_none() => {
                return Err(format!(
                    "variable `${name}`{path}: the field of type `{}` was not given",
                    definition.ty
                ));
            }
            None => {}
        }
        path.truncate(depth);
    }
    Ok(())
}

/// Whether `ty` is (a non-null) custom scalar, which accepts any JSON value.
fn accepts_any_value(schema: &Schema, ty: &Type) -> bool {
    matches!(ty, Type::Named(name) | Type::NonNullNamed(name)
        if matches!(schema.types.get(name), Some(ExtendedType::Scalar(s)) if !s.is_built_in()))
}

fn preview(text: &str) -> String {
    if text.len() <= 40 {
        text.to_owned()
    } else {
        format!("{}...", &text[..text.floor_char_boundary(40)])
    }
}

/// Converts a GraphQL literal to JSON, reading variables it refers to.
pub(crate) fn literal_to_json(value: &Value, variables: &Variables<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Enum(name) => J::String(name.to_string()),
        Value::Variable(name) => variables
            .get(name.as_str())
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(J::Null),
        Value::String(s) => J::String(s.clone()),
        Value::Float(f) => f
            .try_to_f64()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(J::Null, J::Number),
        Value::Int(i) => match i.try_to_i32() {
            Ok(i) => J::from(i),
            Err(_) => i
                .as_str()
                .parse::<serde_json::Number>()
                .map_or(J::Null, J::Number),
        },
        Value::Boolean(b) => J::Bool(*b),
        Value::List(items) => J::Array(
            items
                .iter()
                .map(|i| literal_to_json(i, variables))
                .collect(),
        ),
        Value::Object(fields) => J::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), literal_to_json(v, variables)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use apollo_compiler::ast::Type;
    use apollo_compiler::name;

    use super::*;

    const SDL: &str = "
        type Query { a: Int }
        input NewOrder { id: ID total: Float! status: String! = \"new\" note: String }
    ";

    fn coerce_order(json: &str) -> Result<(), String> {
        let schema = Schema::parse_and_validate(SDL, "t.graphql").expect("valid");
        let declared = [VariablePlan {
            name: name!("input"),
            ty: Type::NonNullNamed(name!("NewOrder")).into(),
            default: None,
        }];
        let body = format!("{{\"input\":{json}}}");
        let variables: Variables<'_> = serde_json::from_str(&body).expect("an object");
        coerce(&schema, &declared, Some(&variables)).map(|_| ())
    }

    #[test]
    fn input_objects_are_checked_field_by_field() {
        assert_eq!(coerce_order(r#"{"total": 1.5}"#), Ok(()));
        assert_eq!(
            coerce_order(r#"{"total": "abc"}"#),
            Err("variable `$input`.total: expected `Float`, found \"abc\"".to_owned())
        );
        assert_eq!(
            coerce_order(r#"{"note": "x"}"#),
            Err("variable `$input`.total: the field of type `Float!` was not given".to_owned())
        );
        assert_eq!(
            coerce_order(r#"{"total": 1, "discount": 2}"#),
            Err("variable `$input`: `NewOrder` has no field `discount`".to_owned())
        );
        assert_eq!(
            coerce_order(r#"{"total": 1, "status": null}"#),
            Err("variable `$input`.status: expected a non-null `String!`, found null".to_owned())
        );
        assert!(coerce_order("[]").is_err());
    }
}
