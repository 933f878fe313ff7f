//! `cargo xtask e2e`: graft's subgraphs composed and queried under a real Apollo gateway,
//! without Docker.
//!
//! 1. Node.js (20 or later) and npm must be on `PATH`; without them the e2e fails, it never
//!    passes silently.
//! 2. `xtask/e2e/package.json` and `package-lock.json` are copied into `target/e2e/`, where
//!    `npm ci` runs only when they changed since the last install (a stamp file keeps the
//!    installed copy). The scripts (`*.mjs`, `checks/`) are copied next to them.
//! 3. The dev `graft` binary is built, and every subgraph of [`SUBGRAPHS`] is started, in
//!    order, with `--listen 127.0.0.1:0` from the workspace root: an example's config on a
//!    freshly seeded SQLite file, or a config written for the run into
//!    `target/e2e/<name>.graft.toml` (absolute paths) on a PostgreSQL or MariaDB database
//!    created for the run (`graft_e2e_<pid>_users`, `_orders`), which graft sets up and seeds on start
//!    (PostgreSQL and MariaDB are started first if they are down). The bound address is read
//!    from graft's `graft listening on http://…/graphql` line, then `/health` is polled. Each
//!    subgraph's log goes to `target/e2e/<name>.log`. A guard kills every subgraph and then
//!    drops the run's databases when xtask returns, also on failure (`sweep.rs` drops those of
//!    a run that was killed).
//! 4. `node run.mjs [filters]` composes the subgraphs, one supergraph per [`Subgraph::supergraph`]
//!    (the reference subgraphs join the `default` one), starts a gateway for each and runs the
//!    checks (see `xtask/e2e/run.mjs`); its exit status is xtask's. With `--router PATH`,
//!    Apollo Router's `router` binary serves each supergraph instead (`xtask/e2e/router.mjs`:
//!    recording proxies in front of the subgraphs, subgraph request compression on). The GraphiQL check
//!    (`checks/graphiql.mjs`) drives headless Chromium: `$GRAFT_E2E_CHROMIUM`, else Debian's
//!    `chromium` (installed with apt-get on CI when missing); it leaves a screenshot at
//!    `target/e2e/graphiql.png`.

use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{cargo, services, sql, sweep};

/// One graft subgraph the e2e starts.
struct Subgraph {
    /// The subgraph's name in the composition (and in the checks).
    name: &'static str,
    /// The supergraph it is composed into: run.mjs composes one per name and runs each check
    /// against the supergraph its module names. `default` also holds the reference subgraphs.
    supergraph: &'static str,
    /// Its config and database.
    setup: Setup,
}

/// Where a subgraph's config and database come from.
enum Setup {
    /// An example's `graft.toml` (relative to the workspace root) on the SQLite file it names
    /// (relative to the workspace root too), removed before the start so that every run seeds it
    /// afresh from the example's scripts.
    Sqlite {
        config: &'static str,
        database: &'static str,
    },
    /// A `graft.toml` the function writes for the run, on the run's [`Databases`] and the
    /// addresses of the subgraphs started before it.
    Written(fn(&Wiring<'_>) -> anyhow::Result<String>),
}

/// The graft subgraphs, in start and composition order.
const SUBGRAPHS: &[Subgraph] = &[
    Subgraph {
        name: "orgs-users",
        supergraph: "default",
        setup: Setup::Sqlite {
            config: "examples/federated-orgs/users.graft.toml",
            database: "target/federated-orgs-users.db",
        },
    },
    Subgraph {
        name: "orgs-orders",
        supergraph: "default",
        setup: Setup::Sqlite {
            config: "examples/federated-orgs/orders.graft.toml",
            database: "target/federated-orgs-orders.db",
        },
    },
    // The compatibility suite's subgraph under test; run.mjs adds the reference `inventory`
    // subgraph to compose with it.
    Subgraph {
        name: "products",
        supergraph: "default",
        setup: Setup::Sqlite {
            config: "examples/compat-products/graft.toml",
            database: "target/compat-products.db",
        },
    },
    // examples/remote-orgs/: users on PostgreSQL, orders on MariaDB, each resolving the other's
    // type itself. They declare the same types as orgs-users and orgs-orders (with @shareable
    // fields), so they form a supergraph of their own. The users subgraph starts first: the
    // orders subgraph's db-then-http route names its address.
    Subgraph {
        name: "remote-users",
        supergraph: "remote-orgs",
        setup: Setup::Written(remote_users_config),
    },
    Subgraph {
        name: "remote-orders",
        supergraph: "remote-orgs",
        setup: Setup::Written(remote_orders_config),
    },
];

/// What a written config points at.
struct Wiring<'a> {
    /// The workspace root, absolute.
    root: &'a Path,
    /// The run's databases.
    databases: &'a Databases,
    /// The subgraphs started so far: name and GraphQL URL.
    started: &'a [(&'static str, String)],
}

impl Wiring<'_> {
    /// `examples/<relative>` as an absolute path, as a TOML string.
    fn example(&self, relative: &str) -> String {
        json_string(
            &self
                .root
                .join("examples")
                .join(relative)
                .display()
                .to_string(),
        )
    }

    /// The GraphQL URL of the started subgraph `name`, as a TOML string.
    fn url_of(&self, name: &str) -> anyhow::Result<String> {
        match self.started.iter().find(|(started, _)| *started == name) {
            Some((_, url)) => Ok(json_string(url)),
            None => bail!("subgraph {name} must start first: its URL goes into the config"),
        }
    }
}

/// The remote-orgs users subgraph: examples/remote-orgs/users/users.graft.toml on the run's
/// PostgreSQL database, its orders read from the run's MariaDB database.
fn remote_users_config(wiring: &Wiring<'_>) -> anyhow::Result<String> {
    Ok(format!(
        "# Written by `cargo xtask e2e` for this run, after examples/remote-orgs/users/users.graft.toml.
[server]
debug_header = true

[schema]
path = {schema}

[database]
url = {users_db}
setup = [{tables}, {seed}]

[[remote]]
name = \"orders\"
types = [\"Order\"]
route = \"db\"
schema = {orders_schema}
[remote.database]
url = {orders_db}
",
        schema = wiring.example("remote-orgs/users/users.graphql"),
        users_db = json_string(&wiring.databases.users.url()),
        tables = wiring.example("remote-orgs/users/postgres/schema.sql"),
        seed = wiring.example("remote-orgs/users/postgres/seed.sql"),
        orders_schema = wiring.example("remote-orgs/orders/orders.graphql"),
        orders_db = json_string(&wiring.databases.orders.url()),
    ))
}

/// The remote-orgs orders subgraph: examples/remote-orgs/orders/orders.graft.toml on the run's
/// MariaDB database, its users read from the run's PostgreSQL database, or from the users
/// subgraph when that cannot be reached.
fn remote_orders_config(wiring: &Wiring<'_>) -> anyhow::Result<String> {
    Ok(format!(
        "# Written by `cargo xtask e2e` for this run, after examples/remote-orgs/orders/orders.graft.toml.
[server]
debug_header = true

[schema]
path = {schema}

[database]
url = {orders_db}
setup = [{tables}, {seed}]

[[remote]]
name = \"users\"
types = [\"OrgUser\"]
route = \"db-then-http\"
schema = {users_schema}
url = {users_url}
[remote.database]
url = {users_db}
",
        schema = wiring.example("remote-orgs/orders/orders.graphql"),
        orders_db = json_string(&wiring.databases.orders.url()),
        tables = wiring.example("remote-orgs/orders/mysql/schema.sql"),
        seed = wiring.example("remote-orgs/orders/mysql/seed.sql"),
        users_schema = wiring.example("remote-orgs/users/users.graphql"),
        users_url = wiring.url_of("remote-users")?,
        users_db = json_string(&wiring.databases.users.url()),
    ))
}

/// The databases of one run, dropped with their guards.
struct Databases {
    /// The remote-orgs users (PostgreSQL).
    users: Database,
    /// The remote-orgs orders (MariaDB).
    orders: Database,
}

impl Databases {
    /// Creates the run's databases, empty: `graft_e2e_<pid>_users` and `_orders`.
    fn create() -> anyhow::Result<Databases> {
        let pid = std::process::id();
        let users = Database::create(Engine::Postgres, format!("graft_e2e_{pid}_users"))?;
        let orders = Database::create(Engine::MariaDb, format!("graft_e2e_{pid}_orders"))?;
        Ok(Databases { users, orders })
    }
}

/// The database servers the e2e creates databases on.
#[derive(Clone, Copy)]
enum Engine {
    Postgres,
    MariaDb,
}

/// A database created for the run; dropping the guard drops the database (and, on
/// PostgreSQL, ends the connections still open to it).
struct Database {
    engine: Engine,
    name: String,
}

impl Database {
    fn create(engine: Engine, name: String) -> anyhow::Result<Database> {
        let what = format!("creating database {name}");
        match engine {
            Engine::Postgres => {
                sql::checked(&what, sql::postgres(&format!("CREATE DATABASE \"{name}\"")))?
            }
            Engine::MariaDb => sql::checked(
                &what,
                sql::mariadb(&format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )),
            )?,
        };
        println!("e2e: created database {name}");
        Ok(Database { engine, name })
    }

    /// The URL graft connects with.
    fn url(&self) -> String {
        match self.engine {
            Engine::Postgres => format!("postgres://postgres@127.0.0.1:5432/{}", self.name),
            Engine::MariaDb => format!("mysql://root@127.0.0.1:3306/{}", self.name),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = &self.name;
        let what = format!("dropping database {name}");
        let dropped = match self.engine {
            Engine::Postgres => sql::checked(
                &what,
                sql::postgres(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")),
            ),
            Engine::MariaDb => sql::checked(
                &what,
                sql::mariadb(&format!("DROP DATABASE IF EXISTS `{name}`")),
            ),
        };
        match dropped {
            Ok(_) => println!("e2e: dropped database {name}"),
            Err(error) => eprintln!("xtask: {error:#}"),
        }
    }
}

/// The oldest Node.js major version the pinned packages support (@apollo/server 5).
const MIN_NODE_MAJOR: u32 = 20;
/// The error when Node.js or npm is missing.
const NODE_MISSING: &str =
    "node and npm are needed for the federation e2e (cargo xtask e2e); install Node.js 20+";
/// The JavaScript side, committed.
const SOURCE_DIR: &str = "xtask/e2e";
/// The line graft logs once it listens; the address follows it.
const LISTENING: &str = "graft listening on http://";
/// How long a subgraph may take to log its address (the first start also seeds its database).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `/health` may take to answer 200 after that.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two `/health` attempts.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Lines of a subgraph's log shown when it fails to start.
const LOG_TAIL_LINES: usize = 30;

/// `cargo xtask e2e [--router PATH] [filters]`: see the module documentation. `filters` go to
/// run.mjs, which runs only the checks whose name contains one of them; with `--router`, Apollo
/// Router's binary at PATH serves the supergraphs instead of @apollo/gateway.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (router, filters) = match args {
        [flag, path, rest @ ..] if flag == "--router" => (Some(router_binary(path)?), rest),
        [flag] if flag == "--router" => {
            bail!("--router needs the path of Apollo Router's `router` binary")
        }
        _ => (None, args),
    };
    check_node()?;
    let work = target_dir(root).join("e2e");
    install(root, &work)?;

    let build = cargo::run(root, &["build", "-p", "graft-server", "--bin", "graft"])?;
    if !build.success() {
        eprintln!("xtask: building graft failed");
        return Ok(cargo::exit_code(build));
    }
    let graft = target_dir(root)
        .join("debug")
        .join(format!("graft{}", std::env::consts::EXE_SUFFIX));

    services::ensure_databases_up(root)?;
    let chromium = services::ensure_chromium(root)?;
    println!("e2e: chromium at {}", chromium.display());
    sweep::leftovers();
    let root = &fs::canonicalize(root).with_context(|| format!("resolving {}", root.display()))?;
    // Declared before `running`, so dropped after it: the subgraphs stop before their
    // databases are dropped.
    let databases = Databases::create()?;
    let mut running = Running::default();
    let mut urls = Vec::new();
    for subgraph in SUBGRAPHS {
        let config = match &subgraph.setup {
            Setup::Sqlite { config, database } => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let stale = root.join(format!("{database}{suffix}"));
                    if stale.exists() {
                        std::fs::remove_file(&stale)
                            .with_context(|| format!("removing {}", stale.display()))?;
                    }
                }
                let config = root.join(config);
                if !config.is_file() {
                    bail!(
                        "{}: the config of subgraph {} is missing",
                        config.display(),
                        subgraph.name
                    );
                }
                config
            }
            Setup::Written(write) => {
                let config = work.join(format!("{}.graft.toml", subgraph.name));
                let wiring = Wiring {
                    root,
                    databases: &databases,
                    started: &urls,
                };
                fs::write(&config, write(&wiring)?)
                    .with_context(|| format!("writing {}", config.display()))?;
                config
            }
        };
        let address = running.start(root, &graft, subgraph, &config, &work)?;
        let url = format!("http://{address}/graphql");
        println!("e2e: {} at {url}", subgraph.name);
        urls.push((subgraph.name, url));
    }

    println!(
        "$ node {}",
        [&["run.mjs".to_owned()], filters].concat().join(" ")
    );
    let status = Command::new("node")
        .arg("run.mjs")
        .args(filters)
        .current_dir(&work)
        .env("GRAFT_E2E_SUBGRAPHS", subgraphs_json(&urls))
        .env("GRAFT_E2E_SUPERGRAPHS", supergraphs_json())
        .env("GRAFT_E2E_CHROMIUM", &chromium)
        .env(
            "GRAFT_E2E_ROUTER",
            router.as_deref().unwrap_or(Path::new("")),
        )
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running `node run.mjs` in {}", work.display()))?;
    drop(running);
    drop(databases);
    println!("e2e: finished in {:.1} s", started.elapsed().as_secs_f64());
    if !status.success() {
        eprintln!("xtask: the federation e2e failed ({status})");
    }
    Ok(cargo::exit_code(status))
}

/// The Router binary at `path` (relative to the caller's directory), once `router --version`
/// runs.
fn router_binary(path: &str) -> anyhow::Result<PathBuf> {
    let binary = std::env::current_dir()
        .context("reading the current directory")?
        .join(path);
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .with_context(|| format!("running `{} --version`", binary.display()))?;
    if !version.status.success() {
        bail!(
            "`{} --version` failed: is it Apollo Router's `router` binary?",
            binary.display()
        );
    }
    println!(
        "e2e: {} ({})",
        binary.display(),
        String::from_utf8_lossy(&version.stdout).trim()
    );
    Ok(binary)
}

/// `cargo xtask compose [--output FILE] NAME=URL...`: the supergraph SDL of running subgraphs,
/// composed by `xtask/e2e/compose.mjs` with the e2e's pinned @apollo/composition. Runs in the
/// caller's directory, so a relative `--output` is relative to it.
pub(crate) fn compose(root: &Path, args: &[String]) -> anyhow::Result<ExitCode> {
    check_node()?;
    let work = target_dir(root).join("e2e");
    install(root, &work)?;
    let status = Command::new("node")
        .arg(work.join("compose.mjs"))
        .args(args)
        .stdin(Stdio::null())
        .status()
        .context("running `node compose.mjs`")?;
    Ok(cargo::exit_code(status))
}

/// The target directory: `$CARGO_TARGET_DIR` (relative to the workspace root), else `target/`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Fails unless `node` (at least [`MIN_NODE_MAJOR`]) and `npm` run.
fn check_node() -> anyhow::Result<()> {
    let node = version_of("node").context(NODE_MISSING)?;
    let major = node
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .with_context(|| format!("cannot read the version `node --version` printed: {node:?}"))?;
    if major < MIN_NODE_MAJOR {
        bail!("node {node} is too old: {NODE_MISSING}");
    }
    let npm = version_of("npm").context(NODE_MISSING)?;
    println!("e2e: node {node}, npm {npm}");
    Ok(())
}

/// What `<program> --version` prints, trimmed; an error when it cannot run or fails.
fn version_of(program: &str) -> anyhow::Result<String> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("`{program} --version` could not be run"))?;
    if !output.status.success() {
        bail!("`{program} --version` failed ({})", output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Copies the package files into `work`, runs `npm ci` there when they changed since the last
/// install, and copies the scripts next to them.
fn install(root: &Path, work: &Path) -> anyhow::Result<()> {
    let source = root.join(SOURCE_DIR);
    fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let mut packages = Vec::new();
    for file in ["package.json", "package-lock.json"] {
        let text =
            fs::read(source.join(file)).with_context(|| format!("reading {SOURCE_DIR}/{file}"))?;
        fs::write(work.join(file), &text)
            .with_context(|| format!("writing {}", work.join(file).display()))?;
        packages.extend_from_slice(&text);
        packages.push(0);
    }
    let stamp = work.join("npm-ci.stamp");
    let installed = fs::read(&stamp).is_ok_and(|previous| previous == packages)
        && work.join("node_modules").is_dir();
    if installed {
        println!("e2e: node packages up to date in {}", work.display());
    } else {
        // A failed or partial install must not count as done.
        let _ = fs::remove_file(&stamp);
        println!("$ npm ci --no-audit --no-fund   (in {})", work.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(work)
            .stdin(Stdio::null())
            .status()
            .context(NODE_MISSING)?;
        if !status.success() {
            bail!("`npm ci` failed in {} ({status})", work.display());
        }
        fs::write(&stamp, &packages).with_context(|| format!("writing {}", stamp.display()))?;
    }

    copy_scripts(&source, work)?;
    let checks = work.join("checks");
    if checks.exists() {
        fs::remove_dir_all(&checks).with_context(|| format!("removing {}", checks.display()))?;
    }
    fs::create_dir_all(&checks).with_context(|| format!("creating {}", checks.display()))?;
    copy_scripts(&source.join("checks"), &checks)
}

/// Copies every `*.mjs` file of `from` into `to`.
fn copy_scripts(from: &Path, to: &Path) -> anyhow::Result<()> {
    let entries = fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", from.display()))?
            .path();
        if path.extension().is_some_and(|extension| extension == "mjs") && path.is_file() {
            let Some(name) = path.file_name() else {
                continue;
            };
            fs::copy(&path, to.join(name))
                .with_context(|| format!("copying {} to {}", path.display(), to.display()))?;
        }
    }
    Ok(())
}

/// The subgraphs as the JSON object run.mjs reads: name to URL.
fn subgraphs_json(urls: &[(&str, String)]) -> String {
    let entries: Vec<String> = urls
        .iter()
        .map(|(name, url)| format!("{}:{}", json_string(name), json_string(url)))
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// The supergraphs other than `default` as the JSON object run.mjs reads: supergraph name to
/// the names of its subgraphs.
fn supergraphs_json() -> String {
    let mut supergraphs: Vec<(&str, Vec<String>)> = Vec::new();
    for subgraph in SUBGRAPHS.iter().filter(|s| s.supergraph != "default") {
        let name = json_string(subgraph.name);
        match supergraphs
            .iter_mut()
            .find(|(s, _)| *s == subgraph.supergraph)
        {
            Some((_, names)) => names.push(name),
            None => supergraphs.push((subgraph.supergraph, vec![name])),
        }
    }
    let entries: Vec<String> = supergraphs
        .iter()
        .map(|(supergraph, names)| format!("{}:[{}]", json_string(supergraph), names.join(",")))
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// `text` as a JSON string literal (also a TOML basic string).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The graft subgraphs started so far; dropping it kills them all.
#[derive(Default)]
struct Running {
    /// Name and process of each subgraph.
    children: Vec<(&'static str, Child)>,
}

impl Running {
    /// Starts `subgraph` and waits until it answers `/health`; returns its address.
    fn start(
        &mut self,
        root: &Path,
        graft: &Path,
        subgraph: &Subgraph,
        config: &Path,
        work: &Path,
    ) -> anyhow::Result<SocketAddr> {
        let log_path = work.join(format!("{}.log", subgraph.name));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut child = Command::new(graft)
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(root)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} for subgraph {}",
                    graft.display(),
                    subgraph.name
                )
            })?;
        let stderr = child.stderr.take();
        self.children.push((subgraph.name, child));
        let Some(stderr) = stderr else {
            bail!("subgraph {}: no stderr pipe", subgraph.name);
        };

        // graft keeps logging to stderr: a thread copies it to the log file to the end, and
        // reports the address from the listening line.
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || forward_log(stderr, log, &sender));
        let failed = |why: String| {
            anyhow::anyhow!(
                "subgraph {} ({}) {why}; its log, {}:\n{}",
                subgraph.name,
                config.display(),
                log_path.display(),
                tail(&log_path)
            )
        };
        let address = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(address) => address,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(failed(format!(
                    "logged no `{LISTENING}…` line within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Let the log thread finish writing before showing the log.
                thread::sleep(POLL_INTERVAL);
                return Err(failed("stopped before listening".to_owned()));
            }
        };
        if !wait_for_health(address) {
            return Err(failed(format!(
                "did not answer GET /health with 200 within {} s",
                HEALTH_TIMEOUT.as_secs()
            )));
        }
        Ok(address)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for (name, child) in &mut self.children {
            if let Err(err) = child.kill() {
                // It has already exited; nothing to stop.
                if err.kind() != std::io::ErrorKind::InvalidInput {
                    eprintln!("xtask: could not stop subgraph {name}: {err}");
                }
            }
            let _ = child.wait();
        }
    }
}

/// Copies graft's stderr into `log`; sends the address of the first listening line.
fn forward_log(stderr: impl std::io::Read, mut log: File, sender: &mpsc::Sender<SocketAddr>) {
    let mut sent = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let _ = writeln!(log, "{line}");
        if !sent && let Some(address) = listening_address(&line) {
            sent = sender.send(address).is_ok();
        }
    }
}

/// The address in graft's `graft listening on http://ADDRESS/graphql` line, if `line` is one.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once(LISTENING)?;
    let address = rest.split('/').next()?;
    address.parse().ok()
}

/// Polls `GET /health` until it answers 200 or [`HEALTH_TIMEOUT`] passes.
fn wait_for_health(address: SocketAddr) -> bool {
    let deadline = Instant::now() + HEALTH_TIMEOUT;
    while Instant::now() < deadline {
        if health_ok(address) {
            return true;
        }
        thread::sleep(POLL_INTERVAL);
    }
    false
}

/// One `GET /health` over HTTP/1.1: whether the status is 200.
fn health_ok(address: SocketAddr) -> bool {
    let timeout = Duration::from_secs(2);
    let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    response
        .lines()
        .next()
        .is_some_and(|status| status.split_whitespace().nth(1) == Some("200"))
}

/// The last [`LOG_TAIL_LINES`] lines of the log at `path`, indented.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    if start == lines.len() {
        return "    (empty)".to_owned();
    }
    lines[start..]
        .iter()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bound_address_from_graft_listening_line() {
        let line =
            "2026-01-01T00:00:00Z  INFO graft: graft listening on http://127.0.0.1:41234/graphql";
        assert_eq!(
            listening_address(line),
            Some(SocketAddr::from(([127, 0, 0, 1], 41234)))
        );
        assert_eq!(
            listening_address("graft listening on http://[::1]:80/graphql").map(|a| a.port()),
            Some(80)
        );
        assert_eq!(
            listening_address("INFO serving the embedded SQLite demo"),
            None
        );
        assert_eq!(
            listening_address("graft listening on http://nonsense/graphql"),
            None
        );
    }

    #[test]
    fn subgraphs_become_a_json_object() {
        assert_eq!(
            subgraphs_json(&[
                ("a", "http://127.0.0.1:1/graphql".to_owned()),
                ("b\"", "x\\".to_owned())
            ]),
            r#"{"a":"http://127.0.0.1:1/graphql","b\"":"x\\"}"#
        );
        assert_eq!(subgraphs_json(&[]), "{}");
    }

    #[test]
    fn every_subgraph_config_exists_and_names_its_database() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        // Guards that drop nothing: these databases are never created.
        let databases = std::mem::ManuallyDrop::new(Databases {
            users: Database {
                engine: Engine::Postgres,
                name: "graft_e2e_0_users".to_owned(),
            },
            orders: Database {
                engine: Engine::MariaDb,
                name: "graft_e2e_0_orders".to_owned(),
            },
        });
        let started = [("remote-users", "http://127.0.0.1:9/graphql".to_owned())];
        for subgraph in SUBGRAPHS {
            match &subgraph.setup {
                Setup::Sqlite { config, database } => {
                    let text = std::fs::read_to_string(root.join(config))
                        .unwrap_or_else(|e| panic!("{config}: {e}"));
                    assert!(
                        text.contains(&format!("sqlite://{database}")),
                        "{config} does not name {database}"
                    );
                }
                Setup::Written(write) => {
                    let text = write(&Wiring {
                        root: &root,
                        databases: &databases,
                        started: &started,
                    })
                    .expect("written");
                    // Every file it names exists, and it names the run's databases only.
                    let mut files = 0;
                    for quoted in text.split('"').skip(1).step_by(2) {
                        if quoted.starts_with('/') {
                            assert!(Path::new(quoted).is_file(), "{}: {quoted}", subgraph.name);
                            files += 1;
                        }
                    }
                    assert!(files >= 4, "{}: {text}", subgraph.name);
                    assert!(text.contains("graft_e2e_0_"), "{text}");
                    assert!(!text.contains("graft_remote_"), "{text}");
                }
            }
        }
        assert!(
            remote_orders_config(&Wiring {
                root: &root,
                databases: &databases,
                started: &started,
            })
            .expect("written")
            .contains("url = \"http://127.0.0.1:9/graphql\"")
        );
        assert!(
            remote_orders_config(&Wiring {
                root: &root,
                databases: &databases,
                started: &[],
            })
            .is_err(),
            "remote-users must start first"
        );
    }

    #[test]
    fn supergraphs_other_than_the_default_become_a_json_object() {
        assert_eq!(
            supergraphs_json(),
            r#"{"remote-orgs":["remote-users","remote-orders"]}"#
        );
    }
}
