//! [`CachingUnitOfWork`]: a unit of work that tells the cache, once it commits, which rows it
//! changed.

use std::sync::Arc;

use apollo_compiler::Name;
use graft_resolve::{
    BoxFuture, DeleteRequest, FetchRequest, InsertRequest, KeyClaim, LedgerEntry, LedgerKey,
    PageRequest, ResolveError, RowSet, Savepoint, UnitOfWork, UpdateRequest,
};
use graft_schema::EntityMapping;

use crate::{EntityCache, Scope};

/// Wraps a source's unit of work: every call goes to it, and the cached types its updates and
/// deletes touch are flushed from the cache (in the unit of work's scope) once the commit has
/// been sent, never before and never after a rollback.
///
/// A write flushes its whole type rather than its key: one row may be cached under several
/// spellings of one key (an `ID` given as a string or a number, another `@key`), and a
/// flush by generation misses none of them. A delete flushes every cached type of the scope:
/// `ON DELETE CASCADE` and `SET NULL` change rows of other types. Inserts invalidate nothing:
/// the cache keeps no missing rows.
pub(crate) struct CachingUnitOfWork {
    inner: Box<dyn UnitOfWork>,
    cache: Arc<EntityCache>,
    scope: Scope,
    flush: Flush,
}

/// What a unit of work flushes when it commits.
#[derive(Debug, Default)]
struct Flush {
    types: Vec<Name>,
    everything: bool,
}

/// Flushes what a committing unit of work wrote: [`FlushOnDrop::run`] after the commit returns,
/// waiting for Redis, so that the response leaves after this instance's entries and the
/// shared ones are gone (other instances' first levels forget theirs when the published
/// message reaches them, a moment later); or, when the request is cancelled while the commit
/// is under way (a commit sent may have happened), when dropped, in the background.
struct FlushOnDrop {
    cache: Arc<EntityCache>,
    scope: Scope,
    flush: Flush,
    done: bool,
}

impl FlushOnDrop {
    fn types(&self) -> Vec<Name> {
        if self.flush.everything {
            self.cache.all_types()
        } else {
            self.flush.types.clone()
        }
    }

    async fn run(mut self) {
        let types = self.types();
        self.cache.invalidate(&self.scope, &types).await;
        self.done = true;
    }
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        if !self.done {
            let types = self.types();
            self.cache.invalidate_in_background(&self.scope, types);
        }
    }
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
            flush: Flush::default(),
        }
    }

    /// Notes a write to a row of `mapping`'s type, and so of every cached type mapped to the
    /// same table.
    fn wrote(&mut self, mapping: &EntityMapping) {
        for type_name in self.cache.sharing_table(&mapping.type_name) {
            if !self.flush.types.contains(type_name) {
                self.flush.types.push(type_name.clone());
            }
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
        self.wrote(request.mapping);
        self.inner.update(request)
    }

    fn delete<'a>(
        &'a mut self,
        request: DeleteRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        self.flush.everything = true;
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

    fn sweep_keys(&mut self, now_ms: u64) -> BoxFuture<'_, Result<u64, ResolveError>> {
        self.inner.sweep_keys(now_ms)
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
            flush,
        } = *self;
        let flushing = FlushOnDrop {
            cache,
            scope,
            flush,
            done: false,
        };
        Box::pin(async move {
            let committed = inner.commit().await;
            // Whatever the commit answered: one whose reply was lost may still have happened,
            // and a flush costs misses, never a stale answer.
            flushing.run().await;
            committed
        })
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), ResolveError>> {
        self.inner.rollback()
    }
}
