//! Pure planning for graft: what to fetch, in which groups, and how to write the answer.
//!
//! - [`OperationPlan::compile`] turns a validated GraphQL operation into a plan: for each root
//!   field, the entity types it can return, the columns to read for each, and the JSON keys to
//!   write. Plans depend only on the query text, so the engine caches them by it.
//! - [`EntityFetchPlan`] groups the keys of one `_entities` call by type, key and partition,
//!   drops duplicates, splits groups over a maximum size, and remembers where each input's answer
//!   goes, so results come back in input order.
//!
//! **Architecture invariant:** this crate does no I/O and knows nothing of SQL or HTTP. Problems
//! come back as values ([`PlanError`]), never as panics.

mod batch;
mod cost;
mod error;
mod fetch;
mod operation;
mod page;

pub use batch::{
    BatchAction, BatchLimits, BatchOperation, BatchOptions, BatchPlan, BatchProblem,
    MAX_TEMPLATE_BYTES, Param, PathStep, Piece, Reference, plan_batch, value_fits,
};
pub use cost::{
    CompileOptions, CostModel, PLANNING_CEILING, PLANNING_CONDITIONS_CEILING,
    PLANNING_WORK_CEILING, Shape,
};
pub use error::PlanError;
pub use fetch::{
    BatchStats, EntityFetchPlan, FetchGroup, GroupKey, Grouping, PartitionBy, PerTypeAndKey, Slot,
    SplitReason,
};
pub use operation::{
    Condition, Conditions, EmbeddedPlan, EntitySelection, FieldPlan, FieldValue, LoadId,
    MutationPlan, OperationPlan, Reads, ReferenceField, ReferenceValue, RelatedPlan, RelatedTarget,
    ResponseKey, RootKind, RootPlan, ServiceField, VariablePlan,
};
pub use page::{EdgeValue, PageField, PageInfoValue, PagePlan, PageValue};
