//! A starter schema from existing tables: what `graft init` writes.
//!
//! Each table with a primary key becomes an entity type keyed by it, named in singular
//! PascalCase (`org_users` -> `OrgUser`), with one field per column in camelCase and a root
//! lookup by key. `@table` is always written; `@column` only where the default snake_case
//! mapping would not find the column. Tables without a primary key are listed in a comment.
//!
//! Foreign keys become relations both ways, named as people name them, and the same on every
//! backend whatever the columns' case: a `@belongsTo` by its column when the column says what
//! it is (`support_rep_id` or `SupportRepId` -> `supportRep`), else by the table it references
//! (`album`); a `@hasMany` in the plural (`tracks`, `invoiceLines`). A self-reference or a
//! second foreign key to one table is named by its columns both ways, as PostGraphile does
//! (`employeeByReportsTo`, `employeesByReportsTo`).

use std::collections::HashSet;
use std::fmt::Write as _;

use heck::{ToLowerCamelCase, ToSnakeCase};

use naming::{relations, type_names};

mod naming;

/// A table as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDescription {
    /// The database schema, when not the default one.
    pub schema: Option<String>,
    /// The table's name.
    pub name: String,
    /// Its columns, in table order.
    pub columns: Vec<ColumnDescription>,
    /// The primary key's columns, in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    /// Its foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
}

/// A foreign key: `columns` of this table hold `references_columns` of `references_table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// This table's columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub references_table: String,
    /// The referenced columns, in the same order as `columns`.
    pub references_columns: Vec<String>,
}

/// A column as the database describes it, with the GraphQL type the backend chose for it
/// (`ID` for integer key columns, since GraphQL's `Int` has 32 bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDescription {
    /// The column's name.
    pub name: String,
    /// The GraphQL scalar for its values: `String`, `Int`, `Float`, `Boolean`, `ID`, or one of
    /// the scalars a starter schema declares: `JSON`, `Decimal`, `DateTime`, `Date`, `UUID`.
    pub graphql_type: String,
    /// Whether it may be NULL.
    pub nullable: bool,
}

/// What a starter schema includes beyond types and lookups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StarterOptions {
    /// Mark every entity type `@mutations`, so that graft serves `createX`, `createXs`,
    /// `updateX` and `deleteX` for it.
    pub mutations: bool,
}

/// Writes the starter SDL for `tables`: read-only types and lookups.
pub fn starter_sdl(tables: &[TableDescription]) -> String {
    starter_sdl_with(tables, StarterOptions::default())
}

/// Writes the starter SDL for `tables`, with what `options` adds.
pub fn starter_sdl_with(tables: &[TableDescription], options: StarterOptions) -> String {
    let mut types = String::new();
    let mut lookups = String::new();
    let mut pages = String::new();
    let mut skipped = Vec::new();
    let mut shadowed = Vec::new();
    let mut used_scalars: Vec<&str> = Vec::new();
    let type_names = type_names(tables);
    // Root fields so far: a page whose name another root field has is left out.
    let mut root_fields: HashSet<String> = HashSet::new();
    // A foreign-key column takes the type of the key column it references, so that the two
    // compare as equals (an integer key is an `ID`: its foreign keys are too).
    let type_of = |table: &TableDescription, column: &ColumnDescription| -> String {
        table
            .foreign_keys
            .iter()
            .find_map(|fk| {
                let at = fk.columns.iter().position(|c| *c == column.name)?;
                let target = tables.iter().find(|t| t.name == fk.references_table)?;
                let referenced = target
                    .columns
                    .iter()
                    .find(|c| c.name == fk.references_columns[at])?;
                Some(referenced.graphql_type.clone())
            })
            .unwrap_or_else(|| column.graphql_type.clone())
    };
    for table in tables {
        if table.primary_key.is_empty() {
            skipped.push(table.name.as_str());
            continue;
        }
        let Some(type_name) = type_names.get(table.name.as_str()) else {
            // A second table of the same name (in another schema): relations find tables by
            // name, so only the first is mapped.
            shadowed.push(table.name.as_str());
            continue;
        };
        let field = |column: &str| column.to_lower_camel_case();
        let key: Vec<String> = table.primary_key.iter().map(|c| field(c)).collect();
        let _ = write!(
            types,
            "\ntype {type_name} @key(fields: \"{}\") @table(name: {:?}",
            key.join(" "),
            table.name
        );
        if let Some(schema) = &table.schema {
            let _ = write!(types, ", schema: {schema:?}");
        }
        types.push(')');
        if options.mutations {
            types.push_str(" @mutations");
        }
        types.push_str(" {\n");
        for relation in relations(tables, table, &type_names) {
            let _ = writeln!(types, "  {relation}");
        }
        for column in &table.columns {
            let ty = &type_of(table, column);
            if let Some((scalar, _)) = SCALARS.iter().find(|(scalar, _)| scalar == ty)
                && !used_scalars.contains(scalar)
            {
                used_scalars.push(scalar);
            }
            let name = field(&column.name);
            let in_key = table.primary_key.contains(&column.name);
            let bang = if column.nullable && !in_key { "" } else { "!" };
            let _ = write!(types, "  {name}: {ty}{bang}");
            if name.to_snake_case() != column.name {
                let _ = write!(types, " @column(name: {:?})", column.name);
            }
            types.push('\n');
        }
        types.push_str("}\n");
        let arguments: Vec<String> = table
            .primary_key
            .iter()
            .filter_map(|pk| table.columns.iter().find(|c| &c.name == pk))
            .map(|c| format!("{}: {}!", field(&c.name), type_of(table, c)))
            .collect();
        let mut lookup = type_name.to_lower_camel_case();
        while !root_fields.insert(lookup.clone()) {
            lookup.push_str("ByKey");
        }
        let _ = writeln!(
            lookups,
            "  \"One {type_name}, by its key.\"\n  {lookup}({}): {type_name}",
            arguments.join(", ")
        );
        // A page per type, in key order, unless its plural reads as its lookup.
        let list = crate::mutations::plural(type_name).to_lower_camel_case();
        if root_fields.insert(list.clone()) {
            let _ = writeln!(
                lookups,
                "  \"{} in key order, a page at a time: pass the last `endCursor` as `after` for \
                 the next.\"\n  {list}(first: Int, after: String): {type_name}Connection!",
                crate::mutations::plural(type_name)
            );
            let _ = write!(
                pages,
                "\ntype {type_name}Connection {{\n  edges: [{type_name}Edge!]!\n  nodes: [{type_name}!]!\n  \
                 pageInfo: PageInfo!\n}}\n\ntype {type_name}Edge {{\n  cursor: String!\n  node: {type_name}!\n}}\n"
            );
        }
    }
    let mut sdl = String::from(HEADER);
    for (scalar, description) in SCALARS {
        if used_scalars.contains(scalar) {
            let _ = write!(sdl, "\n\"{description}\"\nscalar {scalar}\n");
        }
    }
    if !lookups.is_empty() {
        let _ = write!(sdl, "\ntype Query {{\n{lookups}}}\n");
    }
    sdl.push_str(&types);
    if !pages.is_empty() {
        sdl.push_str(&pages);
        sdl.push_str(
            "\ntype PageInfo @shareable {\n  hasNextPage: Boolean!\n  hasPreviousPage: Boolean!\n  \
             startCursor: String\n  endCursor: String\n}\n",
        );
    }
    if !skipped.is_empty() {
        let _ = write!(
            sdl,
            "\n# Tables without a primary key, not mapped: {}.\n",
            skipped.join(", ")
        );
    }
    if !shadowed.is_empty() {
        let _ = write!(
            sdl,
            "\n# Tables named like one mapped above (in another schema), not mapped: {}.\n",
            shadowed.join(", ")
        );
    }
    sdl
}

/// How [`unmapped`] marks a table graft cannot map, having no primary key.
pub const NO_PRIMARY_KEY: &str = " (no primary key)";

/// What `tables` have that `schema` does not map, one line each: `table audit_log (no primary
/// key)`, `table invoices`, `column customers.fax`. Tables are matched by name (and schema
/// where both give one), case-insensitively as the backends compare them by default.
pub fn unmapped(tables: &[TableDescription], schema: &crate::SubgraphSchema) -> Vec<String> {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let mut report = Vec::new();
    for table in tables {
        let mappings: Vec<_> = schema
            .mappings()
            .filter(|m| {
                same(&m.table.name, &table.name)
                    && match (&m.table.schema, &table.schema) {
                        (Some(a), Some(b)) => same(a, b),
                        _ => true,
                    }
            })
            .collect();
        if mappings.is_empty() {
            let why = if table.primary_key.is_empty() {
                NO_PRIMARY_KEY
            } else {
                ""
            };
            report.push(format!("table {}{why}", table.name));
            continue;
        }
        for column in &table.columns {
            let mapped = mappings
                .iter()
                .any(|m| m.columns.iter().any(|c| same(&c.column, &column.name)));
            if !mapped {
                report.push(format!("column {}.{}", table.name, column.name));
            }
        }
    }
    report
}

/// What a starter schema says of itself, first.
const HEADER: &str = "\
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

extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [\"@key\", \"@shareable\"])
";

/// The scalars a starter schema declares when a column uses them, and what their values are.
const SCALARS: &[(&str, &str)] = &[
    ("JSON", "Any JSON value."),
    (
        "Decimal",
        "An exact decimal number, served as a JSON string so that no digit is lost.",
    ),
    (
        "DateTime",
        "A date and time in ISO 8601 / RFC 3339, with an offset when the column has a time zone.",
    ),
    ("Date", "A calendar date in ISO 8601 (`2026-01-02`)."),
    ("UUID", "A UUID in its canonical text form."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubgraphSchema;

    #[test]
    fn foreign_keys_become_relations_both_ways() {
        let tables = [
            table(
                "org_users",
                vec![
                    column("org_id", "String", false),
                    column("user_id", "String", false),
                ],
                &["org_id", "user_id"],
                vec![],
            ),
            table(
                "orders",
                vec![
                    column("id", "ID", false),
                    column("user_id", "String", false),
                    column("org_id", "String", false),
                ],
                &["id"],
                // Declared in another column order than the referenced key.
                vec![foreign_key(
                    &["user_id", "org_id"],
                    "org_users",
                    &["user_id", "org_id"],
                )],
            ),
        ];
        let sdl = starter_sdl(&tables);
        assert!(
            sdl.contains("  orgUser: OrgUser! @belongsTo(fields: \"orgId userId\")"),
            "{sdl}"
        );
        assert!(
            sdl.contains("  orders: [Order!]! @hasMany(fields: \"orgId userId\")"),
            "{sdl}"
        );
        let schema =
            SubgraphSchema::parse(&sdl, "starter.graphql").expect("the starter schema is valid");
        assert!(
            schema
                .mapping("Order")
                .expect("mapped")
                .relation("orgUser")
                .is_some()
        );
        assert!(
            schema.mutation_fields().is_empty(),
            "read-only unless asked"
        );

        let writable = starter_sdl_with(&tables, StarterOptions { mutations: true });
        assert!(
            writable
                .contains("type Order @key(fields: \"id\") @table(name: \"orders\") @mutations {"),
            "{writable}"
        );
        let schema = SubgraphSchema::parse(&writable, "starter.graphql").expect("valid");
        assert!(schema.mutation_field("createOrders").is_some());
        // OrgUser has only key fields: nothing to patch, so no updateOrgUser.
        assert!(schema.mutation_field("updateOrgUser").is_none());
        assert!(schema.mutation_field("deleteOrgUser").is_some());
    }

    /// A Chinook-like database (the well-known sample): a self-reference, two levels of
    /// `@hasMany`, a composite key, singular table names. `snake` writes its names as
    /// PostgreSQL users do, else as the original (and MariaDB's copy) does.
    fn chinook(snake: bool) -> Vec<TableDescription> {
        let name = |n: &str| {
            if snake {
                n.to_snake_case()
            } else {
                n.to_owned()
            }
        };
        let table = |n: &str,
                     columns: &[(&str, &str, bool)],
                     key: &[&str],
                     fks: &[(&[&str], &str, &[&str])]| {
            let names = |columns: &[&str]| columns.iter().map(|c| name(c)).collect();
            TableDescription {
                schema: None,
                name: name(n),
                columns: columns
                    .iter()
                    .map(|(c, t, null)| column(&name(c), t, *null))
                    .collect(),
                primary_key: names(key),
                foreign_keys: fks
                    .iter()
                    .map(|(columns, target, referenced)| ForeignKey {
                        columns: names(columns),
                        references_table: name(target),
                        references_columns: names(referenced),
                    })
                    .collect(),
            }
        };
        vec![
            table(
                "Artist",
                &[("ArtistId", "ID", false), ("Name", "String", true)],
                &["ArtistId"],
                &[],
            ),
            table(
                "Album",
                &[
                    ("AlbumId", "ID", false),
                    ("Title", "String", false),
                    ("ArtistId", "ID", false),
                ],
                &["AlbumId"],
                &[(&["ArtistId"], "Artist", &["ArtistId"])],
            ),
            table(
                "Track",
                &[
                    ("TrackId", "ID", false),
                    ("Name", "String", false),
                    ("AlbumId", "ID", true),
                ],
                &["TrackId"],
                &[(&["AlbumId"], "Album", &["AlbumId"])],
            ),
            table(
                "Employee",
                &[
                    ("EmployeeId", "ID", false),
                    ("LastName", "String", false),
                    ("ReportsTo", "ID", true),
                ],
                &["EmployeeId"],
                &[(&["ReportsTo"], "Employee", &["EmployeeId"])],
            ),
            table(
                "Customer",
                &[("CustomerId", "ID", false), ("SupportRepId", "ID", true)],
                &["CustomerId"],
                &[(&["SupportRepId"], "Employee", &["EmployeeId"])],
            ),
            table(
                "Invoice",
                &[("InvoiceId", "ID", false), ("CustomerId", "ID", false)],
                &["InvoiceId"],
                &[(&["CustomerId"], "Customer", &["CustomerId"])],
            ),
            table(
                "InvoiceLine",
                &[
                    ("InvoiceLineId", "ID", false),
                    ("InvoiceId", "ID", false),
                    ("TrackId", "ID", false),
                ],
                &["InvoiceLineId"],
                &[
                    (&["InvoiceId"], "Invoice", &["InvoiceId"]),
                    (&["TrackId"], "Track", &["TrackId"]),
                ],
            ),
            table(
                "Playlist",
                &[("PlaylistId", "ID", false), ("Name", "String", true)],
                &["PlaylistId"],
                &[],
            ),
            table(
                "PlaylistTrack",
                &[("PlaylistId", "ID", false), ("TrackId", "ID", false)],
                &["PlaylistId", "TrackId"],
                &[
                    (&["PlaylistId"], "Playlist", &["PlaylistId"]),
                    (&["TrackId"], "Track", &["TrackId"]),
                ],
            ),
            // Two foreign keys to one table.
            table(
                "Transfer",
                &[
                    ("TransferId", "ID", false),
                    ("FromCustomer", "ID", false),
                    ("ToCustomer", "ID", false),
                ],
                &["TransferId"],
                &[
                    (&["FromCustomer"], "Customer", &["CustomerId"]),
                    (&["ToCustomer"], "Customer", &["CustomerId"]),
                ],
            ),
        ]
    }

    /// The relation fields of a starter schema: `Type.field: type @directive`, sorted.
    fn relation_fields(sdl: &str) -> Vec<String> {
        let mut current = "";
        let mut found = Vec::new();
        for line in sdl.lines() {
            if let Some(rest) = line.strip_prefix("type ") {
                current = rest.split_whitespace().next().unwrap_or("");
            } else if line.contains("@belongsTo") || line.contains("@hasMany") {
                let field = line.trim().split(" @").next().unwrap_or("");
                found.push(format!("{current}.{field}"));
            }
        }
        found.sort();
        found
    }

    #[test]
    fn relations_are_named_as_people_name_them_whatever_the_column_case() {
        let original = starter_sdl(&chinook(false));
        SubgraphSchema::parse(&original, "chinook.graphql").expect("a valid schema");
        let snake = starter_sdl(&chinook(true));
        SubgraphSchema::parse(&snake, "chinook.graphql").expect("a valid schema");
        assert_eq!(
            relation_fields(&original),
            relation_fields(&snake),
            "one database, one set of names on every backend"
        );
        expect_test::expect![[r#"
            Album.artist: Artist!
            Album.tracks: [Track!]!
            Artist.albums: [Album!]!
            Customer.invoices: [Invoice!]!
            Customer.supportRep: Employee
            Customer.transfersByFromCustomer: [Transfer!]!
            Customer.transfersByToCustomer: [Transfer!]!
            Employee.customers: [Customer!]!
            Employee.employeeByReportsTo: Employee
            Employee.employeesByReportsTo: [Employee!]!
            Invoice.customer: Customer!
            Invoice.invoiceLines: [InvoiceLine!]!
            InvoiceLine.invoice: Invoice!
            InvoiceLine.track: Track!
            Playlist.playlistTracks: [PlaylistTrack!]!
            PlaylistTrack.playlist: Playlist!
            PlaylistTrack.track: Track!
            Track.album: Album
            Track.invoiceLines: [InvoiceLine!]!
            Track.playlistTracks: [PlaylistTrack!]!
            Transfer.customerByFromCustomer: Customer!
            Transfer.customerByToCustomer: Customer!"#]]
        .assert_eq(&relation_fields(&original).join("\n"));
    }

    #[test]
    fn a_relation_is_never_named_as_a_page_field() {
        let tables = [
            table("graph", vec![column("id", "ID", false)], &["id"], vec![]),
            table(
                "node",
                vec![column("id", "ID", false), column("graph_id", "ID", false)],
                &["id"],
                vec![foreign_key(&["graph_id"], "graph", &["id"])],
            ),
        ];
        let sdl = starter_sdl(&tables);
        assert!(sdl.contains("  nodesByGraphId: [Node!]! @hasMany"), "{sdl}");
        SubgraphSchema::parse(&sdl, "graph.graphql").expect("Graph is not read as a page");
    }

    #[test]
    fn check_lists_what_a_schema_does_not_map() {
        let tables = chinook(false);
        let full = starter_sdl(&tables);
        let schema = SubgraphSchema::parse(&full, "full.graphql").expect("valid");
        assert!(
            unmapped(&tables, &schema).is_empty(),
            "the starter maps everything"
        );
        // A schema of the first two tables, one column left out.
        let partial =
            starter_sdl(&tables[..2]).replace("  title: String! @column(name: \"Title\")\n", "");
        let schema = SubgraphSchema::parse(&partial, "partial.graphql").expect("valid");
        let mut keyless = tables[7].clone();
        keyless.name = "AuditLog".into();
        keyless.primary_key.clear();
        let mut all = tables.clone();
        all.push(keyless);
        expect_test::expect![[r#"
            column Album.Title
            table Track
            table Employee
            table Customer
            table Invoice
            table InvoiceLine
            table Playlist
            table PlaylistTrack
            table Transfer
            table AuditLog (no primary key)"#]]
        .assert_eq(&unmapped(&all, &schema).join("\n"));
    }

    /// A table of the default schema.
    fn table(
        name: &str,
        columns: Vec<ColumnDescription>,
        primary_key: &[&str],
        foreign_keys: Vec<ForeignKey>,
    ) -> TableDescription {
        TableDescription {
            schema: None,
            name: name.to_owned(),
            columns,
            primary_key: primary_key.iter().map(|c| (*c).to_owned()).collect(),
            foreign_keys,
        }
    }

    /// `columns` referencing `referenced` of `table`.
    fn foreign_key(columns: &[&str], table: &str, referenced: &[&str]) -> ForeignKey {
        ForeignKey {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            references_table: table.to_owned(),
            references_columns: referenced.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn column(name: &str, graphql_type: &str, nullable: bool) -> ColumnDescription {
        ColumnDescription {
            name: name.to_owned(),
            graphql_type: graphql_type.to_owned(),
            nullable,
        }
    }

    #[test]
    fn writes_a_valid_schema_with_keys_lookups_and_mapping() {
        let tables = [
            table(
                "org_users",
                vec![
                    column("org_id", "String", false),
                    column("user_id", "String", false),
                    column("Email", "String", true),
                    column("settings", "JSON", true),
                ],
                &["org_id", "user_id"],
                vec![],
            ),
            table(
                "categories",
                vec![column("id", "ID", false), column("label", "String", false)],
                &["id"],
                vec![],
            ),
            table("audit_log", vec![column("at", "String", true)], &[], vec![]),
        ];
        let sdl = starter_sdl(&tables);
        assert!(
            sdl.contains(
                "type OrgUser @key(fields: \"orgId userId\") @table(name: \"org_users\") {"
            ),
            "{sdl}"
        );
        assert!(
            sdl.contains("  email: String @column(name: \"Email\")"),
            "{sdl}"
        );
        assert!(
            sdl.contains("  orgUser(orgId: String!, userId: String!): OrgUser"),
            "{sdl}"
        );
        assert!(sdl.contains("  category(id: ID!): Category"), "{sdl}");
        assert!(
            sdl.contains("scalar JSON") && sdl.contains("not mapped: audit_log"),
            "{sdl}"
        );
        let schema =
            SubgraphSchema::parse(&sdl, "starter.graphql").expect("the starter schema is valid");
        assert_eq!(
            schema.mapping("OrgUser").expect("mapped").columns[2].column,
            "Email"
        );
    }

    #[test]
    fn type_names_never_collide_with_scalars_pages_or_each_other() {
        let keyed = |name: &str, foreign_keys: Vec<ForeignKey>| {
            table(
                name,
                vec![column("id", "ID", false), column("day", "Date", true)],
                &["id"],
                foreign_keys,
            )
        };
        let to_date = foreign_key(&["id"], "date", &["id"]);
        let tables = [
            keyed("album_edge", vec![]),
            keyed("album", vec![]),
            keyed("date", vec![]),
            keyed("page_info", vec![]),
            keyed("users", vec![]),
            keyed("user", vec![to_date]),
            keyed("query", vec![]),
        ];
        let sdl = starter_sdl(&tables);
        for expected in [
            "type AlbumEdgeRow @key",
            "type Album @key",
            "type AlbumEdge {",
            "type DateRow @key",
            "scalar Date",
            "type PageInfoRow @key",
            "type User @key",
            "type UserRow @key",
            "type QueryRow @key",
            "  dateRow: DateRow! @belongsTo(fields: \"id\")",
            "  userRows: [UserRow!]! @hasMany(fields: \"id\")",
            "  user(id: ID!): User",
            "  userRow(id: ID!): UserRow",
        ] {
            assert!(sdl.contains(expected), "no {expected:?} in\n{sdl}");
        }
        SubgraphSchema::parse(&sdl, "starter.graphql").expect("the starter schema is valid");
    }
}
