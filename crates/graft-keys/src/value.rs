//! Typed, canonical entity keys and their injective encoding.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use apollo_compiler::Name;

use crate::KeyError;

/// One scalar value of a key, typed from the schema.
///
/// An `ID` is always kept as [`KeyValue::String`]: `{"id": 42}` and `{"id": "42"}` name the same
/// entity, as the GraphQL spec's input coercion for `ID` says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    /// `String`, `ID`, an enum value, or a custom scalar given as a string.
    String(Box<str>),
    /// `Int`, or a custom scalar given as an integer.
    Int(i64),
    /// `Float`, or a custom scalar given as a non-integral number.
    Float(KeyFloat),
    /// `Boolean`.
    Boolean(bool),
}

/// A finite `f64` with total equality and ordering, so that keys can be hashed and sorted.
/// `-0.0` is stored as `0.0`; NaN and infinities cannot occur (JSON has neither).
#[derive(Debug, Clone, Copy)]
pub struct KeyFloat(f64);

impl KeyFloat {
    /// Wraps a finite float; `None` for NaN or an infinity.
    pub fn new(value: f64) -> Option<KeyFloat> {
        value
            .is_finite()
            .then_some(KeyFloat(if value == 0.0 { 0.0 } else { value }))
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl PartialEq for KeyFloat {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for KeyFloat {}
impl Hash for KeyFloat {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}
impl PartialOrd for KeyFloat {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeyFloat {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Which of a type's `@key`s an [`EntityKey`] was built for: its position among the type's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyIndex(pub u16);

/// The identity of one entity: its type, the key it was given by, and that key's leaf values in
/// depth-first field-set order.
///
/// Two representations that name the same entity through the same key give equal `EntityKey`s,
/// whatever the order of their JSON fields and whether an `ID` came as a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey {
    type_name: Name,
    key: KeyIndex,
    values: Box<[KeyValue]>,
}

impl EntityKey {
    /// Builds a key. The caller vouches that `values` fit the key's leaves; graft builds keys only
    /// through [`crate::EntityTypes::validate`] and the decoder.
    pub fn new(type_name: Name, key: KeyIndex, values: impl Into<Box<[KeyValue]>>) -> EntityKey {
        EntityKey {
            type_name,
            key,
            values: values.into(),
        }
    }

    /// The entity's type.
    pub fn type_name(&self) -> &Name {
        &self.type_name
    }

    /// Which key of the type this is.
    pub fn key_index(&self) -> KeyIndex {
        self.key
    }

    /// The leaf values, depth first.
    pub fn values(&self) -> &[KeyValue] {
        &self.values
    }

    /// An injective text encoding for cache keys: distinct keys always give distinct strings,
    /// whatever their values contain (spaces, `#`, `:`, quotes, unicode, empty strings).
    ///
    /// The form is `Type/key:` followed by one tagged item per value: `s<byte length>:<text>`,
    /// `i<integer>;`, `f<IEEE bits in hex>;` or `b1`/`b0`. Every string carries its byte length, so
    /// no character inside a value can be misread as a delimiter.
    pub fn encode(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(16 + self.values.len() * 12);
        let _ = write!(out, "{}/{}:", self.type_name, self.key.0);
        for value in self.values.iter() {
            let _ = match value {
                KeyValue::String(s) => write!(out, "s{}:{s}", s.len()),
                KeyValue::Int(i) => write!(out, "i{i};"),
                KeyValue::Float(f) => write!(out, "f{:x};", f.0.to_bits()),
                KeyValue::Boolean(b) => write!(out, "b{}", u8::from(*b)),
            };
        }
        out
    }

    /// Reads back what [`EntityKey::encode`] wrote.
    pub fn decode(encoded: &str) -> Result<EntityKey, KeyError> {
        let bad = |why: &str| KeyError::Encoding {
            encoded: encoded.to_owned(),
            message: why.to_owned(),
        };
        let (head, mut rest) = encoded
            .split_once(':')
            .ok_or_else(|| bad("missing `:` after the key"))?;
        let (type_name, key) = head
            .split_once('/')
            .ok_or_else(|| bad("missing `/` after the type"))?;
        let type_name = Name::new(type_name).map_err(|_| bad("the type is not a GraphQL name"))?;
        let key = KeyIndex(
            key.parse()
                .map_err(|_| bad("the key index is not a number"))?,
        );
        let mut values = Vec::new();
        while let Some(tag) = rest.chars().next() {
            rest = &rest[tag.len_utf8()..];
            let value = match tag {
                's' => {
                    let (len, after) = rest
                        .split_once(':')
                        .ok_or_else(|| bad("string without length"))?;
                    let len: usize = len
                        .parse()
                        .map_err(|_| bad("string length is not a number"))?;
                    let text = after
                        .get(..len)
                        .ok_or_else(|| bad("string shorter than its length"))?;
                    rest = &after[len..];
                    KeyValue::String(text.into())
                }
                'i' | 'f' => {
                    let (number, after) = rest
                        .split_once(';')
                        .ok_or_else(|| bad("number without `;`"))?;
                    rest = after;
                    if tag == 'i' {
                        KeyValue::Int(number.parse().map_err(|_| bad("bad integer"))?)
                    } else {
                        let bits =
                            u64::from_str_radix(number, 16).map_err(|_| bad("bad float bits"))?;
                        KeyValue::Float(
                            KeyFloat::new(f64::from_bits(bits))
                                .ok_or_else(|| bad("float is not finite"))?,
                        )
                    }
                }
                'b' => {
                    let value = match rest.as_bytes().first() {
                        Some(b'0') => false,
                        Some(b'1') => true,
                        _ => return Err(bad("boolean is not 0 or 1")),
                    };
                    rest = &rest[1..];
                    KeyValue::Boolean(value)
                }
                _ => return Err(bad("unknown value tag")),
            };
            values.push(value);
        }
        Ok(EntityKey::new(type_name, key, values))
    }
}

impl fmt::Display for KeyValue {
    /// Writes the value as GraphQL would print it: strings quoted and escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::String(s) => write!(f, "{s:?}"),
            KeyValue::Int(i) => write!(f, "{i}"),
            KeyValue::Float(x) => write!(f, "{}", x.0),
            KeyValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}

impl fmt::Display for EntityKey {
    /// `OrgUser("org-1", "u1")`: the type and the values in key order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.type_name)?;
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{value}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(values: Vec<KeyValue>) -> EntityKey {
        EntityKey::new(Name::new("OrgUser").unwrap(), KeyIndex(0), values)
    }

    fn s(text: &str) -> KeyValue {
        KeyValue::String(text.into())
    }

    #[test]
    fn delimiter_characters_never_collide() {
        // The classic bug: "a#b" + "c" and "a" + "b#c" join to the same "a#b#c".
        let a = key(vec![s("a#b"), s("c")]);
        let b = key(vec![s("a"), s("b#c")]);
        assert_ne!(a.encode(), b.encode());
        let c = key(vec![s(""), s("s0:")]);
        let d = key(vec![s("s0:"), s("")]);
        assert_ne!(c.encode(), d.encode());
    }

    #[test]
    fn encoding_is_readable_and_round_trips() {
        let k = key(vec![
            s("org 1"),
            KeyValue::Int(-7),
            KeyValue::Boolean(true),
            s("ü"),
        ]);
        assert_eq!(k.encode(), "OrgUser/0:s5:org 1i-7;b1s2:ü");
        assert_eq!(EntityKey::decode(&k.encode()).unwrap(), k);
        assert_eq!(k.to_string(), r#"OrgUser("org 1", -7, true, "ü")"#);
    }

    #[test]
    fn negative_zero_is_zero() {
        assert_eq!(KeyFloat::new(-0.0), KeyFloat::new(0.0));
        assert!(KeyFloat::new(f64::NAN).is_none());
    }

    #[test]
    fn decode_rejects_garbage_without_panicking() {
        for bad in [
            "",
            "OrgUser",
            "OrgUser/x:",
            "OrgUser/0:s9:abc",
            "OrgUser/0:q",
            "1bad/0:",
            "T/0:s1:\u{e9}",
        ] {
            let _ = EntityKey::decode(bad);
        }
        assert!(EntityKey::decode("OrgUser/0:s9:abc").is_err());
    }
}
