//! Resolution for graft: the [`EntitySource`] trait, the [`RequestContext`] every call carries,
//! the [`SourceRouter`] that picks a source per type, and the [`Engine`] that executes GraphQL
//! requests by compiled plans and writes the response JSON directly.
//!
//! **API boundary:** this crate defines what a source is and never talks to a database or a
//! network itself: `graft-db` and `graft-http` implement [`EntitySource`]. It composes them:
//! [`RemoteDbSource`] reads another subgraph's database through that subgraph's mapping, and
//! [`FallbackSource`] falls back from a database route to HTTP.

mod batch;
mod change;
mod context;
mod engine;
mod error;
mod ledger;
mod limits;
mod loader;
mod observe;
mod permissions;
mod related;
mod request;
mod route;
mod router;
mod source;
mod tenant;
mod unit_of_work;
mod variables;
mod write;

pub use batch::{BatchConfig, BatchOutcome, Idempotency};
pub use context::{Isolation, RequestContext, SchemaName, TenantId};
pub use engine::{Engine, EngineConfig, ExecuteOptions};
pub use error::{ConstraintKind, ConstraintViolation, ResolveError, SourceErrorKind};
pub use graft_plan::{BatchStats, CostModel};
pub use ledger::{KeyClaim, LedgerEntry, LedgerKey, ledger_time};
pub use limits::{BatchBudget, Exceeded, LimitMode, RequestLimits};
pub use loader::LoaderConfig;
pub use observe::{RequestStats, SourceEvent, SourceObserver, StatementKind};
pub use permissions::{Action, Permissions};
pub use request::{
    ErrorExtensions, GraphQLError, GraphQLRequest, GraphQLResponse, Location, PathSegment,
    ResponseKind, Variables,
};
pub use route::{Connect, FallbackSource, LazySource, RemoteDbSource};
pub use router::SourceRouter;
pub use source::{
    BoxFuture, Capabilities, Cell, EntitySource, FetchRequest, PageRequest, PoolStatus, RowSet,
    RowWriter,
};
pub use tenant::{ApiKeyGrant, ApiKeyHash, TenantRecord, TenantStatus, TenantStore};
pub use unit_of_work::{
    DeleteRequest, InsertRequest, Savepoint, UnitOfWork, UpdateRequest, WriteValue,
};
