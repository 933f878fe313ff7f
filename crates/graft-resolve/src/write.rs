//! Writing response JSON straight into a byte buffer.

use std::io::Write as _;

use graft_schema::OutputScalar;

use crate::{Cell, RowSet};

/// Appends `text` as a JSON string.
pub(crate) fn string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
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
/// whether that is allowed.
pub(crate) fn cell(
    out: &mut Vec<u8>,
    rows: &RowSet,
    value: Cell,
    scalar: OutputScalar,
) -> Result<(), CoercionError> {
    match (scalar, value) {
        (_, Cell::Null) => out.extend_from_slice(b"null"),
        (_, Cell::Text { start, len })
            if scalar != OutputScalar::Int
                && scalar != OutputScalar::Float
                && scalar != OutputScalar::Boolean =>
        {
            string(out, rows.text(start, len))
        }
        (OutputScalar::Id | OutputScalar::String | OutputScalar::Enum, Cell::Int(i)) => {
            out.push(b'"');
            int(out, i);
            out.push(b'"');
        }
        (OutputScalar::Id | OutputScalar::String | OutputScalar::Enum, Cell::Float(f)) => {
            let _ = write!(out, "\"{f}\"");
        }
        (OutputScalar::Id | OutputScalar::String | OutputScalar::Enum, Cell::Bool(b)) => {
            let _ = write!(out, "\"{b}\"");
        }
        (OutputScalar::Int, Cell::Int(i)) => {
            if i32::try_from(i).is_err() {
                return Err(CoercionError(format!(
                    "Int cannot represent {i}: GraphQL Int is 32-bit; declare the field as Float, String or ID"
                )));
            }
            int(out, i)
        }
        (OutputScalar::Int, Cell::Float(f))
            if f.fract() == 0.0 && f.abs() <= f64::from(i32::MAX) =>
        {
            int(out, f as i64)
        }
        (OutputScalar::Int, Cell::Bool(b)) => int(out, i64::from(b)),
        (OutputScalar::Float | OutputScalar::Custom, Cell::Int(i)) => int(out, i),
        (OutputScalar::Float | OutputScalar::Custom, Cell::Float(f)) => float(out, f),
        (OutputScalar::Boolean, Cell::Bool(b)) | (OutputScalar::Custom, Cell::Bool(b)) => {
            out.extend_from_slice(if b { b"true" } else { b"false" })
        }
        (OutputScalar::Boolean, Cell::Int(i @ (0 | 1))) => {
            out.extend_from_slice(if i == 1 { b"true" } else { b"false" })
        }
        (scalar, value) => {
            let shown = match value {
                Cell::Text { start, len } => format!("the text {:?}", rows.text(start, len)),
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
