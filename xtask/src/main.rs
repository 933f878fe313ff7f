//! `cargo xtask`: project automation for graft.
//!
//! Run it through the cargo alias defined in `.cargo/config.toml`:
//!
//! ```text
//! cargo xtask test [extra nextest args]   start local services, run the whole test suite
//! cargo xtask ci                          fmt check, clippy, then the same as `test`
//! cargo xtask services                    only make sure the local services are up
//! cargo xtask bench [args]              release build, then the end-to-end benchmark
//! ```
//!
//! Only `std::process::Command` is used to spawn programs; every cargo
//! command runs in the workspace root and its exit status becomes the exit
//! status of xtask.

mod cargo;
mod services;
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
  test [args...]  make sure PostgreSQL, MariaDB and Redis are up, then run
                  `cargo nextest run --workspace --all-targets --no-fail-fast [args...]`
                  (falls back to `cargo test` when cargo-nextest is not installed)
  ci              `cargo fmt --all -- --check`, `cargo clippy --workspace --all-targets
                  -- -D warnings`, then the same as `test`
  services        only make sure PostgreSQL (5432), MariaDB (3306) and Redis (6379)
                  are listening on 127.0.0.1
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
        "test" => {
            services::ensure_up(&root)?;
            sweep::leftovers();
            cargo::run_tests(&root, rest)
        }
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
    services::ensure_up(root)?;
    sweep::leftovers();
    cargo::run_tests(root, &[])
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
