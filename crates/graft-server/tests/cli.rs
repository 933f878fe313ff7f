//! The `graft` binary's commands, run as a user runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(path)
}

fn graft(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(args)
        .output()
        .expect("graft runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn check_reads_schemas_with_graft_mapping_directives() {
    let users = example("federated-orgs/users.graphql");
    let orders = example("federated-orgs/orders.graphql");
    let products = example("compat-products/schema.graphql");
    let (ok, text) = graft(&[
        "check".as_ref(),
        users.as_os_str(),
        orders.as_os_str(),
        products.as_os_str(),
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("3 subgraphs: entity keys are compatible"),
        "{text}"
    );
}

#[test]
fn check_reports_a_key_the_owner_cannot_resolve() {
    let directory = std::env::temp_dir().join(format!("graft_cli_{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    let referrer = directory.join("referrer.graphql");
    std::fs::write(
        &referrer,
        r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Order @key(fields: "id") @table(name: "orders") { id: ID! user: OrgUser @belongsTo(fields: "userEmail") userEmail: String }
type OrgUser @key(fields: "email", resolvable: false) { email: String! }
"#,
    )
    .expect("written");
    let owner = example("federated-orgs/users.graphql");
    let (ok, text) = graft(&["check".as_ref(), referrer.as_os_str(), owner.as_os_str()]);
    let _ = std::fs::remove_dir_all(&directory);
    assert!(!ok, "{text}");
    assert!(text.contains("OrgUser"), "{text}");
    assert!(text.contains("key mismatch"), "{text}");
}

/// README's first hour: `graft init` on the music example writes a schema with its relations
/// named both ways, `--check` passes on it and names a column an edited copy no longer maps.
#[tokio::test]
async fn init_writes_a_schema_and_check_names_what_an_edited_one_misses() {
    let script = std::fs::read_to_string(example("music/postgres.sql")).expect("the example");
    let database = graft_testkit::PgSchema::create(&script).await;
    let url = database.url();
    let directory = std::env::temp_dir().join(graft_testkit::unique_name("graft_cli_init"));
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    let written = directory.join("schema.graphql");
    let edited = directory.join("edited.graphql");

    let (init_ok, init_text) = graft(&[
        "init".as_ref(),
        "--database".as_ref(),
        url.as_ref(),
        "--output".as_ref(),
        written.as_os_str(),
    ]);
    let sdl = std::fs::read_to_string(&written).unwrap_or_default();
    std::fs::write(&edited, sdl.replace("  email: String!\n", "")).expect("written");
    let (check_ok, check_text) = graft(&[
        "init".as_ref(),
        "--database".as_ref(),
        url.as_ref(),
        "--check".as_ref(),
        written.as_os_str(),
    ]);
    let (edited_ok, edited_text) = graft(&[
        "init".as_ref(),
        "--database".as_ref(),
        url.as_ref(),
        "--check".as_ref(),
        edited.as_os_str(),
    ]);
    let _ = std::fs::remove_dir_all(&directory);

    assert!(init_ok, "{init_text}");
    for expected in [
        "employeeByReportsTo: Employee @belongsTo(fields: \"reportsTo\")",
        "employeesByReportsTo: [Employee!]! @hasMany(fields: \"reportsTo\")",
        "invoicesByBillingContactId: [Invoice!]!",
        "type PlaylistTrack @key(fields: \"playlistId position\")",
        "total: Decimal!",
        "externalId: UUID",
    ] {
        assert!(sdl.contains(expected), "no {expected:?} in\n{sdl}");
    }
    assert!(check_ok, "{check_text}");
    assert!(
        check_text.contains("maps every table and column"),
        "{check_text}"
    );
    assert!(!edited_ok, "{edited_text}");
    assert!(
        edited_text.contains("column customer.email"),
        "{edited_text}"
    );
}
