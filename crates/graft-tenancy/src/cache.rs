//! [`CachedStore`]: a bounded, expiring cache in front of a tenant store that does I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use graft_resolve::{ApiKeyGrant, ApiKeyHash, ResolveError, TenantId, TenantRecord, TenantStore};

/// What the cache holds for one lookup: the answer (`None`: no such tenant or key; a lookup
/// by id has no scopes) and when it was fetched.
type Entry = (Instant, Option<ApiKeyGrant>);

/// A lookup, by id or by API key hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Lookup {
    Id(TenantId),
    ApiKey(ApiKeyHash),
}

/// A [`TenantStore`] that answers from memory what `inner` answered less than `ttl` ago.
///
/// Every instance caches for itself: a tenant suspended through another instance (or in the
/// database) is refused here within `ttl`, and at once on the instance that calls
/// [`CachedStore::invalidate`]. Unknown tenants and keys are cached too, so a flood of made-up
/// ids costs one store query per id and `ttl`, not one per request. Concurrent lookups of one
/// key wait for a single store query. At most `capacity` answers are kept.
pub struct CachedStore {
    inner: Arc<dyn TenantStore>,
    ttl: Duration,
    entries: quick_cache::sync::Cache<Lookup, Entry>,
    /// Counts invalidations: an answer fetched while one happened may predate the change, so
    /// it is returned but not kept. (Invalidation finds lookups by key through their answers,
    /// and one still asking the store has none yet.)
    invalidations: AtomicU64,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl CachedStore {
    /// `inner`'s answers, each kept for `ttl`, at most `capacity` of them.
    pub fn new(inner: Arc<dyn TenantStore>, ttl: Duration, capacity: usize) -> CachedStore {
        CachedStore {
            inner,
            ttl,
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            invalidations: AtomicU64::new(0),
        }
    }

    /// Forgets what is cached of tenant `id` (after this instance changed it): its lookup by
    /// id, and every lookup by key that answered it.
    pub fn invalidate(&self, id: &TenantId) {
        // First, so that a lookup already querying the store does not keep its answer.
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.entries.remove(&Lookup::Id(id.clone()));
        let by_key: Vec<Lookup> = self
            .entries
            .iter()
            .filter(|(lookup, (_, record))| {
                matches!(lookup, Lookup::ApiKey(_))
                    && record.as_ref().is_some_and(|grant| grant.tenant.id == *id)
            })
            .map(|(lookup, _)| lookup)
            .collect();
        for lookup in by_key {
            self.entries.remove(&lookup);
        }
    }

    async fn lookup(&self, lookup: Lookup) -> Result<Option<ApiKeyGrant>, ResolveError> {
        loop {
            match self.entries.get_value_or_guard_async(&lookup).await {
                Ok((fetched, record)) if fetched.elapsed() < self.ttl => return Ok(record),
                Ok(_) => {
                    // Expired: the next lookup (this one, looping) fetches it afresh.
                    self.entries.remove(&lookup);
                }
                Err(guard) => {
                    let invalidations = self.invalidations.load(Ordering::SeqCst);
                    let record = match &lookup {
                        Lookup::Id(id) => self.inner.tenant(id).await?.map(|tenant| ApiKeyGrant {
                            tenant,
                            scopes: None,
                        }),
                        Lookup::ApiKey(hash) => self.inner.tenant_by_api_key(hash).await?,
                    };
                    // An invalidation while the store was asked may concern this answer:
                    // dropping the guard unfilled lets the next lookup ask again.
                    if self.invalidations.load(Ordering::SeqCst) == invalidations {
                        let _ = guard.insert((Instant::now(), record.clone()));
                    }
                    return Ok(record);
                }
            }
        }
    }
}

impl TenantStore for CachedStore {
    fn tenant<'a>(
        &'a self,
        id: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<TenantRecord>, ResolveError>> {
        Box::pin(async move {
            let found = self.lookup(Lookup::Id(id.clone())).await?;
            Ok(found.map(|grant| grant.tenant))
        })
    }

    fn tenant_by_api_key<'a>(
        &'a self,
        hash: &'a ApiKeyHash,
    ) -> BoxFuture<'a, Result<Option<ApiKeyGrant>, ResolveError>> {
        Box::pin(self.lookup(Lookup::ApiKey(*hash)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use graft_resolve::{Isolation, TenantStatus};

    use super::*;

    /// A store that counts its queries and answers from a map that tests change.
    #[derive(Default)]
    struct Counted {
        queries: AtomicUsize,
        tenants: Mutex<Vec<TenantRecord>>,
    }

    impl TenantStore for Counted {
        fn tenant<'a>(
            &'a self,
            id: &'a TenantId,
        ) -> BoxFuture<'a, Result<Option<TenantRecord>, ResolveError>> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            let found = self
                .tenants
                .lock()
                .unwrap()
                .iter()
                .find(|t| t.id == *id)
                .cloned();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(found)
            })
        }

        fn tenant_by_api_key<'a>(
            &'a self,
            hash: &'a ApiKeyHash,
        ) -> BoxFuture<'a, Result<Option<ApiKeyGrant>, ResolveError>> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            let found = (*hash == ApiKeyHash::of("key"))
                .then(|| self.tenants.lock().unwrap().first().cloned())
                .flatten()
                .map(|tenant| ApiKeyGrant {
                    tenant,
                    scopes: None,
                });
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(found)
            })
        }
    }

    fn acme() -> TenantRecord {
        TenantRecord::active(TenantId::new("acme").unwrap(), Isolation::Rows)
    }

    /// A store holding `acme`, behind a cache keeping answers for `ttl`.
    fn acme_cached(ttl: Duration) -> (Arc<Counted>, CachedStore) {
        let inner = Arc::new(Counted::default());
        inner.tenants.lock().unwrap().push(acme());
        let cache = CachedStore::new(inner.clone(), ttl, 100);
        (inner, cache)
    }

    #[tokio::test]
    async fn answers_are_kept_for_their_ttl_and_shared_by_concurrent_lookups() {
        let (inner, cache) = acme_cached(Duration::from_millis(200));
        let id = acme().id;
        let lookups = (0..20).map(|_| cache.tenant(&id));
        for found in futures_util::future::join_all(lookups).await {
            assert_eq!(found.unwrap(), Some(acme()));
        }
        assert_eq!(
            inner.queries.load(Ordering::SeqCst),
            1,
            "one query for 20 lookups"
        );
        let nobody = TenantId::new("nobody").unwrap();
        assert_eq!(cache.tenant(&nobody).await.unwrap(), None);
        assert_eq!(cache.tenant(&nobody).await.unwrap(), None);
        assert_eq!(
            inner.queries.load(Ordering::SeqCst),
            2,
            "unknown ids are cached too"
        );

        // Suspended in the store: seen once the answer expires.
        inner.tenants.lock().unwrap()[0].status = TenantStatus::Suspended;
        assert_eq!(
            cache.tenant(&id).await.unwrap().unwrap().status,
            TenantStatus::Active
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            cache.tenant(&id).await.unwrap().unwrap().status,
            TenantStatus::Suspended
        );
    }

    #[tokio::test]
    async fn an_answer_fetched_across_an_invalidation_is_not_kept() {
        let (inner, cache) = acme_cached(Duration::from_secs(3600));
        let id = acme().id;
        let key = ApiKeyHash::of("key");
        // The store read the key's tenant as active; it is suspended before the answer
        // arrives. (A lookup by id in flight is forgotten by the cache itself; one by key is
        // found by its answer, which is not there yet.)
        let in_flight = cache.tenant_by_api_key(&key);
        let suspend = async {
            tokio::task::yield_now().await;
            inner.tenants.lock().unwrap()[0].status = TenantStatus::Suspended;
            cache.invalidate(&id);
        };
        let (answer, ()) = tokio::join!(in_flight, suspend);
        assert_eq!(answer.unwrap().unwrap().tenant.status, TenantStatus::Active);
        assert_eq!(
            cache
                .tenant_by_api_key(&key)
                .await
                .unwrap()
                .unwrap()
                .tenant
                .status,
            TenantStatus::Suspended,
            "the next lookup asks the store again"
        );
    }

    #[tokio::test]
    async fn invalidation_forgets_a_tenant_by_id_and_by_key() {
        let (inner, cache) = acme_cached(Duration::from_secs(3600));
        let id = acme().id;
        let key = ApiKeyHash::of("key");
        assert!(cache.tenant(&id).await.unwrap().is_some());
        assert!(cache.tenant_by_api_key(&key).await.unwrap().is_some());
        inner.tenants.lock().unwrap()[0].status = TenantStatus::Suspended;
        cache.invalidate(&id);
        let by_id = cache.tenant(&id).await.unwrap().unwrap();
        let by_key = cache.tenant_by_api_key(&key).await.unwrap().unwrap();
        assert_eq!(
            (by_id.status, by_key.tenant.status),
            (TenantStatus::Suspended, TenantStatus::Suspended)
        );
    }
}
