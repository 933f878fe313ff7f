//! What MariaDB's (or MySQL's) `information_schema` says about the mapped tables.

use std::collections::HashMap;

use graft_schema::EntityMapping;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::column::ReadAs;
use crate::{DbError, quote_backtick};

/// A column as graft reads it, from `information_schema.COLUMNS`.
#[derive(Debug, Clone)]
pub(crate) struct MyColumn {
    /// `DATA_TYPE`, lower case: `int`, `varchar`, `longtext`, `datetime`.
    pub(crate) data_type: String,
    /// `COLUMN_TYPE`, lower case: `int(10) unsigned`, `varchar(64)`, `tinyint(1)`.
    pub(crate) column_type: String,
    /// `CHARACTER_SET_NAME` of string columns.
    pub(crate) charset: Option<String>,
    /// `COLLATION_NAME` of string columns.
    pub(crate) collation: Option<String>,
    /// `CHARACTER_MAXIMUM_LENGTH`: characters for `char`/`varchar`, bytes for `text` types.
    pub(crate) max_chars: Option<u64>,
    /// `DATETIME_PRECISION`: digits of fractional seconds of temporal columns.
    pub(crate) fraction_digits: u64,
    /// Whether the column holds JSON: MySQL's `json` type, or a MariaDB text column (MariaDB's
    /// `json` is an alias of `longtext`) with a `json_valid(column)` check constraint.
    pub(crate) json: bool,
}

/// A mapped table: its columns by lower-case name (MariaDB and MySQL compare
/// column names case-insensitively) and how each key column is bound.
#[derive(Debug, Clone)]
pub(crate) struct MyTable {
    pub(crate) columns: HashMap<String, MyColumn>,
    pub(crate) keys: HashMap<String, KeyColumn>,
}

impl MyTable {
    /// The column called `name`, whatever its case.
    pub(crate) fn column(&self, name: &str) -> Option<&MyColumn> {
        self.columns.get(&name.to_lowercase())
    }

    /// How the key column called `name` is bound, whatever its case.
    pub(crate) fn key(&self, name: &str) -> Option<&KeyColumn> {
        self.keys.get(&name.to_lowercase())
    }
}

const COLUMNS: &str = "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, \
     COLLATION_NAME, CHARACTER_MAXIMUM_LENGTH, DATETIME_PRECISION \
     FROM information_schema.COLUMNS \
     WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?";

/// MariaDB only: MySQL's `CHECK_CONSTRAINTS` has no `TABLE_NAME`, and MySQL has a real `json`
/// type, so it needs no check constraints to recognise JSON.
const CHECKS: &str = "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
     WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?";

type ColumnRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<u64>,
    Option<u64>,
);

/// Reads the columns of `mapping`'s table and checks that every mapped and key column exists,
/// that every mapped column can be read and that every key column can be bound.
pub(crate) async fn table(
    conn: &mut Conn,
    mapping: &EntityMapping,
    mariadb: bool,
) -> Result<MyTable, DbError> {
    let params = (mapping.table.schema.clone(), mapping.table.name.clone());
    let rows: Vec<ColumnRow> = conn.exec(COLUMNS, params.clone()).await?;
    if rows.is_empty() {
        return Err(DbError::Mapping(format!(
            "type {}: table `{}` not found{}",
            mapping.type_name,
            mapping.table,
            if mapping.table.schema.is_none() {
                " in the current database"
            } else {
                ""
            }
        )));
    }
    let checks: Vec<String> = if mariadb {
        conn.exec(CHECKS, params).await?
    } else {
        Vec::new()
    };
    let columns: HashMap<String, MyColumn> = rows
        .into_iter()
        .map(|row| {
            let (name, column) = MyColumn::from_row(row, &checks);
            (name.to_lowercase(), column)
        })
        .collect();
    let mut missing: Vec<&str> = mapping
        .columns
        .iter()
        .map(|c| c.column.as_str())
        .chain(mapping.key_columns.iter().flatten().map(String::as_str))
        .filter(|c| !columns.contains_key(&c.to_lowercase()))
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        return Err(DbError::Mapping(format!(
            "type {}: table `{}` has no column {}",
            mapping.type_name,
            mapping.table,
            missing
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for mapped in &mapping.columns {
        let column = &columns[&mapped.column.to_lowercase()];
        if column.read("c").is_none() {
            return Err(DbError::Mapping(format!(
                "type {}: column `{}` of table `{}` has type `{}`, which graft cannot read \
                 (binary and spatial types are not supported); leave the field out or map it \
                 to a view that converts it",
                mapping.type_name, mapped.column, mapping.table, column.column_type
            )));
        }
    }
    let mut keys = HashMap::new();
    for name in mapping.key_columns.iter().flatten() {
        let column = &columns[&name.to_lowercase()];
        let key = column.key_column().map_err(|reason| {
            DbError::Mapping(format!(
                "type {}: key column `{name}` of table `{}` has type `{}`{reason}; graft binds \
                 integer, char and varchar key columns on MariaDB and MySQL",
                mapping.type_name, mapping.table, column.column_type
            ))
        })?;
        keys.insert(name.to_lowercase(), key);
    }
    // Any other column that can be bound may be matched too: a `@hasMany` relation matches the
    // foreign key columns that point at its parent.
    for (name, column) in &columns {
        if let (false, Ok(key)) = (keys.contains_key(name), column.key_column()) {
            keys.insert(name.clone(), key);
        }
    }
    Ok(MyTable { columns, keys })
}

/// Whether the server is MariaDB (`VERSION()` says so) rather than MySQL.
pub(crate) async fn is_mariadb(conn: &mut Conn) -> Result<bool, DbError> {
    let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
    Ok(version.is_some_and(|v| v.contains("MariaDB")))
}

/// The columns of every base table of the current database (MariaDB's system-versioned tables
/// are base tables too), by table and then in table order. Table names are ordered by their
/// bytes: `information_schema` compares them case-insensitively, and `Users` and `users` may
/// both exist.
const DESCRIBE_COLUMNS: &str = "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, \
     c.CHARACTER_SET_NAME, c.COLLATION_NAME, c.CHARACTER_MAXIMUM_LENGTH, c.DATETIME_PRECISION, \
     c.IS_NULLABLE \
     FROM information_schema.COLUMNS c \
     JOIN information_schema.TABLES t \
       ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
     WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
     ORDER BY CAST(c.TABLE_NAME AS BINARY), c.ORDINAL_POSITION";

/// The primary-key columns of every table of the current database, in key order.
const DESCRIBE_KEYS: &str = "SELECT TABLE_NAME, COLUMN_NAME \
     FROM information_schema.KEY_COLUMN_USAGE \
     WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'PRIMARY' \
     ORDER BY CAST(TABLE_NAME AS BINARY), ORDINAL_POSITION";

/// MariaDB only (see [`CHECKS`]): the check clauses of every table of the current database.
const DESCRIBE_CHECKS: &str = "SELECT TABLE_NAME, CHECK_CLAUSE \
     FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()";

type DescribeRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<u64>,
    Option<u64>,
    String,
);

/// Every base table of the current database, with the GraphQL type of each column, for
/// `graft init`.
pub(crate) async fn describe(
    conn: &mut Conn,
    mariadb: bool,
) -> Result<Vec<graft_schema::TableDescription>, DbError> {
    let rows: Vec<DescribeRow> = conn.query(DESCRIBE_COLUMNS).await?;
    let mut keys: HashMap<String, Vec<String>> = HashMap::new();
    for (table, column) in conn.query::<(String, String), _>(DESCRIBE_KEYS).await? {
        keys.entry(table).or_default().push(column);
    }
    let mut checks: HashMap<String, Vec<String>> = HashMap::new();
    if mariadb {
        for (table, clause) in conn.query::<(String, String), _>(DESCRIBE_CHECKS).await? {
            checks.entry(table).or_default().push(clause);
        }
    }
    let mut tables: Vec<graft_schema::TableDescription> = Vec::new();
    for row in rows {
        let (
            table,
            name,
            data_type,
            column_type,
            charset,
            collation,
            max_chars,
            precision,
            nullable,
        ) = row;
        if tables.last().is_none_or(|t| t.name != table) {
            tables.push(graft_schema::TableDescription {
                schema: None,
                primary_key: keys.remove(&table).unwrap_or_default(),
                name: table,
                columns: Vec::new(),
                foreign_keys: Vec::new(),
            });
        }
        let table = tables.last_mut().expect("pushed above");
        let table_checks = checks.get(&table.name).map_or(&[][..], Vec::as_slice);
        let (name, column) = MyColumn::from_row(
            (
                name,
                data_type,
                column_type,
                charset,
                collation,
                max_chars,
                precision,
            ),
            table_checks,
        );
        let in_key = table.primary_key.contains(&name);
        table.columns.push(graft_schema::ColumnDescription {
            graphql_type: column.graphql_type(in_key).to_owned(),
            nullable: nullable.eq_ignore_ascii_case("YES"),
            name,
        });
    }
    let foreign_keys: Vec<(String, String, String, String, String)> =
        conn.query(DESCRIBE_FOREIGN_KEYS).await?;
    crate::attach_foreign_keys(&mut tables, foreign_keys);
    Ok(tables)
}

const DESCRIBE_FOREIGN_KEYS: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, \
     REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
     WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
       AND REFERENCED_TABLE_SCHEMA = DATABASE() \
     ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION";

fn is_text(data_type: &str) -> bool {
    matches!(
        data_type,
        "tinytext" | "text" | "mediumtext" | "longtext" | "varchar" | "char"
    )
}

/// Whether `clause` is MariaDB's `json_valid(`column`)`, the check a `json` column carries.
fn is_json_check(clause: &str, column: &str) -> bool {
    clause
        .trim()
        .eq_ignore_ascii_case(&format!("json_valid({})", quote_backtick(column)))
}

impl MyColumn {
    /// The column of an `information_schema.COLUMNS` row (see [`COLUMNS`]), with its name;
    /// `checks` are the check clauses of its table, which mark MariaDB's JSON columns.
    fn from_row(row: ColumnRow, checks: &[String]) -> (String, MyColumn) {
        let (name, data_type, column_type, charset, collation, max_chars, precision) = row;
        let data_type = data_type.to_lowercase();
        let json = data_type == "json"
            || (is_text(&data_type) && checks.iter().any(|c| is_json_check(c, &name)));
        let column = MyColumn {
            data_type,
            column_type: column_type.to_lowercase(),
            charset,
            collation,
            max_chars,
            fraction_digits: precision.unwrap_or(0),
            json,
        };
        (name, column)
    }

    /// The GraphQL type `graft init` gives the column: `ID` for integer primary-key columns,
    /// `Boolean` for `tinyint(1)`, `Int` for integers that fit GraphQL's 32-bit `Int`, `String`
    /// for wider ones (`bigint`, `int unsigned`) so that they stay exact, `Float` for
    /// floating-point numbers, `Decimal` for decimal ones (a string, every digit kept),
    /// `DateTime` and `Date` for dates and times, `JSON` for JSON columns and `String` for the
    /// rest.
    pub(crate) fn graphql_type(&self, in_primary_key: bool) -> &'static str {
        let integer = matches!(
            self.data_type.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        );
        match self.data_type.as_str() {
            _ if integer && in_primary_key => "ID",
            "tinyint" if self.column_type.starts_with("tinyint(1)") => "Boolean",
            "int" | "integer" if self.column_type.contains("unsigned") => "String",
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" => "Int",
            "bigint" => "String",
            "float" | "double" | "real" | "double precision" => "Float",
            // Exact: read as its text, served as a string.
            "decimal" | "numeric" | "dec" | "fixed" => "Decimal",
            "datetime" | "timestamp" => "DateTime",
            "date" => "Date",
            _ if self.json => "JSON",
            _ => "String",
        }
    }

    /// How the column is read, and the select expression for `column` (already quoted and
    /// qualified) that produces it; `None` for types graft cannot read (binary, spatial).
    pub(crate) fn read(&self, column: &str) -> Option<(ReadAs, String)> {
        let plain = |read| Some((read, column.to_owned()));
        let fraction = if self.fraction_digits > 0 { ".%f" } else { "" };
        match self.data_type.as_str() {
            // MariaDB and MySQL spell BOOLEAN as tinyint(1).
            "tinyint" if self.column_type.starts_with("tinyint(1)") => plain(ReadAs::Bool),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                plain(ReadAs::Int)
            }
            "bit" => Some((ReadAs::Int, format!("CAST({column} AS UNSIGNED)"))),
            "float" | "double" | "real" | "double precision" => plain(ReadAs::Float),
            // The binary protocol sends decimals as their text, so every digit arrives.
            "decimal" | "numeric" | "dec" | "fixed" => plain(ReadAs::Text),
            _ if self.json => plain(ReadAs::Json),
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum"
            | "set" => plain(ReadAs::Text),
            // Dates and times arrive as binary values that `rows` writes in ISO 8601.
            "date" | "time" => plain(ReadAs::Text),
            // ISO 8601 as JSON writes it. Every connection uses UTC (`SET time_zone`), so a
            // timestamp, which is an instant, carries its offset; a datetime has none.
            "datetime" => Some((
                ReadAs::Text,
                format!("DATE_FORMAT({column}, '%Y-%m-%dT%H:%i:%s{fraction}')"),
            )),
            "timestamp" => Some((
                ReadAs::Text,
                format!("DATE_FORMAT({column}, '%Y-%m-%dT%H:%i:%s{fraction}+00:00')"),
            )),
            "tinyblob" | "blob" | "mediumblob" | "longblob" | "binary" | "varbinary"
            | "geometry" | "point" | "linestring" | "polygon" | "multipoint"
            | "multilinestring" | "multipolygon" | "geometrycollection" | "vector" => None,
            // uuid, inet4, inet6 (MariaDB) and other types read as their text.
            _ => Some((ReadAs::Text, format!("CAST({column} AS CHAR)"))),
        }
    }

    /// How keys for this column are bound, with the `JSON_TABLE` column type that matches the
    /// column (and its character set and collation, so that the join uses the index), or why
    /// the column cannot be a key.
    pub(crate) fn key_column(&self) -> Result<KeyColumn, String> {
        let column_type = self
            .column_type
            .strip_suffix(" zerofill")
            .unwrap_or(&self.column_type);
        if !is_plain_type(column_type) {
            return Err(String::new());
        }
        let unsigned = column_type.ends_with(" unsigned");
        let (min, max): (i128, i128) = match (self.data_type.as_str(), unsigned) {
            ("tinyint", false) => (i8::MIN.into(), i8::MAX.into()),
            ("tinyint", true) => (0, u8::MAX.into()),
            ("smallint", false) => (i16::MIN.into(), i16::MAX.into()),
            ("smallint", true) => (0, u16::MAX.into()),
            ("mediumint", false) => (-(1 << 23), (1 << 23) - 1),
            ("mediumint", true) => (0, (1 << 24) - 1),
            ("int" | "integer", false) => (i32::MIN.into(), i32::MAX.into()),
            ("int" | "integer", true) => (0, u32::MAX.into()),
            ("bigint", false) => (i64::MIN.into(), i64::MAX.into()),
            ("bigint", true) => (0, u64::MAX.into()),
            ("char" | "varchar", _) => {
                let (Some(charset), Some(collation), Some(max_chars)) =
                    (&self.charset, &self.collation, self.max_chars)
                else {
                    return Err(" without a character set".to_owned());
                };
                if !is_name(charset) || !is_name(collation) {
                    return Err(format!(" in character set `{charset}` `{collation}`"));
                }
                let repertoire = match charset.as_str() {
                    "utf8mb4" => Repertoire::Unicode,
                    "utf8mb3" | "utf8" => Repertoire::Bmp,
                    "latin1" => Repertoire::Latin1,
                    "ascii" => Repertoire::Ascii,
                    other => return Err(format!(" in character set `{other}`")),
                };
                return Ok(KeyColumn {
                    bind: KeyBind::Text {
                        max_chars,
                        repertoire,
                    },
                    json_table_type: format!(
                        "{column_type} CHARACTER SET {charset} COLLATE {collation}"
                    ),
                    parameter: format!(
                        "CAST(? AS CHAR CHARACTER SET {charset}) COLLATE {collation}"
                    ),
                });
            }
            _ => return Err(String::new()),
        };
        Ok(KeyColumn {
            bind: KeyBind::Int { min, max },
            json_table_type: column_type.to_owned(),
            parameter: "?".to_owned(),
        })
    }
}

/// Whether `column_type` matches `^[a-z]+( ?\([0-9]+(,[0-9]+)?\))?( unsigned)?$`: catalog
/// text, but it is written into SQL, so only this plain shape is accepted.
fn is_plain_type(column_type: &str) -> bool {
    let rest = column_type.strip_suffix(" unsigned").unwrap_or(column_type);
    let name_end = rest
        .find(|c: char| !c.is_ascii_lowercase())
        .unwrap_or(rest.len());
    if name_end == 0 {
        return false;
    }
    let rest = &rest[name_end..];
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match inner.split_once(',') {
        Some((length, scale)) => digits(length) && digits(scale),
        None => digits(inner),
    }
}

/// Whether a character set or collation name is plain: `[a-z0-9_]+`.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A key column: how its values are bound and its type in the `JSON_TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyColumn {
    pub(crate) bind: KeyBind,
    /// `int(11)`, `bigint(20) unsigned`, `varchar(64) CHARACTER SET utf8mb4 COLLATE ...`.
    pub(crate) json_table_type: String,
    /// The placeholder a value of the column is compared through: `?` for integers,
    /// `CAST(? AS CHAR CHARACTER SET latin1) COLLATE latin1_swedish_ci` for strings. A string
    /// parameter arrives in the connection's character set (`utf8mb4`); cast to the column's
    /// own, it compares in the column's collation (the order of its index) and the comparison
    /// is a range on the index rather than a conversion of every row.
    pub(crate) parameter: String,
}

/// How one key column's values are checked before they are sent. `JSON_TABLE` converts a value
/// that does not fit its column type with only a warning (5000000000 becomes 2147483647 in an
/// `int`, `"abc"` becomes 0, a 65-character string is cut to 64), and the converted value
/// could name another row; so values that cannot be values of the column are not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyBind {
    /// An integer column with its range; keys are sent as JSON numbers.
    Int {
        /// The smallest value.
        min: i128,
        /// The largest value.
        max: i128,
    },
    /// A `char`/`varchar` column; keys are sent as JSON strings.
    Text {
        /// The column's length in characters.
        max_chars: u64,
        /// The characters the column's character set can hold.
        repertoire: Repertoire,
    },
}

/// The characters a key column's character set can hold: a key with any other character would
/// be converted to `?` on its way into the `JSON_TABLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repertoire {
    /// `utf8mb4`: every character.
    Unicode,
    /// `utf8mb3`: the basic multilingual plane.
    Bmp,
    /// `latin1` (Windows-1252 in MariaDB and MySQL): held here as U+0000–U+007F and
    /// U+00A0–U+00FF, which convert one to one.
    Latin1,
    /// `ascii`.
    Ascii,
}

impl Repertoire {
    /// Whether every character of `text` can be held.
    pub(crate) fn holds(self, text: &str) -> bool {
        match self {
            Repertoire::Unicode => true,
            Repertoire::Bmp => text.chars().all(|c| u32::from(c) <= 0xFFFF),
            Repertoire::Latin1 => text
                .chars()
                .all(|c| u32::from(c) <= 0x7F || (0xA0..=0xFF).contains(&u32::from(c))),
            Repertoire::Ascii => text.is_ascii(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(data_type: &str, column_type: &str) -> MyColumn {
        MyColumn {
            data_type: data_type.to_owned(),
            column_type: column_type.to_owned(),
            charset: Some("utf8mb4".to_owned()),
            collation: Some("utf8mb4_general_ci".to_owned()),
            max_chars: Some(64),
            fraction_digits: 0,
            json: false,
        }
    }

    #[test]
    fn only_plain_column_types_reach_sql() {
        for good in [
            "int",
            "int(11)",
            "bigint(20) unsigned",
            "varchar(64)",
            "decimal(12,2)",
            "char (3)",
        ] {
            assert!(is_plain_type(good), "{good}");
        }
        for bad in [
            "",
            "enum('a','b')",
            "int(11)) union select 1",
            "varchar(64) character set utf8mb4",
            "int(",
            "int()",
            "int(1,)",
            "Int",
        ] {
            assert!(!is_plain_type(bad), "{bad}");
        }
    }

    #[test]
    fn key_columns_carry_their_type_range_and_collation() {
        assert_eq!(
            column("int", "int(10) unsigned zerofill").key_column(),
            Ok(KeyColumn {
                bind: KeyBind::Int {
                    min: 0,
                    max: u32::MAX.into()
                },
                json_table_type: "int(10) unsigned".to_owned(),
                parameter: "?".to_owned(),
            })
        );
        assert_eq!(
            column("varchar", "varchar(64)")
                .key_column()
                .map(|k| (k.json_table_type, k.parameter)),
            Ok((
                "varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci".to_owned(),
                "CAST(? AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_general_ci".to_owned()
            ))
        );
        assert!(column("date", "date").key_column().is_err());
        assert!(column("enum", "enum('a')").key_column().is_err());
        let mut odd = column("varchar", "varchar(8)");
        odd.collation = Some("x' OR '1".to_owned());
        assert!(odd.key_column().is_err());
    }

    #[test]
    fn reads_follow_the_type_table() {
        assert_eq!(
            column("tinyint", "tinyint(1)").read("c"),
            Some((ReadAs::Bool, "c".to_owned()))
        );
        assert_eq!(
            column("tinyint", "tinyint(4)").read("c").map(|r| r.0),
            Some(ReadAs::Int)
        );
        assert_eq!(
            column("datetime", "datetime").read("c"),
            Some((
                ReadAs::Text,
                "DATE_FORMAT(c, '%Y-%m-%dT%H:%i:%s')".to_owned()
            ))
        );
        assert!(column("blob", "blob").read("c").is_none());
        let mut json = column("longtext", "longtext");
        json.json = true;
        assert_eq!(json.read("c").map(|r| r.0), Some(ReadAs::Json));
        assert!(is_json_check("json_valid(`meta`)", "meta"));
        assert!(!is_json_check("json_valid(`meta`) and 1", "meta"));
    }

    #[test]
    fn graphql_types_follow_the_type_table() {
        let ty = |data_type: &str, column_type: &str, in_key: bool| {
            column(data_type, column_type).graphql_type(in_key)
        };
        assert_eq!(ty("bigint", "bigint(20)", true), "ID");
        assert_eq!(ty("int", "int(10) unsigned", true), "ID");
        assert_eq!(ty("varchar", "varchar(64)", true), "String");
        assert_eq!(ty("tinyint", "tinyint(1)", false), "Boolean");
        assert_eq!(ty("tinyint", "tinyint(4)", false), "Int");
        assert_eq!(ty("mediumint", "mediumint(8) unsigned", false), "Int");
        assert_eq!(ty("int", "int(11)", false), "Int");
        assert_eq!(ty("int", "int(10) unsigned", false), "String");
        assert_eq!(ty("bigint", "bigint(20)", false), "String");
        assert_eq!(ty("double", "double", false), "Float");
        assert_eq!(ty("decimal", "decimal(10,2)", false), "Decimal");
        assert_eq!(ty("datetime", "datetime", false), "DateTime");
        assert_eq!(ty("date", "date", false), "Date");
        assert_eq!(ty("time", "time", false), "String");
        let (name, mariadb_json) = MyColumn::from_row(
            (
                "meta".to_owned(),
                "LONGTEXT".to_owned(),
                "longtext".to_owned(),
                None,
                None,
                None,
                None,
            ),
            &["json_valid(`meta`)".to_owned()],
        );
        assert_eq!(name, "meta");
        assert_eq!(mariadb_json.graphql_type(false), "JSON");
        let (_, mysql_json) = MyColumn::from_row(
            (
                "meta".to_owned(),
                "json".to_owned(),
                "json".to_owned(),
                None,
                None,
                None,
                None,
            ),
            &[],
        );
        assert_eq!(mysql_json.graphql_type(false), "JSON");
    }

    #[test]
    fn repertoires_refuse_characters_their_charset_would_turn_into_question_marks() {
        assert!(Repertoire::Bmp.holds("Zoë"));
        assert!(!Repertoire::Bmp.holds("😀"));
        assert!(Repertoire::Latin1.holds("Zoë"));
        assert!(!Repertoire::Latin1.holds("Ω"));
        assert!(!Repertoire::Ascii.holds("é"));
    }
}
