//! The [`EntitySource`] trait and the rows it returns.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use graft_keys::{EntityKey, KeyIndex};
use graft_schema::EntityMapping;

use crate::{RequestContext, ResolveError, UnitOfWork};

/// A boxed, sendable future, as [`EntitySource::fetch`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that can fetch entities by key: a database, a remote subgraph.
///
/// One call fetches one group: keys of one type and key, all for one tenant. An implementation
/// answers with one [`RowSet`] whose rows line up with the keys, and should issue one statement
/// (or request) per call, chunking only where its backend limits the batch.
pub trait EntitySource: Send + Sync {
    /// A short name for errors, logs and metrics (`"sqlite"`, `"users-db"`).
    fn name(&self) -> &str;

    /// How the source reaches the data, for errors and statistics: `"db"` (this subgraph's
    /// database, the default), `"remote-db"` (another subgraph's database), `"http"` (another
    /// subgraph's `_entities`), `"db-then-http"`.
    fn strategy(&self) -> &'static str {
        "db"
    }

    /// What this source can do beyond [`EntitySource::fetch`]. The router checks it at start-up
    /// against what the schema asks of each type, so that a missing feature stops graft with
    /// the type's name rather than failing the first request; wrappers pass on their inner
    /// source's.
    fn capabilities(&self) -> Capabilities {
        Capabilities::FETCH_ONLY
    }

    /// The state of the source's connection pool, where it has one.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }

    /// Opens a [`UnitOfWork`]: a transaction on a connection of its own. Sources without
    /// [`Capabilities::transactions`] answer [`ResolveError::Unsupported`], as this default
    /// does.
    fn begin<'a>(
        &'a self,
        ctx: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Box<dyn UnitOfWork>, ResolveError>> {
        let _ = ctx;
        Box::pin(async move {
            Err(ResolveError::Unsupported(format!(
                "source `{}` cannot open a transaction",
                self.name()
            )))
        })
    }

    /// A page of rows in the order of `request.key_columns`, after `request.after`: every row
    /// under key position 0 of the returned [`RowSet`], in order. Sources that cannot page
    /// answer [`ResolveError::Unsupported`], as this default does.
    fn page<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        let _ = (ctx, request);
        Box::pin(async move {
            Err(ResolveError::Unsupported(format!(
                "source `{}` cannot page through rows",
                self.name()
            )))
        })
    }

    /// Fetches the rows for `request.keys`.
    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>>;
}

impl<S: EntitySource + ?Sized> EntitySource for Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn strategy(&self) -> &'static str {
        (**self).strategy()
    }

    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        (**self).pool_status()
    }

    fn begin<'a>(
        &'a self,
        ctx: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Box<dyn UnitOfWork>, ResolveError>> {
        (**self).begin(ctx)
    }

    fn page<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        (**self).page(ctx, request)
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        (**self).fetch(ctx, request)
    }
}

/// What a source can do beyond fetching by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// [`EntitySource::page`] pages through a table.
    pub pages: bool,
    /// [`EntitySource::begin`] opens a [`UnitOfWork`] that reads and writes in a transaction.
    pub transactions: bool,
    /// Every statement honours [`crate::Isolation::Schema`]: table names are qualified with
    /// the tenant's schema.
    pub schema_isolation: bool,
    /// Every statement honours [`crate::Isolation::Rows`]: only the tenant's rows are seen
    /// and written.
    pub row_isolation: bool,
}

impl Capabilities {
    /// Fetches by key only.
    pub const FETCH_ONLY: Capabilities = Capabilities {
        pages: false,
        transactions: false,
        schema_isolation: false,
        row_isolation: false,
    };
    /// Everything: pages, writes, transactions and both tenant isolations.
    pub const ALL: Capabilities = Capabilities {
        pages: true,
        transactions: true,
        schema_isolation: true,
        row_isolation: true,
    };

    /// Whether a source with these capabilities honours `isolation`.
    pub fn isolates(&self, isolation: &crate::Isolation) -> bool {
        match isolation {
            crate::Isolation::None => true,
            crate::Isolation::Schema(_) => self.schema_isolation,
            crate::Isolation::Rows => self.row_isolation,
        }
    }
}

/// A snapshot of a source's connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Most connections the pool opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections not in use.
    pub idle: usize,
    /// Connections in use.
    pub in_use: usize,
    /// Requests waiting for a connection.
    pub waiters: usize,
    /// Connections handed out so far.
    pub acquired: u64,
    /// Total time requests waited for a connection.
    pub acquire_wait_total: std::time::Duration,
    /// Longest single wait.
    pub acquire_wait_max: std::time::Duration,
}

/// One group to fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    /// The entity type's table mapping.
    pub mapping: &'a EntityMapping,
    /// The columns the keys' values are matched against: a key's columns for an entity lookup,
    /// a foreign key's for a `@hasMany` relation.
    pub match_columns: &'a [String],
    /// The distinct keys (their values, in `match_columns` order), in the order the rows must
    /// come back.
    pub keys: &'a [&'a EntityKey],
    /// The columns to read, as indices into `mapping.columns`; row cells come in this order.
    pub columns: &'a [usize],
    /// Whether a key may match several rows (`@hasMany`); they then come back in the order of
    /// the table's first key.
    pub many: bool,
    /// For a `many` fetch, the most rows to read (SQL sources add a `LIMIT`): the request's
    /// row budget, so that a relation with millions of rows cannot fill memory. The caller
    /// treats reaching it as going over the budget.
    pub row_limit: Option<u64>,
    /// For a `many` fetch, the most rows per key, in the order of the table's first key (a
    /// list's `first` argument): SQL sources number each key's rows and keep the first ones.
    pub per_key_limit: Option<u64>,
}

impl<'a> FetchRequest<'a> {
    /// A lookup of entities by their key `key`: at most one row per key.
    pub fn by_key(
        mapping: &'a EntityMapping,
        key: KeyIndex,
        keys: &'a [&'a EntityKey],
        columns: &'a [usize],
    ) -> Self {
        FetchRequest {
            mapping,
            match_columns: mapping.key_columns(key),
            keys,
            columns,
            many: false,
            row_limit: None,
            per_key_limit: None,
        }
    }
}

/// One page of a table, in key order.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// The entity type's table mapping.
    pub mapping: &'a EntityMapping,
    /// The key columns that order the rows.
    pub key_columns: &'a [String],
    /// Start after the row with these key values (in `key_columns` order); from the start when
    /// `None`.
    pub after: Option<&'a EntityKey>,
    /// Most rows to return.
    pub limit: usize,
    /// The columns to read, as indices into `mapping.columns`.
    pub columns: &'a [usize],
}

/// One value of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// JSON text (a `json`/`jsonb` column, an array), stored in the row set's text buffer and
    /// written verbatim for custom scalars.
    Json {
        /// Byte offset in [`RowSet::text`].
        start: u32,
        /// Byte length.
        len: u32,
    },
    /// Text, stored in the row set's text buffer.
    Text {
        /// Byte offset in [`RowSet::text`].
        start: u32,
        /// Byte length.
        len: u32,
    },
}

/// The rows of one fetch, one slot per requested key (`None` where no entity exists).
///
/// Text of all rows lives in one buffer, so a row set of any size costs a handful of
/// allocations.
#[derive(Debug, Clone, Default)]
pub struct RowSet {
    width: usize,
    cells: Vec<Cell>,
    text: String,
    /// Text cells' bytes not yet checked as UTF-8, which follow `text`: checked all at once
    /// and moved there by [`RowSet::check_text`].
    unchecked: Vec<u8>,
    /// Whether `text` holds no character that JSON must escape, found on first asking.
    plain_text: OnceLock<bool>,
    /// The first row of each key.
    first: Vec<Option<u32>>,
    /// For each row, the next row of the same key ([`NO_ROW`] for none).
    next: Vec<u32>,
    /// The key and row appended last, so that consecutive rows of one key link in O(1).
    last: Option<(usize, u32)>,
    /// Keys that failed on their own while the others resolved (a remote subgraph's error at
    /// one `_entities` index): by key position.
    key_errors: BTreeMap<u32, ResolveError>,
}

const NO_ROW: u32 = u32::MAX;

impl RowSet {
    /// An empty row set for `keys` keys of `width` columns.
    pub fn new(keys: usize, width: usize) -> RowSet {
        RowSet {
            width,
            cells: Vec::with_capacity(keys * width),
            text: String::new(),
            unchecked: Vec::new(),
            plain_text: OnceLock::new(),
            first: vec![None; keys],
            next: Vec::with_capacity(keys),
            last: None,
            key_errors: BTreeMap::new(),
        }
    }

    /// Starts a row of key `position`; push exactly `width` cells into the returned writer.
    /// A key may have several rows (a `@hasMany` fetch); they keep their arrival order.
    pub fn row(&mut self, position: usize) -> RowWriter<'_> {
        let row = u32::try_from(self.next.len()).expect("fewer than 2^32 rows");
        self.next.push(NO_ROW);
        match (self.first.get(position).copied().flatten(), self.last) {
            (None, _) => {
                if let Some(slot) = self.first.get_mut(position) {
                    *slot = Some(row);
                }
            }
            (Some(_), Some((last_position, last_row))) if last_position == position => {
                self.next[last_row as usize] = row;
            }
            (Some(first), _) => {
                let mut tail = first;
                while self.next[tail as usize] != NO_ROW {
                    tail = self.next[tail as usize];
                }
                self.next[tail as usize] = row;
            }
        }
        self.last = Some((position, row));
        RowWriter { set: self }
    }

    /// Records that key `position` failed on its own: it has no row, and `error` says why.
    pub fn set_key_error(&mut self, position: usize, error: ResolveError) {
        let position = u32::try_from(position).expect("fewer than 2^32 keys");
        self.key_errors.insert(position, error);
    }

    /// Why key `position` failed on its own, if it did.
    pub fn key_error(&self, position: usize) -> Option<&ResolveError> {
        let position = u32::try_from(position).ok()?;
        self.key_errors.get(&position)
    }

    /// The cells of key `position`'s (first) row, or `None` if the entity does not exist.
    pub fn get(&self, position: usize) -> Option<&[Cell]> {
        Some(self.cells(self.first.get(position).copied().flatten()?))
    }

    /// The rows of key `position`, in arrival order.
    pub fn rows_of(&self, position: usize) -> impl Iterator<Item = u32> + '_ {
        let mut row = self
            .first
            .get(position)
            .copied()
            .flatten()
            .unwrap_or(NO_ROW);
        std::iter::from_fn(move || {
            (row != NO_ROW).then(|| {
                let current = row;
                row = self.next[current as usize];
                current
            })
        })
    }

    /// The cells of row `row`.
    pub fn cells(&self, row: u32) -> &[Cell] {
        let start = row as usize * self.width;
        &self.cells[start..start + self.width]
    }

    /// The number of rows.
    pub fn row_count(&self) -> usize {
        self.next.len()
    }

    /// Checks the bytes of the text cells pushed by [`RowWriter::push_text_bytes`] and
    /// [`RowWriter::push_json_bytes`] as UTF-8, all in one pass, and makes them readable. A
    /// driver that pushes bytes calls this once it has pushed every row, before any text is
    /// read; until then [`RowSet::text`] panics for those cells.
    ///
    /// One pass over a whole row set costs a fraction of checking each short text on its own
    /// (measured: 100 instructions for a text of a few bytes, most of them the check's set-up).
    pub fn check_text(&mut self) -> Result<(), std::str::Utf8Error> {
        if self.unchecked.is_empty() {
            return Ok(());
        }
        let offset = self.text.len();
        let bytes = std::mem::take(&mut self.unchecked);
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => return Err(error.utf8_error()),
        };
        // Texts joined may be valid where one of them is not: a character split between two
        // cells. Each cell must start and end on a character boundary, as every cell does when
        // all of the text is ASCII.
        if !text.is_ascii() {
            for cell in &self.cells {
                let (Cell::Text { start, len } | Cell::Json { start, len }) = *cell else {
                    continue;
                };
                let Some(start) = (start as usize).checked_sub(offset) else {
                    continue;
                };
                let end = start + len as usize;
                if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                    // The cell's bytes alone are not UTF-8: say where, as the check does.
                    let bytes = text.into_bytes();
                    return Err(std::str::from_utf8(&bytes[start..end])
                        .expect_err("a text that splits a character"));
                }
            }
        }
        if self.text.is_empty() {
            self.text = text;
        } else {
            self.text.push_str(&text);
        }
        self.plain_text = OnceLock::new();
        Ok(())
    }

    /// Whether no text in the row set holds a character that JSON must escape (a quote, a
    /// backslash, a control character), so that every text cell can be written between quotes
    /// as it is. Found in one pass over all of the text on first asking: cheaper than asking
    /// for each of many short texts.
    pub fn text_is_plain(&self) -> bool {
        *self
            .plain_text
            .get_or_init(|| graft_keys::JsonReader::plain_prefix(&self.text) == self.text.len())
    }

    /// The text of a [`Cell::Text`].
    pub fn text(&self, start: u32, len: u32) -> &str {
        &self.text[start as usize..(start + len) as usize]
    }

    /// The number of key slots.
    pub fn len(&self) -> usize {
        self.first.len()
    }

    /// Whether there are no key slots.
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }
}

/// Appends the cells of one row.
#[derive(Debug)]
pub struct RowWriter<'a> {
    set: &'a mut RowSet,
}

impl RowWriter<'_> {
    /// Appends a cell.
    pub fn push(&mut self, cell: Cell) {
        self.set.cells.push(cell);
    }

    /// Appends a text cell.
    pub fn push_text(&mut self, text: &str) {
        let (start, len) = self.store(text);
        self.set.cells.push(Cell::Text { start, len });
    }

    /// Appends a JSON cell; `json` must be valid JSON text.
    pub fn push_json(&mut self, json: &str) {
        let (start, len) = self.store(json);
        self.set.cells.push(Cell::Json { start, len });
    }

    /// Appends a text cell whose bytes are not known to be UTF-8 yet (a database's text
    /// column): [`RowSet::check_text`] checks them with all the others.
    pub fn push_text_bytes(&mut self, bytes: &[u8]) {
        let (start, len) = self.store_unchecked(bytes);
        self.set.cells.push(Cell::Text { start, len });
    }

    /// Appends a JSON cell whose bytes are not known to be UTF-8 yet; they must be valid JSON
    /// text once checked by [`RowSet::check_text`].
    pub fn push_json_bytes(&mut self, bytes: &[u8]) {
        let (start, len) = self.store_unchecked(bytes);
        self.set.cells.push(Cell::Json { start, len });
    }

    fn store(&mut self, text: &str) -> (u32, u32) {
        self.set.plain_text = OnceLock::new();
        if !self.set.unchecked.is_empty() {
            // After unchecked bytes: in line with them, checked again with them.
            return self.store_unchecked(text.as_bytes());
        }
        let start = u32::try_from(self.set.text.len()).expect("row set text under 4 GiB");
        self.set.text.push_str(text);
        (start, u32::try_from(text.len()).expect("text under 4 GiB"))
    }

    fn store_unchecked(&mut self, bytes: &[u8]) -> (u32, u32) {
        let start = u32::try_from(self.set.text.len() + self.set.unchecked.len())
            .expect("row set text under 4 GiB");
        self.set.unchecked.extend_from_slice(bytes);
        (start, u32::try_from(bytes.len()).expect("text under 4 GiB"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up_with_keys_and_share_one_text_buffer() {
        let mut set = RowSet::new(3, 2);
        let mut row = set.row(2);
        row.push_text("ada");
        row.push(Cell::Int(7));
        let mut row = set.row(0);
        row.push_text("grace");
        row.push(Cell::Null);
        assert!(set.get(1).is_none());
        let Cell::Text { start, len } = set.get(2).unwrap()[0] else {
            panic!("text")
        };
        assert_eq!(set.text(start, len), "ada");
        assert_eq!(set.get(0).unwrap()[1], Cell::Null);
    }

    fn texts(set: &RowSet) -> Vec<&str> {
        (0..set.row_count() as u32)
            .flat_map(|row| set.cells(row))
            .filter_map(|cell| match *cell {
                Cell::Text { start, len } | Cell::Json { start, len } => Some(set.text(start, len)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn text_bytes_are_checked_together_and_line_up_with_checked_text() {
        let mut set = RowSet::new(2, 3);
        let mut row = set.row(0);
        row.push_text("before");
        row.push_text_bytes("zoë".as_bytes());
        row.push_json_bytes(b"[1]");
        let mut row = set.row(1);
        row.push_text("after, in line");
        row.push_text_bytes(b"");
        row.push_text_bytes("日本".as_bytes());
        set.check_text().expect("UTF-8");
        assert_eq!(
            texts(&set),
            ["before", "zoë", "[1]", "after, in line", "", "日本"]
        );
        // Checked again: nothing left to check.
        set.check_text().expect("nothing new");
    }

    #[test]
    fn text_is_plain_until_a_text_needs_an_escape() {
        let mut set = RowSet::new(3, 1);
        set.row(0).push_text("zoë, plain");
        assert!(set.text_is_plain());
        // Asked again after more text: found again.
        set.row(1).push_text_bytes(b"a \"quote\"");
        set.check_text().expect("UTF-8");
        assert!(!set.text_is_plain());
        let mut set = RowSet::new(1, 1);
        set.row(0).push_text("tab\there");
        assert!(!set.text_is_plain());
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_even_where_the_join_is() {
        let mut set = RowSet::new(1, 1);
        set.row(0).push_text_bytes(b"ok\xff");
        assert!(set.check_text().is_err());

        // "é" is C3 A9: split between two cells, the join is valid and each cell is not.
        let mut set = RowSet::new(1, 2);
        let mut row = set.row(0);
        row.push_text_bytes(b"caf\xc3");
        row.push_text_bytes(b"\xa9!");
        assert!(set.check_text().is_err());
    }
}
