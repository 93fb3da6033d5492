//! The two migration folders must stay in step: same versions, same statements, apart
//! from what `migrations/allowed-differences.txt` writes down.

use std::collections::BTreeMap;
use std::path::Path;

/// The statements of one migration file: comments removed, whitespace collapsed, split
/// on `;` (no migration uses `;` inside a string or a function body).
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|line| match line.find("--") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join(" ");
    without_comments
        .split(';')
        .map(|s| {
            // Line breaks inside parentheses are layout, not meaning.
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace("( ", "(")
                .replace(" )", ")")
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn migration_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "sql") {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("readable migration");
            files.insert(name, text);
        }
    }
    files
}

#[derive(Default)]
struct Allowed {
    /// (SQLite spelling, PostgreSQL spelling)
    types: Vec<(String, String)>,
    /// (database, file, statement)
    only: Vec<(String, String, String)>,
}

fn allowed_differences(root: &Path) -> Allowed {
    let text = std::fs::read_to_string(root.join("migrations/allowed-differences.txt"))
        .expect("migrations/allowed-differences.txt");
    let mut allowed = Allowed::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rule) = line.strip_prefix("type ") {
            let (sqlite, postgres) = rule.split_once(" = ").expect("type A = B");
            allowed
                .types
                .push((sqlite.trim().into(), postgres.trim().into()));
        } else if let Some((db, rest)) = line.split_once("-only ") {
            let (file, statement) = rest.split_once(": ").expect("DB-only FILE: STATEMENT");
            allowed
                .only
                .push((db.into(), file.into(), statement.trim().into()));
        } else {
            panic!("unknown rule in allowed-differences.txt: {line}");
        }
    }
    allowed
}

/// Replaces whole words only, so `REAL` does not touch `REALM`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before_ok = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        let after = &rest[i + word.len()..];
        let after_ok = after
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        out.push_str(&rest[..i]);
        out.push_str(if before_ok && after_ok { with } else { word });
        rest = after;
    }
    out.push_str(rest);
    out
}

fn compare(root: &Path) -> Vec<String> {
    let sqlite = migration_files(&root.join("migrations/sqlite"));
    let postgres = migration_files(&root.join("migrations/postgres"));
    let allowed = allowed_differences(root);
    let mut problems = Vec::new();
    for name in sqlite.keys().filter(|n| !postgres.contains_key(*n)) {
        problems.push(format!("{name} exists for SQLite only"));
    }
    for name in postgres.keys().filter(|n| !sqlite.contains_key(*n)) {
        problems.push(format!("{name} exists for PostgreSQL only"));
    }
    for (name, sqlite_sql) in &sqlite {
        let Some(postgres_sql) = postgres.get(name) else {
            continue;
        };
        let only = |db: &str| -> Vec<String> {
            allowed
                .only
                .iter()
                .filter(|(d, f, _)| d == db && f == name)
                .map(|(_, _, s)| s.clone())
                .collect()
        };
        let (sqlite_only, postgres_only) = (only("sqlite"), only("postgres"));
        let mut left: Vec<String> = statements(sqlite_sql)
            .into_iter()
            .filter(|s| !sqlite_only.contains(s))
            .collect();
        for (from, to) in &allowed.types {
            left = left.iter().map(|s| replace_word(s, from, to)).collect();
        }
        let right: Vec<String> = statements(postgres_sql)
            .into_iter()
            .filter(|s| !postgres_only.contains(s))
            .collect();
        if left.len() != right.len() {
            problems.push(format!(
                "{name}: {} statements for SQLite, {} for PostgreSQL",
                left.len(),
                right.len()
            ));
        }
        for (i, (l, r)) in left.iter().zip(&right).enumerate() {
            if l != r {
                problems.push(format!(
                    "{name}, statement {}:\n  sqlite:   {l}\n  postgres: {r}",
                    i + 1
                ));
            }
        }
    }
    problems
}

#[test]
fn the_two_migration_folders_hold_the_same_versions_and_statements() {
    let problems = compare(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        problems.is_empty(),
        "migrations differ beyond migrations/allowed-differences.txt:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_statement_changed_in_one_folder_only_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for db in ["sqlite", "postgres"] {
        std::fs::create_dir_all(root.join("migrations").join(db)).expect("folder");
    }
    std::fs::write(
        root.join("migrations/allowed-differences.txt"),
        "type REAL = DOUBLE PRECISION\n",
    )
    .expect("write");
    let write = |db: &str, name: &str, sql: &str| {
        std::fs::write(root.join("migrations").join(db).join(name), sql).expect("write")
    };
    write("sqlite", "0001_a.sql", "CREATE TABLE t (x REAL); -- note\n");
    write(
        "postgres",
        "0001_a.sql",
        "CREATE TABLE t (\n  x DOUBLE PRECISION\n);",
    );
    assert!(compare(root).is_empty(), "{:?}", compare(root));

    write(
        "postgres",
        "0001_a.sql",
        "CREATE TABLE t (x DOUBLE PRECISION NOT NULL);",
    );
    write("sqlite", "0002_b.sql", "CREATE INDEX i ON t (x);");
    let problems = compare(root);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("0002_b.sql exists for SQLite only"));
    assert!(problems[1].contains("0001_a.sql, statement 1"));
}
