//! Reading PostgreSQL rows into a [`RowSet`].

use graft_resolve::{Cell, RowSet};
use tokio_postgres::Row;

use crate::DbError;
use crate::column::ReadAs;
use crate::dialect::Place;
use crate::driver::next_position;

/// Places one result row (its position number, `k.ord`, where `place` has one, then the
/// selected columns) in `rows`.
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
            ReadAs::Text | ReadAs::Dynamic => match row.try_get::<_, Option<&str>>(index)? {
                Some(text) => {
                    writer.push_text(text);
                    continue;
                }
                None => None,
            },
            ReadAs::Json => match row.try_get::<_, Option<&str>>(index)? {
                Some(json) => {
                    writer.push_json(json);
                    continue;
                }
                None => None,
            },
        };
        writer.push(cell.unwrap_or(Cell::Null));
    }
    Ok(())
}
