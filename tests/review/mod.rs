//! Shared by the access-review tests (tests/review_*.rs): the harness CLI, the recorded
//! fixtures, goldens and a small CSV reader.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `diff` and `report` run in the harness CLI, built by `make harness` (`make test` builds it).
pub fn harness() -> PathBuf {
    let path = repo().join("target/debug/host-harness");
    assert!(
        path.exists(),
        "{} is missing: run `make harness`",
        path.display()
    );
    path
}

/// Runs the harness in the repository root, so relative paths print as given.
pub fn run(args: &[&str]) -> Output {
    Command::new(harness())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the harness runs")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The real Airflow 3.3 syncs scripts/record-review.sh took (relative to the repository).
pub const FIXTURES: &str = "tests/fixtures/review/airflow-3.3";

pub fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// When the fixtures were taken, as the script wrote it.
pub fn taken_at() -> String {
    std::fs::read_to_string(repo().join(fixture("taken-at")))
        .expect("the fixtures' taken-at file")
        .trim()
        .to_string()
}

/// A fresh directory under tests/out/review/ (CI keeps tests/out as its artefact).
pub fn out_dir(name: &str) -> PathBuf {
    let dir = repo().join("tests/out/review").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compares `files` in `actual` with tests/golden/review/NAME/; `REVIEW_GOLDEN_UPDATE=1`
/// rewrites the goldens instead (review the diff).
pub fn check_golden(name: &str, actual: &Path, files: &[&str]) {
    let golden = repo().join("tests/golden/review").join(name);
    let update = std::env::var_os("REVIEW_GOLDEN_UPDATE").is_some_and(|v| v == "1");
    if update {
        std::fs::create_dir_all(&golden).unwrap();
    }
    for f in files {
        let got = std::fs::read_to_string(actual.join(f))
            .unwrap_or_else(|e| panic!("{}: {e}", actual.join(f).display()));
        let path = golden.join(f);
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (REVIEW_GOLDEN_UPDATE=1 writes it)", path.display())
        });
        assert!(
            got == want,
            "{} differs from {} (REVIEW_GOLDEN_UPDATE=1 rewrites the goldens; review the diff):\n{}",
            actual.join(f).display(),
            path.display(),
            first_difference(&want, &got)
        );
    }
}

fn first_difference(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}:\n  want {w}\n  got  {g}", i + 1);
        }
    }
    format!(
        "{} lines wanted, {} got",
        want.lines().count(),
        got.lines().count()
    )
}

/// RFC 4180 rows: quoted fields may hold commas, doubled quotes and newlines.
pub fn csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The rows of a CSV as maps from its header's labels.
pub fn csv_records(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut rows = csv(path).into_iter();
    let header = rows.next().unwrap_or_default();
    rows.map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

/// Parsed lines of a sync file.
pub fn sync_lines(path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(repo().join(path))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
