//! [`TenantControl`]: the tenant lifecycle as `graft tenant` and the admin API run it, over the
//! configured database's tenant store (`[tenancy] store = "database"`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_db::postgres::{PostgresConfig, PostgresSource};
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_db::tenants::{Migrated, Migration, SqlTenantStore, TenantAdmin};
use graft_resolve::{ApiKeyHash, Isolation, SchemaName, TenantId, TenantRecord, TenantStatus};
use graft_schema::SubgraphSchema;
use graft_tenancy::{StoreKind, TenancyConfig};
use tracing::Instrument as _;

use crate::config::{Config, DatabaseConfig};
use crate::demo::StartError;

/// The tenants of a configured database, and what is done with them.
pub struct TenantControl {
    admin: Arc<dyn TenantAdmin>,
    database: DatabaseConfig,
    /// `[tenancy.tiers]`: the isolation of each tier.
    tiers: std::collections::HashMap<String, graft_tenancy::IsolationKind>,
    /// How long instances keep a tenant's record (`[tenancy] cache_ttl_seconds`).
    cache_ttl: Duration,
    migrations: Vec<Migration>,
    /// The subgraph's own schema: the tables a tenant that shares them has rows in.
    schema: SubgraphSchema,
    /// Told of every change, so that this instance serves it at once.
    on_change: Option<Arc<graft_tenancy::CachedStore>>,
}

impl std::fmt::Debug for TenantControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantControl")
            .field("migrations", &self.migrations.len())
            .finish_non_exhaustive()
    }
}

/// A tenant to create (`graft tenant create`, `POST /admin/tenants`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Its id: 1 to 63 letters, digits, `_` or `-`.
    pub id: String,
    /// `schema` or `rows`; its tier's isolation when not given, else `schema`.
    #[serde(default)]
    pub isolation: Option<String>,
    /// Its schema's name when isolated by schema (default `tenant_<id>`).
    #[serde(default)]
    pub schema: Option<String>,
    /// A human-readable name.
    #[serde(default)]
    pub slug: Option<String>,
    /// Its tier (`[tenancy.tiers]`).
    #[serde(default)]
    pub tier: Option<String>,
    /// Anything the operator keeps about it, as JSON.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// How one target fared in a migration run.
#[derive(Debug)]
pub struct TargetReport {
    /// `shared tables` or `tenant <id> (schema <name>)`.
    pub target: String,
    /// What was applied, or why it failed.
    pub outcome: Result<Migrated, String>,
    /// How long it took.
    pub took: Duration,
}

impl TenantControl {
    /// The tenant store of `config`'s database, its tables created where missing, with the
    /// migrations of `[tenancy] migrations`.
    pub async fn open(
        config: &Config,
        schema: SubgraphSchema,
    ) -> Result<TenantControl, StartError> {
        let tenancy = tenancy_with_store(config)?;
        // The store reads no mapped table: it works on a database whose tables a migration
        // has yet to create.
        let admin = admin_for(&config.database, &schema.with_mappings(|_| false)).await?;
        admin.install().await?;
        let migrations = match &tenancy.migrations {
            Some(dir) => read_migrations(&config.resolve(dir))?,
            None => Vec::new(),
        };
        Ok(TenantControl {
            admin,
            database: config.database.clone(),
            tiers: tenancy.tiers.clone(),
            cache_ttl: Duration::from_secs(tenancy.cache_ttl_seconds.unwrap_or(30)),
            migrations,
            schema,
            on_change: None,
        })
    }

    /// The same control, telling `cache` of every change it makes.
    pub fn invalidating(self, cache: Arc<graft_tenancy::CachedStore>) -> TenantControl {
        TenantControl {
            on_change: Some(cache),
            ..self
        }
    }

    /// The store, as the server's tenancy looks tenants up in it.
    pub fn store(&self) -> Arc<dyn graft_resolve::TenantStore> {
        Arc::clone(&self.admin) as Arc<dyn graft_resolve::TenantStore>
    }

    fn changed(&self, id: &TenantId) {
        if let Some(cache) = &self.on_change {
            cache.invalidate(id);
        }
    }

    /// Every tenant.
    pub async fn list(&self) -> Result<Vec<TenantRecord>, StartError> {
        Ok(self.admin.list().await?)
    }

    /// Creates tenant `new`, its schema migrated first. Its isolation is the one given, or
    /// its tier's (`[tenancy.tiers]`), or `schema`. Refused when the database cannot keep it
    /// apart.
    pub async fn create(&self, new: NewTenant) -> Result<Migrated, StartError> {
        let id = TenantId::new(&new.id).map_err(|e| StartError::Tenancy(e.to_string()))?;
        let tier_isolation = new.tier.as_ref().and_then(|tier| self.tiers.get(tier));
        let isolation = match (new.isolation.as_deref(), tier_isolation) {
            (Some(isolation), _) => isolation,
            (None, Some(graft_tenancy::IsolationKind::Rows)) => "rows",
            (None, Some(graft_tenancy::IsolationKind::None)) => "none",
            (None, _) => "schema",
        };
        let schema = new.schema.as_deref();
        let isolation = match (isolation, schema) {
            ("schema", schema) => {
                let name = schema.map_or_else(|| format!("tenant_{id}"), str::to_owned);
                Isolation::Schema(
                    SchemaName::new(&name).map_err(|e| StartError::Tenancy(e.to_string()))?,
                )
            }
            ("rows", None) => Isolation::Rows,
            ("rows", Some(_)) => {
                return Err(StartError::Tenancy(
                    "a schema is given, but isolation is rows".into(),
                ));
            }
            (other, _) => {
                return Err(StartError::Tenancy(format!(
                    "isolation {other:?}: use \"schema\" or \"rows\""
                )));
            }
        };
        if !self.admin.capabilities().isolates(&isolation) {
            return Err(StartError::Tenancy(format!(
                "the database cannot keep a tenant apart by {} (MariaDB and SQLite share tables \
                 only with [database] tenant_column; SQLite has no schemas)",
                if matches!(isolation, Isolation::Rows) {
                    "rows"
                } else {
                    "schema"
                }
            )));
        }
        if isolation == Isolation::Rows && self.admin.capabilities().row_isolation {
            self.check_row_security().await?;
        }
        let mut record = TenantRecord::active(id, isolation);
        record.slug = new.slug;
        record.tier = new.tier;
        record.metadata = new.metadata.map(|metadata| metadata.to_string());
        let span = tracing::info_span!("create", tenant = %record.id);
        let migrated = self
            .admin
            .create(&record, &self.migrations)
            .instrument(span)
            .await?;
        self.changed(&record.id);
        Ok(migrated)
    }

    /// On PostgreSQL, where tenants sharing tables are kept apart by row-level security
    /// alone, checks that it holds for graft's role on every mapped table
    /// ([`PostgresSource::check_row_security`]) before a tenant shares them.
    async fn check_row_security(&self) -> Result<(), StartError> {
        let url = self.database.url.as_str();
        if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Ok(());
        }
        let mut db = PostgresConfig::new(url);
        db.max_connections = 1;
        let source = PostgresSource::connect("row-security-check", &db, &self.schema).await?;
        // What is wrong with the tables' security is the caller's to fix (a 400 on the admin
        // API); a failed query is the database's, and its text goes to the log only.
        source
            .check_row_security(&self.schema)
            .await
            .map_err(|error| match error {
                graft_db::DbError::Mapping(message) => StartError::Tenancy(message),
                other => StartError::Database(other),
            })
    }

    /// The statements that put every mapped table of a PostgreSQL database under row-level
    /// security on `[database] tenant_column`, for tenants isolated by `rows`
    /// ([`graft_db::postgres::row_security_ddl`]), each table once.
    pub fn row_security_ddl(&self) -> Result<String, StartError> {
        let url = self.database.url.as_str();
        if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Err(StartError::Tenancy(
                "row-level security is PostgreSQL's; MariaDB and SQLite keep shared rows apart by \
                 [database] tenant_column alone"
                    .into(),
            ));
        }
        let column = self.database.tenant_column.as_deref().ok_or_else(|| {
            StartError::Tenancy(
                "set [database] tenant_column, the column the policies compare".into(),
            )
        })?;
        let mut ddl = String::new();
        let mut tables = Vec::new();
        for mapping in self.schema.mappings() {
            if !tables.contains(&&mapping.table) {
                tables.push(&mapping.table);
                ddl.push_str(&graft_db::postgres::row_security_ddl(mapping, column));
            }
        }
        Ok(ddl)
    }

    /// Runs [`TenantControl::row_security_ddl`] on the database, as the configured role (which
    /// must own the tables: an owner's role, not the one graft serves with).
    pub async fn apply_row_security(&self) -> Result<(), StartError> {
        let ddl = self.row_security_ddl()?;
        let mut db = PostgresConfig::new(&self.database.url);
        db.max_connections = 1;
        let none = self.schema.with_mappings(|_| false);
        let source = PostgresSource::connect("row-security", &db, &none).await?;
        Ok(source.run_script("row-security", &ddl).await?)
    }

    /// Suspends or resumes tenant `id`; `false` when there is none.
    pub async fn set_status(&self, id: &str, status: TenantStatus) -> Result<bool, StartError> {
        let id = TenantId::new(id).map_err(|e| StartError::Tenancy(e.to_string()))?;
        let found = self.admin.set_status(&id, status).await?;
        self.changed(&id);
        Ok(found)
    }

    /// Destroys tenant `id` and its data; `false` when there is none.
    pub async fn destroy(&self, id: &str) -> Result<bool, StartError> {
        let id = TenantId::new(id).map_err(|e| StartError::Tenancy(e.to_string()))?;
        let span = tracing::info_span!("destroy", tenant = %id);
        let found = self
            .admin
            .destroy(&id, &self.schema)
            .instrument(span)
            .await?;
        self.changed(&id);
        Ok(found)
    }

    /// Promotes tenant `id`, which shares tables, to a schema of its own (`tenant_<id>` by
    /// default), its rows moved ([`SqlTenantStore::promote`]). So that no write lands in the
    /// shared tables after its rows were copied, the tenant is suspended first, for as long as
    /// instances cache its record (`[tenancy] cache_ttl_seconds`, and a second), and resumed
    /// afterwards; other tenants are served throughout.
    pub async fn promote(&self, id: &str, schema: Option<&str>) -> Result<Migrated, StartError> {
        let wait = self.cache_ttl + Duration::from_secs(1);
        let tenant = TenantId::new(id).map_err(|e| StartError::Tenancy(e.to_string()))?;
        let name = schema.map_or_else(|| format!("tenant_{tenant}"), str::to_owned);
        let name = SchemaName::new(&name).map_err(|e| StartError::Tenancy(e.to_string()))?;
        match self.admin.get(&tenant).await? {
            None => return Err(StartError::Tenancy(format!("no tenant `{tenant}`"))),
            Some(record) if record.isolation != Isolation::Rows => {
                return Err(StartError::Tenancy(format!(
                    "tenant `{tenant}` does not share tables: only a tenant isolated by rows is \
                     promoted"
                )));
            }
            Some(_) => {}
        }
        tracing::info!(tenant = %tenant, seconds = wait.as_secs(), "suspended while promoted");
        self.admin
            .set_status(&tenant, TenantStatus::Suspended)
            .await?;
        self.changed(&tenant);
        tokio::time::sleep(wait).await;
        let promoted = self
            .admin
            .promote(&tenant, &name, &self.schema, &self.migrations)
            .instrument(tracing::info_span!("promote", tenant = %tenant))
            .await;
        // Served again whatever happened: a failed promotion left its rows where they were.
        self.admin.set_status(&tenant, TenantStatus::Active).await?;
        self.changed(&tenant);
        Ok(promoted?)
    }

    /// Makes a new API key for tenant `id`, granting `scopes` (`Type:action`, `*`; `None`:
    /// the tenancy's default scopes), and keeps its hash: the key is returned once and stored
    /// nowhere.
    pub async fn new_api_key(
        &self,
        id: &str,
        scopes: Option<&[String]>,
    ) -> Result<String, StartError> {
        let id = TenantId::new(id).map_err(|e| StartError::Tenancy(e.to_string()))?;
        if let Some(bad) = scopes
            .into_iter()
            .flatten()
            .find(|scope| !graft_resolve::Permissions::is_grant(scope))
        {
            return Err(StartError::Tenancy(format!(
                "scope {bad:?} is not `Type:action` (create, read, update, delete, write, *) or `*`"
            )));
        }
        if self.admin.get(&id).await?.is_none() {
            return Err(StartError::Tenancy(format!("no tenant `{id}`")));
        }
        let key = random_key()?;
        self.admin
            .add_api_key(&id, &ApiKeyHash::of(&key), scopes)
            .await?;
        Ok(key)
    }

    /// Applies the pending migrations to the shared tables and then to every tenant's schema,
    /// `concurrency` targets at a time, telling `progress` of each as it finishes.
    pub async fn migrate_all(
        &self,
        dry_run: bool,
        concurrency: usize,
        progress: impl Fn(usize, usize, &TargetReport),
    ) -> Result<Vec<TargetReport>, StartError> {
        let mut targets: Vec<(String, Option<SchemaName>)> = vec![("shared tables".into(), None)];
        for tenant in self.admin.list().await? {
            if let Isolation::Schema(schema) = &tenant.isolation {
                targets.push((
                    format!("tenant {} (schema {schema})", tenant.id),
                    Some(schema.clone()),
                ));
            }
        }
        let total = targets.len();
        let runs = futures_util::stream::iter(targets).map(|(target, schema)| async move {
            let started = Instant::now();
            // What the run logs names the schema it migrates.
            let span = tracing::info_span!("migrate", target = %target);
            let outcome = self
                .admin
                .migrate(schema.as_ref(), &self.migrations, dry_run)
                .instrument(span)
                .await
                .map_err(|e| e.to_string());
            TargetReport {
                target,
                outcome,
                took: started.elapsed(),
            }
        });
        let mut reports = Vec::with_capacity(total);
        let mut runs = std::pin::pin!(runs.buffer_unordered(concurrency.max(1)));
        while let Some(report) = runs.next().await {
            progress(reports.len() + 1, total, &report);
            reports.push(report);
        }
        Ok(reports)
    }
}

/// `[tenancy]`, checked to keep tenants in the database.
fn tenancy_with_store(config: &Config) -> Result<&TenancyConfig, StartError> {
    match &config.tenancy {
        Some(tenancy) if tenancy.store == StoreKind::Database => Ok(tenancy),
        _ => Err(StartError::Tenancy(
            "tenants are kept in the database only with [tenancy] store = \"database\"".into(),
        )),
    }
}

/// The tenant store of `database`, on a small pool of its own.
async fn admin_for(
    database: &DatabaseConfig,
    none: &SubgraphSchema,
) -> Result<Arc<dyn TenantAdmin>, StartError> {
    let url = database.url.as_str();
    let column = database.tenant_column.clone();
    let admin: Arc<dyn TenantAdmin> = if url.starts_with("sqlite:") {
        let mut db = SqliteConfig::new(url);
        db.max_connections = 2;
        db.tenant_column = column.clone();
        db.tenant_files = database.tenant_files.clone();
        Arc::new(SqlTenantStore::new(
            SqliteSource::connect("tenant-store", &db).await?,
            column,
        ))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let mut db = PostgresConfig::new(url);
        db.max_connections = 2;
        db.prepared_statements = database.prepared_statements;
        let source = PostgresSource::connect("tenant-store", &db, none).await?;
        Arc::new(SqlTenantStore::new(source, column))
    } else {
        let mut db = MysqlConfig::new(crate::demo::mysql_url(url));
        db.max_connections = 2;
        db.tenant_column = column.clone();
        let source = MysqlSource::connect("tenant-store", &db, none).await?;
        Arc::new(SqlTenantStore::new(source, column))
    };
    Ok(admin)
}

/// The `*.sql` migrations of `dir`, in version order.
fn read_migrations(dir: &Path) -> Result<Vec<Migration>, StartError> {
    let read_error = |source| StartError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut migrations = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".sql") {
            continue;
        }
        let sql = std::fs::read_to_string(&path).map_err(|source| StartError::Read {
            path: path.display().to_string(),
            source,
        })?;
        migrations.push(Migration::new(name, sql)?);
    }
    Ok(Migration::ordered(migrations)?)
}

/// A new API key: `graft_` and 32 random bytes in hex, from the operating system.
fn random_key() -> Result<String, StartError> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|source| StartError::Read {
            path: "/dev/urandom".into(),
            source,
        })?;
    let mut key = String::from("graft_");
    for byte in bytes {
        key.push_str(&format!("{byte:02x}"));
    }
    Ok(key)
}
