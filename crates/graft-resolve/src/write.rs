//! Writing response JSON straight into a byte buffer.

use graft_schema::OutputScalar;

use crate::{Cell, RowSet};

/// Appends `text` as a JSON string: copied whole when nothing in it needs escaping (the
/// usual case, found eight bytes at a time), escaped by serde_json otherwise.
pub(crate) fn string(out: &mut Vec<u8>, text: &str) {
    if graft_keys::JsonReader::plain_prefix(text) == text.len() {
        quoted(out, text);
    } else {
        serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
    }
}

/// Appends `text`, known to hold nothing JSON must escape, between quotes.
fn quoted(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Appends a text of `rows` as a JSON string: between quotes as it is when the row set's text
/// needs no escape anywhere ([`RowSet::text_is_plain`], one pass for all its cells).
fn row_text(out: &mut Vec<u8>, rows: &RowSet, start: u32, len: u32) {
    let text = rows.text(start, len);
    if rows.text_is_plain() {
        quoted(out, text);
    } else {
        string(out, text);
    }
}

pub(crate) fn int(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

pub(crate) fn float(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Why a cell could not be written as its field's type.
pub(crate) struct CoercionError(pub(crate) String);

/// Writes one cell as a value of `scalar`. `Null` is written as `null`; the caller decides
/// whether that is allowed. The rules, which `docs/types.md` tabulates:
///
/// - `ID`, `String` and enums take any cell, written as a JSON string (JSON columns as their
///   text).
/// - `Int` takes integers, integral floats and integer text within 32 bits; anything beyond is a
///   field error, never a wrapped value.
/// - `Float` takes integers, floats and numeric text (`numeric`/`decimal` columns arrive as text
///   so that no digits are lost before this point).
/// - `Boolean` takes booleans and the integers 0 and 1 (SQLite and MySQL store booleans so).
/// - A custom scalar takes the cell as it is: numbers as numbers, text as a string, JSON
///   verbatim.
pub(crate) fn cell(
    out: &mut Vec<u8>,
    rows: &RowSet,
    value: Cell,
    scalar: OutputScalar,
) -> Result<(), CoercionError> {
    use OutputScalar as S;
    match (scalar, value) {
        (_, Cell::Null) => out.extend_from_slice(b"null"),
        (S::Id | S::String | S::Enum | S::Custom, Cell::Text { start, len }) => {
            row_text(out, rows, start, len)
        }
        (S::Id | S::String | S::Enum, Cell::Json { start, len }) => row_text(out, rows, start, len),
        (S::Custom, Cell::Json { start, len }) => {
            out.extend_from_slice(rows.text(start, len).as_bytes())
        }
        (S::Id | S::String | S::Enum, Cell::Int(i)) => {
            out.push(b'"');
            int(out, i);
            out.push(b'"');
        }
        (S::Id | S::String | S::Enum, Cell::Float(f)) => {
            out.push(b'"');
            float(out, f);
            out.push(b'"');
        }
        (S::Id | S::String | S::Enum, Cell::Bool(b)) => {
            string(out, if b { "true" } else { "false" })
        }
        (S::Int, Cell::Int(i)) => int(out, checked_int(i)?),
        (S::Int, Cell::Float(f)) if f.fract() == 0.0 && f.abs() < 1e15 => {
            int(out, checked_int(f as i64)?)
        }
        (S::Int, Cell::Text { start, len }) if rows.text(start, len).parse::<i64>().is_ok() => int(
            out,
            checked_int(rows.text(start, len).parse::<i64>().expect("checked"))?,
        ),
        (S::Float | S::Custom, Cell::Int(i)) => int(out, i),
        (S::Float | S::Custom, Cell::Float(f)) => float(out, f),
        (S::Float, Cell::Text { start, len })
            if rows
                .text(start, len)
                .parse::<f64>()
                .is_ok_and(f64::is_finite) =>
        {
            float(out, rows.text(start, len).parse::<f64>().expect("checked"))
        }
        (S::Boolean | S::Custom, Cell::Bool(b)) => {
            out.extend_from_slice(if b { b"true" } else { b"false" })
        }
        (S::Boolean, Cell::Int(i @ (0 | 1))) => {
            out.extend_from_slice(if i == 1 { b"true" } else { b"false" })
        }
        (scalar, value) => {
            let shown = match value {
                Cell::Text { start, len } => format!("the text {:?}", rows.text(start, len)),
                Cell::Json { start, len } => format!("the JSON {}", rows.text(start, len)),
                Cell::Int(i) => format!("the integer {i}"),
                Cell::Float(f) => format!("the number {f}"),
                Cell::Bool(b) => format!("the boolean {b}"),
                Cell::Null => "null".to_owned(),
            };
            return Err(CoercionError(format!(
                "{scalar:?} cannot represent {shown}"
            )));
        }
    }
    Ok(())
}

/// An integer that fits GraphQL's 32-bit `Int`.
fn checked_int(i: i64) -> Result<i64, CoercionError> {
    if i32::try_from(i).is_ok() {
        Ok(i)
    } else {
        Err(CoercionError(format!(
            "Int cannot represent {i}: GraphQL Int is 32-bit; declare the field as Float, String or ID"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(text in "(.|[\"\\\\\n\t\u{1}])*") {
            let mut out = Vec::new();
            string(&mut out, &text);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&text).unwrap());
        }
    }

    fn written(
        cell_of: impl FnOnce(&mut crate::RowWriter<'_>),
        scalar: OutputScalar,
    ) -> Result<String, String> {
        let mut rows = RowSet::new(1, 1);
        cell_of(&mut rows.row(0));
        let value = rows.get(0).expect("a row")[0];
        let mut out = Vec::new();
        cell(&mut out, &rows, value, scalar).map_err(|CoercionError(message)| message)?;
        Ok(String::from_utf8(out).expect("UTF-8"))
    }

    #[test]
    fn values_follow_the_type_table() {
        use OutputScalar as S;
        let int = |i| move |w: &mut crate::RowWriter<'_>| w.push(Cell::Int(i));
        let text = |t: &'static str| move |w: &mut crate::RowWriter<'_>| w.push_text(t);
        let json = |t: &'static str| move |w: &mut crate::RowWriter<'_>| w.push_json(t);
        assert_eq!(written(int(42), S::Id).unwrap(), r#""42""#);
        assert_eq!(written(int(42), S::Int).unwrap(), "42");
        assert!(
            written(int(3_000_000_000), S::Int)
                .unwrap_err()
                .contains("32-bit")
        );
        assert_eq!(written(int(3_000_000_000), S::Float).unwrap(), "3000000000");
        assert_eq!(written(text("12.50"), S::Float).unwrap(), "12.5");
        assert_eq!(written(text("7"), S::Int).unwrap(), "7");
        assert!(written(text("abc"), S::Int).is_err());
        assert_eq!(written(int(1), S::Boolean).unwrap(), "true");
        assert!(written(int(2), S::Boolean).is_err());
        assert_eq!(
            written(json(r#"{"a":[1]}"#), S::Custom).unwrap(),
            r#"{"a":[1]}"#
        );
        assert_eq!(written(json("[1,2]"), S::String).unwrap(), r#""[1,2]""#);
        assert_eq!(
            written(text("a\"b\u{e9}"), S::String).unwrap(),
            "\"a\\\"b\u{e9}\""
        );
        assert_eq!(written(|w| w.push(Cell::Null), S::Int).unwrap(), "null");
    }
}
