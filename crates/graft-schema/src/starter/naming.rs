//! How a starter schema names what it generates: each table's type (singular PascalCase,
//! never a name the schema already has) and each relation field, both ways, the same on every
//! backend whatever the columns' case.

use std::collections::{HashMap, HashSet};

use heck::{ToLowerCamelCase, ToSnakeCase, ToUpperCamelCase};

use super::{ForeignKey, SCALARS, TableDescription};

/// The `@belongsTo` fields of `table` (its foreign keys to a table's whole primary key) and its
/// `@hasMany` fields (other tables' such foreign keys to it), as SDL field lines.
pub(super) fn relations(
    tables: &[TableDescription],
    table: &TableDescription,
    type_names: &HashMap<&str, String>,
) -> Vec<String> {
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
    // Columns' fields, and `nodes` and `edges`, which would make the type read as a page.
    let taken: Vec<String> = table
        .columns
        .iter()
        .map(|c| c.name.to_lower_camel_case())
        .chain(["nodes".to_owned(), "edges".to_owned()])
        .collect();
    let mut used = Vec::new();
    // A name that is neither a column's field nor another relation's: the preferred one, else
    // the one that names the columns (`employeesByReportsTo`), else that with `Relation`.
    let mut unique = |preferred: String, by_columns: String| {
        let mut candidate = preferred;
        if taken.contains(&candidate) || used.contains(&candidate) {
            candidate = by_columns;
        }
        while taken.contains(&candidate) || used.contains(&candidate) {
            candidate.push_str("Relation");
        }
        used.push(candidate.clone());
        candidate
    };
    // `ReportsTo`, `reports_to` -> `ReportsTo`; `SupportRepId` -> `SupportRepId`.
    let by = |columns: &[String]| -> String {
        columns
            .iter()
            .map(|c| c.to_snake_case().to_upper_camel_case())
            .collect()
    };
    // How many foreign keys of `from` reference `to`: with more than one, or a table that
    // references itself, the relations are named by their columns.
    let ambiguous = |from: &TableDescription, to: &str| {
        from.name == to
            || from
                .foreign_keys
                .iter()
                .filter(|fk| fk.references_table == to)
                .count()
                > 1
    };
    let mut lines = Vec::new();
    for fk in &table.foreign_keys {
        let Some(columns) = in_key_order(fk) else {
            continue;
        };
        let Some(target) = type_names.get(fk.references_table.as_str()) else {
            continue;
        };
        let by_columns = format!("{}By{}", target.to_lower_camel_case(), by(&fk.columns));
        // Named by its column when the column says what it is (`support_rep_id`,
        // `SupportRepId` -> `supportRep`), else by the table it references, made unambiguous.
        let preferred = match fk.columns.as_slice() {
            [single] => match single.to_snake_case().strip_suffix("_id") {
                Some(stem) if !stem.is_empty() => stem.to_lower_camel_case(),
                _ if ambiguous(table, &fk.references_table) => by_columns.clone(),
                _ => target.to_lower_camel_case(),
            },
            _ if ambiguous(table, &fk.references_table) => by_columns.clone(),
            _ => target.to_lower_camel_case(),
        };
        let nullable = fk.columns.iter().any(|c| {
            table
                .columns
                .iter()
                .any(|col| &col.name == c && col.nullable)
        });
        lines.push(format!(
            "{}: {}{} @belongsTo(fields: \"{}\")",
            unique(preferred, by_columns),
            target,
            if nullable { "" } else { "!" },
            field_names(&columns)
        ));
    }
    for other in tables.iter().filter(|t| !t.primary_key.is_empty()) {
        let Some(other_type) = type_names.get(other.name.as_str()) else {
            continue;
        };
        for fk in other
            .foreign_keys
            .iter()
            .filter(|fk| fk.references_table == table.name)
        {
            let Some(columns) = in_key_order(fk) else {
                continue;
            };
            // Plural, as people name a list: `tracks`, `invoiceLines`; by its columns when
            // `other` references this table more than once or is this table.
            let many = crate::mutations::plural(other_type).to_lower_camel_case();
            let by_columns = format!("{many}By{}", by(&fk.columns));
            let preferred = if ambiguous(other, &table.name) {
                by_columns.clone()
            } else {
                many
            };
            lines.push(format!(
                "{}: [{}!]! @hasMany(fields: \"{}\")",
                unique(preferred, by_columns),
                other_type,
                field_names(&columns)
            ));
        }
    }
    lines
}

/// Names a starter schema declares itself, or that GraphQL and federation do: a table's type
/// never takes one.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Query",
    "Mutation",
    "Subscription",
    "PageInfo",
    "String",
    "Int",
    "Float",
    "Boolean",
    "ID",
    "FieldSet",
];

/// Each table's type name (tables without a primary key have none): its singular in
/// PascalCase, made unique with `Row` (then a number) where it would be a name the schema
/// already has: another table's, a scalar's, `Query`, `PageInfo`, a type's `…Connection` or
/// `…Edge`, or a name starting with `_`.
pub(super) fn type_names(tables: &[TableDescription]) -> HashMap<&str, String> {
    let mut taken: HashSet<String> = RESERVED_TYPE_NAMES
        .iter()
        .chain(SCALARS.iter().map(|(scalar, _)| scalar))
        .map(|name| (*name).to_owned())
        .collect();
    let preferred: Vec<String> = tables
        .iter()
        .map(|table| singular(&table.name).to_upper_camel_case())
        .collect();
    // Each table's own name, and its pages' types, are taken before any is made unique, so
    // that `album_edge` yields to `album`'s `AlbumEdge` whatever their order.
    for (table, name) in tables.iter().zip(&preferred) {
        if !table.primary_key.is_empty() {
            taken.insert(format!("{name}Connection"));
            taken.insert(format!("{name}Edge"));
        }
    }
    let mut names = HashMap::new();
    for (table, name) in tables.iter().zip(preferred) {
        if table.primary_key.is_empty() || names.contains_key(table.name.as_str()) {
            continue;
        }
        let mut candidate = name.clone();
        let mut counter = 1;
        while candidate.is_empty() || candidate.starts_with('_') || taken.contains(&candidate) {
            counter += 1;
            candidate = match counter {
                2 => format!("{name}Row"),
                n => format!("{name}Row{n}"),
            };
        }
        taken.insert(candidate.clone());
        taken.insert(format!("{candidate}Connection"));
        taken.insert(format!("{candidate}Edge"));
        names.insert(table.name.as_str(), candidate);
    }
    names
}

/// `org_users` -> `org_user`, `categories` -> `category`, `status` stays.
pub(super) fn singular(table: &str) -> String {
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
