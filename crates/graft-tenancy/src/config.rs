//! The `[tenancy]` section of `graft.toml`, and building a [`Tenancy`] from it.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use graft_resolve::{Isolation, SchemaName, TenantId};

use crate::jwt::{JwtAlgorithm, JwtResolver};
use crate::resolver::{ApiKeyResolver, HeaderResolver, Resolver, SubdomainResolver};
use crate::{ApiKeyHash, StaticTenants, Tenancy, TenancyError, TenantRecord, TenantStatus};

/// The `[tenancy]` section of `graft.toml`:
///
/// ```toml
/// [tenancy]
/// resolvers = ["jwt", "api_key", "header"]   # chain order
/// # default_tenant = "acme"                  # requests that name no tenant; refused if unset
///
/// [tenancy.jwt]
/// algorithm = "RS256"
/// public_key_pem_file = "keys/jwt.pub.pem"
/// audience = "graft"
///
/// [[tenancy.tenants]]
/// id = "acme"
/// isolation = "schema"                       # schema "tenant_acme"
/// api_key_sha256 = ["2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"]
///
/// [[tenancy.tenants.api_keys]]               # a key with the scopes it grants
/// sha256 = "5ae1d4db3e66e3bf3b1f25bfd5c46b0f0e1c1d14b4bb6a1a1bcaa7c9a7f0f1e2"
/// scopes = ["Order:create", "*:read"]
/// ```
///
/// The server requires a tenant, or allows a default one: a request that names no tenant is
/// served as `default_tenant` when it is set, and refused (401 `TENANT_REQUIRED`) otherwise.
/// Every request is served as one of `tenants`, never untenanted. Unknown keys are refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenancyConfig {
    /// The resolvers to run, in order; the first that names a tenant wins.
    pub resolvers: Vec<ResolverKind>,
    /// The tenant of requests that name none; must be one of `tenants`. When unset, such
    /// requests are refused.
    pub default_tenant: Option<String>,
    /// `[tenancy.header]`: the tenant-id header resolver.
    pub header: Option<HeaderConfig>,
    /// `[tenancy.jwt]`: the bearer-token resolver.
    pub jwt: Option<JwtConfig>,
    /// `[tenancy.api_key]`: the API-key resolver.
    pub api_key: Option<ApiKeyConfig>,
    /// `[tenancy.subdomain]`: the host-name resolver.
    pub subdomain: Option<SubdomainConfig>,
    /// `[[tenancy.tenants]]`: the tenants served, when `store = "config"`.
    pub tenants: Vec<TenantConfig>,
    /// Where tenants are kept: `config` (the default: `tenants` here) or `database` (the
    /// `graft_tenants` table of the configured database, managed with `graft tenant`).
    pub store: StoreKind,
    /// How long an instance keeps what the database store answered, in seconds (default
    /// 30): a tenant suspended elsewhere is refused here within this time.
    pub cache_ttl_seconds: Option<u64>,
    /// How many answers of the database store an instance keeps (default 10,000).
    pub cache_capacity: Option<usize>,
    /// The directory of versioned migrations (`0001_name.sql`, ...) that `graft tenant
    /// create` and `graft tenant migrate` apply to every tenant's schema.
    pub migrations: Option<std::path::PathBuf>,
    /// `[tenancy.tiers]`: the isolation a tenant created in each tier gets when none is given
    /// (`premium = "schema"`, `standard = "rows"`: hybrid tenancy).
    pub tiers: std::collections::HashMap<String, IsolationKind>,
    /// The scopes (`Type:action`, `*`) of callers whose credential names none: a tenant named
    /// by a header or a host, the default tenant, an API key, a token without a `scope`
    /// claim. Unset: everything (`["*"]`); `[]` makes every write need a scoped token.
    pub default_scopes: Option<Vec<String>>,
}

/// Refuses a scope that is not a grant (`Type:action`, `*`): a typo would grant nothing.
fn check_scopes(at: &str, scopes: Option<&[String]>) -> Result<(), TenancyError> {
    match scopes
        .into_iter()
        .flatten()
        .find(|s| !graft_resolve::Permissions::is_grant(s))
    {
        Some(bad) => Err(TenancyError::config(
            at,
            format!(
                "{bad:?} is not a scope graft grants: `Type:action` (create, read, update, \
                 delete, write, *) or `*`"
            ),
        )),
        None => Ok(()),
    }
}

impl TenancyConfig {
    /// The permissions of callers whose credential names no scopes; a scope that is not a
    /// grant is refused.
    pub fn default_permissions(&self) -> Result<graft_resolve::Permissions, TenancyError> {
        check_scopes("tenancy.default_scopes", self.default_scopes.as_deref())?;
        Ok(match &self.default_scopes {
            None => graft_resolve::Permissions::all(),
            Some(scopes) => {
                graft_resolve::Permissions::from_scopes(scopes.iter().map(String::as_str))
            }
        })
    }
}

/// `tenancy.store`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The `[[tenancy.tenants]]` of the configuration.
    #[default]
    Config,
    /// The database's `graft_tenants` table.
    Database,
}

/// A resolver's name in `tenancy.resolvers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolverKind {
    /// `header`: [`HeaderResolver`].
    Header,
    /// `jwt`: [`JwtResolver`].
    Jwt,
    /// `api_key`: [`ApiKeyResolver`].
    ApiKey,
    /// `subdomain`: [`SubdomainResolver`].
    Subdomain,
}

impl ResolverKind {
    /// The name, as `tenancy.resolvers` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolverKind::Header => "header",
            ResolverKind::Jwt => "jwt",
            ResolverKind::ApiKey => "api_key",
            ResolverKind::Subdomain => "subdomain",
        }
    }
}

/// `[tenancy.header]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderConfig {
    /// The header holding the tenant id; `x-tenant-id` when unset.
    #[serde(default)]
    pub name: Option<String>,
}

/// `[tenancy.jwt]`. The key is exactly one of `secret`, `secret_env` (HS256),
/// `public_key_pem_file`, `jwks_file` (RS256, ES256).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The algorithm tokens must be signed with.
    pub algorithm: JwtAlgorithm,
    /// The HS256 shared secret, inline.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The name of the environment variable holding the HS256 shared secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A file holding the RS256 or ES256 public key in PEM.
    #[serde(default)]
    pub public_key_pem_file: Option<PathBuf>,
    /// A file holding a JWKS document; the token's `kid` picks the key.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The claim holding the tenant id; `tenant_id` when unset.
    #[serde(default)]
    pub claim: Option<String>,
    /// The `aud` tokens must carry; unchecked when unset.
    #[serde(default)]
    pub audience: Option<String>,
    /// The `iss` tokens must carry; unchecked when unset.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The clock skew allowed on `exp` and `nbf`; 30 when unset, at most 3600.
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
}

/// A secret read from the configuration; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `[tenancy.api_key]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The header holding the API key; `x-api-key` when unset.
    #[serde(default)]
    pub header: Option<String>,
}

/// `[tenancy.subdomain]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubdomainConfig {
    /// The domain tenants' host names are under: `graft.example.com` serves
    /// `acme.graft.example.com`.
    pub base_domain: String,
    /// Whether `X-Forwarded-Host` is read before `Host`: only behind a proxy that sets it.
    #[serde(default)]
    pub trust_forwarded_host: bool,
}

/// A `[[tenancy.tenants]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant's id.
    pub id: String,
    /// `active` (the default) or `suspended`.
    #[serde(default)]
    pub status: TenantStatus,
    /// How the tenant's data is kept apart.
    #[serde(default)]
    pub isolation: IsolationKind,
    /// The tenant's schema when `isolation = "schema"`; `tenant_<id>` when unset.
    #[serde(default)]
    pub schema: Option<String>,
    /// A human-readable short name.
    #[serde(default)]
    pub slug: Option<String>,
    /// The tenant's tier, for admin tools.
    #[serde(default)]
    pub tier: Option<String>,
    /// The SHA-256 of each of the tenant's API keys, as 64 hex digits (`sha256sum`); their
    /// bearers get the default scopes.
    #[serde(default)]
    pub api_key_sha256: Vec<String>,
    /// `[[tenancy.tenants.api_keys]]`: API keys with the scopes they grant.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyEntryConfig>,
}

/// One `[[tenancy.tenants.api_keys]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntryConfig {
    /// The SHA-256 of the key, as 64 hex digits.
    pub sha256: String,
    /// The scopes its bearer gets (`Type:action`, `*`); unset: the default scopes.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// `isolation` of a tenant entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IsolationKind {
    /// `none`: [`Isolation::None`].
    #[default]
    None,
    /// `schema`: [`Isolation::Schema`].
    Schema,
    /// `rows`: [`Isolation::Rows`].
    Rows,
}

impl StaticTenants {
    /// The store of the `[[tenancy.tenants]]` entries.
    pub fn from_config(tenants: &[TenantConfig]) -> Result<StaticTenants, TenancyError> {
        let mut entries = Vec::with_capacity(tenants.len());
        for (index, tenant) in tenants.iter().enumerate() {
            let at = |field: &str| format!("tenancy.tenants[{index}].{field}");
            let id = TenantId::new(&tenant.id).map_err(|e| TenancyError::config(&at("id"), e))?;
            let isolation = match (tenant.isolation, &tenant.schema) {
                (IsolationKind::Schema, schema) => {
                    let name = match schema {
                        Some(name) => name.clone(),
                        None => format!("tenant_{id}"),
                    };
                    let schema = SchemaName::new(&name)
                        .map_err(|e| TenancyError::config(&at("schema"), e))?;
                    Isolation::Schema(schema)
                }
                (_, Some(_)) => {
                    return Err(TenancyError::config(
                        &at("schema"),
                        "a schema is set but isolation is not \"schema\"",
                    ));
                }
                (IsolationKind::None, None) => Isolation::None,
                (IsolationKind::Rows, None) => Isolation::Rows,
            };
            let mut keys = tenant
                .api_key_sha256
                .iter()
                .enumerate()
                .map(|(k, hex)| {
                    hex.parse::<ApiKeyHash>()
                        .map(|hash| (hash, None))
                        .map_err(|e| TenancyError::config(&at(&format!("api_key_sha256[{k}]")), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for (k, key) in tenant.api_keys.iter().enumerate() {
                let hash = key
                    .sha256
                    .parse::<ApiKeyHash>()
                    .map_err(|e| TenancyError::config(&at(&format!("api_keys[{k}].sha256")), e))?;
                check_scopes(&at(&format!("api_keys[{k}].scopes")), key.scopes.as_deref())?;
                keys.push((hash, key.scopes.clone()));
            }
            let record = TenantRecord {
                id,
                status: tenant.status,
                isolation,
                slug: tenant.slug.clone(),
                tier: tenant.tier.clone(),
                metadata: None,
            };
            entries.push((record, keys));
        }
        StaticTenants::new(entries)
    }
}

impl Tenancy {
    /// Builds the tenancy `config` describes, with a [`StaticTenants`] store of its tenants.
    /// `read_file` reads the key files it names (the server resolves relative paths); the
    /// HS256 `secret_env` is read from the process environment.
    pub fn from_config(
        config: &TenancyConfig,
        read_file: impl Fn(&Path) -> io::Result<String>,
    ) -> Result<Tenancy, TenancyError> {
        Tenancy::from_config_with_env(config, read_file, |name| std::env::var(name).ok())
    }

    /// Builds the tenancy `config` describes over `store` (`store = "database"`: tenants are
    /// looked up there, through a [`crate::CachedStore`] the caller builds), which must then
    /// have no `[[tenancy.tenants]]`.
    pub fn from_config_with_store(
        config: &TenancyConfig,
        store: Arc<dyn graft_resolve::TenantStore>,
        read_file: impl Fn(&Path) -> io::Result<String>,
    ) -> Result<Tenancy, TenancyError> {
        if !config.tenants.is_empty() {
            return Err(TenancyError::config(
                "tenancy.tenants",
                "with store = \"database\", tenants live in the database (graft tenant create), \
                 not in the configuration",
            ));
        }
        let default_tenant = config
            .default_tenant
            .as_deref()
            .map(TenantId::new)
            .transpose()
            .map_err(|e| TenancyError::config("tenancy.default_tenant", e))?;
        if config.resolvers.is_empty() && default_tenant.is_none() {
            return Err(TenancyError::config(
                "tenancy.resolvers",
                "no resolvers and no default_tenant: every request would be refused",
            ));
        }
        let resolvers = resolvers(config, &read_file, &|name: &str| std::env::var(name).ok())?;
        Ok(Tenancy::new(resolvers, store)
            .with_default_tenant(default_tenant)
            .with_default_permissions(config.default_permissions()?))
    }

    /// [`from_config`](Tenancy::from_config), reading environment variables with `env`.
    pub fn from_config_with_env(
        config: &TenancyConfig,
        read_file: impl Fn(&Path) -> io::Result<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Tenancy, TenancyError> {
        if config.store == StoreKind::Database {
            return Err(TenancyError::config(
                "tenancy.store",
                "\"database\": build the tenancy over the database's store",
            ));
        }
        let store = StaticTenants::from_config(&config.tenants)?;
        if store.is_empty() {
            return Err(TenancyError::config(
                "tenancy.tenants",
                "no tenants: every request would be refused",
            ));
        }
        tenants_apart(config, &store)?;
        let default_tenant = match &config.default_tenant {
            None => None,
            Some(id) => {
                let id = TenantId::new(id)
                    .map_err(|e| TenancyError::config("tenancy.default_tenant", e))?;
                if store.get(&id).is_none() {
                    return Err(TenancyError::config(
                        "tenancy.default_tenant",
                        format!("`{id}` is not one of tenancy.tenants"),
                    ));
                }
                Some(id)
            }
        };
        if config.resolvers.is_empty() && default_tenant.is_none() {
            return Err(TenancyError::config(
                "tenancy.resolvers",
                "no resolvers and no default_tenant: every request would be refused",
            ));
        }
        let resolvers = resolvers(config, &read_file, &env)?;
        Ok(Tenancy::new(resolvers, Arc::new(store))
            .with_default_tenant(default_tenant)
            .with_default_permissions(config.default_permissions()?))
    }
}

/// Refuses tenants that would see each other's rows: two tenants with one schema, two ids that
/// differ only in case (MariaDB compares a `rows` tenant column without case by default), or a
/// tenant with `isolation = "none"` (the whole database, unscoped) beside others.
fn tenants_apart(config: &TenancyConfig, store: &StaticTenants) -> Result<(), TenancyError> {
    let mut schemas = HashSet::new();
    let mut ids = HashSet::new();
    for (i, tenant) in config.tenants.iter().enumerate() {
        if !ids.insert(tenant.id.to_ascii_lowercase()) {
            return Err(TenancyError::config(
                &format!("tenancy.tenants[{i}].id"),
                format!(
                    "`{}` is another tenant's id but for case: MariaDB compares tenant columns \
                     without case, so they would see each other's rows",
                    tenant.id
                ),
            ));
        }
        let Some(record) = TenantId::new(&tenant.id).ok().and_then(|id| store.get(&id)) else {
            continue;
        };
        match &record.isolation {
            Isolation::None if config.tenants.len() > 1 => {
                return Err(TenancyError::config(
                    &format!("tenancy.tenants[{i}].isolation"),
                    "\"none\" serves the whole database unscoped, which only a deployment's one \
                     tenant may have: give every tenant \"schema\" or \"rows\"",
                ));
            }
            Isolation::Schema(schema) if !schemas.insert(schema.clone()) => {
                return Err(TenancyError::config(
                    &format!("tenancy.tenants[{i}].schema"),
                    format!(
                        "`{schema}` is another tenant's schema too: they would see each other's rows"
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The resolver chain `config` describes.
fn resolvers(
    config: &TenancyConfig,
    read_file: &dyn Fn(&Path) -> io::Result<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Resolver>, TenancyError> {
    let mut seen = HashSet::new();
    for kind in &config.resolvers {
        if !seen.insert(*kind) {
            return Err(TenancyError::config(
                "tenancy.resolvers",
                format!("`{}` appears twice", kind.as_str()),
            ));
        }
    }
    let sections = [
        (ResolverKind::Header, config.header.is_some()),
        (ResolverKind::Jwt, config.jwt.is_some()),
        (ResolverKind::ApiKey, config.api_key.is_some()),
        (ResolverKind::Subdomain, config.subdomain.is_some()),
    ];
    for (kind, present) in sections {
        if present && !seen.contains(&kind) {
            let name = kind.as_str();
            return Err(TenancyError::config(
                &format!("tenancy.{name}"),
                format!("the section is set but `{name}` is not in tenancy.resolvers"),
            ));
        }
    }
    config
        .resolvers
        .iter()
        .map(|kind| -> Result<Resolver, TenancyError> {
            Ok(match kind {
                ResolverKind::Header => {
                    let name = config.header.as_ref().and_then(|h| h.name.as_deref());
                    match name {
                        Some(name) => HeaderResolver::new(name)
                            .map_err(|e| TenancyError::config("tenancy.header.name", e))?,
                        None => HeaderResolver::default(),
                    }
                    .into()
                }
                ResolverKind::ApiKey => {
                    let name = config.api_key.as_ref().and_then(|a| a.header.as_deref());
                    match name {
                        Some(name) => ApiKeyResolver::new(name)
                            .map_err(|e| TenancyError::config("tenancy.api_key.header", e))?,
                        None => ApiKeyResolver::default(),
                    }
                    .into()
                }
                ResolverKind::Subdomain => {
                    let Some(sub) = &config.subdomain else {
                        return Err(TenancyError::config(
                            "tenancy.subdomain",
                            "`subdomain` is in tenancy.resolvers but the section (base_domain) \
                             is missing",
                        ));
                    };
                    SubdomainResolver::new(&sub.base_domain)
                        .map_err(|e| TenancyError::config("tenancy.subdomain.base_domain", e))?
                        .trusting_forwarded_host(sub.trust_forwarded_host)
                        .into()
                }
                ResolverKind::Jwt => {
                    let Some(jwt) = &config.jwt else {
                        return Err(TenancyError::config(
                            "tenancy.jwt",
                            "`jwt` is in tenancy.resolvers but the section is missing",
                        ));
                    };
                    jwt_resolver(jwt, read_file, env)?.into()
                }
            })
        })
        .collect()
}

/// The JWT resolver `[tenancy.jwt]` describes.
fn jwt_resolver(
    jwt: &JwtConfig,
    read_file: &dyn Fn(&Path) -> io::Result<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<JwtResolver, TenancyError> {
    let algorithm = jwt.algorithm;
    let sources = [
        ("secret", jwt.secret.is_some()),
        ("secret_env", jwt.secret_env.is_some()),
        ("public_key_pem_file", jwt.public_key_pem_file.is_some()),
        ("jwks_file", jwt.jwks_file.is_some()),
    ];
    let given: Vec<&str> = sources.iter().filter(|s| s.1).map(|s| s.0).collect();
    let (allowed, needs) = match algorithm {
        JwtAlgorithm::HS256 => (&["secret", "secret_env"][..], "secret or secret_env"),
        JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => (
            &["public_key_pem_file", "jwks_file"][..],
            "public_key_pem_file or jwks_file",
        ),
    };
    if given.len() != 1 || !allowed.contains(&given[0]) {
        let got = if given.is_empty() {
            "none is set".to_owned()
        } else {
            format!("got {}", given.join(" and "))
        };
        return Err(TenancyError::config(
            "tenancy.jwt",
            format!("{algorithm} needs exactly one of {needs}; {got}"),
        ));
    }
    let read = |field: &str, path: &Path| {
        read_file(path).map_err(|e| {
            TenancyError::config(
                &format!("tenancy.jwt.{field}"),
                format!("cannot read {}: {e}", path.display()),
            )
        })
    };
    let at = |field: &'static str| move |e: TenancyError| TenancyError::config(field, e);
    let resolver = if let Some(secret) = &jwt.secret {
        JwtResolver::hs256(secret.expose().as_bytes()).map_err(at("tenancy.jwt.secret"))?
    } else if let Some(name) = &jwt.secret_env {
        let secret = env(name).filter(|s| !s.is_empty()).ok_or_else(|| {
            TenancyError::config(
                "tenancy.jwt.secret_env",
                format!("environment variable `{name}` is not set"),
            )
        })?;
        JwtResolver::hs256(secret.as_bytes()).map_err(at("tenancy.jwt.secret_env"))?
    } else if let Some(path) = &jwt.public_key_pem_file {
        let pem = read("public_key_pem_file", path)?;
        match algorithm {
            JwtAlgorithm::ES256 => JwtResolver::es256_pem(&pem),
            _ => JwtResolver::rs256_pem(&pem),
        }
        .map_err(|e| {
            TenancyError::config(
                "tenancy.jwt.public_key_pem_file",
                format!("{}: {e}", path.display()),
            )
        })?
    } else if let Some(path) = &jwt.jwks_file {
        let jwks = read("jwks_file", path)?;
        JwtResolver::from_jwks(algorithm, &jwks).map_err(|e| {
            TenancyError::config("tenancy.jwt.jwks_file", format!("{}: {e}", path.display()))
        })?
    } else {
        // Unreachable: exactly one source was checked to be set above.
        return Err(TenancyError::config(
            "tenancy.jwt",
            format!("{algorithm} needs {needs}"),
        ));
    };
    let mut resolver = resolver;
    if let Some(claim) = &jwt.claim {
        if claim.is_empty() {
            return Err(TenancyError::config(
                "tenancy.jwt.claim",
                "the claim name is empty",
            ));
        }
        resolver = resolver.with_claim(claim);
    }
    if let Some(audience) = &jwt.audience {
        resolver = resolver.with_audience(audience);
    }
    if let Some(issuer) = &jwt.issuer {
        resolver = resolver.with_issuer(issuer);
    }
    if let Some(leeway) = jwt.leeway_seconds {
        if leeway > JwtResolver::MAX_LEEWAY_SECONDS {
            return Err(TenancyError::config(
                "tenancy.jwt.leeway_seconds",
                format!("{leeway} is more than {}", JwtResolver::MAX_LEEWAY_SECONDS),
            ));
        }
        resolver = resolver.with_leeway_seconds(leeway);
    }
    Ok(resolver)
}

#[cfg(test)]
mod tests;
