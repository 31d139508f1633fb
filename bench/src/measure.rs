//! The measurement run and its report: the harness syncs, the native floor and the native
//! connector per size, start-up, and the markdown tables.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::child::{self, ChildRun};
use crate::directory::Directory;
use crate::native::{self, Connections};
use crate::native_connector;
use crate::server::Server;
use crate::{cassette, Options};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: f64) -> f64 {
    bytes / 1_000_000.0
}

/// One harness sync, as the harness reports it and as the OS saw the process.
struct SyncRun {
    sync_ms: f64,
    requests: u64,
    resources: u64,
    grants: u64,
    discovery_requests: u64,
    run: ChildRun,
}

struct Harness<'a> {
    opts: &'a Options,
    cache: PathBuf,
}

impl Harness<'_> {
    fn command(&self, cached: bool) -> Command {
        let mut c = Command::new(&self.opts.harness);
        c.arg("--component").arg(&self.opts.component);
        if cached {
            c.arg("--compile-cache").arg(&self.cache);
        } else {
            c.arg("--no-compile-cache");
        }
        c
    }

    /// Over loopback: the harness's request count must be what the server saw.
    fn sync_live(&self, server: &Server, configured: bool, tag: &str) -> Result<SyncRun, String> {
        let before = server.requests();
        let run = self.sync(self.live(server, configured), tag)?;
        let seen = server.requests() - before;
        if seen != run.requests {
            return Err(format!(
                "the harness counted {} requests, the server {seen}",
                run.requests
            ));
        }
        Ok(run)
    }

    fn sync(&self, mut command: Command, tag: &str) -> Result<SyncRun, String> {
        let out = self.opts.work.join(format!("out-{tag}.jsonl"));
        let stats_path = self.opts.work.join(format!("stats-{tag}.json"));
        command
            .arg("sync")
            .arg("--out")
            .arg(&out)
            .arg("--stats-json")
            .arg(&stats_path);
        let run = child::run(&mut command)?;
        let text = std::fs::read_to_string(&stats_path)
            .map_err(|e| format!("cannot read {}: {e}", stats_path.display()))?;
        let stats: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", stats_path.display()))?;
        let _ = std::fs::remove_file(&out);
        let n = |k: &str| stats[k].as_u64().unwrap_or(0);
        Ok(SyncRun {
            sync_ms: n("elapsed_ms") as f64,
            requests: n("requests"),
            resources: n("resources"),
            grants: n("grants"),
            discovery_requests: stats["session"]["discovery_requests"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            run,
        })
    }

    fn live(&self, server: &Server, configured: bool) -> Command {
        self.live_with(server, configured, true)
    }

    fn live_with(&self, server: &Server, configured: bool, cached: bool) -> Command {
        let mut c = self.command(cached);
        c.arg("--base-url")
            .arg(server.base_url())
            .arg("--username")
            .arg("admin")
            .env("AIRFLOW_PASSWORD", "bench-password");
        if configured {
            c.arg("--set").arg("api_generation=fab-fastapi");
        }
        c
    }

    fn replay(&self, cassette: &Path) -> Command {
        let mut c = self.command(true);
        c.arg("--replay").arg(cassette);
        c
    }
}

/// Medians over the repetitions of one (size, mode).
struct Row {
    users: usize,
    mode: &'static str,
    requests: u64,
    expected: usize,
    sync_ms: f64,
    wall_ms: f64,
    rss: f64,
    resources: u64,
    grants: u64,
}

fn row(users: usize, mode: &'static str, expected: usize, runs: &[SyncRun]) -> Row {
    Row {
        users,
        mode,
        requests: runs.iter().map(|r| r.requests).max().unwrap_or(0),
        expected,
        sync_ms: median(runs.iter().map(|r| r.sync_ms).collect()),
        wall_ms: median(runs.iter().map(|r| ms(r.run.wall)).collect()),
        rss: median(runs.iter().map(|r| r.run.max_rss as f64).collect()),
        resources: runs.first().map_or(0, |r| r.resources),
        grants: runs.first().map_or(0, |r| r.grants),
    }
}

struct Floor {
    users: usize,
    per_request_ms: f64,
    keep_alive_ms: f64,
    connector_ms: f64,
    requests: usize,
    loopback_ms: f64,
}

struct Detection {
    users: usize,
    requests: u64,
    discovery: u64,
    sync_ms: f64,
    configured_ms: f64,
}

struct Startup {
    label: &'static str,
    load_ms: f64,
    first_call_ms: f64,
    wall_ms: f64,
}

/// A number after `marker` in the harness's `-v` start-up lines.
fn after(text: &str, marker: &str) -> Option<f64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let number: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().ok()
}

fn startup(h: &Harness, server: &Server, reps: usize) -> Result<Vec<Startup>, String> {
    let _ = std::fs::remove_dir_all(&h.cache);
    let mut out = Vec::new();
    for (label, cached) in [
        ("cold (compile, no cache)", false),
        ("warm (precompiled cache)", true),
    ] {
        if cached {
            // Fills the cache (compiles once and saves).
            child::run(h.live(server, true).arg("-v").arg("validate"))?;
        }
        let (mut load, mut first, mut wall) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let mut c = h.live_with(server, true, cached);
            let run = child::run(c.arg("-v").arg("validate"))?;
            let marker = if cached {
                "loaded precompiled in"
            } else {
                "compiled in"
            };
            load.push(after(&run.stderr, marker).ok_or_else(|| {
                format!("no `startup: component {marker}` line in:\n{}", run.stderr)
            })?);
            first.push(after(&run.stderr, "first call returned").unwrap_or(f64::NAN));
            wall.push(ms(run.wall));
        }
        out.push(Startup {
            label,
            load_ms: median(load),
            first_call_ms: median(first),
            wall_ms: median(wall),
        });
    }
    Ok(out)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn run(opts: &Options) -> Result<(), String> {
    for (what, path) in [("harness", &opts.harness), ("component", &opts.component)] {
        if !path.exists() {
            return Err(format!(
                "{what} {} is missing: run `make bench`",
                path.display()
            ));
        }
    }
    std::fs::create_dir_all(&opts.work).map_err(|e| e.to_string())?;
    let h = Harness {
        opts,
        cache: opts.work.join("compile-cache"),
    };
    let component_size = std::fs::metadata(&opts.component).map_or(0, |m| m.len());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("bench: {cores} cores, {}; reps {}", cpu_model(), opts.reps);

    let small = Server::start(1_000, opts.roles).map_err(|e| e.to_string())?;
    eprintln!("bench: start-up, cold and warm");
    let startups = startup(&h, &small, opts.reps)?;
    drop(small);

    let (mut rows, mut floors, mut detections) = (Vec::new(), Vec::new(), Vec::new());
    for &users in &opts.sizes {
        let directory = Directory::new(users, opts.roles);
        let expected = directory.expected_requests();
        eprintln!("bench: {users} users: server, cassette");
        let server = Server::start(users, opts.roles).map_err(|e| e.to_string())?;
        let cassette_path = opts.work.join(format!("synthetic-{users}-users.json"));
        cassette::write(&directory, &cassette_path).map_err(|e| e.to_string())?;

        eprintln!("bench: {users} users: native floor");
        let (mut per_request, mut keep_alive) = (Vec::new(), Vec::new());
        let mut native_requests = 0;
        for _ in 0..opts.reps {
            let r =
                native::sync(server.port, Connections::PerRequest).map_err(|e| e.to_string())?;
            if r.users != users || r.roles != opts.roles {
                return Err(format!(
                    "native floor read {} users, {} roles",
                    r.users, r.roles
                ));
            }
            native_requests = r.requests;
            per_request.push(ms(r.elapsed));
            let r = native::sync(server.port, Connections::KeepAlive).map_err(|e| e.to_string())?;
            keep_alive.push(ms(r.elapsed));
        }

        eprintln!("bench: {users} users: the connector natively");
        let mut native_connector = Vec::new();
        for _ in 0..opts.reps {
            let before = server.requests();
            let r = native_connector::connector_sync(server.port).map_err(|e| e.to_string())?;
            let seen = server.requests() - before;
            if r.requests != expected || seen != r.requests as u64 {
                return Err(format!(
                    "the native connector sent {} requests (the server saw {seen}), expected {expected}",
                    r.requests
                ));
            }
            native_connector.push(r);
        }

        eprintln!("bench: {users} users: harness over loopback");
        let loopback: Vec<SyncRun> = (0..opts.reps)
            .map(|i| h.sync_live(&server, true, &format!("loopback-{users}-{i}")))
            .collect::<Result<_, _>>()?;
        let detect = h.sync_live(&server, false, &format!("detect-{users}"))?;
        eprintln!("bench: {users} users: harness replay");
        let replay: Vec<SyncRun> = (0..opts.reps)
            .map(|i| h.sync(h.replay(&cassette_path), &format!("replay-{users}-{i}")))
            .collect::<Result<_, _>>()?;

        let loop_row = row(users, "loopback HTTP", expected, &loopback);
        // Same connector, same server: any difference in output is a bug, not a cost.
        for r in &native_connector {
            if (r.resources, r.grants) != (loop_row.resources, loop_row.grants) {
                return Err(format!(
                    "{users} users: the native connector counted {} resources, {} grants; \
                     the component over loopback {}, {}",
                    r.resources, r.grants, loop_row.resources, loop_row.grants
                ));
            }
        }
        floors.push(Floor {
            users,
            per_request_ms: median(per_request),
            keep_alive_ms: median(keep_alive),
            connector_ms: median(native_connector.iter().map(|r| ms(r.elapsed)).collect()),
            requests: native_requests,
            loopback_ms: loop_row.sync_ms,
        });
        detections.push(Detection {
            users,
            requests: detect.requests,
            discovery: detect.discovery_requests,
            sync_ms: detect.sync_ms,
            configured_ms: loop_row.sync_ms,
        });
        rows.push(loop_row);
        rows.push(row(users, "replay", expected, &replay));
    }

    let review = crate::review::measure(opts)?;
    let mut report = render(
        opts,
        cores,
        component_size,
        &startups,
        &rows,
        &floors,
        &detections,
    );
    report.push_str(&crate::review::render(&review));
    print!("{report}");
    let path = opts.work.join("results.md");
    std::fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("bench: written to {}", path.display());
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn render(
    opts: &Options,
    cores: usize,
    component_size: u64,
    startups: &[Startup],
    rows: &[Row],
    floors: &[Floor],
    detections: &[Detection],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Machine\n\n{cores} cores (`nproc`), {}; medians of {} runs.\n",
        cpu_model(),
        opts.reps
    );
    let _ = writeln!(
        s,
        "### Full sync ({} roles with permissions; `api_generation=fab-fastapi`, no detection)\n",
        opts.roles
    );
    let _ = writeln!(s, "| users | served by | requests (expected) | sync ms | users/s | peak RSS MB | process wall ms | resources | grants |");
    let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} ({}) | {:.0} | {:.0} | {:.1} | {:.0} | {} | {} |",
            r.users,
            r.mode,
            r.requests,
            r.expected,
            r.sync_ms,
            r.users as f64 / (r.sync_ms.max(1.0) / 1000.0),
            mb(r.rss),
            r.wall_ms,
            r.resources,
            r.grants
        );
    }
    let _ = writeln!(
        s,
        "\n### Against the native floor (same server, same pages, serde_json, no wasm)\n"
    );
    let _ = writeln!(s, "\"native connector\": this connector compiled natively, the full sync with JSON Lines into a sink, a connection per request.\n");
    let _ = writeln!(s, "| users | requests | native, connection per request ms | native, keep-alive ms | native connector ms | component over loopback ms | ratio (per request) | ratio (keep-alive) | component / native connector |");
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for f in floors {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} | {:.2} | {:.2} |",
            f.users,
            f.requests,
            f.per_request_ms,
            f.keep_alive_ms,
            f.connector_ms,
            f.loopback_ms,
            f.loopback_ms / f.per_request_ms,
            f.loopback_ms / f.keep_alive_ms,
            f.loopback_ms / f.connector_ms
        );
    }
    let _ = writeln!(
        s,
        "\n### API detection (no `api_generation`), over loopback\n"
    );
    let _ = writeln!(
        s,
        "| users | requests | of which detection | sync ms | configured sync ms |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|");
    for d in detections {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.0} |",
            d.users, d.requests, d.discovery, d.sync_ms, d.configured_ms
        );
    }
    let _ = writeln!(s, "\n### Start-up (`host-harness -v validate`, loopback)\n");
    let _ = writeln!(
        s,
        "| | component load ms | first `configure` returned, ms after start | process wall ms |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for st in startups {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.2} | {:.1} |",
            st.label, st.load_ms, st.first_call_ms, st.wall_ms
        );
    }
    let _ = writeln!(
        s,
        "\nComponent: {component_size} bytes ({:.0} KB).\n",
        component_size as f64 / 1000.0
    );

    let _ = writeln!(s, "### Targets\n");
    let _ = writeln!(s, "| target | measured | |");
    let _ = writeln!(s, "|---|---|---|");
    let exact = rows.iter().all(|r| r.requests == r.expected as u64);
    let counts: Vec<String> = rows
        .iter()
        .filter(|r| r.mode == "replay")
        .map(|r| format!("{}: {}", r.users, r.requests))
        .collect();
    let _ = writeln!(
        s,
        "| requests = 1 + ⌈users/100⌉ + ⌈roles/100⌉ | {} | {} |",
        counts.join(", "),
        verdict(exact)
    );
    let worst = floors
        .iter()
        .map(|f| f.loopback_ms / f.per_request_ms)
        .fold(0.0, f64::max);
    let worst_ka = floors
        .iter()
        .map(|f| f.loopback_ms / f.keep_alive_ms)
        .fold(0.0, f64::max);
    let _ = writeln!(s, "| loopback sync ≤ 1.25 × native floor | worst ratio {worst:.2} (per-request floor), {worst_ka:.2} (keep-alive floor) | {} |", verdict(worst <= 1.25));
    let worst_connector = floors
        .iter()
        .map(|f| f.loopback_ms / f.connector_ms)
        .fold(0.0, f64::max);
    let _ = writeln!(s, "| loopback sync vs the same connector natively (context, not a target) | worst ratio {worst_connector:.2} | — |");
    let find = |mode: &str, users: usize| rows.iter().find(|r| r.mode == mode && r.users == users);
    if let Some(r) = find("replay", 100_000) {
        let _ = writeln!(
            s,
            "| 100k users in replay ≤ 1 s | {:.0} ms | {} |",
            r.sync_ms,
            verdict(r.sync_ms <= 1000.0)
        );
        let _ = writeln!(
            s,
            "| peak RSS ≤ 100 MB (100k, replay) | {:.1} MB | {} |",
            mb(r.rss),
            verdict(r.rss <= 100e6)
        );
    }
    for mode in ["replay", "loopback HTTP"] {
        if let (Some(a), Some(b)) = (find(mode, 10_000), find(mode, 100_000)) {
            let _ = writeln!(
                s,
                "| RSS growth 10k → 100k bounded by a page ({mode}) | {:.1} → {:.1} MB (+{:.1} MB for 90k users) | {} |",
                mb(a.rss), mb(b.rss), mb(b.rss - a.rss),
                verdict(b.rss - a.rss < 10e6)
            );
        }
    }
    if let Some(warm) = startups.get(1) {
        let _ = writeln!(s, "| warm start to first call ≤ 2 ms | load {:.2} ms, first `configure` returned {:.2} ms after start | {} |", warm.load_ms, warm.first_call_ms, verdict(warm.first_call_ms <= 2.0));
    }
    let _ = writeln!(
        s,
        "| component ≤ 400 KB | {:.0} KB | {} |",
        component_size as f64 / 1000.0,
        verdict(component_size <= 400_000)
    );
    s
}
