//! Reading PostgreSQL rows into a [`RowSet`].

use graft_resolve::{Cell, RowSet};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

use crate::DbError;
use crate::column::ReadAs;
use crate::dialect::Place;
use crate::driver::next_position;

/// Places one result row (its position number, `k.ord`, where `place` has one, then the
/// selected columns) in `rows`. Text is pushed as bytes: the caller checks all of it as UTF-8
/// at once with [`RowSet::check_text`] after the last row.
pub(crate) fn read_row(
    row: &Row,
    reads: &[ReadAs],
    place: &Place,
    rows: &mut RowSet,
) -> Result<(), DbError> {
    let first = usize::from(place.numbered());
    let number = if place.numbered() {
        Some(row.try_get::<_, i64>(0)?)
    } else {
        None
    };
    let position = next_position(place, number, rows)?;
    let mut writer = rows.row(position);
    for (i, read) in reads.iter().enumerate() {
        let index = i + first;
        let cell = match read {
            ReadAs::Bool => row.try_get::<_, Option<bool>>(index)?.map(Cell::Bool),
            ReadAs::Int => row.try_get::<_, Option<i64>>(index)?.map(Cell::Int),
            ReadAs::Float => row.try_get::<_, Option<f64>>(index)?.map(Cell::Float),
            ReadAs::Text | ReadAs::Dynamic => match row.try_get::<_, Option<Text<'_>>>(index)? {
                Some(Text(text)) => {
                    writer.push_text_bytes(text);
                    continue;
                }
                None => None,
            },
            ReadAs::Json => match row.try_get::<_, Option<Text<'_>>>(index)? {
                Some(Text(json)) => {
                    writer.push_json_bytes(json);
                    continue;
                }
                None => None,
            },
        };
        writer.push(cell.unwrap_or(Cell::Null));
    }
    Ok(())
}

/// A text cell's bytes, not yet checked as UTF-8 (the row set checks them all at once). `&str`
/// itself compares the column type's name with three extension types (ltree, lquery,
/// ltxtquery) on every cell it reads; the built-in text types are checked by their OID first
/// here, and anything else is read as `&str` reads it.
struct Text<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Text<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Text<'a>, Box<dyn std::error::Error + Sync + Send>> {
        match *ty {
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Ok(Text(raw)),
            _ => <&str as FromSql>::from_sql(ty, raw).map(|text| Text(text.as_bytes())),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}
