//! [`Tenancy`]: the resolver chain, the store, and the default tenant of requests that name
//! none.

use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderMap;

use graft_resolve::{Permissions, TenantId};

use crate::rejection::{Rejection, RejectionKind};
use crate::resolver::{Claim, Resolver};
use crate::{TenantRecord, TenantStatus, TenantStore};

/// The caller of a request no credential names.
const ANONYMOUS: Cow<'static, str> = Cow::Borrowed("anonymous");

/// The tenant a request is served as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTenant {
    /// The tenant, as the store knows it.
    pub record: TenantRecord,
    /// Which resolver named it (`header`, `jwt`, `api_key`, `subdomain`), or `default` for
    /// the configured default tenant.
    pub via: &'static str,
    /// Whether a credential (a verified token, an API key) named the tenant.
    pub authenticated: bool,
    /// Who is calling, for what is kept per caller (idempotency keys): `jwt:<iss>#<sub>`,
    /// `api_key:<hash>`, or `anonymous` when no credential names the caller (borrowed then:
    /// no allocation for the usual request behind a gateway).
    pub caller: Cow<'static, str>,
    /// What the caller may do: the scopes its token grants, or the tenancy's default scopes
    /// when its credential carries none.
    pub permissions: Permissions,
}

/// Resolves the tenant of each request: runs the resolver chain over the request's headers,
/// looks the named tenant up in the store and checks it may be served.
///
/// The server builds one at start-up ([`Tenancy::from_config`] or [`Tenancy::new`]) and calls
/// [`resolve`](Tenancy::resolve) once per request; a [`Rejection`] becomes the HTTP response.
///
/// A request is always served as a tenant the store knows, or refused: the server requires a
/// tenant, or allows a default one ([`with_default_tenant`](Tenancy::with_default_tenant)).
/// There is no untenanted request.
pub struct Tenancy {
    resolvers: Vec<Resolver>,
    store: Arc<dyn TenantStore>,
    default_tenant: Option<TenantId>,
    default_permissions: Permissions,
}

impl std::fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("resolvers", &self.resolvers)
            .field("default_tenant", &self.default_tenant)
            .finish_non_exhaustive()
    }
}

impl Tenancy {
    /// A tenancy that runs `resolvers` in order and looks tenants up in `store`. It has no
    /// default tenant, so a request that names no tenant is refused, until
    /// [`with_default_tenant`](Tenancy::with_default_tenant) sets one.
    pub fn new(resolvers: Vec<Resolver>, store: Arc<dyn TenantStore>) -> Tenancy {
        Tenancy {
            resolvers,
            store,
            default_tenant: None,
            default_permissions: Permissions::all(),
        }
    }

    /// The same tenancy, serving requests that name no tenant as `tenant` (looked up in the
    /// store like any other); `None` refuses them (401 `TENANT_REQUIRED`).
    pub fn with_default_tenant(self, tenant: Option<TenantId>) -> Tenancy {
        Tenancy {
            default_tenant: tenant,
            ..self
        }
    }

    /// The same tenancy, granting `permissions` to callers whose credential names no scopes
    /// (a tenant named by a header or a host, the default tenant, an API key, a token
    /// without a scope claim). Everything unless set.
    pub fn with_default_permissions(self, permissions: Permissions) -> Tenancy {
        Tenancy {
            default_permissions: permissions,
            ..self
        }
    }

    /// The resolvers, in chain order.
    pub fn resolvers(&self) -> &[Resolver] {
        &self.resolvers
    }

    /// The store tenants are looked up in.
    pub fn store(&self) -> &Arc<dyn TenantStore> {
        &self.store
    }

    /// The tenant the request with `headers` is served as.
    ///
    /// The resolvers run in order: the first that names a tenant wins, and the first that
    /// finds bad input stops the chain with its rejection. When a credential wins (a JWT, an
    /// API key), every `header` and `subdomain` resolver of the chain is asked too, and one
    /// that names another tenant refuses the request (403 `TENANT_NOT_GRANTED`): the
    /// credential does not grant that tenant. When nothing names a tenant, the default tenant
    /// is served if there is one, and the request is refused (401 `TENANT_REQUIRED`)
    /// otherwise.
    ///
    /// The tenant, named or default, is then looked up in the store: an unknown tenant is
    /// refused exactly as a bad credential is (401 `UNAUTHENTICATED`), so tenants cannot be
    /// enumerated; a suspended one gets 403 `TENANT_SUSPENDED`; a store failure 503
    /// `TENANT_STORE_UNAVAILABLE`.
    pub async fn resolve(&self, headers: &HeaderMap) -> Result<ResolvedTenant, Rejection> {
        let mut winner = None;
        for (index, resolver) in self.resolvers.iter().enumerate() {
            if let Some(claim) = resolver.resolve(headers)? {
                winner = Some((index, resolver.name(), claim));
                break;
            }
        }
        let Some((index, via, claim)) = winner else {
            return self.unnamed().await;
        };
        let authenticated = claim.is_authenticated();
        let mut key_scopes = None;
        let looked_up = match &claim {
            Claim::Named(id) | Claim::Verified(id, _) => self.store.tenant(id).await,
            Claim::ApiKey(hash) => self.store.tenant_by_api_key(hash).await.map(|grant| {
                grant.map(|grant| {
                    key_scopes = grant.scopes;
                    grant.tenant
                })
            }),
        };
        let record = match looked_up {
            Ok(Some(record)) => record,
            Ok(None) => {
                let what = match &claim {
                    Claim::Named(id) | Claim::Verified(id, _) => format!("tenant `{id}`"),
                    Claim::ApiKey(_) => "the API key".to_owned(),
                };
                return Err(Rejection::new(
                    RejectionKind::Unauthenticated,
                    format!("{via}: the store does not know {what}"),
                ));
            }
            Err(e) => {
                return Err(Rejection::new(
                    RejectionKind::StoreUnavailable,
                    format!("{via}: {e}"),
                ));
            }
        };
        if authenticated {
            self.check_unauthenticated_agree(index, via, &record.id, headers)?;
        }
        let (caller, permissions) = match claim {
            Claim::Named(_) => (ANONYMOUS, self.default_permissions.clone()),
            Claim::Verified(_, credential) => (
                match (credential.issuer, credential.subject) {
                    (Some(issuer), Some(subject)) => format!("jwt:{issuer}#{subject}").into(),
                    (None, Some(subject)) => format!("jwt:{subject}").into(),
                    (_, None) => Cow::Borrowed("jwt"),
                },
                self.permissions(credential.scopes),
            ),
            Claim::ApiKey(hash) => (
                format!("api_key:{hash}").into(),
                self.permissions(key_scopes),
            ),
        };
        served(record, via, authenticated).map(|tenant| ResolvedTenant {
            caller,
            permissions,
            ..tenant
        })
    }

    /// What a credential's scopes grant: its grants when it names any (`Type:action`, `*`);
    /// the default scopes when it names none, or only scopes of something else (`openid`,
    /// `email`), as most identity providers' tokens do.
    fn permissions(&self, scopes: Option<Vec<String>>) -> Permissions {
        match scopes {
            Some(scopes) if scopes.iter().any(|scope| Permissions::is_grant(scope)) => {
                Permissions::from_scopes(scopes.iter().map(String::as_str))
            }
            _ => self.default_permissions.clone(),
        }
    }

    /// What a request that names no tenant gets.
    async fn unnamed(&self) -> Result<ResolvedTenant, Rejection> {
        let Some(id) = &self.default_tenant else {
            return Err(Rejection::new(
                RejectionKind::TenantRequired,
                "no resolver found a tenant in the request and there is no default tenant",
            ));
        };
        match self.store.tenant(id).await {
            Ok(Some(record)) => served(record, "default", false).map(|tenant| ResolvedTenant {
                permissions: self.default_permissions.clone(),
                ..tenant
            }),
            Ok(None) => Err(Rejection::new(
                RejectionKind::Unauthenticated,
                format!("default: the store does not know the default tenant `{id}`"),
            )),
            Err(e) => Err(Rejection::new(
                RejectionKind::StoreUnavailable,
                format!("default: {e}"),
            )),
        }
    }

    /// Refuses the request when an unauthenticated resolver other than the winner (at
    /// `winner`) names a tenant other than `granted`.
    fn check_unauthenticated_agree(
        &self,
        winner: usize,
        via: &'static str,
        granted: &TenantId,
        headers: &HeaderMap,
    ) -> Result<(), Rejection> {
        for (index, resolver) in self.resolvers.iter().enumerate() {
            if index == winner || !matches!(resolver, Resolver::Header(_) | Resolver::Subdomain(_))
            {
                continue;
            }
            if let Some(Claim::Named(named)) = resolver.resolve(headers)?
                && named != *granted
            {
                return Err(Rejection::new(
                    RejectionKind::TenantNotGranted,
                    format!(
                        "{}: names tenant `{named}` but the {via} credential grants `{granted}`",
                        resolver.name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `record` as the tenant of a request, unless it is suspended.
fn served(
    record: TenantRecord,
    via: &'static str,
    authenticated: bool,
) -> Result<ResolvedTenant, Rejection> {
    match record.status {
        TenantStatus::Active => Ok(ResolvedTenant {
            record,
            via,
            authenticated,
            caller: ANONYMOUS,
            permissions: Permissions::all(),
        }),
        TenantStatus::Suspended => Err(Rejection::new(
            RejectionKind::TenantSuspended,
            format!("{via}: tenant `{}` is suspended", record.id),
        )),
    }
}

#[cfg(test)]
mod tests {
    use futures_util::future::BoxFuture;
    use graft_resolve::{Isolation, SchemaName};

    use super::*;
    use crate::test_support::*;
    use crate::{
        ApiKeyHash, ApiKeyResolver, HeaderResolver, JwtResolver, StaticTenants, SubdomainResolver,
    };

    fn id(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    /// `acme` (own schema), `globex` (shared rows, API key `globex-key`), `initech`
    /// (suspended).
    fn store() -> Arc<dyn TenantStore> {
        let schema = Isolation::Schema(SchemaName::new("tenant_acme").unwrap());
        let mut initech = TenantRecord::active(id("initech"), Isolation::Rows);
        initech.status = TenantStatus::Suspended;
        Arc::new(
            StaticTenants::new([
                (TenantRecord::active(id("acme"), schema), vec![]),
                (
                    TenantRecord::active(id("globex"), Isolation::Rows),
                    vec![
                        (ApiKeyHash::of("globex-key"), None),
                        (
                            ApiKeyHash::of("globex-reader"),
                            Some(vec!["*:read".to_owned()]),
                        ),
                    ],
                ),
                (initech, vec![(ApiKeyHash::of("initech-key"), None)]),
            ])
            .unwrap(),
        )
    }

    fn jwt() -> Resolver {
        JwtResolver::hs256(SECRET).unwrap().into()
    }

    fn header() -> Resolver {
        HeaderResolver::default().into()
    }

    fn api_key() -> Resolver {
        ApiKeyResolver::default().into()
    }

    fn subdomain() -> Resolver {
        SubdomainResolver::new("graft.example.com").unwrap().into()
    }

    fn tenancy(resolvers: Vec<Resolver>) -> Tenancy {
        Tenancy::new(resolvers, store())
    }

    /// The tenant `tenancy` resolves for `headers`, and by which resolver.
    async fn served(tenancy: &Tenancy, headers: &HeaderMap) -> (String, &'static str) {
        let resolved = tenancy.resolve(headers).await.expect("served");
        (resolved.record.id.to_string(), resolved.via)
    }

    async fn refused(tenancy: &Tenancy, headers: &HeaderMap) -> Rejection {
        tenancy.resolve(headers).await.expect_err("refused")
    }

    /// What the client sees of a rejection.
    fn client_view(r: &Rejection) -> (u16, &'static str, &'static str) {
        (r.status().as_u16(), r.code(), r.message())
    }

    #[tokio::test]
    async fn each_resolver_serves_its_tenant() {
        let all = tenancy(vec![jwt(), api_key(), header(), subdomain()]);
        let token = hs256(&claims("acme"));
        let resolved = all.resolve(&bearer(&token)).await.unwrap();
        assert_eq!((resolved.record.id.as_str(), resolved.via), ("acme", "jwt"));
        assert!(resolved.authenticated);
        assert_eq!(resolved.caller, "jwt:user-1");
        assert_eq!(
            resolved.record.isolation,
            Isolation::Schema(SchemaName::new("tenant_acme").unwrap())
        );
        let by_key = all
            .resolve(&headers(&[("x-api-key", "globex-key")]))
            .await
            .unwrap();
        assert_eq!(
            (by_key.record.id.as_str(), by_key.via),
            ("globex", "api_key")
        );
        assert!(by_key.authenticated);
        assert!(
            by_key.permissions.is_all(),
            "a key without scopes: the default"
        );
        assert_eq!(
            by_key.caller,
            format!("api_key:{}", ApiKeyHash::of("globex-key"))
        );
        let reader = all
            .resolve(&headers(&[("x-api-key", "globex-reader")]))
            .await
            .unwrap();
        assert!(
            reader
                .permissions
                .allows("Order", graft_resolve::Action::Read)
        );
        assert!(
            !reader
                .permissions
                .allows("Order", graft_resolve::Action::Create)
        );
        let by_header = all
            .resolve(&headers(&[("x-tenant-id", "acme")]))
            .await
            .unwrap();
        assert_eq!(
            (by_header.record.id.as_str(), by_header.via),
            ("acme", "header")
        );
        assert!(!by_header.authenticated);
        let host = headers(&[("host", "globex.graft.example.com:8443")]);
        assert_eq!(
            served(&all, &host).await,
            ("globex".to_owned(), "subdomain")
        );
    }

    #[tokio::test]
    async fn the_first_resolver_that_answers_wins() {
        let request = headers(&[
            ("x-tenant-id", "acme"),
            ("host", "globex.graft.example.com"),
        ]);
        let header_first = tenancy(vec![header(), subdomain()]);
        assert_eq!(
            served(&header_first, &request).await,
            ("acme".to_owned(), "header")
        );
        let host_first = tenancy(vec![subdomain(), header()]);
        assert_eq!(
            served(&host_first, &request).await,
            ("globex".to_owned(), "subdomain")
        );
        // An absent input passes to the next resolver.
        let jwt_first = tenancy(vec![jwt(), header()]);
        let only_header = headers(&[("x-tenant-id", "acme")]);
        assert_eq!(
            served(&jwt_first, &only_header).await,
            ("acme".to_owned(), "header")
        );
    }

    #[tokio::test]
    async fn a_rejection_stops_the_chain() {
        let chain = tenancy(vec![jwt(), header()]);
        let mut request = bearer(&hs256_with_secret(
            &claims("acme"),
            b"forged forged forged forged!!",
        ));
        request.insert("x-tenant-id", "acme".parse().unwrap());
        let rejection = refused(&chain, &request).await;
        assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);
        assert!(
            rejection.reason().starts_with("jwt: InvalidSignature"),
            "{rejection}"
        );
    }

    #[tokio::test]
    async fn requests_naming_no_tenant() {
        let nothing = headers(&[("user-agent", "test")]);
        let required = tenancy(vec![jwt(), header()]);
        let rejection = refused(&required, &nothing).await;
        assert_eq!(
            client_view(&rejection),
            (
                401,
                "TENANT_REQUIRED",
                "no credentials in the request name a tenant"
            )
        );

        let defaulted = tenancy(vec![jwt(), header()]).with_default_tenant(Some(id("globex")));
        let resolved = defaulted.resolve(&nothing).await.unwrap();
        assert_eq!(
            (resolved.record.id.as_str(), resolved.via),
            ("globex", "default")
        );
        assert!(!resolved.authenticated);
        // The default only applies when nothing names a tenant.
        let named = headers(&[("x-tenant-id", "acme")]);
        assert_eq!(
            served(&defaulted, &named).await,
            ("acme".to_owned(), "header")
        );
        // A default that is suspended is refused like any suspended tenant.
        let suspended = tenancy(vec![]).with_default_tenant(Some(id("initech")));
        assert_eq!(
            refused(&suspended, &nothing).await.code(),
            "TENANT_SUSPENDED"
        );
        let unknown = tenancy(vec![]).with_default_tenant(Some(id("nobody")));
        assert_eq!(refused(&unknown, &nothing).await.code(), "UNAUTHENTICATED");
        // A default tenant still checks what is sent.
        let bad = headers(&[("x-tenant-id", "bad id")]);
        assert_eq!(refused(&defaulted, &bad).await.code(), "UNAUTHENTICATED");
        // Taking the default away refuses again.
        let undefaulted = defaulted.with_default_tenant(None);
        assert_eq!(
            refused(&undefaulted, &nothing).await.code(),
            "TENANT_REQUIRED"
        );
    }

    #[tokio::test]
    async fn unknown_tenants_look_exactly_like_bad_credentials() {
        let chain = tenancy(vec![jwt(), api_key(), header()]);
        let requests = [
            (
                "unknown tenant by header",
                headers(&[("x-tenant-id", "nobody")]),
            ),
            ("unknown tenant by jwt", bearer(&hs256(&claims("nobody")))),
            ("unknown api key", headers(&[("x-api-key", "no-such-key")])),
            ("forged jwt", bearer(&rs256(&claims("acme"), None))),
            ("expired jwt", bearer(&hs256(&json_expired("acme")))),
            ("malformed jwt", bearer("a.b.c")),
            (
                "bad header",
                headers(&[("x-tenant-id", "acme'; DROP TABLE t; --")]),
            ),
            ("unicode header", headers(&[("x-tenant-id", "ünïcödé")])),
            ("empty api key", headers(&[("x-api-key", "")])),
        ];
        let mut reasons = Vec::new();
        for (what, request) in &requests {
            let rejection = refused(&chain, request).await;
            assert_eq!(
                client_view(&rejection),
                (
                    401,
                    "UNAUTHENTICATED",
                    "the request's credentials do not name a tenant this server serves"
                ),
                "{what}"
            );
            reasons.push(rejection.reason().to_owned());
        }
        // The log still tells them apart.
        reasons.sort();
        reasons.dedup();
        assert_eq!(reasons.len(), requests.len(), "{reasons:#?}");
    }

    fn json_expired(tenant: &str) -> serde_json::Value {
        serde_json::json!({ "tenant_id": tenant, "exp": now() - 3600 })
    }

    #[tokio::test]
    async fn suspended_tenants_are_forbidden() {
        let chain = tenancy(vec![jwt(), api_key(), header()]);
        for request in [
            bearer(&hs256(&claims("initech"))),
            headers(&[("x-api-key", "initech-key")]),
            headers(&[("x-tenant-id", "initech")]),
        ] {
            let rejection = refused(&chain, &request).await;
            assert_eq!(
                client_view(&rejection),
                (403, "TENANT_SUSPENDED", "the tenant is suspended")
            );
            assert!(rejection.reason().contains("initech"), "{rejection}");
        }
    }

    #[tokio::test]
    async fn a_credential_must_grant_the_tenant_the_request_names() {
        let chain = tenancy(vec![jwt(), api_key(), header(), subdomain()]);
        let mut request = bearer(&hs256(&claims("acme")));
        request.insert("x-tenant-id", "globex".parse().unwrap());
        let rejection = refused(&chain, &request).await;
        assert_eq!(rejection.status().as_u16(), 403);
        assert_eq!(rejection.code(), "TENANT_NOT_GRANTED");
        assert!(rejection.reason().contains("globex"), "{rejection}");

        // Naming the granted tenant again is fine.
        request.insert("x-tenant-id", "acme".parse().unwrap());
        assert_eq!(served(&chain, &request).await, ("acme".to_owned(), "jwt"));

        let mut by_key = headers(&[("x-api-key", "globex-key"), ("x-tenant-id", "acme")]);
        assert_eq!(refused(&chain, &by_key).await.code(), "TENANT_NOT_GRANTED");
        by_key.insert("x-tenant-id", "globex".parse().unwrap());
        assert_eq!(
            served(&chain, &by_key).await,
            ("globex".to_owned(), "api_key")
        );

        let mut host = bearer(&hs256(&claims("acme")));
        host.insert("host", "globex.graft.example.com".parse().unwrap());
        assert_eq!(refused(&chain, &host).await.code(), "TENANT_NOT_GRANTED");

        // A bad tenant header next to a good credential is still bad input.
        let mut bad = bearer(&hs256(&claims("acme")));
        bad.insert("x-tenant-id", "bad id".parse().unwrap());
        assert_eq!(refused(&chain, &bad).await.code(), "UNAUTHENTICATED");

        // Without a header resolver in the chain, the header is not looked at.
        let no_header = tenancy(vec![jwt()]);
        assert_eq!(
            served(&no_header, &request).await,
            ("acme".to_owned(), "jwt")
        );
    }

    /// A store that always fails.
    struct DownStore;

    impl TenantStore for DownStore {
        fn tenant<'a>(
            &'a self,
            _: &'a TenantId,
        ) -> BoxFuture<'a, Result<Option<TenantRecord>, graft_resolve::ResolveError>> {
            Box::pin(async {
                Err(graft_resolve::ResolveError::TenantStore(
                    "connection refused".to_owned(),
                ))
            })
        }

        fn tenant_by_api_key<'a>(
            &'a self,
            _: &'a ApiKeyHash,
        ) -> BoxFuture<'a, Result<Option<graft_resolve::ApiKeyGrant>, graft_resolve::ResolveError>>
        {
            Box::pin(async {
                Err(graft_resolve::ResolveError::TenantStore(
                    "connection refused".to_owned(),
                ))
            })
        }
    }

    #[tokio::test]
    async fn store_failures_are_unavailable() {
        let down = Tenancy::new(vec![jwt(), api_key()], Arc::new(DownStore));
        for request in [
            bearer(&hs256(&claims("acme"))),
            headers(&[("x-api-key", "k")]),
        ] {
            let rejection = refused(&down, &request).await;
            assert_eq!(rejection.status().as_u16(), 503);
            assert_eq!(rejection.code(), "TENANT_STORE_UNAVAILABLE");
            assert!(
                rejection.reason().contains("connection refused"),
                "{rejection}"
            );
            assert!(!rejection.message().contains("connection refused"));
        }
        let defaulted =
            Tenancy::new(vec![], Arc::new(DownStore)).with_default_tenant(Some(id("acme")));
        let rejection = refused(&defaulted, &headers(&[])).await;
        assert_eq!(rejection.code(), "TENANT_STORE_UNAVAILABLE");
    }

    #[test]
    fn resolving_can_run_on_any_thread() {
        fn send<T: Send>(_: &T) {}
        let tenancy = tenancy(vec![jwt()]);
        let request = headers(&[]);
        send(&tenancy.resolve(&request));
        fn shared<T: Send + Sync>() {}
        shared::<Tenancy>();
    }
}
