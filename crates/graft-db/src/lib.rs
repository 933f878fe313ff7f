//! SQL databases as [`graft_resolve::EntitySource`]s: one batched statement per fetch group.
//!
//! Each backend lives in its own module with the same files: the source and its pool
//! (`mod.rs`), the SQL it builds (`sql.rs`) and how it reads rows (`rows.rs`). Identifiers in
//! SQL come only from the schema mapping, quoted for the dialect; key values are only ever bind
//! parameters.
//!
//! | backend | batched form | why |
//! |---|---|---|
//! | SQLite | `json_each(?)` joined on the primary key | one fixed SQL text and one parameter for any batch size: no chunking, cached statement; the planner searches the primary key per key (see `docs/sql-forms.md`) |

mod error;
pub mod sqlite;

pub use error::DbError;

/// Quotes an SQL identifier with double quotes, doubling any inside (SQLite, PostgreSQL).
pub(crate) fn quote_double(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}
