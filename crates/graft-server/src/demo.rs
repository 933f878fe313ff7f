//! Building an [`AppState`]: the embedded SQLite demo, or a configured database.

use std::path::Path;
use std::sync::Arc;

use graft_db::DbError;
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_db::postgres::{PostgresConfig, PostgresSource};
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_http::{HttpSource, HttpSourceConfig};
use graft_keys::apollo_compiler::Name;
use graft_resolve::{
    Connect, Engine, EngineConfig, EntitySource, FallbackSource, Isolation, LazySource,
    RemoteDbSource, ResolveError, SourceErrorKind, SourceRouter, TenantId,
};
use graft_schema::{SchemaError, SubgraphSchema};
use graft_tenancy::{CachedStore, StaticTenants, StoreKind, Tenancy, TenancyConfig};
use std::time::Duration;

use crate::config::{Config, DatabaseConfig, RemoteConfig};
use crate::tenants::TenantControl;
use crate::{AppState, HttpLimits};

/// The orgs example, compiled into the binary.
pub const DEMO_SCHEMA: &str = include_str!("../../../examples/orgs/schema.graphql");
const DEMO_TABLES: &str = include_str!("../../../examples/orgs/sqlite/schema.sql");
const DEMO_SEED: &str = include_str!("../../../examples/orgs/sqlite/seed.sql");

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The schema is invalid.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The database cannot be opened or set up.
    #[error("database: {0}")]
    Database(#[from] DbError),
    /// The config's `[[remote]]` sections do not fit the schemas.
    #[error("{0}")]
    Remote(String),
    /// An HTTP route cannot be set up.
    #[error(transparent)]
    Http(#[from] graft_http::HttpError),
    /// A type's source cannot do what the schema asks of it (page through rows, write).
    #[error("{0}")]
    Capability(graft_resolve::ResolveError),
    /// The `[tenancy]` section cannot be used, or a source cannot keep its tenants apart.
    #[error("tenancy: {0}")]
    Tenancy(String),
    /// A section of the config does not fit the schema.
    #[error("{0}")]
    Config(String),
    /// A file named in the config cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The embedded demo: the orgs example in an in-memory SQLite database, seeded on start.
pub async fn demo_state(limits: HttpLimits, config: EngineConfig) -> Result<AppState, StartError> {
    let schema = SubgraphSchema::parse(DEMO_SCHEMA, "examples/orgs/schema.graphql")?;
    let source = SqliteSource::in_memory("sqlite-demo").await?;
    source
        .run_script("examples/orgs/sqlite/schema.sql", DEMO_TABLES)
        .await?;
    source
        .run_script("examples/orgs/sqlite/seed.sql", DEMO_SEED)
        .await?;
    Ok(state(schema, Arc::new(source), limits, config))
}

/// The state for a config file.
pub async fn configured_state(config: &Config) -> Result<AppState, StartError> {
    let (schema, local_schema) = schemas(config)?;
    let scripts = config
        .database
        .setup
        .iter()
        .map(|script| {
            let path = config.resolve(script);
            Ok((path.display().to_string(), read(&path)?))
        })
        .collect::<Result<Vec<_>, StartError>>()?;
    let (isolations, control) = match &config.tenancy {
        Some(tenancy) if tenancy.store == StoreKind::Database => {
            let control = TenantControl::open(config, local_schema.clone()).await?;
            let mut isolations: Vec<Isolation> = Vec::new();
            for tenant in control.list().await? {
                if !isolations.contains(&tenant.isolation) {
                    isolations.push(tenant.isolation);
                }
            }
            (isolations, Some(control))
        }
        Some(tenancy) => (isolations(tenancy)?, None),
        None => (Vec::new(), None),
    };
    let row_security = isolations.contains(&Isolation::Rows);
    let source = connect(
        "db",
        &config.database,
        &local_schema,
        &scripts,
        row_security,
    )
    .await?;
    let (source, cache) = match &config.cache {
        Some(section) => {
            let (source, cache) = cached(source, section, &local_schema)?;
            (source, Some(cache))
        }
        None => (source, None),
    };
    let mut router = SourceRouter::single(source);
    for remote in &config.remote {
        let route = remote_route(config, remote, &schema)?;
        for type_name in &remote.types {
            let type_name = Name::new(type_name).expect("checked by remote_types");
            router = router.route(type_name, Arc::clone(&route));
        }
    }
    router.check(&schema).map_err(StartError::Capability)?;
    router.check_isolation(&isolations).map_err(|error| {
        StartError::Tenancy(format!(
            "{error} (PostgreSQL isolates by schema and by rows; MariaDB by schema, and by rows \
             with [database] tenant_column; SQLite by rows with [database] tenant_column, and by schema \
             with [database] tenant_files)"
        ))
    })?;
    let limits = HttpLimits {
        max_body_bytes: config.server.max_body_bytes,
        request_timeout: config.request_timeout(),
        debug_header: config.server.debug_header,
        header_read_timeout: Duration::from_millis(config.server.header_read_timeout_ms),
        max_connections: config.server.max_connections,
        admission: config.admission.admission_config(),
        batching: config.server.batching,
        max_batch_size: config.server.max_batch_size,
        batch_concurrency: config.server.batch_concurrency,
        compression: config.server.compression,
        compression_min_bytes: config.server.compression_min_bytes,
    };
    let engine = EngineConfig {
        max_representations: config.server.max_representations,
        introspection: config.server.introspection,
        max_concurrent_fetches: config.server.max_concurrent_fetches,
        plan_cache_bytes: config.limits.plan_cache_bytes,
        limits: config.limits.request_limits(),
        ..EngineConfig::default()
    };
    let mut state = AppState::new(Engine::new(schema, router, engine), limits)
        .with_batch(config.batch.enabled.then(|| config.batch.settings()))
        .with_metrics(config.metrics.enabled, config.metrics.tenant_label)
        .with_cache(cache)
        .with_rate_limits(
            config
                .rate_limits
                .as_ref()
                .map(crate::rate_limit::RateLimits::new)
                .transpose()
                .map_err(StartError::Config)?,
        );
    state.apollo_cache_tags = config.server.apollo_cache_tags;
    let read_file = |path: &Path| std::fs::read_to_string(config.resolve(path));
    Ok(match (&config.tenancy, control) {
        (Some(tenancy), Some(control)) => {
            // Tenants in the database, looked up through a cache that this instance's own
            // changes (the admin API) invalidate at once.
            let ttl = Duration::from_secs(tenancy.cache_ttl_seconds.unwrap_or(30));
            let capacity = tenancy.cache_capacity.unwrap_or(10_000);
            let cache = Arc::new(CachedStore::new(control.store(), ttl, capacity));
            let control = control.invalidating(Arc::clone(&cache));
            let tenancy = Tenancy::from_config_with_store(tenancy, cache, read_file)
                .map_err(|error| StartError::Tenancy(error.to_string()))?;
            let admin_token = config
                .admin
                .as_ref()
                .map(|admin| admin.token_sha256.parse())
                .transpose()
                .map_err(|error| StartError::Tenancy(format!("admin.token_sha256: {error}")))?;
            state
                .with_tenancy(tenancy)
                .with_tenant_control(control, admin_token)
        }
        _ if config.admin.is_some() => {
            return Err(StartError::Tenancy(
                "[admin] manages tenants kept in the database: set [tenancy] store = \"database\""
                    .into(),
            ));
        }
        (Some(tenancy), None) => {
            let tenancy = Tenancy::from_config(tenancy, read_file)
                .map_err(|error| StartError::Tenancy(error.to_string()))?;
            state.with_tenancy(tenancy)
        }
        (None, _) => state,
    })
}

/// The config's schema, and the same with only the types its own database holds (not those
/// `[[remote]]` sections give to other subgraphs).
pub fn schemas(config: &Config) -> Result<(Arc<SubgraphSchema>, SubgraphSchema), StartError> {
    let schema_path = config.resolve(&config.schema.path);
    let sdl = read(&schema_path)?;
    let schema = Arc::new(SubgraphSchema::parse(&sdl, &schema_path)?);
    let remote_types = remote_types(config, &schema)?;
    let local_schema = schema.with_mappings(|name| !remote_types.contains(name));
    Ok((schema, local_schema))
}

/// The isolations the configured tenants have, each once.
fn isolations(tenancy: &TenancyConfig) -> Result<Vec<Isolation>, StartError> {
    let tenants = StaticTenants::from_config(&tenancy.tenants)
        .map_err(|error| StartError::Tenancy(error.to_string()))?;
    let mut isolations: Vec<Isolation> = Vec::new();
    for tenant in &tenancy.tenants {
        let record = TenantId::new(&tenant.id)
            .ok()
            .and_then(|id| tenants.get(&id))
            .ok_or_else(|| StartError::Tenancy(format!("tenant {:?} is not valid", tenant.id)))?;
        if !isolations.contains(&record.isolation) {
            isolations.push(record.isolation.clone());
        }
    }
    Ok(isolations)
}

/// The entity types of `schema` that `[[remote]]` sections give to other subgraphs, checked:
/// each is an entity type of the schema, owned by one remote only.
fn remote_types(config: &Config, schema: &SubgraphSchema) -> Result<Vec<Name>, StartError> {
    let mut types: Vec<Name> = Vec::new();
    for remote in &config.remote {
        for type_name in &remote.types {
            let in_remote = || format!("[[remote]] {}: types: {type_name}", remote.name);
            let name = Name::new(type_name)
                .ok()
                .filter(|name| schema.mapping(name).is_some())
                .ok_or_else(|| {
                    StartError::Remote(format!(
                        "{} is not a resolvable entity type of {}",
                        in_remote(),
                        schema.path()
                    ))
                })?;
            if types.contains(&name) {
                return Err(StartError::Remote(format!(
                    "{}: owned by two [[remote]] sections",
                    in_remote()
                )));
            }
            types.push(name);
        }
    }
    Ok(types)
}

/// The source for one `[[remote]]`: its database through its schema, its `_entities` over
/// HTTP, or the first with the second as fallback. Databases connect on first use, so this
/// subgraph starts even when the owner's database is down.
fn remote_route(
    config: &Config,
    remote: &RemoteConfig,
    schema: &Arc<SubgraphSchema>,
) -> Result<Arc<dyn EntitySource>, StartError> {
    let database = match (
        remote.route.uses_database(),
        &remote.schema,
        &remote.database,
    ) {
        (true, Some(owner_path), Some(database)) => {
            let path = config.resolve(owner_path);
            let owner = SubgraphSchema::parse(&read(&path)?, &path)?;
            for type_name in &remote.types {
                if owner.mapping(type_name).is_none() {
                    return Err(StartError::Remote(format!(
                        "[[remote]] {}: {} maps no table for {type_name}",
                        remote.name,
                        path.display()
                    )));
                }
            }
            // Only the owned types' tables are looked up in the owner's database.
            let owner = Arc::new(
                owner.with_mappings(|name| remote.types.iter().any(|t| t == name.as_str())),
            );
            let name = format!("{}-db", remote.name);
            let connect: Connect = {
                let (name, database, owner) = (name.clone(), database.clone(), Arc::clone(&owner));
                Box::new(move || {
                    let (name, database, owner) =
                        (name.clone(), database.clone(), Arc::clone(&owner));
                    Box::pin(async move {
                        connect(&name, &database, &owner, &[], false)
                            .await
                            .map_err(|error| match error {
                                StartError::Database(error) => error.into_resolve_error(&name),
                                other => ResolveError::Source {
                                    source_name: name.clone(),
                                    kind: SourceErrorKind::Other,
                                    message: other.to_string(),
                                },
                            })
                    })
                })
            };
            let lazy = Arc::new(LazySource::new(name.clone(), "remote-db", connect));
            let source = RemoteDbSource::new(name, owner, lazy);
            for type_name in &remote.types {
                let local = schema.mapping(type_name).expect("checked by remote_types");
                source.check(local).map_err(|error| {
                    StartError::Remote(format!("[[remote]] {}: {error}", remote.name))
                })?;
            }
            Some(Arc::new(source) as Arc<dyn EntitySource>)
        }
        _ => None,
    };
    if !remote.route.uses_database() {
        // `_entities` answers lookups by key; a list of rows by foreign key needs the database.
        for mapping in schema.mappings() {
            for relation in &mapping.relations {
                if relation.many && remote.types.iter().any(|t| t == relation.target.as_str()) {
                    return Err(StartError::Remote(format!(
                        "[[remote]] {}: {}.{} (@hasMany of {}) cannot be read over HTTP; use route \"db\" or \"db-then-http\"",
                        remote.name, mapping.type_name, relation.field, relation.target
                    )));
                }
            }
        }
    }
    let http = match (remote.route.uses_http(), &remote.url) {
        (true, Some(url)) => {
            let http = HttpSourceConfig {
                name: format!("{}-http", remote.name),
                url: url.clone(),
                connect_timeout: Duration::from_millis(remote.connect_timeout_ms),
                request_timeout: Duration::from_millis(remote.timeout_ms),
                max_attempts: remote.max_attempts,
                max_response_bytes: remote.max_response_bytes,
                ..HttpSourceConfig::default()
            };
            Some(Arc::new(HttpSource::new(http, Arc::clone(schema))?) as Arc<dyn EntitySource>)
        }
        _ => None,
    };
    Ok(match (database, http) {
        (Some(database), Some(http)) => Arc::new(
            FallbackSource::new(remote.name.clone(), database, http)
                .with_cool_down(Duration::from_millis(remote.cool_down_ms)),
        ),
        (Some(database), None) => database,
        (None, Some(http)) => http,
        (None, None) => unreachable!("Config::parse checks each route has what it needs"),
    })
}

/// Describes the tables of the database at `url`, for `graft init`.
pub async fn describe_tables(url: &str) -> Result<Vec<graft_schema::TableDescription>, StartError> {
    if url.starts_with("sqlite:") {
        let source = SqliteSource::connect("sqlite", &SqliteConfig::new(url)).await?;
        Ok(source.describe_tables().await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(PostgresSource::describe_tables(url).await?)
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        Ok(MysqlSource::describe_tables(&mysql_url(url)).await?)
    } else {
        Err(StartError::Database(DbError::Url(format!(
            "{url}: use a sqlite:, postgres: or mysql: URL"
        ))))
    }
}

/// Opens the configured database (running the setup scripts on an empty one) as a source.
///
/// Without scripts there is no set-up connection: it would have no time limit (the drivers'
/// plain connects ignore `connect_timeout_ms`), and another subgraph's database, connected on
/// first use and never set up from here, must fail within that limit so that `db-then-http`
/// can fall back in time.
///
/// With `row_security`, tenants share tables: under PostgreSQL's row-level security, which is
/// checked to hold for graft's role ([`PostgresSource::check_row_security`]), or by the tenant
/// column elsewhere; each key the tenants would share (one without the tenant column) is
/// warned of.
async fn connect(
    name: &str,
    database: &DatabaseConfig,
    schema: &SubgraphSchema,
    scripts: &[(String, String)],
    row_security: bool,
) -> Result<Arc<dyn EntitySource>, StartError> {
    let acquire_timeout = Duration::from_millis(database.acquire_timeout_ms);
    let connect_timeout = Duration::from_millis(database.connect_timeout_ms);
    let url = database.url.as_str();
    if url.starts_with("sqlite:") {
        let mut db = SqliteConfig::new(url);
        db.tenant_column = database.tenant_column.clone();
        db.tenant_files = database.tenant_files.clone();
        db.max_connections = database.max_connections;
        db.acquire_timeout = acquire_timeout;
        let source = SqliteSource::connect(name, &db).await?;
        if source.count_tables().await? == 0 {
            for (name, sql) in scripts {
                source.run_script(name, sql).await?;
            }
        }
        if row_security && let Some(column) = &database.tenant_column {
            warn_of_shared_keys(source.shared_keys(schema, column).await?);
        }
        Ok(Arc::new(source))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        if !scripts.is_empty() {
            PostgresSource::setup_if_empty(url, scripts, connect_timeout).await?;
        }
        let mut db = PostgresConfig::new(url);
        db.prepared_statements = database.prepared_statements;
        db.max_connections = database.max_connections as usize;
        db.acquire_timeout = acquire_timeout;
        db.connect_timeout = connect_timeout;
        let source = PostgresSource::connect(name, &db, schema).await?;
        if row_security {
            source
                .check_row_security(schema)
                .await
                .map_err(|error| StartError::Tenancy(error.to_string()))?;
            if let Some(column) = &database.tenant_column {
                warn_of_shared_keys(source.shared_keys(schema, column).await?);
            }
        }
        Ok(Arc::new(source))
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        let url = mysql_url(url);
        if !scripts.is_empty() {
            MysqlSource::setup_if_empty(&url, scripts, connect_timeout).await?;
        }
        let mut db = MysqlConfig::new(url);
        db.tenant_column = database.tenant_column.clone();
        db.max_connections = database.max_connections as usize;
        db.acquire_timeout = acquire_timeout;
        db.connect_timeout = connect_timeout;
        let source = MysqlSource::connect(name, &db, schema).await?;
        if row_security && let Some(column) = &database.tenant_column {
            warn_of_shared_keys(source.shared_keys(schema, column).await?);
        }
        Ok(Arc::new(source))
    } else {
        unreachable!("Config::parse accepts only the schemes handled here")
    }
}

/// Warns of each key that tenants sharing tables share too (a source's `shared_keys`).
fn warn_of_shared_keys(keys: Vec<String>) {
    for key in keys {
        tracing::warn!(
            "row isolation: {key}: tenants share it, so one tenant's write can fail on, or \
             refer to, another tenant's row; include the tenant column"
        );
    }
}

/// `source` behind an in-process entity cache of the types `[cache]` names, which must be
/// mapped types of `schema`.
fn cached(
    source: Arc<dyn EntitySource>,
    section: &crate::config::CacheSection,
    schema: &SubgraphSchema,
) -> Result<(Arc<dyn EntitySource>, Arc<graft_cache::EntityCache>), StartError> {
    let mut types = std::collections::HashMap::new();
    let mut tables = std::collections::HashMap::new();
    for (name, cached) in &section.types {
        let Some(mapping) = schema.mapping(name) else {
            return Err(StartError::Config(format!(
                "cache.types.{name}: not an entity type of this subgraph's schema"
            )));
        };
        if cached.ttl_seconds == 0 {
            return Err(StartError::Config(format!(
                "cache.types.{name}.ttl_seconds: at least 1"
            )));
        }
        types.insert(
            mapping.type_name.clone(),
            Duration::from_secs(cached.ttl_seconds),
        );
        tables.insert(mapping.type_name.clone(), mapping.table.to_string());
    }
    let config = graft_cache::CacheConfig {
        max_bytes: section.max_memory_mb.saturating_mul(1024 * 1024),
        types,
        tables,
    };
    let cache = match &section.redis_url {
        Some(target) => {
            let timeout = Duration::from_millis(section.redis_timeout_ms.unwrap_or(10).max(1));
            let redis = graft_redis::Redis::new(target, timeout)
                .map_err(|e| StartError::Config(format!("cache.redis_url: {e}")))?;
            graft_cache::EntityCache::shared(&config, Arc::new(redis), shared_config(section))
                .map_err(|e| StartError::Config(format!("cache.key_prefix: {e}")))?
        }
        None => graft_cache::EntityCache::new(&config),
    };
    let source = Arc::new(graft_cache::CachedSource::new(source, Arc::clone(&cache)));
    Ok((source, cache))
}

/// Where `[cache]` keeps its second level and sends its invalidations.
fn shared_config(section: &crate::config::CacheSection) -> graft_cache::SharedConfig {
    let defaults = graft_cache::SharedConfig::default();
    graft_cache::SharedConfig {
        key_prefix: section.key_prefix.clone().unwrap_or(defaults.key_prefix),
        channel: section.channel.clone().unwrap_or(defaults.channel),
    }
}

/// Tells every instance sharing `[cache] redis_url` that `tenant`'s data is gone (`graft
/// tenant destroy`, run outside the servers): its types move to new generations in Redis and
/// the instances forget its entries in memory. `Ok(false)` when Redis did not take every flush
/// within 2 s (the entries then expire at their TTL); `Ok(true)` also when there is no Redis.
pub async fn forget_cached_tenant(config: &Config, tenant: &str) -> Result<bool, StartError> {
    let Some(section) = &config.cache else {
        return Ok(true);
    };
    let Some(target) = &section.redis_url else {
        return Ok(true);
    };
    let types = section
        .types
        .iter()
        .map(|(name, cached)| {
            let name = Name::new(name)
                .map_err(|_| StartError::Config(format!("cache.types.{name}: not a type name")))?;
            Ok((name, Duration::from_secs(cached.ttl_seconds.max(1))))
        })
        .collect::<Result<_, StartError>>()?;
    let redis = graft_redis::Redis::new(target, Duration::from_secs(2))
        .map_err(|e| StartError::Config(format!("cache.redis_url: {e}")))?;
    let config = graft_cache::CacheConfig {
        max_bytes: 0,
        types,
        tables: std::collections::HashMap::new(),
    };
    let cache = graft_cache::EntityCache::shared(&config, Arc::new(redis), shared_config(section))
        .map_err(|e| StartError::Config(format!("cache.key_prefix: {e}")))?;
    let tenant = TenantId::new(tenant).map_err(|e| StartError::Tenancy(e.to_string()))?;
    Ok(cache.invalidate_tenant(&tenant).await)
}

/// `mariadb://` is accepted as a synonym of `mysql://`, which the driver expects.
pub(crate) fn mysql_url(url: &str) -> String {
    match url.strip_prefix("mariadb:") {
        Some(rest) => format!("mysql:{rest}"),
        None => url.to_owned(),
    }
}

fn state(
    schema: SubgraphSchema,
    source: Arc<dyn EntitySource>,
    limits: HttpLimits,
    config: EngineConfig,
) -> AppState {
    let engine = Engine::new(Arc::new(schema), SourceRouter::single(source), config);
    AppState::new(engine, limits)
}

fn read(path: &Path) -> Result<String, StartError> {
    std::fs::read_to_string(path).map_err(|source| StartError::Read {
        path: path.display().to_string(),
        source,
    })
}
