//! A structural reader of JSON text that is already known to be valid: the text of a
//! [`crate::Json`], checked when the request was read. It finds
//! where lists, objects, fields and values begin and end, and checks nothing else, so the
//! representations of an `_entities` call cost one grammar check (the request's parse), not
//! two.
//!
//! Every step answers `None` at anything a valid text cannot hold there: text that is not JSON
//! after all gets no answer, never a panic or a wrong one.

use std::borrow::Cow;

/// A position in a JSON text.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

/// The raw text of a value, and whether it is a string without escapes, whose text is then
/// what lies between its quotes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw<'a> {
    pub(crate) text: &'a str,
    plain_string: bool,
}

impl<'a> Raw<'a> {
    /// The text of a value known to be valid JSON.
    pub(crate) fn new(text: &'a str) -> Raw<'a> {
        Raw {
            text,
            plain_string: false,
        }
    }

    /// The string this value holds: sliced out of the text when it has no escapes (what the
    /// scanner saw, so nothing is scanned again), decoded when it has; `None` when the value
    /// is not a string.
    pub(crate) fn string(self) -> Option<Cow<'a, str>> {
        if self.plain_string {
            // Both quotes are one byte: the slice is on character boundaries.
            self.text.get(1..self.text.len() - 1).map(Cow::Borrowed)
        } else {
            json_string(self.text)
        }
    }
}

/// An object's fields in document order: each name (borrowed unless it has escapes) and its
/// value.
pub(crate) type Fields<'a> = Vec<(Cow<'a, str>, Raw<'a>)>;

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Scanner<'a> {
        Scanner { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace, without consuming it.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.pos).copied()
    }

    /// Consumes `byte` if it comes next (after whitespace).
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        if next {
            self.pos += 1;
        }
        next
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// The raw text of the string that starts here, quotes included, and whether it holds an
    /// escape.
    fn string(&mut self) -> Option<(&'a str, bool)> {
        let bytes = self.bytes();
        let start = self.pos;
        if bytes.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            i = crate::json::skip_plain(bytes, i);
            match *bytes.get(i)? {
                b'\\' => {
                    // The escaped character is never the closing quote.
                    escaped = true;
                    i += 2;
                }
                b'"' => {
                    i += 1;
                    break;
                }
                // A control character: not valid JSON.
                _ => return None,
            }
        }
        self.pos = i;
        Some((self.text.get(start..i)?, escaped))
    }

    /// The raw text of the value that comes next, whatever it is.
    pub(crate) fn value(&mut self) -> Option<&'a str> {
        let start = match self.peek()? {
            b'"' => return self.string().map(|(raw, _)| raw),
            b'{' | b'[' => {
                let start = self.pos;
                let mut depth = 0usize;
                loop {
                    match *self.bytes().get(self.pos)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.pos += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                start
            }
            _ => {
                // A number, `true`, `false` or `null`: up to the next delimiter.
                let start = self.pos;
                while let Some(&b) = self.bytes().get(self.pos) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return None;
                }
                start
            }
        };
        self.text.get(start..self.pos)
    }

    /// Reads the object that comes next into `fields` (cleared first). `None` when what comes
    /// next is not an object.
    pub(crate) fn object(&mut self, fields: &mut Fields<'a>) -> Option<()> {
        fields.clear();
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let name = match self.string()? {
                (raw, false) => Cow::Borrowed(raw.get(1..raw.len() - 1)?),
                (raw, true) => json_string(raw)?,
            };
            if !self.eat(b':') {
                return None;
            }
            let value = if self.peek()? == b'"' {
                let (text, escaped) = self.string()?;
                Raw {
                    text,
                    plain_string: !escaped,
                }
            } else {
                Raw::new(self.value()?)
            };
            fields.push((name, value));
            if self.eat(b',') {
                continue;
            }
            return self.eat(b'}').then_some(());
        }
    }
}

/// The text of a JSON string literal: sliced straight out of the input when it has no escapes
/// (the common case), decoded by serde_json when it has.
pub(crate) fn json_string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// Any JSON value of a few levels (shared with `json.rs`'s tests).
    pub(crate) fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Quarters print and parse back exactly (serde_json's default float parsing is not
            // exact for every float).
            (-4_000_000i32..4_000_000).prop_map(|n| Value::from(f64::from(n) / 4.0)),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..5)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A value's text, compact or pretty, is read whole; an object's fields are its own.
        #[test]
        fn reads_what_serde_json_writes(value in any_json()) {
            for text in [
                serde_json::to_string(&value).unwrap(),
                serde_json::to_string_pretty(&value).unwrap(),
            ] {
                let mut scanner = Scanner::new(&text);
                let raw = scanner.value().expect("a value");
                prop_assert!(scanner.at_end());
                prop_assert_eq!(serde_json::from_str::<Value>(raw).unwrap(), value.clone());
                if let Value::Object(map) = &value {
                    let mut fields = Vec::new();
                    Scanner::new(&text).object(&mut fields).expect("an object");
                    prop_assert_eq!(fields.len(), map.len());
                    for (name, raw) in &fields {
                        let expected = map.get(name.as_ref()).expect("a field of the object");
                        prop_assert_eq!(&serde_json::from_str::<Value>(raw.text).unwrap(), expected);
                        let string = raw.string();
                        prop_assert_eq!(string.as_deref(), expected.as_str());
                    }
                }
            }
        }

        /// Any text at all: an answer or none, never a panic.
        #[test]
        fn never_panics(text in ".{0,40}") {
            let mut fields = Vec::new();
            let _ = Scanner::new(&text).object(&mut fields);
            let _ = Scanner::new(&text).value();
        }
    }

    #[test]
    fn names_with_escapes_are_decoded_and_others_borrowed() {
        let text = r#"{"__typ\u0065name" : "A\"b", "id":[1,{"x":"]"}] }"#;
        let mut fields = Vec::new();
        Scanner::new(text).object(&mut fields).unwrap();
        assert!(matches!(fields[0].0, Cow::Owned(ref n) if n == "__typename"));
        assert_eq!(fields[0].1.text, r#""A\"b""#);
        assert_eq!(fields[0].1.string().as_deref(), Some("A\"b"));
        assert!(matches!(fields[1].0, Cow::Borrowed("id")));
        assert_eq!(fields[1].1.text, r#"[1,{"x":"]"}]"#);
        assert_eq!(fields[1].1.string(), None);
    }
}
