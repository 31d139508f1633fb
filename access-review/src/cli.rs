//! The `diff` and `report` subcommands, as the harness CLI wires them in: their arguments
//! (clap) and what they print. Errors go to stderr once, prefixed `error:`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::diff::{self, DiffOptions};
use crate::error::ReviewError;
use crate::review::{self, TakenAt, Thresholds};
use crate::{html, records, report, time};

/// Exit status: the syncs are equal, they differ, or the input was unusable (like `diff`).
pub const EQUAL: u8 = 0;
pub const DIFFERENT: u8 = 1;
pub const TROUBLE: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable summary, grouped by kind of change
    Text,
    /// One JSON object per change (field names: docs/review.md)
    Jsonl,
}

// A heading of their own: the harness's global connector flags are listed too, under Options.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Diff options")]
pub struct DiffArgs {
    /// The earlier sync: JSON Lines written by `sync --out`
    #[arg(value_name = "OLD.jsonl")]
    pub old: PathBuf,
    /// The later sync
    #[arg(value_name = "NEW.jsonl")]
    pub new: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also compare what moves without a change of access: sign-in times and counts, and
    /// bookkeeping timestamps (changed_on, updated_at, modified_at, last_modified, last_seen)
    #[arg(long)]
    pub all_fields: bool,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Report options")]
pub struct ReportArgs {
    /// The sync to review: JSON Lines written by `sync --out`
    #[arg(value_name = "SYNC.jsonl")]
    pub sync: PathBuf,
    /// An earlier sync: the report opens with what changed since (as `diff` shows it)
    #[arg(long, value_name = "OLD.jsonl")]
    pub previous: Option<PathBuf>,
    /// Write the report as one self-contained HTML file
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write every section as a CSV file into DIR (created if missing)
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// An enabled account whose last sign-in is this many days old is stale; one that never
    /// signed in is unused once it was created this many days before the sync
    #[arg(long, value_name = "DAYS", default_value_t = review::DEFAULT_STALE_DAYS)]
    pub stale_days: u32,
    /// Report accounts with at least this many failed sign-ins (0: never)
    #[arg(long, value_name = "N", default_value_t = review::DEFAULT_FAILED_SIGN_INS)]
    pub failed_sign_ins: u64,
    /// The system's own roles, comma-separated; any other role is custom
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        default_value = "Admin,Op,User,Viewer,Public"
    )]
    pub builtin_roles: Vec<String>,
    /// When the sync was taken, e.g. 2026-12-03T14:00:00Z (a time without a zone is UTC); the
    /// ages of sign-ins are counted to it [default: the sync file's modification time]
    #[arg(long, value_name = "TIME")]
    pub taken_at: Option<String>,
}

fn fail(e: &ReviewError) -> u8 {
    eprintln!("error: {e}");
    TROUBLE
}

fn write_stdout(text: &str) -> Result<(), ReviewError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| ReviewError::write(std::path::Path::new("stdout"), e))
}

/// `host-harness diff`; returns the exit status.
pub fn diff(args: &DiffArgs) -> u8 {
    let opts = DiffOptions {
        all_fields: args.all_fields,
    };
    let d = match diff::diff(&args.old, &args.new, opts) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let text = match args.format {
        Format::Text => d.to_text(),
        Format::Jsonl => d.to_jsonl(),
    };
    if let Err(e) = write_stdout(&text) {
        return fail(&e);
    }
    if d.is_empty() {
        EQUAL
    } else {
        DIFFERENT
    }
}

fn taken_at(args: &ReportArgs) -> Result<TakenAt, ReviewError> {
    match &args.taken_at {
        Some(text) => time::parse(text)
            .map(|at| TakenAt {
                at,
                source: "given with --taken-at".into(),
            })
            .ok_or_else(|| {
                ReviewError::Usage(format!(
                    "--taken-at `{text}` is not a time: give e.g. 2026-12-03T14:00:00Z or \
                     2026-12-03"
                ))
            }),
        None => std::fs::metadata(&args.sync)
            .and_then(|m| m.modified())
            .map_err(|e| ReviewError::read(&args.sync, e))
            .and_then(|t| {
                time::from_system(t).ok_or_else(|| {
                    ReviewError::Usage(format!(
                        "{} has no usable modification time: give --taken-at",
                        args.sync.display()
                    ))
                })
            })
            .map(|at| TakenAt {
                at,
                source: "the sync file's modification time; --taken-at overrides it".into(),
            }),
    }
}

/// Builds the review `report` prints and writes.
pub fn build(args: &ReportArgs) -> Result<review::Review, ReviewError> {
    let taken = taken_at(args)?;
    let sync = records::read_sync(&args.sync)?;
    let drift = match &args.previous {
        Some(old) => Some(diff::diff(old, &args.sync, DiffOptions::default())?),
        None => None,
    };
    let thresholds = Thresholds {
        stale_days: args.stale_days,
        failed_sign_ins: args.failed_sign_ins,
        builtin_roles: args
            .builtin_roles
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    Ok(review::review(&sync, &args.sync, taken, thresholds, drift))
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), ReviewError> {
    std::fs::write(path, text).map_err(|e| ReviewError::write(path, e))
}

/// `host-harness report`; returns the exit status.
pub fn report(args: &ReportArgs) -> u8 {
    let r = match build(args) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let h = r.headline();
    let mut text = format!(
        "Access review of {} (taken {}; {})\n  {} accounts ({} enabled, {} disabled{}), {} roles, \
         {} admin-equivalent accounts\n  findings: {} high, {} medium, {} low\n",
        args.sync.display(),
        time::display(r.taken_at.at),
        r.taken_at.source,
        h.accounts,
        h.enabled,
        h.disabled,
        if h.other_status > 0 {
            format!(", {} other", h.other_status)
        } else {
            String::new()
        },
        h.roles,
        h.privileged,
        h.high,
        h.medium,
        h.low
    );
    if let Some(d) = &r.drift {
        text.push_str(&format!(
            "  changes since {}: {}\n",
            d.old.display(),
            d.changes.len()
        ));
    }
    for note in r.coverage.notes() {
        text.push_str(&format!("  note: {note}\n"));
    }
    if let Some(path) = &args.html {
        if let Err(e) = write_file(path, &html::render(&r)) {
            return fail(&e);
        }
        text.push_str(&format!("  HTML: {}\n", path.display()));
    }
    if let Some(dir) = &args.csv {
        match report::write_csv_dir(&r, dir) {
            Ok(files) => text.push_str(&format!(
                "  CSV: {} files in {}\n",
                files.len(),
                dir.display()
            )),
            Err(e) => return fail(&e),
        }
    }
    match write_stdout(&text) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}
