//! `host-harness diff` on two synthetic syncs of N users that differ in 18 changes (accounts
//! added and removed, grants added and removed, accounts disabled, a permission added to a
//! role) plus sign-in noise on a tenth of the accounts, which the diff must ignore; beside
//! two baselines run on the same files in the same run: `sort | comm` (which lines differ,
//! not what changed) and `cat` (reading both files).

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::child;
use crate::Options;

const ROLES: usize = 50;
const PERMISSIONS: usize = 100;
/// What the diff must report: 3 + 2 accounts, 5 + 5 grants, 2 accounts disabled, 1 permission.
pub const EXPECTED_CHANGES: usize = 18;

pub struct Row {
    users: usize,
    records: usize,
    old_mb: f64,
    new_mb: f64,
    changes: usize,
    diff_ms: f64,
    sort_comm_ms: f64,
    cat_ms: f64,
    rss_mb: f64,
}

/// Which users each change touches (distinct for N ≥ 1000).
struct Plan {
    n: usize,
    removed: Vec<usize>,
    granted: Vec<usize>,
    revoked: Vec<usize>,
    disabled: Vec<usize>,
}

impl Plan {
    fn new(n: usize) -> Plan {
        let pick = |k: usize| (n / 97) * k + k;
        Plan {
            n,
            removed: vec![pick(1), pick(2)],
            granted: (3..8).map(pick).collect(),
            revoked: (8..13).map(pick).collect(),
            disabled: vec![pick(13), pick(14)],
        }
    }
}

fn roles_of(i: usize) -> Vec<usize> {
    let mut r = vec![i % ROLES];
    if i.is_multiple_of(2) && (i * 7) % ROLES != i % ROLES {
        r.push((i * 7) % ROLES);
    }
    r
}

fn role_holds(role: usize, perm: usize) -> bool {
    (perm + role).is_multiple_of(5)
}

/// Writes one sync, `new` choosing the changed side; returns its record count.
fn write_sync(path: &Path, plan: &Plan, new: bool) -> std::io::Result<usize> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut records = 0;
    let mut line = |w: &mut BufWriter<std::fs::File>, s: String| -> std::io::Result<()> {
        records += 1;
        w.write_all(s.as_bytes())?;
        w.write_all(b"\n")
    };
    for (id, traits) in [
        ("user", "[\"user\"]"),
        ("role", "[\"role\"]"),
        ("permission", "[]"),
    ] {
        line(
            &mut w,
            format!(
                r#"{{"type":"resource_type","id":"{id}","display_name":"{id}","description":"","traits":{traits}}}"#
            ),
        )?;
    }
    let users: Vec<usize> = if new {
        (0..plan.n + 3)
            .filter(|i| !plan.removed.contains(i))
            .collect()
    } else {
        (0..plan.n).collect()
    };
    for &i in &users {
        // A tenth of the accounts signed in between the two syncs.
        let noise = new && i.is_multiple_of(10);
        let status = if new && plan.disabled.contains(&i) {
            "disabled"
        } else {
            "enabled"
        };
        let (last, count, changed) = if noise {
            ("2026-12-02T10:00:00", 8, "2026-12-02T10:00:00")
        } else {
            ("2026-11-01T10:00:00", 7, "2026-11-01T10:00:00")
        };
        line(
            &mut w,
            format!(
                r#"{{"type":"resource","resource_type":"user","id":"user{i:06}","display_name":"User {i}","user":{{"login":"user{i:06}","email":"user{i:06}@example.com","status":"{status}","last_login":"{last}","login_count":{count},"fail_login_count":0,"created_at":"2025-01-01T00:00:00"}},"attributes":{{"first_name":"User","last_name":"{i}","changed_on":"{changed}"}}}}"#
            ),
        )?;
    }
    for r in 0..ROLES {
        line(
            &mut w,
            format!(
                r#"{{"type":"resource","resource_type":"role","id":"r{r:03}","display_name":"Role {r}"}}"#
            ),
        )?;
    }
    for p in 0..PERMISSIONS {
        line(
            &mut w,
            format!(
                r#"{{"type":"resource","resource_type":"permission","id":"can_edit:Thing{p}","display_name":"can edit on Thing{p}","attributes":{{"action":"can_edit","resource":"Thing{p}"}}}}"#
            ),
        )?;
    }
    for r in 0..ROLES {
        line(
            &mut w,
            format!(
                r#"{{"type":"entitlement","id":"role:r{r:03}:member","resource_type":"role","resource_id":"r{r:03}","slug":"member","display_name":"Role {r} member","description":"","purpose":"assignment","grantable_to":["user"]}}"#
            ),
        )?;
    }
    for p in 0..PERMISSIONS {
        line(
            &mut w,
            format!(
                r#"{{"type":"entitlement","id":"permission:can_edit:Thing{p}:assigned","resource_type":"permission","resource_id":"can_edit:Thing{p}","slug":"assigned","display_name":"Assigned: can edit on Thing{p}","description":"","purpose":"permission","grantable_to":["role"]}}"#
            ),
        )?;
    }
    for &i in &users {
        let mut roles = roles_of(i);
        if new && plan.granted.contains(&i) {
            roles.extend((0..ROLES).find(|r| !roles.contains(r)));
        }
        if new && plan.revoked.contains(&i) {
            roles.retain(|r| *r != i % ROLES);
        }
        for r in roles {
            line(
                &mut w,
                format!(
                    r#"{{"type":"grant","id":"role:r{r:03}:member:user:user{i:06}","entitlement":"role:r{r:03}:member","principal_type":"user","principal_id":"user{i:06}"}}"#
                ),
            )?;
        }
    }
    for r in 0..ROLES {
        for p in 0..PERMISSIONS {
            let extra = new && r == 1 && p == 1;
            if role_holds(r, p) || extra {
                line(
                    &mut w,
                    format!(
                        r#"{{"type":"grant","id":"permission:can_edit:Thing{p}:assigned:role:r{r:03}","entitlement":"permission:can_edit:Thing{p}:assigned","principal_type":"role","principal_id":"r{r:03}"}}"#
                    ),
                )?;
            }
        }
    }
    w.flush()?;
    Ok(records)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn wall_ms(mut c: Command) -> Result<f64, String> {
    let what = format!("{c:?}");
    let t = Instant::now();
    let status = c
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("{what}: {e}"))?;
    if !status.success() {
        return Err(format!("{what} failed: {status}"));
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

fn mb(p: &Path) -> f64 {
    std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn measure_size(opts: &Options, users: usize) -> Result<Row, String> {
    let plan = Plan::new(users);
    let dir: PathBuf = opts.work.join("review");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (old, new) = (
        dir.join(format!("old-{users}.jsonl")),
        dir.join(format!("new-{users}.jsonl")),
    );
    let records = write_sync(&old, &plan, false).map_err(|e| e.to_string())?;
    write_sync(&new, &plan, true).map_err(|e| e.to_string())?;

    // What it reports, checked once: every planned change and nothing of the noise.
    let out = Command::new(&opts.harness)
        .args(["diff", "--format", "jsonl"])
        .arg(&old)
        .arg(&new)
        .output()
        .map_err(|e| e.to_string())?;
    let changes = String::from_utf8_lossy(&out.stdout).lines().count();
    if out.status.code() != Some(1) || changes != EXPECTED_CHANGES {
        return Err(format!(
            "{users} users: diff exited {:?} with {changes} changes, want 1 and {EXPECTED_CHANGES}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    let (mut diff, mut rss, mut sort_comm, mut cat) = (vec![], vec![], vec![], vec![]);
    for _ in 0..opts.reps {
        let mut c = Command::new(&opts.harness);
        c.arg("diff").arg(&old).arg(&new);
        let run = child::run_expecting(&mut c, 1)?;
        diff.push(run.wall.as_secs_f64() * 1000.0);
        rss.push(run.max_rss as f64 / 1e6);
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(r#"LC_ALL=C comm -3 <(LC_ALL=C sort "$1") <(LC_ALL=C sort "$2")"#)
            .arg("_")
            .arg(&old)
            .arg(&new);
        sort_comm.push(wall_ms(c)?);
        let mut c = Command::new("cat");
        c.arg(&old).arg(&new);
        cat.push(wall_ms(c)?);
    }
    Ok(Row {
        users,
        records,
        old_mb: mb(&old),
        new_mb: mb(&new),
        changes,
        diff_ms: median(diff),
        sort_comm_ms: median(sort_comm),
        cat_ms: median(cat),
        rss_mb: median(rss),
    })
}

pub fn measure(opts: &Options) -> Result<Vec<Row>, String> {
    if !opts.harness.exists() {
        return Err(format!(
            "harness {} is missing: run `make bench`",
            opts.harness.display()
        ));
    }
    opts.sizes
        .iter()
        .filter(|&&n| n >= 1000)
        .map(|&n| {
            eprintln!("bench: drift diff of two {n}-user syncs");
            measure_size(opts, n)
        })
        .collect()
}

pub fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n### Drift diff (`host-harness diff`, two synthetic syncs, {EXPECTED_CHANGES} changes and sign-in noise on a tenth of the accounts)\n"
    );
    let _ = writeln!(s, "Baselines on the same files in the same run: `sort | comm -3` (which lines differ, not what changed), `cat` (reading both files).\n");
    let _ = writeln!(s, "| users | records per sync | old / new MB | changes | diff ms | sort \\| comm ms | cat ms | diff / sort \\| comm | diff / cat | diff peak RSS MB |");
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} / {:.1} | {} | {:.0} | {:.0} | {:.1} | {:.2} | {:.1} | {:.1} |",
            r.users,
            r.records,
            r.old_mb,
            r.new_mb,
            r.changes,
            r.diff_ms,
            r.sort_comm_ms,
            r.cat_ms,
            r.diff_ms / r.sort_comm_ms,
            r.diff_ms / r.cat_ms.max(0.1),
            r.rss_mb
        );
    }
    let find = |n: usize| rows.iter().find(|r| r.users == n);
    if let Some(r) = find(100_000) {
        let _ = writeln!(
            s,
            "\n| target | measured | |\n|---|---|---|\n| 100k-user pair diffs in seconds (≤ 5 s) | {:.0} ms ({:.2} × sort \\| comm) | {} |",
            r.diff_ms,
            r.diff_ms / r.sort_comm_ms,
            if r.diff_ms <= 5000.0 { "met" } else { "**missed**" },
        );
        // What each record of the smaller side costs, against what its line weighs.
        if let Some(small) = find(10_000) {
            let per_record = (r.rss_mb - small.rss_mb) * 1e6 / (r.records - small.records) as f64;
            let per_line = r.old_mb.min(r.new_mb) * 1e6 / r.records as f64;
            let _ = writeln!(
                s,
                "| memory bounded by the smaller side's keys, not its records: peak RSS growth 10k → 100k per record below a record's line | {per_record:.0} bytes per record ({:.1} → {:.1} MB) against {per_line:.0} bytes per line | {} |",
                small.rss_mb,
                r.rss_mb,
                if per_record < per_line { "met" } else { "**missed**" }
            );
        }
    }
    s
}
