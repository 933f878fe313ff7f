//! Building an [`AppState`]: the embedded SQLite demo, or a configured database.

use std::path::Path;
use std::sync::Arc;

use graft_db::DbError;
use graft_db::mysql::{MysqlConfig, MysqlSource};
use graft_db::postgres::{PostgresConfig, PostgresSource};
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_resolve::{Engine, EngineConfig, EntitySource, SourceRouter};
use graft_schema::{SchemaError, SubgraphSchema};
use std::time::Duration;

use crate::config::Config;
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
    let schema_path = config.resolve(&config.schema.path);
    let sdl = read(&schema_path)?;
    let schema = SubgraphSchema::parse(&sdl, &schema_path)?;
    let scripts = config
        .database
        .setup
        .iter()
        .map(|script| {
            let path = config.resolve(script);
            Ok((path.display().to_string(), read(&path)?))
        })
        .collect::<Result<Vec<_>, StartError>>()?;
    let source = connect(config, &schema, &scripts).await?;
    let limits = HttpLimits {
        max_body_bytes: config.server.max_body_bytes,
        request_timeout: config.request_timeout(),
        debug_header: config.server.debug_header,
    };
    let engine = EngineConfig {
        max_representations: config.server.max_representations,
        introspection: config.server.introspection,
        ..EngineConfig::default()
    };
    Ok(state(schema, source, limits, engine))
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
async fn connect(
    config: &Config,
    schema: &SubgraphSchema,
    scripts: &[(String, String)],
) -> Result<Arc<dyn EntitySource>, StartError> {
    let database = &config.database;
    let acquire_timeout = Duration::from_millis(database.acquire_timeout_ms);
    let connect_timeout = Duration::from_millis(database.connect_timeout_ms);
    let url = database.url.as_str();
    if url.starts_with("sqlite:") {
        let mut db = SqliteConfig::new(url);
        db.max_connections = database.max_connections;
        db.acquire_timeout = acquire_timeout;
        let source = SqliteSource::connect("sqlite", &db).await?;
        if source.count_tables().await? == 0 {
            for (name, sql) in scripts {
                source.run_script(name, sql).await?;
            }
        }
        Ok(Arc::new(source))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        PostgresSource::setup_if_empty(url, scripts).await?;
        let mut db = PostgresConfig::new(url);
        db.max_connections = database.max_connections as usize;
        db.acquire_timeout = acquire_timeout;
        db.connect_timeout = connect_timeout;
        Ok(Arc::new(
            PostgresSource::connect("postgres", &db, schema).await?,
        ))
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        let url = mysql_url(url);
        MysqlSource::setup_if_empty(&url, scripts).await?;
        let mut db = MysqlConfig::new(url);
        db.max_connections = database.max_connections as usize;
        db.acquire_timeout = acquire_timeout;
        db.connect_timeout = connect_timeout;
        Ok(Arc::new(MysqlSource::connect("mysql", &db, schema).await?))
    } else {
        unreachable!("Config::parse accepts only the schemes handled here")
    }
}

/// `mariadb://` is accepted as a synonym of `mysql://`, which the driver expects.
fn mysql_url(url: &str) -> String {
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
    AppState {
        engine: Arc::new(engine),
        limits,
    }
}

fn read(path: &Path) -> Result<String, StartError> {
    std::fs::read_to_string(path).map_err(|source| StartError::Read {
        path: path.display().to_string(),
        source,
    })
}
