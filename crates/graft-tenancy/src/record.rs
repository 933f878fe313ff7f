//! [`StaticTenants`]: the tenant store held in memory, built from configuration.

use std::collections::HashMap;

use futures_util::future::{self, BoxFuture};
#[cfg(test)]
use graft_resolve::Isolation;
use graft_resolve::{ApiKeyGrant, ApiKeyHash, ResolveError, TenantId, TenantRecord, TenantStore};

use crate::TenancyError;

/// A [`TenantStore`] held in memory, usually built from the `[[tenancy.tenants]]` entries of
/// the configuration.
#[derive(Debug, Clone, Default)]
pub struct StaticTenants {
    tenants: HashMap<TenantId, TenantRecord>,
    /// Each key's tenant, and the scopes it grants (`None`: the default scopes).
    api_keys: HashMap<ApiKeyHash, (TenantId, Option<Vec<String>>)>,
}

/// One API key of a tenant: the hash of the key, and the scopes it grants (`None`: the
/// tenancy's default scopes).
pub type ApiKeyEntry = (ApiKeyHash, Option<Vec<String>>);

impl StaticTenants {
    /// A store of `tenants`, each with its API keys. Fails when two entries have one id, or
    /// two tenants share an API key.
    pub fn new(
        tenants: impl IntoIterator<Item = (TenantRecord, Vec<ApiKeyEntry>)>,
    ) -> Result<StaticTenants, TenancyError> {
        let mut store = StaticTenants::default();
        for (record, keys) in tenants {
            for (key, scopes) in keys {
                if let Some((other, _)) = store.api_keys.insert(key, (record.id.clone(), scopes)) {
                    return Err(TenancyError::Config(format!(
                        "tenancy.tenants: tenants `{other}` and `{}` have the same API key \
                         (sha256 {key})",
                        record.id
                    )));
                }
            }
            if store.tenants.contains_key(&record.id) {
                return Err(TenancyError::Config(format!(
                    "tenancy.tenants: tenant `{}` appears twice",
                    record.id
                )));
            }
            store.tenants.insert(record.id.clone(), record);
        }
        Ok(store)
    }

    /// How many tenants the store holds.
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// Whether the store holds no tenant.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// The tenant with `id`, answered at once.
    pub fn get(&self, id: &TenantId) -> Option<&TenantRecord> {
        self.tenants.get(id)
    }

    /// The tenant an API key with this hash belongs to, and its scopes, answered at once.
    pub fn get_by_api_key(&self, hash: &ApiKeyHash) -> Option<ApiKeyGrant> {
        let (id, scopes) = self.api_keys.get(hash)?;
        Some(ApiKeyGrant {
            tenant: self.tenants.get(id)?.clone(),
            scopes: scopes.clone(),
        })
    }
}

impl TenantStore for StaticTenants {
    fn tenant<'a>(
        &'a self,
        id: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<TenantRecord>, ResolveError>> {
        Box::pin(future::ready(Ok(self.get(id).cloned())))
    }

    fn tenant_by_api_key<'a>(
        &'a self,
        hash: &'a ApiKeyHash,
    ) -> BoxFuture<'a, Result<Option<ApiKeyGrant>, ResolveError>> {
        Box::pin(future::ready(Ok(self.get_by_api_key(hash))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    #[tokio::test]
    async fn static_tenants_answer_by_id_and_by_key() {
        let store = StaticTenants::new([
            (
                TenantRecord::active(id("acme"), Isolation::Rows),
                vec![
                    (ApiKeyHash::of("k1"), None),
                    (ApiKeyHash::of("k2"), Some(vec!["*:read".to_owned()])),
                ],
            ),
            (TenantRecord::active(id("globex"), Isolation::None), vec![]),
        ])
        .unwrap();
        assert_eq!(store.len(), 2);
        let acme = store.tenant(&id("acme")).await.unwrap().unwrap();
        assert_eq!(acme.isolation, Isolation::Rows);
        assert_eq!(store.tenant(&id("nope")).await.unwrap(), None);
        let by_key = store.tenant_by_api_key(&ApiKeyHash::of("k2")).await;
        let by_key = by_key.unwrap().unwrap();
        assert_eq!(by_key.tenant.id, id("acme"));
        assert_eq!(by_key.scopes, Some(vec!["*:read".to_owned()]));
        let unknown = store.tenant_by_api_key(&ApiKeyHash::of("k3")).await;
        assert_eq!(unknown.unwrap(), None);
    }

    #[test]
    fn static_tenants_refuse_duplicates() {
        let acme = TenantRecord::active(id("acme"), Isolation::None);
        let globex = TenantRecord::active(id("globex"), Isolation::None);
        let twice = StaticTenants::new([(acme.clone(), vec![]), (acme.clone(), vec![])]);
        assert!(twice.unwrap_err().to_string().contains("appears twice"));
        let shared = StaticTenants::new([
            (acme, vec![(ApiKeyHash::of("k"), None)]),
            (globex, vec![(ApiKeyHash::of("k"), None)]),
        ]);
        assert!(shared.unwrap_err().to_string().contains("same API key"));
    }
}
