//! What the cache's tests share: a small schema on SQLite, a statement counter, keys, rows as text.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{
    BoxFuture, EntitySource, FetchRequest, RequestContext, ResolveError, RowSet, SourceEvent,
    SourceObserver, UnitOfWork,
};

pub(crate) const SDL: &str = r#"
type User @key(fields: "id") @table(name: "users") { id: ID! name: String! email: String }
type Badge @key(fields: "id") @key(fields: "code") @table(name: "badges") { id: ID! code: String! label: String }
type Note @key(fields: "id") @table(name: "notes") { id: ID! text: String }
"#;

pub(crate) const DDL: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
INSERT INTO users VALUES (1, 'Ada', 'ada@example.com'), (2, 'Bob', NULL);
CREATE TABLE badges (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, label TEXT);
INSERT INTO badges VALUES (1, 'gold', 'Gold');
CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);
INSERT INTO notes VALUES (1, 'hello');";

/// Counts the statements a request's sources run.
#[derive(Default)]
pub(crate) struct Statements(pub(crate) AtomicUsize);

impl SourceObserver for Statements {
    fn observe(&self, event: &SourceEvent<'_>) {
        if let SourceEvent::Statement { .. } = event {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub(crate) fn id(type_name: &str, id: i64) -> EntityKey {
    EntityKey::new(
        apollo_compiler::Name::new(type_name).unwrap(),
        KeyIndex(0),
        vec![KeyValue::String(id.to_string().into())],
    )
}

pub(crate) fn text_rows(rows: &RowSet, keys: usize) -> Vec<Option<Vec<String>>> {
    (0..keys)
        .map(|position| {
            rows.rows_of(position).next().map(|row| {
                rows.cells(row)
                    .iter()
                    .map(|cell| match *cell {
                        graft_resolve::Cell::Text { start, len } => {
                            rows.text(start, len).to_owned()
                        }
                        graft_resolve::Cell::Int(i) => i.to_string(),
                        graft_resolve::Cell::Null => "null".to_owned(),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
        })
        .collect()
}

pub(crate) fn some(values: &[&str]) -> Option<Vec<String>> {
    Some(values.iter().map(|v| (*v).to_owned()).collect())
}

/// A source that holds each fetch until told to go on, to interleave a read with a write.
pub(crate) struct Paused {
    pub(crate) inner: Arc<dyn EntitySource>,
    pub(crate) go: Arc<tokio::sync::Notify>,
    pub(crate) reached: Arc<tokio::sync::Notify>,
    pub(crate) hold: Arc<std::sync::atomic::AtomicBool>,
}

impl EntitySource for Paused {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> graft_resolve::Capabilities {
        self.inner.capabilities()
    }

    fn begin<'a>(
        &'a self,
        ctx: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Box<dyn UnitOfWork>, ResolveError>> {
        self.inner.begin(ctx)
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let rows = self.inner.fetch(ctx, request).await;
            if self.hold.swap(false, Ordering::SeqCst) {
                self.reached.notify_one();
                self.go.notified().await;
            }
            rows
        })
    }
}
