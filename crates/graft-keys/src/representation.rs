//! Validating `_Any` representations into typed [`EntityKey`]s.
//!
//! A representation is read once into borrowed `(field, raw JSON)` pairs by a structural
//! scanner (`scan.rs`: the text is a [`Json`], whose grammar has been checked already);
//! only the key fields' values are then decoded, typed by the schema. Fields that are not part
//! of the matched key are kept as raw JSON: `@requires` needs them.

use serde_json::value::RawValue;

use crate::scan::{Fields, Raw, Scanner};
use crate::{
    EntityKey, EntityType, EntityTypes, Json, KeyDefinition, KeyError, KeyFloat, KeyLeaf,
    KeyScalar, KeyValue,
};

/// A representation's fields besides `__typename` and its key, as raw JSON, in input order.
pub type ExtraFields = Vec<(Box<str>, Box<RawValue>)>;

/// A validated representation: the entity's key plus the fields that were not part of it.
#[derive(Debug, Clone)]
pub struct Representation {
    key: EntityKey,
    extra: ExtraFields,
}

impl Representation {
    /// The entity's typed key.
    pub fn key(&self) -> &EntityKey {
        &self.key
    }

    /// Takes the key out.
    pub fn into_key(self) -> EntityKey {
        self.key
    }

    /// Takes the key and the other fields apart.
    pub fn into_parts(self) -> (EntityKey, ExtraFields) {
        (self.key, self.extra)
    }

    /// Fields given besides `__typename` and the matched key's top-level fields, as raw JSON.
    pub fn extra_fields(&self) -> &[(Box<str>, Box<RawValue>)] {
        &self.extra
    }
}

impl EntityTypes {
    /// Validates the representation at position `index` of an `_entities` call.
    ///
    /// The type is taken from `__typename`; the key is the first of the type's resolvable keys
    /// whose fields are all present and not null. A representation that matches none of them is
    /// an error that lists what each key lacked, never a guess.
    pub fn validate(&self, index: usize, json: &RawValue) -> Result<Representation, KeyError> {
        let fields =
            RawObject::parse(json.get()).map_err(|found| KeyError::NotAnObject { index, found })?;
        self.validate_object(index, &fields, &mut Vec::new(), true)
    }

    /// Validates one representation read into `fields`; its other fields are copied into the
    /// result only with `keep_extra_fields`. `found` is room for the matched key's values,
    /// reused from one representation to the next.
    fn validate_object<'a>(
        &self,
        index: usize,
        fields: &RawObject<'a>,
        found: &mut Vec<Lookup<'a>>,
        keep_extra_fields: bool,
    ) -> Result<Representation, KeyError> {
        let type_name = match fields.get("__typename") {
            None => return Err(KeyError::MissingTypename { index }),
            Some(raw) => match raw.string() {
                Some(name) => name,
                None => {
                    return Err(KeyError::TypenameNotString {
                        index,
                        found: describe(raw.text),
                    });
                }
            },
        };
        let entity = self.get(&type_name).ok_or_else(|| KeyError::UnknownType {
            index,
            type_name: type_name.to_string(),
        })?;
        if !entity.is_resolvable() {
            return Err(KeyError::NotResolvable {
                index,
                type_name: type_name.to_string(),
            });
        }
        if entity.is_interface() {
            return Err(KeyError::InterfaceType {
                index,
                type_name: type_name.to_string(),
            });
        }
        let key = match_key(index, entity, fields, found)?;
        // Exactly as many as there are leaves: the key keeps this allocation as its boxed
        // slice (collecting a `Result` would start at capacity 4 and reallocate to fit).
        let leaves = key.field_set().leaves();
        let mut values = Vec::with_capacity(leaves.len());
        for (leaf, value) in leaves.iter().zip(found.iter()) {
            values.push(read_leaf(index, entity, leaf, *value)?);
        }
        let mut extra = ExtraFields::new();
        let pairs: &[_] = if keep_extra_fields {
            &fields.pairs
        } else {
            &[]
        };
        for (name, raw) in pairs {
            if name == "__typename"
                || key
                    .field_set()
                    .fields()
                    .iter()
                    .any(|f| f.name() == name.as_ref())
            {
                continue;
            }
            // A value of a valid text is valid on its own.
            let raw =
                RawValue::from_string(raw.text.to_owned()).map_err(|_| KeyError::NotAnObject {
                    index,
                    found: "an object that is not valid JSON",
                })?;
            extra.push((Box::from(name.as_ref()), raw));
        }
        Ok(Representation {
            key: EntityKey::new(entity.name().clone(), key.index(), values),
            extra,
        })
    }

    /// Validates a JSON array of representations, each on its own: one bad representation does
    /// not hide the others. Fails as a whole only when `json` is not JSON or not an array.
    pub fn validate_all(
        &self,
        json: &str,
    ) -> Result<Vec<Result<Representation, KeyError>>, KeyError> {
        let json = Json::parse(json).map_err(|error| KeyError::NotAList {
            message: error.to_string(),
        })?;
        let mut results = Vec::new();
        self.validate_each(json, usize::MAX, true, |_, result| results.push(result))?;
        Ok(results)
    }

    /// Validates a JSON array of representations in one pass over the text, handing each result
    /// to `each` with its index, and returns how many there were. Fails as a whole when `json`
    /// is not an array ([`KeyError::NotAList`]) or holds more than `limit` items
    /// ([`KeyError::TooMany`], raised as soon as item `limit + 1` is reached). Each
    /// representation's fields besides its key are kept (as [`Representation::extra_fields`])
    /// only with `keep_extra_fields`: copying one costs an allocation and a parse.
    pub fn validate_each(
        &self,
        json: Json<'_>,
        limit: usize,
        keep_extra_fields: bool,
        mut each: impl FnMut(usize, Result<Representation, KeyError>),
    ) -> Result<usize, KeyError> {
        let text = json.get();
        let not_a_list = || KeyError::NotAList {
            message: format!(
                "expected a list of representations, found {}",
                describe(text.trim())
            ),
        };
        let mut scanner = Scanner::new(text);
        if !scanner.eat(b'[') {
            return Err(not_a_list());
        }
        // One buffer of fields and one of key values for every representation: no
        // allocation per item.
        let mut fields: Fields<'_> = Vec::new();
        let mut found = Vec::new();
        let mut index = 0;
        if !scanner.eat(b']') {
            loop {
                if index == limit {
                    return Err(KeyError::TooMany { limit });
                }
                let result = if scanner.peek() == Some(b'{') {
                    scanner.object(&mut fields).ok_or_else(not_a_list)?;
                    let object = RawObject {
                        pairs: std::mem::take(&mut fields),
                    };
                    let result =
                        self.validate_object(index, &object, &mut found, keep_extra_fields);
                    fields = object.pairs;
                    result
                } else {
                    let item = scanner.value().ok_or_else(not_a_list)?;
                    Err(KeyError::NotAnObject {
                        index,
                        found: kind_of(item),
                    })
                };
                each(index, result);
                index += 1;
                if scanner.eat(b',') {
                    continue;
                }
                if scanner.eat(b']') {
                    break;
                }
                return Err(not_a_list());
            }
        }
        if !scanner.at_end() {
            return Err(not_a_list());
        }
        Ok(index)
    }
}

/// What a JSON value is, for an item that is not an object.
fn kind_of(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'[') => "a list",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'{') => "an object that is not valid JSON",
        _ => "a number",
    }
}

/// Picks the first resolvable key whose leaves are all present and not null, and leaves what
/// was found for each of its leaves in `found`, in the key's order.
fn match_key<'e, 'a>(
    index: usize,
    entity: &'e EntityType,
    fields: &RawObject<'a>,
    found: &mut Vec<Lookup<'a>>,
) -> Result<&'e KeyDefinition, KeyError> {
    let resolvable = || entity.keys().iter().filter(|k| k.is_resolvable());
    for key in resolvable() {
        found.clear();
        let complete = key.field_set().leaves().iter().all(|leaf| {
            let value = lookup(fields, leaf);
            found.push(value);
            absence(value).is_none()
        });
        if complete {
            return Ok(key);
        }
    }
    let first_absent = |key: &'e KeyDefinition| {
        key.field_set()
            .leaves()
            .iter()
            .find_map(|leaf| Some((leaf, absence(lookup(fields, leaf))?)))
    };
    // No key matched: say what each one lacked.
    let reasons: Vec<(&KeyDefinition, (&KeyLeaf, Absence))> = resolvable()
        .filter_map(|key| Some((key, first_absent(key)?)))
        .collect();
    // One key: name exactly what is wrong with it.
    if let [(_, (leaf, why))] = reasons.as_slice() {
        let type_name = entity.name().to_string();
        let field = leaf.dotted();
        return Err(match why {
            Absence::Missing => KeyError::MissingKeyField {
                index,
                type_name,
                field,
            },
            Absence::Null => KeyError::NullKeyValue {
                index,
                type_name,
                field,
            },
        });
    }
    let tried = reasons
        .iter()
        .map(|(key, (leaf, why))| {
            let why = match why {
                Absence::Missing => "missing",
                Absence::Null => "null",
            };
            format!("`{}` ({} {why})", key.field_set(), leaf.dotted())
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(KeyError::NoMatchingKey {
        index,
        type_name: entity.name().to_string(),
        tried,
    })
}

enum Absence {
    Missing,
    Null,
}

/// Why a leaf has no value, or `None` when it has one.
fn absence(lookup: Lookup<'_>) -> Option<Absence> {
    match lookup {
        Lookup::Found(raw) if raw.text == "null" => Some(Absence::Null),
        Lookup::Found(_) | Lookup::NotAnObject(_) => None,
        Lookup::Missing => Some(Absence::Missing),
    }
}

/// What a representation holds for one key leaf.
#[derive(Debug, Clone, Copy)]
enum Lookup<'a> {
    Found(Raw<'a>),
    Missing,
    /// A value on the path that should hold the nested field is not an object.
    NotAnObject(&'a str),
}

fn lookup<'a>(fields: &RawObject<'a>, leaf: &KeyLeaf) -> Lookup<'a> {
    let (last, parents) = leaf
        .path()
        .split_last()
        .expect("a key leaf has a non-empty path");
    let mut nested;
    let mut object = fields;
    for parent in parents {
        let Some(raw) = object.get(parent) else {
            return Lookup::Missing;
        };
        match RawObject::parse(raw.text) {
            Ok(inner) => {
                nested = inner;
                object = &nested;
            }
            Err(_) if raw.text == "null" => return Lookup::Found(raw),
            Err(_) => return Lookup::NotAnObject(raw.text),
        }
    }
    match object.get(last) {
        Some(raw) => Lookup::Found(raw),
        None => Lookup::Missing,
    }
}

/// Reads and types the value found for one key leaf.
fn read_leaf(
    index: usize,
    entity: &EntityType,
    leaf: &KeyLeaf,
    found: Lookup<'_>,
) -> Result<KeyValue, KeyError> {
    let wrong = |found: String| KeyError::WrongKeyType {
        index,
        type_name: entity.name().to_string(),
        field: leaf.dotted(),
        expected: leaf.scalar().type_name().to_owned(),
        found,
    };
    let (raw, string) = match found {
        Lookup::Found(raw) => (raw.text, raw),
        Lookup::NotAnObject(raw) => return Err(wrong(describe(raw))),
        Lookup::Missing => unreachable!("match_key chose a key whose leaves are all present"),
    };
    let first = raw.as_bytes().first().copied().unwrap_or(b' ');
    let value = match (leaf.scalar(), first) {
        (
            KeyScalar::Id | KeyScalar::String | KeyScalar::Custom(_) | KeyScalar::Enum { .. },
            b'"',
        ) => {
            let text = string.string().ok_or_else(|| wrong(describe(raw)))?;
            if let KeyScalar::Enum { name, values } = leaf.scalar()
                && !values.iter().any(|v| v == text.as_ref())
            {
                return Err(wrong(format!(
                    "{text:?}, which is not a value of enum {name}"
                )));
            }
            KeyValue::String(text.into())
        }
        (KeyScalar::Id, b'-' | b'0'..=b'9') => {
            let number: serde_json::Number =
                serde_json::from_str(raw).map_err(|_| wrong(describe(raw)))?;
            if number.is_f64() {
                return Err(wrong(format!("the non-integer number {raw}")));
            }
            KeyValue::String(number.to_string().into_boxed_str())
        }
        (KeyScalar::Int, b'-' | b'0'..=b'9') => {
            let int = raw.parse::<i32>().map_err(|_| {
                if raw.parse::<i64>().is_ok()
                    || raw.bytes().all(|b| b == b'-' || b.is_ascii_digit())
                {
                    wrong(format!("{raw}, which is outside Int's 32-bit range"))
                } else {
                    wrong(format!("the non-integer number {raw}"))
                }
            })?;
            KeyValue::Int(i64::from(int))
        }
        (KeyScalar::Float, b'-' | b'0'..=b'9') => {
            let float: f64 = serde_json::from_str(raw).map_err(|_| wrong(describe(raw)))?;
            KeyValue::Float(KeyFloat::new(float).ok_or_else(|| wrong(describe(raw)))?)
        }
        (KeyScalar::Custom(_), b'-' | b'0'..=b'9') => match raw.parse::<i64>() {
            Ok(int) => KeyValue::Int(int),
            Err(_) => {
                let float: f64 = serde_json::from_str(raw).map_err(|_| wrong(describe(raw)))?;
                KeyValue::Float(KeyFloat::new(float).ok_or_else(|| wrong(describe(raw)))?)
            }
        },
        (KeyScalar::Boolean | KeyScalar::Custom(_), b't' | b'f') => {
            KeyValue::Boolean(serde_json::from_str(raw).map_err(|_| wrong(describe(raw)))?)
        }
        _ => return Err(wrong(describe(raw))),
    };
    Ok(value)
}

/// A short description of a JSON value for error messages: its kind, and its text when short.
fn describe(raw: &str) -> String {
    let kind = match raw.as_bytes().first() {
        Some(b'"') => "the string",
        Some(b'{') => return "an object".to_owned(),
        Some(b'[') => return "a list".to_owned(),
        Some(b't' | b'f') => "the boolean",
        Some(b'n') => return "null".to_owned(),
        _ => "the number",
    };
    if raw.len() <= 40 {
        format!("{kind} {raw}")
    } else {
        kind.to_owned()
    }
}

/// A JSON object read into borrowed `(name, raw value)` pairs, in document order.
struct RawObject<'a> {
    pairs: Fields<'a>,
}

impl<'a> RawObject<'a> {
    /// Reads `json` (valid JSON: a `RawValue`'s text or a value within one) as an object; when
    /// it is not one, returns what it is instead.
    fn parse(json: &'a str) -> Result<RawObject<'a>, &'static str> {
        let mut scanner = Scanner::new(json);
        let mut pairs = Vec::with_capacity(4);
        match scanner.object(&mut pairs) {
            Some(()) if scanner.at_end() => Ok(RawObject { pairs }),
            _ => Err(kind_of(json.trim_start())),
        }
    }

    fn get(&self, name: &str) -> Option<Raw<'a>> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::parse_subgraph_schema;

    fn types() -> EntityTypes {
        let schema = parse_subgraph_schema(
            r#"
            type Query { u: OrgUser }
            enum Region { EU US }
            type Org { id: ID! region: Region! }
            type OrgUser @key(fields: "orgId userId") { orgId: String! userId: Int! name: String }
            type Product @key(fields: "id") @key(fields: "sku package") { id: ID! sku: String! package: String! }
            type Member @key(fields: "org { id region } userId") { org: Org! userId: ID! }
            type Ref @key(fields: "id", resolvable: false) { id: ID! }
            type Plain { x: Int }
            interface Node @key(fields: "id") { id: ID! }
            type Page implements Node @key(fields: "id") { id: ID! }
            "#,
            "reps.graphql",
            "",
        )
        .unwrap();
        EntityTypes::from_schema(&schema).unwrap()
    }

    fn validate(json: &str) -> Result<Representation, KeyError> {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        types().validate(3, &raw)
    }

    fn error(json: &str) -> String {
        validate(json)
            .expect_err("invalid representation")
            .to_string()
    }

    #[test]
    fn builds_typed_keys_in_key_order_whatever_the_field_order() {
        let a = validate(r#"{"userId": 7, "__typename": "OrgUser", "orgId": "o#1"}"#).unwrap();
        assert_eq!(a.key().to_string(), r#"OrgUser("o#1", 7)"#);
        assert!(a.extra_fields().is_empty());
        let b =
            validate(r#"{"__typename":"OrgUser","orgId":"o#1","userId":7,"name":"kept"}"#).unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(&*b.extra_fields()[0].0, "name");
        assert_eq!(b.extra_fields()[0].1.get(), r#""kept""#);
    }

    #[test]
    fn an_entity_interface_is_refused_and_its_object_types_are_not() {
        let err = error(r#"{"__typename":"Node","id":"1"}"#);
        assert_eq!(
            err,
            "representation 3: `Node` is an interface: `__typename` must name one of its object types"
        );
        assert!(validate(r#"{"__typename":"Page","id":"1"}"#).is_ok());
    }

    #[test]
    fn ids_may_be_strings_or_integers() {
        let a = validate(r#"{"__typename":"Product","id":42}"#).unwrap();
        let b = validate(r#"{"__typename":"Product","id":"42"}"#).unwrap();
        assert_eq!(a.key(), b.key());
        assert!(error(r#"{"__typename":"Product","id":4.5}"#).contains("non-integer"));
    }

    #[test]
    fn picks_the_key_whose_fields_are_present() {
        let by_sku = validate(r#"{"__typename":"Product","sku":"s","package":"p"}"#).unwrap();
        assert_eq!(by_sku.key().key_index().0, 1);
        let by_id =
            validate(r#"{"__typename":"Product","id":"1","sku":"s","package":"p"}"#).unwrap();
        assert_eq!(by_id.key().key_index().0, 0);
        let err = error(r#"{"__typename":"Product","sku":"s"}"#);
        assert!(err.contains("matches none of Product's keys"), "{err}");
        assert!(
            err.contains("`id` (id missing)") && err.contains("`sku package` (package missing)"),
            "{err}"
        );
    }

    #[test]
    fn reads_nested_keys() {
        let ok = validate(r#"{"__typename":"Member","org":{"id":1,"region":"EU"},"userId":"u"}"#)
            .unwrap();
        assert_eq!(ok.key().to_string(), r#"Member("1", "EU", "u")"#);
        let err = error(r#"{"__typename":"Member","org":{"id":1,"region":"ASIA"},"userId":"u"}"#);
        assert!(err.contains("not a value of enum Region"), "{err}");
        let err = error(r#"{"__typename":"Member","org":"o","userId":"u"}"#);
        assert!(
            err.contains("org.id") && err.contains("the string \"o\""),
            "{err}"
        );
    }

    #[test]
    fn every_error_names_the_index_field_and_reason() {
        let cases = [
            (
                r#"[1]"#,
                "representation 3: expected an object, found a list",
            ),
            (
                r#"{"orgId":"o"}"#,
                "representation 3: `__typename` is missing",
            ),
            (
                r#"{"__typename":5}"#,
                "representation 3: `__typename` must be a string, found the number 5",
            ),
            (
                r#"{"__typename":"Nope"}"#,
                "representation 3: `Nope` is not an entity type of this subgraph",
            ),
            (
                r#"{"__typename":"Plain"}"#,
                "representation 3: `Plain` is not an entity type of this subgraph",
            ),
            (
                r#"{"__typename":"Ref","id":"1"}"#,
                "representation 3: this subgraph cannot resolve `Ref`: all its keys are `resolvable: false`",
            ),
            (
                r#"{"__typename":"OrgUser","orgId":"o"}"#,
                "representation 3 (OrgUser): key field `userId` is missing",
            ),
            (
                r#"{"__typename":"OrgUser","orgId":null,"userId":1}"#,
                "representation 3 (OrgUser): key field `orgId` is null",
            ),
            (
                r#"{"__typename":"OrgUser","orgId":"o","userId":"1"}"#,
                "representation 3 (OrgUser): key field `userId` expects Int, found the string \"1\"",
            ),
            (
                r#"{"__typename":"OrgUser","orgId":"o","userId":3000000000}"#,
                "representation 3 (OrgUser): key field `userId` expects Int, found 3000000000, which is outside Int's 32-bit range",
            ),
            (
                r#"{"__typename":"OrgUser","orgId":1,"userId":1}"#,
                "representation 3 (OrgUser): key field `orgId` expects String, found the number 1",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(error(json), expected, "{json}");
        }
    }

    #[test]
    fn validate_all_keeps_going_past_bad_items() {
        let results = types()
            .validate_all(
                r#"[{"__typename":"Product","id":"1"}, 7, {"__typename":"Product","id":"2"}]"#,
            )
            .unwrap();
        assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
        assert!(types().validate_all(r#"{"not":"a list"}"#).is_err());
    }
}
