//! Test databases: each test gets its own PostgreSQL schema (or MariaDB database) with a unique
//! name, dropped when the test ends, so tests run in parallel and leave nothing behind.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};

use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, KeyIndex, KeyValue};
use graft_resolve::{Cell, RowSet};

/// PostgreSQL as the machine runs it: trust auth on 127.0.0.1.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A name no other test uses at the same time.
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

/// A PostgreSQL schema of its own, dropped with everything in it on drop.
pub struct PgSchema {
    pub name: String,
}

impl PgSchema {
    pub async fn create(ddl: &str) -> PgSchema {
        let name = unique_name("graft_test");
        let client = pg_admin().await;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA \"{name}\"; SET search_path TO \"{name}\"; {ddl}"
            ))
            .await
            .expect("the test schema is created");
        PgSchema { name }
    }

    /// A URL whose connections use this schema.
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
        // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let client = pg_admin().await;
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await;
            });
        })
        .join();
    }
}

pub async fn pg_admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(POSTGRES_ADMIN_URL, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL is up");
    tokio::spawn(connection);
    client
}

/// MariaDB as the machine runs it: root without a password on 127.0.0.1.
#[cfg(feature = "mysql")]
pub const MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306";

/// A MariaDB database of its own, dropped with everything in it on drop.
#[cfg(feature = "mysql")]
pub struct MyDatabase {
    pub name: String,
}

#[cfg(feature = "mysql")]
impl MyDatabase {
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

    /// A URL whose connections use this database.
    pub fn url(&self) -> String {
        format!("{MYSQL_ADMIN_URL}/{}", self.name)
    }
}

#[cfg(feature = "mysql")]
impl Drop for MyDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                use mysql_async::prelude::Queryable;
                let mut conn = mysql_admin().await;
                let _ = conn
                    .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await;
                let _ = conn.disconnect().await;
            });
        })
        .join();
    }
}

/// A connection of its own, outside any pool, for setup and for killing connections.
#[cfg(feature = "mysql")]
pub async fn mysql_admin() -> mysql_async::Conn {
    mysql_async::Conn::from_url(MYSQL_ADMIN_URL)
        .await
        .expect("MariaDB is up")
}

pub fn key(type_name: &str, values: Vec<KeyValue>) -> EntityKey {
    EntityKey::new(Name::new(type_name).expect("a name"), KeyIndex(0), values)
}

pub fn s(text: &str) -> KeyValue {
    KeyValue::String(text.into())
}

/// A cell as a comparable value for assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Json(String),
}

pub fn seen(rows: &RowSet, position: usize) -> Option<Vec<Seen>> {
    let row = rows.get(position)?;
    Some(
        row.iter()
            .map(|cell| match *cell {
                Cell::Null => Seen::Null,
                Cell::Bool(b) => Seen::Bool(b),
                Cell::Int(i) => Seen::Int(i),
                Cell::Float(f) => Seen::Float(f),
                Cell::Text { start, len } => Seen::Text(rows.text(start, len).to_owned()),
                Cell::Json { start, len } => Seen::Json(rows.text(start, len).to_owned()),
            })
            .collect(),
    )
}
