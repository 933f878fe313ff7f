//! One connection to the Redis that graft's instances share state through: a single node or a
//! Redis Cluster, behind one type, so that the entity cache and the rate limits use either
//! without knowing which.
//!
//! Redis is an optimisation wherever graft uses it, never a dependency a request waits on for
//! long, so every call goes through [`Redis::call`]:
//!
//! - **bounded:** a call that takes longer than the configured timeout is abandoned, and the
//!   caller does without Redis; a connection is made in the background (with a longer timeout
//!   of its own), so a call waits for it at most its own timeout;
//! - **a breaker:** after a failure or a timeout, calls are refused at once for
//!   [`REST_AFTER_FAILURE`] from then, so a Redis that is down costs one timeout per second,
//!   not one per request; [`Redis::call_regardless`] is for the calls that must be tried
//!   anyway (invalidations);
//! - **counted:** [`RedisStats`] says how many calls failed, timed out or were skipped.
//!
//! A cluster's callers keep every key of one call in one hash slot (a `{hash tag}`), which the
//! cluster requires of `MGET` and of scripts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use serde::Deserialize;

/// How long calls are refused after a failure before Redis is tried again.
pub const REST_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The least time a connection may take to be made, in the background.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where Redis is, as `graft.toml` gives it: one URL for a single node, a list of seed nodes
/// for a Redis Cluster.
///
/// ```toml
/// redis_url = "redis://127.0.0.1:6379"
/// # redis_url = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]   # a cluster
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RedisTarget {
    /// One Redis server.
    Node(String),
    /// A Redis Cluster, found from these seed nodes (any of them will do).
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// The URLs given, for messages and for pub/sub (which any node of a cluster serves).
    pub fn urls(&self) -> &[String] {
        match self {
            RedisTarget::Node(url) => std::slice::from_ref(url),
            RedisTarget::Cluster(urls) => urls,
        }
    }
}

/// Why a call to Redis did not answer.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The configuration is not usable (a malformed URL, an empty list of nodes).
    #[error("{0}")]
    Config(String),
    /// A recent failure: Redis is not tried again until the rest is over.
    #[error("Redis is resting after a failure")]
    Resting,
    /// Redis did not answer within the timeout.
    #[error("Redis took longer than {0:?}")]
    TimedOut(Duration),
    /// Redis answered with an error, or the connection failed.
    #[error("Redis failed: {0}")]
    Failed(#[from] redis::RedisError),
}

/// What the calls to Redis came to, for metrics and tests.
#[derive(Debug, Default)]
pub struct RedisStats {
    /// Calls made (skipped ones not counted).
    pub calls: AtomicU64,
    /// Calls that failed (an error answer, a lost connection).
    pub failures: AtomicU64,
    /// Calls abandoned at the timeout.
    pub timeouts: AtomicU64,
    /// Calls refused during a rest after a failure.
    pub skipped: AtomicU64,
}

/// A connection to a single node or to a cluster; cheap to clone (both multiplex their
/// requests over shared sockets).
#[derive(Clone)]
pub struct Connection(Inner);

#[derive(Clone)]
enum Inner {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Inner::Node(connection) => connection.req_packed_command(cmd),
            Inner::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Inner::Node(connection) => connection.req_packed_commands(cmd, offset, count),
            Inner::Cluster(connection) => connection.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Inner::Node(connection) => connection.get_db(),
            Inner::Cluster(connection) => connection.get_db(),
        }
    }
}

enum Client {
    Node(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

impl Client {
    async fn connect(&self) -> redis::RedisResult<Connection> {
        Ok(Connection(match self {
            Client::Node(client) => Inner::Node(client.get_multiplexed_async_connection().await?),
            Client::Cluster(client) => Inner::Cluster(client.get_async_connection().await?),
        }))
    }
}

/// The connection and the breaker, shared with the task that connects in the background.
struct Link {
    client: Client,
    connection: std::sync::Mutex<Option<Connection>>,
    /// Whether a connection is being made.
    connecting: AtomicBool,
    /// Told when a connection is made.
    connected: tokio::sync::Notify,
    /// How long making a connection may take (cluster slot discovery included).
    connect_timeout: Duration,
    opened: Instant,
    /// Until when (ms since `opened`) guarded calls are refused after a failure.
    rest_until_ms: AtomicU64,
    stats: RedisStats,
}

impl Link {
    fn current(&self) -> Option<Connection> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Starts making a connection in the background, unless one is being made.
    fn start_connecting(self: &Arc<Self>) {
        if self.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let link = Arc::clone(self);
        tokio::spawn(async move {
            match tokio::time::timeout(link.connect_timeout, link.client.connect()).await {
                Ok(Ok(connection)) => {
                    *link
                        .connection
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(connection);
                    link.connected.notify_waiters();
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "could not connect to Redis; doing without it for a second");
                    link.stats.failures.fetch_add(1, Ordering::Relaxed);
                    link.rest();
                }
                Err(_) => {
                    tracing::warn!(timeout = ?link.connect_timeout, "connecting to Redis took too long; doing without it for a second");
                    link.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    link.rest();
                }
            }
            link.connecting.store(false, Ordering::Release);
        });
    }

    /// The connection, once one is made (waits for the task making it).
    async fn wait_connected(self: &Arc<Self>) -> Connection {
        loop {
            let notified = self.connected.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(connection) = self.current() {
                return connection;
            }
            self.start_connecting();
            notified.await;
        }
    }

    /// After a failure: a fresh connection next time, and no guarded call for a while from
    /// now.
    fn rest(&self) {
        let rest = u64::try_from(REST_AFTER_FAILURE.as_millis()).unwrap_or(u64::MAX);
        self.rest_until_ms
            .store(self.now_ms().saturating_add(rest), Ordering::Relaxed);
        *self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn resting(&self) -> bool {
        self.now_ms() < self.rest_until_ms.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A Redis shared by every request of an instance, connected on first use, in the background.
pub struct Redis {
    target: RedisTarget,
    timeout: Duration,
    link: Arc<Link>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("target", &self.target)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A Redis at `target` whose calls each take at most `timeout`. Connects nothing yet;
    /// fails only on a malformed URL or an empty list of nodes.
    ///
    /// A connection is made in the background, given [`CONNECT_TIMEOUT`] or `timeout`,
    /// whichever is longer (a cluster's slot discovery takes several round trips); a call
    /// waits for it only as long as its own timeout.
    pub fn new(target: &RedisTarget, timeout: Duration) -> Result<Redis, RedisError> {
        let connect_timeout = timeout.max(CONNECT_TIMEOUT);
        let client = match target {
            RedisTarget::Node(url) => Client::Node(
                redis::Client::open(url.as_str())
                    .map_err(|e| RedisError::Config(format!("{url}: {e}")))?,
            ),
            RedisTarget::Cluster(urls) => {
                if urls.is_empty() {
                    return Err(RedisError::Config(
                        "a Redis Cluster needs at least one node".into(),
                    ));
                }
                for url in urls {
                    redis::Client::open(url.as_str())
                        .map_err(|e| RedisError::Config(format!("{url}: {e}")))?;
                }
                Client::Cluster(
                    redis::cluster::ClusterClientBuilder::new(urls.iter().map(String::as_str))
                        .connection_timeout(connect_timeout)
                        .response_timeout(connect_timeout)
                        .retries(1)
                        .build()
                        .map_err(|e| RedisError::Config(e.to_string()))?,
                )
            }
        };
        Ok(Redis {
            target: target.clone(),
            timeout,
            link: Arc::new(Link {
                client,
                connection: std::sync::Mutex::new(None),
                connecting: AtomicBool::new(false),
                connected: tokio::sync::Notify::new(),
                connect_timeout,
                opened: Instant::now(),
                rest_until_ms: AtomicU64::new(0),
                stats: RedisStats::default(),
            }),
        })
    }

    /// Where it is.
    pub fn target(&self) -> &RedisTarget {
        &self.target
    }

    /// The longest a call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What the calls came to so far.
    pub fn stats(&self) -> &RedisStats {
        &self.link.stats
    }

    /// Whether the breaker rests after a failure (guarded calls are refused now).
    pub fn is_resting(&self) -> bool {
        self.link.resting()
    }

    /// Runs `call` on the connection within the timeout (waiting for the connection counts).
    /// A failure or a timeout drops the connection and rests the breaker; during a rest the
    /// call is refused at once with [`RedisError::Resting`]. For what may be skipped: reads,
    /// write-backs, rate-limit checks.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.link.resting() {
            self.link.stats.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(RedisError::Resting);
        }
        self.call_regardless(call).await
    }

    /// [`Redis::call`], tried even while the breaker rests: for what must not be skipped
    /// because another call failed (an invalidation after a commit). Still within the timeout.
    pub async fn call_regardless<T, F, Fut>(&self, call: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.link.stats.calls.fetch_add(1, Ordering::Relaxed);
        let link = &self.link;
        let answer = tokio::time::timeout(self.timeout, async {
            let connection = match link.current() {
                Some(connection) => connection,
                None => link.wait_connected().await,
            };
            call(connection).await
        })
        .await;
        let error = match answer {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => {
                self.link.stats.failures.fetch_add(1, Ordering::Relaxed);
                RedisError::Failed(error)
            }
            Err(_) => {
                self.link.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                RedisError::TimedOut(self.timeout)
            }
        };
        self.link.rest();
        Err(error)
    }

    /// A pub/sub connection subscribed to `channel`. On a cluster, the first node of the list
    /// that answers: a message published on any node reaches the subscribers of every node.
    pub async fn subscribe(&self, channel: &str) -> Result<redis::aio::PubSub, RedisError> {
        let mut last = RedisError::Config("no Redis node to subscribe to".into());
        for url in self.target.urls() {
            let attempt = tokio::time::timeout(self.link.connect_timeout, async {
                let mut pubsub = redis::Client::open(url.as_str())?
                    .get_async_pubsub()
                    .await?;
                pubsub.subscribe(channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            })
            .await;
            match attempt {
                Ok(Ok(pubsub)) => return Ok(pubsub),
                Ok(Err(error)) => last = RedisError::Failed(error),
                Err(_) => last = RedisError::TimedOut(self.link.connect_timeout),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_one_url_or_a_list_of_cluster_nodes() {
        #[derive(Deserialize)]
        struct Section {
            redis_url: RedisTarget,
        }
        let one: Section = toml_like(r#"{"redis_url": "redis://127.0.0.1:6379"}"#);
        assert_eq!(
            one.redis_url,
            RedisTarget::Node("redis://127.0.0.1:6379".into())
        );
        let many: Section = toml_like(r#"{"redis_url": ["redis://a:1", "redis://b:2"]}"#);
        assert_eq!(many.redis_url.urls().len(), 2);
        assert!(matches!(many.redis_url, RedisTarget::Cluster(_)));
    }

    fn toml_like<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).expect("valid")
    }

    #[test]
    fn malformed_targets_are_refused_before_any_connection() {
        let bad = Redis::new(
            &RedisTarget::Node("not a url".into()),
            Duration::from_millis(5),
        );
        assert!(matches!(bad, Err(RedisError::Config(_))), "{bad:?}");
        let empty = Redis::new(&RedisTarget::Cluster(vec![]), Duration::from_millis(5));
        assert!(matches!(empty, Err(RedisError::Config(_))), "{empty:?}");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_within_the_timeout_then_rests() {
        // Port 1 on loopback refuses connections at once.
        let redis = Redis::new(
            &RedisTarget::Node("redis://127.0.0.1:1".into()),
            Duration::from_millis(200),
        )
        .expect("a well-formed URL");
        let started = Instant::now();
        let first = redis
            .call(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await;
        assert!(
            matches!(first, Err(RedisError::Failed(_) | RedisError::TimedOut(_))),
            "{first:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        let second = redis
            .call(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await;
        assert!(matches!(second, Err(RedisError::Resting)), "{second:?}");
        assert_eq!(redis.stats().skipped.load(Ordering::Relaxed), 1);
    }
}
