//! The typed context every call into a source carries.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::{Permissions, ResolveError, SourceEvent, SourceObserver};

/// A validated tenant identifier: 1 to 63 ASCII letters, digits, `_` or `-`, starting with a
/// letter or digit. Safe to log and to use as a cache-key part; never formatted into SQL.
/// Cloned with every request context and statement scope, so shared, not copied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// The tenant used while a deployment has only one.
    pub fn default_tenant() -> TenantId {
        static DEFAULT: std::sync::LazyLock<TenantId> =
            std::sync::LazyLock::new(|| TenantId("default".into()));
        DEFAULT.clone()
    }

    /// Validates `id`.
    pub fn new(id: &str) -> Result<TenantId, ResolveError> {
        let valid = !id.is_empty()
            && id.len() <= 63
            && id.as_bytes()[0].is_ascii_alphanumeric()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(TenantId(id.into()))
        } else {
            Err(ResolveError::InvalidTenant(id.chars().take(80).collect()))
        }
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a tenant's own schema (a PostgreSQL schema, a MariaDB database): 1 to 63 ASCII
/// letters, digits, `_` or `-`. Always quoted where it reaches SQL; it comes from the tenant's
/// record, never from a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaName(Arc<str>);

impl SchemaName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<SchemaName, ResolveError> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(SchemaName(name.into()))
        } else {
            Err(ResolveError::InvalidSchemaName(
                name.chars().take(80).collect(),
            ))
        }
    }

    /// The name, unquoted.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a tenant's data is kept apart from every other tenant's, as the sources must apply it
/// to every statement of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// Tenancy is off: the deployment has one tenant, and its data is all the sources reach.
    #[default]
    None,
    /// The tenant has its own schema: every table name is qualified with it.
    Schema(SchemaName),
    /// The tenant's rows share tables with other tenants' rows, told apart by a tenant column:
    /// on PostgreSQL, row-level security with `graft.tenant_id` set in each transaction.
    Rows,
}

/// Who is asking, until when, under which request id, and who watches what the sources do.
/// Passed first to every source call.
#[derive(Clone)]
pub struct RequestContext {
    /// The tenant whose data the request may see.
    pub tenant: TenantId,
    /// How the tenant's data is kept apart: what every statement of the request is scoped to.
    pub isolation: Isolation,
    /// An identifier for logs and traces.
    pub request_id: String,
    /// When the request must be answered; sources give up after it.
    pub deadline: Option<Instant>,
    /// Told every statement, HTTP request and fallback the request's sources make.
    pub observer: Option<Arc<dyn SourceObserver>>,
    /// What the caller's credential lets it do: checked before every write.
    pub permissions: Permissions,
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("tenant", &self.tenant)
            .field("isolation", &self.isolation)
            .field("request_id", &self.request_id)
            .field("deadline", &self.deadline)
            .field("observed", &self.observer.is_some())
            .field("permissions", &self.permissions)
            .finish()
    }
}

impl RequestContext {
    /// A context for the default tenant with no deadline.
    pub fn new(request_id: impl Into<String>) -> RequestContext {
        RequestContext {
            tenant: TenantId::default_tenant(),
            isolation: Isolation::None,
            request_id: request_id.into(),
            deadline: None,
            observer: None,
            permissions: Permissions::all(),
        }
    }

    /// The same context for `tenant`, isolated by `isolation`.
    pub fn for_tenant(self, tenant: TenantId, isolation: Isolation) -> RequestContext {
        RequestContext {
            tenant,
            isolation,
            ..self
        }
    }

    /// The same context, watched by `observer` (as well as by its own observer, if any).
    pub fn observed_by(&self, observer: Arc<dyn SourceObserver>) -> RequestContext {
        let observer: Arc<dyn SourceObserver> = match &self.observer {
            Some(outer) => Arc::new(crate::observe::Both(Arc::clone(outer), observer)),
            None => observer,
        };
        RequestContext {
            observer: Some(observer),
            ..self.clone()
        }
    }

    /// Tells the observer, if there is one, what a source did.
    pub fn observe(&self, event: &SourceEvent<'_>) {
        if let Some(observer) = &self.observer {
            observer.observe(event);
        }
    }

    /// The time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<std::time::Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_validated() {
        assert!(TenantId::new("acme-1").is_ok());
        for bad in ["", "-x", "a b", "a;drop", "ü", &"a".repeat(64)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn schema_names_are_validated() {
        assert!(SchemaName::new("tenant_acme-1").is_ok());
        for bad in ["", "a b", "a\"b", "a`b", "a.b", "ü", &"a".repeat(64)] {
            assert!(SchemaName::new(bad).is_err(), "{bad:?}");
        }
    }
}
