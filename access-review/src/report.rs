//! The report's sections as tables: the HTML page and the CSV files are two renderings of the
//! same tables, so a spreadsheet holds exactly what the page shows.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diff::{Change, ChangeKind};
use crate::error::ReviewError;
use crate::review::{Finding, FindingKind, Named, Review, Severity};
use crate::time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    Text,
    Num,
}

#[derive(Debug, Clone)]
pub struct Column {
    /// Names the column in a link that sorts it (`#sort=TABLE:KEY:desc`).
    pub key: &'static str,
    pub label: &'static str,
    pub kind: ColKind,
}

#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    /// What the column sorts by when it is not the text (a date's ISO form, a rank).
    pub sort: Option<String>,
    pub class: Option<&'static str>,
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell {
            text,
            ..Cell::default()
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::from(text.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone)]
pub struct Section {
    /// The HTML id and the CSV file's name (`ID.csv`).
    pub id: &'static str,
    pub title: String,
    pub intro: String,
    pub table: Table,
    pub empty: &'static str,
}

fn col(key: &'static str, label: &'static str) -> Column {
    Column {
        key,
        label,
        kind: ColKind::Text,
    }
}

fn num_col(key: &'static str, label: &'static str) -> Column {
    Column {
        key,
        label,
        kind: ColKind::Num,
    }
}

fn number(n: Option<impl ToString>) -> Cell {
    match n {
        Some(n) => Cell::from(n.to_string()),
        None => Cell::default(),
    }
}

fn when(t: Option<jiff::Timestamp>) -> Cell {
    match t {
        Some(t) => Cell {
            text: time::display(t),
            sort: Some(time::iso(t)),
            class: None,
        },
        None => Cell::default(),
    }
}

fn severity(s: Severity) -> Cell {
    Cell {
        text: s.label().into(),
        sort: Some((s as u8).to_string()),
        class: Some(match s {
            Severity::High => "sev sev-high",
            Severity::Medium => "sev sev-medium",
            Severity::Low => "sev sev-low",
        }),
    }
}

fn named_id(n: &Option<Named>) -> Cell {
    Cell::from(n.as_ref().map(|n| n.id.clone()).unwrap_or_default())
}

fn named_name(n: &Option<Named>) -> Cell {
    Cell::from(n.as_ref().map(|n| n.name.clone()).unwrap_or_default())
}

fn finding_table(findings: &[&Finding]) -> Table {
    Table {
        columns: vec![
            num_col("severity", "Severity"),
            col("finding", "Finding"),
            col("account", "Account"),
            col("name", "Name"),
            col("role", "Role"),
            col("what", "What"),
            col("why", "Why it matters"),
        ],
        rows: findings
            .iter()
            .map(|f| {
                vec![
                    severity(f.severity),
                    Cell::from(f.kind.title()),
                    named_id(&f.account),
                    named_name(&f.account),
                    named_id(&f.role),
                    Cell::from(f.what.clone()),
                    Cell::from(f.kind.why()),
                ]
            })
            .collect(),
    }
}

fn plain(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn change_row(c: &Change) -> Vec<Cell> {
    let what = match (&c.entitlement, &c.field) {
        (Some(e), _) => match c.entitlement_name.as_deref() {
            Some(n) if !n.is_empty() => format!("{e} ({n})"),
            _ => e.clone(),
        },
        (None, Some(f)) => f.clone(),
        _ => String::new(),
    };
    let mut detail = Vec::new();
    if let Some(n) = c.display_name.as_deref().filter(|n| !n.is_empty()) {
        detail.push(format!("name: {n}"));
    }
    if let Some(e) = &c.email {
        detail.push(format!("e-mail: {e}"));
    }
    if let Some(s) = &c.status {
        detail.push(format!("status: {s}"));
    }
    let removed = c.change.name().ends_with("removed");
    for (label, list) in [
        (if removed { "held" } else { "holds" }, &c.holds),
        (if removed { "was held by" } else { "held by" }, &c.held_by),
        ("entitlements", &c.entitlements),
    ] {
        if !list.is_empty() {
            detail.push(format!("{label}: {}", list.join(", ")));
        }
    }
    vec![
        Cell {
            text: c.change.name().replace('_', " "),
            sort: Some(format!("{:02}", c.change as u8)),
            class: Some(match c.change.name().rsplit('_').next() {
                Some("added") => "chg chg-added",
                Some("removed") => "chg chg-removed",
                _ => "chg chg-changed",
            }),
        },
        Cell::from(c.subject()),
        Cell::from(what),
        Cell::from(plain(&c.old)),
        Cell::from(plain(&c.new)),
        Cell::from(detail.join("; ")),
    ]
}

pub fn sections(r: &Review) -> Vec<Section> {
    let mut out = Vec::new();
    if let Some(d) = &r.drift {
        out.push(Section {
            id: "drift",
            title: "What changed since the previous sync".into(),
            intro: format!(
                "{} change{} from {} to {}. Accounts and roles added or removed are listed with \
                 what they hold; sign-in times and counts are not compared.",
                d.changes.len(),
                if d.changes.len() == 1 { "" } else { "s" },
                file_name(&d.old),
                file_name(&d.new)
            ),
            table: Table {
                columns: vec![
                    num_col("change", "Change"),
                    col("subject", "Account or resource"),
                    col("what", "Entitlement or field"),
                    col("old", "Before"),
                    col("new", "After"),
                    col("detail", "Detail"),
                ],
                rows: d.changes.iter().map(change_row).collect(),
            },
            empty: "No changes: the two syncs grant the same access.",
        });
    }
    out.push(Section {
        id: "privileged",
        title: "Privileged access".into(),
        intro: "Accounts that can create, change or delete accounts, roles or permissions \
                (admin-equivalent), derived from the permissions their roles hold, whatever the \
                roles are called; one row per account and role that grants it."
            .into(),
        table: Table {
            columns: vec![
                col("account", "Account"),
                col("name", "Name"),
                col("status", "Status"),
                col("role", "Granted by"),
                col("via", "Through"),
                col("custom", "Custom role"),
                col("permissions", "Admin-equivalent permissions"),
            ],
            rows: r
                .privileged
                .iter()
                .map(|p| {
                    vec![
                        Cell::from(p.account.id.clone()),
                        Cell::from(p.account.name.clone()),
                        Cell::from(p.status.clone()),
                        Cell::from(p.role.name.clone()),
                        Cell::from(p.via.clone().unwrap_or_else(|| "direct member".into())),
                        Cell {
                            text: if p.custom { "yes" } else { "no" }.into(),
                            sort: None,
                            class: p.custom.then_some("flag"),
                        },
                        Cell::from(p.permissions.join(", ")),
                    ]
                })
                .collect(),
        },
        empty: if r.coverage.permissions {
            "No account can administer access."
        } else {
            "Not derived: this sync carries no permissions of roles."
        },
    });
    let findings = |id, title: &str, intro: String, kinds: &[FindingKind], empty| Section {
        id,
        title: title.into(),
        intro,
        table: finding_table(&r.findings_of(kinds)),
        empty,
    };
    let t = &r.thresholds;
    out.push(findings(
        "stale",
        "Stale and unused accounts",
        format!(
            "Enabled accounts with no sign-in for {} days or more, accounts that never signed in \
             and were created {} days or more before the sync, and disabled accounts that still \
             hold roles.",
            t.stale_days, t.stale_days
        ),
        &[
            FindingKind::Stale,
            FindingKind::NeverSignedIn,
            FindingKind::DisabledWithRoles,
        ],
        if r.coverage.sign_ins {
            "None."
        } else {
            "Not checked: this sync carries no sign-in data."
        },
    ));
    out.push(findings(
        "failed-sign-ins",
        "Failed sign-ins",
        format!(
            "Accounts with {} or more failed sign-ins recorded (Airflow counts those since the \
             last successful one).",
            t.failed_sign_ins
        ),
        &[FindingKind::FailedSignIns],
        if r.coverage.sign_ins {
            "None."
        } else {
            "Not checked: this sync carries no sign-in data."
        },
    ));
    out.push(findings(
        "custom-roles",
        "Custom roles with dangerous permissions",
        format!(
            "Roles other than the system's own ({}) that administer access, reach stored \
             credentials or change configuration, and the accounts that administer access \
             through them.",
            t.builtin_roles.join(", ")
        ),
        &[
            FindingKind::AdminViaCustomRole,
            FindingKind::DangerousCustomRole,
        ],
        if r.coverage.permissions {
            "None."
        } else {
            "Not checked: this sync carries no permissions of roles."
        },
    ));
    out.push(findings(
        "roles-without-members",
        "Roles without members",
        "Roles that no account holds, directly or through a group.".into(),
        &[FindingKind::RoleWithoutMembers],
        "None.",
    ));
    out.push(findings(
        "accounts-without-role",
        "Accounts without a role",
        "Accounts that are not disabled and hold no role.".into(),
        &[FindingKind::AccountWithoutRole],
        "None.",
    ));
    out.push(Section {
        id: "accounts",
        title: "All accounts".into(),
        intro: "Every account in the sync with its sign-in data and roles.".into(),
        table: Table {
            columns: vec![
                col("account", "Account"),
                col("name", "Name"),
                col("email", "E-mail"),
                col("status", "Status"),
                num_col("last", "Last sign-in"),
                num_col("days", "Days since sign-in"),
                num_col("sign-ins", "Sign-ins"),
                num_col("failed", "Failed sign-ins"),
                num_col("created", "Created"),
                col("roles", "Roles"),
                col("admin", "Admin-equivalent"),
            ],
            rows: r
                .accounts
                .iter()
                .map(|a| {
                    vec![
                        Cell::from(a.account.id.clone()),
                        Cell::from(a.account.name.clone()),
                        Cell::from(a.email.clone().unwrap_or_default()),
                        Cell::from(a.status.clone()),
                        when(a.last_login),
                        number(a.days_since_sign_in),
                        number(a.login_count),
                        number(a.fail_login_count),
                        when(a.created_at),
                        Cell::from(
                            a.roles
                                .iter()
                                .map(|r| match &r.via {
                                    Some(v) => format!("{} (through {v})", r.role.name),
                                    None => r.role.name.clone(),
                                })
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        Cell {
                            text: if a.admin_equivalent { "yes" } else { "no" }.into(),
                            sort: None,
                            class: a.admin_equivalent.then_some("flag"),
                        },
                    ]
                })
                .collect(),
        },
        empty: "The sync holds no accounts.",
    });
    out.push(Section {
        id: "roles",
        title: "All roles".into(),
        intro: "Every role with its members and the permissions that make it dangerous.".into(),
        table: Table {
            columns: vec![
                col("role", "Role"),
                col("name", "Name"),
                col("builtin", "Built-in"),
                num_col("members", "Members"),
                num_col("permissions", "Permissions"),
                col("admin", "Admin-equivalent"),
                col("dangerous", "Dangerous permissions"),
            ],
            rows: r
                .roles
                .iter()
                .map(|x| {
                    vec![
                        Cell::from(x.role.id.clone()),
                        Cell::from(x.role.name.clone()),
                        Cell::from(if x.builtin { "yes" } else { "no" }),
                        Cell::from(x.members.to_string()),
                        Cell::from(x.permissions.to_string()),
                        Cell {
                            text: if x.admin_equivalent() { "yes" } else { "no" }.into(),
                            sort: None,
                            class: x.admin_equivalent().then_some("flag"),
                        },
                        Cell::from(
                            x.dangerous
                                .iter()
                                .map(|(d, n)| format!("{n} ({})", d.label()))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                    ]
                })
                .collect(),
        },
        empty: "The sync holds no roles.",
    });
    out
}

pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

/// The summary as label/value pairs: the page's headline and the CSV `summary.csv`.
pub fn summary(r: &Review) -> Vec<(&'static str, String)> {
    let h = r.headline();
    let mut out = vec![
        ("Sync", file_name(&r.source)),
        ("Taken", time::display(r.taken_at.at)),
        ("Taken (how known)", r.taken_at.source.clone()),
        ("Accounts", h.accounts.to_string()),
        ("Enabled", h.enabled.to_string()),
        ("Disabled", h.disabled.to_string()),
        ("Other status", h.other_status.to_string()),
        ("Roles", h.roles.to_string()),
        ("Admin-equivalent accounts", h.privileged.to_string()),
        ("High findings", h.high.to_string()),
        ("Medium findings", h.medium.to_string()),
        ("Low findings", h.low.to_string()),
        (
            "Stale after days (--stale-days)",
            r.thresholds.stale_days.to_string(),
        ),
        (
            "Failed sign-ins threshold (--failed-sign-ins)",
            r.thresholds.failed_sign_ins.to_string(),
        ),
        (
            "Built-in roles (--builtin-roles)",
            r.thresholds.builtin_roles.join(", "),
        ),
    ];
    if let Some(d) = &r.drift {
        out.push(("Previous sync", file_name(&d.old)));
        out.push((
            "Changes since the previous sync",
            d.changes.len().to_string(),
        ));
    }
    out
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a
/// leading `'`: account names come from the directory, which anyone may be able to edit.
fn inert(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<(), ReviewError> {
    let io = |e: csv::Error| {
        ReviewError::write(
            path,
            match e.into_kind() {
                csv::ErrorKind::Io(e) => e,
                other => std::io::Error::other(format!("{other:?}")),
            },
        )
    };
    let mut w = csv::Writer::from_path(path).map_err(io)?;
    w.write_record(header).map_err(io)?;
    for row in rows {
        w.write_record(row.iter().map(|c| inert(c))).map_err(io)?;
    }
    w.flush().map_err(|e| ReviewError::write(path, e))
}

/// Writes `summary.csv`, `findings.csv` (every finding) and one `ID.csv` per section into
/// `dir`; returns the files written.
pub fn write_csv_dir(r: &Review, dir: &Path) -> Result<Vec<PathBuf>, ReviewError> {
    std::fs::create_dir_all(dir).map_err(|e| ReviewError::write(dir, e))?;
    let mut written = Vec::new();
    let path = dir.join("summary.csv");
    let rows: Vec<Vec<String>> = summary(r)
        .into_iter()
        .map(|(k, v)| vec![k.to_string(), v])
        .collect();
    write_csv(&path, &["item", "value"], &rows)?;
    written.push(path);
    let all: Vec<&Finding> = r.findings.iter().collect();
    let mut tables = vec![("findings".to_string(), finding_table(&all))];
    tables.extend(sections(r).into_iter().map(|s| (s.id.to_string(), s.table)));
    for (id, table) in tables {
        let path = dir.join(format!("{id}.csv"));
        let header: Vec<&str> = table.columns.iter().map(|c| c.label).collect();
        let rows: Vec<Vec<String>> = table
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(|c| c.text).collect())
            .collect();
        write_csv(&path, &header, &rows)?;
        written.push(path);
    }
    Ok(written)
}

/// How many changes of each kind the drift holds (kinds with none left out).
pub fn drift_counts(r: &Review) -> Option<Vec<(ChangeKind, usize)>> {
    r.drift.as_ref().map(|d| {
        ChangeKind::ALL
            .iter()
            .map(|k| (*k, d.count(*k)))
            .filter(|(_, n)| *n > 0)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_formulas_are_neutralised() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("+ops"), "'+ops");
        assert_eq!(inert("bob+ops"), "bob+ops");
        assert_eq!(inert(""), "");
    }
}
