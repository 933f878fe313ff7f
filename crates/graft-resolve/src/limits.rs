//! What one request may cost: limits checked before any SQL, from the plan and the request,
//! and a budget spent while it runs.
//!
//! - **Before execution** ([`RequestLimits::max_depth`], [`RequestLimits::max_fields`],
//!   [`RequestLimits::max_cost`]): the plan's [`graft_plan::Shape`] and estimated cost. An
//!   operation over any of them is refused with a request error before any SQL, or, in
//!   [`LimitMode::Measure`], only reported, so that limits can be rolled out safely.
//! - **During execution** ([`RequestBudget`]): statements, rows read and response bytes,
//!   always enforced. A request that runs out stops with a request error; graft's memory for it
//!   stays bounded by the budget, not by what the query asked for.
//! - **For a batch** ([`BatchBudget`]): the requests of one HTTP batch (a JSON array) each
//!   have their own budget, and spend from the batch's too, which has the same limits: the
//!   batch as a whole reads no more rows, sends no more statements (and has no more in flight
//!   at once), estimates no higher a cost and answers no more bytes than one request may.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use graft_plan::CostModel;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::{GraphQLError, ResolveError, SourceEvent, SourceObserver, StatementKind};

/// Whether the limits checked before execution refuse operations or only report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitMode {
    /// Operations over a limit are refused (the default).
    #[default]
    Enforce,
    /// Operations over a limit run; the excess is logged and shown in debug statistics.
    Measure,
}

/// The limits of one request, with defaults that let any legitimate gateway request through:
/// an `_entities` call of `max_representations` keys with a relation level at its default list
/// size.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Whether the pre-execution limits are enforced or measured.
    pub mode: LimitMode,
    /// Deepest nesting of selection sets (default 12): `MAX_DEPTH_EXCEEDED`.
    pub max_depth: u32,
    /// Most fields after fragment expansion, aliases included (default 2,000):
    /// `MAX_FIELDS_EXCEEDED`.
    pub max_fields: u32,
    /// Highest estimated cost, in rows (default 1,000,000): `COST_ESTIMATED_TOO_EXPENSIVE`.
    pub max_cost: u64,
    /// How list sizes are estimated.
    pub cost: CostModel,
    /// Most SQL statements (and remote requests) per request (default 200):
    /// `MAX_STATEMENTS_EXCEEDED`.
    pub max_statements: u32,
    /// Most rows read per request (default 1,000,000): `MAX_ROWS_EXCEEDED`.
    pub max_rows: u64,
    /// Largest response body, in bytes (default 64 MiB): `MAX_RESPONSE_BYTES_EXCEEDED`.
    pub max_response_bytes: usize,
    /// Most items of one `@hasMany` list (default 1,000): a longer list is a field error,
    /// `LIST_SIZE_EXCEEDED`, never a silent truncation.
    pub max_list_size: u32,
}

impl Default for RequestLimits {
    fn default() -> RequestLimits {
        RequestLimits {
            mode: LimitMode::Enforce,
            max_depth: 12,
            max_fields: 2_000,
            max_cost: 1_000_000,
            cost: CostModel::default(),
            max_statements: 200,
            max_rows: 1_000_000,
            max_response_bytes: 64 * 1024 * 1024,
            max_list_size: 1_000,
        }
    }
}

/// A limit a request went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// [`RequestLimits::max_depth`].
    Depth,
    /// [`RequestLimits::max_fields`].
    Fields,
    /// [`RequestLimits::max_cost`].
    EstimatedCost,
    /// [`RequestLimits::max_statements`].
    Statements,
    /// [`RequestLimits::max_rows`].
    Rows,
    /// [`RequestLimits::max_response_bytes`].
    ResponseBytes,
}

impl Exceeded {
    /// The error code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Exceeded::Depth => "MAX_DEPTH_EXCEEDED",
            Exceeded::Fields => "MAX_FIELDS_EXCEEDED",
            Exceeded::EstimatedCost => "COST_ESTIMATED_TOO_EXPENSIVE",
            Exceeded::Statements => "MAX_STATEMENTS_EXCEEDED",
            Exceeded::Rows => "MAX_ROWS_EXCEEDED",
            Exceeded::ResponseBytes => "MAX_RESPONSE_BYTES_EXCEEDED",
        }
    }

    /// The limit's name in `graft.toml`'s `[limits]`.
    pub fn setting(self) -> &'static str {
        match self {
            Exceeded::Depth => "max_depth",
            Exceeded::Fields => "max_fields",
            Exceeded::EstimatedCost => "max_cost",
            Exceeded::Statements => "max_statements",
            Exceeded::Rows => "max_rows",
            Exceeded::ResponseBytes => "max_response_bytes",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Exceeded::Depth => "the operation is nested",
            Exceeded::Fields => "the operation selects",
            Exceeded::EstimatedCost => "the operation's estimated cost is",
            Exceeded::Statements => "the request needs more SQL statements than",
            Exceeded::Rows => "the request reads more rows than",
            Exceeded::ResponseBytes => "the response grows beyond",
        }
    }

    fn from_index(index: u8) -> Option<Exceeded> {
        [
            Exceeded::Depth,
            Exceeded::Fields,
            Exceeded::EstimatedCost,
            Exceeded::Statements,
            Exceeded::Rows,
            Exceeded::ResponseBytes,
        ]
        .get(usize::from(index).checked_sub(1)?)
        .copied()
    }

    fn index(self) -> u8 {
        self as u8 + 1
    }

    /// The error for this limit: its code, the value found (`None` when the request stopped as
    /// soon as it went over, without knowing the total) and the limit.
    pub fn error(self, found: Option<u64>, limit: u64) -> GraphQLError {
        let message = match (self, found) {
            (Exceeded::Depth, Some(found)) => {
                format!(
                    "{} {found} levels deep, over the limit of {limit}",
                    self.what()
                )
            }
            (Exceeded::Fields, Some(found)) => {
                format!("{} {found} fields, over the limit of {limit}", self.what())
            }
            (Exceeded::Fields, None) => {
                format!("{} more than {limit} fields, over the limit", self.what())
            }
            (Exceeded::EstimatedCost, Some(found)) => {
                format!("{} {found}, over the limit of {limit}", self.what())
            }
            (_, _) => format!(
                "{} the limit of {limit}: the request was stopped",
                self.what()
            ),
        };
        let mut error = GraphQLError::new(self.code(), message)
            .with_detail("limit", self.setting())
            .with_detail("max", limit);
        if let Some(found) = found {
            error = error.with_detail("found", found);
        }
        error
    }
}

/// What one request may still spend while it runs, shared by its concurrent fetches.
pub(crate) struct RequestBudget {
    max_statements: u32,
    max_rows: u64,
    pub(crate) max_response_bytes: usize,
    pub(crate) max_list_size: u32,
    statements: AtomicU32,
    rows: AtomicU64,
    /// The first limit the request went over (an [`Exceeded`] index, 0 for none).
    exceeded: AtomicU8,
    /// Whether the writer has stopped on the byte limit.
    bytes_exceeded: AtomicBool,
    /// Statements of this request in flight at once (fetch groups and relation loads alike),
    /// so that one request cannot hold every pooled connection.
    in_flight: Semaphore,
    /// The budget of the batch the request is part of, spent from as well; its semaphore,
    /// not this one, bounds the statements in flight.
    batch: Option<Arc<BatchShared>>,
    /// Whether the limit in `exceeded` is the batch's: this request was refused what the
    /// batch had no more of.
    batch_scope: AtomicBool,
}

impl RequestBudget {
    pub(crate) fn new(limits: &RequestLimits, max_concurrent_fetches: usize) -> RequestBudget {
        RequestBudget {
            max_statements: limits.max_statements,
            max_rows: limits.max_rows,
            max_response_bytes: limits.max_response_bytes,
            max_list_size: limits.max_list_size,
            statements: AtomicU32::new(0),
            rows: AtomicU64::new(0),
            exceeded: AtomicU8::new(0),
            bytes_exceeded: AtomicBool::new(false),
            in_flight: Semaphore::new(max_concurrent_fetches.max(1)),
            batch: None,
            batch_scope: AtomicBool::new(false),
        }
    }

    /// The budget of one request of `batch`.
    pub(crate) fn in_batch(
        limits: &RequestLimits,
        max_concurrent_fetches: usize,
        batch: Option<&BatchBudget>,
    ) -> RequestBudget {
        RequestBudget {
            batch: batch.map(|batch| Arc::clone(&batch.shared)),
            ..RequestBudget::new(limits, max_concurrent_fetches)
        }
    }

    /// Waits for a turn to call a source; an error when the budget has no statement left
    /// (nothing is sent then). The statements themselves are counted as the sources report
    /// them (the budget is an observer of the request), so a call that sends none costs none
    /// and a fallback's second route counts too; concurrent calls may overshoot the limit by
    /// at most the statements in flight before the next check refuses. In a batch, each call
    /// also takes one of the batch's statements before it starts (so that the batch's
    /// requests together never overshoot) and waits for a turn among the batch's.
    pub(crate) async fn statement(&self) -> Result<SemaphorePermit<'_>, ResolveError> {
        self.check()?;
        if self.statements.load(Ordering::Relaxed) >= self.max_statements {
            return Err(self.exceed(Exceeded::Statements));
        }
        let in_flight = match &self.batch {
            Some(batch) => {
                let taken =
                    batch
                        .statements
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |spent| {
                            (spent < batch.max_statements).then_some(spent + 1)
                        });
                if taken.is_err() {
                    return Err(self.exceed_batch(Exceeded::Statements));
                }
                &batch.in_flight
            }
            None => &self.in_flight,
        };
        Ok(in_flight
            .acquire()
            .await
            .expect("the budget's semaphore is never closed"))
    }

    /// The most rows the next `many` fetch may read: what is left, plus one to notice going
    /// over.
    pub(crate) fn row_limit(&self) -> u64 {
        let left = self
            .max_rows
            .saturating_sub(self.rows.load(Ordering::Relaxed));
        let left = match &self.batch {
            Some(batch) => left.min(
                batch
                    .max_rows
                    .saturating_sub(batch.rows.load(Ordering::Relaxed)),
            ),
            None => left,
        };
        left.saturating_add(1)
    }

    /// Records the `rows` a source call read, and checks the statements its sources reported.
    pub(crate) fn spent(&self, rows: usize) -> Result<(), ResolveError> {
        if self.statements.load(Ordering::Relaxed) > self.max_statements {
            return Err(self.exceed(Exceeded::Statements));
        }
        let rows = rows as u64;
        if self.rows.fetch_add(rows, Ordering::Relaxed) + rows > self.max_rows {
            return Err(self.exceed(Exceeded::Rows));
        }
        if let Some(batch) = &self.batch
            && batch.rows.fetch_add(rows, Ordering::Relaxed) + rows > batch.max_rows
        {
            return Err(self.exceed_batch(Exceeded::Rows));
        }
        Ok(())
    }

    /// Whether a response of `written` bytes is over the byte limit (in a batch, also over
    /// what the batch's answers so far leave), or went over it before.
    pub(crate) fn over_bytes(&self, written: usize) -> bool {
        if self.bytes_exceeded.load(Ordering::Relaxed) {
            return true;
        }
        if written > self.max_response_bytes {
            self.bytes_exceeded.store(true, Ordering::Relaxed);
            self.exceed(Exceeded::ResponseBytes);
            return true;
        }
        if let Some(batch) = &self.batch
            && written > batch.bytes_left()
        {
            self.bytes_exceeded.store(true, Ordering::Relaxed);
            self.exceed_batch(Exceeded::ResponseBytes);
            return true;
        }
        false
    }

    /// Refuses this request what its batch has no more of: the request stops, with the
    /// batch's limit in its error; the batch's other requests go on.
    fn exceed_batch(&self, limit: Exceeded) -> ResolveError {
        if self
            .exceeded
            .compare_exchange(0, limit.index(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.batch_scope.store(true, Ordering::Relaxed);
        }
        ResolveError::LimitExceeded(limit.code())
    }

    fn exceed(&self, limit: Exceeded) -> ResolveError {
        let _ =
            self.exceeded
                .compare_exchange(0, limit.index(), Ordering::Relaxed, Ordering::Relaxed);
        ResolveError::LimitExceeded(limit.code())
    }

    fn check(&self) -> Result<(), ResolveError> {
        match self.exceeded() {
            Some(limit) => Err(ResolveError::LimitExceeded(limit.code())),
            None => Ok(()),
        }
    }

    /// The first limit the request went over (its own, or its batch's), if any.
    pub(crate) fn exceeded(&self) -> Option<Exceeded> {
        Exceeded::from_index(self.exceeded.load(Ordering::Relaxed))
    }

    /// The error for the limit the request went over; one its batch had no more of says so
    /// (`scope: "batch"`).
    pub(crate) fn error(&self, limit: Exceeded) -> GraphQLError {
        let (statements, rows, bytes, scope) = match &self.batch {
            Some(batch) if self.batch_scope.load(Ordering::Relaxed) => {
                (batch.max_statements, batch.max_rows, batch.max_bytes, true)
            }
            _ => (
                self.max_statements,
                self.max_rows,
                self.max_response_bytes,
                false,
            ),
        };
        let max = match limit {
            Exceeded::Statements => u64::from(statements),
            Exceeded::Rows => rows,
            Exceeded::ResponseBytes => bytes as u64,
            _ => 0,
        };
        let error = limit.error(None, max);
        if scope {
            error.with_detail("scope", "batch")
        } else {
            error
        }
    }

    /// Statements and rows spent so far.
    pub(crate) fn used(&self) -> (u32, u64) {
        (
            self.statements.load(Ordering::Relaxed),
            self.rows.load(Ordering::Relaxed),
        )
    }
}

/// The budget counts what the request's sources report: each statement that reads or writes
/// rows, and each HTTP request.
impl SourceObserver for RequestBudget {
    fn observe(&self, event: &SourceEvent<'_>) {
        let counts = match event {
            SourceEvent::Statement { kind, .. } => *kind != StatementKind::Transaction,
            SourceEvent::Request { .. } => true,
            _ => false,
        };
        if counts {
            self.statements.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the requests of one batch (a JSON array of GraphQL requests in one HTTP request) may
/// spend together: the limits of one request, applied to their sum. Each request of the batch
/// runs with its own budget and this one ([`crate::Engine::execute_in_batch`]); a request the
/// batch's budget cannot pay for is refused with the limit's code and `scope: "batch"`, and
/// the batch's other requests are unaffected. The batch counts each source call as one
/// statement when it starts (and gives it a turn among `max_concurrent_fetches` for the whole
/// batch), the rows calls read, the requests' estimated costs and their answers' bytes.
pub struct BatchBudget {
    shared: Arc<BatchShared>,
}

/// The part of a [`BatchBudget`] its requests' budgets hold.
struct BatchShared {
    max_statements: u32,
    max_rows: u64,
    max_bytes: usize,
    max_cost: u64,
    mode: LimitMode,
    statements: AtomicU32,
    rows: AtomicU64,
    bytes: AtomicUsize,
    estimated: AtomicU64,
    in_flight: Semaphore,
}

impl BatchShared {
    /// The bytes the batch's answers may still take.
    fn bytes_left(&self) -> usize {
        self.max_bytes
            .saturating_sub(self.bytes.load(Ordering::Relaxed))
    }
}

impl BatchBudget {
    /// A batch's budget: `limits` for the whole batch, and `max_concurrent_fetches`
    /// statements of the batch in flight at once.
    pub fn new(limits: &RequestLimits, max_concurrent_fetches: usize) -> BatchBudget {
        BatchBudget {
            shared: Arc::new(BatchShared {
                max_statements: limits.max_statements,
                max_rows: limits.max_rows,
                max_bytes: limits.max_response_bytes,
                max_cost: limits.max_cost,
                mode: limits.mode,
                statements: AtomicU32::new(0),
                rows: AtomicU64::new(0),
                bytes: AtomicUsize::new(0),
                estimated: AtomicU64::new(0),
                in_flight: Semaphore::new(max_concurrent_fetches.max(1)),
            }),
        }
    }

    /// Adds a request's estimated cost to the batch's if the sum stays within `max_cost`; an
    /// error otherwise, with the sum it would have made (in [`LimitMode::Measure`] it only
    /// adds).
    pub(crate) fn estimate(&self, cost: u64) -> Result<(), GraphQLError> {
        let batch = &self.shared;
        if batch.mode == LimitMode::Measure {
            batch.estimated.fetch_add(cost, Ordering::Relaxed);
            return Ok(());
        }
        batch
            .estimated
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |spent| {
                spent.checked_add(cost).filter(|sum| *sum <= batch.max_cost)
            })
            .map(|_| ())
            .map_err(|spent| {
                Exceeded::EstimatedCost
                    .error(Some(spent.saturating_add(cost)), batch.max_cost)
                    .with_detail("scope", "batch")
            })
    }

    /// Adds a request's answer of `bytes` to the batch's if the sum stays within
    /// `max_response_bytes`; an error otherwise, and the answer is left out. An answer of a
    /// request that wrote is always kept: its writes are committed, and refusing it would
    /// invite a retry that writes twice.
    pub(crate) fn answer(&self, bytes: usize, wrote: bool) -> Result<(), GraphQLError> {
        let batch = &self.shared;
        if wrote {
            batch.bytes.fetch_add(bytes, Ordering::Relaxed);
            return Ok(());
        }
        batch
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |spent| {
                spent
                    .checked_add(bytes)
                    .filter(|sum| *sum <= batch.max_bytes)
            })
            .map(|_| ())
            .map_err(|_| {
                Exceeded::ResponseBytes
                    .error(None, batch.max_bytes as u64)
                    .with_detail("scope", "batch")
            })
    }

    /// Statements and rows the batch spent so far.
    pub fn used(&self) -> (u32, u64) {
        (
            self.shared.statements.load(Ordering::Relaxed),
            self.shared.rows.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statements_past_the_budget_are_refused_before_they_run() {
        let limits = RequestLimits {
            max_statements: 2,
            ..RequestLimits::default()
        };
        let budget = RequestBudget::new(&limits, 8);
        // A statement counts when its source reports it; a transaction's BEGIN does not.
        let ran = |kind| SourceEvent::Statement {
            source: "db",
            kind,
            duration: std::time::Duration::ZERO,
            rows: 1,
            pool_wait: std::time::Duration::ZERO,
            retry: false,
            failed: None,
        };
        for _ in 0..2 {
            drop(budget.statement().await.expect("within"));
            budget.observe(&ran(StatementKind::Fetch));
            budget.observe(&ran(StatementKind::Transaction));
        }
        assert!(matches!(
            budget.statement().await,
            Err(ResolveError::LimitExceeded("MAX_STATEMENTS_EXCEEDED"))
        ));
        assert_eq!(budget.exceeded(), Some(Exceeded::Statements));
    }

    #[test]
    fn rows_past_the_budget_stop_the_request_and_the_first_limit_is_kept() {
        let limits = RequestLimits {
            max_rows: 10,
            ..RequestLimits::default()
        };
        let budget = RequestBudget::new(&limits, 8);
        assert_eq!(budget.row_limit(), 11);
        budget.spent(6).expect("within");
        assert_eq!(budget.row_limit(), 5);
        assert!(budget.spent(5).is_err());
        assert!(budget.over_bytes(usize::MAX));
        assert!(budget.over_bytes(0), "once over, always over");
        assert_eq!(budget.exceeded(), Some(Exceeded::Rows));
        let error = budget.error(Exceeded::Rows);
        assert_eq!(error.extensions.code, "MAX_ROWS_EXCEEDED");
        assert!(error.message.contains("10"), "{}", error.message);
    }

    #[tokio::test]
    async fn a_batch_refuses_only_the_request_it_cannot_pay_for() {
        let limits = RequestLimits {
            max_statements: 2,
            ..RequestLimits::default()
        };
        let batch = BatchBudget::new(&limits, 8);
        let first = RequestBudget::in_batch(&limits, 8, Some(&batch));
        let second = RequestBudget::in_batch(&limits, 8, Some(&batch));
        // Each call takes one of the batch's statements as it starts, so that concurrent
        // requests cannot overshoot the batch.
        drop(
            first
                .statement()
                .await
                .expect("the batch's first statement"),
        );
        drop(
            second
                .statement()
                .await
                .expect("the batch's second statement"),
        );
        assert!(second.statement().await.is_err(), "the batch has none left");
        assert_eq!(second.exceeded(), Some(Exceeded::Statements));
        let error = second.error(Exceeded::Statements);
        assert_eq!(error.extensions.details["scope"], "batch");
        // The request that finished within the batch's budget keeps its answer.
        assert_eq!(first.exceeded(), None);
        assert_eq!(batch.used().0, 2);
    }

    #[test]
    fn a_batch_adds_costs_and_answers_only_while_they_fit() {
        let limits = RequestLimits {
            max_cost: 25,
            max_response_bytes: 100,
            ..RequestLimits::default()
        };
        let batch = BatchBudget::new(&limits, 8);
        assert!(batch.estimate(10).is_ok());
        let refused = batch.estimate(20).expect_err("10 + 20 is over 25");
        assert_eq!(refused.extensions.details["found"], 30);
        // The refused cost was never added: 10 more still fit.
        assert!(batch.estimate(10).is_ok());
        assert!(batch.estimate(6).is_err());

        assert!(batch.answer(60, false).is_ok());
        assert!(batch.answer(60, false).is_err());
        // An answer that wrote is kept whatever its size.
        assert!(batch.answer(60, true).is_ok());
        assert!(batch.answer(1, false).is_err());
    }
}
