//! JSON text checked once: [`Json`], a value's raw text known to be valid, and [`JsonReader`],
//! which checks a text's grammar (RFC 8259, as serde_json does) in one pass while its caller
//! picks the fields it wants, so that a request body's variables are read without serde_json
//! skipping every representation first only for graft's scanner to read them again.
//!
//! Values are skipped without recursion (a stack of open brackets), so nesting is bounded by the
//! text's length, not by the thread's stack. Strings are checked for control characters and
//! escapes; `\u` escapes need four hex digits and, as in serde_json's raw values, are not
//! checked for surrogate pairs until a string is decoded.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::KeyError;

/// The bytes a string's scan stops at: its end, an escape, a control character.
const NEEDS_CARE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The position of the first byte at or after `pos` that a string's scan stops at
/// ([`NEEDS_CARE`]), or the end: eight bytes at a time while eight are left (the bytes past a
/// string's end are the text's own, so reading them is harmless), one at a time after.
pub(crate) fn skip_plain(bytes: &[u8], mut pos: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte of `v` is zero: its high bit is set in `(v - ONES) & !v & HIGHS`; so is
    // a byte under 0x20 in `(x - 0x20 * ONES) & !x & HIGHS`. Borrows only carry upwards
    // from a byte that is flagged itself, so the lowest flag is exact.
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let found = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGHS;
        if found != 0 {
            return pos + (found.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while bytes
        .get(pos)
        .is_some_and(|&byte| !NEEDS_CARE[usize::from(byte)])
    {
        pos += 1;
    }
    pos
}

/// Why a step stopped, at the reader's position: made a [`KeyError`] only at the public
/// boundary, so that the steps return a result of two words.
type Stop = &'static str;

/// The raw text of one JSON value, known to be valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<'a>(&'a str);

impl<'a> Json<'a> {
    /// The text.
    pub fn get(self) -> &'a str {
        self.0
    }

    /// The text of a value serde_json has checked.
    pub fn from_raw(raw: &'a RawValue) -> Json<'a> {
        Json(raw.get())
    }

    /// Checks that `text` is one JSON value, surrounded by whitespace at most.
    pub fn parse(text: &'a str) -> Result<Json<'a>, KeyError> {
        let mut reader = JsonReader::new(text);
        let value = reader.value()?;
        reader.end()?;
        Ok(value)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Json<'a>, D::Error> {
        <&'de RawValue>::deserialize(deserializer).map(Json::from_raw)
    }
}

/// Reads a JSON text from the start, checking its grammar as it goes.
#[derive(Debug)]
pub struct JsonReader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> JsonReader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> JsonReader<'a> {
        JsonReader { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// How many bytes at the start of `text` a JSON string holds as they are: up to the first
    /// quote, backslash or control character, which would need an escape.
    pub fn plain_prefix(text: &str) -> usize {
        skip_plain(text.as_bytes(), 0)
    }

    /// An error at the current position, with its line and column (both from 1, the column in
    /// characters).
    pub fn error(&self, message: impl Into<String>) -> KeyError {
        JsonReader::error_at(self.text, self.pos, message)
    }

    /// An error at byte `offset` of `text` (a character boundary), with its line and column.
    pub fn error_at(text: &str, offset: usize, message: impl Into<String>) -> KeyError {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        KeyError::InvalidJson {
            message: message.into(),
            line,
            column: before[line_start..].chars().count() + 1,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.pos).copied()
    }

    /// Whether `null` comes next; consumed if so.
    pub fn null(&mut self) -> bool {
        let next = self.peek() == Some(b'n') && self.bytes()[self.pos..].starts_with(b"null");
        if next {
            self.pos += 4;
        }
        next
    }

    /// Checks that only whitespace is left.
    pub fn end(&mut self) -> Result<(), KeyError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    /// Reads one value, checked; its raw text.
    pub fn value(&mut self) -> Result<Json<'a>, KeyError> {
        self.value_text().map_err(|stop| self.error(stop))
    }

    fn value_text(&mut self) -> Result<Json<'a>, Stop> {
        self.skip_whitespace();
        let start = self.pos;
        // Open brackets, innermost last; `true` for an object.
        let mut open: Vec<bool> = Vec::new();
        loop {
            // A value.
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                    } else {
                        open.push(true);
                        self.field_name()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                    } else {
                        open.push(false);
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string_text()?;
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                Some(b'n') => self.literal("null")?,
                Some(_) => return Err("expected a value"),
                None => return Err("EOF while parsing a value"),
            }
            // After a value: close what is complete, or go on to the next item.
            loop {
                let Some(&object) = open.last() else {
                    return Ok(Json(&self.text[start..self.pos]));
                };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            self.field_name()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {
                        self.pos += 1;
                        open.pop();
                    }
                    Some(b']') if !object => {
                        self.pos += 1;
                        open.pop();
                    }
                    Some(_) if object => return Err("expected `,` or `}`"),
                    Some(_) => return Err("expected `,` or `]`"),
                    None => return Err("EOF while parsing a value"),
                }
            }
        }
    }

    /// A field's name and its colon.
    fn field_name(&mut self) -> Result<(), Stop> {
        if self.peek() != Some(b'"') {
            return Err("expected a field name");
        }
        self.string_text()?;
        self.colon()
    }

    fn colon(&mut self) -> Result<(), Stop> {
        if self.peek() != Some(b':') {
            return Err("expected `:`");
        }
        self.pos += 1;
        Ok(())
    }

    /// Reads an object, handing each field's name to `field`, which must read its value.
    pub fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, Cow<'a, str>) -> Result<(), KeyError>,
    ) -> Result<(), KeyError> {
        if self.peek() != Some(b'{') {
            return Err(self.error("expected an object"));
        }
        self.pos += 1;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let name = self.string()?;
            self.colon().map_err(|stop| self.error(stop))?;
            field(self, name)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
        }
    }

    /// Reads a string, decoded (borrowed unless it holds escapes).
    pub fn string(&mut self) -> Result<Cow<'a, str>, KeyError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a string"));
        }
        let start = self.pos;
        let escaped = self.string_text().map_err(|stop| self.error(stop))?;
        let raw = &self.text[start..self.pos];
        if !escaped {
            return Ok(Cow::Borrowed(&raw[1..raw.len() - 1]));
        }
        serde_json::from_str::<String>(raw)
            .map(Cow::Owned)
            .map_err(|error| {
                self.pos = start;
                self.error(format!("invalid string: {error}"))
            })
    }

    /// Skips the string that starts here, checked; whether it holds an escape.
    fn string_text(&mut self) -> Result<bool, Stop> {
        let bytes = self.bytes();
        self.pos += 1;
        let mut escaped = false;
        loop {
            self.pos = skip_plain(bytes, self.pos);
            let Some(&byte) = bytes.get(self.pos) else {
                return Err("EOF while parsing a string");
            };
            match byte {
                b'"' => {
                    self.pos += 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    match bytes.get(self.pos) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = bytes.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                                return Err("invalid `\\u` escape");
                            }
                            self.pos += 5;
                        }
                        _ => return Err("invalid escape"),
                    }
                }
                0x00..=0x1f => return Err("control character in a string"),
                _ => self.pos += 1,
            }
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), Stop> {
        if self.bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err("expected a value")
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), Stop> {
        let bytes = self.bytes();
        let digits = |pos: &mut usize| {
            let start = *pos;
            while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos > start
        };
        let mut pos = self.pos;
        if bytes.get(pos) == Some(&b'-') {
            pos += 1;
        }
        match bytes.get(pos) {
            Some(b'0') => pos += 1,
            Some(b'1'..=b'9') => {
                digits(&mut pos);
            }
            _ => {
                self.pos = pos;
                return Err("invalid number");
            }
        }
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            if !digits(&mut pos) {
                self.pos = pos;
                return Err("invalid number");
            }
        }
        if let Some(b'e' | b'E') = bytes.get(pos) {
            pos += 1;
            if let Some(b'+' | b'-') = bytes.get(pos) {
                pos += 1;
            }
            if !digits(&mut pos) {
                self.pos = pos;
                return Err("invalid number");
            }
        }
        self.pos = pos;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::tests::any_json;
    use proptest::prelude::*;

    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<&RawValue>(text).is_ok()
    }

    proptest! {
        #[test]
        fn accepts_what_serde_json_writes(value in any_json(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                value.to_string()
            };
            prop_assert_eq!(Json::parse(&text).map(Json::get), Ok(text.as_str()));
        }

        /// Valid texts with one byte changed, dropped or doubled: near misses, where a
        /// grammar check goes wrong if anywhere.
        #[test]
        fn agrees_with_serde_json_on_near_misses(
            value in any_json(),
            at in any::<prop::sample::Index>(),
            edit in 0..3u8,
            byte in prop::sample::select(b"{}[]:,\"\\ -+.0123456789eEtrufalsn\x01/x".to_vec()),
        ) {
            let mut bytes = value.to_string().into_bytes();
            let i = at.index(bytes.len().max(1)).min(bytes.len());
            match edit {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
            if let Ok(text) = String::from_utf8(bytes) {
                prop_assert_eq!(Json::parse(&text).is_ok(), serde_accepts(&text), "{}", text);
            }
        }

        #[test]
        fn skip_plain_stops_where_a_byte_by_byte_scan_does(
            bytes in prop::collection::vec(any::<u8>(), 0..40),
            pos in 0..40usize,
        ) {
            let pos = pos.min(bytes.len());
            let expected = bytes[pos..]
                .iter()
                .position(|&byte| NEEDS_CARE[usize::from(byte)])
                .map_or(bytes.len(), |i| pos + i);
            prop_assert_eq!(skip_plain(&bytes, pos), expected);
        }

        #[test]
        fn never_panics(text in ".{0,40}") {
            let _ = Json::parse(&text);
        }
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for good in ["0", "-0", "12", "1.5", "-1.5e10", "2E-3", "1e+2"] {
            assert!(Json::parse(good).is_ok(), "{good}");
        }
        for bad in ["01", "1.", ".5", "-", "1e", "+1", "1.e2", "--1"] {
            assert!(Json::parse(bad).is_err(), "{bad}");
            assert!(!serde_accepts(bad), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_read_without_recursion() {
        let depth = 100_000;
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(Json::parse(&text).is_ok());
    }

    #[test]
    fn errors_say_where() {
        let error = Json::parse("{\n  \"a\": [1, 2,, 3]\n}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid JSON: expected a value at line 2 column 14"
        );
    }

    #[test]
    fn objects_hand_over_decoded_names_and_checked_values() {
        let mut reader = JsonReader::new(r#" {"a": 1, "b\u0021": {"c": [true]}, "d": null} "#);
        let mut fields = Vec::new();
        reader
            .object(|reader, name| {
                fields.push((name, reader.value()?.get()));
                Ok(())
            })
            .unwrap();
        reader.end().unwrap();
        assert_eq!(
            fields,
            [
                (Cow::Borrowed("a"), "1"),
                (Cow::Owned("b!".to_owned()), r#"{"c": [true]}"#),
                (Cow::Borrowed("d"), "null"),
            ]
        );
    }
}
