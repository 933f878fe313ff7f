//! `cargo xtask e2e`: graft's subgraphs composed and queried under a real Apollo gateway,
//! without Docker.
//!
//! 1. Node.js (20 or later) and npm must be on `PATH`; without them the e2e fails, it never
//!    passes silently.
//! 2. `xtask/e2e/package.json` and `package-lock.json` are copied into `target/e2e/`, where
//!    `npm ci` runs only when they changed since the last install (a stamp file keeps the
//!    installed copy). The scripts (`*.mjs`, `checks/`) are copied next to them.
//! 3. The dev `graft` binary is built, and every subgraph of [`SUBGRAPHS`] is started, on a
//!    freshly seeded SQLite file, with `--listen 127.0.0.1:0` from the workspace root; the bound address is read
//!    from graft's `graft listening on http://…/graphql` line, then `/health` is polled. Each
//!    subgraph's log goes to `target/e2e/<name>.log`. A guard kills every subgraph when xtask
//!    returns, also on failure.
//! 4. `node run.mjs [filters]` composes the subgraphs with the reference ones, starts the
//!    gateway and runs the checks (see `xtask/e2e/run.mjs`); its exit status is xtask's.

use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cargo;

/// One graft subgraph the e2e starts.
struct Subgraph {
    /// The subgraph's name in the composition (and in the checks).
    name: &'static str,
    /// Its `graft.toml`, relative to the workspace root.
    config: &'static str,
    /// The SQLite file its config names, relative to the workspace root: removed before the
    /// start, so that every run seeds it afresh from the example's scripts.
    database: &'static str,
}

/// The graft subgraphs, in composition order.
const SUBGRAPHS: &[Subgraph] = &[
    Subgraph {
        name: "orgs-users",
        config: "examples/federated-orgs/users.graft.toml",
        database: "target/federated-orgs-users.db",
    },
    Subgraph {
        name: "orgs-orders",
        config: "examples/federated-orgs/orders.graft.toml",
        database: "target/federated-orgs-orders.db",
    },
    // The compatibility suite's subgraph under test; run.mjs adds the reference `inventory`
    // subgraph to compose with it.
    Subgraph {
        name: "products",
        config: "examples/compat-products/graft.toml",
        database: "target/compat-products.db",
    },
];

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

/// `cargo xtask e2e [filters]`: see the module documentation. `filters` go to run.mjs, which
/// runs only the checks whose name contains one of them.
pub(crate) fn run(root: &Path, filters: &[String]) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
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

    let mut running = Running::default();
    let mut urls = Vec::new();
    for subgraph in SUBGRAPHS {
        let config = root.join(subgraph.config);
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let stale = root.join(format!("{}{suffix}", subgraph.database));
            if stale.exists() {
                std::fs::remove_file(&stale)
                    .with_context(|| format!("removing {}", stale.display()))?;
            }
        }
        if !config.is_file() {
            bail!(
                "{}: the config of subgraph {} is missing",
                subgraph.config,
                subgraph.name
            );
        }
        let address = running.start(root, &graft, subgraph, &work)?;
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
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running `node run.mjs` in {}", work.display()))?;
    drop(running);
    println!("e2e: finished in {:.1} s", started.elapsed().as_secs_f64());
    if !status.success() {
        eprintln!("xtask: the federation e2e failed ({status})");
    }
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

/// `text` as a JSON string literal.
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
        work: &Path,
    ) -> anyhow::Result<SocketAddr> {
        let log_path = work.join(format!("{}.log", subgraph.name));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut child = Command::new(graft)
            .args([
                "serve",
                "--config",
                subgraph.config,
                "--listen",
                "127.0.0.1:0",
            ])
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
                subgraph.config,
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
        for subgraph in SUBGRAPHS {
            let config = std::fs::read_to_string(root.join(subgraph.config))
                .unwrap_or_else(|e| panic!("{}: {e}", subgraph.config));
            assert!(
                config.contains(&format!("sqlite://{}", subgraph.database)),
                "{} does not name {}",
                subgraph.config,
                subgraph.database
            );
        }
    }
}
