//! SQL databases as [`graft_resolve::EntitySource`]s: one batched statement per fetch group,
//! and units of work that write.
//!
//! One [`SqlSource`] (`source.rs`) serves every database: it takes connections, applies the
//! request's [`Scope`], enforces the deadline, retries a read once and opens units of work,
//! through a [`Driver`] (`driver.rs`: the I/O) and its [`Dialect`] (`dialect.rs`: the SQL, pure).
//! Each backend lives in its own module, behind its own cargo feature, with the same files: the
//! driver and its pool (`mod.rs`), what the database says about the mapped tables
//! (`introspect.rs`, where the backend needs it), the SQL it builds (`sql.rs`; MariaDB's writes
//! in `dialect.rs`) and how it reads rows (`rows.rs`). Identifiers in SQL come only from the
//! schema mapping and the database's own catalog, quoted for the dialect; values are only ever
//! bind parameters.
//!
//! | backend | driver | batched form | why |
//! |---|---|---|---|
//! | SQLite | sqlx | `json_each(?)` joined on the key | one fixed SQL text and one parameter for any batch size: no chunking, one cached statement; a primary-key search per key |
//! | PostgreSQL | deadpool-postgres | `unnest($1::int8[], $2::text[]) WITH ORDINALITY` joined on the key | one fixed, prepared text per (type, key, columns); one array parameter per key column, so no chunking; an index scan per key |
//! | MariaDB / MySQL | mysql_async | `JSON_TABLE(?, '$[*]' COLUMNS(ord FOR ORDINALITY, k0 ... PATH '$[0]'))` joined on the key | one fixed, prepared text per (type, key, columns) and one JSON parameter for any batch size: no 65,535-placeholder limit and none of the IN-list rewrites; `eq_ref` on the primary key per key |
//!
//! `docs/sql-forms.md` gives the measurements behind these choices, and
//! [`docs/types.md`](../../../docs/types.md) how each database's column types are read and which
//! GraphQL scalars can represent them.

mod column;
mod dialect;
mod driver;
mod error;
mod ledger;
#[cfg(feature = "mysql")]
pub mod mysql;
mod pool;
#[cfg(feature = "postgres")]
pub mod postgres;
mod source;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod tenants;

pub use dialect::{Dialect, Scope, Statement, WriteStatements};
pub use driver::Driver;
pub use error::DbError;
pub use graft_resolve::PoolStatus;
pub use ledger::IDEMPOTENCY_KEYS_DDL;
#[cfg(feature = "mysql")]
pub use mysql::MysqlSource;
#[cfg(feature = "postgres")]
pub use postgres::PostgresSource;
pub use source::{SqlSource, SqlUnitOfWork};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSource;

/// Attaches foreign keys, given as rows `(table, constraint, column, referenced table,
/// referenced column)` in constraint column order, to the described tables.
pub(crate) fn attach_foreign_keys(
    tables: &mut [graft_schema::TableDescription],
    rows: impl IntoIterator<Item = (String, String, String, String, String)>,
) {
    let mut current: Option<(String, String)> = None;
    for (table, constraint, column, references_table, references_column) in rows {
        let Some(description) = tables.iter_mut().find(|t| t.name == table) else {
            continue;
        };
        let same = current
            .as_ref()
            .is_some_and(|(t, c)| *t == table && *c == constraint);
        if !same {
            description.foreign_keys.push(graft_schema::ForeignKey {
                columns: Vec::new(),
                references_table,
                references_columns: Vec::new(),
            });
            current = Some((table, constraint));
        }
        let foreign_key = description.foreign_keys.last_mut().expect("pushed above");
        foreign_key.columns.push(column);
        foreign_key.references_columns.push(references_column);
    }
}

/// Quotes an SQL identifier with double quotes, doubling any inside (SQLite, PostgreSQL).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn quote_double(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Quotes an SQL identifier with backticks, doubling any inside (MariaDB, MySQL).
#[cfg(feature = "mysql")]
pub(crate) fn quote_backtick(identifier: &str) -> String {
    format!("`{}`", identifier.replace('`', "``"))
}

/// The quoted, schema-qualified name of `mapping`'s table, quoted with `quote`.
pub(crate) fn qualified_name(
    mapping: &graft_schema::EntityMapping,
    quote: fn(&str) -> String,
) -> String {
    match &mapping.table.schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(&mapping.table.name)),
        None => quote(&mapping.table.name),
    }
}

/// The entry of `tables` for `mapping`'s type, which the source read at start-up.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn mapped_table<'t, T>(
    tables: &'t std::collections::HashMap<apollo_compiler::Name, T>,
    mapping: &graft_schema::EntityMapping,
) -> Result<&'t T, DbError> {
    tables.get(&mapping.type_name).ok_or_else(|| {
        DbError::Mapping(format!(
            "type {} was not mapped when this source started",
            mapping.type_name
        ))
    })
}

/// The columns that order a `many` fetch's rows within each key, `t.`-qualified and quoted with
/// `quote`: the target's first key, so that a parent's list comes back the same every time.
pub(crate) fn first_key_order(
    mapping: &graft_schema::EntityMapping,
    quote: fn(&str) -> String,
) -> Vec<String> {
    mapping
        .key_columns
        .first()
        .into_iter()
        .flatten()
        .map(|column| format!("t.{}", quote(column)))
        .collect()
}

/// `url` without its password, for messages.
#[cfg(any(feature = "mysql", feature = "postgres"))]
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
