//! Reading SQLite rows into a [`RowSet`].

use graft_resolve::{Cell, RowSet};
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, TypeInfo, ValueRef};

use crate::DbError;
use crate::dialect::Place;
use crate::driver::next_position;

/// Places one result row (its position number where `place` has one, then `width` columns) in
/// `rows`.
pub(crate) fn read_row(
    row: &SqliteRow,
    place: &Place,
    width: usize,
    rows: &mut RowSet,
) -> Result<(), DbError> {
    let first = usize::from(place.numbered());
    let number = if place.numbered() {
        Some(row.try_get::<i64, _>(0)?)
    } else {
        None
    };
    let position = next_position(place, number, rows)?;
    let mut writer = rows.row(position);
    for index in first..first + width {
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
