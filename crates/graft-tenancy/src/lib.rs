//! Tenancy for graft: which tenant an HTTP request is served as.
//!
//! A [`Tenancy`] holds an ordered chain of [`Resolver`]s, each reading one kind of input from
//! the request's headers: a tenant-id header ([`HeaderResolver`]), a bearer JWT
//! ([`JwtResolver`]), an API key ([`ApiKeyResolver`]) or the host name
//! ([`SubdomainResolver`]). The first that names a tenant wins; the tenant is then looked up in
//! a [`TenantStore`] and checked to be active. The result is a [`ResolvedTenant`] (whose
//! record gives the `TenantId` and `Isolation` of the request's
//! `graft_resolve::RequestContext`) or a [`Rejection`]. [`TenancyConfig`] is the `[tenancy]`
//! section of `graft.toml`, and [`Tenancy::from_config`] builds everything from it.
//!
//! The server requires a tenant or allows a default one: a request that names no tenant is
//! served as the configured default tenant (looked up in the store like any other), and
//! refused with 401 `TENANT_REQUIRED` when there is none. No request is served untenanted.
//!
//! **API boundary:** this crate does no I/O of its own: the server reads key files for it
//! (through the `read_file` it passes to [`Tenancy::from_config`]) and turns a [`Rejection`]
//! into an HTTP response (its status, code and message; the reason goes to the log only). The
//! only I/O on a request's path is what a [`TenantStore`] does; [`StaticTenants`] answers from
//! memory. It does not fetch JWKS documents over the network, nor apply a tenant's isolation
//! to SQL: the sources do that from the `RequestContext`.

mod cache;
mod config;
mod error;
mod jwt;
mod record;
mod rejection;
mod resolve;
mod resolver;
#[cfg(test)]
mod test_support;

pub use cache::CachedStore;
pub use config::{
    ApiKeyConfig, ApiKeyEntryConfig, HeaderConfig, IsolationKind, JwtConfig, ResolverKind, Secret,
    StoreKind, SubdomainConfig, TenancyConfig, TenantConfig,
};
pub use error::TenancyError;
pub use graft_resolve::{ApiKeyGrant, ApiKeyHash, TenantRecord, TenantStatus, TenantStore};
pub use jwt::{JwtAlgorithm, JwtResolver};
pub use record::{ApiKeyEntry, StaticTenants};
pub use rejection::{Rejection, RejectionKind};
pub use resolve::{ResolvedTenant, Tenancy};
pub use resolver::{
    ApiKeyResolver, Claim, Credential, HeaderResolver, Resolver, SubdomainResolver,
};
