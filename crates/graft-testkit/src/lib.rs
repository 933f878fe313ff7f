//! Throwaway databases for graft's tests.
//!
//! Each test gets a PostgreSQL schema or a MariaDB database with a unique name, created on demand
//! and dropped when the guard is dropped, so tests run in parallel and leave nothing behind.
//! [`pgbouncer_url`] reaches the same PostgreSQL through the transaction-pooling PgBouncer that
//! `cargo xtask test` starts. Used only as a dev-dependency.

use std::future::Future;

mod redis_cluster;
pub use redis_cluster::{RedisCluster, RedisPrefix};

use std::sync::atomic::{AtomicU64, Ordering};

/// PostgreSQL as the machine runs it: trust auth on 127.0.0.1.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A URL that connects to `database` as the role `user` through PgBouncer on 127.0.0.1:6432,
/// which `cargo xtask test` (and `cargo xtask services`) starts in front of the PostgreSQL above
/// in transaction-pooling mode (configured in `xtask/src/services.rs`).
///
/// No password is asked, every database name is passed on, and PgBouncer reaches PostgreSQL as
/// `user`, which must be a role with `LOGIN` (a [`PgRole`], say). What a test on it sees:
///
/// - Each transaction (each statement outside one) runs on whichever server connection is free;
///   a pool has at most two per database and user, shared by all clients connected as that user.
/// - Nothing is reset between clients: session state one client leaves on a server connection
///   (`SET`, `set_config(.., false)`, temporary tables, prepared statements) is seen by the next.
/// - Named prepared statements do not survive PgBouncer 1.18 (Debian 12): tokio-postgres
///   prepares (`prepare`, or `query` with a `&str`) in one round trip and executes in another,
///   which may reach another server connection ("prepared statement \"s0\" does not exist") or
///   one where a statement of that name is left ("already exists"). `query_typed` and
///   `simple_query` do not prepare named statements.
/// - A database that does not exist is not refused at once: the connection waits for PgBouncer's
///   `query_wait_timeout` (120 s), because the role is looked up in that database.
/// - An `options` parameter in a URL (`?options=-c search_path=...`, as [`PgRole::url`]
///   writes it) is accepted and dropped: the connection keeps the role's default `search_path`.
pub fn pgbouncer_url(user: &str, database: &str) -> String {
    format!("postgres://{user}@127.0.0.1:6432/{database}")
}

/// A name no other test uses at the same time: `prefix_<pid>_<counter>_<nanos>`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A PostgreSQL schema of its own, dropped with everything in it when the guard is dropped.
#[derive(Debug)]
pub struct PgSchema {
    name: String,
}

impl PgSchema {
    /// Creates the schema and runs `ddl` in it.
    pub async fn create(ddl: &str) -> PgSchema {
        PgSchema::create_named(&unique_name("graft_test"), ddl).await
    }

    /// Creates the schema called `name` (say, a [`PgRole`]'s name, which a connection as that
    /// role searches first: `"$user"` leads PostgreSQL's default `search_path`) and runs `ddl`
    /// in it.
    pub async fn create_named(name: &str, ddl: &str) -> PgSchema {
        let name = name.to_owned();
        let client = pg_admin().await;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA \"{name}\"; SET search_path TO \"{name}\"; {ddl}"
            ))
            .await
            .expect("the test schema is created");
        PgSchema { name }
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL whose connections use this schema (through `search_path`).
    pub fn url(&self) -> String {
        format!(
            "{POSTGRES_ADMIN_URL}?options=-c%20search_path%3D{}",
            self.name
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        clean_up(format!("PostgreSQL schema {name}"), move || {
            let name = name.clone();
            async move { pg_admin_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await }
        });
    }
}

/// Runs `sql` on a connection of its own as the PostgreSQL superuser (for clean-ups, which
/// run on a short-lived runtime that outlives no connection task).
async fn pg_admin_execute(sql: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(POSTGRES_ADMIN_URL, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let connection = tokio::spawn(connection);
    let done = client.batch_execute(sql).await.map_err(|e| e.to_string());
    drop(client);
    let _ = connection.await;
    done
}

/// A connection as the PostgreSQL superuser.
pub async fn pg_admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(POSTGRES_ADMIN_URL, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL is up on 127.0.0.1:5432 (cargo xtask services starts it)");
    tokio::spawn(connection);
    client
}

/// A PostgreSQL login role of its own (not a superuser, no `BYPASSRLS`), dropped with its
/// privileges when the guard is dropped.
#[derive(Debug)]
pub struct PgRole {
    name: String,
}

impl PgRole {
    /// Creates the role and runs `grants` (with `{role}` standing for its quoted name).
    pub async fn create(grants: &str) -> PgRole {
        let name = unique_name("graft_role");
        let client = pg_admin().await;
        let quoted = format!("\"{name}\"");
        client
            .batch_execute(&format!(
                "CREATE ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS; {}",
                grants.replace("{role}", &quoted)
            ))
            .await
            .expect("the test role is created");
        PgRole { name }
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL that connects as this role, using `schema` (through `search_path`).
    pub fn url(&self, schema: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:5432/postgres?options=-c%20search_path%3D{schema}",
            self.name
        )
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        let name = self.name.clone();
        clean_up(format!("PostgreSQL role {name}"), move || {
            let name = name.clone();
            async move {
                pg_admin_execute(&format!(
                    "DROP OWNED BY \"{name}\"; DROP ROLE IF EXISTS \"{name}\""
                ))
                .await
            }
        });
    }
}

/// MariaDB as the machine runs it: root with an empty password on 127.0.0.1.
pub const MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306";

/// A MariaDB database of its own, dropped with everything in it when the guard is dropped.
#[derive(Debug)]
pub struct MyDatabase {
    name: String,
}

impl MyDatabase {
    /// Creates the database (utf8mb4) and runs `ddl` in it.
    pub async fn create(ddl: &str) -> MyDatabase {
        use mysql_async::prelude::Queryable;
        let name = unique_name("graft_test");
        let mut conn = mysql_admin().await;
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4; USE `{name}`; {ddl}"
        ))
        .await
        .expect("the test database is created");
        let _ = conn.disconnect().await;
        MyDatabase { name }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL whose connections use this database.
    pub fn url(&self) -> String {
        format!("{MYSQL_ADMIN_URL}/{}", self.name)
    }
}

impl Drop for MyDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        clean_up(format!("MariaDB database {name}"), move || {
            let name = name.clone();
            async move {
                use mysql_async::prelude::Queryable;
                let mut conn = mysql_async::Conn::from_url(MYSQL_ADMIN_URL)
                    .await
                    .map_err(|e| e.to_string())?;
                let dropped = conn
                    .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await
                    .map_err(|e| e.to_string());
                let _ = conn.disconnect().await;
                dropped
            }
        });
    }
}

/// A connection as MariaDB's root.
pub async fn mysql_admin() -> mysql_async::Conn {
    mysql_async::Conn::from_url(MYSQL_ADMIN_URL)
        .await
        .expect("MariaDB is up on 127.0.0.1:3306 (cargo xtask services starts it)")
}

/// Runs `cleanup` (the drop of `name`) from a `Drop`, which cannot await: on a short-lived
/// runtime of its own thread, retried a few times when the server is busy, and reported on
/// stderr if it still fails (`cargo xtask test` sweeps what a dead test process left behind).
fn clean_up<F, Fut>(name: String, cleanup: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>>,
{
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the cleanup");
        let mut last_error = String::new();
        for attempt in 0..5 {
            match runtime.block_on(cleanup()) {
                Ok(()) => return,
                Err(error) => last_error = error,
            }
            std::thread::sleep(std::time::Duration::from_millis(100 << attempt));
        }
        eprintln!("graft-testkit: could not drop {name}: {last_error}");
    })
    .join();
}
