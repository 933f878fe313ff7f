//! Reading PostgreSQL rows into a [`RowSet`].

use graft_resolve::{Cell, RowSet};
use tokio_postgres::Row;

use crate::DbError;
use crate::column::ReadAs;

/// Places one result row (`k.ord`, then the selected columns) in `rows`; `sent[ord - 1]` is the
/// position of the key the row answers.
pub(crate) fn read_row(
    row: &Row,
    reads: &[ReadAs],
    sent: &[usize],
    rows: &mut RowSet,
) -> Result<(), DbError> {
    let ord: i64 = row.try_get(0)?;
    let position = usize::try_from(ord - 1)
        .ok()
        .and_then(|i| sent.get(i).copied())
        .ok_or_else(|| {
            DbError::Mapping(format!(
                "PostgreSQL returned ordinal {ord} for {} keys",
                sent.len()
            ))
        })?;
    let mut writer = rows.row(position);
    for (i, read) in reads.iter().enumerate() {
        let index = i + 1;
        let cell = match read {
            ReadAs::Bool => row.try_get::<_, Option<bool>>(index)?.map(Cell::Bool),
            ReadAs::Int => row.try_get::<_, Option<i64>>(index)?.map(Cell::Int),
            ReadAs::Float => row.try_get::<_, Option<f64>>(index)?.map(Cell::Float),
            ReadAs::Text => match row.try_get::<_, Option<&str>>(index)? {
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
