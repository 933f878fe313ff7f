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
    /// The SHA-256 of each of the tenant's API keys, as 64 hex digits (`sha256sum`).
    #[serde(default)]
    pub api_key_sha256: Vec<String>,
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
            let keys = tenant
                .api_key_sha256
                .iter()
                .enumerate()
                .map(|(k, hex)| {
                    hex.parse::<ApiKeyHash>()
                        .map_err(|e| TenancyError::config(&at(&format!("api_key_sha256[{k}]")), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
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
        Ok(Tenancy::new(resolvers, store).with_default_tenant(default_tenant))
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
        Ok(Tenancy::new(resolvers, Arc::new(store)).with_default_tenant(default_tenant))
    }
}

/// Refuses tenants that would see each other's rows: two tenants with one schema, or a tenant
/// with `isolation = "none"` (the whole database, unscoped) beside others.
fn tenants_apart(config: &TenancyConfig, store: &StaticTenants) -> Result<(), TenancyError> {
    let mut schemas = HashSet::new();
    for (i, tenant) in config.tenants.iter().enumerate() {
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
mod tests {
    use super::*;
    use crate::test_support::*;

    /// The `[tenancy]` table of `toml`, as a server embedding it reads it.
    fn parse(toml: &str) -> Result<TenancyConfig, String> {
        #[derive(Deserialize)]
        struct GraftToml {
            tenancy: TenancyConfig,
        }
        toml::from_str::<GraftToml>(toml)
            .map(|file| file.tenancy)
            .map_err(|e| e.to_string())
    }

    /// Reads the fixture files by name.
    fn fixtures(path: &Path) -> io::Result<String> {
        match path.to_str() {
            Some("keys/rsa.pem") => Ok(RSA_PUBLIC_PEM.to_owned()),
            Some("keys/ec.pem") => Ok(EC_PUBLIC_PEM.to_owned()),
            Some("keys/rsa-private.pem") => Ok(RSA_PRIVATE_PEM.to_owned()),
            Some("keys/jwks.json") => Ok(JWKS.to_owned()),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }

    fn env(name: &str) -> Option<String> {
        (name == "GRAFT_JWT_SECRET").then(|| String::from_utf8(SECRET.to_vec()).unwrap())
    }

    fn build(toml: &str) -> Result<Tenancy, String> {
        let config = parse(toml)?;
        Tenancy::from_config_with_env(&config, fixtures, env).map_err(|e| e.to_string())
    }

    const FULL: &str = r#"
        [tenancy]
        resolvers = ["jwt", "api_key", "header", "subdomain"]

        [tenancy.header]
        name = "x-org"

        [tenancy.jwt]
        algorithm = "RS256"
        public_key_pem_file = "keys/rsa.pem"
        claim = "org"
        audience = "graft"
        issuer = "https://auth.example.com/"
        leeway_seconds = 10

        [tenancy.api_key]
        header = "x-graft-key"

        [tenancy.subdomain]
        base_domain = "graft.example.com"
        trust_forwarded_host = true

        [[tenancy.tenants]]
        id = "acme"
        isolation = "schema"
        slug = "Acme Corp"

        [[tenancy.tenants]]
        id = "globex"
        isolation = "schema"
        schema = "globex_data"
        api_key_sha256 = ["2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"]

        [[tenancy.tenants]]
        id = "initech"
        status = "suspended"
        isolation = "rows"
    "#;

    #[tokio::test]
    async fn a_full_config_builds_the_chain_and_the_store() {
        let tenancy = build(FULL).unwrap();
        let names: Vec<_> = tenancy.resolvers().iter().map(Resolver::name).collect();
        assert_eq!(names, ["jwt", "api_key", "header", "subdomain"]);

        let claims = serde_json::json!({
            "org": "acme", "aud": "graft", "iss": "https://auth.example.com/",
            "exp": now() + 60,
        });
        let resolved = tenancy
            .resolve(&bearer(&rs256(&claims, None)))
            .await
            .unwrap();
        assert_eq!(resolved.record.id.as_str(), "acme");
        assert_eq!(resolved.record.slug.as_deref(), Some("Acme Corp"));
        assert_eq!(
            resolved.record.isolation,
            Isolation::Schema(SchemaName::new("tenant_acme").unwrap())
        );

        let by_key = headers(&[("x-graft-key", "secret")]);
        let resolved = tenancy.resolve(&by_key).await.unwrap();
        assert_eq!(resolved.record.id.as_str(), "globex");
        assert_eq!(
            resolved.record.isolation,
            Isolation::Schema(SchemaName::new("globex_data").unwrap())
        );
        let by_header = headers(&[("x-org", "initech")]);
        assert_eq!(
            tenancy.resolve(&by_header).await.unwrap_err().code(),
            "TENANT_SUSPENDED"
        );
        let forwarded = headers(&[
            ("host", "internal"),
            ("x-forwarded-host", "acme.graft.example.com"),
        ]);
        assert_eq!(tenancy.resolve(&forwarded).await.unwrap().via, "subdomain");
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let config = parse(
            r#"
            [tenancy]
            resolvers = ["header"]
            [[tenancy.tenants]]
            id = "acme"
            "#,
        )
        .unwrap();
        assert_eq!(config.default_tenant, None);
        assert_eq!(config.tenants[0].status, TenantStatus::Active);
        assert_eq!(config.tenants[0].isolation, IsolationKind::None);
        let tenancy = Tenancy::from_config(&config, fixtures).unwrap();
        match &tenancy.resolvers()[0] {
            Resolver::Header(header) => assert_eq!(header.header().as_str(), "x-tenant-id"),
            other => panic!("{other:?}"),
        }
        let nothing = TenancyConfig::default();
        assert!(nothing.resolvers.is_empty() && nothing.tenants.is_empty());
        assert_eq!(nothing.default_tenant, None);
    }

    #[tokio::test]
    async fn jwt_keys_come_from_secrets_env_pem_or_jwks() {
        let tenants = "[[tenancy.tenants]]\nid = \"acme\"\n";
        let cases = [
            format!(
                "algorithm = \"HS256\"\nsecret = {:?}",
                std::str::from_utf8(SECRET).unwrap()
            ),
            "algorithm = \"HS256\"\nsecret_env = \"GRAFT_JWT_SECRET\"".to_owned(),
            "algorithm = \"ES256\"\npublic_key_pem_file = \"keys/ec.pem\"".to_owned(),
            "algorithm = \"ES256\"\njwks_file = \"keys/jwks.json\"".to_owned(),
            "algorithm = \"RS256\"\njwks_file = \"keys/jwks.json\"".to_owned(),
        ];
        for jwt in cases {
            let toml = format!("[tenancy]\nresolvers = [\"jwt\"]\n[tenancy.jwt]\n{jwt}\n{tenants}");
            let tenancy = build(&toml).unwrap_or_else(|e| panic!("{jwt}: {e}"));
            let Resolver::Jwt(resolver) = &tenancy.resolvers()[0] else {
                panic!("{jwt}");
            };
            let token = match resolver.algorithm() {
                JwtAlgorithm::HS256 => hs256(&claims("acme")),
                JwtAlgorithm::RS256 => rs256(&claims("acme"), Some("rsa-1")),
                JwtAlgorithm::ES256 => es256(&claims("acme"), Some("ec-1")),
            };
            let resolved = tenancy.resolve(&bearer(&token)).await;
            assert_eq!(resolved.unwrap().record.id.as_str(), "acme", "{jwt}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = parse(
            "[tenancy]\nresolvers = [\"jwt\"]\n[tenancy.jwt]\nalgorithm = \"HS256\"\n\
             secret = \"do-not-print-this-secret-0123456789\"\n",
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("do-not-print"), "{debug}");
        assert!(debug.contains("Secret(..)"), "{debug}");
        assert_eq!(
            config.jwt.unwrap().secret.unwrap().expose(),
            "do-not-print-this-secret-0123456789"
        );
    }

    /// Builds `[tenancy]` + `body` with one tenant `acme`, expecting an error containing
    /// `expected`.
    #[track_caller]
    fn fails(body: &str, expected: &str) {
        let toml = format!("[tenancy]\n{body}\n[[tenancy.tenants]]\nid = \"acme\"\n");
        match build(&toml) {
            Ok(_) => panic!("built:\n{toml}"),
            Err(error) => assert!(error.contains(expected), "{error}\n--- for:\n{toml}"),
        }
    }

    #[test]
    fn wrong_configs_say_what_and_where() {
        fails("resolver = [\"jwt\"]", "unknown field `resolver`");
        fails("resolvers = [\"cookie\"]", "unknown variant `cookie`");
        fails(
            "resolvers = [\"header\", \"header\"]",
            "tenancy.resolvers: `header` appears twice",
        );
        fails("resolvers = []", "tenancy.resolvers: no resolvers");
        fails(
            "resolvers = [\"jwt\"]",
            "tenancy.jwt: `jwt` is in tenancy.resolvers",
        );
        fails(
            "resolvers = [\"subdomain\"]",
            "tenancy.subdomain: `subdomain` is in",
        );
        fails(
            "resolvers = [\"header\"]\n[tenancy.jwt]\nalgorithm = \"HS256\"",
            "tenancy.jwt: the section is set but `jwt` is not in tenancy.resolvers",
        );
        fails(
            "resolvers = [\"header\"]\n[tenancy.header]\nname = \"bad name\"",
            "tenancy.header.name: `bad name` is not a valid header name",
        );
        fails(
            "resolvers = [\"subdomain\"]\n[tenancy.subdomain]\nbase_domain = \"\"",
            "tenancy.subdomain.base_domain",
        );
        fails(
            "resolvers = [\"header\"]\n[tenancy.header]\nnmae = \"x\"",
            "unknown field `nmae`",
        );
        fails(
            "resolvers = [\"header\"]\ndefault_tenant = \"nobody\"",
            "`nobody` is not one of",
        );
        fails(
            "resolvers = [\"header\"]\ndefault_tenant = \"bad id\"",
            "tenancy.default_tenant",
        );
    }

    #[test]
    fn wrong_jwt_configs_say_what_and_where() {
        let jwt = |body: &str, expected: &str| {
            fails(
                &format!("resolvers = [\"jwt\"]\n[tenancy.jwt]\n{body}"),
                expected,
            );
        };
        jwt(
            "algorithm = \"RS256\"",
            "tenancy.jwt: RS256 needs exactly one of public_key_pem_file or jwks_file; none is set",
        );
        jwt(
            "algorithm = \"RS256\"\nsecret = \"0123456789abcdef0123456789abcdef\"",
            "tenancy.jwt: RS256 needs exactly one of public_key_pem_file or jwks_file; got secret",
        );
        jwt(
            "algorithm = \"HS256\"\npublic_key_pem_file = \"keys/rsa.pem\"",
            "tenancy.jwt: HS256 needs exactly one of secret or secret_env",
        );
        jwt(
            "algorithm = \"HS256\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n\
             secret_env = \"GRAFT_JWT_SECRET\"",
            "got secret and secret_env",
        );
        jwt(
            "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/rsa.pem\"\n\
             jwks_file = \"keys/jwks.json\"",
            "got public_key_pem_file and jwks_file",
        );
        jwt("algorithm = \"none\"", "unknown variant `none`");
        jwt(
            "algorithm = \"HS256\"\nsecret = \"short\"",
            "tenancy.jwt.secret: an HS256 secret",
        );
        jwt(
            "algorithm = \"HS256\"\nsecret_env = \"UNSET_VARIABLE\"",
            "tenancy.jwt.secret_env: environment variable `UNSET_VARIABLE` is not set",
        );
        jwt(
            "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/missing.pem\"",
            "tenancy.jwt.public_key_pem_file: cannot read keys/missing.pem: no such file",
        );
        jwt(
            "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/rsa-private.pem\"",
            "tenancy.jwt.public_key_pem_file: keys/rsa-private.pem: the PEM holds a private key",
        );
        jwt(
            "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/ec.pem\"",
            "not an RSA public key",
        );
        jwt(
            "algorithm = \"HS256\"\njwks_file = \"keys/jwks.json\"",
            "HS256 needs exactly one of secret or secret_env",
        );
        jwt(
            "algorithm = \"RS256\"\njwks_file = \"keys/rsa.pem\"",
            "tenancy.jwt.jwks_file: keys/rsa.pem: not a JWKS document",
        );
        jwt(
            "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/rsa.pem\"\nleeway_seconds = 86400",
            "tenancy.jwt.leeway_seconds: 86400 is more than 3600",
        );
        jwt(
            "algorithm = \"RS256\"\npublic_key_pem_file = \"keys/rsa.pem\"\nclaim = \"\"",
            "tenancy.jwt.claim",
        );
    }

    #[test]
    fn wrong_tenants_say_what_and_where() {
        let tenants = |body: &str, expected: &str| {
            let toml = format!("[tenancy]\nresolvers = [\"header\"]\n{body}");
            match build(&toml) {
                Ok(_) => panic!("built:\n{toml}"),
                Err(error) => assert!(error.contains(expected), "{error}\n--- for:\n{toml}"),
            }
        };
        tenants(
            "",
            "tenancy.tenants: no tenants: every request would be refused",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"bad id\"",
            "tenancy.tenants[0].id: invalid tenant id",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"a\"\n[[tenancy.tenants]]\nid = \"a\"",
            "tenant `a` appears twice",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"a\"\nisolation = \"schema\"\nschema = \"a.b\"",
            "tenancy.tenants[0].schema: invalid schema name",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"a\"\nisolation = \"rows\"\nschema = \"a\"",
            "tenancy.tenants[0].schema: a schema is set but isolation is not \"schema\"",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"a\"\nisolation = \"schema\"\n\
             [[tenancy.tenants]]\nid = \"b\"\nisolation = \"schema\"\nschema = \"tenant_a\"",
            "tenancy.tenants[1].schema: `tenant_a` is another tenant's schema too",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"a\"\n[[tenancy.tenants]]\nid = \"b\"\nisolation = \"rows\"",
            "tenancy.tenants[0].isolation: \"none\" serves the whole database unscoped",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"a\"\nisolation = \"tables\"",
            "unknown variant `tables`",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"a\"\nstatus = \"gone\"",
            "unknown variant `gone`",
        );
        tenants(
            "[[tenancy.tenants]]\nid = \"a\"\napi_key_sha256 = [\"secret\"]",
            "tenancy.tenants[0].api_key_sha256[0]: an API key hash is",
        );
        // A schema name derived from a 63-character id is too long, and says so.
        let long = "a".repeat(63);
        tenants(
            &format!("[[tenancy.tenants]]\nid = \"{long}\"\nisolation = \"schema\""),
            "tenancy.tenants[0].schema",
        );
    }

    #[test]
    fn a_tenancy_that_would_refuse_every_request_is_refused() {
        let nothing = build("[tenancy]\n").unwrap_err();
        assert!(nothing.contains("tenancy.tenants: no tenants"), "{nothing}");
        let no_default = build("[tenancy]\n[[tenancy.tenants]]\nid = \"acme\"\n").unwrap_err();
        assert!(
            no_default.contains(
                "tenancy.resolvers: no resolvers and no default_tenant: every request would be \
                 refused"
            ),
            "{no_default}"
        );
        let no_tenants = build("[tenancy]\nresolvers = [\"header\"]\ndefault_tenant = \"acme\"\n");
        assert!(
            no_tenants
                .unwrap_err()
                .contains("tenancy.tenants: no tenants")
        );
        let empty = TenancyConfig {
            resolvers: vec![ResolverKind::Header],
            ..TenancyConfig::default()
        };
        let error = Tenancy::from_config(&empty, fixtures).unwrap_err();
        assert!(error.to_string().contains("no tenants"), "{error}");
    }

    #[tokio::test]
    async fn a_default_tenant_without_resolvers_serves_every_request() {
        let tenancy = build(
            "[tenancy]\ndefault_tenant = \"acme\"\n[[tenancy.tenants]]\nid = \"acme\"\n\
             isolation = \"rows\"\n",
        )
        .unwrap();
        assert!(tenancy.resolvers().is_empty());
        let resolved = tenancy.resolve(&headers(&[])).await.unwrap();
        assert_eq!(
            (
                resolved.record.id.as_str(),
                resolved.via,
                resolved.authenticated
            ),
            ("acme", "default", false)
        );
        assert_eq!(resolved.record.isolation, Isolation::Rows);
        // A tenant header is not looked at without a header resolver.
        let named = headers(&[("x-tenant-id", "globex")]);
        assert_eq!(
            tenancy.resolve(&named).await.unwrap().record.id.as_str(),
            "acme"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = parse("[tenancy]\nrequired = false\n").unwrap_err();
        assert!(error.contains("unknown field `required`"), "{error}");
    }
}
