#!/usr/bin/env python3
"""Whole-sync wall time on real Airflow servers with one page at a time against 2 and 4 pages in
flight (`page_concurrency`), on a server with one API worker and on the same server with two.

For each series (3.3: the FastAPI api-server, uvicorn workers, JWT; 2.11: the Flask webserver,
gunicorn workers, the session login `auto` picks there) it starts a bench server of its own
(its own port and AIRFLOW_HOME, so the test servers' directories stay as the tests expect it,
and no login rate limit, since every sync signs in), seeds it once with --users accounts written
straight into its database (the REST API would hash a password per account: minutes for 5k),
then for each worker count restarts it and runs --runs rounds of one sync per concurrency,
the order rotated every round so a drift in the machine's load falls on each alike. One
unmeasured sync first warms the server's caches.

Each sync is checked: it completed and reported every user the server lists, so a faster
setting that lost a page would fail here rather than look fast.

usage: bench_concurrency.py [--series 3.3,2.11] [--users N] [--runs N] [--in-flight 1,2,4]
                            [--workers 1,2] [--harness PATH] [--json FILE] [--keep]

Writes the measurements to target/bench/concurrency.json too, whose ratios `make bench` shows in
its targets table under this run's commit.
"""
import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = REPO / "scripts" / "airflow"
# Ports of the bench servers, apart from the test servers' (config.env).
PORTS = {"3.3": 28090, "3.0": 28091, "2.11": 28092}
WHAT = {"3.3": "Airflow 3.3.2, FastAPI FAB (uvicorn), JWT",
        "3.0": "Airflow 3.0.6, Connexion FAB, session login",
        "2.11": "Airflow 2.11.2, /api/v1 (gunicorn), session login"}
SEEDED = "bench.user."


def server_env(series, workers):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BATON_"))}
    env.update(AIRFLOW_SERIES=series, AIRFLOW_PORT=str(PORTS[series]),
               AIRFLOW_WORKERS=str(workers),
               # Every sync signs in; Airflow's default allows 5 logins in 40 s.
               AIRFLOW__WEBSERVER__AUTH_RATE_LIMITED="False",
               AIRFLOW__FAB__AUTH_RATE_LIMITED="False")
    return env


def config(env, name):
    return subprocess.run(["bash", "-c", f'. "$1"; printf %s "${name}"', "_",
                           str(AIRFLOW / "config.env")],
                          env=env, check=True, capture_output=True, text=True).stdout


def restart(series, workers):
    env = server_env(series, workers)
    subprocess.run([str(AIRFLOW / "down.sh")], env=env, check=True, capture_output=True)
    t0 = time.monotonic()
    up = subprocess.run([str(AIRFLOW / "up.sh")], env=env, capture_output=True, text=True)
    if up.returncode != 0:
        sys.exit(f"{series} with {workers} worker(s) did not start:\n{up.stderr[-2000:]}")
    return up.stdout.strip().splitlines()[-1], time.monotonic() - t0


def stop(series):
    subprocess.run([str(AIRFLOW / "down.sh")], env=server_env(series, 1), capture_output=True)


def seed(series, users):
    """Adds bench.user.NNNNN accounts (Viewer, every fifth also User, every tenth also Op) up to
    `users`, with the admin's password hash (nobody signs in as them). Returns the total."""
    home = Path(config(server_env(series, 1), "AIRFLOW_HOME"))
    with sqlite3.connect(home / "airflow.db") as db:
        have = db.execute("SELECT count(*) FROM ab_user WHERE username LIKE ?",
                          (SEEDED + "%",)).fetchone()[0]
        if have < users:
            password = db.execute("SELECT password FROM ab_user WHERE username = ?",
                                  (config(server_env(series, 1), "AIRFLOW_ADMIN_USER"),)
                                  ).fetchone()[0]
            roles = dict(db.execute("SELECT name, id FROM ab_role"))
            now = time.strftime("%Y-%m-%d %H:%M:%S.000000")
            rows = [(f"Bench{i:05}", "User", f"{SEEDED}{i:05}", password,
                     f"{SEEDED}{i:05}@example.com", now, now) for i in range(have, users)]
            db.executemany("INSERT INTO ab_user (first_name, last_name, username, password, "
                           "active, email, login_count, fail_login_count, created_on, changed_on)"
                           " VALUES (?, ?, ?, ?, 1, ?, 0, 0, ?, ?)", rows)
            ids = dict(db.execute("SELECT username, id FROM ab_user WHERE username LIKE ?",
                                  (SEEDED + "%",)))
            grants = []
            for i in range(have, users):
                uid = ids[f"{SEEDED}{i:05}"]
                grants.append((uid, roles["Viewer"]))
                if i % 5 == 0:
                    grants.append((uid, roles["User"]))
                if i % 10 == 0:
                    grants.append((uid, roles["Op"]))
            db.executemany("INSERT INTO ab_user_role (user_id, role_id) VALUES (?, ?)", grants)
        return db.execute("SELECT count(*) FROM ab_user").fetchone()[0]


def sync(harness, series, base, in_flight, out):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BATON_"))}
    env.update(AIRFLOW_BASE_URL=base,
               AIRFLOW_USERNAME=config(server_env(series, 1), "AIRFLOW_ADMIN_USER"),
               AIRFLOW_PASSWORD=config(server_env(series, 1), "AIRFLOW_ADMIN_PASSWORD"),
               AIRFLOW_PAGE_CONCURRENCY=str(in_flight))
    stats = out / "stats.json"
    jsonl = out / "sync.jsonl"
    t0 = time.monotonic()
    proc = subprocess.run([str(harness), "sync", "--out", str(jsonl), "--stats-json", str(stats)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        err = [l for l in proc.stderr.splitlines() if l.startswith("error")]
        sys.exit(f"{series}, {in_flight} in flight: sync failed (exit {proc.returncode}): "
                 f"{err[-1] if err else proc.stderr[-500:]}")
    users = sum(1 for line in jsonl.open() if '"resource_type":"user"' in line
                and '"type":"resource"' in line)
    s = json.loads(stats.read_text())
    return {"wall_s": wall, "elapsed_ms": s["elapsed_ms"], "requests": s["requests"],
            "users": users, "auth": s.get("session", {}).get("auth", "")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", default="3.3,2.11")
    ap.add_argument("--users", type=int, default=5000, help="seeded accounts (default 5000)")
    ap.add_argument("--runs", type=int, default=3, help="rounds per server (default 3)")
    ap.add_argument("--in-flight", default="1,2,4")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--harness", default="target/release/host-harness")
    ap.add_argument("--json", help="also write the raw measurements here")
    ap.add_argument("--keep", action="store_true", help="leave the last bench server running")
    args = ap.parse_args()
    harness = (REPO / args.harness).resolve()
    if not harness.is_file():
        sys.exit(f"no harness at {harness}: build it first (make bench-concurrency does)")
    in_flight = [int(n) for n in args.in_flight.split(",")]
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for series in args.series.split(","):
            if series not in PORTS:
                sys.exit(f"--series: unknown series {series!r} (want {', '.join(PORTS)})")
            total = None
            for workers in (int(w) for w in args.workers.split(",")):
                base, took = restart(series, workers)
                if total is None:
                    total = seed(series, args.users)
                print(f"{series}: {workers} worker(s) up in {took:.0f} s, {total} users at {base}",
                      file=sys.stderr)
                sync(harness, series, base, 1, out)  # warm-up
                cell = {n: [] for n in in_flight}
                for r in range(args.runs):
                    order = in_flight[r % len(in_flight):] + in_flight[:r % len(in_flight)]
                    for n in order:
                        run = sync(harness, series, base, n, out)
                        if run["users"] != total:
                            sys.exit(f"{series}, {workers} worker(s), {n} in flight: the sync "
                                     f"reported {run['users']} users, the server has {total}")
                        cell[n].append(run)
                for n in in_flight:
                    results.append({"series": series, "workers": workers, "in_flight": n,
                                    "users": total, "runs": cell[n]})
                    print(f"  {n} in flight: " + ", ".join(
                        f"{x['elapsed_ms'] / 1000:.2f} s" for x in cell[n]), file=sys.stderr)
            if not args.keep:
                stop(series)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}{' (uncommitted changes)' if dirty else ''}; {os.cpu_count()} CPUs "
          f"({cpu}); {args.runs} rounds per server; {time.monotonic() - started:.0f} s")
    print()
    head = " | ".join(f"{n} in flight" if n > 1 else "1 at a time" for n in in_flight)
    ratios = " | ".join(f"{n} vs 1" for n in in_flight if n > 1)
    print(f"| server | API workers | users | requests | {head} | {ratios} |")
    print("|---|---|---|---|" + "---|" * (len(in_flight) + len(in_flight) - 1))
    median = {}
    for r in results:
        median[(r["series"], r["workers"], r["in_flight"])] = statistics.median(
            x["elapsed_ms"] for x in r["runs"]) / 1000
    for series in args.series.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            cells = [r for r in results if r["series"] == series and r["workers"] == workers]
            requests = sorted({x["requests"] for r in cells for x in r["runs"]})
            times = " | ".join(f"{median[(series, workers, n)]:.2f} s" for n in in_flight)
            base = median[(series, workers, in_flight[0])]
            rel = " | ".join(f"{median[(series, workers, n)] / base:.2f}x" for n in in_flight
                             if n > 1)
            print(f"| {WHAT[series]} | {workers} | {cells[0]['users']} "
                  f"| {'/'.join(map(str, requests))} | {times} | {rel} |")
    print()
    print("Whole-sync time (the harness's sync clock), median of the rounds; `n vs 1` below 1 "
          "is faster than one page at a time.")
    summary = [{"series": s, "workers": w, "in_flight": n, "median_s": median[(s, w, n)],
                "ratio": median[(s, w, n)] / median[(s, w, in_flight[0])]}
               for (s, w, n) in median]
    doc = {"commit": commit + (" with uncommitted changes" if dirty else ""),
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu,
           "cpus": os.cpu_count(), "runs": args.runs, "summary": summary, "results": results}
    # `make bench` shows the last of these in its targets table.
    for path in [REPO / "target" / "bench" / "concurrency.json"] + (
            [Path(args.json)] if args.json else []):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
