//! Tidy checks: repository-wide rules that are cheaper to test than to review.
//!
//! * the crate layering: pure crates stay free of I/O dependencies, and a
//!   graft crate depends only on graft crates of a lower layer;
//! * every crate under `crates/` is described in `docs/ARCHITECTURE.md`;
//! * every Rust file starts with a `//!` doc comment;
//! * no ignored tests and no `todo!`/`unimplemented!` under `crates/`.
//!
//! The checks run as ordinary `#[test]`s of the xtask package, so
//! `cargo xtask test` runs them with the rest of the suite. Manifests are
//! read with a small line-based parser instead of a TOML crate.

use std::fs;
use std::path::{Path, PathBuf};

/// The graft crates and their layer, lowest first. A crate may only depend on
/// graft crates of a strictly lower layer; crates of one layer must not
/// depend on each other.
const LAYERS: &[(&str, u8)] = &[
    ("graft-keys", 0),
    ("graft-schema", 1),
    ("graft-plan", 2),
    ("graft-resolve", 3),
    // Shared state in Redis or Redis Cluster; knows nothing of graft.
    ("graft-redis", 3),
    ("graft-db", 4),
    ("graft-http", 4),
    ("graft-tenancy", 4),
    ("graft-cache", 4),
    ("graft-server", 5),
    // Test support: depends on no graft crate and is only ever a dev-dependency.
    ("graft-testkit", 0),
];

/// Crates that must stay pure: no I/O, no async runtime.
const PURE_CRATES: &[&str] = &["graft-keys", "graft-schema", "graft-plan"];

/// Dependencies a pure crate must not have.
const IO_DEPENDENCIES: &[&str] = &[
    "tokio",
    "sqlx",
    "reqwest",
    "axum",
    "hyper",
    "deadpool-postgres",
    "mysql_async",
    "redis",
    "tower",
    "tower-http",
];

/// Dependencies `graft-resolve` must not have: it defines the traits, the
/// implementations over databases and HTTP live in the crates beside it.
const RESOLVE_FORBIDDEN: &[&str] = &[
    "sqlx",
    "reqwest",
    "axum",
    "hyper",
    "deadpool-postgres",
    "mysql_async",
];

/// Markers that must not appear in any Rust file under `crates/`.
// Split with `concat!` so that this line is not itself a match for line scanners.
const FORBIDDEN_MARKERS: &[&str] = &[
    concat!("#[", "ignore"),
    concat!("todo", "!("),
    concat!("unimplemented", "!("),
];

/// The workspace root: the parent of the xtask package directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `path` relative to `root`, with `/` separators, for messages.
fn relative(root: &Path, path: &Path) -> String {
    let path = path.strip_prefix(root).unwrap_or(path);
    path.components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads a file that the checks need, panicking with its path if it cannot.
fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// The directories under `crates/` that hold a `Cargo.toml`, sorted.
fn crate_dirs(root: &Path) -> Vec<PathBuf> {
    let crates = root.join("crates");
    let Ok(entries) = fs::read_dir(&crates) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// The final component of `path` as a string.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every `.rs` file below `dir` (recursively, skipping `target` and hidden
/// directories), appended to `out`. A missing `dir` adds nothing.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = file_name(&path);
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Fails the test with every violation, one per line, if there are any.
fn assert_none(what: &str, mut violations: Vec<String>) {
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "{what}:\n  {}\n",
        violations.join("\n  ")
    );
}

/// Removes a `#` comment from a manifest line, leaving `#` inside strings.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (index, ch) in line.char_indices() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(open), _) if ch == open => quote = None,
            (None, '#') => return &line[..index],
            _ => {}
        }
    }
    line
}

/// Splits a dotted TOML key (`target.'cfg(unix)'.dependencies`) into its
/// parts, honouring quotes and removing them.
fn split_dotted(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for ch in key.chars() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(open), _) if ch == open => quote = None,
            (None, '.') => parts.push(std::mem::take(&mut current).trim().to_owned()),
            _ => current.push(ch),
        }
    }
    parts.push(current.trim().to_owned());
    parts
}

/// Normalises a package name for comparison: lowercase, `_` as `-`.
fn normalise(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// The value of `package = "..."` inside an inline table, if any.
fn inline_package(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(index) = rest.find("package") {
        let before = rest[..index].chars().next_back();
        let after = rest[index + "package".len()..].trim_start();
        rest = &rest[index + "package".len()..];
        if !matches!(before, Some('{' | ',' | ' ' | '\t')) {
            continue;
        }
        let Some(after) = after.strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            continue;
        }
        let body = &after[1..];
        return body.find(quote).map(|end| body[..end].to_owned());
    }
    None
}

/// What kind of manifest section a `[header]` opens.
enum Section {
    /// `[dependencies]`, `[build-dependencies]` or their `[target.*.…]` forms:
    /// every key names a dependency.
    Dependencies,
    /// `[dependencies.<name>]` and the like: one dependency as a table; the
    /// index is its position in the result, for a later `package = …`.
    DependencyTable(usize),
    /// Anything else, including `[dev-dependencies]`.
    Other,
}

/// Whether a header part names a section of normal or build dependencies.
fn is_dependency_kind(part: &str) -> bool {
    part == "dependencies" || part == "build-dependencies"
}

/// The (normalised) package names of the normal and build dependencies of a
/// manifest, including target-specific ones. Dev-dependencies are not
/// included: they do not shape the layering of the built crates.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut section = Section::Other;
    for raw in manifest.lines() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            let header = line.trim_start_matches('[').trim_end_matches(']');
            let parts = split_dotted(header);
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            section = match parts.as_slice() {
                [kind] if is_dependency_kind(kind) => Section::Dependencies,
                ["target", _, kind] if is_dependency_kind(kind) => Section::Dependencies,
                [kind, name] | ["target", _, kind, name] if is_dependency_kind(kind) => {
                    names.push(normalise(name));
                    Section::DependencyTable(names.len() - 1)
                }
                _ => Section::Other,
            };
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match section {
            Section::Dependencies => {
                let key = split_dotted(key);
                let name = inline_package(value).unwrap_or_else(|| key[0].clone());
                names.push(normalise(&name));
            }
            Section::DependencyTable(index) => {
                if split_dotted(key) == ["package"] {
                    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                    names[index] = normalise(value);
                }
            }
            Section::Other => {}
        }
    }
    names
}

/// The `name` in the `[package]` section of a manifest.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for raw in manifest.lines() {
        let line = strip_comment(raw).trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// The layer of a graft crate, if it is in [`LAYERS`].
fn layer(name: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(crate_name, _)| *crate_name == name)
        .map(|&(_, layer)| layer)
}

/// Whether `word` occurs in `text` as a whole word, where crate-name
/// characters (`[A-Za-z0-9_-]`) do not count as word boundaries.
fn mentions_word(text: &str, word: &str) -> bool {
    let is_name_char = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-';
    text.match_indices(word).any(|(index, _)| {
        let before = text[..index].chars().next_back();
        let after = text[index + word.len()..].chars().next();
        !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
    })
}

/// Whether the normalised package name `dep` is in `list`.
fn listed(list: &[&str], dep: &str) -> bool {
    list.iter().any(|entry| normalise(entry) == dep)
}

/// The layering violations of one crate, given its package name, its
/// manifest path (for messages) and its dependencies.
fn layering_violations(name: &str, manifest: &str, deps: &[String]) -> Vec<String> {
    let mut violations = Vec::new();
    let own_layer = layer(name);
    if name.starts_with("graft-") && own_layer.is_none() {
        violations.push(format!(
            "{manifest}: `{name}` has no layer; add it to LAYERS in xtask/src/tidy.rs \
             (and describe it in docs/ARCHITECTURE.md)"
        ));
    }
    for dep in deps {
        if PURE_CRATES.contains(&name) && listed(IO_DEPENDENCIES, dep) {
            violations.push(format!(
                "{manifest}: `{name}` is a pure crate and must not depend on `{dep}`"
            ));
        }
        if name == "graft-resolve" && listed(RESOLVE_FORBIDDEN, dep) {
            violations.push(format!(
                "{manifest}: `graft-resolve` only defines the traits and must not depend on \
                 `{dep}`; implementations live in the crates beside it"
            ));
        }
        if !dep.starts_with("graft-") {
            continue;
        }
        match (own_layer, layer(dep)) {
            (_, None) => violations.push(format!(
                "{manifest}: `{name}` depends on `{dep}`, which has no layer in xtask/src/tidy.rs"
            )),
            (Some(own), Some(theirs)) if theirs >= own => violations.push(format!(
                "{manifest}: `{name}` (layer {own}) must not depend on `{dep}` (layer {theirs}); \
                 a graft crate may only depend on graft crates of a lower layer"
            )),
            _ => {}
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_respect_the_layering() {
        let root = workspace_root();
        let mut violations = Vec::new();
        for dir in crate_dirs(&root) {
            let manifest_path = dir.join("Cargo.toml");
            let manifest = read(&manifest_path);
            let name = package_name(&manifest).unwrap_or_else(|| file_name(&dir));
            violations.extend(layering_violations(
                &name,
                &relative(&root, &manifest_path),
                &dependencies(&manifest),
            ));
        }
        assert_none("crate layering is violated", violations);
    }

    #[test]
    fn every_crate_is_described_in_the_architecture_doc() {
        let root = workspace_root();
        let doc_path = root.join("docs").join("ARCHITECTURE.md");
        if !doc_path.is_file() {
            eprintln!(
                "tidy: docs/ARCHITECTURE.md does not exist yet; \
                 skipping the check that it mentions every crate"
            );
            return;
        }
        let doc = read(&doc_path);
        let violations = crate_dirs(&root)
            .iter()
            .map(|dir| file_name(dir))
            .filter(|name| !mentions_word(&doc, name))
            .map(|name| format!("crates/{name} is not mentioned in docs/ARCHITECTURE.md"))
            .collect();
        assert_none("crates missing from docs/ARCHITECTURE.md", violations);
    }

    #[test]
    fn every_rust_file_starts_with_a_module_doc_comment() {
        let root = workspace_root();
        let mut files = Vec::new();
        for dir in crate_dirs(&root) {
            for sub in ["src", "tests", "benches"] {
                rust_files(&dir.join(sub), &mut files);
            }
        }
        rust_files(&root.join("xtask").join("src"), &mut files);
        rust_files(&root.join("xtask").join("tests"), &mut files);
        assert!(
            !files.is_empty(),
            "found no Rust files under {}",
            root.display()
        );

        let violations = files
            .iter()
            .filter(|path| {
                let text = read(path);
                let first = text
                    .trim_start_matches('\u{feff}')
                    .lines()
                    .map(str::trim)
                    .find(|line| !line.is_empty());
                !first.is_some_and(|line| line.starts_with("//!"))
            })
            .map(|path| relative(&root, path))
            .collect();
        assert_none(
            "these files do not begin with a `//!` doc comment",
            violations,
        );
    }

    #[test]
    fn no_ignored_tests_or_unfinished_code_under_crates() {
        let root = workspace_root();
        let mut files = Vec::new();
        rust_files(&root.join("crates"), &mut files);
        let mut violations = Vec::new();
        for path in &files {
            for (number, line) in read(path).lines().enumerate() {
                for marker in FORBIDDEN_MARKERS {
                    if line.contains(marker) {
                        violations.push(format!(
                            "{}:{}: contains `{marker}`",
                            relative(&root, path),
                            number + 1
                        ));
                    }
                }
            }
        }
        assert_none(
            "ignored tests and unfinished code are not allowed under crates/",
            violations,
        );
    }

    // The checks above are only as good as the manifest parser; these pin it.

    #[test]
    fn parser_reads_every_form_of_dependency() {
        let manifest = r#"
[package]
name = "graft-example" # a comment
description = "has [dependencies] and # in a string"

[dependencies]
graft-keys.workspace = true
serde = { workspace = true, features = ["derive"] }
"tokio" = "1"
async = { package = "async-std", version = "1" }
deadpool_postgres = "0.14" # normalised to deadpool-postgres

[dev-dependencies]
reqwest.workspace = true

[target.'cfg(unix)'.dependencies]
mysql_async = "0.34"

[build-dependencies.gen]
package = "graft-plan"
version = "1"

[[bench]]
name = "not-a-dependency"
"#;
        assert_eq!(package_name(manifest).as_deref(), Some("graft-example"));
        assert_eq!(
            dependencies(manifest),
            [
                "graft-keys",
                "serde",
                "tokio",
                "async-std",
                "deadpool-postgres",
                "mysql-async",
                "graft-plan",
            ]
        );
    }

    #[test]
    fn layering_rules_catch_upward_sideways_and_io_dependencies() {
        let deps = |names: &[&str]| names.iter().map(|name| normalise(name)).collect::<Vec<_>>();
        assert!(layering_violations("graft-plan", "m", &deps(&["graft-keys", "serde"])).is_empty());
        assert!(layering_violations("graft-server", "m", &deps(&["graft-db", "tokio"])).is_empty());
        // Upwards.
        assert_eq!(
            layering_violations("graft-schema", "m", &deps(&["graft-plan"])).len(),
            1
        );
        // Sideways, within layer 4.
        assert_eq!(
            layering_violations("graft-db", "m", &deps(&["graft-http"])).len(),
            1
        );
        // I/O in a pure crate, with `_` spelling.
        assert_eq!(
            layering_violations("graft-keys", "m", &deps(&["mysql_async"])).len(),
            1
        );
        // graft-resolve may use tokio, not sqlx.
        assert!(layering_violations("graft-resolve", "m", &deps(&["tokio"])).is_empty());
        assert_eq!(
            layering_violations("graft-resolve", "m", &deps(&["sqlx"])).len(),
            1
        );
        // Unknown graft crates need a layer.
        assert_eq!(layering_violations("graft-new", "m", &[]).len(), 1);
    }

    #[test]
    fn mentions_needs_a_whole_crate_name() {
        assert!(mentions_word("see `graft-db`.", "graft-db"));
        assert!(mentions_word("graft-db", "graft-db"));
        assert!(!mentions_word("graft-dbx and graft-db-extra", "graft-db"));
    }
}
