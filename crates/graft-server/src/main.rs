//! `graft`: serve a subgraph, or check keys across subgraphs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use graft_keys::{SubgraphKeys, check_key_compatibility};
use graft_resolve::EngineConfig;
use graft_server::config::Config;
use graft_server::{HttpLimits, app, demo};

#[derive(Parser)]
#[command(
    name = "graft",
    version,
    about = "SQL databases as Apollo Federation subgraphs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a subgraph. Without --config, serves the embedded SQLite demo (examples/orgs).
    Serve {
        /// A graft.toml naming the schema and the database.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on (overrides the config; default 127.0.0.1:4000).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Check that subgraphs agree on entity keys: each type one subgraph refers to must be
    /// resolvable by its owner through a key the referring subgraph has.
    Check {
        /// Subgraph SDL files.
        #[arg(required = true)]
        schemas: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, listen } => serve(config, listen),
        Command::Check { schemas } => check(&schemas),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(
    config: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let (state, address) = match config {
            Some(path) => {
                let config = Config::load(&path)?;
                let state = demo::configured_state(&config).await?;
                (state, listen.unwrap_or(config.server.listen))
            }
            None => {
                let state =
                    demo::demo_state(HttpLimits::default(), EngineConfig::default()).await?;
                tracing::info!("serving the embedded SQLite demo (examples/orgs)");
                (
                    state,
                    listen.unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 4000))),
                )
            }
        };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address}"))?;
        tracing::info!("graft listening on http://{address}/graphql");
        axum::serve(listener, app(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn check(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut subgraphs = Vec::new();
    for path in paths {
        let sdl = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        subgraphs.push(SubgraphKeys::parse(path.display().to_string(), &sdl)?);
    }
    let mismatches = check_key_compatibility(&subgraphs);
    for mismatch in &mismatches {
        println!("{mismatch}");
    }
    if mismatches.is_empty() {
        println!("{} subgraphs: entity keys are compatible", subgraphs.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} key mismatch(es)", mismatches.len());
        Ok(ExitCode::FAILURE)
    }
}
