//! Shared helpers of graft-db's tests: throwaway databases (from graft-testkit), keys, and cells
//! as comparable values.

#![allow(dead_code, unused_imports, unreachable_pub)]

use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use std::sync::Arc;

use graft_resolve::{Cell, RequestContext, RequestStats, RowSet};

pub use graft_testkit::{
    MyDatabase, PgRole, PgSchema, mysql_admin, pg_admin, pgbouncer_url, unique_name,
};

pub mod mysql;

pub fn key(type_name: &str, values: Vec<KeyValue>) -> EntityKey {
    EntityKey::new(Name::new(type_name).expect("a name"), KeyIndex(0), values)
}

pub fn s(text: &str) -> KeyValue {
    KeyValue::String(text.into())
}

/// A cell as a comparable value for assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Json(String),
}

/// The first row of key `position`, if it has one.
pub fn seen(rows: &RowSet, position: usize) -> Option<Vec<Seen>> {
    let row = rows.rows_of(position).next()?;
    Some(seen_row(rows, row))
}

/// Row `row` of `rows`, cell by cell.
pub fn seen_row(rows: &RowSet, row: u32) -> Vec<Seen> {
    rows.cells(row)
        .iter()
        .map(|cell| match *cell {
            Cell::Null => Seen::Null,
            Cell::Bool(b) => Seen::Bool(b),
            Cell::Int(i) => Seen::Int(i),
            Cell::Float(f) => Seen::Float(f),
            Cell::Text { start, len } => Seen::Text(rows.text(start, len).to_owned()),
            Cell::Json { start, len } => Seen::Json(rows.text(start, len).to_owned()),
        })
        .collect()
}

/// A SQLite file of its own, removed when dropped.
pub struct SqliteFile(pub std::path::PathBuf);

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A request context whose sources' statements are counted.
pub fn counted() -> (RequestContext, Arc<RequestStats>) {
    let stats = Arc::new(RequestStats::default());
    (RequestContext::new("t").observed_by(stats.clone()), stats)
}
