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
    /// JSON Lines written.
    lines: usize,
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
        let lines = count_lines(&out);
        let _ = std::fs::remove_file(&out);
        let n = |k: &str| stats[k].as_u64().unwrap_or(0);
        Ok(SyncRun {
            sync_ms: n("elapsed_ms") as f64,
            lines,
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

fn count_lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// The whole harness process against the native program (`connector-bench native-sync`) over
/// the same loopback server, both keeping connections alive.
struct Process {
    users: usize,
    harness_wall_ms: f64,
    harness_sync_ms: f64,
    harness_lines: usize,
    native_wall_ms: f64,
    native_lines: usize,
}

/// The replay of `--linear` users beside the largest of `--sizes`.
struct Linear {
    small: usize,
    large: usize,
    small_sync_ms: f64,
    large_sync_ms: f64,
    small_wall_ms: f64,
    large_wall_ms: f64,
    small_rss: f64,
    large_rss: f64,
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
    /// Every run's first call, ms after start.
    first_calls: Vec<f64>,
}

/// Warm starts measured for the "9 of 10" target, whatever `--reps` says.
const WARM_RUNS: usize = 10;

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
        let runs = if cached { reps.max(WARM_RUNS) } else { reps };
        for _ in 0..runs {
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
            first_call_ms: median(first.clone()),
            wall_ms: median(wall),
            first_calls: first,
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
    let mut processes = Vec::new();
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

        eprintln!("bench: {users} users: the native program (fetch, parse, emit; keep-alive)");
        let native_out = opts.work.join(format!("native-{users}.jsonl"));
        let mut native_walls = Vec::new();
        for _ in 0..opts.reps {
            let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
            c.arg("native-sync")
                .arg("--port")
                .arg(server.port.to_string())
                .arg("--out")
                .arg(&native_out);
            native_walls.push(ms(child::run(&mut c)?.wall));
        }
        let native_lines = count_lines(&native_out);
        let _ = std::fs::remove_file(&native_out);
        processes.push(Process {
            users,
            harness_wall_ms: median(loopback.iter().map(|r| ms(r.run.wall)).collect()),
            harness_sync_ms: median(loopback.iter().map(|r| r.sync_ms).collect()),
            harness_lines: loopback.first().map_or(0, |r| r.lines),
            native_wall_ms: median(native_walls),
            native_lines,
        });

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

    let largest = opts.sizes.iter().copied().max().unwrap_or(0);
    let linear = if opts.linear > largest {
        let users = opts.linear;
        eprintln!("bench: {users} users: cassette, harness replay (growth beyond {largest})");
        let directory = Directory::new(users, opts.roles);
        let path = opts.work.join(format!("synthetic-{users}-users.json"));
        cassette::write(&directory, &path).map_err(|e| e.to_string())?;
        let runs: Vec<SyncRun> = (0..opts.reps.min(3))
            .map(|i| h.sync(h.replay(&path), &format!("replay-{users}-{i}")))
            .collect::<Result<_, _>>()?;
        let _ = std::fs::remove_file(&path);
        let large = row(users, "replay", directory.expected_requests(), &runs);
        rows.iter()
            .find(|r| r.mode == "replay" && r.users == largest)
            .map(|small| Linear {
                small: largest,
                large: users,
                small_sync_ms: small.sync_ms,
                large_sync_ms: large.sync_ms,
                small_wall_ms: small.wall_ms,
                large_wall_ms: large.wall_ms,
                small_rss: small.rss,
                large_rss: large.rss,
            })
    } else {
        None
    };

    let review = crate::review::measure(opts)?;
    let mut report = round_two(
        opts,
        cores,
        component_size,
        &startups,
        &processes,
        linear.as_ref(),
    );
    report.push_str(&render(
        opts,
        cores,
        component_size,
        &startups,
        &rows,
        &floors,
        &detections,
    ));
    report.push_str(&crate::review::render(&review));
    print!("{report}");
    let path = opts.work.join("results.md");
    std::fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("bench: written to {}", path.display());
    Ok(())
}

/// The commit measured, and whether the tree had changes on top of it.
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=10", "HEAD"]) {
        Some(head)
            if git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()) =>
        {
            format!("{head} with uncommitted changes")
        }
        Some(head) => head,
        None => "unknown (not a git checkout)".into(),
    }
}

/// Issue 16's targets, each as a ratio measured in this run.
fn round_two(
    opts: &Options,
    cores: usize,
    component_size: u64,
    startups: &[Startup],
    processes: &[Process],
    linear: Option<&Linear>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Targets

Commit {}; {cores} cores, {}; medians of {} runs.
",
        commit(),
        cpu_model(),
        opts.reps
    );
    let _ = writeln!(s, "| target | measured | ratio | |");
    let _ = writeln!(s, "|---|---|---:|---|");
    for p in processes {
        let ratio = p.harness_wall_ms / p.native_wall_ms;
        let _ = writeln!(
            s,
            "| whole harness process ≤ 1.15 × the native program, {} users (loopback, keep-alive) | harness {:.0} ms (sync {:.0} ms, {} lines), native {:.0} ms ({} lines) | {ratio:.2} | {} |",
            p.users,
            p.harness_wall_ms,
            p.harness_sync_ms,
            p.harness_lines,
            p.native_wall_ms,
            p.native_lines,
            verdict(ratio <= 1.15)
        );
    }
    if let Some(l) = linear {
        let scale = l.large as f64 / l.small as f64;
        let allowed = 1.05 * scale;
        let sync = l.large_sync_ms / l.small_sync_ms;
        let wall = l.large_wall_ms / l.small_wall_ms;
        let _ = writeln!(
            s,
            "| replay time linear: {} users ≤ {allowed:.1} × {} users | sync {:.0} → {:.0} ms; process {:.0} → {:.0} ms | sync {sync:.2}, process {wall:.2} | {} |",
            l.large,
            l.small,
            l.small_sync_ms,
            l.large_sync_ms,
            l.small_wall_ms,
            l.large_wall_ms,
            verdict(sync <= allowed && wall <= allowed)
        );
        let growth = l.large_rss - l.small_rss;
        // Flat: nothing held per user (a user's record is hundreds of bytes). A replay must
        // index its recorded pages, about 75 bytes each, under one byte per user.
        let per_user = growth / (l.large as f64 - l.small as f64).max(1.0);
        let _ = writeln!(
            s,
            "| peak RSS flat (nothing held per user) from {} to {} users | {:.1} → {:.1} MB | +{:.1} MB, {per_user:.1} bytes per added user | {} |",
            l.small,
            l.large,
            mb(l.small_rss),
            mb(l.large_rss),
            mb(growth),
            verdict(per_user < 4.0)
        );
    }
    if let Some(warm) = startups.get(1) {
        let fast = warm.first_calls.iter().filter(|&&t| t <= 2.0).count();
        let mut sorted = warm.first_calls.clone();
        sorted.sort_by(f64::total_cmp);
        let shown: Vec<String> = sorted.iter().map(|t| format!("{t:.2}")).collect();
        let _ = writeln!(
            s,
            "| warm start to the first call ≤ 2 ms in 9 of 10 runs | {} ms | {fast} of {} | {} |",
            shown.join(", "),
            sorted.len(),
            verdict(fast * 10 >= sorted.len() * 9)
        );
    }
    let _ = writeln!(
        s,
        "| component ≤ 400 KB | {component_size} bytes | {:.2} | {} |",
        component_size as f64 / 400_000.0,
        verdict(component_size <= 400_000)
    );
    let _ = writeln!(s, "{}", real_servers(&opts.work.join("concurrency.json")));
    s
}

/// The page-concurrency row: it needs real Airflow servers, which `make bench-concurrency`
/// starts and measures (scripts/bench_concurrency.py); this run shows that run's ratios under
/// its own commit rather than measuring them again.
fn real_servers(path: &std::path::Path) -> String {
    let target = "page concurrency on real servers: sync time, 2 and 4 in flight vs one page at \
                  a time, one and two API workers";
    let Some(doc) = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return format!("| {target} | not measured here: run `make bench-concurrency` | | |\n");
    };
    let mut cells = Vec::new();
    for row in doc["summary"].as_array().into_iter().flatten() {
        if row["in_flight"].as_u64() == Some(1) {
            continue;
        }
        cells.push(format!(
            "{} × {} worker(s), {} in flight: {:.2}",
            row["series"].as_str().unwrap_or("?"),
            row["workers"],
            row["in_flight"],
            row["ratio"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    format!(
        "| {target} | from `make bench-concurrency` at {} ({}): {} | see measured | default 1 (BENCHMARKS.md) |\n",
        doc["commit"].as_str().unwrap_or("?"),
        doc["when"].as_str().unwrap_or("?"),
        cells.join("; ")
    )
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

#[cfg(test)]
mod tests {
    use super::real_servers;

    #[test]
    fn the_real_server_row_shows_the_last_concurrency_run_or_how_to_make_one() {
        let dir = std::env::temp_dir().join(format!("bench-row-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("concurrency.json");
        assert!(real_servers(&path).contains("run `make bench-concurrency`"));
        std::fs::write(
            &path,
            r#"{"commit": "abc1234", "when": "2026-12-04 04:31 UTC", "summary": [
                {"series": "2.11", "workers": 2, "in_flight": 1, "median_s": 4.18, "ratio": 1.0},
                {"series": "2.11", "workers": 2, "in_flight": 2, "median_s": 2.77, "ratio": 0.6627}
            ]}"#,
        )
        .unwrap();
        let row = real_servers(&path);
        assert!(row.contains("abc1234 (2026-12-04 04:31 UTC)"), "{row}");
        assert!(
            row.contains("2.11 × 2 worker(s), 2 in flight: 0.66"),
            "{row}"
        );
        assert!(!row.contains("1 in flight"), "{row}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
