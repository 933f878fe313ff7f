//! Invalidations shared by every instance: each one an instance commits is published on a
//! Redis pub/sub channel, and every other instance forgets the same entries.
//!
//! A message is JSON: the publishing instance, the tenant, the schema and the type flushed. An instance that loses its subscription
//! may miss messages, so each (re)subscription flushes its in-process entries. Redis down or
//! slow never fails a request: publishing happens in the background, and without the
//! subscription an instance still serves, its entries bounded by their TTL.

use std::sync::Arc;
use std::time::Duration;

use apollo_compiler::Name;
use futures_util::StreamExt as _;
use graft_resolve::{SchemaName, TenantId};
use serde_json::{Value, json};

use crate::{EntityCache, Scope};

/// The publishing side: a Redis client and the channel.
pub(crate) struct Broadcast {
    client: redis::Client,
    channel: String,
    /// Names this instance, so that it skips its own messages.
    instance: String,
    publisher: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
}

/// Longest a publish may take before it is given up (in the background).
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);

impl Broadcast {
    pub(crate) fn new(url: &str, channel: &str) -> Result<Broadcast, String> {
        let client = redis::Client::open(url).map_err(|e| format!("cache.redis_url: {e}"))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Broadcast {
            client,
            channel: channel.to_owned(),
            instance: format!("{}-{nanos}", std::process::id()),
            publisher: tokio::sync::Mutex::new(None),
        })
    }

    /// Publishes an invalidation, in the background.
    pub(crate) fn publish(self: &Arc<Self>, scope: &Scope, type_name: &Name) {
        let message = json!({
            "i": self.instance,
            "t": scope.tenant.as_str(),
            "s": scope.schema.as_ref().map(SchemaName::as_str),
            "y": type_name.as_str(),
        })
        .to_string();
        let broadcast = Arc::clone(self);
        tokio::spawn(async move {
            let sent = tokio::time::timeout(PUBLISH_TIMEOUT, broadcast.send(&message)).await;
            if !matches!(sent, Ok(Ok(()))) {
                tracing::warn!(channel = %broadcast.channel, "could not publish a cache invalidation; other instances keep the entry until its TTL");
                *broadcast.publisher.lock().await = None;
            }
        });
    }

    async fn send(&self, message: &str) -> redis::RedisResult<()> {
        // The lock only hands out the connection (multiplexed, so cloned): publishes do not
        // wait for each other.
        let mut connection = {
            let mut publisher = self.publisher.lock().await;
            if publisher.is_none() {
                *publisher = Some(self.client.get_multiplexed_async_connection().await?);
            }
            publisher.clone().expect("connected above")
        };
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(message)
            .query_async::<()>(&mut connection)
            .await
    }

    /// Listens for other instances' invalidations until the process ends, resubscribing
    /// (and flushing the cache) whenever the subscription is lost.
    pub(crate) fn listen(self: Arc<Self>, cache: std::sync::Weak<EntityCache>) {
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(100);
            loop {
                match self.client.get_async_pubsub().await {
                    Ok(mut pubsub) => match pubsub.subscribe(&self.channel).await {
                        Ok(()) => {
                            pause = Duration::from_millis(100);
                            // What was published while unsubscribed is lost: start afresh.
                            let Some(live) = cache.upgrade() else { return };
                            live.clear();
                            drop(live);
                            let mut messages = pubsub.into_on_message();
                            while let Some(message) = messages.next().await {
                                let Some(live) = cache.upgrade() else { return };
                                self.apply(&live, message.get_payload_bytes());
                            }
                            tracing::warn!(channel = %self.channel, "cache invalidation subscription lost; resubscribing");
                        }
                        Err(error) => {
                            tracing::warn!(%error, "could not subscribe to cache invalidations");
                        }
                    },
                    Err(error) => {
                        tracing::warn!(%error, "could not reach Redis for cache invalidations");
                    }
                }
                if cache.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
    }

    /// Applies another instance's invalidation; ignores its own and malformed ones.
    fn apply(&self, cache: &EntityCache, payload: &[u8]) {
        let Ok(message) = serde_json::from_slice::<Value>(payload) else {
            tracing::debug!("a cache invalidation that is not JSON");
            return;
        };
        if message["i"].as_str() == Some(&self.instance) {
            return;
        }
        let parsed = (|| {
            let tenant = TenantId::new(message["t"].as_str()?).ok()?;
            let schema = match &message["s"] {
                Value::Null => None,
                value => Some(SchemaName::new(value.as_str()?).ok()?),
            };
            let type_name = Name::new(message["y"].as_str()?).ok()?;
            Some((Scope { tenant, schema }, type_name))
        })();
        match parsed {
            // Only types this instance caches: a message cannot grow its state.
            Some((scope, type_name)) if cache.ttl(&type_name).is_some() => {
                cache.invalidate_here(&scope, &type_name);
            }
            Some(_) => {}
            None => tracing::debug!("a malformed cache invalidation"),
        }
    }
}
