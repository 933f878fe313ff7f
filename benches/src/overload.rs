//! The overload run (`--overload`): graft at 1x, 2x and 4x the load it can serve, and with
//! 1,000 concurrent clients.
//!
//! 1. **Unloaded**: sequential requests give the p50 and p99 a request costs alone.
//! 2. **Capacity**: `--concurrency` closed-loop clients give the peak goodput (answers/s).
//! 3. **Load levels**: an open-loop generator sends requests at 1x, 2x and 4x that rate,
//!    whether or not earlier ones were answered, as independent clients do, over 256
//!    keep-alive connections. Each level reports goodput (200s per second), 503s, other
//!    failures, reconnections and the p99 of the answered requests, counted from when each
//!    request was due (`crate::load`).
//! 4. **Many clients**: 1,000 closed-loop clients against a graft started for this phase
//!    (warmed by a few requests first), so that its peak resident memory (`VmHWM`) is what
//!    1,000 clients cost, not what the open-loop phases left behind; and its goodput. What the
//!    first graft still holds a few seconds after its 4x phase is reported beside it (`after
//!    4x`): memory that the allocator keeps after thousands of connections have closed.
//!
//! The goal (issue 10): at 4x, goodput at least 80% of the peak and the answered requests' p99
//! within 3x of unloaded; under 64 MB at 1,000 clients.

use std::time::Duration;

use anyhow::bail;

use crate::dataset::Target;
use crate::load::{self, Outcome, Pace};
use crate::measure::KeySet;
use crate::server::Graft;
use crate::{Database, Settings};

/// One line of the overload table.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    /// What was offered: `unloaded`, `capacity`, `1x` ... or `1000 clients`.
    pub(crate) name: String,
    /// Requests offered per second (open loop), or clients (closed loop).
    pub(crate) offered: String,
    /// Answered (200) per second.
    pub(crate) goodput: f64,
    /// 503 answers.
    pub(crate) shed: u64,
    /// Anything else that failed (other statuses, connection errors).
    pub(crate) failed: u64,
    /// Connections the generator opened again after graft closed one.
    pub(crate) reconnects: u64,
    /// p50 and p99 of the answered requests.
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// p99 of how late the generator sent requests (open loop): when it is a large part of
    /// `p99`, the generator, not graft, made the latency.
    pub(crate) lag_p99: Duration,
    /// graft's peak resident memory, in MiB, when measured.
    pub(crate) peak_mib: Option<f64>,
    /// What the graft of the open-loop phases held, in MiB, a few seconds after its 4x phase.
    pub(crate) after_overload_mib: Option<f64>,
}

/// Connections of the open-loop levels: enough that a request rarely waits on the client
/// side for a free one (4x of a few thousand answers per second, most of them quick 503s).
const OPEN_LOOP_CONNECTIONS: usize = 256;

/// A level's line from what the generator saw.
fn level(name: &str, offered: String, outcome: Outcome) -> Level {
    let sorted = |mut values: Vec<Duration>| {
        values.sort_unstable();
        values
    };
    let at = |sorted: &[Duration], q: f64| {
        sorted
            .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let latencies = sorted(outcome.latencies);
    let lags = sorted(outcome.lags);
    Level {
        name: name.to_owned(),
        offered,
        goodput: outcome.ok as f64 / outcome.elapsed.as_secs_f64(),
        shed: outcome.shed,
        failed: outcome.failed,
        reconnects: outcome.reconnects,
        p50: at(&latencies, 0.50),
        p99: at(&latencies, 0.99),
        lag_p99: at(&lags, 0.99),
        peak_mib: None,
        after_overload_mib: None,
    }
}

/// graft's peak resident memory so far, in MiB.
fn peak_mib(graft: &Graft) -> Option<f64> {
    status_mib(graft, "VmHWM:")
}

/// graft's resident memory now, in MiB.
fn resident_mib(graft: &Graft) -> Option<f64> {
    status_mib(graft, "VmRSS:")
}

/// A `/proc/<pid>/status` line in kB, as MiB.
fn status_mib(graft: &Graft, line_name: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", graft.pid())).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(line_name))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Runs every level against `graft` with `keys`' request; the 1,000-client phase against
/// another graft on `target`, started for it.
pub(crate) async fn run(
    settings: &Settings,
    database: Database,
    target: &Target,
    graft: &Graft,
    keys: &KeySet,
) -> anyhow::Result<Vec<Level>> {
    let body = bytes::Bytes::from(keys.body.clone());
    let time = settings.throughput_time;
    let mut levels = Vec::new();

    let load = load::Target::new(&graft.url, body.clone())?;
    let outcome = load::run(&load, 1, Pace::Closed, Duration::from_secs(2)).await?;
    let unloaded = level("unloaded", "1 client".into(), outcome);
    eprintln!(
        "   unloaded: p50 {:.3} ms, p99 {:.3} ms",
        unloaded.p50.as_secs_f64() * 1e3,
        unloaded.p99.as_secs_f64() * 1e3
    );
    levels.push(unloaded);

    let outcome = load::run(&load, settings.concurrency, Pace::Closed, time).await?;
    let capacity = level(
        "capacity",
        format!("{} clients", settings.concurrency),
        outcome,
    );
    let peak = capacity.goodput;
    eprintln!("   capacity: {peak:.0} answers/s");
    if peak < 1.0 {
        bail!(
            "graft answered nothing with {} clients",
            settings.concurrency
        );
    }
    levels.push(capacity);

    for factor in [1.0, 2.0, 4.0] {
        let rate = peak * factor;
        let outcome = load::run(&load, OPEN_LOOP_CONNECTIONS, Pace::Open(rate), time).await?;
        let level = level(&format!("{factor}x"), format!("{rate:.0}/s"), outcome);
        eprintln!(
            "   {factor}x: {:.0} answers/s, {} shed, {} failed, {} reconnects, p99 {:.3} ms (sent late by up to {:.3} ms, p99)",
            level.goodput,
            level.shed,
            level.failed,
            level.reconnects,
            level.p99.as_secs_f64() * 1e3,
            level.lag_p99.as_secs_f64() * 1e3,
        );
        levels.push(level);
    }

    // What the first graft keeps once the open-loop phases (thousands of connections at 4x)
    // are over and it has been idle for a moment.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_overload = resident_mib(graft);

    // The 1,000-client phase on a graft of its own, warmed by a few requests (plans cached,
    // pool connections open), so that its peak is what 1,000 clients cost.
    let fresh = Graft::start_with(
        settings,
        &format!("{}-many", database.name()),
        target,
        "",
        "",
    )
    .await?;
    let fresh_load = load::Target::new(&fresh.url, body)?;
    load::run(&fresh_load, 1, Pace::Closed, Duration::from_millis(300)).await?;
    let outcome = load::run(&fresh_load, 1_000, Pace::Closed, time).await?;
    let mut many = level("1000 clients", "1000 clients".into(), outcome);
    many.peak_mib = peak_mib(&fresh);
    many.after_overload_mib = after_overload;
    drop(fresh);
    eprintln!(
        "   1000 clients: {:.0} answers/s, {} shed, peak RSS {:.1} MiB (the first graft holds {:.1} MiB after 4x)",
        many.goodput,
        many.shed,
        many.peak_mib.unwrap_or(0.0),
        after_overload.unwrap_or(0.0),
    );
    levels.push(many);
    Ok(levels)
}

/// The overload table.
pub(crate) fn markdown(levels: &[Level]) -> String {
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    let mib = |m: Option<f64>| m.map_or_else(|| "-".to_owned(), |m| format!("{m:.1}"));
    let peak = levels
        .iter()
        .find(|l| l.name == "capacity")
        .map_or(1.0, |l| l.goodput);
    let unloaded_p99 = levels
        .iter()
        .find(|l| l.name == "unloaded")
        .map_or(Duration::from_millis(1), |l| l.p99);
    let mut out = String::from(
        "| load | offered | answers/s | of peak | 503s | failed | reconnects | p50 ms | p99 ms | p99 / unloaded | sent late p99 ms | peak RSS MiB | RSS after 4x MiB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for level in levels {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.0}% | {} | {} | {} | {} | {} | {:.2} | {} | {} | {} |\n",
            level.name,
            level.offered,
            level.goodput,
            100.0 * level.goodput / peak,
            level.shed,
            level.failed,
            level.reconnects,
            ms(level.p50),
            ms(level.p99),
            level.p99.as_secs_f64() / unloaded_p99.as_secs_f64(),
            ms(level.lag_p99),
            mib(level.peak_mib),
            mib(level.after_overload_mib),
        ));
    }
    out
}
