//! `graft.toml`: where the schema and the database are, and the server's limits.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:4000"       # default
//! max_body_bytes = 8388608        # default 8 MiB
//! max_representations = 10000     # default
//! request_timeout_ms = 30000      # default
//! introspection = true            # default
//! debug_header = false            # default: whether `graft-debug: true` adds batch statistics
//! apollo_cache_tags = false       # default: `extensions.apolloEntityCacheTags` on `_entities`
//! max_concurrent_fetches = 8      # default: statements of one request in flight at once
//! header_read_timeout_ms = 10000  # default: a request's head must arrive within it (and an
//!                                 # idle keep-alive connection closes after it)
//! max_connections = 4096          # default: connections past it are closed on accept
//! batching = true                 # default: POST /graphql takes a JSON array of requests
//! max_batch_size = 32             # default: most requests in one batch
//! batch_concurrency = 4           # default: requests of one batch run at once
//! compression = true              # default: compress responses for clients that ask
//! compression_min_bytes = 1024    # default: smaller responses go uncompressed
//!
//! # A server-wide limit on GraphQL requests in flight, adapted to latency (Vegas), with a
//! # short queue; past it, 503 with Retry-After at once.
//! [admission]
//! enabled = true                  # default
//! initial_limit = 16              # default
//! min_limit = 2                   # default
//! max_limit = 512                 # default
//! max_queue = 0                   # default: as many as the current limit
//! queue_timeout_ms = 50           # default
//!
//! # What one request may cost (docs/http.md lists each limit's error code).
//! [limits]
//! mode = "enforce"                # default; "measure" only logs operations over the first three
//! max_depth = 12                  # default: nesting of selection sets
//! max_fields = 2000               # default: fields after fragment expansion, aliases included
//! max_cost = 1000000              # default: estimated rows (see @cost and @listSize)
//! default_list_size = 10          # default: assumed length of a @hasMany list
//! list_sizes = { "OrgUser.orders" = 50 }   # assumed lengths by field (@listSize wins)
//! max_statements = 200            # default: SQL statements and remote requests per request
//! max_rows = 1000000              # default: rows read per request
//! max_response_bytes = 67108864   # default: 64 MiB
//! max_list_size = 1000            # default: items of one @hasMany list
//! plan_cache_bytes = 33554432     # default: memory for cached query plans (32 MiB)
//!
//! [schema]
//! path = "schema.graphql"         # relative to this file
//!
//! [database]
//! url = "sqlite://orgs.db"        # relative paths are relative to the working directory
//! max_connections = 4             # default
//! acquire_timeout_ms = 5000       # default
//! connect_timeout_ms = 5000       # default (PostgreSQL, MariaDB)
//! setup = ["schema.sql"]          # scripts run when the database has no tables yet
//!
//! # Entity types another subgraph owns, resolved here without the gateway: from the owner's
//! # database (through the owner's schema, which maps its tables), from its `_entities` over
//! # HTTP, or from the database with HTTP as the fallback. One [[remote]] per owner.
//! [[remote]]
//! name = "users"                  # the owning subgraph, in errors and statistics
//! types = ["OrgUser"]             # entity types of this schema that it owns
//! route = "db-then-http"          # "db", "http" or "db-then-http"
//! schema = "../users/schema.graphql"   # the owner's graft schema (db routes)
//! url = "http://users:4000/graphql"    # the owner's GraphQL endpoint (http routes)
//! timeout_ms = 5000               # default: per HTTP attempt
//! connect_timeout_ms = 5000       # default
//! max_attempts = 3                # default: HTTP attempts (retries only where safe)
//! cool_down_ms = 5000             # default: how long a failed database is skipped
//! max_response_bytes = 67108864   # default: the largest `_entities` answer read (64 MiB)
//! [remote.database]               # the owner's database (db routes), as [database]
//! url = "postgres://graft@users-db/users"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use graft_resolve::{CostModel, EngineConfig, LimitMode, RequestLimits};

use crate::AdmissionConfig;
use serde::Deserialize;
use std::collections::HashMap;

/// The database URL schemes graft connects to.
const SUPPORTED_SCHEMES: [&str; 5] = ["sqlite", "postgres", "postgresql", "mysql", "mariadb"];

/// Everything `graft.toml` says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[schema]`.
    pub schema: SchemaConfig,
    /// `[database]`.
    pub database: DatabaseConfig,
    /// `[[remote]]`: other subgraphs whose entities this one resolves.
    #[serde(default)]
    pub remote: Vec<RemoteConfig>,
    /// `[limits]`: what one request may cost.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[admission]`: the server-wide limit on requests in flight.
    #[serde(default)]
    pub admission: AdmissionSection,
    /// `[tenancy]`: which tenant each request is served as, and how tenants are kept apart.
    /// Without it, graft serves one tenant.
    #[serde(default)]
    pub tenancy: Option<graft_tenancy::TenancyConfig>,
    /// `[admin]`: the admin API's credential.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// `[batch]`: how `POST /batch` is served.
    #[serde(default)]
    pub batch: crate::batch::BatchSection,
    /// `[cache]`: the entity cache (in process, then Redis); without it, nothing is cached.
    #[serde(default)]
    pub cache: Option<CacheSection>,
    /// `[metrics]`: Prometheus metrics at `GET /metrics`.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[rate_limits]`: requests per second per tenant (and API key), by tier.
    #[serde(default)]
    pub rate_limits: Option<crate::rate_limit::RateLimitSection>,
    /// `[telemetry]`: spans exported over OTLP.
    #[serde(default)]
    pub telemetry: Option<crate::telemetry::TelemetrySection>,
    /// The directory of the config file, against which relative paths resolve.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most representations per `_entities` call.
    pub max_representations: usize,
    /// Longest a request may run, in milliseconds.
    pub request_timeout_ms: u64,
    /// Whether `__schema`/`__type` are answered.
    pub introspection: bool,
    /// Whether the `graft-debug` header is honoured.
    pub debug_header: bool,
    /// Most fetch groups of one request in flight at once.
    pub max_concurrent_fetches: usize,
    /// Longest a request's head may take to arrive, in milliseconds.
    pub header_read_timeout_ms: u64,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Whether `_entities` answers carry `extensions.apolloEntityCacheTags`, the tags Apollo
    /// Router's response cache indexes each entity under (`<Type>` and `<Type>:<key values>`,
    /// prefixed `<tenant>/` for a tenant).
    pub apollo_cache_tags: bool,
    /// Whether `POST /graphql` takes a JSON array of requests.
    pub batching: bool,
    /// Most requests in one batch.
    pub max_batch_size: usize,
    /// Most requests of one batch run at once.
    pub batch_concurrency: usize,
    /// Whether responses are compressed for clients that ask.
    pub compression: bool,
    /// The smallest response compressed, in bytes.
    pub compression_min_bytes: u16,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            max_body_bytes: 8 * 1024 * 1024,
            max_representations: 10_000,
            request_timeout_ms: 30_000,
            introspection: true,
            debug_header: false,
            max_concurrent_fetches: 8,
            header_read_timeout_ms: 10_000,
            max_connections: 4_096,
            apollo_cache_tags: false,
            batching: true,
            max_batch_size: 32,
            batch_concurrency: 4,
            compression: true,
            compression_min_bytes: 1024,
        }
    }
}

/// `[admission]`. Defaults are [`AdmissionConfig::default`]'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionSection {
    /// Whether the limit applies.
    pub enabled: bool,
    /// The limit at start.
    pub initial_limit: usize,
    /// The lowest limit.
    pub min_limit: usize,
    /// The highest limit.
    pub max_limit: usize,
    /// Most requests waiting; 0 for as many as the current limit.
    pub max_queue: usize,
    /// Longest a request waits, in milliseconds.
    pub queue_timeout_ms: u64,
}

impl Default for AdmissionSection {
    fn default() -> AdmissionSection {
        let config = AdmissionConfig::default();
        AdmissionSection {
            enabled: config.enabled,
            initial_limit: config.initial_limit,
            min_limit: config.min_limit,
            max_limit: config.max_limit,
            max_queue: config.max_queue,
            queue_timeout_ms: config.queue_timeout.as_millis() as u64,
        }
    }
}

impl AdmissionSection {
    /// The server's admission settings.
    pub fn admission_config(&self) -> AdmissionConfig {
        AdmissionConfig {
            enabled: self.enabled,
            initial_limit: self.initial_limit,
            min_limit: self.min_limit,
            max_limit: self.max_limit,
            max_queue: self.max_queue,
            queue_timeout: Duration::from_millis(self.queue_timeout_ms),
        }
    }
}

/// `[limits]`: what one request may cost. Defaults are [`RequestLimits::default`]'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// `"enforce"` or `"measure"`.
    pub mode: LimitModeConfig,
    /// Deepest nesting of selection sets.
    pub max_depth: u32,
    /// Most fields after fragment expansion.
    pub max_fields: u32,
    /// Highest estimated cost.
    pub max_cost: u64,
    /// Assumed length of a `@hasMany` list.
    pub default_list_size: u32,
    /// Assumed lengths by `Type.field`.
    pub list_sizes: HashMap<String, u32>,
    /// Most statements per request.
    pub max_statements: u32,
    /// Most rows read per request.
    pub max_rows: u64,
    /// Largest response, in bytes.
    pub max_response_bytes: usize,
    /// Most items of one `@hasMany` list.
    pub max_list_size: u32,
    /// Memory for cached query plans, in bytes.
    pub plan_cache_bytes: u64,
}

/// `[limits] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LimitModeConfig {
    /// Refuse operations over a limit.
    #[default]
    Enforce,
    /// Only report them.
    Measure,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        let limits = RequestLimits::default();
        LimitsConfig {
            mode: LimitModeConfig::Enforce,
            max_depth: limits.max_depth,
            max_fields: limits.max_fields,
            max_cost: limits.max_cost,
            default_list_size: limits.cost.default_list_size,
            list_sizes: HashMap::new(),
            max_statements: limits.max_statements,
            max_rows: limits.max_rows,
            max_response_bytes: limits.max_response_bytes,
            max_list_size: limits.max_list_size,
            plan_cache_bytes: EngineConfig::default().plan_cache_bytes,
        }
    }
}

impl LimitsConfig {
    /// The engine's request limits.
    pub fn request_limits(&self) -> RequestLimits {
        RequestLimits {
            mode: match self.mode {
                LimitModeConfig::Enforce => LimitMode::Enforce,
                LimitModeConfig::Measure => LimitMode::Measure,
            },
            max_depth: self.max_depth,
            max_fields: self.max_fields,
            max_cost: self.max_cost,
            cost: CostModel {
                default_list_size: self.default_list_size,
                list_sizes: self.list_sizes.clone(),
            },
            max_statements: self.max_statements,
            max_rows: self.max_rows,
            max_response_bytes: self.max_response_bytes,
            max_list_size: self.max_list_size,
        }
    }
}

/// `[schema]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    /// The subgraph SDL with graft's mapping.
    pub path: PathBuf,
}

/// `[metrics]`: whether graft keeps metrics and serves them at `GET /metrics` (default off:
/// the route is unauthenticated, for a port only Prometheus reaches).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `GET /metrics` (default false).
    #[serde(default)]
    pub enabled: bool,
    /// Count GraphQL requests by tenant, `graft_tenant_requests_total{tenant}` (default false:
    /// a series per tenant).
    #[serde(default)]
    pub tenant_label: bool,
}

/// `[cache]`: which types' rows graft keeps, for how long, and how much memory they may take.
///
/// ```toml
/// [cache]
/// max_memory_mb = 64            # default
/// # redis_url = "redis://127.0.0.1:6379"   # a second level every instance shares
/// # redis_url = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]   # on a Redis Cluster
/// # redis_timeout_ms = 10       # default: the most a Redis call may cost a request
/// [cache.types]
/// OrgUser = { ttl_seconds = 60 }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// The most memory entries may take in process, in MiB (default 64); 0 keeps none there
    /// (with `redis_url`, every lookup then goes to Redis).
    #[serde(default = "default_cache_memory_mb")]
    pub max_memory_mb: u64,
    /// The types cached (mapped entity types of the schema), each with its TTL.
    pub types: std::collections::BTreeMap<String, CachedType>,
    /// A Redis (`"redis://host:port"`), or a Redis Cluster (a list of its nodes' URLs): a
    /// second level of entries every instance shares, and the channel through which each
    /// instance's first level forgets what another's writes changed.
    #[serde(default)]
    pub redis_url: Option<graft_redis::RedisTarget>,
    /// The longest a Redis call may take before the request does without it, in ms
    /// (default 10).
    #[serde(default)]
    pub redis_timeout_ms: Option<u64>,
    /// The first part of every Redis key (default `graft:cache`).
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// The pub/sub channel of invalidations (default `graft:cache:invalidations`).
    #[serde(default)]
    pub channel: Option<String>,
}

/// One type of `[cache.types]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedType {
    /// How long an entry is served, in seconds (at least 1).
    pub ttl_seconds: u64,
}

fn default_cache_memory_mb() -> u64 {
    64
}

/// `[admin]`: the admin API (tenants kept in the database, managed over HTTP).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The SHA-256 of the admin bearer token, as 64 hex digits (`printf %s "$TOKEN" |
    /// sha256sum`): the token itself is never stored. Never a tenant's credential.
    pub token_sha256: String,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The database URL: `sqlite://file.db`, `postgres://user@host/db`,
    /// `mysql://user@host/db` (or `mariadb://`).
    pub url: String,
    /// Most pooled connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long a request waits for a connection, in milliseconds.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// How long opening a connection may take, in milliseconds (PostgreSQL, MariaDB).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// SQL scripts run, in order, when the database has no tables yet.
    #[serde(default)]
    pub setup: Vec<PathBuf>,
    /// Where tenants share tables (`isolation = "rows"`) on MariaDB or SQLite: the column
    /// naming each row's tenant, which graft adds to every statement and fills in on insert.
    /// PostgreSQL uses row-level security instead (ADR 0010).
    #[serde(default)]
    pub tenant_column: Option<String>,
    /// PostgreSQL: whether statements are prepared once per connection (default true). Set
    /// it to false behind PgBouncer before 1.21 in transaction mode: statements are then sent
    /// unnamed, their parameter types with them.
    #[serde(default = "default_true")]
    pub prepared_statements: bool,
    /// SQLite: where a tenant isolated by `schema` keeps its data, a URL with `{schema}` for
    /// its schema name (`sqlite://tenants/{schema}.db`): a file of its own, created on first
    /// use. Without it, SQLite has no schemas for tenants.
    #[serde(default)]
    pub tenant_files: Option<String>,
}

fn default_true() -> bool {
    true
}

/// How a remote subgraph's entities are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Route {
    /// Its database, through its schema's mapping.
    #[serde(rename = "db")]
    Database,
    /// Its `_entities` over HTTP.
    #[serde(rename = "http")]
    Http,
    /// Its database, and HTTP when the database cannot be reached.
    #[serde(rename = "db-then-http")]
    DatabaseThenHttp,
}

impl Route {
    /// Whether the route reads the owner's database.
    pub fn uses_database(self) -> bool {
        matches!(self, Route::Database | Route::DatabaseThenHttp)
    }

    /// Whether the route calls the owner's `_entities`.
    pub fn uses_http(self) -> bool {
        matches!(self, Route::Http | Route::DatabaseThenHttp)
    }
}

/// `[[remote]]`: a subgraph that owns some of this schema's entity types.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// The owning subgraph's name.
    pub name: String,
    /// The entity types it owns.
    pub types: Vec<String>,
    /// How they are reached.
    pub route: Route,
    /// The owner's graft schema, relative to this file (database routes).
    pub schema: Option<PathBuf>,
    /// The owner's database (database routes).
    pub database: Option<DatabaseConfig>,
    /// The owner's GraphQL endpoint (HTTP routes).
    pub url: Option<String>,
    /// Longest one HTTP attempt may take, in milliseconds.
    #[serde(default = "default_remote_timeout_ms")]
    pub timeout_ms: u64,
    /// Longest opening an HTTP connection may take, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Most HTTP attempts per fetch.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How long a database that could not be reached is skipped, in milliseconds.
    #[serde(default = "default_cool_down_ms")]
    pub cool_down_ms: u64,
    /// The largest `_entities` answer read from the owner, in bytes.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

fn default_max_response_bytes() -> usize {
    64 * 1024 * 1024
}

fn default_remote_timeout_ms() -> u64 {
    5_000
}

fn default_max_attempts() -> u32 {
    3
}

fn default_cool_down_ms() -> u64 {
    5_000
}

fn default_max_connections() -> u32 {
    4
}

fn default_acquire_timeout_ms() -> u64 {
    5_000
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}

/// Why a config file cannot be used. Every message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have graft's shape.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The parser's message, with the key and position.
        message: String,
    },
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let mut config: Config =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_owned()))?;
        check_scheme("database.url", &config.database.url).map_err(invalid)?;
        let mut names = Vec::new();
        for (i, remote) in config.remote.iter().enumerate() {
            let at = |key: &str| format!("remote[{i}] ({}).{key}", remote.name);
            if remote.name.is_empty() {
                return Err(invalid(format!("remote[{i}].name: must not be empty")));
            }
            if names.contains(&remote.name) {
                return Err(invalid(format!(
                    "{}: `{}` is named twice",
                    at("name"),
                    remote.name
                )));
            }
            names.push(remote.name.clone());
            if remote.types.is_empty() {
                return Err(invalid(format!(
                    "{}: name at least one entity type",
                    at("types")
                )));
            }
            if remote.route.uses_database() {
                if remote.schema.is_none() {
                    return Err(invalid(format!(
                        "{}: the `{}` route reads the owner's database through the owner's schema; give its path",
                        at("schema"),
                        route_name(remote.route)
                    )));
                }
                let Some(database) = &remote.database else {
                    return Err(invalid(format!(
                        "{}: the `{}` route needs the owner's [remote.database]",
                        at("database"),
                        route_name(remote.route)
                    )));
                };
                check_scheme(&at("database.url"), &database.url).map_err(invalid)?;
            }
            if remote.route.uses_http() {
                match &remote.url {
                    Some(url) if url.starts_with("http://") || url.starts_with("https://") => {}
                    Some(url) => {
                        return Err(invalid(format!(
                            "{}: `{url}` is not an http:// or https:// URL",
                            at("url")
                        )));
                    }
                    None => {
                        return Err(invalid(format!(
                            "{}: the `{}` route needs the owner's GraphQL endpoint",
                            at("url"),
                            route_name(remote.route)
                        )));
                    }
                }
            }
            if remote.timeout_ms == 0 || remote.connect_timeout_ms == 0 {
                return Err(invalid(format!(
                    "{}: timeouts must be above 0",
                    at("timeout_ms")
                )));
            }
            if remote.max_response_bytes == 0 {
                return Err(invalid(format!(
                    "{}: must be at least 1",
                    at("max_response_bytes")
                )));
            }
            if remote.max_attempts == 0 {
                return Err(invalid(format!(
                    "{}: must be at least 1",
                    at("max_attempts")
                )));
            }
        }
        if config.server.max_concurrent_fetches == 0 {
            return Err(invalid(
                "server.max_concurrent_fetches: must be at least 1".to_owned(),
            ));
        }
        if config.server.max_representations == 0 {
            return Err(invalid(
                "server.max_representations: must be at least 1".to_owned(),
            ));
        }
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// A path from the file, resolved against the file's directory.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        self.base_dir.join(relative)
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.server.request_timeout_ms)
    }
}

fn route_name(route: Route) -> &'static str {
    match route {
        Route::Database => "db",
        Route::Http => "http",
        Route::DatabaseThenHttp => "db-then-http",
    }
}

/// Checks that `url` (config key `key`) has a scheme graft connects to.
fn check_scheme(key: &str, url: &str) -> Result<(), String> {
    let scheme = url.split(':').next().unwrap_or("");
    if SUPPORTED_SCHEMES.contains(&scheme) {
        Ok(())
    } else {
        Err(format!(
            "{key}: the `{scheme}:` scheme is not supported; use one of {}",
            SUPPORTED_SCHEMES.map(|s| format!("`{s}:`")).join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        Config::parse(text, Path::new("conf/graft.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_a_minimal_file_with_defaults() {
        let config = Config::parse(
            "[schema]\npath = \"s.graphql\"\n[database]\nurl = \"sqlite://x.db\"\n",
            Path::new("conf/graft.toml"),
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 4000);
        assert_eq!(
            config.resolve(&config.schema.path),
            Path::new("conf/s.graphql")
        );
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_problem() {
        let e = error(
            "[schema]\npath = \"s\"\n[database]\nurl = \"sqlite://x\"\n[server]\nlisten = \"nowhere\"\n",
        );
        assert!(
            e.starts_with("conf/graft.toml:") && e.contains("listen") && e.contains("line 6"),
            "{e}"
        );
        let e =
            error("[schema]\npath = \"s\"\n[database]\nurl = \"sqlite://x\"\nmax_conections = 3\n");
        assert!(e.contains("unknown field `max_conections`"), "{e}");
        let e = error("[database]\nurl = \"sqlite://x\"\n");
        assert!(e.contains("missing field `schema`"), "{e}");
        let remote = |body: &str| {
            error(&format!(
                "[schema]\npath = \"s\"\n[database]\nurl = \"sqlite://x\"\n[[remote]]\n{body}"
            ))
        };
        let e = remote("name = \"users\"\ntypes = [\"OrgUser\"]\nroute = \"db\"\n");
        assert!(
            e.contains("remote[0] (users).schema: the `db` route reads"),
            "{e}"
        );
        let e = remote("name = \"users\"\ntypes = [\"OrgUser\"]\nroute = \"http\"\n");
        assert!(
            e.contains("remote[0] (users).url: the `http` route needs"),
            "{e}"
        );
        let e = remote("name = \"users\"\ntypes = []\nroute = \"http\"\nurl = \"http://u\"\n");
        assert!(
            e.contains("remote[0] (users).types: name at least one"),
            "{e}"
        );
        let e = remote("name = \"users\"\ntypes = [\"A\"]\nroute = \"carrier-pigeon\"\n");
        assert!(e.contains("unknown variant `carrier-pigeon`"), "{e}");
        let e = remote(
            "name = \"users\"\ntypes = [\"A\"]\nroute = \"db-then-http\"\nschema = \"u.graphql\"\nurl = \"ftp://u\"\n[remote.database]\nurl = \"postgres://u\"\n",
        );
        assert!(
            e.contains("remote[0] (users).url: `ftp://u` is not an http"),
            "{e}"
        );
        let e = error("[schema]\npath = \"s\"\n[database]\nurl = \"oracle://x\"\n");
        assert!(
            e.contains("database.url: the `oracle:` scheme is not supported; use one of `sqlite:`"),
            "{e}"
        );
    }
}
