//! `graft-bench`: the end-to-end benchmark that `cargo xtask bench` runs.
//!
//! For each database it makes sure the benchmark dataset exists (100,000 users in 1,000
//! organisations, 1,000,000 orders), starts the release `graft` binary on it, and then, in one
//! run, times the same lookups three ways:
//!
//! - **graft**: `_entities` of N composite-key representations over HTTP;
//! - **bare**: the one statement graft issues for them, sent by a minimal client over a pool of
//!   the same size, rows read and dropped;
//! - **N+1**: one `SELECT ... WHERE org_id = ? AND user_id = ?` per key, as a naive resolver does.
//!
//! It prints a table (p50, p99, requests/s, graft/bare, N+1/graft) and writes it to
//! `target/bench/` as Markdown and JSON. Two more runs sit beside it:
//!
//! - **overload** (`overload.rs`, on by default): graft at 1x, 2x and 4x the load it can serve
//!   and with 1,000 clients: goodput, 503s, p99, peak memory;
//! - **baseline** (`compare.rs`, with `--baseline <graft binary>`): the same `_entities` against
//!   another build, interleaved in one run, for what a change costs the hot path;
//! - **writes** (`writes.rs`, on by default): 100 orders created with one `createOrders` against
//!   the bare multi-row `INSERT`;
//! - **batch** (`batch.rs`, on by default): 20 orders created by one `/batch`, atomic and not,
//!   against 20 `createOrder` requests;
//! - **cache** (`cache.rs`, on by default, PostgreSQL): 100-key `_entities` with and without
//!   the in-process entity cache;
//! - **metrics** (`metrics.rs`, on by default, PostgreSQL): 100-key `_entities` with
//!   neither, with Prometheus metrics, and with a rate limit;
//! - **tenancy** (`tenancy.rs`, on by default, PostgreSQL): 100-key `_entities` with no tenancy,
//!   a tenant in its own schema, and tenants sharing tables under row-level security;
//! - **tenants** (`tenants.rs`, PostgreSQL, only when asked: it takes minutes): `--tenants N`
//!   tenant schemas (default 10,000) created and migrated, timed, and `_entities` for tenants
//!   drawn from 10 and from all N.
//!
//! `--runs main,overload,baseline,writes,batch,cache,metrics,tenancy,tenants` picks among them
//! (default: main, overload, writes, batch, cache, metrics and tenancy, plus baseline when
//! `--baseline` is given).

mod bare;
mod batch;
mod cache;
mod compare;
mod dataset;
mod latency;
mod load;
mod measure;
mod metrics;
mod overload;
mod remote;
mod report;
mod server;
mod tenancy;
mod tenants;
mod writes;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::measure::{KeySet, Measurement};

/// Benchmark settings from the command line.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The `graft` binary to start.
    pub(crate) graft: PathBuf,
    /// Where to write results and the SQLite dataset.
    pub(crate) out: PathBuf,
    /// The databases to run on.
    pub(crate) databases: Vec<Database>,
    /// Batch sizes to time.
    pub(crate) sizes: Vec<usize>,
    /// How long each throughput phase runs.
    pub(crate) throughput_time: Duration,
    /// Concurrent clients (and pool size) in throughput phases.
    pub(crate) concurrency: usize,
    /// Another graft binary to compare with (`--baseline`).
    pub(crate) baseline: Option<PathBuf>,
    /// Which runs: `main`, `overload`, `baseline`, `writes`, `batch`, `cache`, `metrics`,
    /// `tenancy`, `tenants`.
    pub(crate) runs: Vec<String>,
    /// How many tenant schemas the `tenants` run creates.
    pub(crate) tenants: usize,
}

impl Settings {
    fn runs(&self, name: &str) -> bool {
        self.runs.iter().any(|run| run == name)
    }
}

/// A database the benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Database {
    /// A SQLite file.
    Sqlite,
    /// The machine's PostgreSQL.
    Postgres,
    /// The machine's MariaDB.
    Mysql,
}

impl Database {
    fn name(self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Mysql => "mysql",
            Database::Postgres => "postgres",
        }
    }
}

fn parse_args() -> anyhow::Result<Settings> {
    let mut settings = Settings {
        graft: PathBuf::from("target/release/graft"),
        out: PathBuf::from("target/bench"),
        databases: vec![Database::Postgres, Database::Mysql, Database::Sqlite],
        sizes: vec![1, 10, 100, 1000],
        throughput_time: Duration::from_secs(3),
        concurrency: 8,
        baseline: None,
        runs: Vec::new(),
        tenants: 10_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--graft" => settings.graft = PathBuf::from(value()?),
            "--out" => settings.out = PathBuf::from(value()?),
            "--databases" => {
                settings.databases = value()?
                    .split(',')
                    .map(|name| match name {
                        "sqlite" => Ok(Database::Sqlite),
                        "mysql" | "mariadb" => Ok(Database::Mysql),
                        "postgres" => Ok(Database::Postgres),
                        other => bail!("unknown database {other:?}: use sqlite, postgres, mysql"),
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            "--sizes" => {
                settings.sizes = value()?
                    .split(',')
                    .map(|n| n.parse().context("--sizes takes numbers"))
                    .collect::<anyhow::Result<_>>()?
            }
            "--seconds" => {
                settings.throughput_time =
                    Duration::from_secs_f64(value()?.parse().context("--seconds takes a number")?)
            }
            "--concurrency" => {
                settings.concurrency = value()?.parse().context("--concurrency takes a number")?
            }
            "--baseline" => settings.baseline = Some(PathBuf::from(value()?)),
            "--runs" => settings.runs = value()?.split(',').map(str::to_owned).collect(),
            "--tenants" => {
                settings.tenants = value()?.parse().context("--tenants takes a number")?
            }
            other => bail!("unknown argument {other:?}; see benches/src/main.rs"),
        }
    }
    if settings.runs.is_empty() {
        settings.runs = vec![
            "main".into(),
            "overload".into(),
            "writes".into(),
            "batch".into(),
            "cache".into(),
            "metrics".into(),
            "tenancy".into(),
        ];
        if settings.baseline.is_some() {
            settings.runs.push("baseline".into());
        }
    }
    if settings.runs("baseline") && settings.baseline.is_none() {
        bail!("the baseline run needs --baseline <graft binary>");
    }
    Ok(settings)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = parse_args()?;
    std::fs::create_dir_all(&settings.out)
        .with_context(|| format!("creating {}", settings.out.display()))?;
    let mut results: Vec<Measurement> = Vec::new();
    let mut targets = Vec::new();
    let mut comparisons = Vec::new();
    let mut overloads = Vec::new();
    let mut writes = Vec::new();
    let mut batches = Vec::new();
    let mut isolations = Vec::new();
    let mut caching = Vec::new();
    let mut metering = Vec::new();
    let mut scale = None;
    for &database in &settings.databases {
        eprintln!("== {}: dataset", database.name());
        let target = dataset::ensure(database, &settings).await?;
        targets.push((database, target.clone()));
        eprintln!("== {}: starting graft", database.name());
        let graft = server::Graft::start(&settings, database, &target).await?;
        if let Some(baseline) = settings
            .baseline
            .as_deref()
            .filter(|_| settings.runs("baseline"))
        {
            for &size in &settings.sizes {
                eprintln!("== {}: {size} keys against the baseline", database.name());
                let keys = KeySet::new(size, 0x5eed + size as u64);
                comparisons.push(
                    compare::run(&settings, database, &target, &graft, baseline, &keys).await?,
                );
            }
        }
        if settings.runs("overload") {
            eprintln!("== {}: overload, 100 keys", database.name());
            let keys = KeySet::new(100, 0x0be7);
            overloads.push((
                database,
                overload::run(&settings, database, &target, &graft, &keys).await?,
            ));
        }
        if settings.runs("tenancy") && database == Database::Postgres {
            eprintln!("== {}: tenancy, 100 keys", database.name());
            let keys = KeySet::new(100, 0x7e4a);
            isolations = tenancy::run(&settings, &target, &keys).await?;
        }
        if settings.runs("cache") && database == Database::Postgres {
            eprintln!("== {}: cache, 100 keys", database.name());
            let keys = KeySet::new(100, 0xcace);
            caching = cache::run(&settings, &target, &keys).await?;
        }
        if settings.runs("metrics") && database == Database::Postgres {
            eprintln!("== {}: metrics, 100 keys", database.name());
            let keys = KeySet::new(100, 0x3e7);
            metering = metrics::run(&settings, &target, &keys).await?;
        }
        if settings.runs("tenants") && database == Database::Postgres {
            eprintln!(
                "== {}: {} tenant schemas",
                database.name(),
                settings.tenants
            );
            scale = Some(tenants::run(&settings, settings.tenants).await?);
        }
        if !settings.runs("main") && !settings.runs("writes") && !settings.runs("batch") {
            continue;
        }
        let bare = bare::Bare::connect(database, &target, settings.concurrency).await?;
        if settings.runs("writes") {
            eprintln!("== {}: writes, 100 rows", database.name());
            writes.push(writes::run(database, &graft, &bare, 100).await?);
        }
        if settings.runs("batch") {
            eprintln!("== {}: batch, 20 operations", database.name());
            batches.push(batch::run(database, &graft, &bare).await?);
        }
        if !settings.runs("main") {
            continue;
        }
        let floor = measure::http_floor(&graft).await?;
        eprintln!(
            "   graft's HTTP floor (`{{ __typename }}`, no database): p50 {:.3} ms",
            floor.as_secs_f64() * 1e3
        );
        for &size in &settings.sizes {
            eprintln!("== {}: {size} keys", database.name());
            let keys = KeySet::new(size, 0x5eed + size as u64);
            results.push(measure::run(database, &settings, &graft, &bare, keys).await?);
        }
        for &size in settings.sizes.iter().filter(|&&size| size >= 10) {
            eprintln!("== {}: {size} orders with their user", database.name());
            let keys = KeySet::orders(size, 0x0de + size as u64);
            results.push(measure::run(database, &settings, &graft, &bare, keys).await?);
        }
        drop(graft);
    }
    let mut table = if settings.runs("main") {
        report::markdown(&results, &settings)
    } else {
        String::new()
    };
    if !comparisons.is_empty() {
        table.push_str("\n### Against the baseline build\n\n");
        table.push_str(&compare::markdown(&comparisons));
    }
    if !writes.is_empty() {
        table.push_str("\n### Writes\n\n");
        table.push_str(&writes::markdown(&writes));
    }
    if !batches.is_empty() {
        table.push_str("\n### Batches\n\n");
        table.push_str(&batch::markdown(&batches));
    }
    if let Some(scale) = &scale {
        table.push_str("\n### Tenant schemas (postgres, 100 keys per `_entities`)\n\n");
        table.push_str(&tenants::markdown(scale));
    }
    if !caching.is_empty() {
        table.push_str("\n### Entity cache (postgres, 100 keys per `_entities`)\n\n");
        table.push_str(&cache::markdown(&caching));
    }
    if !metering.is_empty() {
        table.push_str("\n### Metrics and rate limits (postgres, 100 keys per `_entities`)\n\n");
        table.push_str(&metrics::markdown(&metering));
    }
    if !isolations.is_empty() {
        table.push_str("\n### Tenancy (postgres, 100 keys per `_entities`)\n\n");
        table.push_str(&tenancy::markdown(&isolations));
    }
    for (database, levels) in &overloads {
        table.push_str(&format!(
            "\n### Overload ({}, 100 keys per `_entities`)\n\n",
            database.name()
        ));
        table.push_str(&overload::markdown(levels));
    }
    let target_of = |database| targets.iter().find(|(d, _)| *d == database).map(|(_, t)| t);
    let mut routes = Vec::new();
    if let (Some(postgres), Some(mysql), true) = (
        target_of(Database::Postgres),
        target_of(Database::Mysql),
        settings.runs("main"),
    ) {
        eprintln!("== remote routes: users on PostgreSQL, orders on MariaDB");
        let far_round_trip;
        (routes, far_round_trip) = remote::run(&settings, postgres, mysql).await?;
        table.push_str("\n### Remote routes\n\n");
        table.push_str(&remote::markdown(&routes, far_round_trip));
    }
    println!("{table}");
    report::write(&settings.out, &table, &results, &routes)?;
    eprintln!(
        "results written to {}/results.md and results.json",
        settings.out.display()
    );
    Ok(())
}
