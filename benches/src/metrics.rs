//! The metrics run (`--runs metrics`, PostgreSQL): what keeping Prometheus metrics, and
//! counting requests against a rate limit, cost a 100-key `_entities`: graft with neither,
//! with `[metrics]`, and with `[rate_limits]` (a limit never reached), interleaved in one run.

use crate::Settings;
use crate::dataset::Target;
use crate::measure::{Compared, KeySet, compared_markdown, interleaved};
use crate::server::Graft;

/// Times 100-key `_entities` with neither layer, with metrics, and with rate limits.
pub(crate) async fn run(
    settings: &Settings,
    target: &Target,
    keys: &KeySet,
) -> anyhow::Result<Vec<Compared>> {
    let off = Graft::start_with(settings, "metrics-off", target, "", "").await?;
    let on = Graft::start_with(
        settings,
        "metrics-on",
        target,
        "",
        "[metrics]\nenabled = true\n",
    )
    .await?;
    let limited = Graft::start_with(
        settings,
        "rate-limits-on",
        target,
        "",
        "[rate_limits]\ndefault = { requests_per_second = 1000000 }\n",
    )
    .await?;
    let shared = Graft::start_with(
        settings,
        "rate-limits-redis",
        target,
        "",
        "[rate_limits]\nredis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"graft_bench_rl\"\n\
         default = { requests_per_second = 1000000 }\n",
    )
    .await?;
    interleaved(
        settings,
        &[
            ("neither", &off),
            ("metrics on", &on),
            ("rate limits on", &limited),
            ("rate limits in Redis", &shared),
        ],
        keys,
        None,
    )
    .await
}

/// The metrics table.
pub(crate) fn markdown(rows: &[Compared]) -> String {
    compared_markdown("graft", rows)
}
