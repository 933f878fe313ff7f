//! graft's entity cache, in process: rows kept by scope, type and key, in front of any
//! [`EntitySource`].
//!
//! graft is the origin, so it caches rows, not responses. An entry is one entity's row with
//! every mapped column, keyed by the request's scope (its tenant, and its schema under
//! schema isolation), the type's generation and the typed [`EntityKey`]; each request's
//! selection is projected from it, so one entity asked for two ways is one entry, and no entry
//! is ever shared between tenants.
//!
//! - **What is cached:** lookups by one of a type's keys (`_entities` groups, root lookups,
//!   `@belongsTo` loads) of the types `[cache.types]` names, each with its TTL. Lists
//!   (`@hasMany`), pages and other types pass through. Missing rows are not cached, so an
//!   insert never needs an invalidation.
//! - **One statement per group still:** the hits are answered from memory and the misses of a
//!   group fetched by one statement, with every column, then kept.
//! - **Single flight:** a key another request is fetching is waited for, not fetched again.
//! - **Invalidation by graft's own writes, after commit:** a [`UnitOfWork`] of a
//!   [`CachedSource`] remembers the cached types it updates, and flushes them (by a generation
//!   number in their entries' keys) once the commit is sent; a delete flushes every cached type
//!   of the scope, for the rows `ON DELETE` changes elsewhere. A rollback flushes nothing.
//!   Whole types, not keys: one row may be cached under several spellings of one key.
//! - **No stale write-back:** a read that started before an invalidation of its type does not
//!   keep what it read, so a slow read cannot re-cache a row a write just changed.
//!
//! - **Two levels, many instances:** entries live in process, bounded by their estimated
//!   bytes; with Redis ([`EntityCache::shared`]) a second level in Redis (or a Redis Cluster) is
//!   shared by every instance: the first level's misses of a group are one `MGET`, the
//!   database's rows are written back in one script, and each invalidation moves the type's
//!   generation in Redis and is published so that every instance's first level forgets it too
//!   (see [`shared`] for the keys and the read-after-write race). A lost subscription flushes
//!   the instance's first level when it is back; a Redis that fails or is slow costs at most
//!   its timeout, then the database answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex};
use graft_resolve::{
    BoxFuture, Capabilities, Cell, EntitySource, FetchRequest, Isolation, PageRequest, PoolStatus,
    RequestContext, ResolveError, RowSet, SchemaName, TenantId, UnitOfWork,
};
use graft_schema::EntityMapping;
use quick_cache::sync::GuardResult;

mod invalidation;
pub mod shared;
mod unit_of_work;

pub use shared::SharedConfig;
use shared::SharedLevel;
use unit_of_work::CachingUnitOfWork;

/// What the cache keeps, and how long.
#[derive(Debug, Clone, Default)]
pub struct CacheConfig {
    /// The most memory entries may take in process, in (estimated) bytes; 0 keeps none there
    /// (every lookup goes to the second level, if there is one).
    pub max_bytes: u64,
    /// The types cached, each with how long an entry is served.
    pub types: HashMap<Name, Duration>,
    /// The table of each cached type, where known: a write to one type flushes every cached
    /// type mapped to the same table (two types may be views of one table).
    pub tables: HashMap<Name, String>,
}

/// A request's scope, as far as the cache tells entries apart: its tenant, and the schema its
/// statements name under schema isolation. Row isolation is told apart by the tenant alone:
/// graft sets nothing else that row-level security reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Scope {
    tenant: TenantId,
    schema: Option<SchemaName>,
}

impl Scope {
    fn of(ctx: &RequestContext) -> Scope {
        Scope {
            tenant: ctx.tenant.clone(),
            schema: match &ctx.isolation {
                Isolation::Schema(schema) => Some(schema.clone()),
                Isolation::None | Isolation::Rows => None,
            },
        }
    }
}

/// An entry's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EntryKey {
    scope: Scope,
    /// The type's generation in the scope when the entry was made.
    generation: u64,
    key: EntityKey,
}

/// [`EntryKey`] borrowed, to look a key up without cloning it: hashes as `EntryKey` does
/// (a reference hashes as what it points to, and the fields come in the same order).
#[derive(Hash)]
struct EntryRef<'a> {
    scope: &'a Scope,
    generation: u64,
    key: &'a EntityKey,
}

impl quick_cache::Equivalent<EntryKey> for EntryRef<'_> {
    fn equivalent(&self, entry: &EntryKey) -> bool {
        self.generation == entry.generation && *self.scope == entry.scope && *self.key == entry.key
    }
}

/// One value of a cached row, owning its text.
#[derive(Debug, Clone)]
enum OwnedCell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Json(Box<str>),
    Text(Box<str>),
}

/// A cached row: every mapped column of the type, in mapping order, and when it was read (ms
/// since the Unix epoch, so that the time travels with the row between instances).
#[derive(Debug)]
struct CachedRow {
    cells: Box<[OwnedCell]>,
    read_at_ms: u64,
}

impl CachedRow {
    fn new(cells: Box<[OwnedCell]>, read_at_ms: u64) -> CachedRow {
        CachedRow { cells, read_at_ms }
    }

    /// Whether it is still served at `now_ms` when entries live `ttl`.
    fn fresh(&self, ttl: Duration, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.read_at_ms) < u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What an entry holds: the row, shared.
type Entry = Arc<CachedRow>;

/// Weighs an entry by the memory it holds.
#[derive(Debug, Clone, Copy)]
struct RowWeight;

impl quick_cache::Weighter<EntryKey, Entry> for RowWeight {
    fn weight(&self, key: &EntryKey, row: &Entry) -> u64 {
        let text: usize = row
            .cells
            .iter()
            .map(|cell| match cell {
                OwnedCell::Json(text) | OwnedCell::Text(text) => text.len(),
                _ => 0,
            })
            .sum();
        let key_bytes: usize = key.key.values().len() * 24;
        (128 + key_bytes + row.cells.len() * 24 + text) as u64
    }
}

/// Where one type stands in one scope: its generation (entries of older ones are never read
/// again) and the clock tick of its last invalidation.
#[derive(Debug, Clone, Copy, Default)]
struct TypeState {
    generation: u64,
    invalidated_at: u64,
}

/// The cache shared by every request of a server: its entries, and the state of each cached
/// type in each scope.
pub struct EntityCache {
    entries: quick_cache::sync::Cache<EntryKey, Entry, RowWeight>,
    types: HashMap<Name, Duration>,
    /// For each cached type, the cached types sharing its table (itself included).
    same_table: HashMap<Name, Vec<Name>>,
    states: Mutex<HashMap<(Scope, Name), TypeState>>,
    /// Ticks once per invalidation; a read notes it before fetching.
    clock: AtomicU64,
    /// The tick of the last flush of every entry.
    cleared_at: AtomicU64,
    stats: CacheStats,
    /// Whether entries are kept in process (`max_bytes` above 0).
    in_memory: bool,
    /// The second level, and where invalidations go to, and come from, other instances.
    shared: Option<Arc<SharedLevel>>,
    /// Invalidations Redis has not taken yet, by tenant and type, retried in the background.
    pending: Mutex<HashMap<(TenantId, Name), (Scope, bool)>>,
    /// How many there are (read without the lock on every lookup).
    pending_count: std::sync::atomic::AtomicUsize,
    /// Whether the retrying task runs.
    retrying: std::sync::atomic::AtomicBool,
}

/// Counters of what the cache did, for metrics and tests.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Keys answered from memory (the first level).
    pub hits: AtomicU64,
    /// Keys answered from Redis (the second level).
    pub shared_hits: AtomicU64,
    /// Keys looked for in Redis and not found there.
    pub shared_misses: AtomicU64,
    /// Keys fetched from the source.
    pub misses: AtomicU64,
    /// Types flushed (in one scope) after a committed write.
    pub invalidations: AtomicU64,
    /// Invalidations Redis did not take at once (each retried in the background until it
    /// does; meanwhile this instance does without Redis for the type, and other instances
    /// may serve its old entries).
    pub invalidations_unsent: AtomicU64,
    /// Reads not kept because their type was invalidated while they ran.
    pub stale_reads_dropped: AtomicU64,
}

impl std::fmt::Debug for EntityCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityCache")
            .field("entries", &self.entries.len())
            .field("types", &self.types.len())
            .finish_non_exhaustive()
    }
}

impl EntityCache {
    /// An empty cache for `config`, for this instance alone.
    pub fn new(config: &CacheConfig) -> Arc<EntityCache> {
        Arc::new(EntityCache::build(config, None))
    }

    /// An empty cache for `config` with a second level in `redis`, shared by every instance
    /// given the same `shared` config, which also share their invalidations. Starts listening
    /// for them (in the background: Redis being down delays nothing); fails only on a key
    /// prefix with braces. Needs a Tokio runtime.
    pub fn shared(
        config: &CacheConfig,
        redis: Arc<graft_redis::Redis>,
        shared: SharedConfig,
    ) -> Result<Arc<EntityCache>, String> {
        let level = Arc::new(SharedLevel::new(redis, shared)?);
        let cache = Arc::new(EntityCache::build(config, Some(Arc::clone(&level))));
        level.listen(Arc::downgrade(&cache));
        Ok(cache)
    }

    /// The Redis of the second level, if there is one.
    pub fn redis(&self) -> Option<&graft_redis::Redis> {
        self.shared.as_deref().map(SharedLevel::redis)
    }

    fn build(config: &CacheConfig, shared: Option<Arc<SharedLevel>>) -> EntityCache {
        let max_bytes = config.max_bytes.max(1);
        EntityCache {
            entries: quick_cache::sync::Cache::with_weighter(
                usize::try_from(max_bytes / 512)
                    .unwrap_or(usize::MAX)
                    .max(16),
                max_bytes,
                RowWeight,
            ),
            types: config.types.clone(),
            same_table: config
                .types
                .keys()
                .map(|type_name| {
                    let table = config.tables.get(type_name);
                    let mut sharing: Vec<Name> = config
                        .types
                        .keys()
                        .filter(|other| {
                            *other == type_name
                                || (table.is_some() && config.tables.get(*other) == table)
                        })
                        .cloned()
                        .collect();
                    sharing.sort();
                    (type_name.clone(), sharing)
                })
                .collect(),
            states: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            cleared_at: AtomicU64::new(0),
            stats: CacheStats::default(),
            in_memory: config.max_bytes > 0,
            shared,
            pending: Mutex::new(HashMap::new()),
            pending_count: std::sync::atomic::AtomicUsize::new(0),
            retrying: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Forgets every entry (after a lost subscription, whose missed messages are unknown);
    /// reads under way keep nothing.
    pub fn clear(&self) {
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.cleared_at.store(tick, Ordering::SeqCst);
        self.entries.clear();
    }

    /// What the cache did so far.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn ttl(&self, type_name: &str) -> Option<Duration> {
        self.types.get(type_name).copied()
    }

    /// The cached types a write to `type_name`'s table changes: those mapped to that table.
    fn sharing_table(&self, type_name: &Name) -> &[Name] {
        self.same_table.get(type_name).map_or(&[], Vec::as_slice)
    }

    /// How long entries of `type_name` are served, if the type is cached.
    pub fn ttl_of(&self, type_name: &str) -> Option<Duration> {
        self.ttl(type_name)
    }

    fn state(&self, scope: &Scope, type_name: &Name) -> TypeState {
        let states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        states
            .get(&(scope.clone(), type_name.clone()))
            .copied()
            .unwrap_or_default()
    }

    /// Every cached type.
    fn all_types(&self) -> Vec<Name> {
        self.types.keys().cloned().collect()
    }
}

/// An [`EntitySource`] whose lookups by key of the cached types go through an
/// [`EntityCache`]; everything else, and every write, goes to `inner` (writes through
/// [`CachingUnitOfWork`], which invalidates after commit).
pub struct CachedSource {
    inner: Arc<dyn EntitySource>,
    cache: Arc<EntityCache>,
}

impl std::fmt::Debug for CachedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSource")
            .field("inner", &self.inner.name())
            .field("cache", &self.cache)
            .finish()
    }
}

impl CachedSource {
    /// `inner`, with its cached types' lookups answered through `cache`.
    pub fn new(inner: Arc<dyn EntitySource>, cache: Arc<EntityCache>) -> CachedSource {
        CachedSource { inner, cache }
    }

    /// The key index `request` looks rows up by, when it is a lookup the cache answers: one
    /// row per key, by one of the type's keys, of a cached type.
    fn cached_lookup(&self, request: &FetchRequest<'_>) -> Option<KeyIndex> {
        if request.many || request.per_key_limit.is_some() {
            return None;
        }
        self.cache.ttl(&request.mapping.type_name)?;
        let keys = u16::try_from(request.mapping.key_columns.len()).ok()?;
        let index = (0..keys)
            .map(KeyIndex)
            .find(|&index| request.mapping.key_columns(index) == request.match_columns)?;
        request
            .keys
            .iter()
            .all(|key| key.key_index() == index && key.type_name() == &request.mapping.type_name)
            .then_some(index)
    }

    async fn fetch_cached(
        &self,
        ctx: &RequestContext,
        request: FetchRequest<'_>,
    ) -> Result<RowSet, ResolveError> {
        let mapping = request.mapping;
        let type_name = &mapping.type_name;
        let ttl = self.cache.ttl(type_name).expect("a cached type");
        let scope = Scope::of(ctx);
        let started = self.cache.clock.load(Ordering::SeqCst);
        let generation = self.cache.state(&scope, type_name).generation;
        let entry_key = |key: &EntityKey| EntryKey {
            scope: scope.clone(),
            generation,
            key: key.clone(),
        };
        let now = now_ms();
        let mut found: Vec<Option<Entry>> = vec![None; request.keys.len()];
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        // Without a first level, every key goes to Redis (then the database): no placeholders.
        let memory_keys = if self.cache.in_memory {
            request.keys
        } else {
            ours.extend((0..request.keys.len()).map(|position| (position, None)));
            &[]
        };
        for (position, key) in memory_keys.iter().enumerate() {
            // The usual case, a hit, without cloning the key.
            let borrowed = EntryRef {
                scope: &scope,
                generation,
                key,
            };
            if let Some(row) = self.cache.entries.get(&borrowed)
                && row.fresh(ttl, now)
            {
                found[position] = Some(row);
                continue;
            }
            let entry = entry_key(key);
            match self
                .cache
                .entries
                .get_value_or_guard(&entry, Some(Duration::ZERO))
            {
                GuardResult::Value(row) if row.fresh(ttl, now) => {
                    found[position] = Some(row);
                }
                GuardResult::Value(_) => {
                    // Expired: fetched afresh below, and kept again.
                    self.cache.entries.remove(&entry);
                    match self
                        .cache
                        .entries
                        .get_value_or_guard(&entry, Some(Duration::ZERO))
                    {
                        GuardResult::Guard(guard) => ours.push((position, Some(guard))),
                        _ => ours.push((position, None)),
                    }
                }
                GuardResult::Guard(guard) => ours.push((position, Some(guard))),
                // Another request is fetching it: wait for it once ours are fetched.
                GuardResult::Timeout => theirs.push(position),
            }
        }
        let hits = request.keys.len() - ours.len() - theirs.len();
        tracing::Span::current().record("memory_hits", hits);
        self.cache
            .stats
            .hits
            .fetch_add(hits as u64, Ordering::Relaxed);
        if !ours.is_empty() {
            // The second level first, then the database for what it lacks.
            let mut shared_generation = None;
            if let Some(shared) = &self.cache.shared
                && !self.cache.unsent(&scope.tenant, type_name)
            {
                let keys: Vec<&EntityKey> = ours.iter().map(|(p, _)| request.keys[*p]).collect();
                match shared.read(&scope, mapping, &keys).await {
                    Ok(read) => {
                        shared_generation = Some(read.generation);
                        let mut hits = 0;
                        for ((position, _), row) in ours.iter().zip(read.rows) {
                            if let Some(row) = row.filter(|row| row.fresh(ttl, now)) {
                                found[*position] = Some(Arc::new(row));
                                hits += 1;
                            }
                        }
                        tracing::Span::current().record("redis_hits", hits);
                        let stats = &self.cache.stats;
                        stats.shared_hits.fetch_add(hits, Ordering::Relaxed);
                        stats
                            .shared_misses
                            .fetch_add(ours.len() as u64 - hits, Ordering::Relaxed);
                    }
                    Err(error) => tracing::debug!(%error, "cache: Redis not read"),
                }
            }
            let positions: Vec<usize> = ours
                .iter()
                .map(|(position, _)| *position)
                .filter(|&position| found[position].is_none())
                .collect();
            let rows = if positions.is_empty() {
                Vec::new()
            } else {
                self.fetch_rows(ctx, &request, mapping, &positions).await?
            };
            if let (Some(shared), Some(generation)) = (&self.cache.shared, shared_generation) {
                let kept: Vec<(&EntityKey, &CachedRow)> = positions
                    .iter()
                    .zip(&rows)
                    .filter_map(|(&position, row)| Some((request.keys[position], &**row.as_ref()?)))
                    .collect();
                shared.write_back(&scope, mapping, generation, ttl, kept);
            }
            for (position, row) in positions.into_iter().zip(rows) {
                found[position] = row;
            }
            let keep = self.cache.may_keep(&scope, type_name, started);
            for (position, guard) in ours {
                if let (Some(row), Some(guard), true) = (&found[position], guard, keep) {
                    let _ = guard.insert(Arc::clone(row));
                }
            }
            if !keep {
                self.cache
                    .stats
                    .stale_reads_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        if !theirs.is_empty() {
            let mut again = Vec::new();
            for position in theirs {
                let entry = entry_key(request.keys[position]);
                match self.cache.entries.get_value_or_guard_async(&entry).await {
                    Ok(row) => found[position] = Some(row),
                    // Their fetch found no row, or was not kept: ours to read.
                    Err(_guard) => again.push(position),
                }
            }
            if !again.is_empty() {
                let rows = self.fetch_rows(ctx, &request, mapping, &again).await?;
                for (position, row) in again.into_iter().zip(rows) {
                    found[position] = row;
                }
            }
        }
        Ok(project(&found, request.columns))
    }

    /// Reads the rows of the keys at `positions`, with every column, in one statement.
    async fn fetch_rows(
        &self,
        ctx: &RequestContext,
        request: &FetchRequest<'_>,
        mapping: &EntityMapping,
        positions: &[usize],
    ) -> Result<Vec<Option<Entry>>, ResolveError> {
        self.cache
            .stats
            .misses
            .fetch_add(positions.len() as u64, Ordering::Relaxed);
        let keys: Vec<&EntityKey> = positions.iter().map(|&p| request.keys[p]).collect();
        let all: Vec<usize> = (0..mapping.columns.len()).collect();
        let rows = self
            .inner
            .fetch(
                ctx,
                FetchRequest {
                    keys: &keys,
                    columns: &all,
                    ..*request
                },
            )
            .await?;
        let read_at_ms = now_ms();
        Ok((0..keys.len())
            .map(|i| {
                rows.rows_of(i).next().map(|row| {
                    Arc::new(CachedRow::new(
                        rows.cells(row).iter().map(|c| owned(&rows, *c)).collect(),
                        read_at_ms,
                    ))
                })
            })
            .collect())
    }
}

fn owned(rows: &RowSet, cell: Cell) -> OwnedCell {
    match cell {
        Cell::Null => OwnedCell::Null,
        Cell::Bool(b) => OwnedCell::Bool(b),
        Cell::Int(i) => OwnedCell::Int(i),
        Cell::Float(f) => OwnedCell::Float(f),
        Cell::Json { start, len } => OwnedCell::Json(rows.text(start, len).into()),
        Cell::Text { start, len } => OwnedCell::Text(rows.text(start, len).into()),
    }
}

/// The row set a request asked for: each found row's `columns`, at its key's position.
fn project(found: &[Option<Entry>], columns: &[usize]) -> RowSet {
    let mut rows = RowSet::new(found.len(), columns.len());
    for (position, row) in found.iter().enumerate() {
        let Some(row) = row else { continue };
        let mut writer = rows.row(position);
        for &column in columns {
            match &row.cells[column] {
                OwnedCell::Null => writer.push(Cell::Null),
                OwnedCell::Bool(b) => writer.push(Cell::Bool(*b)),
                OwnedCell::Int(i) => writer.push(Cell::Int(*i)),
                OwnedCell::Float(f) => writer.push(Cell::Float(*f)),
                OwnedCell::Json(text) => writer.push_json(text),
                OwnedCell::Text(text) => writer.push_text(text),
            }
        }
    }
    rows
}

impl EntitySource for CachedSource {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn strategy(&self) -> &'static str {
        self.inner.strategy()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }

    fn begin<'a>(
        &'a self,
        ctx: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Box<dyn UnitOfWork>, ResolveError>> {
        Box::pin(async move {
            let work = self.inner.begin(ctx).await?;
            Ok(Box::new(CachingUnitOfWork::new(
                work,
                Arc::clone(&self.cache),
                Scope::of(ctx),
            )) as Box<dyn UnitOfWork>)
        })
    }

    fn page<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        self.inner.page(ctx, request)
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        if self.cached_lookup(&request).is_none() {
            return self.inner.fetch(ctx, request);
        }
        let span = tracing::debug_span!(
            "cache_lookup",
            type_name = %request.mapping.type_name,
            keys = request.keys.len(),
            memory_hits = tracing::field::Empty,
            redis_hits = tracing::field::Empty,
        );
        Box::pin(tracing::Instrument::instrument(
            self.fetch_cached(ctx, request),
            span,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher as _;

    use super::*;

    #[test]
    fn a_borrowed_key_hashes_and_compares_as_the_owned_one() {
        let scope = Scope {
            tenant: TenantId::new("a").unwrap(),
            schema: Some(SchemaName::new("tenant_a").unwrap()),
        };
        let key = EntityKey::new(
            Name::new("User").unwrap(),
            KeyIndex(0),
            vec![graft_keys::KeyValue::Int(7)],
        );
        let owned = EntryKey {
            scope: scope.clone(),
            generation: 3,
            key: key.clone(),
        };
        let borrowed = EntryRef {
            scope: &scope,
            generation: 3,
            key: &key,
        };
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(&owned), state.hash_one(&borrowed));
        assert!(quick_cache::Equivalent::equivalent(&borrowed, &owned));
        let other = EntryRef {
            generation: 4,
            ..borrowed
        };
        assert!(!quick_cache::Equivalent::equivalent(&other, &owned));
    }
}
