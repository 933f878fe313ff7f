//! Versioned migrations, applied per target: the database's own schema and each tenant's.

use graft_resolve::{RowSet, SchemaName};

use super::{SqlTenantStore, TenantSql, text};
use crate::DbError;
use crate::column::ReadAs;
use crate::dialect::{Dialect, Scope, Statement};
use crate::driver::{Driver, HeldConn};

/// One versioned migration: `0003_add_orders.sql` is version 3, named `0003_add_orders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version, from the file name's leading digits; migrations apply in its order.
    pub version: u32,
    /// The file name without `.sql`: letters, digits and `_` only.
    pub name: String,
    /// The SQL, `;`-separated statements.
    pub sql: String,
}

impl Migration {
    /// The migration in file `file_name` (`<digits>_<name>.sql`) holding `sql`.
    pub fn new(file_name: &str, sql: String) -> Result<Migration, DbError> {
        let bad = |why: &str| {
            DbError::Mapping(format!(
                "migration {file_name:?}: {why}; name migrations like 0001_create_users.sql"
            ))
        };
        let name = file_name
            .strip_suffix(".sql")
            .ok_or_else(|| bad("not a .sql file"))?;
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        let version = digits
            .parse::<u32>()
            .map_err(|_| bad("no version number at the start"))?;
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("use only letters, digits and `_`"));
        }
        Ok(Migration {
            version,
            name: name.to_owned(),
            sql,
        })
    }

    /// `migrations`, sorted by version; two with one version are refused.
    pub fn ordered(mut migrations: Vec<Migration>) -> Result<Vec<Migration>, DbError> {
        migrations.sort_by_key(|m| m.version);
        for pair in migrations.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(DbError::Mapping(format!(
                    "migrations {} and {} have the same version {}",
                    pair[0].name, pair[1].name, pair[0].version
                )));
            }
        }
        Ok(migrations)
    }
}

/// What a migration run did to one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrated {
    /// The migrations applied now (in a dry run: those that would be), by name.
    pub applied: Vec<String>,
    /// How many were already applied.
    pub up_to_date: usize,
}

impl<D: Driver> SqlTenantStore<D>
where
    D::Dialect: TenantSql,
{
    /// Applies the pending `migrations` to `target` (a tenant's schema, or the database's
    /// own schema for `None`), or, in a dry run, says which are pending. On a connection of
    /// its own, closed afterwards, under the target's lock.
    pub async fn migrate(
        &self,
        target: Option<&SchemaName>,
        migrations: &[Migration],
        dry_run: bool,
    ) -> Result<Migrated, DbError> {
        let driver = self.source.driver();
        let scope = target.map_or_else(Scope::default, |schema| Scope::in_schema(schema.clone()));
        // Abandoned if this future is dropped mid-run: the connection's schema, lock or open
        // transaction never reach the pool.
        let mut conn = HeldConn::new(driver, driver.acquire(&scope, true).await?);
        let outcome = self
            .migrate_on(conn.conn(), target, migrations, dry_run)
            .await;
        match (&outcome, self.sql().lock_is_transaction()) {
            // The run's transaction ended: nothing of it is left on the connection (closing
            // one could lose an in-memory SQLite database).
            (Ok(_), true) => conn.release(),
            (Err(_), true) => conn.abandon(),
            // Whatever the outcome: the connection's schema, lock and any open transaction
            // go with it.
            (_, false) => conn.discard(),
        }
        outcome
    }

    async fn migrate_on(
        &self,
        conn: &mut D::Conn,
        target: Option<&SchemaName>,
        migrations: &[Migration],
        dry_run: bool,
    ) -> Result<Migrated, DbError> {
        let driver = self.source.driver();
        let sql = self.sql();
        let target_name = target.map_or("", SchemaName::as_str);
        if let Some(lock) = sql.lock_target(target_name) {
            driver.execute(conn, &lock).await?;
        }
        let held = sql.lock_is_transaction();
        // The connection reached the target's schema by its scope (SQLite's file) or here.
        if let Some(use_schema) = target.and_then(|schema| sql.use_schema(schema)) {
            driver.execute(conn, &use_schema).await?;
        }
        driver
            .execute(
                conn,
                "CREATE TABLE IF NOT EXISTS graft_migrations (
                   version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL)",
            )
            .await?;
        let applied = {
            let statement = Statement::numbered(
                self.statement_text("SELECT {position}, name FROM graft_migrations", 0),
                sql.text_params(vec![]),
                vec![ReadAs::Dynamic],
                0,
                None,
                1,
            );
            let mut rows = RowSet::new(1, 1);
            driver.query(conn, &statement, &mut rows).await?;
            rows.rows_of(0)
                .map(|row| text(&rows, row, 0))
                .collect::<Vec<String>>()
        };
        let mut migrated = Migrated::default();
        for migration in migrations {
            if applied.contains(&migration.name) {
                migrated.up_to_date += 1;
                continue;
            }
            if !dry_run {
                // The version is a number and the name letters, digits and `_`
                // ([`Migration::new`]): safe to write into the script.
                let record = format!(
                    "INSERT INTO graft_migrations (version, name) VALUES ({}, '{}')",
                    migration.version, migration.name
                );
                let body = migration.sql.trim_end().trim_end_matches(';');
                let script = if held {
                    format!(
                        "SAVEPOINT graft_migration;\n{body};\n{record};\nRELEASE graft_migration"
                    )
                } else {
                    format!("{};\n{body};\n{record};\nCOMMIT", sql.begin())
                };
                if let Err(error) = driver.execute(conn, &script).await {
                    if held {
                        // Keep the migrations applied before this one.
                        driver
                            .execute(
                                conn,
                                "ROLLBACK TO graft_migration; RELEASE graft_migration; COMMIT",
                            )
                            .await?;
                    }
                    return Err(DbError::Script {
                        script: migration.name.clone(),
                        message: error.to_string(),
                    });
                }
            }
            migrated.applied.push(migration.name.clone());
        }
        if held {
            driver.execute(conn, "COMMIT").await?;
        }
        Ok(migrated)
    }
}
