//! Dropping what test processes and e2e runs that died left behind.
//!
//! Tests create PostgreSQL schemas and MariaDB databases named `graft_test_<pid>_...`, and
//! `cargo xtask e2e` PostgreSQL and MariaDB databases named `graft_e2e_<pid>_...`; each drops
//! them when it ends. A process that is killed cannot; before a run, every such name whose
//! process no longer exists is dropped here, so the machine's databases never fill up with them.

use std::path::Path;

use crate::sql;

/// The prefixes of the names tests and e2e runs give what they create, before their pid.
const PREFIXES: [&str; 2] = ["graft_test_", "graft_e2e_"];

/// Drops the leftovers of dead test processes and e2e runs, reporting what it dropped.
pub(crate) fn leftovers() {
    sweep(
        "PostgreSQL schema",
        || sql::postgres("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'graft\\_test\\_%'"),
        |name| sql::postgres(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")),
    );
    sweep(
        "PostgreSQL database",
        || sql::postgres("SELECT datname FROM pg_database WHERE datname LIKE 'graft\\_e2e\\_%'"),
        |name| sql::postgres(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")),
    );
    for prefix in PREFIXES {
        let pattern = prefix.replace('_', "\\_");
        sweep(
            "MariaDB database",
            || sql::mariadb(&format!("SHOW DATABASES LIKE '{pattern}%'")),
            |name| sql::mariadb(&format!("DROP DATABASE IF EXISTS `{name}`")),
        );
    }
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
            println!("xtask: dropped {what} {name}, left by a process that no longer runs");
        }
    }
}

/// Whether the process whose id is in `name` (`graft_test_<pid>_...`, `graft_e2e_<pid>_...`)
/// has ended.
fn owner_is_gone(name: &str) -> bool {
    let Some(pid) = PREFIXES
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
        .and_then(|rest| rest.split('_').next())
    else {
        return false;
    };
    !pid.is_empty()
        && pid.chars().all(|c| c.is_ascii_digit())
        && !Path::new("/proc").join(pid).exists()
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
        assert!(!owner_is_gone("graft_test__0"));
        let alive = format!("graft_e2e_{}_users", std::process::id());
        assert!(!owner_is_gone(&alive));
        assert!(owner_is_gone("graft_e2e_4294967_orders"));
        assert!(!owner_is_gone("graft_e2e_users"));
    }
}
