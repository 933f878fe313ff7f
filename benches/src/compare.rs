//! The baseline run (`--baseline <graft binary>`): the same `_entities` requests against this
//! graft and another build of it (say, the commit before a change) on the same database, in
//! one run, with their requests interleaved so that machine noise hits both alike. It answers
//! "what did this change cost the hot path" with a ratio measured in one run.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::dataset::Target;
use crate::measure::{KeySet, clients_rps, percentiles};
use crate::server::Graft;
use crate::{Database, Settings};

/// One batch size: p50 and p99 of this build and of the baseline, and throughput of each.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    pub(crate) database: Database,
    pub(crate) size: usize,
    pub(crate) current: (Duration, Duration, f64),
    pub(crate) baseline: (Duration, Duration, f64),
}

/// Times `keys` against both builds.
pub(crate) async fn run(
    settings: &Settings,
    database: Database,
    target: &Target,
    current: &Graft,
    baseline_binary: &Path,
    keys: &KeySet,
) -> anyhow::Result<Comparison> {
    let baseline_settings = Settings {
        graft: baseline_binary.to_owned(),
        ..settings.clone()
    };
    let baseline = Graft::start_baseline(&baseline_settings, target).await?;
    let http = reqwest::Client::new();
    let body = bytes::Bytes::from(keys.body.clone());
    let once = |url: String| {
        let (http, body) = (http.clone(), body.clone());
        async move {
            let response = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(response.status().is_success(), "{}", response.status());
            std::hint::black_box(response.bytes().await?);
            anyhow::Ok(())
        }
    };
    let iterations = (40_000 / keys.size).clamp(200, 2_000);
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..iterations + 20 {
        // Alternate which goes first, so neither always follows the other.
        let order = if round % 2 == 0 {
            [&current.url, &baseline.url]
        } else {
            [&baseline.url, &current.url]
        };
        for url in order {
            let started = Instant::now();
            once(url.clone()).await?;
            if round >= 20 {
                if url == &current.url {
                    mine.push(started.elapsed());
                } else {
                    theirs.push(started.elapsed());
                }
            }
        }
    }
    let throughput = |url: String| {
        let once = &once;
        async move { clients_rps(settings, |_, _| once(url.clone())).await }
    };
    // Throughput phases alternate too: current, baseline, current, baseline; each the mean.
    let mut rps = [0.0, 0.0];
    for _ in 0..2 {
        rps[0] += throughput(current.url.clone()).await? / 2.0;
        rps[1] += throughput(baseline.url.clone()).await? / 2.0;
    }
    let (p_mine, p_theirs) = (percentiles(mine), percentiles(theirs));
    let (p_mine, p_theirs) = ((p_mine.p50, p_mine.p99), (p_theirs.p50, p_theirs.p99));
    Ok(Comparison {
        database,
        size: keys.size,
        current: (p_mine.0, p_mine.1, rps[0]),
        baseline: (p_theirs.0, p_theirs.1, rps[1]),
    })
}

/// The comparison table.
pub(crate) fn markdown(rows: &[Comparison]) -> String {
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    let mut out = String::from(
        "| database | keys | p50 ms | baseline p50 ms | p50 ratio | p99 ms | baseline p99 ms | req/s | baseline req/s | req/s ratio |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {} | {} | {:.0} | {:.0} | {:.3} |\n",
            row.database.name(),
            row.size,
            ms(row.current.0),
            ms(row.baseline.0),
            row.current.0.as_secs_f64() / row.baseline.0.as_secs_f64(),
            ms(row.current.1),
            ms(row.baseline.1),
            row.current.2,
            row.baseline.2,
            row.current.2 / row.baseline.2,
        ));
    }
    out
}
