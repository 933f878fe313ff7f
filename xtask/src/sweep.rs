//! Dropping what test processes that died left behind.
//!
//! Tests create PostgreSQL schemas and MariaDB databases named `graft_test_<pid>_...` and drop
//! them when they end. A test process that is killed cannot; before a run, every such name whose
//! process no longer exists is dropped here, so the machine's databases never fill up with them.

use std::path::Path;
use std::process::Command;

/// Drops the leftovers of dead test processes, reporting what it dropped.
pub(crate) fn leftovers() {
    let postgres = |sql: &str| {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-Atc", sql])
            .output()
    };
    let mariadb = |sql: &str| {
        Command::new("mysql")
            .args(["-uroot", "-h127.0.0.1", "-Nse", sql])
            .output()
    };
    sweep(
        "PostgreSQL schema",
        || postgres("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'graft\\_test\\_%'"),
        |name| postgres(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")),
    );
    sweep(
        "MariaDB database",
        || mariadb("SHOW DATABASES LIKE 'graft\\_test\\_%'"),
        |name| mariadb(&format!("DROP DATABASE IF EXISTS `{name}`")),
    );
}

fn sweep(
    what: &str,
    list: impl Fn() -> std::io::Result<std::process::Output>,
    drop: impl Fn(&str) -> std::io::Result<std::process::Output>,
) {
    let Ok(output) = list() else { return };
    for name in String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
    {
        if owner_is_gone(name) && drop(name).is_ok_and(|o| o.status.success()) {
            println!("xtask: dropped {what} {name}, left by a test process that no longer runs");
        }
    }
}

/// Whether the process whose id is in `name` (`graft_test_<pid>_...`) has ended.
fn owner_is_gone(name: &str) -> bool {
    let Some(pid) = name
        .strip_prefix("graft_test_")
        .and_then(|rest| rest.split('_').next())
    else {
        return false;
    };
    pid.chars().all(|c| c.is_ascii_digit()) && !Path::new("/proc").join(pid).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_dead_processes_are_swept() {
        let alive = format!("graft_test_{}_0_1", std::process::id());
        assert!(!owner_is_gone(&alive));
        assert!(owner_is_gone("graft_test_4294967_0_1"));
        assert!(!owner_is_gone("graft_bench"));
        assert!(!owner_is_gone("graft_test_x_0"));
    }
}
