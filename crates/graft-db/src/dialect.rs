//! What differs between the databases' SQL: the [`Dialect`] trait and the [`Statement`]s it
//! builds. Pure: no connection, no I/O.
//!
//! A dialect knows its database's quoting, its batched key-list form, its page conditions, its
//! casts and how it reads written rows back (`RETURNING`, or a `SELECT` after the write where
//! the database has none). It builds each statement afresh from the mapping and the request's
//! [`Scope`], so a table name is the same on every backend for the same scope.

use graft_resolve::{
    DeleteRequest, FetchRequest, InsertRequest, Isolation, PageRequest, RequestContext, SchemaName,
    StatementKind, TenantId, UpdateRequest, WriteValue,
};
use graft_schema::EntityMapping;

use crate::DbError;
use crate::column::ReadAs;

/// What a request's statements are scoped to: the tenant's own schema, or the tenant whose
/// rows they may see in shared tables. Every statement's table names are produced from the
/// mapping and the scope; what the database must know besides (PostgreSQL's
/// `graft.tenant_id`) is set inside each transaction by the driver, never on the session, so
/// nothing of one request's scope survives on a pooled connection. See ADR 0010.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Qualifies every table name.
    schema: Option<SchemaName>,
    /// The tenant whose rows the statements may see, where tenants share tables.
    tenant_rows: Option<TenantId>,
}

impl Scope {
    /// The scope of statements on tenant schema `schema` (its lifecycle: migrations).
    pub(crate) fn in_schema(schema: SchemaName) -> Scope {
        Scope {
            schema: Some(schema),
            tenant_rows: None,
        }
    }

    /// The scope of a request in `ctx`.
    pub fn of(ctx: &RequestContext) -> Scope {
        match &ctx.isolation {
            Isolation::None => Scope::default(),
            Isolation::Schema(schema) => Scope {
                schema: Some(schema.clone()),
                tenant_rows: None,
            },
            Isolation::Rows => Scope {
                schema: None,
                tenant_rows: Some(ctx.tenant.clone()),
            },
        }
    }

    /// The tenant's schema, when it has one.
    pub fn schema(&self) -> Option<&SchemaName> {
        self.schema.as_ref()
    }

    /// The tenant whose rows the statements may see, where tenants share tables.
    pub fn tenant_rows(&self) -> Option<&TenantId> {
        self.tenant_rows.as_ref()
    }

    /// The table name of `mapping` in this scope, each part quoted with `quote`: a tenant's
    /// schema replaces the mapping's own.
    pub(crate) fn qualified_name(
        &self,
        mapping: &EntityMapping,
        quote: fn(&str) -> String,
    ) -> String {
        let schema = self
            .schema
            .as_ref()
            .map(SchemaName::as_str)
            .or(mapping.table.schema.as_deref());
        match schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&mapping.table.name)),
            None => quote(&mapping.table.name),
        }
    }
}

/// One statement, ready for its driver: its text, its parameters in the driver's own form,
/// how to read each selected column, and where each row goes in the answer.
#[derive(Debug)]
pub struct Statement<P> {
    /// The SQL text: fixed for a given (type, key, columns), whatever the number of keys, so
    /// drivers prepare it once per connection.
    pub(crate) sql: String,
    /// The parameters, in the driver's form.
    pub(crate) params: P,
    /// How to read each selected column (after the position column, when there is one).
    pub(crate) reads: Vec<ReadAs>,
    /// Where each row goes.
    pub(crate) place: Place,
    /// How many key positions the answer has.
    pub(crate) slots: usize,
    /// What it does, for the request's observer.
    pub(crate) kind: StatementKind,
}

impl<P> Statement<P> {
    /// A read whose rows lead with a position number (see [`Place::Numbered`]): a fetch
    /// ([`Statement::reported_as`] makes it a page).
    pub(crate) fn numbered(
        sql: String,
        params: P,
        reads: Vec<ReadAs>,
        base: i64,
        sent: Option<Vec<usize>>,
        slots: usize,
    ) -> Statement<P> {
        Statement {
            sql,
            params,
            reads,
            place: Place::Numbered { base, sent },
            slots,
            kind: StatementKind::Fetch,
        }
    }

    /// A statement of `kind` whose `slots` rows come in order, without a position column
    /// (written rows).
    pub(crate) fn in_order(
        kind: StatementKind,
        sql: String,
        params: P,
        reads: Vec<ReadAs>,
        slots: usize,
    ) -> Statement<P> {
        Statement {
            sql,
            params,
            reads,
            place: Place::InOrder,
            slots,
            kind,
        }
    }

    /// The same statement, reported as `kind`.
    pub(crate) fn reported_as(mut self, kind: StatementKind) -> Statement<P> {
        self.kind = kind;
        self
    }
}

/// Where a statement's rows go in its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// The first column numbers the key the row answers, from `base`: number `n` is key
    /// position `sent[n - base]`, or `n - base` itself when `sent` is `None` (every key was
    /// sent).
    Numbered {
        /// The first number.
        base: i64,
        /// The positions of the keys that were sent, in the order they were sent.
        sent: Option<Vec<usize>>,
    },
    /// No position column: the `i`th row goes to position `i` (written rows).
    InOrder,
}

impl Place {
    /// The position of the row numbered `number`, if the number is one the statement sent.
    pub(crate) fn position(&self, number: i64) -> Option<usize> {
        let Place::Numbered { base, sent } = self else {
            return None;
        };
        let index = usize::try_from(number.checked_sub(*base)?).ok()?;
        match sent {
            Some(sent) => sent.get(index).copied(),
            None => Some(index),
        }
    }

    /// Whether the rows start with a position column.
    pub(crate) fn numbered(&self) -> bool {
        matches!(self, Place::Numbered { .. })
    }
}

/// A write's statements: the write itself, and, where the database cannot return the written
/// row, the `SELECT` that reads it back inside the same transaction.
#[derive(Debug)]
pub struct WriteStatements<P> {
    /// The write (`INSERT`, `UPDATE`, `DELETE`), with `RETURNING` where the database has it.
    pub(crate) write: Statement<P>,
    /// A read of the written row after the write, where `write` returns nothing.
    pub(crate) read_back: Option<Statement<P>>,
}

/// The SQL one database speaks.
pub trait Dialect: Send + Sync + 'static {
    /// The parameters of one statement, as the database's driver takes them. They may borrow
    /// the request's key values (`'k`).
    type Params<'k>: Send + Sync;

    /// Whether statements reach a tenant's own schema ([`Isolation::Schema`]): table names
    /// qualified with it, or (SQLite) the tenant's own file.
    fn schema_isolation(&self) -> bool;
    /// Whether the dialect and its driver keep tenants' rows apart in shared tables
    /// ([`Isolation::Rows`]): with row-level security, or with a tenant column the dialect
    /// adds to every statement.
    fn row_isolation(&self) -> bool;

    /// The quoted name of `mapping`'s table in `scope`.
    fn table_name(&self, scope: &Scope, mapping: &EntityMapping) -> String;

    /// The one batched statement of a fetch, or `None` when no key can name a row (a key value
    /// that cannot be a value of its column is not sent).
    fn fetch<'k>(
        &self,
        scope: &Scope,
        request: &FetchRequest<'k>,
    ) -> Result<Option<Statement<Self::Params<'k>>>, DbError>;

    /// The statement of one page, every row at position 0, in key order.
    fn page<'k>(
        &self,
        scope: &Scope,
        request: &PageRequest<'k>,
    ) -> Result<Statement<Self::Params<'k>>, DbError>;

    /// One statement inserting every row of `request`, its rows read back in insertion order.
    fn insert<'k>(
        &self,
        scope: &Scope,
        request: &InsertRequest<'k>,
    ) -> Result<WriteStatements<Self::Params<'k>>, DbError>;

    /// The statements changing one row by key, or `None` when the key cannot name a row.
    fn update<'k>(
        &self,
        scope: &Scope,
        request: &UpdateRequest<'k>,
    ) -> Result<Option<WriteStatements<Self::Params<'k>>>, DbError>;

    /// The statements deleting one row by key, or `None` when the key cannot name a row.
    fn delete<'k>(
        &self,
        scope: &Scope,
        request: &DeleteRequest<'k>,
    ) -> Result<Option<WriteStatements<Self::Params<'k>>>, DbError>;

    /// The statement that opens a transaction that will write.
    fn begin(&self) -> &'static str {
        "BEGIN"
    }
}

/// `SAVEPOINT graft_<n>`, the same in the three dialects.
pub(crate) fn savepoint(n: u32) -> String {
    format!("SAVEPOINT graft_{n}")
}

/// `ROLLBACK TO SAVEPOINT graft_<n>`, the same in the three dialects.
pub(crate) fn rollback_to(n: u32) -> String {
    format!("ROLLBACK TO SAVEPOINT graft_{n}")
}

/// The columns of `mapping` written by a request, by name, in order: the error for a column
/// index the mapping does not have.
pub(crate) fn column_name(mapping: &EntityMapping, index: usize) -> Result<&str, DbError> {
    mapping
        .columns
        .get(index)
        .map(|c| c.column.as_str())
        .ok_or_else(|| {
            DbError::Mapping(format!(
                "type {}: no column number {index}",
                mapping.type_name
            ))
        })
}

/// The rows of an insert as one JSON array of arrays, `[["Ada",7,null],...]`, each value
/// written by `value` (the form the dialect's table function reads back).
pub(crate) fn rows_json(
    request: &InsertRequest<'_>,
    value: fn(&mut String, &WriteValue),
) -> String {
    let mut json = String::with_capacity(request.rows.len() * 32 + 2);
    json.push('[');
    for (i, row) in request.rows.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('[');
        for (j, cell) in row.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            value(&mut json, cell);
        }
        json.push(']');
    }
    json.push(']');
    json
}

/// `INSERT INTO <table> ("a", "b"`: the start of an insert of `columns`, quoted with `quote`.
pub(crate) fn insert_into(
    table_name: &str,
    mapping: &EntityMapping,
    columns: &[usize],
    quote: fn(&str) -> String,
) -> Result<String, DbError> {
    let mut sql = format!("INSERT INTO {table_name} (");
    for (i, &index) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&quote(column_name(mapping, index)?));
    }
    Ok(sql)
}

/// Appends `text` as a JSON string.
pub(crate) fn push_json_string(json: &mut String, text: &str) {
    json.push_str(&serde_json::to_string(text).expect("strings serialize"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_rows_are_placed_through_the_keys_sent() {
        let all = Place::Numbered {
            base: 0,
            sent: None,
        };
        assert_eq!(all.position(3), Some(3));
        assert_eq!(all.position(-1), None);
        let some = Place::Numbered {
            base: 1,
            sent: Some(vec![0, 4]),
        };
        assert_eq!(some.position(2), Some(4));
        assert_eq!(some.position(3), None);
        assert_eq!(some.position(0), None);
        assert_eq!(Place::InOrder.position(0), None);
    }
}
