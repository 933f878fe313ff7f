//! The baselines: the statements graft issues, sent bare, and the naive N+1 loops.

use std::sync::Arc;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_db::postgres::{PostgresConfig, PostgresSource};
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::FetchRequest;
use graft_schema::{EntityMapping, SubgraphSchema};
use mysql_async::prelude::Queryable as _;
use sqlx::Row as _;

use crate::Database;
use crate::dataset::Target;
use crate::measure::KeySet;

/// The fields the benchmark's `_entities` query selects on `OrgUser`, in order.
pub(crate) const FIELDS: [&str; 4] = ["orgId", "userId", "name", "email"];
/// The relation query selects `Order { id total user { name email } }`: graft reads these
/// order columns (the last two for the relation) and these user columns.
const ORDER_FIELDS: [&str; 4] = ["id", "total", "orgId", "userId"];
const USER_FIELDS: [&str; 2] = ["name", "email"];

/// A minimal client with a pool as large as graft's, and graft's own statements.
pub(crate) struct Bare {
    driver: Driver,
    /// `OrgUser` by composite key, as graft sends it for the entities workload.
    users: String,
    /// `Order` by id, then its users by key: graft's two statements for the relation workload.
    orders: String,
    order_users: String,
}

enum Driver {
    Postgres(Pool),
    Mysql(mysql_async::Pool),
    Sqlite(sqlx::SqlitePool),
}

/// The N+1 statements, per dialect: `{}` marks a parameter.
const N_PLUS_ONE_USER: &str =
    "SELECT org_id, user_id, name, email FROM org_users WHERE org_id = {} AND user_id = {}";
const N_PLUS_ONE_ORDER: &str = "SELECT id, total, org_id, user_id FROM orders WHERE id = {}";
const N_PLUS_ONE_ORDER_USER: &str =
    "SELECT name, email FROM org_users WHERE org_id = {} AND user_id = {}";

fn dialect(sql: &str, database: Database) -> String {
    let mut out = String::new();
    for (i, part) in sql.split("{}").enumerate() {
        if i > 0 {
            match database {
                Database::Postgres => out.push_str(&format!("${i}")),
                Database::Mysql | Database::Sqlite => out.push('?'),
            }
        }
        out.push_str(part);
    }
    out
}

fn columns(mapping: &EntityMapping, fields: &[&str]) -> anyhow::Result<Vec<usize>> {
    fields
        .iter()
        .map(|f| mapping.column_index(f).context("the field is mapped"))
        .collect()
}

impl Bare {
    /// Connects to `target` and asks graft-db for the exact statements graft sends.
    pub(crate) async fn connect(
        database: Database,
        target: &Target,
        pool_size: usize,
    ) -> anyhow::Result<Arc<Bare>> {
        let schema = SubgraphSchema::parse(
            include_str!("../../examples/orgs/schema.graphql"),
            "schema.graphql",
        )?;
        let user_mapping = schema.mapping("OrgUser").context("OrgUser is mapped")?;
        let order_mapping = schema.mapping("Order").context("Order is mapped")?;
        let (user_columns, order_columns, order_user_columns) = (
            columns(user_mapping, &FIELDS)?,
            columns(order_mapping, &ORDER_FIELDS)?,
            columns(user_mapping, &USER_FIELDS)?,
        );
        let user_key = EntityKey::new(
            Name::new("OrgUser")?,
            KeyIndex(0),
            vec![
                KeyValue::String("org-1".into()),
                KeyValue::String("u1".into()),
            ],
        );
        let order_key = EntityKey::new(
            Name::new("Order")?,
            KeyIndex(0),
            vec![KeyValue::String("1".into())],
        );
        let (user_keys, order_keys) = ([&user_key], [&order_key]);
        let users = FetchRequest::by_key(user_mapping, KeyIndex(0), &user_keys, &user_columns);
        let orders = FetchRequest::by_key(order_mapping, KeyIndex(0), &order_keys, &order_columns);
        let order_users =
            FetchRequest::by_key(user_mapping, KeyIndex(0), &user_keys, &order_user_columns);
        Ok(Arc::new(match database {
            Database::Postgres => {
                let source =
                    PostgresSource::connect("bench", &PostgresConfig::new(&target.url), &schema)
                        .await?;
                let manager = Manager::from_config(
                    target.url.parse()?,
                    tokio_postgres::NoTls,
                    ManagerConfig {
                        recycling_method: RecyclingMethod::Fast,
                    },
                );
                Bare {
                    driver: Driver::Postgres(
                        Pool::builder(manager)
                            .max_size(pool_size)
                            .runtime(Runtime::Tokio1)
                            .build()?,
                    ),
                    users: source.statement_sql(users)?,
                    orders: source.statement_sql(orders)?,
                    order_users: source.statement_sql(order_users)?,
                }
            }
            Database::Mysql => {
                let source =
                    MysqlSource::connect("bench", &MysqlConfig::new(&target.url), &schema).await?;
                let options =
                    mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(&target.url)?)
                        .pool_opts(
                            mysql_async::PoolOpts::default().with_constraints(
                                mysql_async::PoolConstraints::new(pool_size, pool_size)
                                    .context("pool size")?,
                            ),
                        );
                Bare {
                    driver: Driver::Mysql(mysql_async::Pool::new(options)),
                    users: source.statement_sql(users)?,
                    orders: source.statement_sql(orders)?,
                    order_users: source.statement_sql(order_users)?,
                }
            }
            Database::Sqlite => {
                let source =
                    SqliteSource::connect("bench", &SqliteConfig::new(&target.url)).await?;
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(pool_size as u32)
                    .connect(&target.url)
                    .await?;
                Bare {
                    driver: Driver::Sqlite(pool),
                    users: source.statement_sql(users),
                    orders: source.statement_sql(orders),
                    order_users: source.statement_sql(order_users),
                }
            }
        }))
    }

    /// Runs one of graft's statements with its keys (as text columns) and returns every row's
    /// text cells after the leading position column.
    async fn statement(
        &self,
        sql: &str,
        keys: &[Vec<String>],
        integer_key: bool,
    ) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        match &self.driver {
            Driver::Postgres(pool) => {
                let client = pool.get().await?;
                let statement = client.prepare_cached(sql).await?;
                let rows = if integer_key {
                    let ids: Vec<i64> = keys[0]
                        .iter()
                        .map(|k| k.parse().expect("numeric ids"))
                        .collect();
                    client.query(&statement, &[&ids]).await?
                } else {
                    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = keys
                        .iter()
                        .map(|k| k as &(dyn tokio_postgres::types::ToSql + Sync))
                        .collect();
                    client.query(&statement, &params).await?
                };
                Ok(rows
                    .iter()
                    .map(|row| {
                        (1..row.len())
                            .map(|i| match row.columns()[i].type_() {
                                t if *t == tokio_postgres::types::Type::INT8 => {
                                    row.get::<_, Option<i64>>(i).map(|v| v.to_string())
                                }
                                _ => row.get::<_, Option<&str>>(i).map(str::to_owned),
                            })
                            .collect()
                    })
                    .collect())
            }
            Driver::Mysql(pool) => {
                let mut conn = pool.get_conn().await?;
                let rows: Vec<mysql_async::Row> =
                    conn.exec(sql, (json_keys(keys, integer_key),)).await?;
                Ok(rows
                    .iter()
                    .map(|row| {
                        (1..row.len())
                            .map(|i| match row.as_ref(i) {
                                Some(mysql_async::Value::Bytes(b)) => {
                                    Some(String::from_utf8_lossy(b).into_owned())
                                }
                                Some(mysql_async::Value::Int(v)) => Some(v.to_string()),
                                Some(mysql_async::Value::UInt(v)) => Some(v.to_string()),
                                _ => None,
                            })
                            .collect()
                    })
                    .collect())
            }
            Driver::Sqlite(pool) => {
                let rows = sqlx::query(sql)
                    .bind(json_keys(keys, integer_key))
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        (1..row.len())
                            .map(|i| {
                                Ok(match row.try_get::<Option<String>, _>(i) {
                                    Ok(text) => text,
                                    Err(_) => match row.try_get::<Option<i64>, _>(i) {
                                        Ok(int) => int.map(|v| v.to_string()),
                                        Err(_) => {
                                            row.try_get::<Option<f64>, _>(i)?.map(|v| v.to_string())
                                        }
                                    },
                                })
                            })
                            .collect::<anyhow::Result<Vec<_>>>()
                    })
                    .collect()
            }
        }
    }

    /// graft's statement for `keys`; returns the rows read.
    pub(crate) async fn batched(&self, keys: &KeySet) -> anyhow::Result<usize> {
        let rows = self
            .statement(&self.users, &[keys.orgs.clone(), keys.users.clone()], false)
            .await?;
        Ok(std::hint::black_box(rows).len())
    }

    /// graft's two statements for the relation workload: the orders, then their users; returns
    /// the users found.
    pub(crate) async fn relation(&self, keys: &KeySet) -> anyhow::Result<usize> {
        let orders = self
            .statement(&self.orders, std::slice::from_ref(&keys.order_ids), true)
            .await?;
        let mut pairs: Vec<(String, String)> = orders
            .iter()
            .filter_map(|row| Some((row[2].clone()?, row[3].clone()?)))
            .collect();
        pairs.sort();
        pairs.dedup();
        let (orgs, users): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
        let found = self
            .statement(&self.order_users, &[orgs, users], false)
            .await?;
        Ok(std::hint::black_box(found).len())
    }

    /// One statement per key, one after the other; returns the rows read.
    pub(crate) async fn n_plus_one(&self, keys: &KeySet) -> anyhow::Result<usize> {
        let mut found = 0;
        for (org, user) in keys.orgs.iter().zip(&keys.users) {
            found += self
                .one(N_PLUS_ONE_USER, &[org.clone(), user.clone()])
                .await?
                .len();
        }
        Ok(found)
    }

    /// The naive relation: each order, then its user, one statement each.
    pub(crate) async fn relation_n_plus_one(&self, keys: &KeySet) -> anyhow::Result<usize> {
        let mut found = 0;
        for id in &keys.order_ids {
            for order in self.one(N_PLUS_ONE_ORDER, std::slice::from_ref(id)).await? {
                let (org, user) = (
                    order[2].clone().unwrap_or_default(),
                    order[3].clone().unwrap_or_default(),
                );
                found += self.one(N_PLUS_ONE_ORDER_USER, &[org, user]).await?.len();
            }
        }
        Ok(found)
    }

    /// One small statement with text (or, for `orders.id`, integer) parameters.
    async fn one(
        &self,
        template: &str,
        params: &[String],
    ) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let by_id = template == N_PLUS_ONE_ORDER;
        match &self.driver {
            Driver::Postgres(pool) => {
                let client = pool.get().await?;
                let statement = client
                    .prepare_cached(&dialect(template, Database::Postgres))
                    .await?;
                let id: i64 = if by_id { params[0].parse()? } else { 0 };
                let rows = if by_id {
                    client.query(&statement, &[&id]).await?
                } else {
                    client.query(&statement, &[&params[0], &params[1]]).await?
                };
                Ok(rows
                    .iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| match row.columns()[i].type_() {
                                t if *t == tokio_postgres::types::Type::INT8 => {
                                    row.get::<_, Option<i64>>(i).map(|v| v.to_string())
                                }
                                t if *t == tokio_postgres::types::Type::NUMERIC => {
                                    Some(String::new())
                                }
                                _ => row.get::<_, Option<&str>>(i).map(str::to_owned),
                            })
                            .collect()
                    })
                    .collect())
            }
            Driver::Mysql(pool) => {
                let mut conn = pool.get_conn().await?;
                let sql = dialect(template, Database::Mysql);
                let rows: Vec<mysql_async::Row> = if by_id {
                    conn.exec(sql, (params[0].parse::<i64>()?,)).await?
                } else {
                    conn.exec(sql, (&params[0], &params[1])).await?
                };
                Ok(rows
                    .iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| match row.as_ref(i) {
                                Some(mysql_async::Value::Bytes(b)) => {
                                    Some(String::from_utf8_lossy(b).into_owned())
                                }
                                Some(mysql_async::Value::Int(v)) => Some(v.to_string()),
                                _ => None,
                            })
                            .collect()
                    })
                    .collect())
            }
            Driver::Sqlite(pool) => {
                let sql = dialect(template, Database::Sqlite);
                let mut query = sqlx::query(&sql);
                query = if by_id {
                    query.bind(params[0].parse::<i64>()?)
                } else {
                    query.bind(&params[0]).bind(&params[1])
                };
                let rows = query.fetch_all(pool).await?;
                Ok(rows
                    .iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| row.try_get::<Option<String>, _>(i).ok().flatten())
                            .collect()
                    })
                    .collect())
            }
        }
    }
}

/// Keys as the JSON parameter of SQLite's and MariaDB's statements: `[["org-1","u1"],...]`, or
/// `[[12],...]` for integer ids.
fn json_keys(keys: &[Vec<String>], integer: bool) -> String {
    let rows: Vec<serde_json::Value> = (0..keys[0].len())
        .map(|i| {
            serde_json::Value::Array(
                keys.iter()
                    .map(|column| {
                        if integer {
                            serde_json::json!(column[i].parse::<i64>().expect("numeric ids"))
                        } else {
                            serde_json::json!(column[i])
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

impl Bare {
    /// Inserts `orders` (`(id, total)`, all of u1 of org-1, status `new`) in one multi-row
    /// `INSERT ... RETURNING id`, in autocommit, and reads the ids back.
    pub(crate) async fn insert_orders(&self, orders: &[(i64, f64)]) -> anyhow::Result<usize> {
        let database = match &self.driver {
            Driver::Postgres(_) => Database::Postgres,
            Driver::Mysql(_) => Database::Mysql,
            Driver::Sqlite(_) => Database::Sqlite,
        };
        // PostgreSQL's `total` is numeric: bound as text and cast.
        let row = match database {
            Database::Postgres => "({}, 'org-1', 'u1', {}::text::numeric, 'new')",
            Database::Mysql | Database::Sqlite => "({}, 'org-1', 'u1', {}, 'new')",
        };
        let values = vec![row; orders.len()].join(", ");
        let sql = dialect(
            &format!(
                "INSERT INTO orders (id, org_id, user_id, total, status) VALUES {values} RETURNING id"
            ),
            database,
        );
        match &self.driver {
            Driver::Postgres(pool) => {
                let client = pool.get().await?;
                let statement = client.prepare_cached(&sql).await?;
                let totals: Vec<String> =
                    orders.iter().map(|(_, total)| total.to_string()).collect();
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::new();
                let ids: Vec<i64> = orders.iter().map(|(id, _)| *id).collect();
                for (id, total) in ids.iter().zip(&totals) {
                    params.push(id);
                    params.push(total);
                }
                let sql_types = statement.params().len();
                anyhow::ensure!(sql_types == params.len(), "{sql_types} parameters");
                Ok(client.query(&statement, &params).await?.len())
            }
            Driver::Mysql(pool) => {
                let mut conn = pool.get_conn().await?;
                let params: Vec<mysql_async::Value> = orders
                    .iter()
                    .flat_map(|(id, total)| {
                        [
                            mysql_async::Value::from(*id),
                            mysql_async::Value::from(*total),
                        ]
                    })
                    .collect();
                let ids: Vec<i64> = conn.exec(sql.as_str(), params).await?;
                Ok(ids.len())
            }
            Driver::Sqlite(pool) => {
                let mut query = sqlx::query(&sql);
                for (id, total) in orders {
                    query = query.bind(*id).bind(*total);
                }
                Ok(query.fetch_all(pool).await?.len())
            }
        }
    }

    /// Deletes every order from id `first` up.
    pub(crate) async fn delete_orders_from(&self, first: i64) -> anyhow::Result<()> {
        match &self.driver {
            Driver::Postgres(pool) => {
                pool.get()
                    .await?
                    .execute("DELETE FROM orders WHERE id >= $1", &[&first])
                    .await?;
            }
            Driver::Mysql(pool) => {
                pool.get_conn()
                    .await?
                    .exec_drop("DELETE FROM orders WHERE id >= ?", (first,))
                    .await?;
            }
            Driver::Sqlite(pool) => {
                sqlx::query("DELETE FROM orders WHERE id >= ?")
                    .bind(first)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }
}
