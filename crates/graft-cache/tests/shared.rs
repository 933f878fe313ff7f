//! The cache's second level, on the machine's Redis and on a real three-node Redis Cluster:
//! several "instances" (caches of their own over one database) share entries and
//! invalidations, a read a write overtook keeps nothing in Redis either, and a Redis that is
//! down costs a bounded wait, then the database answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use graft_cache::{CacheConfig, CachedSource, EntityCache, SharedConfig};
use graft_db::sqlite::SqliteSource;
use graft_keys::EntityKey;
use graft_redis::{Redis, RedisTarget};
use graft_resolve::{
    EntitySource, FetchRequest, Isolation, RequestContext, SourceObserver, TenantId, UpdateRequest,
    WriteValue,
};
use graft_schema::SubgraphSchema;
use graft_testkit::{RedisCluster, RedisPrefix};

mod common;
use common::{DDL, Paused, SDL, Statements, id, some, text_rows};

/// One database and the Redis every instance shares, with a key prefix of its own.
struct World {
    schema: SubgraphSchema,
    db: Arc<dyn EntitySource>,
    target: RedisTarget,
    shared: SharedConfig,
    statements: Arc<Statements>,
    /// Deletes the test's keys from the machine's Redis when dropped.
    _keys: RedisPrefix,
}

/// One graft instance: its own first level over the shared database and Redis.
struct Instance {
    source: CachedSource,
    cache: Arc<EntityCache>,
}

impl World {
    async fn new(target: RedisTarget) -> World {
        let db = SqliteSource::in_memory("db").await.expect("opens");
        db.run_script("ddl", DDL).await.expect("ddl");
        let keys = RedisPrefix::new("graft_cache_test");
        let prefix = keys.name().to_owned();
        World {
            schema: SubgraphSchema::parse(SDL, "cache.graphql").expect("valid"),
            db: Arc::new(db),
            target,
            shared: SharedConfig {
                channel: format!("{prefix}:invalidations"),
                key_prefix: prefix,
            },
            statements: Arc::new(Statements::default()),
            _keys: keys,
        }
    }

    async fn instance(&self, timeout: Duration) -> Instance {
        let types: HashMap<_, _> = ["User", "Badge"]
            .into_iter()
            .map(|t| {
                (
                    apollo_compiler::Name::new(t).unwrap(),
                    Duration::from_secs(60),
                )
            })
            .collect();
        let redis = Arc::new(Redis::new(&self.target, timeout).expect("a target"));
        let cache = EntityCache::shared(
            &CacheConfig {
                max_bytes: 1 << 20,
                types,
                tables: HashMap::new(),
            },
            redis,
            self.shared.clone(),
        )
        .expect("a prefix without braces");
        // Subscribed before the test goes on, so that no invalidation is missed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Instance {
            source: CachedSource::new(Arc::clone(&self.db), Arc::clone(&cache)),
            cache,
        }
    }

    fn ctx(&self, tenant: &str) -> RequestContext {
        RequestContext::new("test")
            .for_tenant(TenantId::new(tenant).unwrap(), Isolation::None)
            .observed_by(Arc::clone(&self.statements) as Arc<dyn SourceObserver>)
    }

    fn statements(&self) -> usize {
        self.statements.0.load(Ordering::SeqCst)
    }

    async fn names(
        &self,
        on: &Instance,
        tenant: &str,
        keys: &[EntityKey],
    ) -> Vec<Option<Vec<String>>> {
        let mapping = self.schema.mapping("User").expect("mapped");
        let columns = [mapping.column_index("name").unwrap()];
        let refs: Vec<&EntityKey> = keys.iter().collect();
        let rows = on
            .source
            .fetch(
                &self.ctx(tenant),
                FetchRequest::by_key(mapping, keys[0].key_index(), &refs, &columns),
            )
            .await
            .expect("fetches");
        text_rows(&rows, keys.len())
    }

    async fn rename(&self, on: &Instance, tenant: &str, user: i64, name: &str) {
        let mapping = self.schema.mapping("User").unwrap();
        let key = id("User", user);
        let column = mapping.column_index("name").unwrap();
        let mut work = on.source.begin(&self.ctx(tenant)).await.expect("begins");
        work.update(UpdateRequest {
            mapping,
            match_columns: mapping.key_columns(graft_keys::KeyIndex(0)),
            key: &key,
            set: &[(column, WriteValue::Text(name.to_owned()))],
            returning: &[column],
        })
        .await
        .expect("updates");
        work.commit().await.expect("commits");
    }
}

/// Waits (up to 5 s) until `done` holds: invalidations reach other instances by pub/sub.
async fn eventually(mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done().await {
        assert!(Instant::now() < deadline, "not within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What two instances see of one another's reads and writes, on `target`.
async fn instances_share_entries_and_invalidations(target: RedisTarget) {
    let world = World::new(target).await;
    let a = world.instance(Duration::from_secs(1)).await;
    let b = world.instance(Duration::from_secs(1)).await;
    let keys = [id("User", 1), id("User", 2)];
    assert_eq!(
        world.names(&a, "t1", &keys).await,
        [some(&["Ada"]), some(&["Bob"])]
    );
    assert_eq!(world.statements(), 1, "a's miss reads the database once");
    // The write-back happens in the background.
    eventually(async || {
        world.names(&b, "t1", &keys).await;
        b.cache.stats().shared_hits.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(world.statements(), 1, "b is answered from Redis");
    world.names(&b, "t2", &keys).await;
    assert_eq!(world.statements(), 2, "another tenant shares nothing");

    // A write on b: a's first level and the shared entries are forgotten.
    world.rename(&b, "t1", 1, "Ada L.").await;
    eventually(async || world.names(&a, "t1", &keys[..1]).await == [some(&["Ada L."])]).await;
    let after = world.statements();
    // A third instance, started afresh, is answered from Redis with the new name.
    let c = world.instance(Duration::from_secs(1)).await;
    eventually(async || {
        world.names(&c, "t1", &keys[..1]).await == [some(&["Ada L."])]
            && c.cache.stats().shared_hits.load(Ordering::SeqCst) >= 1
    })
    .await;
    assert_eq!(world.statements(), after, "c read no database");
}

#[tokio::test]
async fn instances_share_entries_and_invalidations_on_one_redis() {
    instances_share_entries_and_invalidations(RedisTarget::Node("redis://127.0.0.1:6379".into()))
        .await;
}

#[tokio::test]
async fn instances_share_entries_and_invalidations_on_a_redis_cluster() {
    let cluster = RedisCluster::start(3);
    instances_share_entries_and_invalidations(RedisTarget::Cluster(cluster.urls())).await;
}

#[tokio::test]
async fn a_read_that_a_write_overtook_keeps_nothing_in_redis() {
    let mut world = World::new(RedisTarget::Node("redis://127.0.0.1:6379".into())).await;
    let b = world.instance(Duration::from_secs(1)).await;
    let go = Arc::new(tokio::sync::Notify::new());
    let reached = Arc::new(tokio::sync::Notify::new());
    let db = Arc::clone(&world.db);
    world.db = Arc::new(Paused {
        inner: db,
        go: Arc::clone(&go),
        reached: Arc::clone(&reached),
        hold: Arc::new(std::sync::atomic::AtomicBool::new(true)),
    });
    let a = world.instance(Duration::from_secs(1)).await;
    let world = Arc::new(world);
    // a reads the generation (and no entry) from Redis, then the old row from the database,
    // and stalls before writing it back...
    let reader = {
        let world = Arc::clone(&world);
        tokio::spawn(async move { world.names(&a, "t1", &[id("User", 1)]).await })
    };
    reached.notified().await;
    // ...while b commits a new name, which moves the generation...
    world.rename(&b, "t1", 1, "Ada L.").await;
    go.notify_one();
    assert_eq!(
        reader.await.unwrap(),
        [some(&["Ada"])],
        "a answers what it read"
    );
    // ...so a's write-back stores nothing: Redis holds the generation and no entry.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", world.shared.key_prefix))
        .query_async(&mut connection)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, [format!("{}:{{t1:User}}:g", world.shared.key_prefix)]);
    let c = world.instance(Duration::from_secs(1)).await;
    assert_eq!(
        world.names(&c, "t1", &[id("User", 1)]).await,
        [some(&["Ada L."])]
    );
}

#[tokio::test]
async fn a_redis_that_is_down_costs_a_bounded_wait_then_the_database_answers() {
    // Nothing listens on port 1: every call fails at once, then rests for a second.
    let world = World::new(RedisTarget::Node("redis://127.0.0.1:1".into())).await;
    let a = world.instance(Duration::from_millis(50)).await;
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            world.names(&a, "t1", &[id("User", 2)]).await,
            [some(&["Bob"])]
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?} for 20 reads",
        started.elapsed()
    );
    assert_eq!(world.statements(), 1, "the first level still answers");
    world.rename(&a, "t1", 2, "Robert").await;
    assert_eq!(
        world.names(&a, "t1", &[id("User", 2)]).await,
        [some(&["Robert"])],
        "a write still invalidates the first level"
    );
    let redis = a.cache.redis().expect("a second level");
    let stats = redis.stats();
    assert!(
        stats.failures.load(Ordering::SeqCst) + stats.timeouts.load(Ordering::SeqCst) >= 1,
        "failures are counted"
    );
}
