#!/usr/bin/env python3
"""Per-page time of the same sync with HTTP Basic and with the session login, side by side:
alternating full syncs through the harness against one server that takes both, the one with
`auth_mode=password` (Basic on every request), the other with `auth_mode=session` (one form
login, then the cookie). Airflow 2 (the AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=basic server: FAB
basic_auth plus the session backend) or Airflow 3.0 (AIRFLOW_SERIES=3.0: its Connexion FAB API
has both backends).

A page is one GET of users or roles (/api/v1 on Airflow 2, /auth/fab/v1 on 3.0; limit=100);
its time is the harness's own measurement from the `-v` log (request sent to body read).
Reports, per mode, the median and 90th percentile page time over all runs, the median users
page (100 users) and roles page (all roles with their permissions), the login's cost (GET +
POST of the login form), the median whole sync and the requests per sync, then the
Basic/session ratio of the median page. One unrecorded warm-up sync per mode first. Session
runs book their logins through airflow_api.login_slot (Airflow allows 5 per 40 s), so --runs 8
takes a couple of minutes.

usage: bench_auth.py [--runs N] [--harness PATH] [--base-url URL] [--json FILE]
  env AIRFLOW_BASE_URL (default http://127.0.0.1:28082), AIRFLOW_ADMIN_USER, AIRFLOW_ADMIN_PASSWORD
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_api import (  # noqa: E402
    GENERATIONS, LoginRefused, basic, detect_generation, form_login, http, login_slot)

LOG = re.compile(r"^http: live (GET|POST) (\S+) -> (\d+) \((\d+) ms\)", re.M)
PAGE = re.compile(r"/(?:api/v1|auth/fab/v1)/(users|roles)\?")
# The series this compares on: API generation -> (what the report calls it, login form).
SERVERS = {"v1": ("Airflow 2", "/login/"), "connexion": ("Airflow 3.0, Connexion FAB", "/auth/login/")}
MODES = ("password", "session")  # auth_mode values
LABEL = {"password": "HTTP Basic (auth_mode=password)", "session": "session login (auth_mode=session)"}


def sync(harness, base, user, password, mode, out):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "BATON_"))}
    env.update(AIRFLOW_BASE_URL=base, AIRFLOW_USERNAME=user, AIRFLOW_PASSWORD=password,
               AIRFLOW_AUTH_MODE=mode)
    if mode == "session":
        login_slot(base)
    stats = out / "stats.json"
    proc = subprocess.run([str(harness), "-v", "sync", "--out", str(out / "sync.jsonl"),
                           "--stats-json", str(stats)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        err = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
        sys.exit(f"{mode} sync failed (exit {proc.returncode}): {err[-1] if err else ''}")
    requests = LOG.findall(proc.stderr)
    s = json.loads(stats.read_text())
    return {
        # Answered pages only: on 3.0 the detection's first call, refused (401), is no page.
        "pages": [int(ms) for m, url, st, ms in requests
                  if m == "GET" and st == "200" and PAGE.search(url)],
        "users_pages": [int(ms) for m, url, st, ms in requests if m == "GET" and st == "200"
                        and (PAGE.search(url) or [None, None])[1] == "users"],
        "roles_pages": [int(ms) for m, url, st, ms in requests if m == "GET" and st == "200"
                        and (PAGE.search(url) or [None, None])[1] == "roles"],
        "login": sum(int(ms) for m, url, st, ms in requests if url.endswith("/login/")),
        "elapsed_ms": s["elapsed_ms"],
        "requests": s["requests"],
        "auth": s.get("session", {}).get("auth", ""),
    }


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=8, help="measured syncs per mode (default 8)")
    ap.add_argument("--harness", default="target/debug/host-harness")
    ap.add_argument("--base-url", default=os.environ.get("AIRFLOW_BASE_URL")
                    or "http://127.0.0.1:28082")
    ap.add_argument("--json", help="also write the raw measurements here")
    args = ap.parse_args()
    base = args.base_url.rstrip("/")
    user = os.environ.get("AIRFLOW_ADMIN_USER", "admin")
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", "Sync-Test-Pa55word")
    harness = (REPO / args.harness).resolve()
    if not harness.is_file():
        sys.exit(f"no harness at {harness}: build it first (make harness)")
    generation = detect_generation(base)
    if generation not in SERVERS:
        sys.exit(f"{base} is not an Airflow 2 or 3.0 server: start AIRFLOW_SERIES=2.11 or 3.0 "
                 f"make airflow-up")
    what, login_path = SERVERS[generation]
    status, _ = http("GET", base + GENERATIONS[generation][1] + "/users?limit=1", None,
                     {"Authorization": basic(user, password)})
    if status != 200:
        sys.exit(f"{base} refuses HTTP Basic (HTTP {status}): the comparison needs a server with "
                 f"both backends, AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=basic (port 28082) or "
                 f"AIRFLOW_SERIES=3.0 (port 28083)")
    try:
        form_login(base, user, password, login_path=login_path)
    except (LoginRefused, RuntimeError) as e:
        sys.exit(f"{base}: no form login ({e})")

    results = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for mode in MODES:  # warm-up: page cache, compiled component, server caches
            sync(harness, base, user, password, mode, out)
        t0 = time.monotonic()
        for i in range(args.runs):
            # Alternating, and the order swapped every round, so a drift in the machine's load
            # falls on both modes alike.
            for mode in (MODES if i % 2 == 0 else MODES[::-1]):
                results[mode].append(sync(harness, base, user, password, mode, out))
        took = time.monotonic() - t0

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    print(f"server {base} ({what}, Basic and session backends); {args.runs} alternating syncs "
          f"per mode in {took:.0f} s; {os.cpu_count()} CPUs ({cpu}); commit {commit}")
    print()
    print("| auth | median page | p90 page | users page | roles page | pages "
          f"| login (GET+POST {login_path}) | median sync | requests/sync |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for mode in MODES:
        runs = results[mode]
        pages = [p for r in runs for p in r["pages"]]
        summary[mode] = {
            "median_page_ms": statistics.median(pages),
            "p90_page_ms": pct(pages, 90),
            "users_page_ms": statistics.median(p for r in runs for p in r["users_pages"]),
            "roles_page_ms": statistics.median(p for r in runs for p in r["roles_pages"]),
            "pages": len(pages),
            "login_ms": statistics.median(r["login"] for r in runs),
            "median_sync_ms": statistics.median(r["elapsed_ms"] for r in runs),
            "requests": sorted({r["requests"] for r in runs}),
            "auth": runs[0]["auth"],
        }
        s = summary[mode]
        login = f"{s['login_ms']:g} ms" if mode == "session" else "none"
        print(f"| {LABEL[mode]} | {s['median_page_ms']:g} ms | {s['p90_page_ms']} ms "
              f"| {s['users_page_ms']:g} ms | {s['roles_page_ms']:g} ms "
              f"| {s['pages']} | {login} | {s['median_sync_ms']:g} ms "
              f"| {'/'.join(map(str, s['requests']))} |")
    ratio = summary["password"]["median_page_ms"] / summary["session"]["median_page_ms"]
    sync_ratio = summary["password"]["median_sync_ms"] / summary["session"]["median_sync_ms"]
    print()
    print(f"Basic / session: {ratio:.1f}x per page, {sync_ratio:.2f}x per whole sync")
    for mode in MODES:
        print(f"  {mode}: {summary[mode]['auth']}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"base": base, "runs": args.runs, "commit": commit, "cpu": cpu,
             "cpus": os.cpu_count(), "summary": summary, "raw": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
