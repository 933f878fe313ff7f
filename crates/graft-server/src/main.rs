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
        /// Write nothing: list the tables and columns of the database that this existing
        /// schema does not map (exit status 1 when there are any).
        #[arg(long, value_name = "SCHEMA", conflicts_with_all = ["force", "mutations"])]
        check: Option<PathBuf>,
    },
    /// Check that subgraphs agree on entity keys: each type one subgraph refers to must be
    /// resolvable by its owner through a key the referring subgraph has.
    Check {
        /// Subgraph SDL files.
        #[arg(required = true)]
        schemas: Vec<PathBuf>,
    },
    /// Manage the tenants kept in the database (`[tenancy] store = "database"`).
    Tenant {
        /// The graft.toml of the subgraph.
        #[arg(long, default_value = "graft.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: TenantCommand,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// List every tenant.
    List,
    /// Print (or, with --apply, run) the PostgreSQL statements that put every mapped table
    /// under row-level security on `[database] tenant_column`, for tenants sharing tables.
    RowSecurity {
        /// Run them, as the configured role (the tables' owner).
        #[arg(long)]
        apply: bool,
    },
    /// Create a tenant: its schema, migrated, then its record.
    Create {
        /// The tenant's id: 1 to 63 letters, digits, `_` or `-`.
        id: String,
        /// `schema` (a schema, MariaDB database or SQLite file of its own) or `rows` (shared
        /// tables); by default its tier's isolation (`[tenancy.tiers]`), else `schema`.
        #[arg(long)]
        isolation: Option<String>,
        /// Its tier, say `premium` or `standard`.
        #[arg(long)]
        tier: Option<String>,
        /// The schema's name (default `tenant_<id>`).
        #[arg(long)]
        schema: Option<String>,
        /// A human-readable name.
        #[arg(long)]
        slug: Option<String>,
    },
    /// Refuse the tenant's requests (403) until it is resumed.
    Suspend {
        /// The tenant's id.
        id: String,
    },
    /// Serve a suspended tenant again.
    Resume {
        /// The tenant's id.
        id: String,
    },
    /// Delete the tenant and all its data: its schema, or its rows of every mapped table.
    Destroy {
        /// The tenant's id.
        id: String,
        /// Confirm: the data cannot be recovered.
        #[arg(long)]
        yes: bool,
    },
    /// Apply the pending migrations to the shared tables and to every tenant's schema.
    Migrate {
        /// Only say what would be applied.
        #[arg(long)]
        dry_run: bool,
        /// How many schemas to migrate at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Move a tenant that shares tables to a schema of its own (hybrid tenancy): it is
    /// suspended while its rows move, other tenants are served throughout.
    Promote {
        /// The tenant's id.
        id: String,
        /// The schema's name (default `tenant_<id>`).
        #[arg(long)]
        schema: Option<String>,
    },
    /// Make a new API key for a tenant; it is printed once and only its hash is kept.
    ApiKey {
        /// The tenant's id.
        id: String,
        /// A scope the key grants (`Order:create`, `*:read`, `*`), repeated for more; without
        /// any, its bearer gets `[tenancy] default_scopes`.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

/// The layer that exports spans, when `[telemetry]` asks for one.
type Exporter = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `graft serve --config` reads its config first: `[telemetry]` decides the subscriber.
    let config = match &cli.command {
        Command::Serve {
            config: Some(path), ..
        } => match Config::load(path) {
            Ok(config) => Some(config),
            Err(error) => return failed(&error.into()),
        },
        _ => None,
    };
    // Before any runtime: the exporter's blocking HTTP client has a runtime of its own, which
    // must not be made (or dropped) inside another.
    let telemetry = config.as_ref().and_then(|config| config.telemetry.as_ref());
    let (exporter, provider) = match telemetry.map(graft_server::telemetry::otlp_layer) {
        Some(Ok((layer, provider))) => (Some(layer), Some(provider)),
        Some(Err(message)) => return failed(&anyhow::anyhow!(message)),
        None => (None, None),
    };
    init_tracing(exporter);
    if let Some(telemetry) = telemetry {
        tracing::info!(endpoint = %telemetry.otlp_endpoint, "exporting spans over OTLP");
    }
    let result = match cli.command {
        Command::Serve { listen, .. } => serve(config, listen),
        Command::Check { schemas } => check(&schemas),
        Command::Tenant { config, command } => tenant(&config, command),
        Command::Init {
            database,
            check: Some(schema),
            ..
        } => init_check(&database, &schema),
        Command::Init {
            database,
            output,
            force,
            mutations,
            check: None,
        } => init(
            &database,
            &output,
            force,
            graft_schema::StarterOptions { mutations },
        ),
    };
    // Spans still in the batch are sent before the process ends.
    if let Some(provider) = provider
        && let Err(error) = provider.shutdown()
    {
        eprintln!("graft: exporting the last spans: {error}");
    }
    match result {
        Ok(code) => code,
        Err(error) => failed(&error),
    }
}

fn failed(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

/// The log on stderr, at `RUST_LOG` (default info), and the span exporter when there is one
/// (with a filter of its own).
fn init_tracing(exporter: Option<Exporter>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    tracing_subscriber::registry()
        .with(exporter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                ),
        )
        .init();
}

fn serve(config: Option<Config>, listen: Option<std::net::SocketAddr>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let (state, address) = match config {
            Some(config) => {
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

/// `graft tenant ...`.
fn tenant(config: &std::path::Path, command: TenantCommand) -> anyhow::Result<ExitCode> {
    use graft_resolve::TenantStatus;
    use graft_server::tenants::TenantControl;
    let config = Config::load(config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let (_, local_schema) = demo::schemas(&config)?;
        let control = TenantControl::open(&config, local_schema).await?;
        match command {
            TenantCommand::RowSecurity { apply: false } => {
                print!("{}", control.row_security_ddl()?)
            }
            TenantCommand::RowSecurity { apply: true } => {
                control.apply_row_security().await?;
                println!("every mapped table is under row-level security");
            }
            TenantCommand::List => {
                for tenant in control.list().await? {
                    let isolation = match &tenant.isolation {
                        graft_resolve::Isolation::Schema(schema) => format!("schema {schema}"),
                        graft_resolve::Isolation::Rows => "rows".to_owned(),
                        graft_resolve::Isolation::None => "none".to_owned(),
                    };
                    println!(
                        "{}\t{:?}\t{isolation}\t{}",
                        tenant.id,
                        tenant.status,
                        tenant.slug.unwrap_or_default()
                    );
                }
            }
            TenantCommand::Create {
                id,
                isolation,
                tier,
                schema,
                slug,
            } => {
                let migrated = control
                    .create(graft_server::tenants::NewTenant {
                        id: id.clone(),
                        isolation,
                        schema,
                        slug,
                        tier,
                        metadata: None,
                    })
                    .await?;
                println!(
                    "created tenant {id} ({} migrations applied)",
                    migrated.applied.len()
                );
            }
            TenantCommand::Suspend { id } => {
                anyhow::ensure!(
                    control.set_status(&id, TenantStatus::Suspended).await?,
                    "no tenant {id}"
                );
                println!("suspended tenant {id}");
            }
            TenantCommand::Resume { id } => {
                anyhow::ensure!(
                    control.set_status(&id, TenantStatus::Active).await?,
                    "no tenant {id}"
                );
                println!("resumed tenant {id}");
            }
            TenantCommand::Destroy { id, yes } => {
                anyhow::ensure!(
                    yes,
                    "destroying tenant {id} deletes all its data: add --yes"
                );
                anyhow::ensure!(control.destroy(&id).await?, "no tenant {id}");
                println!("destroyed tenant {id}");
                // Running instances must not serve its rows to a tenant re-created under the id.
                if !graft_server::demo::forget_cached_tenant(&config, &id).await? {
                    eprintln!(
                        "warning: Redis did not take every cache flush of tenant {id}: its \
                         cached rows expire at their TTL"
                    );
                }
            }
            TenantCommand::Promote { id, schema } => {
                // Running instances cache the tenant's record: it stays suspended that long.
                let ttl = config
                    .tenancy
                    .as_ref()
                    .and_then(|t| t.cache_ttl_seconds)
                    .unwrap_or(30);
                eprintln!("suspending tenant {id} for {ttl} s while instances forget it");
                let migrated = control.promote(&id, schema.as_deref()).await?;
                println!(
                    "promoted tenant {id} to a schema of its own ({} migrations applied)",
                    migrated.applied.len()
                );
            }
            TenantCommand::ApiKey { id, scopes } => {
                let scopes = (!scopes.is_empty()).then_some(scopes);
                let key = control.new_api_key(&id, scopes.as_deref()).await?;
                println!("{key}");
                eprintln!("the key is shown once: only its SHA-256 is kept");
            }
            TenantCommand::Migrate {
                dry_run,
                concurrency,
            } => return migrate(&control, dry_run, concurrency).await,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `graft tenant migrate`: a line per schema as it finishes, then the totals; fails when one
/// schema did.
async fn migrate(
    control: &graft_server::tenants::TenantControl,
    dry_run: bool,
    concurrency: usize,
) -> anyhow::Result<ExitCode> {
    let verb = if dry_run { "would apply" } else { "applied" };
    let reports = control
        .migrate_all(dry_run, concurrency, |done, total, report| {
            let outcome = match &report.outcome {
                Ok(migrated) if migrated.applied.is_empty() => "up to date".to_owned(),
                Ok(migrated) => format!("{verb} {}", migrated.applied.join(", ")),
                Err(error) => format!("FAILED: {error}"),
            };
            eprintln!(
                "[{done}/{total}] {}: {outcome} ({} ms)",
                report.target,
                report.took.as_millis()
            );
        })
        .await?;
    let failed = reports.iter().filter(|r| r.outcome.is_err()).count();
    let changed = reports
        .iter()
        .filter(|r| r.outcome.as_ref().is_ok_and(|m| !m.applied.is_empty()))
        .count();
    println!(
        "{} schemas: {changed} {verb} migrations, {} up to date, {failed} failed",
        reports.len(),
        reports.len() - changed - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `graft init --check SCHEMA`: what the database has that the schema does not map.
fn init_check(database: &str, schema: &std::path::Path) -> anyhow::Result<ExitCode> {
    let sdl =
        std::fs::read_to_string(schema).with_context(|| format!("reading {}", schema.display()))?;
    let parsed = graft_schema::SubgraphSchema::parse(&sdl, schema.display().to_string())
        .with_context(|| format!("{} is not a valid graft schema", schema.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let tables = runtime.block_on(graft_server::demo::describe_tables(database))?;
    let missing = graft_schema::unmapped(&tables, &parsed);
    let database = without_password(database);
    if missing.is_empty() {
        println!(
            "{} maps every table and column of {database}",
            schema.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} does not map, of {database}:", schema.display());
    for line in &missing {
        println!("  {line}");
    }
    // Tables without a primary key cannot be served: listed, but no failure.
    let mappable = missing
        .iter()
        .any(|line| !line.ends_with(graft_schema::NO_PRIMARY_KEY));
    Ok(if mappable {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `url` with its password, if any, replaced by `***`, for what graft prints.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
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
        let database = without_password(database);
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

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn printed_urls_keep_no_password() {
        assert_eq!(
            without_password("postgres://app:s3cret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(
            without_password("mysql://root@127.0.0.1:3306/x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(without_password("sqlite://file.db"), "sqlite://file.db");
    }
}
