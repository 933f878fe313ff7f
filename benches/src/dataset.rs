//! The benchmark dataset: 100,000 users in 1,000 organisations (`org-1`..`org-1000`, users
//! `u1`..`u100` in each) and 1,000,000 orders, made once per database and reused while intact.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use sqlx::Connection as _;

use crate::{Database, Settings};

/// Where a database's dataset lives.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URL graft and the bare client connect to.
    pub(crate) url: String,
}

const USERS: i64 = 100_000;
const ORDERS: i64 = 1_000_000;
const POSTGRES_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const POSTGRES_BENCH: &str = "postgres://postgres@127.0.0.1:5432/graft_bench";

/// Makes sure `database` holds the dataset, creating it when missing or incomplete.
pub(crate) async fn ensure(database: Database, settings: &Settings) -> anyhow::Result<Target> {
    match database {
        Database::Postgres => postgres().await,
        Database::Sqlite => sqlite(settings.out.join("graft_bench.db")).await,
        Database::Mysql => mysql().await,
    }
}

async fn postgres() -> anyhow::Result<Target> {
    let target = Target {
        url: POSTGRES_BENCH.to_owned(),
    };
    let admin = pg_connect(POSTGRES_ADMIN).await?;
    let exists = !admin
        .query(
            "SELECT 1 FROM pg_database WHERE datname = 'graft_bench'",
            &[],
        )
        .await?
        .is_empty();
    if exists {
        let bench = pg_connect(POSTGRES_BENCH).await?;
        let counts = bench
            .query_one(
                "SELECT (SELECT count(*) FROM org_users), (SELECT count(*) FROM orders)",
                &[],
            )
            .await;
        if let Ok(row) = counts
            && (row.get::<_, i64>(0), row.get::<_, i64>(1)) == (USERS, ORDERS)
        {
            return Ok(target);
        }
        drop(bench);
        admin
            .batch_execute("DROP DATABASE graft_bench WITH (FORCE)")
            .await?;
    }
    let started = Instant::now();
    admin.batch_execute("CREATE DATABASE graft_bench").await?;
    let bench = pg_connect(POSTGRES_BENCH).await?;
    bench
        .batch_execute(include_str!("../../examples/orgs/postgres/schema.sql"))
        .await?;
    bench
        .batch_execute(
            "INSERT INTO org_users (org_id, user_id, name, email, active, created_at)
             SELECT 'org-' || o, 'u' || u, 'User ' || u || ' of org-' || o, 'u' || u || '@org-' || o || '.example',
                    u % 7 <> 0, timestamptz '2026-01-01 09:00:00+00' + (u * interval '1 hour')
             FROM generate_series(1, 1000) AS o, generate_series(1, 100) AS u;
             INSERT INTO orders (id, org_id, user_id, total, status)
             SELECT i, 'org-' || ((i - 1) / 1000 + 1), 'u' || (((i - 1) / 10) % 100 + 1),
                    round((i % 10000) / 100.0, 2), CASE i % 3 WHEN 0 THEN 'shipped' WHEN 1 THEN 'paid' ELSE 'cancelled' END
             FROM generate_series(1, 1000000) AS i;
             SELECT setval(pg_get_serial_sequence('orders', 'id'), 1000000);
             ANALYZE;",
        )
        .await
        .context("loading the PostgreSQL dataset")?;
    eprintln!(
        "   PostgreSQL dataset loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(target)
}

const MYSQL_ADMIN: &str = "mysql://root@127.0.0.1:3306";
const MYSQL_BENCH: &str = "mysql://root@127.0.0.1:3306/graft_bench";

async fn mysql() -> anyhow::Result<Target> {
    use mysql_async::prelude::Queryable;
    let target = Target {
        url: MYSQL_BENCH.to_owned(),
    };
    let mut admin = mysql_async::Conn::from_url(MYSQL_ADMIN)
        .await
        .context("connecting to MariaDB")?;
    let counts: Option<(i64, i64)> = admin
        .query_first("SELECT (SELECT COUNT(*) FROM graft_bench.org_users), (SELECT COUNT(*) FROM graft_bench.orders)")
        .await
        .unwrap_or(None);
    if counts == Some((USERS, ORDERS)) {
        return Ok(target);
    }
    let started = Instant::now();
    admin.query_drop("DROP DATABASE IF EXISTS graft_bench; CREATE DATABASE graft_bench CHARACTER SET utf8mb4").await?;
    let mut bench = mysql_async::Conn::from_url(MYSQL_BENCH).await?;
    bench
        .query_drop(include_str!("../../examples/orgs/mysql/schema.sql"))
        .await?;
    // MariaDB's sequence tables (seq_1_to_N) make the rows; foreign keys are checked by the
    // generator's arithmetic, not row by row.
    bench
        .query_drop(
            "SET foreign_key_checks = 0;
             INSERT INTO org_users (org_id, user_id, name, email, active, created_at)
             SELECT CONCAT('org-', o.seq), CONCAT('u', u.seq), CONCAT('User ', u.seq, ' of org-', o.seq),
                    CONCAT('u', u.seq, '@org-', o.seq, '.example'), u.seq % 7 <> 0,
                    TIMESTAMP('2026-01-01 09:00:00') + INTERVAL u.seq HOUR
             FROM seq_1_to_1000 AS o JOIN seq_1_to_100 AS u;
             INSERT INTO orders (id, org_id, user_id, total, status)
             SELECT seq, CONCAT('org-', (seq - 1) DIV 1000 + 1), CONCAT('u', ((seq - 1) DIV 10) % 100 + 1),
                    ROUND((seq % 10000) / 100.0, 2),
                    CASE seq % 3 WHEN 0 THEN 'shipped' WHEN 1 THEN 'paid' ELSE 'cancelled' END
             FROM seq_1_to_1000000;
             SET foreign_key_checks = 1;
             ANALYZE TABLE org_users, orders;",
        )
        .await
        .context("loading the MariaDB dataset")?;
    eprintln!(
        "   MariaDB dataset loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(target)
}

pub(crate) async fn pg_connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(connection);
    Ok(client)
}

async fn sqlite(path: PathBuf) -> anyhow::Result<Target> {
    let target = Target {
        url: format!("sqlite://{}", path.display()),
    };
    if path.exists() {
        let mut connection = sqlx::SqliteConnection::connect(&target.url).await?;
        let counts: Result<(i64, i64), _> = sqlx::query_as(
            "SELECT (SELECT count(*) FROM org_users), (SELECT count(*) FROM orders)",
        )
        .fetch_one(&mut connection)
        .await;
        if counts.is_ok_and(|counts| counts == (USERS, ORDERS)) {
            return Ok(target);
        }
        drop(connection);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    let started = Instant::now();
    let mut connection =
        sqlx::SqliteConnection::connect(&format!("{}?mode=rwc", target.url)).await?;
    sqlx::raw_sql(include_str!("../../examples/orgs/sqlite/schema.sql"))
        .execute(&mut connection)
        .await?;
    sqlx::raw_sql(
        "BEGIN;
         WITH RECURSIVE o(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM o WHERE i < 1000),
                        u(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM u WHERE i < 100)
         INSERT INTO org_users (org_id, user_id, name, email, active, created_at)
         SELECT 'org-' || o.i, 'u' || u.i, 'User ' || u.i || ' of org-' || o.i, 'u' || u.i || '@org-' || o.i || '.example',
                u.i % 7 <> 0, '2026-01-01T09:00:00Z'
         FROM o, u;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
         INSERT INTO orders (id, org_id, user_id, total, status)
         SELECT i, 'org-' || ((i - 1) / 1000 + 1), 'u' || (((i - 1) / 10) % 100 + 1), round((i % 10000) / 100.0, 2),
                CASE i % 3 WHEN 0 THEN 'shipped' WHEN 1 THEN 'paid' ELSE 'cancelled' END
         FROM n;
         COMMIT;
         ANALYZE;",
    )
    .execute(&mut connection)
    .await
    .context("loading the SQLite dataset")?;
    eprintln!(
        "   SQLite dataset loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(target)
}
