//! The resolvers: each reads one kind of input from a request's headers and says which tenant
//! it names, if any.

use http::header::{AsHeaderName, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};

use graft_resolve::TenantId;

use crate::jwt::JwtResolver;
use crate::rejection::{Rejection, RejectionKind, excerpt};
use crate::{ApiKeyHash, TenancyError};

/// What a resolver found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A tenant id named by input anyone can send (a header, the host name). Only as
    /// trustworthy as whatever sets that input (a gateway in front of the server).
    Named(TenantId),
    /// A tenant id taken from a verified credential (a signed token), with who it names and
    /// what it grants.
    Verified(TenantId, Credential),
    /// An API key, by hash: the store says which tenant it belongs to.
    ApiKey(ApiKeyHash),
}

/// What a verified token says of its bearer, besides the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credential {
    /// The token's subject (`sub`), if it has one.
    pub subject: Option<String>,
    /// The token's issuer (`iss`), if it has one: subjects are unique per issuer.
    pub issuer: Option<String>,
    /// The scopes it grants (`scope`, space-separated, or `scp`, a list), if it names any.
    pub scopes: Option<Vec<String>>,
}

impl Claim {
    /// Whether the claim comes from a credential ([`Claim::Verified`], [`Claim::ApiKey`]).
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Claim::Named(_))
    }
}

/// One link of the resolver chain. Each variant reads its own input and answers:
///
/// - `Ok(None)` when its input is absent from the request;
/// - `Ok(Some(claim))` when its input names a tenant;
/// - `Err(rejection)` when its input is present but bad (malformed, forged, expired).
///
/// Resolving is synchronous and does no I/O: an [`ApiKey`](Resolver::ApiKey) claim is looked
/// up in the store afterwards, by [`Tenancy`](crate::Tenancy).
#[derive(Debug)]
pub enum Resolver {
    /// A header holding the tenant id.
    Header(HeaderResolver),
    /// A bearer JWT whose claim holds the tenant id (boxed: it is much larger than the
    /// others).
    Jwt(Box<JwtResolver>),
    /// A header holding an API key.
    ApiKey(ApiKeyResolver),
    /// The first label of the request's host name.
    Subdomain(SubdomainResolver),
}

impl Resolver {
    /// The resolver's name, as `tenancy.resolvers` spells it: `header`, `jwt`, `api_key` or
    /// `subdomain`.
    pub fn name(&self) -> &'static str {
        match self {
            Resolver::Header(_) => "header",
            Resolver::Jwt(_) => "jwt",
            Resolver::ApiKey(_) => "api_key",
            Resolver::Subdomain(_) => "subdomain",
        }
    }

    /// What the request's `headers` name, by this resolver's input.
    pub fn resolve(&self, headers: &HeaderMap) -> Result<Option<Claim>, Rejection> {
        match self {
            Resolver::Header(r) => r.resolve(headers),
            Resolver::Jwt(r) => r.resolve(headers),
            Resolver::ApiKey(r) => r.resolve(headers),
            Resolver::Subdomain(r) => r.resolve(headers),
        }
    }
}

impl From<HeaderResolver> for Resolver {
    fn from(r: HeaderResolver) -> Resolver {
        Resolver::Header(r)
    }
}

impl From<JwtResolver> for Resolver {
    fn from(r: JwtResolver) -> Resolver {
        Resolver::Jwt(Box::new(r))
    }
}

impl From<ApiKeyResolver> for Resolver {
    fn from(r: ApiKeyResolver) -> Resolver {
        Resolver::ApiKey(r)
    }
}

impl From<SubdomainResolver> for Resolver {
    fn from(r: SubdomainResolver) -> Resolver {
        Resolver::Subdomain(r)
    }
}

/// A 401 `UNAUTHENTICATED` rejection with `reason` for the log.
pub(crate) fn unauthenticated(reason: String) -> Rejection {
    Rejection::new(RejectionKind::Unauthenticated, reason)
}

/// The one value of header `name`, `None` when it is absent; a rejection when the request
/// repeats it, since two values would leave the tenant ambiguous.
fn single_value<'h>(
    resolver: &str,
    headers: &'h HeaderMap,
    name: impl AsHeaderName + Copy + std::fmt::Display,
) -> Result<Option<&'h HeaderValue>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if first.is_some() && values.next().is_some() {
        return Err(unauthenticated(format!(
            "{resolver}: the request has more than one `{name}` header"
        )));
    }
    Ok(first)
}

/// Parses a header name given in configuration.
fn header_name(name: &str) -> Result<HeaderName, TenancyError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| TenancyError::Config(format!("`{name}` is not a valid header name")))
}

/// Reads the tenant id from a header (by default `x-tenant-id`). An unauthenticated claim: put
/// it in the chain only when a trusted gateway sets the header, or when any caller may pick
/// any tenant.
#[derive(Debug, Clone)]
pub struct HeaderResolver {
    name: HeaderName,
}

impl HeaderResolver {
    /// The header a tenant id is read from unless configured otherwise.
    pub const DEFAULT_HEADER: &'static str = "x-tenant-id";

    /// Reads header `name`. Fails when `name` is not a valid header name.
    pub fn new(name: &str) -> Result<HeaderResolver, TenancyError> {
        Ok(HeaderResolver {
            name: header_name(name)?,
        })
    }

    /// The header read.
    pub fn header(&self) -> &HeaderName {
        &self.name
    }

    /// The tenant id the header holds: a rejection when it is not a valid [`TenantId`].
    pub fn resolve(&self, headers: &HeaderMap) -> Result<Option<Claim>, Rejection> {
        let Some(value) = single_value("header", headers, &self.name)? else {
            return Ok(None);
        };
        let id = std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|text| TenantId::new(text).ok());
        match id {
            Some(id) => Ok(Some(Claim::Named(id))),
            None => Err(unauthenticated(format!(
                "header: `{}` is not a tenant id: {}",
                self.name,
                excerpt(value.as_bytes())
            ))),
        }
    }
}

impl Default for HeaderResolver {
    fn default() -> HeaderResolver {
        HeaderResolver {
            name: HeaderName::from_static(HeaderResolver::DEFAULT_HEADER),
        }
    }
}

/// Reads an API key from a header (by default `x-api-key`) and claims it by its hash; the
/// store then says which tenant the key belongs to. An authenticated claim.
#[derive(Debug, Clone)]
pub struct ApiKeyResolver {
    name: HeaderName,
}

impl ApiKeyResolver {
    /// The header an API key is read from unless configured otherwise.
    pub const DEFAULT_HEADER: &'static str = "x-api-key";

    /// The longest API key accepted, in bytes; longer values are refused without hashing.
    pub const MAX_KEY_BYTES: usize = 1024;

    /// Reads header `name`. Fails when `name` is not a valid header name.
    pub fn new(name: &str) -> Result<ApiKeyResolver, TenancyError> {
        Ok(ApiKeyResolver {
            name: header_name(name)?,
        })
    }

    /// The header read.
    pub fn header(&self) -> &HeaderName {
        &self.name
    }

    /// The hash of the API key the header holds: a rejection when it is empty or too long.
    pub fn resolve(&self, headers: &HeaderMap) -> Result<Option<Claim>, Rejection> {
        let Some(value) = single_value("api_key", headers, &self.name)? else {
            return Ok(None);
        };
        let key = value.as_bytes();
        if key.is_empty() || key.len() > ApiKeyResolver::MAX_KEY_BYTES {
            return Err(unauthenticated(format!(
                "api_key: `{}` holds {} bytes; a key has 1 to {}",
                self.name,
                key.len(),
                ApiKeyResolver::MAX_KEY_BYTES
            )));
        }
        Ok(Some(Claim::ApiKey(ApiKeyHash::of_bytes(key))))
    }
}

impl Default for ApiKeyResolver {
    fn default() -> ApiKeyResolver {
        ApiKeyResolver {
            name: HeaderName::from_static(ApiKeyResolver::DEFAULT_HEADER),
        }
    }
}

/// Reads the tenant id from the first label of the host name under a base domain: with base
/// `graft.example.com`, `Host: acme.graft.example.com:8443` names `acme`. Host names are
/// case-insensitive, so the label is lowercased: tenants reached this way need lowercase ids.
/// An unauthenticated claim.
///
/// The host is the `Host` header; `X-Forwarded-Host` replaces it only when the resolver trusts
/// it (set only behind a proxy that overwrites or appends that header), and then its last
/// entry, the one the nearest proxy wrote, counts. A host equal to the base domain, not under
/// it, or an IP address is absent input; a host with more than one label under the base
/// domain, or a label that is not a tenant id, is bad input.
#[derive(Debug, Clone)]
pub struct SubdomainResolver {
    /// Lowercase, without a trailing dot.
    base_domain: Box<str>,
    trust_forwarded_host: bool,
}

impl SubdomainResolver {
    /// Resolves hosts under `base_domain` (e.g. `graft.example.com`), from `Host` only.
    /// Fails when `base_domain` is not a DNS name.
    pub fn new(base_domain: &str) -> Result<SubdomainResolver, TenancyError> {
        let base = base_domain.strip_suffix('.').unwrap_or(base_domain);
        let valid = !base.is_empty()
            && base.len() <= 253
            && base.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(TenancyError::Config(format!(
                "`{}` is not a domain name (e.g. graft.example.com)",
                base_domain.chars().take(80).collect::<String>()
            )));
        }
        Ok(SubdomainResolver {
            base_domain: base.to_ascii_lowercase().into(),
            trust_forwarded_host: false,
        })
    }

    /// The same resolver, reading `X-Forwarded-Host` before `Host` when `trust` is true.
    pub fn trusting_forwarded_host(self, trust: bool) -> SubdomainResolver {
        SubdomainResolver {
            trust_forwarded_host: trust,
            ..self
        }
    }

    /// The tenant id the host names.
    pub fn resolve(&self, headers: &HeaderMap) -> Result<Option<Claim>, Rejection> {
        let Some(host) = self.host(headers)? else {
            return Ok(None);
        };
        let Ok(host) = std::str::from_utf8(host) else {
            return Err(unauthenticated(format!(
                "subdomain: the host is not ASCII: {}",
                excerpt(host)
            )));
        };
        let host = host.trim();
        // An IPv6 literal (`[::1]:8080`) is no name under the base domain.
        if host.starts_with('[') {
            return Ok(None);
        }
        let name = host.split_once(':').map_or(host, |(name, _port)| name);
        let name = name.strip_suffix('.').unwrap_or(name);
        let base = &*self.base_domain;
        let label = match name.len().checked_sub(base.len() + 1) {
            Some(cut)
                if name.is_char_boundary(cut)
                    && name.as_bytes()[cut] == b'.'
                    && name[cut + 1..].eq_ignore_ascii_case(base) =>
            {
                &name[..cut]
            }
            _ => return Ok(None),
        };
        match TenantId::new(&label.to_ascii_lowercase()) {
            Ok(id) => Ok(Some(Claim::Named(id))),
            Err(_) => Err(unauthenticated(format!(
                "subdomain: {} under {base} is not a tenant id",
                excerpt(label.as_bytes())
            ))),
        }
    }

    /// The host the request was sent to, as its headers say.
    fn host<'h>(&self, headers: &'h HeaderMap) -> Result<Option<&'h [u8]>, Rejection> {
        if self.trust_forwarded_host {
            let forwarded = headers.get_all("x-forwarded-host").iter().next_back();
            if let Some(value) = forwarded {
                let bytes = value.as_bytes();
                let last = match bytes.iter().rposition(|&b| b == b',') {
                    Some(comma) => &bytes[comma + 1..],
                    None => bytes,
                };
                return Ok(Some(last));
            }
        }
        Ok(single_value("subdomain", headers, &HOST)?.map(HeaderValue::as_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn named(id: &str) -> Option<Claim> {
        Some(Claim::Named(TenantId::new(id).unwrap()))
    }

    #[test]
    fn header_names_a_tenant_or_is_absent() {
        let r = HeaderResolver::default();
        assert_eq!(r.header().as_str(), "x-tenant-id");
        assert_eq!(
            r.resolve(&headers(&[("x-tenant-id", b"acme")])),
            Ok(named("acme"))
        );
        assert_eq!(r.resolve(&headers(&[("x-other", b"acme")])), Ok(None));
        let custom = HeaderResolver::new("X-Org").unwrap();
        assert_eq!(
            custom.resolve(&headers(&[("x-org", b"acme-2")])),
            Ok(named("acme-2"))
        );
        assert!(HeaderResolver::new("bad header").is_err());
    }

    #[test]
    fn bad_header_values_are_rejected_without_echo() {
        let r = HeaderResolver::default();
        let huge = vec![b'a'; 1 << 20];
        let bad: [&[u8]; 8] = [
            b"acme'; DROP TABLE tenants; --",
            "ünïcödé".as_bytes(),
            &huge,
            b"",
            b" acme",
            b"-acme",
            b"acme\"",
            &[0xff, 0xfe],
        ];
        for value in bad {
            let rejection = r
                .resolve(&headers(&[("x-tenant-id", value)]))
                .expect_err("rejected");
            assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);
            assert!(rejection.reason().starts_with("header: "));
            assert!(rejection.reason().len() < 200, "{}", rejection.reason());
            assert!(!rejection.message().contains("DROP"));
        }
        let twice = headers(&[("x-tenant-id", b"acme"), ("x-tenant-id", b"globex")]);
        assert!(
            r.resolve(&twice)
                .unwrap_err()
                .reason()
                .contains("more than one")
        );
    }

    #[test]
    fn api_keys_are_claimed_by_hash() {
        let r = ApiKeyResolver::default();
        assert_eq!(
            r.resolve(&headers(&[("x-api-key", b"k-123")])),
            Ok(Some(Claim::ApiKey(ApiKeyHash::of("k-123"))))
        );
        assert_eq!(r.resolve(&headers(&[])), Ok(None));
        assert!(r.resolve(&headers(&[("x-api-key", b"")])).is_err());
        let huge = vec![b'k'; 4096];
        assert!(r.resolve(&headers(&[("x-api-key", &huge)])).is_err());
        assert!(Claim::ApiKey(ApiKeyHash::of("k")).is_authenticated());
        assert!(!named("acme").unwrap().is_authenticated());
    }

    #[test]
    fn subdomains_name_tenants_under_the_base_domain() {
        let r = SubdomainResolver::new("Graft.Example.com.").unwrap();
        let host = |h: &str| r.resolve(&headers(&[("host", h.as_bytes())]));
        assert_eq!(host("acme.graft.example.com"), Ok(named("acme")));
        assert_eq!(host("acme.graft.example.com:8443"), Ok(named("acme")));
        assert_eq!(host("ACME.Graft.EXAMPLE.com"), Ok(named("acme")));
        assert_eq!(host("acme.graft.example.com."), Ok(named("acme")));
        assert_eq!(host("graft.example.com"), Ok(None));
        assert_eq!(host("graft.example.com:80"), Ok(None));
        assert_eq!(host("acme.example.com"), Ok(None));
        assert_eq!(host("acmegraft.example.com"), Ok(None));
        assert_eq!(host("example.com"), Ok(None));
        assert_eq!(host("[::1]:8080"), Ok(None));
        assert_eq!(host("10.0.0.1"), Ok(None));
        assert_eq!(r.resolve(&headers(&[])), Ok(None));
        for bad in [
            "a.b.graft.example.com",
            ".graft.example.com",
            "-x.graft.example.com",
            "a_b!.graft.example.com",
        ] {
            assert!(host(bad).is_err(), "{bad}");
        }
        let unicode = headers(&[("host", "ü.graft.example.com".as_bytes())]);
        assert!(r.resolve(&unicode).is_err());
        for bad in ["", "a..b", "a b.com", "ex_ample.com"] {
            assert!(SubdomainResolver::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forwarded_host_counts_only_when_trusted() {
        let request = headers(&[
            ("host", b"internal.graft.example.com"),
            (
                "x-forwarded-host",
                b"evil.graft.example.com, acme.graft.example.com",
            ),
        ]);
        let untrusting = SubdomainResolver::new("graft.example.com").unwrap();
        assert_eq!(untrusting.resolve(&request), Ok(named("internal")));
        let trusting = untrusting.trusting_forwarded_host(true);
        assert_eq!(trusting.resolve(&request), Ok(named("acme")));
        let host_only = headers(&[("host", b"globex.graft.example.com")]);
        assert_eq!(trusting.resolve(&host_only), Ok(named("globex")));
    }
}
