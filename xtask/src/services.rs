//! The local services the test suite talks to: PostgreSQL on 5432, MariaDB
//! on 3306, Redis on 6379 and PgBouncer on 6432, all on 127.0.0.1.
//!
//! A service counts as up when a TCP connection to its port succeeds. Services
//! that are down are started (and, when `CI` is set and the binaries are
//! missing, installed with apt-get first); xtask then waits for their ports.
//! The output of every start or install command goes to a log file under
//! `target/xtask/`, never to xtask's own stdout, so that a daemon cannot keep
//! the caller's pipe open.
//!
//! PgBouncer is the exception to "anything listening will do": it pools in
//! transaction mode in front of PostgreSQL, so that tests can check that no
//! tenant state leaks through pooled server connections, and only an instance
//! xtask started with its own configuration (`target/xtask/pgbouncer/`, see
//! [`pgbouncer_config`]) is known to do that. Another listener on 6432 (the
//! pgbouncer package's own service, say) is stopped on CI and an error
//! elsewhere.

use std::fs::{self, File};
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a single connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// How long to wait for a port after starting its service.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two connection attempts while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Where PostgreSQL clusters are configured; one directory per major version.
const POSTGRES_ETC: &str = "/etc/postgresql";
/// The MariaDB server binary.
const MARIADBD: &str = "/usr/sbin/mariadbd";
/// The PgBouncer binary.
const PGBOUNCER: &str = "/usr/sbin/pgbouncer";
/// The OS user PgBouncer runs as when xtask runs as root (PgBouncer refuses to
/// run as root); the PostgreSQL packages create it.
const PGBOUNCER_USER: &str = "postgres";

/// One service the test suite needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    /// PostgreSQL, every cluster named `main` under `/etc/postgresql`.
    Postgres,
    /// MariaDB, started directly with start-stop-daemon.
    MariaDb,
    /// Redis, without persistence.
    Redis,
    /// PgBouncer in transaction-pooling mode in front of PostgreSQL: an
    /// instance of xtask's own, configured under `target/xtask/pgbouncer/`.
    PgBouncer,
}

impl Service {
    /// Every service, in the order they are checked and started (PgBouncer
    /// after the PostgreSQL it pools for).
    const ALL: [Service; 4] = [
        Service::Postgres,
        Service::MariaDb,
        Service::Redis,
        Service::PgBouncer,
    ];

    /// The name printed in status lines.
    fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::MariaDb => "mariadb",
            Service::Redis => "redis",
            Service::PgBouncer => "pgbouncer",
        }
    }

    /// The TCP port the service listens on.
    fn port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::MariaDb => 3306,
            Service::Redis => 6379,
            Service::PgBouncer => 6432,
        }
    }

    /// The Debian/Ubuntu package that provides the service.
    fn apt_package(self) -> &'static str {
        match self {
            Service::Postgres => "postgresql",
            Service::MariaDb => "mariadb-server",
            Service::Redis => "redis-server",
            Service::PgBouncer => "pgbouncer",
        }
    }

    /// What has to be present for xtask to be able to start the service.
    fn requirement(self) -> &'static str {
        match self {
            Service::Postgres => "`pg_ctlcluster` and a cluster under /etc/postgresql",
            Service::MariaDb => "/usr/sbin/mariadbd",
            Service::Redis => "`redis-server`",
            Service::PgBouncer => PGBOUNCER,
        }
    }

    /// Whether the binaries (and, for PostgreSQL, a cluster) are installed.
    fn is_installed(self) -> bool {
        match self {
            Service::Postgres => {
                find_on_path("pg_ctlcluster").is_some()
                    && postgres_versions().is_ok_and(|versions| !versions.is_empty())
            }
            Service::MariaDb => Path::new(MARIADBD).is_file(),
            Service::Redis => find_on_path("redis-server").is_some(),
            Service::PgBouncer => Path::new(PGBOUNCER).is_file(),
        }
    }

    /// Whether something accepts TCP connections on the service's port.
    fn is_up(self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port()));
        TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok()
    }

    /// Whether what listens on the service's port will do: anything does,
    /// except for PgBouncer, where only xtask's own instance does (see
    /// [`check_pgbouncer`], which stops another one on CI). False when nothing
    /// listens (any more).
    fn is_usable(self, log_dir: &Path) -> anyhow::Result<bool> {
        if !self.is_up() {
            return Ok(false);
        }
        match self {
            Service::PgBouncer => check_pgbouncer(log_dir),
            Service::Postgres | Service::MariaDb | Service::Redis => Ok(true),
        }
    }

    /// Waits until the port accepts connections or [`START_TIMEOUT`] passes.
    fn wait_until_up(self) -> bool {
        self.wait_until(true)
    }

    /// Waits until the port accepts connections (`up`) or refuses them (not
    /// `up`), or [`START_TIMEOUT`] passes; returns whether it does.
    fn wait_until(self, up: bool) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.is_up() == up {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Runs the start command(s) of the service, logging to `log` in `log_dir`.
    fn start(self, log_dir: &Path, log: &Path) -> anyhow::Result<()> {
        match self {
            Service::Postgres => {
                let versions = postgres_versions()?;
                if versions.is_empty() {
                    bail!("no PostgreSQL cluster configured under {POSTGRES_ETC}");
                }
                let mut failures = Vec::new();
                for version in &versions {
                    let mut command = privileged("pg_ctlcluster");
                    command.args(["--skip-systemctl-redirect", version, "main", "start"]);
                    if let Err(err) = run_logged(command, log) {
                        failures.push(format!("{version}/main: {err:#}"));
                    }
                }
                // One cluster failing (say, an old version without a `main`
                // cluster) is fine as long as the port opens.
                if failures.len() == versions.len() {
                    bail!("pg_ctlcluster failed: {}", failures.join("; "));
                }
                for failure in failures {
                    eprintln!("postgres: note: pg_ctlcluster {failure}");
                }
                Ok(())
            }
            Service::MariaDb => {
                // mariadbd writes its pid file and socket here; packages
                // normally create it at boot, a fresh container may lack it.
                let run_dir = Path::new("/run/mysqld");
                if !run_dir.is_dir() {
                    let mut command = privileged("install");
                    command.args(["-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"]);
                    if let Err(err) = run_logged(command, log) {
                        eprintln!("mariadb: note: could not create /run/mysqld: {err:#}");
                    }
                }
                let mut command = privileged("start-stop-daemon");
                // --no-close keeps mariadbd's stderr on the log file instead
                // of /dev/null, so that a failed start can be diagnosed.
                command.args(["--start", "--oknodo", "--background", "--no-close"]);
                command.args(["--exec", MARIADBD]);
                run_logged(command, log)
            }
            Service::Redis => {
                let port = self.port().to_string();
                let mut command = Command::new("redis-server");
                command.args(["--daemonize", "yes", "--bind", "127.0.0.1", "--port", &port]);
                command.args(["--save", "", "--appendonly", "no"]);
                run_logged(command, log)
            }
            Service::PgBouncer => {
                let (ini, _) = write_pgbouncer_config(log_dir)?;
                let dir = pgbouncer_dir(log_dir);
                // pgbouncer refuses to start while the process its pid file
                // names lives; after a reboot that may be any process.
                if pgbouncer_pid(&ini).is_none() {
                    let _ = fs::remove_file(dir.join("pgbouncer.pid"));
                }
                let mut command = Command::new(PGBOUNCER);
                command.arg("-d");
                if is_root() {
                    // It writes its pid file and its log as that user.
                    let mut chown = Command::new("chown");
                    chown.args(["-R", PGBOUNCER_USER]).arg(&dir).arg(log);
                    run_logged(chown, log)?;
                    command.args(["-u", PGBOUNCER_USER]);
                }
                command.arg(ini);
                run_logged(command, log)
            }
        }
    }
}

/// Makes sure every service is listening, starting (and on CI installing)
/// what is missing. Prints one status line per service.
pub(crate) fn ensure_up(root: &Path) -> anyhow::Result<()> {
    ensure(root, &Service::ALL)
}

/// Makes sure PostgreSQL and MariaDB are listening (the e2e's remote-orgs subgraphs run on
/// them), as [`ensure_up`] does.
pub(crate) fn ensure_databases_up(root: &Path) -> anyhow::Result<()> {
    ensure(root, &[Service::Postgres, Service::MariaDb])
}

/// Makes sure `services` are listening, starting (and on CI installing) what is missing.
fn ensure(root: &Path, services: &[Service]) -> anyhow::Result<()> {
    let log_dir = root.join("target").join("xtask");

    let mut down = Vec::new();
    for &service in services {
        if service.is_usable(&log_dir)? {
            println!("{}: up (already running)", service.name());
        } else {
            down.push(service);
        }
    }
    if down.is_empty() {
        return Ok(());
    }

    let missing: Vec<Service> = down
        .iter()
        .copied()
        .filter(|service| !service.is_installed())
        .collect();
    if !missing.is_empty() {
        if !is_ci() {
            bail!("{}", missing_message(&missing));
        }
        install(&missing, &fresh_log(&log_dir, "apt")?)?;
    }

    for service in down {
        let how = if missing.contains(&service) {
            "installed and started"
        } else {
            "started"
        };
        // Installing a package may already have started its service.
        if service.is_usable(&log_dir)? {
            println!("{}: up ({how} by its package)", service.name());
            continue;
        }
        let log = fresh_log(&log_dir, service.name())?;
        if let Err(err) = service.start(&log_dir, &log) {
            bail!(
                "{}: could not be started: {err:#}\n{}",
                service.name(),
                log_hint(&log)
            );
        }
        if !service.wait_until_up() {
            bail!(
                "{}: started, but nothing listens on 127.0.0.1:{} after {} s\n{}",
                service.name(),
                service.port(),
                START_TIMEOUT.as_secs(),
                log_hint(&log),
            );
        }
        println!("{}: {how}", service.name());
    }
    Ok(())
}

/// Whether we run on CI: `CI` is set to anything but empty, `0` or `false`.
fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        let value = value.trim();
        !value.is_empty() && value != "0" && !value.eq_ignore_ascii_case("false")
    })
}

/// The error for a developer machine that lacks some services.
fn missing_message(missing: &[Service]) -> String {
    let mut message = String::from("services needed by the test suite are not installed:\n");
    for service in missing {
        message.push_str(&format!(
            "  {}: nothing listens on 127.0.0.1:{} and {} was not found\n",
            service.name(),
            service.port(),
            service.requirement(),
        ));
    }
    let packages: Vec<&str> = missing
        .iter()
        .map(|service| service.apt_package())
        .collect();
    message.push_str(&format!(
        "install them with `sudo apt-get install {}` (or start them yourself on those ports); \
         with CI set, xtask installs them itself",
        packages.join(" "),
    ));
    message
}

/// The browser the e2e's GraphiQL check drives: `$GRAFT_E2E_CHROMIUM` when set, else
/// Debian's `chromium`, installed with apt-get on CI when missing.
pub(crate) fn ensure_chromium(root: &Path) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("GRAFT_E2E_CHROMIUM").filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("GRAFT_E2E_CHROMIUM: {} is not a file", path.display());
        }
        return Ok(path);
    }
    if let Some(path) = find_on_path("chromium") {
        return Ok(path);
    }
    if !is_ci() {
        bail!(
            "the e2e's GraphiQL check needs Chromium: install Debian's with \
             `sudo apt-get install chromium`, or set GRAFT_E2E_CHROMIUM to a Chromium or \
             Chrome binary; with CI set, xtask installs it itself"
        );
    }
    let log_dir = root.join("target").join("xtask");
    install_packages(&["chromium"], &fresh_log(&log_dir, "apt-chromium")?)?;
    find_on_path("chromium").context("apt-get installed chromium, but it is not on PATH")
}

/// Installs the packages of `missing` with one `apt-get update` and one
/// `apt-get install`.
fn install(missing: &[Service], log: &Path) -> anyhow::Result<()> {
    let packages: Vec<&str> = missing
        .iter()
        .map(|service| service.apt_package())
        .collect();
    install_packages(&packages, log)
}

/// Installs `packages` with one `apt-get update` and one `apt-get install`.
fn install_packages(packages: &[&str], log: &Path) -> anyhow::Result<()> {
    println!(
        "installing {} with apt-get (log: {})",
        packages.join(" "),
        log.display()
    );
    let mut update = privileged("apt-get");
    update.args(["update"]);
    if let Err(err) = run_logged(update, log) {
        bail!("apt-get update failed: {err:#}\n{}", log_hint(log));
    }

    let mut install = privileged("env");
    install.args(["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y"]);
    install.args(packages);
    if let Err(err) = run_logged(install, log) {
        bail!(
            "apt-get install {} failed: {err:#}\n{}",
            packages.join(" "),
            log_hint(log)
        );
    }
    Ok(())
}

/// Creates (or empties) `<dir>/<name>.log` and returns its path.
fn fresh_log(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let log = log_path(dir, name);
    File::create(&log).with_context(|| format!("could not create {}", log.display()))?;
    Ok(log)
}

/// `<dir>/<name>.log`, the log of the service or step `name`.
fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// Runs `command` to completion with stdin from /dev/null and stdout and
/// stderr appended to `log`; fails when it cannot be spawned or exits non-zero.
fn run_logged(mut command: Command, log: &Path) -> anyhow::Result<()> {
    let open = || {
        File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("could not open {}", log.display()))
    };
    let description = format!("{command:?}");
    let status = command
        .stdin(Stdio::null())
        .stdout(open()?)
        .stderr(open()?)
        .status()
        .with_context(|| format!("could not spawn {description}"))?;
    if !status.success() {
        bail!("{description} exited with {status}");
    }
    Ok(())
}

/// A command run as root: directly when we are root, through `sudo -n` when
/// we are not and sudo exists, else directly (and it may fail for lack of
/// privileges, which its log then says).
fn privileged(program: &str) -> Command {
    if !is_root() && find_on_path("sudo").is_some() {
        let mut command = Command::new("sudo");
        command.args(["-n", program]);
        command
    } else {
        Command::new(find_on_path(program).unwrap_or_else(|| PathBuf::from(program)))
    }
}

/// Whether xtask runs as root, according to `id -u`.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// The PostgreSQL major versions configured under `/etc/postgresql`, sorted.
fn postgres_versions() -> anyhow::Result<Vec<String>> {
    let entries =
        fs::read_dir(POSTGRES_ETC).with_context(|| format!("could not list {POSTGRES_ETC}"))?;
    let mut versions = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("could not list {POSTGRES_ETC}"))?;
        if entry.path().is_dir() {
            versions.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    versions.sort();
    Ok(versions)
}

/// The full path of `program` if it is an executable file on `PATH` or in
/// one of the sbin directories (which a non-root `PATH` often lacks).
fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// "see <log>" followed by the last lines of the log, for error messages.
fn log_hint(log: &Path) -> String {
    let mut text = String::new();
    if File::open(log)
        .and_then(|mut file| file.read_to_string(&mut text))
        .is_err()
    {
        return format!("see {}", log.display());
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(20)..];
    if tail.is_empty() {
        format!("see {} (empty)", log.display())
    } else {
        format!(
            "see {}; its last lines:\n    {}",
            log.display(),
            tail.join("\n    ")
        )
    }
}

/// Where xtask's PgBouncer keeps its configuration, auth file and pid file:
/// `target/xtask/pgbouncer/`. Its log is the service log,
/// `target/xtask/pgbouncer.log`, like the start output of every service.
fn pgbouncer_dir(log_dir: &Path) -> PathBuf {
    log_dir.join(Service::PgBouncer.name())
}

/// The configuration of xtask's PgBouncer, whose files live in `dir` and whose
/// log is `log`.
///
/// - Transaction pooling, at most two server connections per database and
///   user, so that consecutive transactions of one client, and those of
///   different clients, share server connections. `server_reset_query` is
///   empty: transaction pooling never runs it, so nothing cleans a server
///   connection between clients, which is what the tests need to see.
/// - Every database name is passed on to PostgreSQL on 127.0.0.1:5432 (`*`),
///   and a client reaches PostgreSQL as the role it connected as.
/// - No password: `auth_type = trust` only accepts users listed in the
///   `auth_file`, which lists `postgres`; any other role (the tests'
///   throwaway `graft_role_*`) is looked up in `pg_authid` through
///   `auth_user = postgres` (it must exist and have `LOGIN`). `auth_type =
///   any` would not do: it needs a fixed server user for every database.
/// - PgBouncer 1.18 (Debian 12) cannot keep named prepared statements
///   apart: a statement prepared in one transaction may be missing in the
///   next, or left on a connection for another client to collide with.
///   (1.21 and later can, with `max_prepared_statements`; 1.18 refuses to
///   start with that key, so it is not set, and a newer PgBouncer may keep
///   prepared statements by default.)
/// - The `options` startup parameter (`?options=-c search_path=...` in a
///   URL) is accepted but dropped: PgBouncer 1.18 cannot pass it on.
///   `extra_float_digits`, which some drivers send, is dropped too.
///   `application_name` needs no entry, PgBouncer passes it on itself.
/// - Idle server connections close after 10 s, so that the pools of many
///   throwaway roles cannot hold PostgreSQL's 100 connections for long.
/// - TCP on 127.0.0.1:6432 only (no Unix socket); `postgres` may use the
///   admin console (`SHOW POOLS` in the database `pgbouncer`).
fn pgbouncer_config(dir: &Path, log: &Path) -> String {
    let port = Service::PgBouncer.port();
    let postgres = Service::Postgres.port();
    let dir = dir.display();
    let log = log.display();
    format!(
        "\
;; Written by `cargo xtask` (xtask/src/services.rs) each time it runs;
;; edit that file, not this one.

[databases]
* = host=127.0.0.1 port={postgres}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
pool_mode = transaction
default_pool_size = 2
max_client_conn = 500
server_reset_query =
server_idle_timeout = 10
auth_type = trust
auth_file = {dir}/userlist.txt
auth_user = {PGBOUNCER_USER}
admin_users = {PGBOUNCER_USER}
ignore_startup_parameters = extra_float_digits,options
pidfile = {dir}/pgbouncer.pid
logfile = {log}
log_connections = 0
log_disconnections = 0
"
    )
}

/// Writes the configuration and auth file of xtask's PgBouncer (see
/// [`pgbouncer_config`]) where they differ from what is there; returns the
/// configuration's path and whether anything changed.
fn write_pgbouncer_config(log_dir: &Path) -> anyhow::Result<(PathBuf, bool)> {
    let dir = pgbouncer_dir(log_dir);
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let log = log_path(log_dir, Service::PgBouncer.name());
    let ini = dir.join("pgbouncer.ini");
    let mut changed = false;
    for (path, text) in [
        (
            dir.join("userlist.txt"),
            format!("\"{PGBOUNCER_USER}\" \"\"\n"),
        ),
        (ini.clone(), pgbouncer_config(&dir, &log)),
    ] {
        if fs::read_to_string(&path).is_ok_and(|old| old == text) {
            continue;
        }
        fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
        changed = true;
    }
    Ok((ini, changed))
}

/// The pgbouncer processes that run, as their pid and command line.
fn pgbouncer_processes() -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let command = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            if command.trim() != "pgbouncer" {
                return None;
            }
            let line = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = line
                .split(|&byte| byte == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            // A zombie, which has exited, has no command line.
            (!args.is_empty()).then_some((pid, args))
        })
        .collect()
}

/// The pid of xtask's PgBouncer for this checkout, if it runs: the pgbouncer
/// process started with `ini`. Found by its command line rather than its pid
/// file, so that it is found even after `cargo clean` removed its files.
fn pgbouncer_pid(ini: &Path) -> Option<u32> {
    let ini = ini.to_string_lossy();
    pgbouncer_processes()
        .into_iter()
        .find(|(_, args)| args.iter().any(|arg| *arg == ini))
        .map(|(pid, _)| pid)
}

/// What listens on PgBouncer's port: xtask's own instance is usable (true)
/// unless its files changed or disappeared since it started; then it is shut
/// down to be started again (false). Anything else is stopped on CI, taken to
/// be the pgbouncer package's service (false, the port is free again), and is
/// an error elsewhere.
fn check_pgbouncer(log_dir: &Path) -> anyhow::Result<bool> {
    let service = Service::PgBouncer;
    let dir = pgbouncer_dir(log_dir);
    let ini = dir.join("pgbouncer.ini");
    if let Some(pid) = pgbouncer_pid(&ini) {
        let pid_file = dir.join("pgbouncer.pid");
        let had_pid_file = pid_file.is_file();
        let (_, changed) = write_pgbouncer_config(log_dir)?;
        if had_pid_file && !changed {
            return Ok(true);
        }
        println!(
            "pgbouncer: {} changed or was removed since it started; restarting it",
            ini.display()
        );
        // An immediate shutdown: a safe one (SIGINT) waits for every client.
        let log = log_path(log_dir, service.name());
        let mut stop = Command::new("kill");
        stop.args(["-TERM", &pid.to_string()]);
        run_logged(stop, &log).context("pgbouncer: could not stop it")?;
        if !service.wait_until(false) {
            bail!(
                "pgbouncer: still listening on 127.0.0.1:{} after `kill -TERM {pid}`",
                service.port()
            );
        }
        return Ok(false);
    }

    // xtask's instance of another checkout (a clean clone's CI run, a second worktree): a
    // test fixture like this one, but its files are not this checkout's; replace it.
    let others: Vec<u32> = pgbouncer_processes()
        .into_iter()
        .filter(|(_, args)| {
            args.iter()
                .any(|arg| arg.ends_with("target/xtask/pgbouncer/pgbouncer.ini"))
        })
        .map(|(pid, _)| pid)
        .collect();
    if !others.is_empty() {
        println!(
            "pgbouncer: stopping another checkout's instance ({others:?}) to start this one's"
        );
        let log = fresh_log(log_dir, "pgbouncer-replace")?;
        for pid in &others {
            let mut stop = Command::new("kill");
            stop.args(["-TERM", &pid.to_string()]);
            run_logged(stop, &log).context("pgbouncer: could not stop it")?;
        }
        if !service.wait_until(false) {
            bail!(
                "pgbouncer: still listening on 127.0.0.1:{} after stopping {others:?}",
                service.port()
            );
        }
        return Ok(false);
    }

    let mut what = format!(
        "something other than xtask's PgBouncer (`pgbouncer {}`) listens on 127.0.0.1:{}",
        ini.display(),
        service.port(),
    );
    for (pid, args) in pgbouncer_processes() {
        what.push_str(&format!("; pgbouncer {pid} runs `{}`", args.join(" ")));
    }
    if !is_ci() {
        bail!(
            "pgbouncer: {what}. The tests need xtask's own instance, which pools in transaction \
             mode: stop the other one (the pgbouncer package's service with `sudo systemctl \
             disable --now pgbouncer`) and run xtask again"
        );
    }
    println!("pgbouncer: {what}; stopping the pgbouncer package's service");
    let log = fresh_log(log_dir, "pgbouncer-package")?;
    let mut stop = privileged("service");
    stop.args(["pgbouncer", "stop"]);
    if let Err(err) = run_logged(stop, &log) {
        bail!(
            "pgbouncer: could not stop the package's service: {err:#}\n{}",
            log_hint(&log)
        );
    }
    if !service.wait_until(false) {
        bail!(
            "pgbouncer: {what}, and it still does after `service pgbouncer stop`\n{}",
            log_hint(&log)
        );
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbouncer_pools_transactions_in_front_of_postgres() {
        let dir = Path::new("/repo/target/xtask/pgbouncer");
        let config = pgbouncer_config(dir, Path::new("/repo/target/xtask/pgbouncer.log"));
        let settings: Vec<&str> = config
            .lines()
            .filter(|line| !line.starts_with(';'))
            .collect();
        for expected in [
            "* = host=127.0.0.1 port=5432",
            "listen_addr = 127.0.0.1",
            "listen_port = 6432",
            "unix_socket_dir =",
            "pool_mode = transaction",
            "default_pool_size = 2",
            "max_client_conn = 500",
            "server_reset_query =",
            "auth_type = trust",
            "auth_file = /repo/target/xtask/pgbouncer/userlist.txt",
            "auth_user = postgres",
            "pidfile = /repo/target/xtask/pgbouncer/pgbouncer.pid",
            "logfile = /repo/target/xtask/pgbouncer.log",
        ] {
            assert!(
                settings.contains(&expected),
                "`{expected}` missing from\n{config}"
            );
        }
    }

    #[test]
    fn pgbouncer_starts_after_postgres() {
        let position = |wanted| Service::ALL.iter().position(|&s| s == wanted);
        assert!(position(Service::Postgres) < position(Service::PgBouncer));
    }
}
