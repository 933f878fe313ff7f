//! `graft init` on a fixture of related tables (composite key, self-reference, two foreign
//! keys to one table, decimal, timestamp, date, uuid) on PostgreSQL, MariaDB and SQLite: the
//! starter schema names relations the same way on every backend, is served as written, and
//! its queries answer with exact decimals and ISO dates.

mod common;

use graft_testkit::{MyDatabase, PgSchema};
use serde_json::{Value, json};

/// The fixture, with `{decimal}`, `{timestamp}`, `{date}` and `{uuid}` in each backend's words.
const FIXTURE: &str = "
CREATE TABLE employee (employee_id INT PRIMARY KEY, last_name VARCHAR(40) NOT NULL,
  reports_to INT REFERENCES employee (employee_id), hired_at {timestamp} NOT NULL);
CREATE TABLE customer (customer_id INT PRIMARY KEY, name VARCHAR(40) NOT NULL,
  support_rep_id INT REFERENCES employee (employee_id), external_id {uuid});
CREATE TABLE transfer (transfer_id INT PRIMARY KEY,
  from_customer INT NOT NULL REFERENCES customer (customer_id),
  to_customer INT NOT NULL REFERENCES customer (customer_id),
  amount {decimal} NOT NULL, booked_on {date} NOT NULL);
CREATE TABLE playlist (playlist_id INT PRIMARY KEY, name VARCHAR(40));
CREATE TABLE playlist_track (playlist_id INT NOT NULL REFERENCES playlist (playlist_id),
  position INT NOT NULL, title VARCHAR(40) NOT NULL, PRIMARY KEY (playlist_id, position));
INSERT INTO employee VALUES (1, 'Adams', NULL, '2026-01-02 09:00:00'), (2, 'Edwards', 1, '2026-02-03 10:30:00');
INSERT INTO customer VALUES (10, 'Gonçalves', 2, NULL), (11, 'Köhler', 2, NULL);
INSERT INTO transfer VALUES (100, 10, 11, 12.50, '2026-03-04');
INSERT INTO playlist VALUES (7, 'Music');
INSERT INTO playlist_track VALUES (7, 1, 'For Those About To Rock'), (7, 2, 'Balls to the Wall');
";

fn fixture(decimal: &str, timestamp: &str, date: &str, uuid: &str) -> String {
    FIXTURE
        .replace("{decimal}", decimal)
        .replace("{timestamp}", timestamp)
        .replace("{date}", date)
        .replace("{uuid}", uuid)
}

/// The relations of `sdl` as graft maps them, `Type.field -> Target`, sorted.
fn relations(sdl: &str) -> Vec<String> {
    let schema = graft_schema::SubgraphSchema::parse(sdl, "starter.graphql").expect("valid");
    let mut found: Vec<String> = schema
        .mappings()
        .flat_map(|mapping| {
            mapping.relations.iter().map(|relation| {
                format!(
                    "{}.{} -> {}",
                    mapping.type_name, relation.field, relation.target
                )
            })
        })
        .collect();
    found.sort();
    found
}

/// `graft init` on `url`, then graft serving what it wrote; the SDL and the answer to a query
/// through every relation.
async fn init_and_serve(url: &str) -> (String, Value) {
    let tables = graft_server::demo::describe_tables(url)
        .await
        .expect("describes the tables");
    let sdl = graft_schema::starter_sdl(&tables);
    let dir = std::env::temp_dir().join(graft_testkit::unique_name("graft_init"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("schema.graphql"), &sdl).unwrap();
    let text = format!("[schema]\npath = \"schema.graphql\"\n[database]\nurl = \"{url}\"\n");
    let config = graft_server::config::Config::parse(&text, &dir.join("graft.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{sdl}"));
    let state = graft_server::demo::configured_state(&config)
        .await
        .unwrap_or_else(|e| panic!("graft serves the starter schema: {e}\n{sdl}"));
    let address = common::serve(state).await;
    let reply = common::graphql(
        address,
        json!({ "query": r#"{
          employee(employeeId: "2") {
            lastName hiredAt
            employeeByReportsTo { lastName }
            customers { name }
          }
          boss: employee(employeeId: "1") { employeesByReportsTo { lastName } }
          transfer(transferId: "100") {
            amount bookedOn
            customerByFromCustomer { name supportRep { lastName } }
            customerByToCustomer { name transfersByToCustomer { amount } }
          }
          playlist(playlistId: "7") { playlistTracks { position title } }
          playlistTrack(playlistId: "7", position: 2) { title playlist { name } }
          employees(first: 1) { nodes { lastName } pageInfo { hasNextPage endCursor } }
          playlistTracks(first: 1) { nodes { title } pageInfo { hasNextPage } }
        }"# }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}\n{sdl}", reply.body);
    let _ = std::fs::remove_dir_all(&dir);
    (sdl, reply.body["data"].clone())
}

/// What every backend answers (dates and times as each writes them, checked apart).
fn assert_answers(data: &Value) {
    assert_eq!(data["employee"]["lastName"], "Edwards", "{data}");
    assert_eq!(data["employee"]["employeeByReportsTo"]["lastName"], "Adams");
    assert_eq!(
        data["employee"]["customers"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        data["boss"]["employeesByReportsTo"],
        json!([{ "lastName": "Edwards" }])
    );
    assert_eq!(
        data["transfer"]["customerByFromCustomer"]["name"],
        "Gonçalves"
    );
    assert_eq!(
        data["transfer"]["customerByFromCustomer"]["supportRep"]["lastName"],
        "Edwards"
    );
    assert_eq!(data["transfer"]["customerByToCustomer"]["name"], "Köhler");
    assert_eq!(
        data["playlist"]["playlistTracks"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(data["playlistTrack"]["playlist"]["name"], "Music");
    // A page per type, in key order, composite keys too.
    assert_eq!(data["employees"]["nodes"], json!([{ "lastName": "Adams" }]));
    assert_eq!(data["employees"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        data["playlistTracks"]["nodes"],
        json!([{ "title": "For Those About To Rock" }])
    );
}

#[tokio::test]
async fn postgres_mariadb_and_sqlite_get_one_set_of_names_and_serve_them() {
    let pg = PgSchema::create(&fixture("NUMERIC(12, 2)", "TIMESTAMPTZ", "DATE", "UUID")).await;
    let (pg_sdl, pg_data) = init_and_serve(&pg.url()).await;
    assert_answers(&pg_data);
    // Exact decimals as strings; dates and times in ISO 8601.
    assert_eq!(pg_data["transfer"]["amount"], "12.50");
    assert_eq!(pg_data["transfer"]["bookedOn"], "2026-03-04");
    assert!(
        pg_data["employee"]["hiredAt"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-02-03T10:30:00")),
        "{pg_data}"
    );
    expect_test::expect![[r#"
        Customer.supportRep -> Employee
        Customer.transfersByFromCustomer -> Transfer
        Customer.transfersByToCustomer -> Transfer
        Employee.customers -> Customer
        Employee.employeeByReportsTo -> Employee
        Employee.employeesByReportsTo -> Employee
        Playlist.playlistTracks -> PlaylistTrack
        PlaylistTrack.playlist -> Playlist
        Transfer.customerByFromCustomer -> Customer
        Transfer.customerByToCustomer -> Customer"#]]
    .assert_eq(&relations(&pg_sdl).join("\n"));
    // The whole schema: types (exact decimals, dates, uuids; foreign keys typed as the keys
    // they reference), keys, lookups.
    expect_test::expect![[r##"
        # Written by `graft init` from the database's tables: an entity type per table with a primary
        # key (keyed by it), a field per column, relations both ways from the foreign keys, and per
        # type a lookup by key and a page in key order under Query.
        #
        # Change it safely:
        # - Rename types and fields freely: @table and @column keep them pointing at the database
        #   (a field without @column maps to the snake_case of its name).
        # - Delete what you do not want served: fields, relations, lookups, whole types.
        # - Keep @key, and the fields it names, in step with the table's primary key.
        # - Add @mutations to a type for createX, createXs, updateX and deleteX.
        # - `graft init --database URL --check schema.graphql` lists what the database has that this
        #   schema does not map.

        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])

        "An exact decimal number, served as a JSON string so that no digit is lost."
        scalar Decimal

        "A date and time in ISO 8601 / RFC 3339, with an offset when the column has a time zone."
        scalar DateTime

        "A calendar date in ISO 8601 (`2026-01-02`)."
        scalar Date

        "A UUID in its canonical text form."
        scalar UUID

        type Query {
          "One Customer, by its key."
          customer(customerId: ID!): Customer
          "Customers in key order, a page at a time: pass the last `endCursor` as `after` for the next."
          customers(first: Int, after: String): CustomerConnection!
          "One Employee, by its key."
          employee(employeeId: ID!): Employee
          "Employees in key order, a page at a time: pass the last `endCursor` as `after` for the next."
          employees(first: Int, after: String): EmployeeConnection!
          "One Playlist, by its key."
          playlist(playlistId: ID!): Playlist
          "Playlists in key order, a page at a time: pass the last `endCursor` as `after` for the next."
          playlists(first: Int, after: String): PlaylistConnection!
          "One PlaylistTrack, by its key."
          playlistTrack(playlistId: ID!, position: ID!): PlaylistTrack
          "PlaylistTracks in key order, a page at a time: pass the last `endCursor` as `after` for the next."
          playlistTracks(first: Int, after: String): PlaylistTrackConnection!
          "One Transfer, by its key."
          transfer(transferId: ID!): Transfer
          "Transfers in key order, a page at a time: pass the last `endCursor` as `after` for the next."
          transfers(first: Int, after: String): TransferConnection!
        }

        type Customer @key(fields: "customerId") @table(name: "customer") {
          supportRep: Employee @belongsTo(fields: "supportRepId")
          transfersByFromCustomer: [Transfer!]! @hasMany(fields: "fromCustomer")
          transfersByToCustomer: [Transfer!]! @hasMany(fields: "toCustomer")
          customerId: ID!
          name: String!
          supportRepId: ID
          externalId: UUID
        }

        type Employee @key(fields: "employeeId") @table(name: "employee") {
          employeeByReportsTo: Employee @belongsTo(fields: "reportsTo")
          customers: [Customer!]! @hasMany(fields: "supportRepId")
          employeesByReportsTo: [Employee!]! @hasMany(fields: "reportsTo")
          employeeId: ID!
          lastName: String!
          reportsTo: ID
          hiredAt: DateTime!
        }

        type Playlist @key(fields: "playlistId") @table(name: "playlist") {
          playlistTracks: [PlaylistTrack!]! @hasMany(fields: "playlistId")
          playlistId: ID!
          name: String
        }

        type PlaylistTrack @key(fields: "playlistId position") @table(name: "playlist_track") {
          playlist: Playlist! @belongsTo(fields: "playlistId")
          playlistId: ID!
          position: ID!
          title: String!
        }

        type Transfer @key(fields: "transferId") @table(name: "transfer") {
          customerByFromCustomer: Customer! @belongsTo(fields: "fromCustomer")
          customerByToCustomer: Customer! @belongsTo(fields: "toCustomer")
          transferId: ID!
          fromCustomer: ID!
          toCustomer: ID!
          amount: Decimal!
          bookedOn: Date!
        }

        type CustomerConnection {
          edges: [CustomerEdge!]!
          nodes: [Customer!]!
          pageInfo: PageInfo!
        }

        type CustomerEdge {
          cursor: String!
          node: Customer!
        }

        type EmployeeConnection {
          edges: [EmployeeEdge!]!
          nodes: [Employee!]!
          pageInfo: PageInfo!
        }

        type EmployeeEdge {
          cursor: String!
          node: Employee!
        }

        type PlaylistConnection {
          edges: [PlaylistEdge!]!
          nodes: [Playlist!]!
          pageInfo: PageInfo!
        }

        type PlaylistEdge {
          cursor: String!
          node: Playlist!
        }

        type PlaylistTrackConnection {
          edges: [PlaylistTrackEdge!]!
          nodes: [PlaylistTrack!]!
          pageInfo: PageInfo!
        }

        type PlaylistTrackEdge {
          cursor: String!
          node: PlaylistTrack!
        }

        type TransferConnection {
          edges: [TransferEdge!]!
          nodes: [Transfer!]!
          pageInfo: PageInfo!
        }

        type TransferEdge {
          cursor: String!
          node: Transfer!
        }

        type PageInfo @shareable {
          hasNextPage: Boolean!
          hasPreviousPage: Boolean!
          startCursor: String
          endCursor: String
        }
    "##]]
    .assert_eq(&pg_sdl);

    let my = MyDatabase::create(&fixture("DECIMAL(12, 2)", "DATETIME", "DATE", "CHAR(36)")).await;
    let (my_sdl, my_data) = init_and_serve(&my.url()).await;
    assert_answers(&my_data);
    assert_eq!(my_data["transfer"]["amount"], "12.50");
    assert_eq!(
        relations(&my_sdl),
        relations(&pg_sdl),
        "MariaDB: the same names"
    );

    let dir = std::env::temp_dir().join(graft_testkit::unique_name("graft_init_sqlite"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("init.db").display());
    let sqlite = graft_db::sqlite::SqliteSource::connect(
        "setup",
        &graft_db::sqlite::SqliteConfig::new(&url),
    )
    .await
    .expect("creates the file");
    sqlite
        .run_script("fixture", &fixture("NUMERIC", "DATETIME", "DATE", "TEXT"))
        .await
        .expect("the fixture");
    drop(sqlite);
    let (sqlite_sdl, sqlite_data) = init_and_serve(&url).await;
    assert_answers(&sqlite_data);
    assert_eq!(
        relations(&sqlite_sdl),
        relations(&pg_sdl),
        "SQLite: the same names"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
