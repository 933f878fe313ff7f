//! The second level, shared by every instance: entries in Redis (a single node or a Redis
//! Cluster), and invalidations published to every instance's first level.
//!
//! **Keys.** Every key of one tenant's type lives in one hash slot, so that a fetch group is one
//! `MGET` and a write-back one script, on a cluster as on a single node:
//!
//! ```text
//! <prefix>:{<tenant>:<Type>}:g                                  the generation (never expires)
//! <prefix>:{<tenant>:<Type>}:<schema>:<mapping hash>:<key>      an entry (expires at its TTL)
//! ```
//!
//! The mapping hash changes when the type's columns do, so a deploy with another mapping never
//! reads an entry the old one wrote. The key is [`EntityKey::encode`], which is injective.
//!
//! **Values.** An entry is its row with every mapped column and, in front, the generation it was
//! read under and when: an entry is valid only while its generation is the type's current
//! one.
//!
//! **Invalidation and the read-after-write race.** A write, after its commit, increments the
//! generation and publishes the flush in one script. A read takes the generation in the same
//! `MGET` as its entries, *before* it reads the database, and writes back through a script that
//! stores nothing unless the generation is still the one it read. A read that overlapped a
//! write thus either fails that check or stores entries of a generation already past: never a
//! row the write changed, whatever the timing (not left to the TTL).
//!
//! **A generation never comes back.** A missing generation (never made, evicted, lost with a
//! node) is created with a random value, not counted from 0, so entries written under an
//! earlier life of the key never match it again. What Redis cannot promise is kept: an
//! increment acknowledged by a primary that fails over before replicating it is lost, and the
//! replica's older generation serves the old entries until their TTL (Redis replication is
//! asynchronous; `WAIT` after each invalidation would close it at a round trip per write).
//!
//! **Failure.** Reads and write-backs go through [`Redis::call`] (bounded by its timeout,
//! skipped while the breaker rests): a request whose Redis call fails reads the database as if
//! nothing were cached. Invalidations are tried even while the breaker rests; one that fails is
//! retried in the background until Redis takes it, and meanwhile this instance neither reads
//! nor writes the type's entries in Redis, so the writer never serves the old row. Other
//! instances keep their entries until the retry succeeds or their TTL ends; the failure is
//! counted and logged.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apollo_compiler::Name;
use futures_util::StreamExt as _;
use graft_keys::EntityKey;
use graft_redis::{Redis, RedisError};
use graft_resolve::{SchemaName, TenantId};
use graft_schema::EntityMapping;
use serde_json::{Value, json};

use crate::{CachedRow, EntityCache, OwnedCell, Scope};

/// Where the second level keeps its keys and sends its invalidations.
#[derive(Debug, Clone)]
pub struct SharedConfig {
    /// The first part of every key (default `graft:cache`); no `{` or `}`.
    pub key_prefix: String,
    /// The pub/sub channel of invalidations (default `graft:cache:invalidations`).
    pub channel: String,
}

impl Default for SharedConfig {
    fn default() -> SharedConfig {
        SharedConfig {
            key_prefix: "graft:cache".into(),
            channel: "graft:cache:invalidations".into(),
        }
    }
}

/// Stores `ARGV[3..]` under `KEYS[2..]` for `ARGV[2]` ms, unless the generation at `KEYS[1]`
/// is no longer `ARGV[1]`: a read does not keep what it read once a write has invalidated
/// the type.
const WRITE_BACK: &str = r"
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[2])
end
return 1
";

/// Moves the type at `KEYS[1]` to its next generation (a fresh random one, `ARGV[3]`, if it
/// has none) and tells every instance: `ARGV[1]` the channel, `ARGV[2]` the message.
const INVALIDATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
";

/// Gives the type at `KEYS[1]` the random generation `ARGV[1]` if it has none, and answers
/// its generation.
const START: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
";

/// A generation for a type that has none: random, below 2^52 (exact in Lua's numbers, and
/// far from overflowing `INCR`).
fn fresh_generation() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() & ((1 << 52) - 1)
}

/// The second level of one cache.
pub(crate) struct SharedLevel {
    redis: Arc<Redis>,
    config: SharedConfig,
    /// Names this instance, so that it skips its own messages.
    instance: String,
    write_back: redis::Script,
    invalidate: redis::Script,
    start: redis::Script,
}

/// What one `MGET` found: the type's generation then, and the valid entries.
pub(crate) struct SharedRead {
    pub(crate) generation: u64,
    pub(crate) rows: Vec<Option<CachedRow>>,
}

impl SharedLevel {
    pub(crate) fn new(redis: Arc<Redis>, config: SharedConfig) -> Result<SharedLevel, String> {
        if config.key_prefix.contains(['{', '}']) {
            return Err(format!(
                "cache key prefix {:?}: no braces (they choose a Redis Cluster's hash slot)",
                config.key_prefix
            ));
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(SharedLevel {
            redis,
            config,
            instance: format!("{}-{nanos}", std::process::id()),
            write_back: redis::Script::new(WRITE_BACK),
            invalidate: redis::Script::new(INVALIDATE),
            start: redis::Script::new(START),
        })
    }

    pub(crate) fn redis(&self) -> &Redis {
        &self.redis
    }

    /// The part every key of `tenant`'s `type_name` shares, hash tag included.
    fn tag(&self, tenant: &TenantId, type_name: &str) -> String {
        format!(
            "{}:{{{}:{type_name}}}",
            self.config.key_prefix,
            tenant.as_str()
        )
    }

    fn entry_key(&self, tag: &str, scope: &Scope, mapping_hash: u64, key: &EntityKey) -> String {
        let schema = scope.schema.as_ref().map_or("", SchemaName::as_str);
        format!("{tag}:{schema}:{mapping_hash:x}:{}", key.encode())
    }

    /// Reads the generation of `mapping`'s type in `scope` and the entries of `keys`, in one
    /// `MGET`; entries of another generation or another column count are misses.
    pub(crate) async fn read(
        &self,
        scope: &Scope,
        mapping: &EntityMapping,
        keys: &[&EntityKey],
    ) -> Result<SharedRead, RedisError> {
        let tag = self.tag(&scope.tenant, &mapping.type_name);
        let hash = mapping_hash(mapping);
        let mut names = Vec::with_capacity(keys.len() + 1);
        names.push(format!("{tag}:g"));
        names.extend(
            keys.iter()
                .map(|key| self.entry_key(&tag, scope, hash, key)),
        );
        let values: Vec<Option<Vec<u8>>> = self
            .redis
            .call(|mut connection| async move {
                redis::cmd("MGET")
                    .arg(&names)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let mut values = values.into_iter();
        let generation = values
            .next()
            .flatten()
            .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse::<u64>().ok());
        let Some(generation) = generation else {
            // No generation yet (or no longer): start one; no entry can be of it.
            let key = format!("{tag}:g");
            let fresh = fresh_generation();
            let generation: u64 = self
                .redis
                .call(|mut connection| async move {
                    self.start
                        .key(&key)
                        .arg(fresh)
                        .invoke_async(&mut connection)
                        .await
                })
                .await?;
            return Ok(SharedRead {
                generation,
                rows: keys.iter().map(|_| None).collect(),
            });
        };
        let rows = values
            .map(|value| {
                let (at, row) = decode(&value?, mapping.columns.len())?;
                (at == generation).then_some(row)
            })
            .collect();
        Ok(SharedRead { generation, rows })
    }

    /// Keeps `rows` (each with its key) for `ttl`, in the background, unless the type's
    /// generation moved past `generation` meanwhile.
    pub(crate) fn write_back(
        self: &Arc<Self>,
        scope: &Scope,
        mapping: &EntityMapping,
        generation: u64,
        ttl: Duration,
        rows: Vec<(&EntityKey, &CachedRow)>,
    ) {
        if rows.is_empty() {
            return;
        }
        let tag = self.tag(&scope.tenant, &mapping.type_name);
        let hash = mapping_hash(mapping);
        let mut keys = Vec::with_capacity(rows.len() + 1);
        keys.push(format!("{tag}:g"));
        let mut values = Vec::with_capacity(rows.len());
        for (key, row) in rows {
            keys.push(self.entry_key(&tag, scope, hash, key));
            values.push(encode(generation, row));
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let level = Arc::clone(self);
        tokio::spawn(async move {
            let mut invocation = level.write_back.prepare_invoke();
            for key in &keys {
                invocation.key(key);
            }
            invocation.arg(generation.to_string()).arg(ttl_ms);
            for value in &values {
                invocation.arg(value.as_slice());
            }
            let written = level
                .redis
                .call(|mut connection| async move {
                    invocation.invoke_async::<i64>(&mut connection).await
                })
                .await;
            if let Err(error) = written {
                tracing::debug!(%error, "cache: entries not written to Redis");
            }
        });
    }

    /// Moves `type_name` of `scope`'s tenant to its next generation and tells the other
    /// instances to forget it in `scope` (every schema of the tenant when `scope.schema` is
    /// `None` and `whole_tenant`).
    pub(crate) async fn invalidate(
        &self,
        scope: &Scope,
        type_name: &Name,
        whole_tenant: bool,
    ) -> Result<(), RedisError> {
        let message = json!({
            "i": self.instance,
            "t": scope.tenant.as_str(),
            "s": scope.schema.as_ref().map(SchemaName::as_str),
            "y": type_name.as_str(),
            "all": whole_tenant,
        })
        .to_string();
        let mut invocation = self.invalidate.prepare_invoke();
        invocation
            .key(format!("{}:g", self.tag(&scope.tenant, type_name)))
            .arg(&self.config.channel)
            .arg(message)
            .arg(fresh_generation());
        self.redis
            .call_regardless(|mut connection| async move {
                invocation.invoke_async::<i64>(&mut connection).await
            })
            .await
            .map(drop)
    }

    /// Listens for other instances' invalidations until the cache is dropped, resubscribing
    /// (and flushing the first level) whenever the subscription is lost.
    pub(crate) fn listen(self: Arc<Self>, cache: std::sync::Weak<EntityCache>) {
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(100);
            loop {
                match self.redis.subscribe(&self.config.channel).await {
                    Ok(pubsub) => {
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
                        tracing::warn!(channel = %self.config.channel, "cache invalidation subscription lost; resubscribing");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not subscribe to cache invalidations");
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

    /// Applies another instance's invalidation to this one's first level; ignores its own and
    /// malformed ones.
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
            let whole_tenant = message["all"].as_bool().unwrap_or(false);
            Some((Scope { tenant, schema }, type_name, whole_tenant))
        })();
        match parsed {
            Some((scope, _, true)) => cache.forget_tenant_here(&scope.tenant),
            // Only types this instance caches: a message cannot grow its state.
            Some((scope, type_name, false)) if cache.ttl(&type_name).is_some() => {
                cache.invalidate_here(&scope, &type_name);
            }
            Some(_) => {}
            None => tracing::debug!("a malformed cache invalidation"),
        }
    }
}

/// A hash of what `mapping` reads (type, table, columns and their types), stable across
/// processes and builds (FNV-1a, not the standard library's randomly keyed hasher).
fn mapping_hash(mapping: &EntityMapping) -> u64 {
    use std::fmt::Write as _;
    // Each piece is followed by 0xff, which no UTF-8 text contains. Written straight into the
    // hash: this runs for every Redis read and write-back, and allocates nothing.
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    let _ = write!(hash, "{}", mapping.type_name);
    hash.end();
    let _ = write!(hash, "{}", mapping.table);
    hash.end();
    // Entry keys name a key by its index: a deploy that changes the keys changes the hash.
    for key in &mapping.key_columns {
        for (i, column) in key.iter().enumerate() {
            let _ = write!(hash, "{}{column}", if i == 0 { "" } else { "," });
        }
        hash.end();
    }
    for column in &mapping.columns {
        let _ = write!(hash, "{}", column.field);
        hash.end();
        let _ = write!(hash, "{}", column.column);
        hash.end();
        let _ = write!(hash, "{:?}{:?}", column.ty, column.role);
        hash.end();
    }
    hash.0
}

/// FNV-1a over what is written into it.
struct Fnv(u64);

impl Fnv {
    fn eat(&mut self, byte: u8) {
        self.0 ^= u64::from(byte);
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }

    /// Ends a piece.
    fn end(&mut self) {
        self.eat(0xff);
    }
}

impl std::fmt::Write for Fnv {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        text.bytes().for_each(|byte| self.eat(byte));
        Ok(())
    }
}

/// Format version of an entry's bytes.
const FORMAT: u8 = 1;

/// An entry's bytes: the format, the generation, when it was read (ms since the epoch), the
/// number of cells, then each cell as a tag and its payload.
fn encode(generation: u64, row: &CachedRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + row.cells.len() * 9);
    out.push(FORMAT);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&row.read_at_ms.to_le_bytes());
    out.extend_from_slice(
        &u16::try_from(row.cells.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    for cell in &row.cells {
        match cell {
            OwnedCell::Null => out.push(0),
            OwnedCell::Bool(false) => out.push(1),
            OwnedCell::Bool(true) => out.push(2),
            OwnedCell::Int(i) => {
                out.push(3);
                out.extend_from_slice(&i.to_le_bytes());
            }
            OwnedCell::Float(f) => {
                out.push(4);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            OwnedCell::Json(text) | OwnedCell::Text(text) => {
                out.push(if matches!(cell, OwnedCell::Json(_)) {
                    5
                } else {
                    6
                });
                out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    out
}

/// Reads back what [`encode`] wrote: the generation and the row, or `None` for bytes of
/// another format, another column count, or cut short.
fn decode(bytes: &[u8], columns: usize) -> Option<(u64, CachedRow)> {
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    if take(1)? != [FORMAT] {
        return None;
    }
    let generation = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let read_at_ms = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let count = usize::from(u16::from_le_bytes(take(2)?.try_into().ok()?));
    if count != columns {
        return None;
    }
    let mut cells = Vec::with_capacity(count);
    for _ in 0..count {
        let cell = match take(1)?[0] {
            0 => OwnedCell::Null,
            1 => OwnedCell::Bool(false),
            2 => OwnedCell::Bool(true),
            3 => OwnedCell::Int(i64::from_le_bytes(take(8)?.try_into().ok()?)),
            4 => OwnedCell::Float(f64::from_bits(u64::from_le_bytes(
                take(8)?.try_into().ok()?,
            ))),
            tag @ (5 | 6) => {
                let len = u32::from_le_bytes(take(4)?.try_into().ok()?);
                let text: Box<str> = std::str::from_utf8(take(usize::try_from(len).ok()?)?)
                    .ok()?
                    .into();
                if tag == 5 {
                    OwnedCell::Json(text)
                } else {
                    OwnedCell::Text(text)
                }
            }
            _ => return None,
        };
        cells.push(cell);
    }
    if !rest.is_empty() {
        return None;
    }
    Some((generation, CachedRow::new(cells.into(), read_at_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> CachedRow {
        CachedRow::new(
            vec![
                OwnedCell::Null,
                OwnedCell::Bool(true),
                OwnedCell::Bool(false),
                OwnedCell::Int(-42),
                OwnedCell::Float(2.5),
                OwnedCell::Json(r#"{"a":[1,"é"]}"#.into()),
                OwnedCell::Text("".into()),
                OwnedCell::Text("line\nbreak ✓".into()),
            ]
            .into(),
            1_700_000_000_123,
        )
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let bytes = encode(7, &row());
        let (generation, back) = decode(&bytes, 8).expect("decodes");
        assert_eq!(generation, 7);
        assert_eq!(back.read_at_ms, 1_700_000_000_123);
        assert_eq!(format!("{:?}", back.cells), format!("{:?}", row().cells));
    }

    #[test]
    fn an_entry_of_another_shape_or_cut_short_is_a_miss() {
        let bytes = encode(7, &row());
        assert!(decode(&bytes, 7).is_none(), "another column count");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], 8).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, 8).is_none(), "trailing bytes");
        let mut other_format = bytes;
        other_format[0] = 9;
        assert!(decode(&other_format, 8).is_none(), "another format");
    }
}
