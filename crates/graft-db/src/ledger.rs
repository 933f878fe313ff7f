//! Idempotency keys in the database (`graft_idempotency_keys`), written in the unit of work of
//! the batch they belong to (see `graft_resolve::ledger`).
//!
//! The table lives in the database's own schema (unqualified, as the tenant store's do) and
//! is created the first time a source claims a key; SQLite creates it in each tenant file
//! the first time a claim reaches it. A key's rows are the batch's (`operation` empty) and
//! one per operation committed on its own. Times are 20-digit milliseconds, compared as text.

use graft_resolve::{Cell, KeyClaim, LedgerEntry, LedgerKey, RowSet, ledger_time};

use crate::DbError;
use crate::column::ReadAs;
use crate::dialect::Statement;
use crate::driver::Driver;
use crate::source::SqlUnitOfWork;
use crate::tenants::{TenantSql, bookkeeping_sql};

/// The table's definition: what a role without `CREATE` needs an owner to run (and grant
/// `SELECT, INSERT, UPDATE, DELETE` on) before `/batch` takes idempotency keys. On MariaDB,
/// make `response` a `LONGTEXT` (a `TEXT` holds 64 KiB).
pub const IDEMPOTENCY_KEYS_DDL: &str = CREATE;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS graft_idempotency_keys (
  tenant_id VARCHAR(63) NOT NULL,
  caller VARCHAR(300) NOT NULL,
  idempotency_key VARCHAR(255) NOT NULL,
  operation VARCHAR(64) NOT NULL,
  body_hash CHAR(64) NOT NULL,
  holder VARCHAR(64) NOT NULL,
  leased_until CHAR(20) NOT NULL,
  expires_at CHAR(20) NOT NULL,
  response TEXT,
  PRIMARY KEY (tenant_id, caller, idempotency_key, operation))";

/// The condition naming a key's rows: parameters 1 to 3. MariaDB's parameters are `?`, bound
/// in the order they appear, so every statement numbers its parameters in text order.
/// How often a tenant file's expired keys are deleted. The server's periodic sweep
/// (`graft-server`'s `sweep_expired_keys`) reaches only the shared database; where tenants'
/// schemas are files of their own (SQLite), a claim in a file sweeps it when this long has
/// passed since the last sweep there, so a file's keys are bounded by its own traffic.
pub(crate) const FILE_SWEEP_EVERY_MS: u64 = 600_000;

/// How many tenant files' last sweep times are kept: a file whose time was pushed out is
/// swept at its next claim, a little sooner than due.
pub(crate) const FILES_SWEPT_KEPT: usize = 1_024;

const KEY: &str = "tenant_id = {1} AND caller = {2} AND idempotency_key = {3}";

impl<D: Driver> SqlUnitOfWork<D> {
    /// Runs a bookkeeping statement whose `{n}` markers take `values`; its rows, `width` text
    /// columns after the position, all at position 0.
    async fn bookkeeping(
        &mut self,
        template: &str,
        values: Vec<Option<String>>,
        width: usize,
    ) -> Result<RowSet, DbError> {
        let dialect = self.source.dialect();
        let sql = bookkeeping_sql(dialect, template, values.len());
        let statement = Statement::numbered(
            sql,
            dialect.text_params(values),
            vec![ReadAs::Dynamic; width],
            0,
            None,
            1,
        );
        self.run(&statement).await
    }

    /// Creates the table where it is missing: checked once per source, and in every claim
    /// where tenants' schemas are files of their own. An existing table is never created
    /// again, so a role that may not create tables works with one an owner made.
    async fn ensure_ledger(&mut self) -> Result<(), DbError> {
        if !self.source.dialect().schemas_share_a_connection() {
            return self.create_ledger().await;
        }
        let shared = std::sync::Arc::clone(&self.source.shared);
        shared
            .ledger_ready
            .get_or_try_init(|| self.create_ledger())
            .await
            .map(drop)
    }

    /// The count a bookkeeping statement answers (`{position}`, then one integer).
    async fn count(&mut self, sql: String, values: Vec<Option<String>>) -> Result<u64, DbError> {
        let dialect = self.source.dialect();
        let sql = bookkeeping_sql(dialect, &sql, values.len());
        let statement = Statement::numbered(
            sql,
            dialect.text_params(values),
            vec![ReadAs::Int],
            0,
            None,
            1,
        );
        let rows = self.run(&statement).await?;
        Ok(rows
            .rows_of(0)
            .next()
            .and_then(|row| match rows.cells(row).first() {
                Some(Cell::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            })
            .unwrap_or(0))
    }

    /// Whether the table exists, by a probe that cannot fail.
    async fn ledger_exists(&mut self) -> Result<bool, DbError> {
        let probe = self.source.dialect().table_exists("graft_idempotency_keys");
        Ok(self.count(probe, Vec::new()).await? > 0)
    }

    async fn create_ledger(&mut self) -> Result<(), DbError> {
        if self.ledger_exists().await? {
            return Ok(());
        }
        let create = CREATE.replace("response TEXT", self.source.dialect().long_text());
        self.execute(&create).await
    }

    /// Where tenants' schemas are files of their own, deletes the expired keys of this unit's
    /// file when [`FILE_SWEEP_EVERY_MS`] has passed since its last sweep.
    async fn sweep_file_if_due(&mut self, now_ms: u64) -> Result<(), DbError> {
        if self.source.dialect().schemas_share_a_connection() {
            return Ok(());
        }
        let Some(schema) = self.scope.schema().cloned() else {
            return Ok(());
        };
        let swept = &self.source.shared.files_swept;
        let due = swept
            .get(&schema)
            .is_none_or(|last| now_ms.saturating_sub(last) >= FILE_SWEEP_EVERY_MS);
        if due {
            swept.insert(schema, now_ms);
            self.sweep(now_ms).await?;
        }
        Ok(())
    }

    pub(crate) async fn claim(&mut self, claim: KeyClaim<'_>) -> Result<LedgerEntry, DbError> {
        self.ensure_ledger().await?;
        self.sweep_file_if_due(claim.now_ms).await?;
        let key = key_values(claim.key);
        let now = ledger_time(claim.now_ms);
        let with = |more: &[&str]| -> Vec<Option<String>> {
            key.iter()
                .cloned()
                .chain(more.iter().map(|v| Some((*v).to_owned())))
                .collect()
        };
        // An expired key is forgotten, with its operations' results.
        self.bookkeeping(
            &format!("DELETE FROM graft_idempotency_keys WHERE {KEY} AND expires_at < {{4}}"),
            with(&[&now]),
            0,
        )
        .await?;
        let leased_until = ledger_time(claim.leased_until_ms);
        let expires_at = ledger_time(claim.expires_at_ms);
        let insert = self.source.dialect().insert_or_ignore(
            "graft_idempotency_keys (tenant_id, caller, idempotency_key, operation, body_hash, \
             holder, leased_until, expires_at) VALUES ({1}, {2}, {3}, '', {4}, {5}, {6}, {7})",
        );
        self.bookkeeping(
            &insert,
            with(&[claim.body_hash, claim.holder, &leased_until, &expires_at]),
            0,
        )
        .await?;
        // A request that held the key and never answered (it crashed) loses it once its
        // lease runs out, to a retry of the same body.
        let mut values = vec![
            Some(claim.holder.to_owned()),
            Some(leased_until.clone()),
            Some(expires_at.clone()),
        ];
        values.extend(with(&[&now, claim.body_hash]));
        self.bookkeeping(
            "UPDATE graft_idempotency_keys SET holder = {1}, leased_until = {2}, expires_at = {3} \
             WHERE tenant_id = {4} AND caller = {5} AND idempotency_key = {6} AND operation = '' \
             AND response IS NULL AND leased_until < {7} AND body_hash = {8}",
            values,
            0,
        )
        .await?;
        let rows = self
            .bookkeeping(
                &format!(
                    "SELECT {{position}}, operation, body_hash, holder, response \
                     FROM graft_idempotency_keys WHERE {KEY} ORDER BY operation"
                ),
                with(&[]),
                4,
            )
            .await?;
        let mut entry = None;
        let mut operations = Vec::new();
        for row in rows.rows_of(0) {
            let cells = rows.cells(row);
            let text = |i: usize| match cells.get(i) {
                Some(Cell::Text { start, len } | Cell::Json { start, len }) => {
                    Some(rows.text(*start, *len).to_owned())
                }
                _ => None,
            };
            let operation = text(0).unwrap_or_default();
            if operation.is_empty() {
                entry = Some(LedgerEntry {
                    body_hash: text(1).unwrap_or_default(),
                    holder: text(2).unwrap_or_default(),
                    response: text(3),
                    operations: Vec::new(),
                });
            } else if let Some(result) = text(3) {
                operations.push((operation, result));
            }
        }
        let mut entry = entry.ok_or_else(|| {
            DbError::Decode("an idempotency key claimed has no batch row".to_owned())
        })?;
        if entry.holder == claim.holder && !operations.is_empty() {
            // Taken over from a request that died: the results it kept expire with the key
            // now, so that no row of a key outlives the others.
            let mut values = vec![Some(expires_at)];
            values.extend(key.iter().cloned());
            self.bookkeeping(
                "UPDATE graft_idempotency_keys SET expires_at = {1} \
                 WHERE tenant_id = {2} AND caller = {3} AND idempotency_key = {4} \
                 AND operation <> ''",
                values,
                0,
            )
            .await?;
        }
        entry.operations = operations;
        Ok(entry)
    }

    /// Keeps a response for a key this request holds, fenced: the batch row is locked and
    /// checked to be still `holder`'s, so that a request whose lease ran out (and whose key a
    /// retry took over) cannot record, and rolls back instead.
    pub(crate) async fn record(
        &mut self,
        key: &LedgerKey,
        holder: &str,
        operation: &str,
        response: &str,
        expires_at_ms: u64,
    ) -> Result<(), DbError> {
        let response = Some(response.to_owned());
        let expires_at = Some(ledger_time(expires_at_ms));
        // Locks the batch row (an UPDATE locks the rows it matches), and sets the response
        // when it is the batch's.
        let mut values = if operation.is_empty() {
            vec![response.clone()]
        } else {
            Vec::new()
        };
        values.extend(key_values(key));
        values.push(Some(holder.to_owned()));
        let set = if operation.is_empty() {
            "response = {1}"
        } else {
            "holder = holder"
        };
        let first = usize::from(operation.is_empty()) + 1;
        let template = format!(
            "UPDATE graft_idempotency_keys SET {set} WHERE tenant_id = {{{}}} AND caller = {{{}}} \
             AND idempotency_key = {{{}}} AND operation = '' AND holder = {{{}}}",
            first,
            first + 1,
            first + 2,
            first + 3
        );
        self.bookkeeping(&template, values, 0).await?;
        let rows = self
            .bookkeeping(
                &format!(
                    "SELECT {{position}}, holder FROM graft_idempotency_keys \
                     WHERE {KEY} AND operation = ''"
                ),
                key_values(key),
                1,
            )
            .await?;
        let still_held = rows.rows_of(0).next().is_some_and(|row| {
            matches!(rows.cells(row).first(), Some(Cell::Text { start, len })
                if rows.text(*start, *len) == holder)
        });
        if !still_held {
            return Err(DbError::Mapping(
                "the idempotency key was taken over by a retry: this request's lease ran out"
                    .to_owned(),
            ));
        }
        if !operation.is_empty() {
            let mut values = key_values(key);
            values.extend([Some(operation.to_owned()), expires_at, response]);
            self.bookkeeping(
                "INSERT INTO graft_idempotency_keys (tenant_id, caller, idempotency_key, \
                 operation, body_hash, holder, leased_until, expires_at, response) \
                 VALUES ({1}, {2}, {3}, {4}, '', '', '', {5}, {6})",
                values,
                0,
            )
            .await?;
        }
        Ok(())
    }

    /// Deletes the rows of every key that expired before `now_ms`, when the table exists;
    /// answers how many went.
    pub(crate) async fn sweep(&mut self, now_ms: u64) -> Result<u64, DbError> {
        if !self.ledger_exists().await? {
            return Ok(0);
        }
        let now = vec![Some(ledger_time(now_ms))];
        let expired = self
            .count(
                "SELECT {position}, COUNT(*) FROM graft_idempotency_keys WHERE expires_at < {1}"
                    .to_owned(),
                now.clone(),
            )
            .await?;
        if expired > 0 {
            self.bookkeeping(
                "DELETE FROM graft_idempotency_keys WHERE expires_at < {1}",
                now,
                0,
            )
            .await?;
        }
        Ok(expired)
    }

    pub(crate) async fn release(&mut self, key: &LedgerKey, holder: &str) -> Result<(), DbError> {
        let mut values = key_values(key);
        values.push(Some(holder.to_owned()));
        self.bookkeeping(
            &format!(
                "DELETE FROM graft_idempotency_keys WHERE {KEY} AND operation = '' \
                 AND holder = {{4}} AND response IS NULL"
            ),
            values,
            0,
        )
        .await
        .map(drop)
    }
}

fn key_values(key: &LedgerKey) -> Vec<Option<String>> {
    vec![
        Some(key.tenant.to_string()),
        Some(key.caller.clone()),
        Some(key.key.clone()),
    ]
}
