//! Spawning cargo in the workspace root and turning its exit status into
//! xtask's own exit status.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus, Stdio};

use anyhow::Context as _;

/// The cargo binary to spawn: the one running xtask (`$CARGO`), else `cargo`
/// from `PATH`.
fn cargo_bin() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// Runs `cargo <args>` in `root` with inherited stdio, echoing the command
/// line first, and returns its exit status.
pub(crate) fn run<S: AsRef<str>>(root: &Path, args: &[S]) -> anyhow::Result<ExitStatus> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    println!("$ cargo {}", args.join(" "));
    Command::new(cargo_bin())
        .args(&args)
        .current_dir(root)
        .status()
        .with_context(|| format!("could not spawn `cargo {}`", args.join(" ")))
}

/// Maps a child's exit status to xtask's exit code: success stays success,
/// a failing exit code is kept (clamped to 1..=255), death by signal is 1.
pub(crate) fn exit_code(status: ExitStatus) -> ExitCode {
    if status.success() {
        return ExitCode::SUCCESS;
    }
    let code = status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .filter(|&code| code != 0)
        .unwrap_or(1);
    ExitCode::from(code)
}

/// Whether `cargo nextest` is available.
fn nextest_installed(root: &Path) -> bool {
    Command::new(cargo_bin())
        .args(["nextest", "--version"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs the whole test suite: `cargo nextest run --workspace --all-targets
/// --no-fail-fast <extra>`, or `cargo test` with the same target selection
/// when cargo-nextest is not installed.
pub(crate) fn run_tests(root: &Path, extra: &[String]) -> anyhow::Result<ExitCode> {
    let mut args: Vec<&str> = if nextest_installed(root) {
        vec!["nextest", "run"]
    } else {
        eprintln!(
            "note: cargo-nextest is not installed, falling back to `cargo test` \
             (install it with `cargo install cargo-nextest --locked`)"
        );
        vec!["test"]
    };
    args.extend(["--workspace", "--all-targets", "--no-fail-fast"]);
    args.extend(extra.iter().map(String::as_str));
    let status = run(root, &args)?;
    if !status.success() {
        eprintln!("xtask: the test suite failed ({status})");
    }
    Ok(exit_code(status))
}
