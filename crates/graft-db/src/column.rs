//! How a column's values are read, whatever the backend.

/// The Rust type a column is read as. Each backend maps its column types to one of these (and
/// may rewrite the select expression, e.g. `numeric` to text, so nothing is lost on the way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadAs {
    /// A boolean.
    Bool,
    /// A 64-bit integer.
    Int,
    /// A 64-bit float.
    Float,
    /// Text: strings, and every type best shown as text (numeric, uuid, dates, enums).
    Text,
    /// JSON text: json columns and arrays.
    Json,
    /// As the value's own type says (SQLite, whose columns hold any storage class).
    Dynamic,
}
