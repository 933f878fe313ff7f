//! A starter schema from existing tables: what `graft init` writes.
//!
//! Each table with a primary key becomes an entity type keyed by it, named in singular
//! PascalCase (`org_users` -> `OrgUser`), with one field per column in camelCase and a root
//! lookup by key. `@table` is always written; `@column` only where the default snake_case
//! mapping would not find the column. Tables without a primary key are listed in a comment.

use std::fmt::Write as _;

use heck::{ToLowerCamelCase, ToSnakeCase, ToUpperCamelCase};

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
    /// The GraphQL scalar for its values: `String`, `Int`, `Float`, `Boolean`, `ID` or `JSON`.
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
    let mut skipped = Vec::new();
    let mut uses_json = false;
    for table in tables {
        if table.primary_key.is_empty() {
            skipped.push(table.name.as_str());
            continue;
        }
        let type_name = singular(&table.name).to_upper_camel_case();
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
        for relation in relations(tables, table) {
            let _ = writeln!(types, "  {relation}");
        }
        for column in &table.columns {
            uses_json |= column.graphql_type == "JSON";
            let name = field(&column.name);
            let in_key = table.primary_key.contains(&column.name);
            let ty = &column.graphql_type;
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
            .map(|c| format!("{}: {}!", field(&c.name), c.graphql_type))
            .collect();
        let _ = writeln!(
            lookups,
            "  {}({}): {type_name}",
            type_name.to_lower_camel_case(),
            arguments.join(", ")
        );
    }
    let mut sdl = String::from(
        "# A starter schema written by `graft init`: one entity per table with a primary key.\n\
         # Rename types and fields freely; @table and @column keep them pointing at the database.\n\n\
         extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [\"@key\", \"@shareable\"])\n",
    );
    if uses_json {
        sdl.push_str("\n\"Any JSON value.\"\nscalar JSON\n");
    }
    if !lookups.is_empty() {
        let _ = write!(sdl, "\ntype Query {{\n{lookups}}}\n");
    }
    sdl.push_str(&types);
    if !skipped.is_empty() {
        let _ = write!(
            sdl,
            "\n# Tables without a primary key, not mapped: {}.\n",
            skipped.join(", ")
        );
    }
    sdl
}

/// The `@belongsTo` fields of `table` (its foreign keys to a table's whole primary key) and its
/// `@hasMany` fields (other tables' such foreign keys to it), as SDL field lines.
fn relations(tables: &[TableDescription], table: &TableDescription) -> Vec<String> {
    let type_of = |name: &str| singular(name).to_upper_camel_case();
    let field_names = |columns: &[String]| {
        columns
            .iter()
            .map(|c| c.to_lower_camel_case())
            .collect::<Vec<_>>()
            .join(" ")
    };
    // The foreign key's columns in the order of the referenced primary key, if it references one.
    let in_key_order = |fk: &ForeignKey| -> Option<Vec<String>> {
        let target = tables.iter().find(|t| t.name == fk.references_table)?;
        if target.primary_key.len() != fk.columns.len() {
            return None;
        }
        target
            .primary_key
            .iter()
            .map(|pk| {
                fk.references_columns
                    .iter()
                    .position(|c| c == pk)
                    .map(|i| fk.columns[i].clone())
            })
            .collect()
    };
    let taken: Vec<String> = table
        .columns
        .iter()
        .map(|c| c.name.to_lower_camel_case())
        .collect();
    let mut used = Vec::new();
    let mut unique = |name: String| {
        let mut candidate = name.clone();
        while taken.contains(&candidate) || used.contains(&candidate) {
            candidate.push_str("Ref");
        }
        used.push(candidate.clone());
        candidate
    };
    let mut lines = Vec::new();
    for fk in &table.foreign_keys {
        let Some(columns) = in_key_order(fk) else {
            continue;
        };
        let base = match fk.columns.as_slice() {
            [single] if single.ends_with("_id") => {
                single.trim_end_matches("_id").to_lower_camel_case()
            }
            _ => singular(&fk.references_table).to_lower_camel_case(),
        };
        let nullable = fk.columns.iter().any(|c| {
            table
                .columns
                .iter()
                .any(|col| &col.name == c && col.nullable)
        });
        lines.push(format!(
            "{}: {}{} @belongsTo(fields: \"{}\")",
            unique(base),
            type_of(&fk.references_table),
            if nullable { "" } else { "!" },
            field_names(&columns)
        ));
    }
    for other in tables.iter().filter(|t| !t.primary_key.is_empty()) {
        for fk in other
            .foreign_keys
            .iter()
            .filter(|fk| fk.references_table == table.name)
        {
            let Some(columns) = in_key_order(fk) else {
                continue;
            };
            lines.push(format!(
                "{}: [{}!]! @hasMany(fields: \"{}\")",
                unique(other.name.to_lower_camel_case()),
                type_of(&other.name),
                field_names(&columns)
            ));
        }
    }
    lines
}

/// `org_users` -> `org_user`, `categories` -> `category`, `status` stays.
fn singular(table: &str) -> String {
    if let Some(stem) = table.strip_suffix("ies") {
        format!("{stem}y")
    } else if table.ends_with("ss") || table.ends_with("us") {
        table.to_owned()
    } else if let Some(stem) = table.strip_suffix('s') {
        stem.to_owned()
    } else {
        table.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubgraphSchema;

    #[test]
    fn foreign_keys_become_relations_both_ways() {
        let tables = [
            TableDescription {
                schema: None,
                name: "org_users".to_owned(),
                columns: vec![
                    column("org_id", "String", false),
                    column("user_id", "String", false),
                ],
                primary_key: vec!["org_id".to_owned(), "user_id".to_owned()],
                foreign_keys: vec![],
            },
            TableDescription {
                schema: None,
                name: "orders".to_owned(),
                columns: vec![
                    column("id", "ID", false),
                    column("user_id", "String", false),
                    column("org_id", "String", false),
                ],
                primary_key: vec!["id".to_owned()],
                // Declared in another column order than the referenced key.
                foreign_keys: vec![ForeignKey {
                    columns: vec!["user_id".to_owned(), "org_id".to_owned()],
                    references_table: "org_users".to_owned(),
                    references_columns: vec!["user_id".to_owned(), "org_id".to_owned()],
                }],
            },
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
            TableDescription {
                schema: None,
                name: "org_users".to_owned(),
                columns: vec![
                    column("org_id", "String", false),
                    column("user_id", "String", false),
                    column("Email", "String", true),
                    column("settings", "JSON", true),
                ],
                primary_key: vec!["org_id".to_owned(), "user_id".to_owned()],
                foreign_keys: vec![],
            },
            TableDescription {
                schema: None,
                name: "categories".to_owned(),
                columns: vec![column("id", "ID", false), column("label", "String", false)],
                primary_key: vec!["id".to_owned()],
                foreign_keys: vec![],
            },
            TableDescription {
                schema: None,
                name: "audit_log".to_owned(),
                columns: vec![column("at", "String", true)],
                primary_key: vec![],
                foreign_keys: vec![],
            },
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
}
