//! Running a planned `/batch` ([`graft_plan::BatchPlan`]) against the sources, in one of its
//! modes, with idempotency keys.
//!
//! - **atomic** (the default): one unit of work; the first failure rolls everything back. A
//!   serialization failure or deadlock reruns the whole transaction (bounded, with jitter).
//! - **atomic with `continueOnError`**: one unit of work, a savepoint per operation; a failed
//!   operation is rolled back to its savepoint, its dependents skipped, the successes
//!   committed together.
//! - **`validate`**: as the previous, then everything rolled back: a dry run that reports
//!   every error.
//! - **not atomic**: each operation commits on its own, wave by wave, each on a connection it
//!   takes only when it starts, so a deep chain never holds a connection while it waits. With
//!   `continueOnError` the operations of a wave run concurrently (bounded); without it they run
//!   one at a time in order, and nothing starts after the first failure.
//!
//! Every operation's rights are checked against the caller's [`Permissions`] before it runs,
//! and every statement runs in the request's tenant scope. Writes go through the same
//! [`Change`] as GraphQL mutations.
//!
//! [`Permissions`]: crate::Permissions

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use graft_plan::{BatchOperation, BatchPlan};
use serde_json::Value;

use crate::{Engine, EntitySource, KeyClaim, LedgerKey, RequestContext, ResolveError};

mod operation;
mod response;

use operation::{OpError, Operation};
pub use response::BatchOutcome;
use response::{OpState, Report};

/// How batches run.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Most operations of one batch run at once, when it is not atomic (default 4).
    pub max_concurrency: usize,
    /// Most rows one `read` may answer (default 1,000); more is the operation's error.
    pub max_read_rows: usize,
    /// How many times an atomic batch that lost to a concurrent transaction runs again
    /// (default 3).
    pub conflict_retries: u32,
    /// How long an idempotency key and its response are kept (default 24 h).
    pub idempotency_ttl: Duration,
    /// How long a request holds a key it runs before a retry may take it over: after a
    /// crash, a retry waits this long (default 60 s).
    pub idempotency_lease: Duration,
}

impl Default for BatchConfig {
    fn default() -> BatchConfig {
        BatchConfig {
            max_concurrency: 4,
            max_read_rows: 1_000,
            conflict_retries: 3,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            idempotency_lease: Duration::from_secs(60),
        }
    }
}

/// A batch's idempotency key and its body's hash.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Where the key is kept.
    pub key: LedgerKey,
    /// The SHA-256 of the request body, hex.
    pub body_hash: String,
}

/// The key a running batch holds.
struct Held {
    key: LedgerKey,
    holder: String,
    expires_at_ms: u64,
}

impl Engine {
    /// Runs `plan` for the request in `ctx`; with `idempotency`, at most once per key.
    pub async fn run_batch(
        &self,
        ctx: &RequestContext,
        plan: &BatchPlan,
        config: &BatchConfig,
        idempotency: Option<Idempotency>,
    ) -> BatchOutcome {
        let run = BatchRun {
            engine: self,
            ctx,
            plan,
            config,
        };
        let sources = match run.sources() {
            Ok(sources) => sources,
            Err(outcome) => return outcome,
        };
        // A dry run writes nothing, so it has nothing to remember.
        let idempotency = idempotency.filter(|_| !plan.options.validate);
        let Some(idempotency) = idempotency else {
            return run.execute(&sources, None, Vec::new()).await.outcome();
        };
        let home = Arc::clone(&sources[plan.waves[0][0]]);
        // Each operation's result is kept in its own transaction, so every one must be on the
        // database that keeps the key.
        if sources.iter().any(|source| !Arc::ptr_eq(source, &home)) {
            return BatchOutcome::refused(
                400,
                "BATCH_INVALID",
                "an Idempotency-Key needs every operation of the batch on one database; these \
                 are served by several"
                    .to_owned(),
            );
        }
        let (held, replay) = match run.claim(home.as_ref(), &idempotency).await {
            Ok(Claimed::Held(held, replay)) => (held, replay),
            Ok(Claimed::Answered(outcome)) => return outcome,
            Err(ResolveError::Unsupported(message)) => {
                return BatchOutcome::refused(400, "IDEMPOTENCY_UNSUPPORTED", message);
            }
            Err(error) => return BatchOutcome::unavailable(ctx, "claiming the key", &error),
        };
        let report = run.execute(&sources, Some(&held), replay).await;
        let body = report.body();
        let keep = report.wrote_something();
        if !report.recorded_in_transaction {
            let kept = async {
                let mut work = home.begin(ctx).await?;
                if keep {
                    let text = String::from_utf8_lossy(&body);
                    work.record_key(&held.key, &held.holder, "", &text, held.expires_at_ms)
                        .await?;
                } else {
                    // Nothing was written: a retry may run the batch again at once.
                    work.release_key(&held.key, &held.holder).await?;
                }
                work.commit().await
            };
            if let Err(error) = kept.await {
                tracing::warn!(request_id = %ctx.request_id, %error, "could not keep a batch's idempotent response");
            }
        }
        BatchOutcome::Ran {
            status: report.status(),
            body,
        }
    }
}

/// What claiming a key gave.
enum Claimed {
    /// The key is this request's; the results of operations an earlier holder committed.
    Held(Held, Vec<(String, String)>),
    /// The request is answered without running: a replay, or a refusal.
    Answered(BatchOutcome),
}

/// One batch being run.
struct BatchRun<'r> {
    engine: &'r Engine,
    ctx: &'r RequestContext,
    plan: &'r BatchPlan,
    config: &'r BatchConfig,
}

impl BatchRun<'_> {
    /// Each operation's source; refused when a type has none, or when an atomic batch would
    /// span sources (one transaction is one connection).
    fn sources(&self) -> Result<Vec<Arc<dyn EntitySource>>, BatchOutcome> {
        let mut sources: Vec<Arc<dyn EntitySource>> =
            Vec::with_capacity(self.plan.operations.len());
        for op in &self.plan.operations {
            let Some(source) = self.engine.sources().source_for(&op.entity) else {
                return Err(BatchOutcome::refused(
                    400,
                    "BATCH_INVALID",
                    format!("operation {}: no source serves {}", op.id, op.entity),
                ));
            };
            if (self.plan.options.atomic || self.plan.options.validate)
                && let Some(first) = sources.first()
                && !Arc::ptr_eq(first, source)
            {
                return Err(BatchOutcome::refused(
                    400,
                    "BATCH_INVALID",
                    format!(
                        "operations {} ({}) and {} ({}) are served by different sources: an \
                         atomic batch runs in one transaction of one database",
                        self.plan.operations[0].id,
                        self.plan.operations[0].entity,
                        op.id,
                        op.entity
                    ),
                ));
            }
            sources.push(Arc::clone(source));
        }
        Ok(sources)
    }

    /// Claims the idempotency key in a transaction of its own, committed before the batch
    /// runs, so that a concurrent request with the same key sees it held.
    async fn claim(
        &self,
        home: &dyn EntitySource,
        idempotency: &Idempotency,
    ) -> Result<Claimed, ResolveError> {
        let now = now_ms();
        let holder = holder_token(&self.ctx.request_id);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let expires_at_ms = now.saturating_add(ms(self.config.idempotency_ttl));
        // The lease outlasts the request: a retry takes the key over only from a request that
        // can no longer be running.
        let lease = match self.ctx.remaining() {
            Some(left) => self
                .config
                .idempotency_lease
                .max(left + Duration::from_secs(1)),
            None => self.config.idempotency_lease,
        };
        let mut work = home.begin(self.ctx).await?;
        let entry = work
            .claim_key(KeyClaim {
                key: &idempotency.key,
                body_hash: &idempotency.body_hash,
                holder: &holder,
                now_ms: now,
                leased_until_ms: now.saturating_add(ms(lease)),
                expires_at_ms,
            })
            .await?;
        work.commit().await?;
        if entry.body_hash != idempotency.body_hash {
            return Ok(Claimed::Answered(BatchOutcome::refused(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used with another request body".to_owned(),
            )));
        }
        if let Some(response) = entry.response {
            return Ok(Claimed::Answered(BatchOutcome::Replayed(
                response.into_bytes(),
            )));
        }
        if entry.holder != holder {
            return Ok(Claimed::Answered(BatchOutcome::refused(
                409,
                "IDEMPOTENCY_KEY_IN_FLIGHT",
                "a request with this Idempotency-Key is still running; retry later".to_owned(),
            )));
        }
        Ok(Claimed::Held(
            Held {
                key: idempotency.key.clone(),
                holder,
                expires_at_ms,
            },
            entry.operations,
        ))
    }

    /// Runs the batch in its mode; `replay` holds results an earlier holder of the key
    /// committed.
    async fn execute(
        &self,
        sources: &[Arc<dyn EntitySource>],
        held: Option<&Held>,
        replay: Vec<(String, String)>,
    ) -> Report {
        let options = self.plan.options;
        if !options.atomic && !options.validate {
            return self.each_on_its_own(sources, held, replay).await;
        }
        let mut attempt = 0;
        loop {
            let mut report = self.in_one_transaction(sources[0].as_ref(), held).await;
            report.attempts = attempt + 1;
            // A batch that committed (with savepoints, around its lost operation) is done.
            if !report.lost_a_conflict
                || report.committed
                || attempt >= self.config.conflict_retries
            {
                return report;
            }
            attempt += 1;
            tracing::debug!(request_id = %self.ctx.request_id, attempt, "batch lost to a concurrent transaction: running it again");
            tokio::time::sleep(jitter(attempt)).await;
        }
    }

    /// The atomic modes and the dry run: one unit of work.
    async fn in_one_transaction(&self, source: &dyn EntitySource, held: Option<&Held>) -> Report {
        let options = self.plan.options;
        let savepoints = options.continue_on_error || options.validate;
        let mut report = Report::new(self.plan);
        let mut work = match source.begin(self.ctx).await {
            Ok(work) => work,
            Err(error) => {
                report.could_not_start(self.plan, &OpError::from_source(&error, self.ctx));
                return report;
            }
        };
        for &index in self.plan.waves.iter().flatten() {
            let op = &self.plan.operations[index];
            if let Some(reason) = report.blocked(self.plan, op) {
                report.set(index, OpState::Skipped(reason));
                continue;
            }
            let savepoint = if savepoints {
                match work.savepoint().await {
                    Ok(savepoint) => Some(savepoint),
                    Err(error) => {
                        report.lost_a_conflict |= error_is_conflict(&error);
                        report.abort(self.plan, &OpError::from_source(&error, self.ctx));
                        break;
                    }
                }
            } else {
                None
            };
            report.ran(index);
            match self.operation(op).run(work.as_mut(), &report.data).await {
                Ok(done) => report.succeed(index, done),
                Err(error) => {
                    report.lost_a_conflict |= error.conflict;
                    report.fail(index, error);
                    match &savepoint {
                        Some(savepoint) => {
                            if let Err(error) = work.rollback_to(savepoint).await {
                                // MariaDB ends the whole transaction on a deadlock: there is
                                // no savepoint left to return to.
                                report.abort(self.plan, &OpError::from_source(&error, self.ctx));
                                break;
                            }
                        }
                        None => break,
                    }
                }
            }
        }
        let commit = !options.validate
            && !report.aborted()
            && (report.failures() == 0 || options.continue_on_error);
        if !commit {
            if let Err(error) = work.rollback().await {
                tracing::debug!(%error, "rolling back a batch");
            }
            report.roll_back(self.plan);
            return report;
        }
        if let Some(held) = held
            && report.wrote_something()
        {
            // The response is kept in the transaction it describes: committed together, or
            // not at all.
            report.recorded_in_transaction = true;
            let body = report.body();
            let text = String::from_utf8_lossy(&body);
            if let Err(error) = work
                .record_key(&held.key, &held.holder, "", &text, held.expires_at_ms)
                .await
            {
                report.recorded_in_transaction = false;
                let _ = work.rollback().await;
                report.abort(self.plan, &OpError::from_source(&error, self.ctx));
                return report;
            }
        }
        match work.commit().await {
            Ok(()) => report.committed = true,
            Err(error) => {
                report.recorded_in_transaction = false;
                report.lost_a_conflict |= error_is_conflict(&error);
                report.abort(self.plan, &OpError::from_source(&error, self.ctx));
            }
        }
        report
    }

    /// Not atomic: wave by wave, each operation in a transaction of its own.
    async fn each_on_its_own(
        &self,
        sources: &[Arc<dyn EntitySource>],
        held: Option<&Held>,
        replay: Vec<(String, String)>,
    ) -> Report {
        let mut report = Report::new(self.plan);
        for (id, result) in replay {
            if let Some(index) = self.plan.operations.iter().position(|op| op.id == id)
                && let Ok(done) = serde_json::from_str(&result)
            {
                report.ran(index);
                report.succeed(index, done);
            }
        }
        // Without continueOnError the batch stops at its first failure, so what runs after it
        // must not have started: one operation at a time, in order.
        let concurrency = if self.plan.options.continue_on_error {
            self.config.max_concurrency.max(1)
        } else {
            1
        };
        for wave in &self.plan.waves {
            let mut ready = Vec::new();
            for &index in wave {
                if report.state(index).is_some() {
                    continue;
                }
                let op = &self.plan.operations[index];
                match report.blocked(self.plan, op) {
                    Some(reason) => report.set(index, OpState::Skipped(reason)),
                    None => ready.push(index),
                }
            }
            if concurrency == 1 {
                for index in ready {
                    let op = &self.plan.operations[index];
                    if let Some(reason) = report.blocked(self.plan, op) {
                        report.set(index, OpState::Skipped(reason));
                        continue;
                    }
                    report.ran(index);
                    match self
                        .alone(sources[index].as_ref(), op, held, &report.data)
                        .await
                    {
                        Ok(done) => report.succeed(index, done),
                        Err(error) => report.fail(index, error),
                    }
                }
                continue;
            }
            let data = &report.data;
            let outcomes: Vec<(usize, Result<operation::Done, OpError>)> =
                futures_util::stream::iter(ready)
                    .map(|index| async move {
                        let op = &self.plan.operations[index];
                        let outcome = self.alone(sources[index].as_ref(), op, held, data).await;
                        (index, outcome)
                    })
                    .buffer_unordered(concurrency)
                    .collect()
                    .await;
            let mut outcomes = outcomes;
            outcomes.sort_by_key(|(index, _)| *index);
            for (index, outcome) in outcomes {
                report.ran(index);
                match outcome {
                    Ok(done) => report.succeed(index, done),
                    Err(error) => report.fail(index, error),
                }
            }
        }
        report
    }

    /// One operation committed on its own: a write in a unit of work of its own (its result
    /// kept in it when the batch has a key), a read outside any transaction.
    async fn alone(
        &self,
        source: &dyn EntitySource,
        op: &BatchOperation,
        held: Option<&Held>,
        data: &[Option<Value>],
    ) -> Result<operation::Done, OpError> {
        let operation = self.operation(op);
        if operation.is_read() {
            return operation.run_read(source, data).await;
        }
        let failed = |error: ResolveError| OpError::from_source(&error, self.ctx);
        let mut work = source.begin(self.ctx).await.map_err(failed)?;
        let done = match operation.run(work.as_mut(), data).await {
            Ok(done) => done,
            Err(error) => {
                if let Err(rollback) = work.rollback().await {
                    tracing::debug!(%rollback, "rolling back a failed batch operation");
                }
                return Err(error);
            }
        };
        if let Some(held) = held {
            let result = serde_json::to_string(&done).expect("JSON values serialize");
            work.record_key(&held.key, &held.holder, &op.id, &result, held.expires_at_ms)
                .await
                .map_err(failed)?;
        }
        work.commit().await.map_err(|error| {
            let mut error = failed(error);
            // A conflict at commit is the caller's to retry: nothing was written.
            error.retryable |= error.conflict;
            error
        })?;
        Ok(done)
    }

    fn operation<'o>(&'o self, op: &'o BatchOperation) -> Operation<'o> {
        Operation {
            engine: self.engine,
            ctx: self.ctx,
            config: self.config,
            op,
        }
    }
}

fn error_is_conflict(error: &ResolveError) -> bool {
    matches!(
        error,
        ResolveError::Source {
            kind: crate::SourceErrorKind::Conflict,
            ..
        }
    )
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A token naming this request as a key's holder: unique per request, not a secret.
fn holder_token(request_id: &str) -> String {
    use sha2::Digest as _;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let digest = sha2::Sha256::digest(format!("{request_id}/{nanos}/{n}/{}", std::process::id()));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A pause before the `attempt`th rerun: 10 ms times the attempt, plus up to as much again.
fn jitter(attempt: u32) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let base = 10 * u64::from(attempt);
    Duration::from_millis(base + u64::from(nanos) % (base + 1))
}
