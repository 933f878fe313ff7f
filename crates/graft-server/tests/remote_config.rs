//! `[[remote]]` mistakes that show at start-up, before any query: a route that cannot answer
//! what the schema asks of it, a field the owner does not store, a type that is not an entity.

use std::path::Path;

use graft_server::config::Config;
use graft_server::demo;

/// The remote-orgs users subgraph on a scratch SQLite file, with `remote` as its `[[remote]]`.
async fn start_error(remote: &str) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/remote-orgs/users");
    let database = std::env::temp_dir().join(format!(
        "{}.db",
        graft_testkit::unique_name("remote_config")
    ));
    let text = format!(
        "[schema]\npath = \"users.graphql\"\n[database]\nurl = \"sqlite://{}\"\n\
         setup = [\"{tables}\"]\n{remote}",
        database.display(),
        tables = example.join("../../orgs/sqlite/schema.sql").display(),
    );
    let config = Config::parse(&text, &example.join("test.graft.toml")).expect("valid config");
    let error = match demo::configured_state(&config).await {
        Ok(_) => String::new(),
        Err(error) => error.to_string(),
    };
    let _ = std::fs::remove_file(&database);
    error
}

#[tokio::test]
async fn has_many_over_http_is_refused_at_start_up() {
    let error = start_error(
        "[[remote]]\nname = \"orders\"\ntypes = [\"Order\"]\nroute = \"http\"\nurl = \"http://127.0.0.1:9/graphql\"\n",
    )
    .await;
    assert!(
        error.contains("OrgUser.orders (@hasMany of Order) cannot be read over HTTP"),
        "{error}"
    );
}

#[tokio::test]
async fn a_field_the_owner_does_not_store_is_refused_at_start_up() {
    // An owner whose Order has no `status`, which the users schema shows.
    let owner =
        std::env::temp_dir().join(format!("{}.graphql", graft_testkit::unique_name("owner")));
    std::fs::write(
        &owner,
        r#"type Order @key(fields: "id") @table(name: "orders") { id: ID! orgId: String! userId: String! total: Float! }"#,
    )
    .expect("written");
    let error = start_error(&format!(
        "[[remote]]\nname = \"orders\"\ntypes = [\"Order\"]\nroute = \"db\"\nschema = {:?}\n\
         [remote.database]\nurl = \"mysql://root@127.0.0.1:9/none\"\n",
        owner.display().to_string()
    ))
    .await;
    let _ = std::fs::remove_file(&owner);
    // Refused before any connection: the database URL points nowhere.
    assert!(
        error.contains("[[remote]] orders")
            && error.contains("Order.status: the owner's schema stores no such field"),
        "{error}"
    );
}

#[tokio::test]
async fn a_remote_type_must_be_an_entity_of_the_schema() {
    let error = start_error(
        "[[remote]]\nname = \"orders\"\ntypes = [\"Invoice\"]\nroute = \"http\"\nurl = \"http://127.0.0.1:9/graphql\"\n",
    )
    .await;
    assert!(
        error.contains("[[remote]] orders: types: Invoice is not a resolvable entity type"),
        "{error}"
    );
}
