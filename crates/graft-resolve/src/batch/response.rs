//! What a batch answers: each operation's state, gathered while it runs, and the response
//! body the client gets.

use graft_plan::{BatchOperation, BatchPlan};
use serde_json::{Map, Value, json};

use super::operation::{Done, OpError};
use crate::{RequestContext, ResolveError};

/// The answer to a `/batch` request.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// The batch ran, whatever its operations' outcomes (200), or could not start (a 5xx):
    /// the status and the response body.
    Ran {
        /// The HTTP status.
        status: u16,
        /// The JSON body.
        body: Vec<u8>,
    },
    /// A retry with a key whose batch already ran: the first run's response (200).
    Replayed(Vec<u8>),
    /// Refused without running anything.
    Refused {
        /// The HTTP status: 400, 409 (a key in flight), 422 (a key reused), 503.
        status: u16,
        /// The error code.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl BatchOutcome {
    pub(super) fn refused(status: u16, code: &'static str, message: String) -> BatchOutcome {
        BatchOutcome::Refused {
            status,
            code,
            message,
        }
    }

    /// The database could not be reached for `what`: 503, the details in the log only.
    pub(super) fn unavailable(
        ctx: &RequestContext,
        what: &str,
        error: &ResolveError,
    ) -> BatchOutcome {
        tracing::warn!(request_id = %ctx.request_id, %error, "batch: {what}");
        BatchOutcome::refused(
            503,
            "SOURCE_UNAVAILABLE",
            format!(
                "{what} failed: {}; request id {}",
                error.public_message(),
                ctx.request_id
            ),
        )
    }
}

/// Where one operation stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum OpState {
    /// It ran, and its writes stand (or will, at commit).
    Succeeded(Done),
    /// It failed.
    Failed(OpError),
    /// It ran, and the transaction it ran in was rolled back: why.
    RolledBack(Done, String),
    /// It did not run: why.
    Skipped(String),
}

/// A batch's operations' states, as it runs.
pub(super) struct Report {
    ids: Vec<String>,
    states: Vec<Option<OpState>>,
    /// Each successful operation's data, for the references of later ones.
    pub(super) data: Vec<Option<Value>>,
    /// The operations in the order they ran.
    order: Vec<usize>,
    /// What stopped the whole batch (a failed commit, a transaction that could not start).
    batch_error: Option<OpError>,
    /// Whether nothing ran because the batch could not start.
    not_started: bool,
    mode: &'static str,
    /// Whether the batch is a dry run (`validate`): rolled back whatever happens.
    dry_run: bool,
    /// Whether an operation lost to a concurrent transaction (an atomic batch then reruns).
    pub(super) lost_a_conflict: bool,
    /// Whether the response was kept with the key in the batch's own transaction.
    pub(super) recorded_in_transaction: bool,
    /// How many times the batch's transaction ran (more than once after lost conflicts).
    pub(super) attempts: u32,
    /// Whether the batch's one transaction committed.
    pub(super) committed: bool,
}

impl Report {
    pub(super) fn new(plan: &BatchPlan) -> Report {
        let n = plan.operations.len();
        let options = plan.options;
        Report {
            ids: plan.operations.iter().map(|op| op.id.clone()).collect(),
            states: vec![None; n],
            data: vec![None; n],
            order: Vec::with_capacity(n),
            batch_error: None,
            not_started: false,
            mode: match (options.validate, options.atomic, options.continue_on_error) {
                (true, _, _) => "validate",
                (false, true, false) => "atomic",
                (false, true, true) => "atomic, continueOnError",
                (false, false, _) => "each on its own",
            },
            dry_run: options.validate,
            lost_a_conflict: false,
            recorded_in_transaction: false,
            attempts: 1,
            committed: false,
        }
    }

    pub(super) fn state(&self, index: usize) -> Option<&OpState> {
        self.states[index].as_ref()
    }

    pub(super) fn set(&mut self, index: usize, state: OpState) {
        self.states[index] = Some(state);
    }

    /// Notes that operation `index` ran (now).
    pub(super) fn ran(&mut self, index: usize) {
        self.order.push(index);
    }

    pub(super) fn succeed(&mut self, index: usize, done: Done) {
        self.data[index] = Some(done.data.clone());
        self.set(index, OpState::Succeeded(done));
    }

    pub(super) fn fail(&mut self, index: usize, error: OpError) {
        self.set(index, OpState::Failed(error));
    }

    pub(super) fn failures(&self) -> usize {
        self.states
            .iter()
            .filter(|s| matches!(s, Some(OpState::Failed(_))))
            .count()
    }

    fn first_failure(&self) -> Option<&str> {
        self.order
            .iter()
            .find(|&&i| matches!(self.states[i], Some(OpState::Failed(_))))
            .map(|&i| self.ids[i].as_str())
    }

    /// Why `op` may not run: a dependency failed or was skipped, or (without
    /// `continueOnError`) the batch stopped at a failure.
    pub(super) fn blocked(&self, plan: &BatchPlan, op: &BatchOperation) -> Option<String> {
        for &dependency in &op.depends_on {
            let id = &self.ids[dependency];
            match &self.states[dependency] {
                Some(OpState::Failed(_)) => {
                    return Some(format!("it depends on operation `{id}`, which failed"));
                }
                Some(OpState::Skipped(_)) => {
                    return Some(format!("it depends on operation `{id}`, which was skipped"));
                }
                _ => {}
            }
        }
        let options = plan.options;
        if !options.continue_on_error && !options.validate {
            return self
                .first_failure()
                .map(|id| format!("the batch stopped after operation `{id}` failed"));
        }
        None
    }

    /// The transaction was rolled back: what succeeded in it did not stay, and what did not
    /// run never will.
    pub(super) fn roll_back(&mut self, plan: &BatchPlan) {
        let (rolled_back, not_run) = match (&self.batch_error, self.first_failure()) {
            (Some(error), _) => {
                let why = format!("the batch's transaction failed: {}", error.message);
                (format!("rolled back: {why}"), format!("not run: {why}"))
            }
            (None, Some(id)) if !plan.options.validate => (
                format!("rolled back: operation `{id}` failed"),
                format!("not run: the batch stopped when operation `{id}` failed"),
            ),
            (None, _) => (
                "rolled back: the batch was a dry run (validate)".to_owned(),
                "not run".to_owned(),
            ),
        };
        for state in &mut self.states {
            *state = match state.take() {
                Some(OpState::Succeeded(done)) => {
                    Some(OpState::RolledBack(done, rolled_back.clone()))
                }
                None => Some(OpState::Skipped(not_run.clone())),
                other => other,
            };
        }
    }

    /// Whether the batch as a whole failed.
    pub(super) fn aborted(&self) -> bool {
        self.batch_error.is_some()
    }

    /// The batch as a whole failed (its commit, its savepoint): everything is rolled back.
    pub(super) fn abort(&mut self, plan: &BatchPlan, error: &OpError) {
        self.batch_error = Some(error.clone());
        self.roll_back(plan);
    }

    /// The batch's transaction could not be opened: nothing ran.
    pub(super) fn could_not_start(&mut self, plan: &BatchPlan, error: &OpError) {
        self.batch_error = Some(error.clone());
        self.not_started = true;
        self.roll_back(plan);
    }

    /// Whether a write of the batch stands.
    pub(super) fn wrote_something(&self) -> bool {
        self.states
            .iter()
            .any(|s| matches!(s, Some(OpState::Succeeded(done)) if done.wrote))
    }

    /// Whether every operation succeeded and the batch committed; for a dry run, whether it
    /// would have.
    fn success(&self) -> bool {
        self.batch_error.is_none()
            && self.states.iter().all(|s| match s {
                Some(OpState::Succeeded(_)) => true,
                Some(OpState::RolledBack(..)) => self.dry_run,
                _ => false,
            })
    }

    /// The HTTP status: 200 when the batch ran; the failure's status when it could not start
    /// (the database is down).
    pub(super) fn status(&self) -> u16 {
        match &self.batch_error {
            Some(error) if self.not_started && error.status_code >= 500 => error.status_code,
            _ => 200,
        }
    }

    pub(super) fn outcome(&self) -> super::BatchOutcome {
        super::BatchOutcome::Ran {
            status: self.status(),
            body: self.body(),
        }
    }

    /// The response body.
    pub(super) fn body(&self) -> Vec<u8> {
        let mut results = Map::new();
        let mut failed = Vec::new();
        let mut skipped = Vec::new();
        for (index, state) in self.states.iter().enumerate() {
            let id = &self.ids[index];
            let result = match state {
                Some(OpState::Succeeded(done)) => json!({
                    "status": "succeeded",
                    "statusCode": done.status_code,
                    "data": done.data,
                }),
                Some(OpState::RolledBack(done, reason)) => json!({
                    "status": "rolledBack",
                    "statusCode": done.status_code,
                    "data": done.data,
                    "reason": reason,
                }),
                Some(OpState::Failed(error)) => {
                    failed.push(id.clone());
                    json!({
                        "status": "failed",
                        "statusCode": error.status_code,
                        "error": error_json(error),
                    })
                }
                Some(OpState::Skipped(_)) | None => {
                    skipped.push(id.clone());
                    json!({
                        "status": "skipped",
                        "statusCode": 424,
                        "reason": match state {
                            Some(OpState::Skipped(reason)) => reason.as_str(),
                            _ => "it did not run",
                        },
                    })
                }
            };
            results.insert(id.clone(), result);
        }
        let mut body = json!({
            "success": self.success(),
            "mode": self.mode,
            "executionOrder": self.order.iter().map(|&i| &self.ids[i]).collect::<Vec<_>>(),
            "results": results,
            "failedOperations": failed,
            "skippedOperations": skipped,
        });
        if let Some(error) = &self.batch_error {
            body["error"] = error_json(error);
        }
        if self.attempts > 1 {
            body["attempts"] = self.attempts.into();
        }
        serde_json::to_vec(&body).expect("JSON values serialize")
    }
}

fn error_json(error: &OpError) -> Value {
    let mut object = Map::new();
    object.insert("code".to_owned(), error.code.into());
    object.insert("message".to_owned(), error.message.clone().into());
    object.insert("retryable".to_owned(), error.retryable.into());
    for (key, value) in &error.details {
        object.insert(key.clone(), value.clone());
    }
    Value::Object(object)
}
