//! The tenancy run (`--runs tenancy`, PostgreSQL): what keeping tenants apart costs `_entities`.
//!
//! Three graft instances on the benchmark dataset answer the same 100-key `_entities`:
//!
//! - **none**: no `[tenancy]`, today's path;
//! - **schema**: tenant `a` in a schema of its own (`bench_tenant_a`, a copy of `org_users`),
//!   named by `X-Tenant-ID`: the tenant layer, then table names qualified with the schema;
//! - **rows**: tenants `a` and `b` sharing `bench_rows.org_users` under row-level security, as a
//!   role it holds (`graft_bench_app`): each read is `BEGIN`, `set_config`, the statement and
//!   `COMMIT` in one round trip.
//!
//! Requests to the three are interleaved, so that machine noise hits them alike, then each
//! serves its own throughput phase.

use std::time::Instant;

use anyhow::Context as _;

use crate::dataset::Target;
use crate::measure::{Compared, KeySet, compared_markdown, interleaved};
use crate::server::{Graft, ORGS_SCHEMA};
use crate::{Settings, dataset};

const APP_ROLE: &str = "graft_bench_app";

/// Creates the tenant schema and the shared tables under row-level security, once.
async fn prepare(target: &Target) -> anyhow::Result<()> {
    let bench = dataset::pg_connect(&target.url).await?;
    let ready = bench
        .query_one(
            "SELECT to_regclass('bench_tenant_a.org_users') IS NOT NULL \
               AND to_regclass('bench_rows.orders') IS NOT NULL",
            &[],
        )
        .await?
        .get::<_, bool>(0);
    if ready {
        return Ok(());
    }
    let started = Instant::now();
    let schema =
        graft_schema::SubgraphSchema::parse(&std::fs::read_to_string(ORGS_SCHEMA)?, ORGS_SCHEMA)?;
    let mut ddl = String::from(
        "DROP SCHEMA IF EXISTS bench_tenant_a CASCADE; DROP SCHEMA IF EXISTS bench_rows CASCADE;
         CREATE SCHEMA bench_tenant_a;
         CREATE TABLE bench_tenant_a.org_users (LIKE public.org_users INCLUDING ALL);
         INSERT INTO bench_tenant_a.org_users SELECT * FROM public.org_users;
         CREATE SCHEMA bench_rows;
         CREATE TABLE bench_rows.org_users (tenant_id text NOT NULL, LIKE public.org_users,
           PRIMARY KEY (tenant_id, org_id, user_id));
         INSERT INTO bench_rows.org_users SELECT t, u.* FROM (VALUES ('a'), ('b')) AS v(t), public.org_users u;
         CREATE TABLE bench_rows.orders (tenant_id text NOT NULL, LIKE public.orders);
         SET search_path TO bench_rows;\n",
    );
    for type_name in ["OrgUser", "Order"] {
        let mapping = schema
            .mapping(type_name)
            .context("the orgs schema maps it")?;
        ddl.push_str(&graft_db::postgres::row_security_ddl(mapping, "tenant_id"));
    }
    ddl.push_str(&format!(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
             CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
           END IF;
         END $$;
         GRANT USAGE ON SCHEMA bench_rows TO {APP_ROLE};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA bench_rows TO {APP_ROLE};
         ANALYZE bench_tenant_a.org_users; ANALYZE bench_rows.org_users;"
    ));
    bench
        .batch_execute(&ddl)
        .await
        .context("creating the tenant schema and the shared tables")?;
    eprintln!(
        "   tenant tables created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Times 100-key `_entities` under each isolation.
pub(crate) async fn run(
    settings: &Settings,
    target: &Target,
    keys: &KeySet,
) -> anyhow::Result<Vec<Compared>> {
    prepare(target).await?;
    let none = Graft::start_with(settings, "tenancy-none", target, "", "").await?;
    let schema = Graft::start_with(
        settings,
        "tenancy-schema",
        target,
        "",
        "[tenancy]\nresolvers = [\"header\"]\n[[tenancy.tenants]]\nid = \"a\"\n\
         isolation = \"schema\"\nschema = \"bench_tenant_a\"\n",
    )
    .await?;
    let shared = Target {
        url: format!(
            "postgres://{APP_ROLE}@127.0.0.1:5432/graft_bench?options=-c%20search_path%3Dbench_rows"
        ),
    };
    let rows = Graft::start_with(
        settings,
        "tenancy-rows",
        &shared,
        "",
        "[tenancy]\nresolvers = [\"header\"]\n[[tenancy.tenants]]\nid = \"a\"\nisolation = \"rows\"\n\
         [[tenancy.tenants]]\nid = \"b\"\nisolation = \"rows\"\n",
    )
    .await?;
    let servers = [("none", &none), ("schema", &schema), ("rows", &rows)];
    interleaved(settings, &servers, keys, Some("a")).await
}

/// The tenancy table: each isolation against none.
pub(crate) fn markdown(rows: &[Compared]) -> String {
    compared_markdown("isolation", rows)
}
