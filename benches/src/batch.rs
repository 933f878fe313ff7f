//! The batch run: 20 orders created by one `POST /batch` (atomic, and each operation on its
//! own) against the same 20 orders created by 20 `createOrder` requests one after the other,
//! as a client without `/batch` does. Interleaved in one run.
//!
//! The orders get ids from 20,000,000 up, given in the input, and are deleted before and
//! after the run.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::Database;
use crate::bare::Bare;
use crate::measure::{Timing, percentiles};
use crate::server::Graft;

/// Where the run's ids start.
const FIRST_ID: i64 = 20_000_000;

/// Operations per batch.
const OPERATIONS: usize = 20;

/// One database's batch run: p50 and p99 of each way.
#[derive(Debug, Clone)]
pub(crate) struct Batches {
    pub(crate) database: Database,
    pub(crate) atomic: Timing,
    pub(crate) each: Timing,
    pub(crate) separate: Timing,
}

/// Times the three ways of creating `OPERATIONS` orders.
pub(crate) async fn run(database: Database, graft: &Graft, bare: &Bare) -> anyhow::Result<Batches> {
    bare.delete_orders_from(FIRST_ID).await?;
    let http = reqwest::Client::new();
    let batch_url = graft.url.replace("/graphql", "/batch");
    let iterations = 100;
    let mut samples: [Vec<Duration>; 3] = Default::default();
    let mut next = FIRST_ID;
    for round in 0..iterations + 5 {
        for turn in 0..3 {
            let way = (round + turn) % 3;
            let ids: Vec<i64> = (next..next + OPERATIONS as i64).collect();
            next += OPERATIONS as i64;
            let order = |id: i64| {
                json!({ "id": id.to_string(), "orgId": "org-1", "userId": "u1",
                        "total": (id % 100) as f64 + 0.5, "status": "new" })
            };
            let started = Instant::now();
            if way < 2 {
                let operations: Vec<serde_json::Value> = ids
                    .iter()
                    .map(|&id| {
                        json!({ "id": format!("o{id}"), "entity": "Order", "action": "create",
                                "store_params": order(id) })
                    })
                    .collect();
                let body = json!({ "operations": operations, "options": { "atomic": way == 0 } });
                let response = http
                    .post(&batch_url)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "{}", response.status());
                let answer: serde_json::Value = response.json().await?;
                anyhow::ensure!(answer["success"] == true, "the batch failed: {answer}");
            } else {
                let query =
                    "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }";
                for &id in &ids {
                    let body = json!({ "query": query, "variables": { "input": order(id) } });
                    let response = http
                        .post(&graft.url)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await?;
                    anyhow::ensure!(response.status().is_success(), "{}", response.status());
                    let answer: serde_json::Value = response.json().await?;
                    anyhow::ensure!(answer["errors"].is_null(), "createOrder failed: {answer}");
                }
            }
            if round >= 5 {
                samples[way].push(started.elapsed());
            }
        }
    }
    bare.delete_orders_from(FIRST_ID).await?;
    let [atomic, each, separate] = samples;
    Ok(Batches {
        database,
        atomic: percentiles(atomic),
        each: percentiles(each),
        separate: percentiles(separate),
    })
}

/// The batch table.
pub(crate) fn markdown(batches: &[Batches]) -> String {
    let mut out = String::from(
        "| database | `/batch` atomic p50 ms | p99 | `/batch` each on its own p50 ms | p99 | 20 `createOrder` requests p50 ms | p99 | separate/atomic p50 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for b in batches {
        let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} |\n",
            b.database.name(),
            ms(b.atomic.p50),
            ms(b.atomic.p99),
            ms(b.each.p50),
            ms(b.each.p99),
            ms(b.separate.p50),
            ms(b.separate.p99),
            b.separate.p50.as_secs_f64() / b.atomic.p50.as_secs_f64(),
        ));
    }
    out.push_str(
        "\nSequential, interleaved. Each way creates 20 orders of one user: one `/batch` of 20 \
         `create` operations in one transaction (atomic), the same batch with each operation \
         committed on its own (`atomic: false`, one transaction per operation, in order), and \
         20 `createOrder` mutations sent one after the other.\n",
    );
    out
}
