//! The tenant-scale run (`--runs tenants`, PostgreSQL; `--tenants N`, default 10,000): what
//! many tenant schemas cost.
//!
//! In a database of its own (`graft_bench_tenants`), it creates N tenants, each in a schema of
//! its own with the orgs tables and 200 users (the `graft tenant create` path: schema, its
//! migration, then its record), timed; applies a second migration to every schema, timed;
//! then starts graft with tenants in the database and times 100-key `_entities` for tenants
//! drawn from the first 10 and from all N, requests interleaved, then a throughput phase each;
//! once after one request per tenant, and again after every pooled connection has served every
//! tenant, so that a tenant's first statements on a connection (PostgreSQL reads the catalog for
//! tables a connection has not seen) are told apart from what every statement costs. With N
//! tenants, each connection's prepared statements churn (one text per schema), and the catalog
//! PostgreSQL caches per connection is N times larger.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use graft_db::postgres::{PgDriver, PostgresConfig, PostgresSource};
use graft_db::tenants::{Migration, SqlTenantStore, TenantAdmin};
use graft_resolve::{Isolation, SchemaName, TenantId, TenantRecord};

use crate::Settings;
use crate::dataset::{Target, pg_connect};
use crate::measure::{clients_rps, percentiles, post_checked};
use crate::server::{Graft, ORGS_SCHEMA};

const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DATABASE: &str = "graft_bench_tenants";

/// The figures of one run.
#[derive(Debug, Clone)]
pub(crate) struct Scale {
    pub(crate) tenants: usize,
    pub(crate) created_in: Option<Duration>,
    pub(crate) migrated_in: Duration,
    /// (how warm the connections were, tenants drawn from, p50, p99, req/s).
    pub(crate) latency: Vec<(Warmth, usize, Duration, Duration, f64)>,
}

/// How many of the tenants each pooled connection had served before a measurement. PostgreSQL
/// caches a table's catalog entries per connection, so a tenant's first statements on a
/// connection read the catalog; later ones do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Warmth {
    /// After one request per tenant: each connection has served about one tenant in eight.
    Partial,
    /// After every connection has served every tenant.
    Every,
}

/// Times `pools`' tenants: 1,200 requests each, interleaved, then a throughput phase each.
async fn measure<F, Fut>(
    settings: &Settings,
    pools: &[usize],
    once: &F,
    state: &mut u64,
    warmth: Warmth,
    latency: &mut Vec<(Warmth, usize, Duration, Duration, f64)>,
) -> anyhow::Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut pick = |within: usize| {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        tenant_id((*state % within as u64) as usize)
    };
    let mut samples = vec![Vec::new(); pools.len()];
    for round in 0..1_220 {
        for (k, within) in pools.iter().enumerate() {
            let tenant = pick(*within);
            let started = Instant::now();
            once(tenant).await?;
            if round >= 20 {
                samples[k].push(started.elapsed());
            }
        }
    }
    for (within, samples) in pools.iter().zip(samples) {
        // Each client's `n`th request goes to a tenant drawn from `within` by a hash of both.
        let rps = clients_rps(settings, |client, n| {
            let drawn = (client as u64 + 1)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(n as u64)
                .wrapping_mul(6_364_136_223_846_793_005);
            once(tenant_id(((drawn >> 33) % *within as u64) as usize))
        })
        .await?;
        let timing = percentiles(samples);
        latency.push((warmth, *within, timing.p50, timing.p99, rps));
    }
    Ok(())
}

fn migrations() -> anyhow::Result<Vec<Migration>> {
    let tables = std::fs::read_to_string("examples/orgs/postgres/schema.sql")?;
    Ok(vec![Migration::new(
        "0001_orgs.sql",
        format!(
            "{tables}\nINSERT INTO org_users (org_id, user_id, name, email, active) \
                 SELECT 'org-' || o, 'u' || u, 'User ' || u || ' of org-' || o, NULL, true \
                 FROM generate_series(1, 2) AS o, generate_series(1, 100) AS u;"
        ),
    )?])
}

/// A migration of its own for this run (its version the run's start, in seconds), so that
/// every run applies one to every schema: a column added to `org_users`.
fn this_runs_migration() -> anyhow::Result<Migration> {
    let version = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    Ok(Migration::new(
        &format!("{version}_note.sql"),
        format!("ALTER TABLE org_users ADD COLUMN note_{version} text;"),
    )?)
}

fn tenant_id(i: usize) -> String {
    format!("t{i:05}")
}

/// The database and its tenant store, made once: `tenants` tenants exist afterwards, and the
/// time it took to create them when they did not.
async fn ensure(
    tenants: usize,
    migrations: &[Migration],
) -> anyhow::Result<(SqlTenantStore<PgDriver>, Option<Duration>)> {
    let admin = pg_connect(ADMIN).await?;
    let exists = !admin
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
        .await?
        .is_empty();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await?;
    }
    let url = format!("postgres://postgres@127.0.0.1:5432/{DATABASE}");
    let schema =
        graft_schema::SubgraphSchema::parse(&std::fs::read_to_string(ORGS_SCHEMA)?, ORGS_SCHEMA)?;
    let mut config = PostgresConfig::new(&url);
    config.max_connections = 8;
    let source =
        PostgresSource::connect("bench-tenants", &config, &schema.with_mappings(|_| false)).await?;
    let store = SqlTenantStore::new(source, None);
    store.install().await?;
    store.migrate(None, &migrations[..1], false).await?;
    let existing = store.list().await?.len();
    if existing == tenants {
        return Ok((store, None));
    }
    anyhow::ensure!(
        existing < tenants,
        "{DATABASE} has {existing} tenants, more than {tenants}: drop it (DROP DATABASE {DATABASE} WITH (FORCE))"
    );
    let started = Instant::now();
    let first = &migrations[..1];
    let creates = futures_util::stream::iter(existing..tenants).map(|i| {
        let store = &store;
        async move {
            let id = tenant_id(i);
            let schema = SchemaName::new(&format!("tenant_{id}"))?;
            let record = TenantRecord::active(TenantId::new(&id)?, Isolation::Schema(schema));
            TenantAdmin::create(store, &record, first)
                .await
                .with_context(|| format!("creating tenant {id}"))?;
            anyhow::Ok(())
        }
    });
    {
        let mut creates = std::pin::pin!(creates.buffer_unordered(8));
        let mut done = existing;
        while let Some(created) = creates.next().await {
            created?;
            done += 1;
            if done % 1000 == 0 {
                eprintln!(
                    "   {done} tenants, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    let took = started.elapsed();
    Ok((store, Some(took)))
}

/// Times tenant creation, a migration of every schema, and `_entities` across tenants.
pub(crate) async fn run(settings: &Settings, tenants: usize) -> anyhow::Result<Scale> {
    let mut migrations = migrations()?;
    let (store, created_in) = ensure(tenants, &migrations).await?;
    // Earlier runs' migrations are applied already: each schema is up to date with them.
    migrations.push(this_runs_migration()?);
    let started = Instant::now();
    let targets: Vec<SchemaName> = (0..tenants)
        .map(|i| SchemaName::new(&format!("tenant_{}", tenant_id(i))))
        .collect::<Result<_, _>>()?;
    let runs = futures_util::stream::iter(&targets).map(|target| {
        let (store, migrations) = (&store, &migrations);
        async move { TenantAdmin::migrate(store, Some(target), migrations, false).await }
    });
    let outcomes: Vec<_> = runs.buffer_unordered(8).collect().await;
    for outcome in outcomes {
        outcome.context("migrating")?;
    }
    let migrated_in = started.elapsed();

    let target = Target {
        url: format!("postgres://postgres@127.0.0.1:5432/{DATABASE}"),
    };
    // `GRAFT_BENCH_UNNAMED=1`: statements sent unnamed, never prepared (as behind PgBouncer).
    let unnamed = if std::env::var_os("GRAFT_BENCH_UNNAMED").is_some() {
        "prepared_statements = false\n"
    } else {
        ""
    };
    let graft = Graft::start_with(
        settings,
        "tenants",
        &target,
        "",
        &format!(
            "{unnamed}[tenancy]\nstore = \"database\"\nresolvers = [\"header\"]\n\
             cache_ttl_seconds = 3600\ncache_capacity = 100000\n"
        ),
    )
    .await?;
    let mut keys = Vec::new();
    for org in 1..=2 {
        for user in 1..=50 {
            keys.push(serde_json::json!({ "__typename": "OrgUser", "orgId": format!("org-{org}"), "userId": format!("u{user}") }));
        }
    }
    let body = bytes::Bytes::from(serde_json::to_vec(&serde_json::json!({
        "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { orgId userId name email active } } }",
        "variables": { "r": keys },
    }))?);
    let http = reqwest::Client::new();
    let once = |tenant: String| {
        let (http, body, url) = (http.clone(), body.clone(), graft.url.clone());
        async move { post_checked(&http, &url, body, Some(&tenant)).await }
    };
    let pools = [10.min(tenants), tenants];
    // Every tenant's cache entry warmed first, so that the timed requests measure serving.
    for i in 0..tenants {
        once(tenant_id(i)).await?;
    }
    let mut latency = Vec::new();
    let mut state = 0x7e4a_u64;
    measure(
        settings,
        &pools,
        &once,
        &mut state,
        Warmth::Partial,
        &mut latency,
    )
    .await?;
    // Then every pooled connection serves every tenant once. The pool hands out connections
    // first in, first out, so sequential requests go round its connections in turn: each pass
    // sends one request more before its walk over the tenants, and so gives tenant `i` to the
    // connection after the one the previous pass gave it to. As many passes as the pool has
    // connections reach every pair (with 10,000 tenants, a multiple of 8, each pass starts one
    // connection further on).
    let started = Instant::now();
    for _ in 0..settings.concurrency {
        once(tenant_id(0)).await?;
        for i in 0..tenants {
            once(tenant_id(i)).await?;
        }
    }
    eprintln!(
        "   every connection warmed with every tenant in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    measure(
        settings,
        &pools,
        &once,
        &mut state,
        Warmth::Every,
        &mut latency,
    )
    .await?;
    Ok(Scale {
        tenants,
        created_in,
        migrated_in,
        latency,
    })
}

/// The scale table.
pub(crate) fn markdown(scale: &Scale) -> String {
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    let per = |d: Duration| d.as_secs_f64() * 1e3 / scale.tenants as f64;
    let mut out = format!(
        "{} tenant schemas: created in {} ; a migration of every schema in {:.1} s ({:.2} ms per schema, 8 at a time).\n\n",
        scale.tenants,
        scale
            .created_in
            .map_or("(an earlier run)".to_owned(), |d| format!(
                "{:.1} s ({:.2} ms per tenant, 8 at a time)",
                d.as_secs_f64(),
                per(d)
            )),
        scale.migrated_in.as_secs_f64(),
        per(scale.migrated_in),
    );
    out.push_str("| connections | tenants drawn from | p50 ms | p99 ms | req/s | p50 / 10 tenants |\n|---|---:|---:|---:|---:|---:|\n");
    for (warmth, within, p50, p99, rps) in &scale.latency {
        // The ratio is to the 10 tenants measured in the same phase.
        let base = scale.latency.iter().find(|l| l.0 == *warmth).map(|l| l.2);
        let connections = match warmth {
            Warmth::Partial => "each has served 1 in 8 tenants",
            Warmth::Every => "each has served every tenant",
        };
        out.push_str(&format!(
            "| {connections} | {within} | {} | {} | {rps:.0} | {:.3} |\n",
            ms(*p50),
            ms(*p99),
            base.map_or(1.0, |b| p50.as_secs_f64() / b.as_secs_f64())
        ));
    }
    out
}
