//! `graft`: serve a subgraph, or check keys across subgraphs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use graft_keys::{SubgraphKeys, check_key_compatibility};
use graft_resolve::EngineConfig;
use graft_server::config::Config;
use graft_server::{HttpLimits, demo};

/// mimalloc: the server allocates many small, short-lived buffers per request, which glibc's
/// allocator serves measurably slower (it was ~8% of graft's CPU under load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Write a starter schema.graphql from an existing database's tables: one entity per table
    /// with a primary key, keyed by it, with a root lookup by key.
    Init {
        /// The database: `postgres://...`, `mysql://...` (MariaDB) or `sqlite://file.db`.
        #[arg(long)]
        database: String,
        /// Where to write the schema (`-` for standard output).
        #[arg(long, default_value = "schema.graphql")]
        output: PathBuf,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Mark every type `@mutations`: graft then serves createX, createXs, updateX and
        /// deleteX for it.
        #[arg(long)]
        mutations: bool,
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
        Command::Init {
            database,
            output,
            force,
            mutations,
        } => init(
            &database,
            &output,
            force,
            graft_schema::StarterOptions { mutations },
        ),
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
        // The bound address, not the configured one: with port 0 the system picks the port, and
        // `cargo xtask e2e` reads it from this line.
        let bound = listener
            .local_addr()
            .with_context(|| format!("reading the address bound for {address}"))?;
        tracing::info!("graft listening on http://{bound}/graphql");
        graft_server::serve(listener, state, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn init(
    database: &str,
    output: &std::path::Path,
    force: bool,
    options: graft_schema::StarterOptions,
) -> anyhow::Result<ExitCode> {
    let is_stdout = output == std::path::Path::new("-");
    if !is_stdout && output.exists() && !force {
        anyhow::bail!("{} exists; pass --force to overwrite it", output.display());
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let tables = runtime.block_on(graft_server::demo::describe_tables(database))?;
    if tables.is_empty() {
        anyhow::bail!("{database} has no tables to describe");
    }
    let sdl = graft_schema::starter_sdl_with(&tables, options);
    // What graft writes, graft must accept.
    graft_schema::SubgraphSchema::parse(&sdl, "starter.graphql")
        .context("the starter schema does not validate")?;
    if is_stdout {
        print!("{sdl}");
    } else {
        std::fs::write(output, &sdl).with_context(|| format!("writing {}", output.display()))?;
        let entities = tables.iter().filter(|t| !t.primary_key.is_empty()).count();
        eprintln!(
            "wrote {} ({entities} entities from {} tables); serve it with a graft.toml naming this schema and {database}",
            output.display(),
            tables.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut subgraphs = Vec::new();
    for path in paths {
        let sdl = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        // graft's mapping directives are not federation's: check what the subgraph serves.
        let sdl = graft_schema::strip_graft_directives(&sdl, path);
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
