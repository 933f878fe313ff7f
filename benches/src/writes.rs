//! The writes run: 100 orders created with one `createOrders` over HTTP against the bare
//! multi-row `INSERT ... RETURNING id` a minimal client sends, interleaved in one run.
//!
//! graft's answer includes what a client expects of a mutation and the bare statement has not:
//! HTTP, the operation's plan, a transaction of its own (`BEGIN`, the insert, `COMMIT`) and the
//! JSON of the written rows. The orders get ids from 10,000,000 up (the dataset's end at
//! 1,000,000), given in the input so that any dataset, old or new, takes them; they are deleted
//! before and after the run.

use std::time::Instant;

use crate::Database;
use crate::bare::Bare;
use crate::measure::{Timing, percentiles};
use crate::server::Graft;

/// Where the run's ids start.
const FIRST_ID: i64 = 10_000_000;

/// One database's writes: graft's `createOrders` and the bare insert, p50 and p99 each.
#[derive(Debug, Clone)]
pub(crate) struct Writes {
    pub(crate) database: Database,
    pub(crate) rows: usize,
    pub(crate) graft: Timing,
    pub(crate) bare: Timing,
}

/// The orders `createOrders` and the bare insert write: `(id, total)` of each; all of user u1
/// of org-1, status `new`.
fn orders(first: i64, rows: usize) -> Vec<(i64, f64)> {
    (0..rows as i64)
        .map(|i| (first + i, (i % 100) as f64 + 0.5))
        .collect()
}

/// Times `rows`-row creates against graft and the bare insert.
pub(crate) async fn run(
    database: Database,
    graft: &Graft,
    bare: &Bare,
    rows: usize,
) -> anyhow::Result<Writes> {
    bare.delete_orders_from(FIRST_ID).await?;
    let http = reqwest::Client::new();
    let query = "mutation($inputs: [CreateOrderInput!]!) { createOrders(inputs: $inputs) { id } }";
    let iterations = 200;
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    let mut next = FIRST_ID;
    for round in 0..iterations + 10 {
        for graft_first in [round % 2 == 0, round % 2 == 1] {
            let batch = orders(next, rows);
            next += rows as i64;
            let started = Instant::now();
            if graft_first {
                let inputs: Vec<serde_json::Value> = batch
                    .iter()
                    .map(|(id, total)| {
                        serde_json::json!({ "id": id, "orgId": "org-1", "userId": "u1", "total": total, "status": "new" })
                    })
                    .collect();
                let body = serde_json::json!({ "query": query, "variables": { "inputs": inputs } });
                let started = Instant::now();
                let response = http
                    .post(&graft.url)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "{}", response.status());
                let answer: serde_json::Value = response.json().await?;
                let created = answer["data"]["createOrders"]
                    .as_array()
                    .map_or(0, Vec::len);
                anyhow::ensure!(
                    created == rows,
                    "graft created {created} of {rows}: {answer}"
                );
                if round >= 10 {
                    mine.push(started.elapsed());
                }
            } else {
                bare.insert_orders(&batch).await?;
                if round >= 10 {
                    theirs.push(started.elapsed());
                }
            }
        }
    }
    bare.delete_orders_from(FIRST_ID).await?;
    Ok(Writes {
        database,
        rows,
        graft: percentiles(mine),
        bare: percentiles(theirs),
    })
}

/// The writes table.
pub(crate) fn markdown(writes: &[Writes]) -> String {
    let mut out = String::from(
        "| database | rows | graft `createOrders` p50 ms | p99 ms | bare `INSERT` p50 ms | p99 ms | graft/bare p50 |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for w in writes {
        let ms = |d: std::time::Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.2} |\n",
            w.database.name(),
            w.rows,
            ms(w.graft.p50),
            ms(w.graft.p99),
            ms(w.bare.p50),
            ms(w.bare.p99),
            w.graft.p50.as_secs_f64() / w.bare.p50.as_secs_f64(),
        ));
    }
    out.push_str(
        "\nSequential requests, interleaved. graft: one `createOrders` of the rows over HTTP (a \
         transaction of its own, the ids read back). bare: the same rows in one multi-row \
         `INSERT ... RETURNING id` in autocommit.\n",
    );
    out
}
