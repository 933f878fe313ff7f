//! Reading SQLite rows into a [`RowSet`].

use graft_resolve::{Cell, RowSet};
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, TypeInfo, ValueRef};

/// Places one result row (`j.key`, then the selected columns) in `rows`.
pub(crate) fn read_row(
    row: &SqliteRow,
    width: usize,
    rows: &mut RowSet,
) -> Result<(), sqlx::Error> {
    let position: i64 = row.try_get(0)?;
    let position = usize::try_from(position).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let mut writer = rows.row(position);
    for index in 1..=width {
        let value = row.try_get_raw(index)?;
        if value.is_null() {
            writer.push(Cell::Null);
            continue;
        }
        let decode_error = |e| sqlx::Error::ColumnDecode {
            index: index.to_string(),
            source: e,
        };
        match value.type_info().name() {
            "INTEGER" | "BOOLEAN" => writer.push(Cell::Int(
                <i64 as Decode<Sqlite>>::decode(value).map_err(decode_error)?,
            )),
            "REAL" | "NUMERIC" => writer.push(Cell::Float(
                <f64 as Decode<Sqlite>>::decode(value).map_err(decode_error)?,
            )),
            _ => writer.push_text(<&str as Decode<Sqlite>>::decode(value).map_err(decode_error)?),
        }
    }
    Ok(())
}
