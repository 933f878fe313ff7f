//! SQL databases as [`graft_resolve::EntitySource`]s: one batched statement per fetch group.
//!
//! Each backend lives in its own module, behind its own cargo feature, with the same files: the
//! source and its pool (`mod.rs`), what the database says about the mapped tables
//! (`introspect.rs`, where the backend needs it), the SQL it builds (`sql.rs`) and how it reads
//! rows (`rows.rs`). Identifiers in SQL come only from the schema mapping and the database's own
//! catalog, quoted for the dialect; key values are only ever bind parameters.
//!
//! | backend | driver | batched form | why |
//! |---|---|---|---|
//! | SQLite | sqlx | `json_each(?)` joined on the key | one fixed SQL text and one parameter for any batch size: no chunking, one cached statement; a primary-key search per key |
//! | PostgreSQL | deadpool-postgres | `unnest($1::int8[], $2::text[]) WITH ORDINALITY` joined on the key | one fixed, prepared text per (type, key, columns); one array parameter per key column, so no chunking; an index scan per key |
//!
//! `docs/sql-forms.md` gives the measurements behind these choices and `docs/types.md` how
//! column types become GraphQL values.

mod column;
mod error;
mod pool;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use error::DbError;
pub use pool::PoolStatus;

/// Quotes an SQL identifier with double quotes, doubling any inside (SQLite, PostgreSQL).
pub(crate) fn quote_double(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}
