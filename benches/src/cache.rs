//! The cache run (`--runs cache`, PostgreSQL): 100-key `_entities` answered by graft without a
//! cache, by graft with `OrgUser` in its in-process entity cache (every key a hit after the
//! first request), and by graft with no entry in process (`max_memory_mb = 0`) and a second
//! level in the machine's Redis (every key one `MGET` away), interleaved in one run.

use crate::Settings;
use crate::dataset::Target;
use crate::measure::{Compared, KeySet, compared_markdown, interleaved};
use crate::server::Graft;

/// Times 100-key `_entities` with and without the cache.
pub(crate) async fn run(
    settings: &Settings,
    target: &Target,
    keys: &KeySet,
) -> anyhow::Result<Vec<Compared>> {
    let plain = Graft::start_with(settings, "cache-none", target, "", "").await?;
    let cached = Graft::start_with(
        settings,
        "cache-memory",
        target,
        "",
        "[cache]\n[cache.types]\nOrgUser = { ttl_seconds = 3600 }\n",
    )
    .await?;
    let prefix = format!("graft_bench_cache_{}", std::process::id());
    let redis = Graft::start_with(
        settings,
        "cache-redis",
        target,
        "",
        &format!(
            "[cache]\nmax_memory_mb = 0\nredis_url = \"redis://127.0.0.1:6379\"\n\
             key_prefix = \"{prefix}\"\nchannel = \"{prefix}:invalidations\"\n\
             [cache.types]\nOrgUser = {{ ttl_seconds = 3600 }}\n"
        ),
    )
    .await?;
    let timed = interleaved(
        settings,
        &[
            ("no cache (PostgreSQL)", &plain),
            ("in-process cache", &cached),
            ("Redis cache", &redis),
        ],
        keys,
        None,
    )
    .await;
    forget_redis_keys(&prefix);
    timed
}

/// Deletes the keys the run left in Redis (generations never expire).
fn forget_redis_keys(prefix: &str) {
    let deleted = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "EVAL"])
        .arg("local k = redis.call('KEYS', ARGV[1]) for i = 1, #k do redis.call('DEL', k[i]) end return #k")
        .args(["0", &format!("{prefix}*")])
        .output();
    if !deleted.is_ok_and(|output| output.status.success()) {
        eprintln!("bench: could not delete the Redis keys {prefix}*");
    }
}

/// The cache table.
pub(crate) fn markdown(rows: &[Compared]) -> String {
    compared_markdown("graft", rows)
}
