//! SQL on the machine's PostgreSQL and MariaDB as their admin users (`postgres` with trust auth,
//! `root` without a password, both on 127.0.0.1), through their command-line clients `psql` and
//! `mysql`, for the databases xtask creates and drops itself.

use std::io;
use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, bail};

/// Runs `sql` with `psql` in the `postgres` database; rows come back one a line, unaligned.
pub(crate) fn postgres(sql: &str) -> io::Result<Output> {
    Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .stdin(Stdio::null())
        .output()
}

/// Runs `sql` with `mysql` as root; rows come back one a line, without column names.
pub(crate) fn mariadb(sql: &str) -> io::Result<Output> {
    Command::new("mysql")
        .args(["-uroot", "-h127.0.0.1", "-Nse", sql])
        .stdin(Stdio::null())
        .output()
}

/// The standard output of a client run, or an error naming `what` with the client's stderr.
pub(crate) fn checked(what: &str, output: io::Result<Output>) -> anyhow::Result<String> {
    let output = output.with_context(|| format!("{what}: the client could not be run"))?;
    if !output.status.success() {
        bail!(
            "{what}: {} ({})",
            String::from_utf8_lossy(&output.stderr).trim(),
            output.status
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
