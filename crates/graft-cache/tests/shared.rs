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
        self.instance_on(&self.target, timeout).await
    }

    /// An instance reaching Redis at `target` (a proxy of the world's Redis, say).
    async fn instance_on(&self, target: &RedisTarget, timeout: Duration) -> Instance {
        self.instance_with(target, timeout, 1 << 20).await
    }

    /// An instance whose first level may take `max_bytes`.
    async fn instance_with(
        &self,
        target: &RedisTarget,
        timeout: Duration,
        max_bytes: u64,
    ) -> Instance {
        let types: HashMap<_, _> = ["User", "Badge"]
            .into_iter()
            .map(|t| {
                (
                    apollo_compiler::Name::new(t).unwrap(),
                    Duration::from_secs(60),
                )
            })
            .collect();
        let redis = Arc::new(Redis::new(target, timeout).expect("a target"));
        let cache = EntityCache::shared(
            &CacheConfig {
                max_bytes,
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

    /// The test's keys in Redis that are entries (not generations).
    async fn entries_in_redis(&self) -> usize {
        let redis = Redis::new(&self.target, Duration::from_secs(2)).unwrap();
        let pattern = format!("{}:*", self.shared.key_prefix);
        let keys: Vec<String> = redis
            .call(|mut c| async move { redis::cmd("KEYS").arg(&pattern).query_async(&mut c).await })
            .await
            .unwrap();
        keys.iter().filter(|key| !key.ends_with(":g")).count()
    }

    /// The generation of `tenant`'s `type_name` in Redis.
    async fn generation(&self, tenant: &str, type_name: &str) -> Option<u64> {
        let redis = Redis::new(&self.target, Duration::from_secs(2)).unwrap();
        let key = format!("{}:{{{tenant}:{type_name}}}:g", self.shared.key_prefix);
        redis
            .call(|mut c| async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
            .await
            .unwrap()
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
    // The write-back happens in the background: b reads once it is there.
    eventually(async || world.entries_in_redis().await == 2).await;
    world.names(&b, "t1", &keys).await;
    assert_eq!(b.cache.stats().shared_hits.load(Ordering::SeqCst), 2);
    assert_eq!(world.statements(), 1, "b is answered from Redis");
    world.names(&b, "t2", &keys).await;
    assert_eq!(world.statements(), 2, "another tenant shares nothing");

    // A write on b: a's first level and the shared entries are forgotten; the generation
    // moved before the write answered.
    let before = world
        .generation("t1", "User")
        .await
        .expect("started by the reads");
    world.rename(&b, "t1", 1, "Ada L.").await;
    assert_eq!(world.generation("t1", "User").await, Some(before + 1));
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
async fn a_redis_that_never_answers_costs_a_bounded_wait_then_the_database_answers() {
    // A listener that never accepts: connections open, and nothing ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let world = World::new(RedisTarget::Node(url)).await;
    let a = world.instance(Duration::from_millis(50)).await;
    // Rows that do not exist are not kept in memory: every read asks Redis, then the database.
    let first = Instant::now();
    assert_eq!(world.names(&a, "t1", &[id("User", 100)]).await, [None]);
    assert!(
        first.elapsed() < Duration::from_millis(500),
        "{:?}",
        first.elapsed()
    );
    let started = Instant::now();
    for i in 0..20 {
        assert_eq!(world.names(&a, "t1", &[id("User", 101 + i)]).await, [None]);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?} for 20 reads while Redis rests",
        started.elapsed()
    );
    assert_eq!(world.statements(), 21, "the database answers every read");
    world.rename(&a, "t1", 2, "Robert").await;
    assert_eq!(
        world.names(&a, "t1", &[id("User", 2)]).await,
        [some(&["Robert"])],
        "a write still invalidates the first level"
    );
    let redis = a.cache.redis().expect("a second level");
    let stats = redis.stats();
    assert!(
        stats.timeouts.load(Ordering::SeqCst) >= 1,
        "timeouts are counted"
    );
    assert!(
        stats.skipped.load(Ordering::SeqCst) >= 1,
        "rests are counted"
    );
    drop(silent);
}

/// A TCP proxy in front of the machine's Redis that can be cut (every connection closed, new
/// ones refused) and restored.
struct Proxy {
    address: std::net::SocketAddr,
    up: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (up, _) = tokio::sync::watch::channel(true);
        let up = Arc::new(up);
        let state = Arc::clone(&up);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut watch = state.subscribe();
                if !*watch.borrow() {
                    continue; // dropped: refused
                }
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:6379").await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { address, up }
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test]
async fn an_invalidation_redis_missed_is_retried_and_the_writer_never_serves_the_old_row() {
    let world = World::new(RedisTarget::Node("redis://127.0.0.1:6379".into())).await;
    let proxy = Proxy::start().await;
    let through_proxy = RedisTarget::Node(format!("redis://{}", proxy.address));
    let a = world
        .instance_on(&through_proxy, Duration::from_millis(200))
        .await;
    assert_eq!(
        world.names(&a, "t1", &[id("User", 1)]).await,
        [some(&["Ada"])]
    );
    eventually(async || world.entries_in_redis().await == 1).await;
    // Redis cut: the write's invalidation cannot reach it, nor its retries (each failure
    // rests the breaker a second; the retries come further and further apart)...
    proxy.set(false);
    world.rename(&a, "t1", 1, "Ada L.").await;
    assert!(a.cache.stats().invalidations_unsent.load(Ordering::SeqCst) >= 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // ...until Redis is back after a rest and before the next retry: the old entry is there,
    // of the current generation, and the writer does not read it.
    let redis = a.cache.redis().expect("a second level");
    eventually(async || !redis.is_resting()).await;
    proxy.set(true);
    for _ in 0..3 {
        assert_eq!(
            world.names(&a, "t1", &[id("User", 1)]).await,
            [some(&["Ada L."])]
        );
    }
    // Once the retry reached Redis, no instance reads it: the generation moved.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let fresh = world.instance(Duration::from_secs(1)).await;
    assert_eq!(
        world.names(&fresh, "t1", &[id("User", 1)]).await,
        [some(&["Ada L."])]
    );
}

#[tokio::test]
async fn without_a_first_level_every_lookup_is_answered_from_redis() {
    let world = World::new(RedisTarget::Node("redis://127.0.0.1:6379".into())).await;
    let a = world
        .instance_with(&world.target, Duration::from_secs(1), 0)
        .await;
    let keys = [id("User", 1), id("User", 2)];
    world.names(&a, "t1", &keys).await;
    eventually(async || world.entries_in_redis().await == 2).await;
    for _ in 0..3 {
        assert_eq!(
            world.names(&a, "t1", &keys).await,
            [some(&["Ada"]), some(&["Bob"])]
        );
    }
    assert_eq!(world.statements(), 1, "one read of the database");
    let stats = a.cache.stats();
    assert_eq!(stats.hits.load(Ordering::SeqCst), 0, "nothing in memory");
    assert_eq!(stats.shared_hits.load(Ordering::SeqCst), 6);
    assert!(a.cache.is_empty());
}
