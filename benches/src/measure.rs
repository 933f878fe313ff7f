//! Timing: latency percentiles from sequential requests, throughput from concurrent clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::bare::{Bare, FIELDS};
use crate::load::{self, Connections};
use crate::server::Graft;
use crate::{Database, Settings};

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// `_entities` of `OrgUser` by composite key.
    Entities,
    /// `_entities` of `Order` by id, with `user { name email }` through `@belongsTo`.
    Relation,
}

/// The keys of one batch size, in every form the three clients need.
#[derive(Debug)]
pub(crate) struct KeySet {
    /// The workload.
    pub(crate) workload: Workload,
    /// The batch size.
    pub(crate) size: usize,
    /// `orgId` of each key (entities workload).
    pub(crate) orgs: Vec<String>,
    /// `userId` of each key (entities workload).
    pub(crate) users: Vec<String>,
    /// Order ids (relation workload).
    pub(crate) order_ids: Vec<String>,
    /// graft's `_entities` request body.
    pub(crate) body: Vec<u8>,
    /// How many keys name an existing entity.
    pub(crate) existing: usize,
}

/// xorshift64*: reproducible random numbers without a dependency.
fn random(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl KeySet {
    /// `size` distinct random `OrgUser` keys from a fixed seed; one in twenty names a missing user.
    pub(crate) fn new(size: usize, seed: u64) -> KeySet {
        let mut next = random(seed);
        let mut seen = std::collections::HashSet::new();
        let (mut orgs, mut users) = (Vec::new(), Vec::new());
        let mut existing = 0;
        while orgs.len() < size {
            let org = next() % 1_000 + 1;
            let missing = next().is_multiple_of(20);
            let user = if missing {
                next() % 100 + 101
            } else {
                next() % 100 + 1
            };
            if seen.insert((org, user)) {
                existing += usize::from(!missing);
                orgs.push(format!("org-{org}"));
                users.push(format!("u{user}"));
            }
        }
        let representations: Vec<serde_json::Value> = orgs
            .iter()
            .zip(&users)
            .map(|(o, u)| serde_json::json!({ "__typename": "OrgUser", "orgId": o, "userId": u }))
            .collect();
        let query = format!(
            "query($representations: [_Any!]!) {{ _entities(representations: $representations) {{ ... on OrgUser {{ {} }} }} }}",
            FIELDS.join(" ")
        );
        KeySet {
            workload: Workload::Entities,
            size,
            orgs,
            users,
            order_ids: Vec::new(),
            body: body(&query, representations),
            existing,
        }
    }

    /// `size` distinct random order ids (all existing) for the relation workload.
    pub(crate) fn orders(size: usize, seed: u64) -> KeySet {
        let mut next = random(seed);
        let mut seen = std::collections::HashSet::new();
        let mut order_ids = Vec::new();
        while order_ids.len() < size {
            let id = next() % 1_000_000 + 1;
            if seen.insert(id) {
                order_ids.push(id.to_string());
            }
        }
        let representations: Vec<serde_json::Value> = order_ids
            .iter()
            .map(|id| serde_json::json!({ "__typename": "Order", "id": id }))
            .collect();
        let query = "query($representations: [_Any!]!) { _entities(representations: $representations) { \
                     ... on Order { id total user { name email } } } }";
        KeySet {
            workload: Workload::Relation,
            size,
            orgs: Vec::new(),
            users: Vec::new(),
            order_ids,
            body: body(query, representations),
            existing: size,
        }
    }
}

fn body(query: &str, representations: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({ "query": query, "variables": { "representations": representations } }),
    )
    .expect("JSON serializes")
}

/// Percentiles and throughput of one client.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timing {
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Requests per second with `concurrency` clients; `None` when not measured.
    pub(crate) rps: Option<f64>,
    /// CPU time per request during the throughput phase (user plus system, from
    /// `/proc/<pid>/stat`): graft's process for graft, the benchmark's own for the bare client.
    pub(crate) cpu: Option<Duration>,
}

/// One row of the results.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    /// The database.
    pub(crate) database: Database,
    /// The workload.
    pub(crate) workload: Workload,
    /// Keys per request.
    pub(crate) size: usize,
    /// graft over HTTP.
    pub(crate) graft: Timing,
    /// The bare batched statement.
    pub(crate) bare: Timing,
    /// One statement per key.
    pub(crate) n_plus_one: Timing,
}

#[derive(Clone, Copy)]
enum Client {
    Graft,
    Bare,
    NPlusOne,
}

struct Runner {
    /// For checking answers, which it parses.
    http: reqwest::Client,
    /// For timing: graft as a gateway's HTTP/1.1 connection sees it (`crate::load`).
    connections: Connections,
    url: String,
    bare: Arc<Bare>,
    keys: KeySet,
}

impl Runner {
    async fn once(&self, client: Client) -> anyhow::Result<()> {
        match client {
            Client::Graft => {
                let status = self.connections.post().await?;
                if status != 200 {
                    bail!("graft answered {status}");
                }
            }
            Client::Bare => {
                std::hint::black_box(match self.keys.workload {
                    Workload::Entities => self.bare.batched(&self.keys).await?,
                    Workload::Relation => self.bare.relation(&self.keys).await?,
                });
            }
            Client::NPlusOne => {
                std::hint::black_box(match self.keys.workload {
                    Workload::Entities => self.bare.n_plus_one(&self.keys).await?,
                    Workload::Relation => self.bare.relation_n_plus_one(&self.keys).await?,
                });
            }
        }
        Ok(())
    }
}

/// Measures one batch size on one database.
pub(crate) async fn run(
    database: Database,
    settings: &Settings,
    graft: &Graft,
    bare: &Arc<Bare>,
    keys: KeySet,
) -> anyhow::Result<Measurement> {
    let (workload, size) = (keys.workload, keys.size);
    let runner = Arc::new(Runner {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(settings.concurrency * 2)
            .build()?,
        connections: Connections::new(load::Target::new(
            &graft.url,
            bytes::Bytes::from(keys.body.clone()),
        )?),
        url: graft.url.clone(),
        bare: bare.clone(),
        keys,
    });
    check_answers(&runner).await?;
    let iterations = (20_000 / size).clamp(40, 400);
    // Interleave the clients' latency samples so that machine noise hits them alike.
    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    let clients = [Client::Graft, Client::Bare, Client::NPlusOne];
    for round in 0..iterations + 10 {
        for (i, client) in clients.iter().enumerate() {
            if matches!(client, Client::NPlusOne) && round % 4 != 0 {
                continue; // N+1 is slow; a quarter of the samples is plenty.
            }
            let started = Instant::now();
            runner.once(*client).await?;
            if round >= 10 {
                samples[i].push(started.elapsed());
            }
        }
    }
    let mut timings = samples.map(percentiles);
    (timings[0].rps, timings[0].cpu) =
        throughput(&runner, Client::Graft, settings, graft.pid()).await?;
    (timings[1].rps, timings[1].cpu) =
        throughput(&runner, Client::Bare, settings, std::process::id()).await?;
    let [graft_timing, bare_timing, n_plus_one] = timings;
    Ok(Measurement {
        database,
        workload,
        size,
        graft: graft_timing,
        bare: bare_timing,
        n_plus_one,
    })
}

/// The p50 of `{ __typename }` over HTTP: what a request costs graft before any database
/// work (HTTP, parsing, the plan cache, writing).
pub(crate) async fn http_floor(graft: &Graft) -> anyhow::Result<Duration> {
    let http = reqwest::Client::new();
    let body = br#"{"query":"{ __typename }"}"#.to_vec();
    let mut samples = Vec::new();
    for i in 0..320 {
        let started = Instant::now();
        let response = http
            .post(&graft.url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        std::hint::black_box(response.bytes().await?);
        if i >= 20 {
            samples.push(started.elapsed());
        }
    }
    Ok(percentiles(samples).p50)
}

/// graft and the bare statement find the same users, and the N+1 loop agrees.
async fn check_answers(runner: &Runner) -> anyhow::Result<()> {
    let response: serde_json::Value = runner
        .http
        .post(&runner.url)
        .header("content-type", "application/json")
        .body(runner.keys.body.clone())
        .send()
        .await?
        .json()
        .await?;
    let entities = response["data"]["_entities"]
        .as_array()
        .with_context(|| format!("graft answered {response}"))?;
    let found = match runner.keys.workload {
        Workload::Entities => entities.iter().filter(|e| !e.is_null()).count(),
        // Every order exists and has a user: count the orders whose user came back.
        Workload::Relation => entities
            .iter()
            .filter(|e| !e["user"]["name"].is_null())
            .count(),
    };
    let (bare, naive) = match runner.keys.workload {
        Workload::Entities => (
            runner.bare.batched(&runner.keys).await?,
            runner.bare.n_plus_one(&runner.keys).await?,
        ),
        Workload::Relation => {
            // The bare client reads each distinct user once; the names tell graft's users apart.
            let distinct: std::collections::HashSet<&str> = entities
                .iter()
                .filter_map(|e| e["user"]["name"].as_str())
                .collect();
            let users = runner.bare.relation(&runner.keys).await?;
            if users != distinct.len() {
                bail!(
                    "graft's orders have {} distinct users, the bare statements found {users}",
                    distinct.len()
                );
            }
            (found, runner.bare.relation_n_plus_one(&runner.keys).await?)
        }
    };
    if entities.len() != runner.keys.size
        || found != runner.keys.existing
        || bare != found
        || naive != found
    {
        bail!(
            "answers differ for {} keys: expected {} found, graft {found} of {}, bare {bare}, N+1 {naive}",
            runner.keys.size,
            runner.keys.existing,
            entities.len()
        );
    }
    Ok(())
}

/// The p50 and p99 of `samples` (throughput left unset).
pub(crate) fn percentiles(mut samples: Vec<Duration>) -> Timing {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Timing {
        p50: at(0.50),
        p99: at(0.99),
        rps: None,
        cpu: None,
    }
}

/// Requests per second with `settings.concurrency` clients for `settings.throughput_time`, and
/// the CPU time process `pid` spent per request meanwhile.
async fn throughput(
    runner: &Arc<Runner>,
    client: Client,
    settings: &Settings,
    pid: u32,
) -> anyhow::Result<(Option<f64>, Option<Duration>)> {
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let deadline = started + settings.throughput_time;
    let tasks: Vec<_> = (0..settings.concurrency)
        .map(|_| {
            let (runner, done) = (runner.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    runner.once(client).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let requests = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid)
        .zip(cpu_before)
        .filter(|_| requests > 0)
        .map(|(after, before)| {
            after.saturating_sub(before) / u32::try_from(requests).unwrap_or(u32::MAX)
        });
    Ok((Some(requests as f64 / elapsed.as_secs_f64()), cpu))
}

/// The user plus system CPU time process `pid` has spent, from `/proc/<pid>/stat` (fields 14
/// and 15, in clock ticks of 10 ms: Linux's `CLK_TCK` is 100 on every common platform). A
/// throughput phase runs for seconds, so the tick is well under a percent of what it measures.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are plain.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let (user, system) = (ticks(11)?, ticks(12)?);
    Some(Duration::from_millis((user + system) * 10))
}

/// Posts `body` to graft at `url` as `tenant` (when given) and checks that the answer is a
/// success without GraphQL errors.
pub(crate) async fn post_checked(
    http: &reqwest::Client,
    url: &str,
    body: bytes::Bytes,
    tenant: Option<&str>,
) -> anyhow::Result<()> {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(tenant) = tenant {
        request = request.header("x-tenant-id", tenant);
    }
    let response = request.send().await?;
    anyhow::ensure!(response.status().is_success(), "{}", response.status());
    let answer = response.bytes().await?;
    anyhow::ensure!(
        !answer.windows(9).any(|w| w == b"\"errors\":"),
        "an error: {}",
        String::from_utf8_lossy(&answer)
    );
    Ok(())
}

/// Requests per second of `settings.concurrency` clients, each running `request(client,
/// n)` (its `n`th request) back to back for `settings.throughput_time`.
pub(crate) async fn clients_rps<F, Fut>(settings: &Settings, request: F) -> anyhow::Result<f64>
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let deadline = Instant::now() + settings.throughput_time;
    let started = Instant::now();
    let done: Vec<usize> =
        futures_util::future::try_join_all((0..settings.concurrency).map(|client| {
            let request = &request;
            async move {
                let mut n = 0;
                while Instant::now() < deadline {
                    request(client, n).await?;
                    n += 1;
                }
                anyhow::Ok(n)
            }
        }))
        .await?;
    Ok(done.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64())
}

/// One graft's figures in a comparison of several on the same requests.
#[derive(Debug, Clone)]
pub(crate) struct Compared {
    pub(crate) name: &'static str,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) rps: f64,
}

/// Times the same `_entities` of `keys` against each of `servers` (as `tenant`, when given):
/// 600 requests each, interleaved and rotated so that machine noise hits them alike, then two
/// throughput phases each.
pub(crate) async fn interleaved(
    settings: &Settings,
    servers: &[(&'static str, &crate::server::Graft)],
    keys: &KeySet,
    tenant: Option<&str>,
) -> anyhow::Result<Vec<Compared>> {
    let http = reqwest::Client::new();
    let body = bytes::Bytes::from(keys.body.clone());
    let once = |url: String| {
        let (http, body) = (http.clone(), body.clone());
        async move { post_checked(&http, &url, body, tenant).await }
    };
    let iterations = 600;
    let mut samples = vec![Vec::new(); servers.len()];
    for round in 0..iterations + 20 {
        for k in 0..servers.len() {
            // Rotate which goes first, so none always follows another.
            let i = (round + k) % servers.len();
            let started = Instant::now();
            once(servers[i].1.url.clone()).await?;
            if round >= 20 {
                samples[i].push(started.elapsed());
            }
        }
    }
    let throughput = |url: String| {
        let once = &once;
        async move { clients_rps(settings, |_, _| once(url.clone())).await }
    };
    let mut rps = vec![0.0; servers.len()];
    for _ in 0..2 {
        for (i, (_, graft)) in servers.iter().enumerate() {
            rps[i] += throughput(graft.url.clone()).await? / 2.0;
        }
    }
    Ok(servers
        .iter()
        .zip(samples)
        .zip(rps)
        .map(|(((name, _), samples), rps)| {
            let timing = percentiles(samples);
            Compared {
                name,
                p50: timing.p50,
                p99: timing.p99,
                rps,
            }
        })
        .collect())
}

/// A comparison's table, each row against the first; `what` heads the first column.
pub(crate) fn compared_markdown(what: &str, rows: &[Compared]) -> String {
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    let mut out = format!(
        "| {what} | p50 ms | p99 ms | req/s | p50 / first | req/s / first |\n\
         |---|---:|---:|---:|---:|---:|\n"
    );
    let Some(first) = rows.first() else {
        return out;
    };
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.3} | {:.3} |\n",
            row.name,
            ms(row.p50),
            ms(row.p99),
            row.rps,
            row.p50.as_secs_f64() / first.p50.as_secs_f64(),
            row.rps / first.rps,
        ));
    }
    out
}
