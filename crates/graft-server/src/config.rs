//! `graft.toml`: where the schema and the database are, and the server's limits.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:4000"       # default
//! max_body_bytes = 8388608        # default 8 MiB
//! max_representations = 10000     # default
//! request_timeout_ms = 30000      # default
//! introspection = true            # default
//! debug_header = true             # default: `graft-debug: true` adds batch statistics
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
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            max_body_bytes: 8 * 1024 * 1024,
            max_representations: 10_000,
            request_timeout_ms: 30_000,
            introspection: true,
            debug_header: true,
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
        let scheme = config.database.url.split(':').next().unwrap_or("");
        if !SUPPORTED_SCHEMES.contains(&scheme) {
            return Err(invalid(format!(
                "database.url: the `{scheme}:` scheme is not supported; use one of {}",
                SUPPORTED_SCHEMES.map(|s| format!("`{s}:`")).join(", ")
            )));
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
        let e = error("[schema]\npath = \"s\"\n[database]\nurl = \"oracle://x\"\n");
        assert!(
            e.contains("database.url: the `oracle:` scheme is not supported; use one of `sqlite:`"),
            "{e}"
        );
    }
}
