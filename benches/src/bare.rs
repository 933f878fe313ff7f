//! The baselines: the statement graft issues, sent bare, and the naive N+1 loop.

use std::sync::Arc;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_db::postgres::{PostgresConfig, PostgresSource};
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::FetchRequest;
use graft_schema::SubgraphSchema;
use sqlx::Row as _;

use crate::Database;
use crate::dataset::Target;
use crate::measure::KeySet;

/// The fields the benchmark's `_entities` query selects, in order.
pub(crate) const FIELDS: [&str; 4] = ["orgId", "userId", "name", "email"];

const N_PLUS_ONE_PG: &str =
    "SELECT org_id, user_id, name, email FROM org_users WHERE org_id = $1 AND user_id = $2";
const N_PLUS_ONE_MYSQL: &str =
    "SELECT org_id, user_id, name, email FROM org_users WHERE org_id = ? AND user_id = ?";
const N_PLUS_ONE_SQLITE: &str =
    "SELECT org_id, user_id, name, email FROM org_users WHERE org_id = ?1 AND user_id = ?2";

/// A minimal client with a pool as large as graft's.
pub(crate) enum Bare {
    /// PostgreSQL through deadpool-postgres, as graft.
    Postgres {
        /// The pool.
        pool: Pool,
        /// graft's statement.
        sql: String,
    },
    /// MariaDB through mysql_async, as graft.
    Mysql {
        /// The pool.
        pool: mysql_async::Pool,
        /// graft's statement.
        sql: String,
    },
    /// SQLite through sqlx, as graft.
    Sqlite {
        /// The pool.
        pool: sqlx::SqlitePool,
        /// graft's statement.
        sql: String,
    },
}

impl Bare {
    /// Connects to `target` and asks graft-db for the exact statement graft sends.
    pub(crate) async fn connect(
        database: Database,
        target: &Target,
        pool_size: usize,
    ) -> anyhow::Result<Arc<Bare>> {
        let schema = SubgraphSchema::parse(
            include_str!("../../examples/orgs/schema.graphql"),
            "schema.graphql",
        )?;
        let mapping = schema.mapping("OrgUser").context("OrgUser is mapped")?;
        let columns: Vec<usize> = FIELDS
            .iter()
            .map(|f| mapping.column_index(f).context("the field is mapped"))
            .collect::<anyhow::Result<_>>()?;
        let key = EntityKey::new(
            Name::new("OrgUser")?,
            KeyIndex(0),
            vec![
                KeyValue::String("org-1".into()),
                KeyValue::String("u1".into()),
            ],
        );
        let keys = [&key];
        let request = FetchRequest::by_key(mapping, KeyIndex(0), &keys, &columns);
        Ok(Arc::new(match database {
            Database::Postgres => {
                let source =
                    PostgresSource::connect("bench", &PostgresConfig::new(&target.url), &schema)
                        .await?;
                let sql = source.statement_sql(request)?;
                let manager = Manager::from_config(
                    target.url.parse()?,
                    tokio_postgres::NoTls,
                    ManagerConfig {
                        recycling_method: RecyclingMethod::Fast,
                    },
                );
                let pool = Pool::builder(manager)
                    .max_size(pool_size)
                    .runtime(Runtime::Tokio1)
                    .build()?;
                Bare::Postgres { pool, sql }
            }
            Database::Mysql => {
                let source =
                    MysqlSource::connect("bench", &MysqlConfig::new(&target.url), &schema).await?;
                let sql = source.statement_sql(request)?;
                let options =
                    mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(&target.url)?)
                        .pool_opts(
                            mysql_async::PoolOpts::default().with_constraints(
                                mysql_async::PoolConstraints::new(pool_size, pool_size)
                                    .context("pool size")?,
                            ),
                        );
                Bare::Mysql {
                    pool: mysql_async::Pool::new(options),
                    sql,
                }
            }
            Database::Sqlite => {
                let source =
                    SqliteSource::connect("bench", &SqliteConfig::new(&target.url)).await?;
                let sql = source.statement_sql(request);
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(pool_size as u32)
                    .connect(&target.url)
                    .await?;
                Bare::Sqlite { pool, sql }
            }
        }))
    }

    /// graft's statement for `keys`; returns the rows read.
    pub(crate) async fn batched(&self, keys: &KeySet) -> anyhow::Result<usize> {
        match self {
            Bare::Postgres { pool, sql } => {
                let client = pool.get().await?;
                let statement = client.prepare_cached(sql).await?;
                let rows = client.query(&statement, &[&keys.orgs, &keys.users]).await?;
                let mut bytes = 0;
                for row in &rows {
                    let _ord: i64 = row.get(0);
                    for i in 1..=FIELDS.len() {
                        bytes += row.get::<_, Option<&str>>(i).map_or(0, str::len);
                    }
                }
                std::hint::black_box(bytes);
                Ok(rows.len())
            }
            Bare::Mysql { pool, sql } => {
                use mysql_async::prelude::Queryable;
                let mut conn = pool.get_conn().await?;
                let rows: Vec<mysql_async::Row> =
                    conn.exec(sql.as_str(), (keys.json.as_str(),)).await?;
                let mut bytes = 0;
                for row in &rows {
                    for i in 1..=FIELDS.len() {
                        bytes += row.as_ref(i).map_or(0, |value| match value {
                            mysql_async::Value::Bytes(b) => b.len(),
                            _ => 0,
                        });
                    }
                }
                std::hint::black_box(bytes);
                Ok(rows.len())
            }
            Bare::Sqlite { pool, sql } => {
                let rows = sqlx::query(sql).bind(&keys.json).fetch_all(pool).await?;
                let mut bytes = 0;
                for row in &rows {
                    let _ord: i64 = row.try_get(0)?;
                    for i in 1..=FIELDS.len() {
                        bytes += row.try_get::<Option<&str>, _>(i)?.map_or(0, str::len);
                    }
                }
                std::hint::black_box(bytes);
                Ok(rows.len())
            }
        }
    }

    /// One statement per key, one after the other; returns the rows read.
    pub(crate) async fn n_plus_one(&self, keys: &KeySet) -> anyhow::Result<usize> {
        let mut found = 0;
        match self {
            Bare::Postgres { pool, .. } => {
                let client = pool.get().await?;
                let statement = client.prepare_cached(N_PLUS_ONE_PG).await?;
                for (org, user) in keys.orgs.iter().zip(&keys.users) {
                    found +=
                        usize::from(client.query_opt(&statement, &[org, user]).await?.is_some());
                }
            }
            Bare::Mysql { pool, .. } => {
                use mysql_async::prelude::Queryable;
                let mut conn = pool.get_conn().await?;
                for (org, user) in keys.orgs.iter().zip(&keys.users) {
                    let row: Option<mysql_async::Row> =
                        conn.exec_first(N_PLUS_ONE_MYSQL, (org, user)).await?;
                    found += usize::from(row.is_some());
                }
            }
            Bare::Sqlite { pool, .. } => {
                for (org, user) in keys.orgs.iter().zip(&keys.users) {
                    let row = sqlx::query(N_PLUS_ONE_SQLITE)
                        .bind(org)
                        .bind(user)
                        .fetch_optional(pool)
                        .await?;
                    found += usize::from(row.is_some());
                }
            }
        }
        Ok(found)
    }
}
