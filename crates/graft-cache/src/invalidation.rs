//! Invalidation: forgetting entries here at once, moving generations in Redis and telling the
//! other instances, retrying what Redis did not take; and whether a read may keep what it read.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use apollo_compiler::Name;
use graft_resolve::TenantId;

use crate::{EntityCache, Scope};

/// How long after a cancelled commit its types are flushed again.
const LATE_COMMIT: Duration = Duration::from_secs(5);

impl EntityCache {
    /// Forgets every entry of `tenant`, whatever its schema (its data was destroyed): here,
    /// in Redis and in the other instances. Waits for Redis (at most its timeout per type);
    /// whether Redis took every flush (those it did not are retried in the background, for as
    /// long as the cache lives).
    pub async fn invalidate_tenant(self: &Arc<Self>, tenant: &TenantId) -> bool {
        self.forget_tenant_here(tenant);
        let Some(shared) = &self.shared else {
            return true;
        };
        let mut all_sent = true;
        let scope = Scope {
            tenant: tenant.clone(),
            schema: None,
        };
        // The first message makes every instance forget the whole tenant; the others only
        // move their type's generation in Redis.
        for (i, type_name) in self.all_types().iter().enumerate() {
            let whole_tenant = i == 0;
            if let Err(error) = shared.invalidate(&scope, type_name, whole_tenant).await {
                tracing::warn!(%error, tenant = %tenant, "cache: a tenant flush not sent to Redis; retrying in the background");
                self.retry_later(&scope, type_name, whole_tenant);
                all_sent = false;
            }
        }
        all_sent
    }

    /// Forgets every entry of `tenant` in this instance, whatever its schema. A scan of the
    /// entries: for a rare administrative act, never for a request.
    pub(crate) fn forget_tenant_here(&self, tenant: &TenantId) {
        let mut flushed: Vec<(Scope, Name)> = Vec::new();
        for (key, _) in self.entries.iter() {
            if key.scope.tenant == *tenant {
                let pair = (key.scope.clone(), key.key.type_name().clone());
                if !flushed.contains(&pair) {
                    flushed.push(pair);
                }
            }
        }
        for (scope, type_name) in flushed {
            self.invalidate_here(&scope, &type_name);
        }
    }

    /// Forgets every entry of `types` in `scope`: here at once, then in Redis and the other
    /// instances, waiting for Redis (at most its timeout; the types concurrently).
    pub(crate) async fn invalidate(self: &Arc<Self>, scope: &Scope, types: &[Name]) {
        for type_name in types {
            self.invalidate_here(scope, type_name);
        }
        let Some(shared) = &self.shared else { return };
        let sent = futures_util::future::join_all(
            types
                .iter()
                .map(|type_name| shared.invalidate(scope, type_name, false)),
        )
        .await;
        for (type_name, sent) in types.iter().zip(sent) {
            if let Err(error) = sent {
                tracing::warn!(%error, type_name = %type_name, "cache: an invalidation not sent to Redis; retrying in the background");
                self.retry_later(scope, type_name, false);
            }
        }
    }

    /// [`EntityCache::invalidate`], from a synchronous context (the drop of a commit that was
    /// cancelled): here at once, the rest in the background, and all of it again a few
    /// seconds later, for a commit the database applied after the first flush.
    pub(crate) fn invalidate_in_background(self: &Arc<Self>, scope: &Scope, types: Vec<Name>) {
        for type_name in &types {
            self.invalidate_here(scope, type_name);
        }
        if types.is_empty() {
            return;
        }
        let cache = Arc::clone(self);
        let scope = scope.clone();
        tokio::spawn(async move {
            cache.invalidate(&scope, &types).await;
            tokio::time::sleep(LATE_COMMIT).await;
            cache.invalidate(&scope, &types).await;
        });
    }

    /// Keeps an invalidation Redis did not take, and retries it in the background until it
    /// does; meanwhile this instance does without Redis for the type in the tenant.
    pub(crate) fn retry_later(
        self: &Arc<Self>,
        scope: &Scope,
        type_name: &Name,
        whole_tenant: bool,
    ) {
        self.stats
            .invalidations_unsent
            .fetch_add(1, Ordering::Relaxed);
        {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.insert(
                (scope.tenant.clone(), type_name.clone()),
                (scope.clone(), whole_tenant),
            );
            self.pending_count.store(pending.len(), Ordering::SeqCst);
        }
        if self.retrying.swap(true, Ordering::SeqCst) {
            return;
        }
        let cache = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(100);
            loop {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                let Some(cache) = cache.upgrade() else { return };
                let Some(shared) = &cache.shared else { return };
                let due: Vec<_> = cache
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                    .map(|(key, flush)| (key.clone(), flush.clone()))
                    .collect();
                for (key, (scope, whole_tenant)) in due {
                    if shared
                        .invalidate(&scope, &key.1, whole_tenant)
                        .await
                        .is_ok()
                    {
                        let mut pending = cache
                            .pending
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        pending.remove(&key);
                        cache.pending_count.store(pending.len(), Ordering::SeqCst);
                    }
                }
                if cache.pending_count.load(Ordering::SeqCst) == 0 {
                    cache.retrying.store(false, Ordering::SeqCst);
                    // One kept since the count was read, whose own call saw this loop running.
                    if cache.pending_count.load(Ordering::SeqCst) == 0
                        || cache.retrying.swap(true, Ordering::SeqCst)
                    {
                        return;
                    }
                }
            }
        });
    }

    /// Whether an invalidation of `type_name` for `tenant` waits to reach Redis: its entries
    /// there may be stale.
    pub(crate) fn unsent(&self, tenant: &TenantId, type_name: &Name) -> bool {
        self.pending_count.load(Ordering::SeqCst) > 0
            && self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains_key(&(tenant.clone(), type_name.clone()))
    }

    /// Forgets every entry of `type_name` in `scope`, in this instance: reads under way keep
    /// nothing, and entries of the old generation are never read again.
    pub(crate) fn invalidate_here(&self, scope: &Scope, type_name: &Name) {
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = states
            .entry((scope.clone(), type_name.clone()))
            .or_default();
        state.invalidated_at = tick;
        state.generation += 1;
        drop(states);
        self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a row of `type_name` read since `started` may be kept: no invalidation of the
    /// type in the scope came after the read began.
    pub(crate) fn may_keep(&self, scope: &Scope, type_name: &Name, started: u64) -> bool {
        self.cleared_at.load(Ordering::SeqCst) <= started
            && self.state(scope, type_name).invalidated_at <= started
    }
}
