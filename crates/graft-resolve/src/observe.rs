//! What sources did, told to whoever watches: the [`SourceObserver`] a request carries in its
//! [`RequestContext`](crate::RequestContext).
//!
//! Sources report every statement they run, every HTTP request they send and every fallback
//! they take as a [`SourceEvent`], and keep none of it in the data they return. The engine's
//! `graft-debug` statistics are one observer ([`RequestStats`]); metrics will be another.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::SourceErrorKind;

/// What a statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementKind {
    /// A batched fetch by key.
    Fetch,
    /// A page in key order.
    Page,
    /// An insert.
    Insert,
    /// An update by key.
    Update,
    /// A delete by key.
    Delete,
    /// The read of written rows after a write that cannot return them.
    ReadBack,
    /// `BEGIN`, `COMMIT`, `ROLLBACK` or a savepoint.
    Transaction,
}

impl StatementKind {
    /// Its name in metrics and spans (`db.operation.name`): `fetch`, `page`, `insert`,
    /// `update`, `delete`, `read_back` or `transaction`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Fetch => "fetch",
            StatementKind::Page => "page",
            StatementKind::Insert => "insert",
            StatementKind::Update => "update",
            StatementKind::Delete => "delete",
            StatementKind::ReadBack => "read_back",
            StatementKind::Transaction => "transaction",
        }
    }
}

/// One thing a source did for a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum SourceEvent<'a> {
    /// A statement ran, or failed.
    Statement {
        /// The source's name.
        source: &'a str,
        /// What it did.
        kind: StatementKind,
        /// From sending it to its last row.
        duration: Duration,
        /// Rows it returned.
        rows: usize,
        /// How long the statement waited for a pooled connection first.
        pool_wait: Duration,
        /// Whether this was the retry of a statement that lost its connection.
        retry: bool,
        /// Why it failed, if it did.
        failed: Option<SourceErrorKind>,
    },
    /// An HTTP request to another subgraph: every attempt, retries included.
    Request {
        /// The source's name.
        source: &'a str,
        /// From sending it to its answer (or its failure).
        duration: Duration,
        /// Why it failed, if it did.
        failed: Option<SourceErrorKind>,
    },
    /// A fetch left its first route for another (`db-then-http`), which answered it.
    Fallback {
        /// The source's name.
        source: &'a str,
        /// From where to where, and why.
        reason: &'a str,
    },
}

/// Watches what sources do. Called on the source's task, in the middle of a request: an
/// implementation returns quickly and never blocks.
pub trait SourceObserver: Send + Sync {
    /// One event.
    fn observe(&self, event: &SourceEvent<'_>);
}

/// Counts one request's statements, HTTP requests and fallbacks: the figures `graft-debug`
/// shows and the server logs.
#[derive(Debug, Default)]
pub struct RequestStats {
    statements: AtomicUsize,
    requests: AtomicUsize,
    fallbacks: Mutex<Vec<String>>,
}

impl RequestStats {
    /// Statements sent so far.
    pub fn statements(&self) -> usize {
        self.statements.load(Ordering::Relaxed)
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// The fallbacks taken so far, each with its reason.
    pub fn fallbacks(&self) -> Vec<String> {
        self.fallbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Adds these figures to a request's `graft-debug` statistics.
    pub(crate) fn add_to(&self, stats: &mut graft_plan::BatchStats) {
        stats.statements += self.statements();
        stats.requests += self.requests();
        stats.fallbacks.extend(self.fallbacks());
    }
}

impl SourceObserver for RequestStats {
    /// Counts the statements that read or write rows (not `BEGIN`, `COMMIT` and their kin),
    /// the HTTP requests and the fallbacks.
    fn observe(&self, event: &SourceEvent<'_>) {
        match event {
            SourceEvent::Statement { kind, .. } => {
                if *kind != StatementKind::Transaction {
                    self.statements.fetch_add(1, Ordering::Relaxed);
                }
            }
            SourceEvent::Request { .. } => {
                self.requests.fetch_add(1, Ordering::Relaxed);
            }
            SourceEvent::Fallback { reason, .. } => self
                .fallbacks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((*reason).to_owned()),
        }
    }
}

/// Two observers told the same events, in order.
pub(crate) struct Both<A, B>(pub(crate) A, pub(crate) B);

impl<A: SourceObserver, B: SourceObserver> SourceObserver for Both<A, B> {
    fn observe(&self, event: &SourceEvent<'_>) {
        self.0.observe(event);
        self.1.observe(event);
    }
}

impl<T: SourceObserver + ?Sized> SourceObserver for std::sync::Arc<T> {
    fn observe(&self, event: &SourceEvent<'_>) {
        (**self).observe(event);
    }
}
