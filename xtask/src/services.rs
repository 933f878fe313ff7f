//! The local services the test suite talks to: PostgreSQL on 5432, MariaDB
//! on 3306 and Redis on 6379, all on 127.0.0.1.
//!
//! A service counts as up when a TCP connection to its port succeeds. Services
//! that are down are started (and, when `CI` is set and the binaries are
//! missing, installed with apt-get first); xtask then waits for their ports.
//! The output of every start or install command goes to a log file under
//! `target/xtask/`, never to xtask's own stdout, so that a daemon cannot keep
//! the caller's pipe open.

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

/// One service the test suite needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    /// PostgreSQL, every cluster named `main` under `/etc/postgresql`.
    Postgres,
    /// MariaDB, started directly with start-stop-daemon.
    MariaDb,
    /// Redis, without persistence.
    Redis,
}

impl Service {
    /// Every service, in the order they are checked and started.
    const ALL: [Service; 3] = [Service::Postgres, Service::MariaDb, Service::Redis];

    /// The name printed in status lines.
    fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::MariaDb => "mariadb",
            Service::Redis => "redis",
        }
    }

    /// The TCP port the service listens on.
    fn port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::MariaDb => 3306,
            Service::Redis => 6379,
        }
    }

    /// The Debian/Ubuntu package that provides the service.
    fn apt_package(self) -> &'static str {
        match self {
            Service::Postgres => "postgresql",
            Service::MariaDb => "mariadb-server",
            Service::Redis => "redis-server",
        }
    }

    /// What has to be present for xtask to be able to start the service.
    fn requirement(self) -> &'static str {
        match self {
            Service::Postgres => "`pg_ctlcluster` and a cluster under /etc/postgresql",
            Service::MariaDb => "/usr/sbin/mariadbd",
            Service::Redis => "`redis-server`",
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
        }
    }

    /// Whether something accepts TCP connections on the service's port.
    fn is_up(self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port()));
        TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok()
    }

    /// Waits until the port accepts connections or [`START_TIMEOUT`] passes.
    fn wait_until_up(self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.is_up() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Runs the start command(s) of the service, logging to `log`.
    fn start(self, log: &Path) -> anyhow::Result<()> {
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
    let down: Vec<Service> = services
        .iter()
        .copied()
        .filter(|&service| {
            let up = service.is_up();
            if up {
                println!("{}: up (already running)", service.name());
            }
            !up
        })
        .collect();
    if down.is_empty() {
        return Ok(());
    }

    let log_dir = root.join("target").join("xtask");

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
        if service.is_up() {
            println!("{}: up ({how} by its package)", service.name());
            continue;
        }
        let log = fresh_log(&log_dir, service.name())?;
        if let Err(err) = service.start(&log) {
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

/// Installs the packages of `missing` with one `apt-get update` and one
/// `apt-get install`.
fn install(missing: &[Service], log: &Path) -> anyhow::Result<()> {
    let packages: Vec<&str> = missing
        .iter()
        .map(|service| service.apt_package())
        .collect();
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
    install.args(&packages);
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
    let log = dir.join(format!("{name}.log"));
    File::create(&log).with_context(|| format!("could not create {}", log.display()))?;
    Ok(log)
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
