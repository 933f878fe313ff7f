//! The cache run (`--runs cache`, PostgreSQL): 100-key `_entities` answered by graft without a
//! cache and by graft with `OrgUser` in its in-process entity cache (every key a hit after the
//! first request), interleaved in one run.

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
    interleaved(
        settings,
        &[("no cache", &plain), ("in-process cache", &cached)],
        keys,
        None,
    )
    .await
}

/// The cache table.
pub(crate) fn markdown(rows: &[Compared]) -> String {
    compared_markdown("graft", rows)
}
