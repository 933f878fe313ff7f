//! The results table, as Markdown and JSON.

use std::path::Path;
use std::time::Duration;

use crate::Settings;
use crate::measure::Measurement;

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1_000.0)
}

/// The results as a Markdown table.
pub(crate) fn markdown(results: &[Measurement], settings: &Settings) -> String {
    let mut out = String::from(
        "| database | workload | keys | graft p50 ms | graft p99 ms | bare p50 ms | bare p99 ms | N+1 p50 ms | graft/bare p50 | N+1/graft p50 | graft req/s | bare req/s | graft/bare req/s | graft CPU µs/req | bare CPU µs/req |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        let (graft_rps, bare_rps) = (m.graft.rps.unwrap_or(0.0), m.bare.rps.unwrap_or(0.0));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.0} | {:.0} | {:.2} | {} | {} |\n",
            m.database.name(),
            match m.workload {
                crate::measure::Workload::Entities => "OrgUser by key",
                crate::measure::Workload::Relation => "Order + user",
            },
            m.size,
            ms(m.graft.p50),
            ms(m.graft.p99),
            ms(m.bare.p50),
            ms(m.bare.p99),
            ms(m.n_plus_one.p50),
            ratio(m.graft.p50, m.bare.p50),
            ratio(m.n_plus_one.p50, m.graft.p50),
            graft_rps,
            bare_rps,
            if bare_rps > 0.0 {
                graft_rps / bare_rps
            } else {
                0.0
            },
            micros(m.graft.cpu),
            micros(m.bare.cpu),
        ));
    }
    out.push_str(&format!(
        "\nLatency: sequential requests, interleaved between clients. Throughput: {} concurrent clients for {:.0} s, \
         pools of {} connections on both sides. Keys: distinct composite keys (orgId, userId), 5% missing.\n",
        settings.concurrency,
        settings.throughput_time.as_secs_f64(),
        settings.concurrency,
    ));
    out
}

/// Writes `results.md` and `results.json` into `dir`.
pub(crate) fn write(
    dir: &Path,
    table: &str,
    results: &[Measurement],
    routes: &[crate::remote::RouteTiming],
) -> anyhow::Result<()> {
    std::fs::write(dir.join("results.md"), table)?;
    let timing = |t: &crate::measure::Timing| serde_json::json!({ "p50_ms": t.p50.as_secs_f64() * 1e3, "p99_ms": t.p99.as_secs_f64() * 1e3, "rps": t.rps, "cpu_us": t.cpu.map(|c| c.as_secs_f64() * 1e6) });
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|m| {
            serde_json::json!({
                "database": m.database.name(),
                "workload": format!("{:?}", m.workload),
                "keys": m.size,
                "graft": timing(&m.graft),
                "bare": timing(&m.bare),
                "n_plus_one": timing(&m.n_plus_one),
            })
        })
        .collect();
    let routes: Vec<serde_json::Value> = routes
        .iter()
        .map(|r| {
            serde_json::json!({
                "route": r.label,
                "entities": r.size,
                "p50_ms": r.p50.as_secs_f64() * 1e3,
                "p99_ms": r.p99.as_secs_f64() * 1e3,
            })
        })
        .collect();
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(
            &serde_json::json!({ "lookups": rows, "remote_routes": routes }),
        )?,
    )?;
    Ok(())
}

/// A CPU time per request in whole microseconds, or `-` when not measured.
fn micros(cpu: Option<Duration>) -> String {
    cpu.map_or_else(
        || "-".to_owned(),
        |cpu| format!("{:.0}", cpu.as_secs_f64() * 1e6),
    )
}
