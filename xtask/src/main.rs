//! `cargo xtask`: project automation for graft.
//!
//! Run it through the cargo alias defined in `.cargo/config.toml`:
//!
//! ```text
//! cargo xtask test [extra nextest args]   start local services, run the whole test suite,
//!                                         then (without extra args) the federation e2e
//! cargo xtask ci                          fmt check, clippy, then the same as `test`
//! cargo xtask services                    only make sure the local services are up
//! cargo xtask e2e [--router PATH] [filters]  graft subgraphs under Apollo Gateway or Router
//! cargo xtask compose NAME=URL...         the supergraph SDL of running subgraphs (Node.js)
//! cargo xtask bench [args]                release build, then the end-to-end benchmark
//! ```
//!
//! Only `std::process::Command` is used to spawn programs; every cargo
//! command runs in the workspace root and its exit status becomes the exit
//! status of xtask.

mod cargo;
mod e2e;
mod services;
mod sql;
mod sweep;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use std::process::ExitCode;

/// Usage text printed by `cargo xtask help` and on a wrong invocation.
const USAGE: &str = "\
usage: cargo xtask <subcommand> [args]

subcommands:
  test [args...]  make sure PostgreSQL, MariaDB, Redis and PgBouncer are up, then run
                  `cargo nextest run --workspace --all-targets --no-fail-fast [args...]`
                  (falls back to `cargo test` when cargo-nextest is not installed),
                  then, when no args are given, the same as `e2e`
  ci              `cargo fmt --all -- --check`, `cargo clippy --workspace --all-targets
                  -- -D warnings`, then the same as `test`
  services        only make sure PostgreSQL (5432), MariaDB (3306), Redis (6379) and
                  PgBouncer (6432, transaction pooling in front of PostgreSQL, configured
                  in target/xtask/pgbouncer/) are listening on 127.0.0.1
  e2e [--router PATH] [filters]
                  federation end to end: graft subgraphs composed and queried under a
                  real Apollo gateway (needs Node.js 20+ and npm; packages go to
                  target/e2e/), or under Apollo Router's `router` binary at PATH;
                  filters select checks by name
  compose [--output FILE] NAME=URL...
                  fetch each running subgraph's `_service { sdl }` and print (or write to
                  FILE) their supergraph SDL, composed with @apollo/composition (Node.js)
  bench [args]    build release, then run benches/ (graft vs bare SQL vs N+1 on
                  SQLite, PostgreSQL and MariaDB); results in target/bench/
  help            print this message

environment:
  CI              when set, services that are not installed are installed with apt-get";

/// Exit code for a wrong invocation (unknown subcommand, unexpected arguments)
/// and for subcommands that do not exist yet.
const USAGE_EXIT: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Dispatches one invocation of `cargo xtask`.
fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let Some((subcommand, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return Ok(ExitCode::from(USAGE_EXIT));
    };
    let root = workspace_root();
    match subcommand.as_str() {
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "test" => test(&root, rest),
        "ci" => {
            if !rest.is_empty() {
                eprintln!("xtask: `ci` takes no arguments (got {rest:?})\n\n{USAGE}");
                return Ok(ExitCode::from(USAGE_EXIT));
            }
            ci(&root)
        }
        "services" => {
            if !rest.is_empty() {
                eprintln!("xtask: `services` takes no arguments (got {rest:?})\n\n{USAGE}");
                return Ok(ExitCode::from(USAGE_EXIT));
            }
            services::ensure_up(&root)?;
            Ok(ExitCode::SUCCESS)
        }
        "e2e" => e2e::run(&root, rest),
        "compose" => e2e::compose(&root, rest),
        "bench" => bench(&root, rest),
        other => {
            eprintln!("xtask: unknown subcommand `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(USAGE_EXIT))
        }
    }
}

/// `cargo xtask ci`: formatting, lints, then the test suite; stops at the
/// first step that fails and exits with its status.
fn ci(root: &Path) -> anyhow::Result<ExitCode> {
    let fmt = cargo::run(root, &["fmt", "--all", "--", "--check"])?;
    if !fmt.success() {
        eprintln!("xtask: `cargo fmt --check` failed; run `cargo fmt --all` and commit the result");
        return Ok(cargo::exit_code(fmt));
    }
    let clippy = cargo::run(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    if !clippy.success() {
        eprintln!("xtask: clippy reported problems");
        return Ok(cargo::exit_code(clippy));
    }
    test(root, &[])
}

/// `cargo xtask test [args]`: the services, the test suite, then the federation e2e. With
/// extra arguments (a test filter, say) only the suite runs. Both run even if the suite fails;
/// the exit status is the first failure's.
fn test(root: &Path, args: &[String]) -> anyhow::Result<ExitCode> {
    services::ensure_up(root)?;
    sweep::leftovers();
    let suite = cargo::run_tests(root, args)?;
    if !args.is_empty() {
        println!(
            "xtask: extra arguments given, so the federation e2e is skipped (run `cargo xtask e2e`)"
        );
        return Ok(suite);
    }
    let e2e = e2e::run(root, &[])?;
    Ok(if suite == ExitCode::SUCCESS {
        e2e
    } else {
        suite
    })
}

/// `cargo xtask bench [args]`: builds graft and the benchmark in release mode, makes sure the
/// databases are up, and runs `graft-bench` (arguments are passed on; see `benches/src/main.rs`).
fn bench(root: &Path, args: &[String]) -> anyhow::Result<ExitCode> {
    let build = cargo::run(
        root,
        &[
            "build",
            "--release",
            "-p",
            "graft-server",
            "-p",
            "graft-bench",
        ],
    )?;
    if !build.success() {
        return Ok(cargo::exit_code(build));
    }
    services::ensure_up(root)?;
    let status = std::process::Command::new(root.join("target/release/graft-bench"))
        .args(["--graft", "target/release/graft", "--out", "target/bench"])
        .args(args)
        .current_dir(root)
        .status()
        .context("running target/release/graft-bench")?;
    Ok(cargo::exit_code(status))
}

/// The workspace root: the parent of the xtask package directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}
