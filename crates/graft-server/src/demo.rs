//! Building an [`AppState`]: the embedded SQLite demo, or a configured database.

use std::path::Path;
use std::sync::Arc;

use graft_db::DbError;
use graft_db::sqlite::{SqliteConfig, SqliteSource};
use graft_resolve::{Engine, EngineConfig, SourceRouter};
use graft_schema::{SchemaError, SubgraphSchema};

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
    Ok(state(schema, source, limits, config))
}

/// The state for a config file.
pub async fn configured_state(config: &Config) -> Result<AppState, StartError> {
    let schema_path = config.resolve(&config.schema.path);
    let sdl = read(&schema_path)?;
    let schema = SubgraphSchema::parse(&sdl, &schema_path)?;
    let mut db = SqliteConfig::new(&config.database.url);
    db.max_connections = config.database.max_connections;
    db.acquire_timeout = std::time::Duration::from_millis(config.database.acquire_timeout_ms);
    let source = SqliteSource::connect("sqlite", &db).await?;
    let has_tables = source.count_tables().await?;
    if has_tables == 0 {
        for script in &config.database.setup {
            let path = config.resolve(script);
            source
                .run_script(&path.display().to_string(), &read(&path)?)
                .await?;
        }
    }
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

fn state(
    schema: SubgraphSchema,
    source: SqliteSource,
    limits: HttpLimits,
    config: EngineConfig,
) -> AppState {
    let engine = Engine::new(
        Arc::new(schema),
        SourceRouter::single(Arc::new(source)),
        config,
    );
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
