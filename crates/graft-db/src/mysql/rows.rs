//! Reading MariaDB and MySQL rows (binary protocol) into a [`RowSet`].

use std::fmt::Write as _;

use graft_resolve::{Cell, RowSet};
use mysql_async::{Row, Value};

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
        let number = match row.as_ref(0) {
            Some(Value::Int(i)) => Some(*i),
            Some(Value::UInt(u)) => i64::try_from(*u).ok(),
            Some(Value::Bytes(b)) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()),
            _ => None,
        };
        Some(number.ok_or_else(|| {
            DbError::Decode(format!("the server returned ordinal {:?}", row.as_ref(0)))
        })?)
    } else {
        None
    };
    let position = next_position(place, number, rows)?;
    let mut writer = rows.row(position);
    for (i, read) in reads.iter().enumerate() {
        let index = i + first;
        let value = row.as_ref(index).unwrap_or(&Value::NULL);
        let mismatch = || {
            DbError::Decode(format!(
                "column {} ({}): cannot read {value:?} as {read:?}",
                index,
                row.columns_ref()
                    .get(index)
                    .map(|c| c.name_str().into_owned())
                    .unwrap_or_default()
            ))
        };
        let cell = match (read, value) {
            (_, Value::NULL) => Cell::Null,
            (ReadAs::Bool, Value::Int(i)) => Cell::Bool(*i != 0),
            (ReadAs::Bool, Value::UInt(u)) => Cell::Bool(*u != 0),
            (ReadAs::Int | ReadAs::Dynamic, Value::Int(i)) => Cell::Int(*i),
            (ReadAs::Int, Value::UInt(u)) => match i64::try_from(*u) {
                Ok(i) => Cell::Int(i),
                // An unsigned bigint beyond i64 keeps its digits as text.
                Err(_) => {
                    writer.push_text(&u.to_string());
                    continue;
                }
            },
            (ReadAs::Int, Value::Bytes(b)) => match text(b, index)?.parse::<i64>() {
                Ok(i) => Cell::Int(i),
                Err(_) => {
                    writer.push_text(text(b, index)?);
                    continue;
                }
            },
            // A FLOAT is single precision: widen it through its shortest text, so that 0.1
            // stays 0.1 instead of becoming 0.10000000149011612.
            (ReadAs::Float, Value::Float(f)) => Cell::Float(
                f.to_string()
                    .parse()
                    .expect("a formatted f32 parses as f64"),
            ),
            (ReadAs::Float, Value::Double(d)) => Cell::Float(*d),
            (ReadAs::Float, Value::Int(i)) => Cell::Float(*i as f64),
            (ReadAs::Float, Value::Bytes(b)) => {
                Cell::Float(text(b, index)?.parse().map_err(|_| mismatch())?)
            }
            (ReadAs::Text | ReadAs::Dynamic, Value::Bytes(b)) => {
                writer.push_text(text(b, index)?);
                continue;
            }
            (ReadAs::Json, Value::Bytes(b)) => {
                writer.push_json(text(b, index)?);
                continue;
            }
            (ReadAs::Text, Value::Date(year, month, day, hour, minute, second, micros)) => {
                let mut iso = format!("{year:04}-{month:02}-{day:02}");
                if (hour, minute, second, micros) != (&0, &0, &0, &0) {
                    let _ = write!(iso, "T{hour:02}:{minute:02}:{second:02}");
                    if *micros > 0 {
                        let _ = write!(iso, ".{micros:06}");
                    }
                }
                writer.push_text(&iso);
                continue;
            }
            (ReadAs::Text, Value::Time(negative, days, hours, minutes, seconds, micros)) => {
                let hours = u64::from(*days) * 24 + u64::from(*hours);
                let mut iso = format!(
                    "{}{hours:02}:{minutes:02}:{seconds:02}",
                    if *negative { "-" } else { "" }
                );
                if *micros > 0 {
                    let _ = write!(iso, ".{micros:06}");
                }
                writer.push_text(&iso);
                continue;
            }
            (ReadAs::Text, Value::Int(i)) => {
                writer.push_text(&i.to_string());
                continue;
            }
            (ReadAs::Text, Value::UInt(u)) => {
                writer.push_text(&u.to_string());
                continue;
            }
            _ => return Err(mismatch()),
        };
        writer.push(cell);
    }
    Ok(())
}

/// `bytes` as UTF-8 text: every connection reads results in `utf8mb4`.
fn text(bytes: &[u8], index: usize) -> Result<&str, DbError> {
    std::str::from_utf8(bytes)
        .map_err(|e| DbError::Decode(format!("column {index} is not valid UTF-8: {e}")))
}
