#!/usr/bin/env python3
"""Live "sync under churn" test: a paced harness sync while users are deleted and created.

The connector pages users by offset (`<prefix>/users?limit=100&offset=N`, ordered by id, i.e.
creation order). Deleting a row that a sync has already paged past shifts every later row one
place to the left, so a naive offset pager skips the row that slides across the page boundary.
The contract under test: every user that exists for the whole sync is reported exactly once,
no user is reported twice; users created or deleted during the sync may or may not appear.

Steps (stdlib only; detects the API generation like live_provision.py: `POST /auth/token {}`
-> 400 = 3.3 (JWT, /auth/fab/v1), 422 = 3.0 (Basic, /auth/fab/v1), 404 + GET /api/v1/health
200 = 2.11 (Basic, /api/v1)):
  1. create a pool of throwaway users `churn-<pid>-<n>` (role Viewer), 4 at a time; they get
     ids after the seeded users, so the sync's page boundaries (100, 199/200, ...) fall inside
     the pool;
  2. snapshot every user (username + created_on) = BEFORE;
  3. start a churn thread: each round deletes a random pool user still present and creates
     `churn-<pid>-new-<n>` (by default both at once, so total_entries mostly stays the same;
     --churn-mode sequential deletes first), then pauses --churn-pause seconds (default 0.2:
     several rounds land between two page reads, so nearly every page boundary shifts);
  4. run `host-harness sync --set request_interval_ms=<ms>`, paced to last about
     --sync-seconds (the interval is computed from the directory's size unless --interval-ms);
  5. stop the churn after the sync ends; snapshot AFTER;
  6. stable users = in BEFORE and AFTER with the same created_on, never touched by the churn
     thread. From the JSON Lines: every stable user exactly once, no user id twice.

A harness failure fails the test; so does `conflict` ("the directory changed during the sync"):
the churn is meant to be healed by the connector. With --allow-conflict a conflict is reported
and the sync retried (up to --attempts runs, churn still going), so a completed sync can be
checked. The churn must overlap the sync by at least one round, and a stable user must sit at or
after a page boundary inside the pool, or the run proves nothing and fails. Every churn user
is deleted at the end, also on failure, Ctrl-C, SIGTERM or timeout.

usage: live_churn.py [--harness PATH] [--component WASM] [--pool N] [--interval-ms MS]
                     [--sync-seconds S] [--churn-mode pair|sequential] [--churn-pause S]
                     [--threads N] [--allow-conflict] [--attempts N] [--timeout S]
                     [--series S] [--base-url URL] [--keep-output DIR]
  env AIRFLOW_BASE_URL, AIRFLOW_SERIES, AIRFLOW_ADMIN_USER, AIRFLOW_ADMIN_PASSWORD,
  CHURN_POOL, CHURN_PAUSE (defaults of --pool, --churn-pause)  (defaults: config.env's)
Ends with a summary line `churn: sync completed in ... stable users: M missing, D duplicated`;
exit 0 = passed, 1 = failed, 2 = could not run (setup).
"""
import argparse
import collections
import concurrent.futures
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # airflow_api, from any cwd
from airflow_api import (  # noqa: E402
    GENERATIONS, PAGE, Api, add_server_args, detect_generation, harness_env, server,
    wrong_series)

HTTP_TIMEOUT = 30          # seconds, every request to the server
CLEANUP_RESERVE = 120      # seconds of --timeout kept for the cleanup
# The harness's -v request log: "http: live GET <url> -> 200 (86 ms)".
HTTP_LOG = re.compile(r"^http: (?:\w+ )?([A-Z]+) (\S+) -> (\d+)", re.M)


class Timeout(Exception):
    pass


# ---------------------------------------------------------------- server side

def create_user(api, name):
    """A throwaway Viewer."""
    api.create_user(name, password(), ("Viewer",), "Churn", "Test")


def snapshot(api):
    """username -> created_on of every user. Taken while nothing churns; a row missed
    because someone else changed the directory meanwhile only shrinks the stable set."""
    return {u["username"]: u.get("created_on") for u in api.read_all("users")}


# ---------------------------------------------------------------- the churn

class Churn(threading.Thread):
    """Until stopped: delete a random pool user still present and create a new one."""

    def __init__(self, api, prefix, pool, mode, pause):
        super().__init__(name="churn", daemon=True)
        self.api, self.prefix, self.mode, self.pause = api, prefix, mode, pause
        self.present = list(pool)   # pool users not yet deleted (deletion candidates)
        self.new = []               # users this thread created
        self.touched = set()        # every name it deleted or created, or tried to
        self.rounds = []            # (start, end, deletes, creates) per round
        self.errors = []
        self.stop = threading.Event()
        self.rng = random.Random()
        self.serial = 0
        self.latency = {"create": 0.2, "delete": 0.05}  # running averages, seconds
        self.ops = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="churn-op")

    def run(self):
        try:
            while not self.stop.is_set():
                self.round()
                if len(self.errors) >= 10:
                    print(f"churn: stopping after {len(self.errors)} errors", flush=True)
                    return
                self.stop.wait(self.pause)
        finally:
            self.ops.shutdown(wait=True)

    def round(self):
        candidates = self.present or self.new
        victim = self.rng.choice(candidates) if candidates else None
        newcomer = f"{self.prefix}new-{self.serial}"
        self.serial += 1
        # Marked before any request: a request that fails half-way may still have landed.
        self.touched.update(n for n in (victim, newcomer) if n)
        self.new.append(newcomer)
        if victim in self.present:
            self.present.remove(victim)
        elif victim:
            self.new.remove(victim)
        start = time.monotonic()
        delete = self.timed("delete", lambda: self.api.delete_user(victim) if victim else False)
        create = self.timed("create", lambda: create_user(self.api, newcomer) or True)
        if self.mode == "pair":
            # Both at once, the quicker one started late enough that the two land together,
            # so total_entries stays the same but for a few milliseconds (a create hashes the
            # password: on a JWT server it takes several times as long as a delete).
            lag = self.latency["create"] - self.latency["delete"]
            first, second = (create, delete) if lag > 0 else (delete, create)
            jobs = [self.ops.submit(first)]
            time.sleep(abs(lag))
            jobs.append(self.ops.submit(second))
            if first is create:
                jobs.reverse()  # results in (delete, create) order
            results = [self.outcome(job.result) for job in jobs]
        else:
            results = [self.outcome(delete), self.outcome(create)]
        deleted, created = (int(r is True) for r in results)
        self.rounds.append((start, time.monotonic(), deleted, created))

    def timed(self, kind, fn):
        def run():
            t0 = time.monotonic()
            result = fn()
            self.latency[kind] = 0.7 * self.latency[kind] + 0.3 * (time.monotonic() - t0)
            return result
        return run

    def outcome(self, fn):
        """fn's result, or False after recording its exception."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - counted and reported
            self.errors.append(e)
            return False

    def during(self, t0, t1):
        """(rounds, deletes, creates) of the rounds that overlapped [t0, t1]."""
        hits = [r for r in list(self.rounds) if r[1] >= t0 and r[0] <= t1]
        return len(hits), sum(r[2] for r in hits), sum(r[3] for r in hits)


def password():
    return "Churn-" + secrets.token_urlsafe(12)


# ---------------------------------------------------------------- the harness

class HarnessRun:
    def __init__(self, rc, stdout, stderr, started, ended, jsonl, stats):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.started, self.ended = started, ended
        self.jsonl, self.stats = jsonl, stats

    @property
    def seconds(self):
        return self.ended - self.started

    @property
    def conflict(self):
        return self.rc != 0 and re.search(r"^error: .*conflict: ", self.stderr, re.M) is not None

    def steps_back(self):
        """User page reads that went back to an earlier offset: the connector healing a shift."""
        offsets = [int(o) for o in self.user_offsets() if o.isdigit()]  # answered 200
        return sum(1 for a, b in zip(offsets, offsets[1:]) if b <= a)

    def user_offsets(self):
        """Offsets of the user pages the connector requested (from the -v request log)."""
        out = []
        for method, url, status in HTTP_LOG.findall(self.stderr):
            parts = urllib.parse.urlsplit(url)
            if method == "GET" and parts.path.endswith("/users"):
                query = urllib.parse.parse_qs(parts.query)
                offset = query.get("offset", ["0"])[0]
                out.append(offset if status == "200" else f"{offset}({status})")
        return out


def run_harness(harness, component, env, workdir, attempt, interval_ms, timeout, procs):
    out = workdir / f"sync-{attempt}.jsonl"
    stats = workdir / f"stats-{attempt}.json"
    argv = [str(harness), *(["--component", str(Path(component).resolve())] if component else []),
            "-v", "sync", "--out", str(out), "--stats-json", str(stats),
            "--set", f"request_interval_ms={interval_ms}"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.append(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        stderr += f"\nerror: (live_churn: the harness ran longer than {timeout} s and was killed)"
    finally:
        if proc.poll() is None:  # interrupted: never leave it running
            proc.kill()
            proc.wait()
        procs.remove(proc)
    ended = time.monotonic()
    (workdir / f"stderr-{attempt}.txt").write_text(stderr)
    return HarnessRun(proc.returncode, stdout, stderr, started, ended,
                      out if out.is_file() else None,
                      json.loads(stats.read_text()) if stats.is_file() else None)


def synced_users(jsonl):
    ids = collections.Counter()
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("type") == "resource" and row.get("resource_type") == "user":
                ids[row["id"]] += 1
    return ids


def estimate_requests(users, roles, generation):
    """Requests of a sync: detection + sign-in (JWT) + user pages + role pages, allowing for
    pages that overlap by one row (99 new rows each after the first) and a final empty one."""
    user_pages = 1 + math.ceil(max(0, users - PAGE) / (PAGE - 1)) + 1
    role_pages = max(1, math.ceil(roles / PAGE))
    return 1 + (1 if GENERATIONS[generation][2] == "jwt" else 0) + user_pages + role_pages


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


# ---------------------------------------------------------------- main

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--harness", default="target/debug/host-harness",
                   help="host-harness binary (relative paths are from the repository root)")
    p.add_argument("--component",
                   help="connector component for the harness (default: the harness's own, "
                        "target/wasm32-wasip2/release/airflow_connector.wasm)")
    p.add_argument("--pool", type=int, default=int(os.environ.get("CHURN_POOL") or 200),
                   help="throwaway users created before the sync (default: env CHURN_POOL, "
                        "else 200)")
    p.add_argument("--interval-ms", type=int,
                   help="request_interval_ms for the sync (default: computed so the sync "
                        "takes about --sync-seconds)")
    p.add_argument("--sync-seconds", type=float, default=15.0,
                   help="target sync duration for the computed interval (default 15)")
    p.add_argument("--churn-mode", choices=("pair", "sequential"), default="pair",
                   help="pair: delete and create at the same time, so total_entries mostly "
                        "stays the same (default); sequential: delete, then create")
    p.add_argument("--churn-pause", type=float,
                   default=float(os.environ["CHURN_PAUSE"]) if os.environ.get("CHURN_PAUSE")
                   else None,
                   help="seconds between churn rounds (default: env CHURN_PAUSE, else 0.2: "
                        "several rounds between two page reads, so nearly every page boundary "
                        "shifts)")
    p.add_argument("--threads", type=int, default=4,
                   help="parallel requests for creating the pool and cleaning up (default 4)")
    p.add_argument("--allow-conflict", action="store_true",
                   help="a `conflict` from the harness is not a failure: retry the sync")
    p.add_argument("--attempts", type=int, default=3,
                   help="with --allow-conflict: syncs to try before giving up (default 3)")
    p.add_argument("--timeout", type=float, default=600,
                   help="bound on the whole script in seconds, cleanup included (default 600)")
    add_server_args(p)
    p.add_argument("--keep-output", metavar="DIR",
                   help="copy the harness's JSONL, stats and stderr of every attempt to DIR")
    args = p.parse_args()
    if args.pool < 1 or args.threads < 1 or args.attempts < 1 or args.timeout <= CLEANUP_RESERVE:
        p.error(f"--pool, --threads and --attempts must be positive, --timeout above "
                f"{CLEANUP_RESERVE}")
    return args


def on_sigterm(*_):
    # Raise instead of dying, so the cleanup in `finally` still deletes the churn users.
    print("interrupted (SIGTERM): cleaning up", flush=True)
    sys.exit(143)


def on_alarm(*_):
    raise Timeout()


def parallel(pool, fn, items):
    """Runs fn over items on the executor; returns the exceptions."""
    errors = []
    for fut in concurrent.futures.as_completed([pool.submit(fn, i) for i in items]):
        try:
            fut.result()
        except Exception as e:  # noqa: BLE001 - collected
            errors.append(e)
    return errors


def main():
    args = parse_args()
    harness = (REPO / args.harness).resolve()
    if not harness.is_file():
        print(f"no harness at {harness}: build it first (make harness)", file=sys.stderr)
        sys.exit(2)
    series, base, user, admin_password = server(args)
    try:
        generation = detect_generation(base, timeout=HTTP_TIMEOUT)
        # Usable from the churn threads; user creates and deletes retried (sqlite `database is
        # locked` -> 5xx).
        api = Api(base, generation, user, admin_password, timeout=HTTP_TIMEOUT, tries=3,
                  body_chars=200)
        api.check_admin()
    except (OSError, RuntimeError) as e:
        print(f"live_churn: cannot use the Airflow at {base}: {e}", file=sys.stderr)
        sys.exit(2)
    detected = GENERATIONS[generation][0]
    mismatch = wrong_series(base, series, generation)
    if mismatch:
        print(mismatch, file=sys.stderr)
        sys.exit(2)

    t_start = time.monotonic()
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, args.timeout - CLEANUP_RESERVE)

    prefix = f"churn-{os.getpid()}-"
    pool_names = [f"{prefix}{n}" for n in range(args.pool)]
    print(f"live churn test against {base}: series {detected} ({generation} API, {api.auth} "
          f"auth, {api.prefix}); throwaway users {prefix}*", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="live-churn-"))
    executor = concurrent.futures.ThreadPoolExecutor(args.threads, thread_name_prefix="pool")
    churn = None
    procs = []
    failures = []
    try:
        others = [n for n in snapshot(api) if n.startswith("churn-")]
        if others:
            print(f"note: {len(others)} churn-* users of other runs are on the server "
                  f"(e.g. {others[0]!r})")

        # 1. the pool
        t0 = time.monotonic()
        errors = parallel(executor, lambda n: create_user(api, n), pool_names)
        if errors:
            raise RuntimeError(f"creating the pool: {len(errors)} of {args.pool} creates failed, "
                               f"e.g. {errors[0]}")
        print(f"pool: {args.pool} users created in {time.monotonic() - t0:.1f} s "
              f"({args.threads} threads)", flush=True)

        # 2. BEFORE
        before = snapshot(api)
        roles = api.total("roles")
        positions = [i for i, n in enumerate(before) if n.startswith(prefix)]
        if args.interval_ms is not None:
            interval = args.interval_ms
        else:
            requests = estimate_requests(len(before), roles, generation)
            interval = max(50, min(10000, round(args.sync_seconds * 1000 / max(1, requests - 1))))
        pause = args.churn_pause if args.churn_pause is not None else 0.2
        # Rows where a page starts: every 100 (plain offset paging) or, for pages that
        # overlap by one row, 100, 199, 298, ...
        boundaries = set(range(PAGE, len(before), PAGE)) | set(range(PAGE, len(before), PAGE - 1))
        inside = sorted(b for b in boundaries if positions and positions[0] < b <= positions[-1])
        print(f"before: {len(before)} users, {roles} roles; pool at rows "
              f"{positions[0] if positions else '?'}..{positions[-1] if positions else '?'}; "
              f"page boundaries inside the pool: {inside or 'none'}; "
              f"request_interval_ms={interval}, churn pause {pause:.2f} s", flush=True)
        if not inside:
            print("note: no page boundary falls inside the pool: raise --pool "
                  "(deleted pool rows then shift no row across a boundary)")

        # 3. churn
        churn = Churn(api, prefix, pool_names, args.churn_mode, pause)
        churn.start()

        # 4. the sync (retried on conflict with --allow-conflict)
        env = harness_env(base, user, admin_password)
        run = None
        for attempt in range(1, args.attempts + 1):
            run = run_harness(harness, args.component, env, workdir, attempt, interval,
                              args.timeout - CLEANUP_RESERVE, procs)
            rounds, deletes, creates = churn.during(run.started, run.ended)
            offsets = ",".join(run.user_offsets())
            state = "completed" if run.rc == 0 else f"failed (exit {run.rc})"
            print(f"sync {attempt}: {state} in {run.seconds:.1f} s; user pages at offsets "
                  f"[{offsets}]; {rounds} churn rounds ({deletes} deletes, {creates} creates) "
                  f"finished meanwhile", flush=True)
            if run.rc == 0:
                break
            print("  harness stderr:\n" + indent(run.stderr, "    | "))
            if not run.conflict:
                failures.append(f"the harness failed (exit {run.rc}), not with a conflict")
                break
            if not args.allow_conflict:
                failures.append("the connector gave up with `conflict` under churn: it must "
                                "heal (rerun with --allow-conflict to retry and check the rows)")
                break
            print("  conflict allowed (--allow-conflict): syncing again", flush=True)

        # 5. stop the churn, AFTER
        churn.stop.set()
        churn.join(timeout=3 * 3 * HTTP_TIMEOUT + 10)
        if churn.is_alive():
            raise RuntimeError("the churn thread did not stop")
        after = snapshot(api)
        if churn.errors:
            print(f"note: {len(churn.errors)} churn requests failed, e.g. {churn.errors[0]}")

        # 6. the checks
        if run.rc == 0:
            rounds, deletes, creates = churn.during(run.started, run.ended)
            stable = {n for n, created in before.items()
                      if after.get(n) == created and n not in churn.touched}
            got = synced_users(run.jsonl)
            missing = sorted(stable - set(got))
            duplicated = sorted(n for n, c in got.items() if c > 1)
            unknown = sorted(n for n in got if n not in before and n not in after
                             and n not in churn.touched)
            stable_pool = sum(1 for n in stable if n.startswith(prefix))
            requests = (run.stats or {}).get("requests", "?")
            if missing:
                where = {n: i for i, n in enumerate(before)}
                failures.append(f"{len(missing)} stable users missing from the sync, e.g. "
                                + ", ".join(f"{n!r} (row {where[n]} before)" for n in missing[:8]))
            if duplicated:
                failures.append(f"{len(duplicated)} users reported more than once, e.g. "
                                + ", ".join(f"{n!r} x{got[n]}" for n in duplicated[:8]))
            first_inside = inside[0] if inside else len(before)
            covered = sum(1 for i, n in enumerate(before) if i >= first_inside and n in stable)
            if covered == 0:
                failures.append(f"no stable user at or after row {first_inside} (the first page "
                                "boundary inside the pool): a skipped row could not be seen "
                                "(raise --pool)")
            if rounds == 0:
                failures.append("no churn round overlapped the sync: nothing was tested "
                                "(lower --churn-pause or raise --interval-ms)")
            if unknown:
                print(f"note: {len(unknown)} synced users neither in BEFORE, AFTER nor churned "
                      f"(someone else's?), e.g. {unknown[:3]}")
            print(f"checked: {sum(got.values())} user rows, {len(got)} distinct; "
                  f"{len(stable)} stable users ({stable_pool} of them untouched pool users, "
                  f"{covered} at or after row {first_inside}); "
                  f"churn in total: {len(churn.rounds)} rounds (mode {args.churn_mode}; create "
                  f"{churn.latency['create'] * 1000:.0f} ms, delete "
                  f"{churn.latency['delete'] * 1000:.0f} ms)")
            print(f"churn: sync completed in {run.seconds:.1f} s, {requests} requests "
                  f"(STATS.json; {run.steps_back()} user reads went back), {rounds} churn "
                  f"rounds ({deletes} deletes, {creates} creates) "
                  f"during the sync, {len(stable)} stable users: {len(missing)} missing, "
                  f"{len(duplicated)} duplicated", flush=True)
        elif not failures:
            failures.append(f"no sync completed in {args.attempts} attempts (all conflicts): "
                            "nothing could be checked")
    except Timeout:
        failures.append(f"timed out after {time.monotonic() - t_start:.0f} s "
                        f"(--timeout {args.timeout:.0f} minus {CLEANUP_RESERVE} s for cleanup)")
    except KeyboardInterrupt:
        print("interrupted: cleaning up", flush=True)
        failures.append("interrupted")
    except (RuntimeError, OSError, ValueError, KeyError) as e:  # server or harness trouble
        failures.append(f"{type(e).__name__}: {e}")
    finally:
        # Cleanup gets its own time budget, the rest of --timeout.
        signal.setitimer(signal.ITIMER_REAL, max(10, args.timeout - (time.monotonic() - t_start)))
        try:
            for proc in list(procs):
                proc.kill()
                proc.wait()
            executor.shutdown(wait=True, cancel_futures=True)  # no create after the listing
            if churn is not None:
                churn.stop.set()
                churn.join(timeout=3 * 3 * HTTP_TIMEOUT + 10)
            cleanup_executor = concurrent.futures.ThreadPoolExecutor(args.threads)
            leftovers = [n for n in snapshot(api) if n.startswith(prefix)]
            errors = parallel(cleanup_executor, api.delete_user, leftovers)
            cleanup_executor.shutdown(wait=True)
            left = [n for n in snapshot(api) if n.startswith(prefix)]
            print(f"cleanup: {len(leftovers) - len(errors)} churn users deleted, {len(left)} left")
            if left or errors:
                failures.append(f"cleanup: {len(left)} churn users left on the server "
                                f"({errors[0] if errors else left[:3]})")
        except (Exception, Timeout, KeyboardInterrupt) as e:  # noqa: BLE001 - reported
            failures.append(f"cleanup did not finish: {e!r}; delete the users {prefix}* by hand")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if args.keep_output:
                shutil.copytree(workdir, args.keep_output, dirs_exist_ok=True)
            shutil.rmtree(workdir, ignore_errors=True)
    for f in failures:
        print(f"FAIL  {f}")
    print(f"live churn: {'FAILED' if failures else 'passed'} "
          f"({time.monotonic() - t_start:.1f} s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
