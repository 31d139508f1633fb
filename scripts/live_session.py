#!/usr/bin/env python3
"""Live checks of the session login: the connector on a real Airflow 2.11 left on its default API
backend (the session cookie of the web form login; `AIRFLOW_AUTH=default`, port 28084), or on
Airflow 3.0 (its Connexion FAB API takes Basic and the form login at /auth/login/; port 28083,
run by test-live.sh after the Basic suites), with the default settings, so `auth_mode` is
`auto` and must choose the form login.

Checks, each against the server's own answers (scripts/airflow_api.py, signed in by form too on
2.11, with Basic on 3.0):
  - 2.11: the server refuses HTTP Basic, so nothing but the form login can have worked (3.0
    takes Basic: there the summary, the one login and the request count tell);
  - a full sync as the admin and as the least-privilege account `svc-sync` lists exactly the
    server's users, roles, memberships and permissions in the expected number of requests
    (scripts/check_sync.py), and its summary says the session login was used and why;
  - a provisioning round trip: create an account, grant a role, revoke it, delete the account,
    each run signing in once;
  - a wrong password fails with the Unauthenticated error naming the settings to fix (on 3.0 at
    the detection's JWT sign-in, before any login);
  - no password, cookie or CSRF token in any output.

Airflow allows 5 POST /login/ (3.0: /auth/login/) per 40 s from one address, and every run of
the harness logs in once: the runs book their logins through airflow_api.login_slot, so the
suite waits instead of being refused. A run refused with 429 anyway (another program's logins) is run once more.

usage: live_session.py [--harness PATH] [--series 2.11|3.0] [--base-url URL]
  env AIRFLOW_BASE_URL, AIRFLOW_ADMIN_USER, AIRFLOW_ADMIN_PASSWORD, AIRFLOW_SEED_USER_PASSWORD
Prints PASS/FAIL per check and ends with `N passed, M failed`; exit 1 on any failure.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling scripts, from any cwd
from airflow_api import (  # noqa: E402
    LOGIN_WINDOW, Api, add_server_args, basic, detect_generation, email_for, http, login_slot,
    server, wrong_series)
from check_sync import check, harness_requests, last_error  # noqa: E402
from live_provision import Report  # noqa: E402

SEED_USER_PASSWORD = "Seeded-User-Pa55word"  # scripts/airflow/config.env's default
SESSION_AUTO = "session cookie of the form login (auto"


class Harness:
    def __init__(self, path, base, report):
        self.path, self.base, self.r = path, base, report
        self.runs = []  # (argv, rc, stdout, stderr) of every run, for the secrets check

    def run(self, args, user, password, login=True):
        """One harness run with only these settings (auth_mode unset: auto). `login`: it will
        POST /login/ once, so it books a slot of the login rate limit first."""
        # Inherited connector settings (AIRFLOW_AUTH_MODE, BATON_*) would change what is tested.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "BATON_"))}
        env.update(AIRFLOW_BASE_URL=self.base, AIRFLOW_USERNAME=user, AIRFLOW_PASSWORD=password)
        argv = [str(self.path), "-v", *args]
        for attempt in (1, 2):
            if login:
                login_slot(self.base)
            proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                                  timeout=180)
            self.runs.append((argv, proc.returncode, proc.stdout, proc.stderr))
            if attempt == 1 and proc.returncode != 0 and "answered 429" in proc.stderr:
                print(f"note: {' '.join(args[:2])}: login rate limit hit (another program's "
                      f"logins); again in {LOGIN_WINDOW:.0f} s", flush=True)
                time.sleep(LOGIN_WINDOW)
                continue
            return proc

    @staticmethod
    def error(proc):
        return last_error(proc.stderr)

    @staticmethod
    def logins(proc):
        return sum(1 for m, u, _ in harness_requests(proc.stderr)
                   if m == "POST" and u.endswith("/login/"))


class Suite:
    def __init__(self, api, harness, report, seed_password):
        self.api, self.h, self.r = api, harness, report
        # Airflow 3.0 refuses a wrong password at /auth/token, before the form.
        self.airflow3 = api.generation == "connexion"
        self.seed_password = seed_password
        self.account = f"ls-{os.getpid()}-{int(time.time())}"
        self.out = Path(tempfile.mkdtemp(prefix="live-session-"))

    def basic_refused(self):
        if self.airflow3:
            print("note: Airflow 3.0 takes HTTP Basic too: the syncs' summaries, their one login "
                  "and their request counts show the session login was used")
            return
        status, _ = http("GET", f"{self.api.base}/api/v1/users?limit=1", None,
                         {"Authorization": basic(self.api.user, self.api.password)})
        self.r.check("server: the admin's HTTP Basic is refused (no Basic backend), so only the "
                     "form login can work", status in (401, 403), f"HTTP {status}")

    def sync(self, label, user, password):
        jsonl, stats = self.out / f"{label}.jsonl", self.out / f"{label}.json"
        proc = self.h.run(["sync", "--out", str(jsonl), "--stats-json", str(stats)], user,
                          password)
        if not self.r.check(f"sync as {user}: completes", proc.returncode == 0,
                            f"rc={proc.returncode} {self.h.error(proc)}"):
            return
        auth = json.loads(stats.read_text())["session"].get("auth", "")
        self.r.check(f"sync as {user}: the summary says auto chose the session login",
                     auth.startswith(SESSION_AUTO) and "1 login(s)" in auth, f"auth: {auth!r}",
                     note=f"auth: {auth}")
        self.r.check(f"sync as {user}: one login POST", self.h.logins(proc) == 1,
                     f"{self.h.logins(proc)} logins")
        failures = check(str(jsonl), str(stats), self.api)
        self.r.check(f"sync as {user}: users, roles, memberships, permissions and requests "
                     f"match the server (check_sync.py)", not failures, "; ".join(failures))

    def provision(self, label, args, want_roles):
        """One provisioning run as the admin, then the account's roles as the server has them
        (None: no such account)."""
        proc = self.h.run(["--provisioning", "provision", *args], self.api.user,
                          self.api.password)
        try:
            outcome = json.loads(proc.stdout) if proc.returncode == 0 else {}
        except ValueError:
            outcome = {}
        done = proc.returncode == 0 and outcome.get("status") == "done"
        got = self.api.roles_of(self.account)
        shown = sorted(got) if got is not None else "no such account"
        want = sorted(want_roles) if want_roles is not None else "no such account"
        self.r.check(f"{label}: done, one login, server shows {want}",
                     done and self.h.logins(proc) == 1 and got == want_roles,
                     f"rc={proc.returncode} status={outcome.get('status')} "
                     f"logins={self.h.logins(proc)} error={self.h.error(proc)!r} server: {shown}")

    def round_trip(self):
        login = self.account
        self.provision("create-account", ["create-account", "--login", login, "--email",
                                          email_for(login), "--first-name", "Live",
                                          "--last-name", "Session", "--role", "Viewer"],
                       {"Viewer"})
        self.provision("grant Op", ["grant", "--entitlement", "role:Op:member", "--principal",
                                    f"user:{login}"], {"Viewer", "Op"})
        self.provision("revoke Op", ["revoke", "--grant", f"role:Op:member:user:{login}"],
                       {"Viewer"})
        self.provision("delete-account", ["delete-account", "--principal", f"user:{login}"],
                       None)

    def wrong_password(self):
        proc = self.h.run(["validate"], self.api.user, "not-the-password",
                          login=not self.airflow3)
        error = self.h.error(proc)
        refusal = "rejected the credentials" if self.airflow3 else "refused the login"
        self.r.check("wrong password: exit 1 with the Unauthenticated error naming `username` "
                     "and `password`",
                     proc.returncode == 1 and error.startswith("error: unauthenticated")
                     and refusal in error and "`password`" in error,
                     f"rc={proc.returncode} {error!r}", note=error)
        if self.airflow3:
            self.r.check("wrong password: refused at /auth/token, no login spent",
                         self.h.logins(proc) == 0, f"{self.h.logins(proc)} logins")

    def secrets(self):
        text = "\n".join(out + err for _, _, out, err in self.h.runs)
        for (path, _, _, _) in self.h.runs:
            out = next((a for a in path if a.endswith(".jsonl")), None)
            if out and Path(out).exists():
                text += Path(out).read_text()
        found = [what for what, value in (("the admin password", self.api.password),
                                          ("the seeded users' password", self.seed_password),
                                          ("the admin's session cookie", self.api.token))
                 if value and value in text]
        found += [what for what, pattern in (("a Cookie or Set-Cookie", r"(?i)\bsession="),
                                             ("a CSRF token", r"(?i)csrf_token="))
                  if re.search(pattern, text)]
        self.r.check(f"secrets: no password, cookie or CSRF token in the output of "
                     f"{len(self.h.runs)} harness runs", not found, ", ".join(found))

    def cleanup(self):
        if self.api.get_user(self.account) is not None:
            self.api.delete_user(self.account)
            print(f"cleanup: deleted {self.account}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--harness", default="target/debug/host-harness",
                   help="host-harness binary (relative paths are from the repository root)")
    add_server_args(p)
    args = p.parse_args()
    harness_path = (REPO / args.harness).resolve()
    if not harness_path.is_file():
        sys.exit(f"no harness at {harness_path}: build it first (make harness)")
    series, base, user, password = server(args)
    generation = detect_generation(base)
    if generation not in ("v1", "connexion") or wrong_series(base, series, generation):
        sys.exit(f"{base} is not an Airflow 2 or 3.0 server ({generation} API): the session "
                 f"login is theirs; start one with AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=default or "
                 f"AIRFLOW_SERIES=3.0")
    # On 3.0 the admin reads with Basic, sparing the login allowance for the connector's runs.
    api = Api(base, generation, user, password,
              auth="session" if generation == "v1" else None)
    api.check_admin()
    report = Report()
    suite = Suite(api, Harness(harness_path, base, report),
                  report, os.environ.get("AIRFLOW_SEED_USER_PASSWORD") or SEED_USER_PASSWORD)
    t0 = time.monotonic()
    what = "Airflow 2 API, default backend" if generation == "v1" else "Airflow 3.0 FAB API"
    print(f"live session-login checks against {base} ({what}; throwaway account "
          f"{suite.account})", flush=True)
    try:
        suite.basic_refused()
        suite.sync("sync", user, password)
        suite.sync("sync-least-privilege", "svc-sync", suite.seed_password)
        suite.round_trip()
        suite.wrong_password()
        suite.secrets()
    finally:
        suite.cleanup()
        print(f"time: {time.monotonic() - t0:.1f} s")
        print(f"{report.passed} passed, {report.failed} failed")
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
