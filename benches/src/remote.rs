//! Remote routes: entities another subgraph owns, resolved by graft itself.
//!
//! Three graft processes run the orgs schema: **users** on PostgreSQL (OrgUser is its own),
//! and two **orders** instances on MariaDB where OrgUser belongs to users: one reads it from
//! the users database (`route = "db"`), one from the users instance's `_entities`
//! (`route = "http"`). Timed in one interleaved run:
//!
//! - `_entities` of 100 OrgUsers: locally on users, by the remote database route, by HTTP;
//! - one `_entities` request of 50 Orders (MariaDB) and 50 OrgUsers (PostgreSQL): the two
//!   groups in parallel (`max_concurrent_fetches = 8`) and one at a time (`= 1`, a fourth
//!   process), which is what the parallel groups save. Once on loopback, where each statement
//!   costs about as much CPU as waiting, and once with both databases a few milliseconds away
//!   (through [`crate::latency`]'s delaying proxy, whose round trip is measured and reported),
//!   as databases on other hosts are.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::Settings;
use crate::bare::FIELDS;
use crate::dataset::Target;
use crate::latency;
use crate::measure::KeySet;
use crate::server::{Graft, ORGS_SCHEMA};

/// Latency of one way to answer a request.
#[derive(Debug, Clone)]
pub(crate) struct RouteTiming {
    /// What was timed.
    pub(crate) label: &'static str,
    /// Entities per request.
    pub(crate) size: usize,
    /// Median latency.
    pub(crate) p50: Duration,
    /// 99th percentile.
    pub(crate) p99: Duration,
}

/// Runs the remote-route benchmark on the PostgreSQL and MariaDB datasets: the timings, and
/// the round trip to the databases of the "far away" rows.
pub(crate) async fn run(
    settings: &Settings,
    postgres: &Target,
    mysql: &Target,
) -> anyhow::Result<(Vec<RouteTiming>, Duration)> {
    let users = Graft::start_with(settings, "remote-users", postgres, "", "").await?;
    let owner = std::path::absolute(ORGS_SCHEMA)?;
    let remote = |route: &str| {
        format!(
            "[[remote]]\nname = \"users\"\ntypes = [\"OrgUser\"]\nroute = \"{route}\"\nschema = {owner:?}\n\
             url = {url:?}\n\n[remote.database]\nurl = {pg:?}\nmax_connections = {pool}\n",
            url = users.url,
            pg = postgres.url,
            pool = settings.concurrency,
        )
    };
    let by_db = Graft::start_with(settings, "remote-db", mysql, "", &remote("db")).await?;
    let by_http = Graft::start_with(settings, "remote-http", mysql, "", &remote("http")).await?;
    let one_at_a_time = Graft::start_with(
        settings,
        "remote-sequential",
        mysql,
        "max_concurrent_fetches = 1",
        &remote("db"),
    )
    .await?;

    // The same two instances with both databases NETWORK_DELAY away in each direction.
    let far_postgres = latency::via(
        &postgres.url,
        latency::proxy(address_of(&postgres.url)?, NETWORK_DELAY).await?,
    )?;
    // mysql_async reconnects to 127.0.0.1 over the Unix socket unless told not to, which would
    // bypass the proxy.
    let far_mysql = Target {
        url: format!(
            "{}?prefer_socket=false",
            latency::via(
                &mysql.url,
                latency::proxy(address_of(&mysql.url)?, NETWORK_DELAY).await?,
            )?
        ),
    };
    let far_remote = format!(
        "[[remote]]\nname = \"users\"\ntypes = [\"OrgUser\"]\nroute = \"db\"\nschema = {owner:?}\n\n\
         [remote.database]\nurl = {far_postgres:?}\nmax_connections = {pool}\n",
        pool = settings.concurrency,
    );
    let far_parallel =
        Graft::start_with(settings, "remote-far", &far_mysql, "", &far_remote).await?;
    let far_sequential = Graft::start_with(
        settings,
        "remote-far-sequential",
        &far_mysql,
        "max_concurrent_fetches = 1",
        &far_remote,
    )
    .await?;

    let http = reqwest::Client::new();
    let users_body = KeySet::new(100, 0xbead).body;
    let mixed_body = mixed_body(50, 0xfeed);
    let cases: [(&'static str, &Graft, &[u8], usize); 7] = [
        (
            "OrgUser, local (users on PostgreSQL)",
            &users,
            &users_body,
            100,
        ),
        ("OrgUser, remote database route", &by_db, &users_body, 100),
        ("OrgUser, HTTP route", &by_http, &users_body, 100),
        (
            "50 Order + 50 OrgUser, groups in parallel",
            &by_db,
            &mixed_body,
            100,
        ),
        (
            "50 Order + 50 OrgUser, one group at a time",
            &one_at_a_time,
            &mixed_body,
            100,
        ),
        (
            "same, databases far away, groups in parallel",
            &far_parallel,
            &mixed_body,
            100,
        ),
        (
            "same, databases far away, one group at a time",
            &far_sequential,
            &mixed_body,
            100,
        ),
    ];
    for (label, graft, body, _) in &cases {
        check(&http, graft, body)
            .await
            .with_context(|| label.to_string())?;
    }
    let mut samples = vec![Vec::new(); cases.len()];
    for round in 0..410 {
        for (i, (_, graft, body, _)) in cases.iter().enumerate() {
            let started = Instant::now();
            post(&http, graft, body).await?;
            if round >= 10 {
                samples[i].push(started.elapsed());
            }
        }
    }
    let far_round_trip = latency::round_trip(NETWORK_DELAY).await?;
    let timings = cases
        .iter()
        .zip(samples)
        .map(|((label, _, _, size), mut samples)| {
            samples.sort_unstable();
            let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
            RouteTiming {
                label,
                size: *size,
                p50: at(0.5),
                p99: at(0.99),
            }
        })
        .collect();
    Ok((timings, far_round_trip))
}

/// `size` Orders (ids 1, 11, 21, ...) and `size` OrgUsers in one `_entities` request.
fn mixed_body(size: usize, seed: u64) -> Vec<u8> {
    let users: serde_json::Value =
        serde_json::from_slice(&KeySet::new(size, seed).body).expect("the key set's body is JSON");
    let mut representations = users["variables"]["representations"]
        .as_array()
        .expect("representations")
        .clone();
    representations.extend(
        (0..size)
            .map(|i| serde_json::json!({ "__typename": "Order", "id": (i * 10 + 1).to_string() })),
    );
    let query = format!(
        "query($representations: [_Any!]!) {{ _entities(representations: $representations) {{ \
         ... on OrgUser {{ {} }} ... on Order {{ id total status }} }} }}",
        FIELDS.join(" ")
    );
    serde_json::to_vec(&serde_json::json!({
        "query": query,
        "variables": { "representations": representations },
    }))
    .expect("JSON serializes")
}

async fn post(http: &reqwest::Client, graft: &Graft, body: &[u8]) -> anyhow::Result<bytes::Bytes> {
    let response = http
        .post(&graft.url)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("{} answered {}", graft.url, response.status());
    }
    Ok(response.bytes().await?)
}

/// The request resolves without errors and finds most entities.
async fn check(http: &reqwest::Client, graft: &Graft, body: &[u8]) -> anyhow::Result<()> {
    let response: serde_json::Value = serde_json::from_slice(&post(http, graft, body).await?)?;
    if response.get("errors").is_some() {
        bail!("errors: {}", response["errors"]);
    }
    let entities = response["data"]["_entities"]
        .as_array()
        .with_context(|| format!("no _entities in {response}"))?;
    let found = entities.iter().filter(|e| !e.is_null()).count();
    // One key in twenty names a missing user.
    if found * 10 < entities.len() * 8 {
        bail!("only {found} of {} entities found", entities.len());
    }
    Ok(())
}

/// The results as a Markdown table, with the ratios the user's targets name.
pub(crate) fn markdown(timings: &[RouteTiming], far_round_trip: Duration) -> String {
    let mut out = String::from("| route | entities | p50 ms | p99 ms |\n|---|---:|---:|---:|\n");
    for t in timings {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} |\n",
            t.label,
            t.size,
            t.p50.as_secs_f64() * 1e3,
            t.p99.as_secs_f64() * 1e3
        ));
    }
    if let [.., parallel, sequential, far_parallel, far_sequential] = timings {
        let ratio = |slow: &RouteTiming, fast: &RouteTiming| {
            slow.p50.as_secs_f64() / fast.p50.as_secs_f64()
        };
        out.push_str(&format!(
            "\nOne group at a time / groups in parallel (p50): {:.2}x on loopback, {:.2}x with the \
             databases far away: a {:.2} ms round trip (measured through the delaying proxy).\n",
            ratio(sequential, parallel),
            ratio(far_sequential, far_parallel),
            far_round_trip.as_secs_f64() * 1e3
        ));
    }
    out
}

/// How far the "databases on other hosts" are, each way.
const NETWORK_DELAY: Duration = Duration::from_millis(1);

/// The `host:port` of a database URL.
fn address_of(url: &str) -> anyhow::Result<std::net::SocketAddr> {
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
        .with_context(|| format!("{url}: no scheme"))?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port
        .parse()
        .with_context(|| format!("{url}: the benchmark's databases are at an IP address and port"))
}
