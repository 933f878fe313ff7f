//! [`CachingUnitOfWork`]: a unit of work that tells the cache, once it commits, which rows it
//! changed.

use std::sync::Arc;

use apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex};
use graft_resolve::{
    BoxFuture, DeleteRequest, FetchRequest, InsertRequest, KeyClaim, LedgerEntry, LedgerKey,
    PageRequest, ResolveError, RowSet, Savepoint, UnitOfWork, UpdateRequest,
};
use graft_schema::EntityMapping;

use crate::{EntityCache, Scope};

/// What a committed unit of work invalidates of one type: some keys, or the whole type.
#[derive(Debug)]
enum Changed {
    Keys(Vec<EntityKey>),
    Type,
}

/// Wraps a source's unit of work: every call goes to it, and the keys its updates and deletes
/// touch (of cached types) are forgotten from the cache after the commit, never before and
/// never after a rollback. Inserts invalidate nothing: the cache keeps no missing
/// rows.
pub(crate) struct CachingUnitOfWork {
    inner: Box<dyn UnitOfWork>,
    cache: Arc<EntityCache>,
    scope: Scope,
    changed: Vec<(Name, Changed)>,
}

impl CachingUnitOfWork {
    pub(crate) fn new(
        inner: Box<dyn UnitOfWork>,
        cache: Arc<EntityCache>,
        scope: Scope,
    ) -> CachingUnitOfWork {
        CachingUnitOfWork {
            inner,
            cache,
            scope,
            changed: Vec::new(),
        }
    }

    /// Notes a write to the row with `key` of `mapping`'s type. A type with one key forgets
    /// that key; a type with several is flushed whole, since the write may change the values
    /// of another key, under which the row is cached too.
    fn wrote(&mut self, mapping: &EntityMapping, key: &EntityKey) {
        let type_name = &mapping.type_name;
        if self.cache.ttl(type_name).is_none() {
            return;
        }
        let one_key = mapping.key_columns.len() == 1 && key.key_index() == KeyIndex(0);
        let slot = self.changed.iter_mut().find(|(t, _)| t == type_name);
        match (slot, one_key) {
            (Some((_, Changed::Keys(keys))), true) => keys.push(key.clone()),
            (Some((_, changed)), false) => *changed = Changed::Type,
            (Some((_, Changed::Type)), true) => {}
            (None, true) => self
                .changed
                .push((type_name.clone(), Changed::Keys(vec![key.clone()]))),
            (None, false) => self.changed.push((type_name.clone(), Changed::Type)),
        }
    }
}

impl UnitOfWork for CachingUnitOfWork {
    fn fetch<'a>(
        &'a mut self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        self.inner.fetch(request)
    }

    fn page<'a>(
        &'a mut self,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        self.inner.page(request)
    }

    fn insert<'a>(
        &'a mut self,
        request: InsertRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        self.inner.insert(request)
    }

    fn update<'a>(
        &'a mut self,
        request: UpdateRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        self.wrote(request.mapping, request.key);
        self.inner.update(request)
    }

    fn delete<'a>(
        &'a mut self,
        request: DeleteRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        self.wrote(request.mapping, request.key);
        self.inner.delete(request)
    }

    fn claim_key<'a>(
        &'a mut self,
        claim: KeyClaim<'a>,
    ) -> BoxFuture<'a, Result<LedgerEntry, ResolveError>> {
        self.inner.claim_key(claim)
    }

    fn record_key<'a>(
        &'a mut self,
        key: &'a LedgerKey,
        holder: &'a str,
        operation: &'a str,
        response: &'a str,
        expires_at_ms: u64,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        self.inner
            .record_key(key, holder, operation, response, expires_at_ms)
    }

    fn release_key<'a>(
        &'a mut self,
        key: &'a LedgerKey,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        self.inner.release_key(key, holder)
    }

    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, ResolveError>> {
        self.inner.savepoint()
    }

    fn rollback_to<'a>(
        &'a mut self,
        savepoint: &'a Savepoint,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        // What was written after the savepoint is undone, but forgetting its keys anyway
        // costs a miss, never a stale answer.
        self.inner.rollback_to(savepoint)
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), ResolveError>> {
        let CachingUnitOfWork {
            inner,
            cache,
            scope,
            changed,
        } = *self;
        Box::pin(async move {
            // After the commit, and whatever it answered: a commit whose answer was lost may
            // still have happened, and forgetting costs a miss, never a stale answer.
            let committed = inner.commit().await;
            for (type_name, changed) in changed {
                match changed {
                    Changed::Keys(keys) => cache.invalidate(&scope, &type_name, Some(&keys)),
                    Changed::Type => cache.invalidate(&scope, &type_name, None),
                }
            }
            committed
        })
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), ResolveError>> {
        self.inner.rollback()
    }
}
