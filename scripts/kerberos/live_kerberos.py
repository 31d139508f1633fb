#!/usr/bin/env python3
"""Live checks of host-provided Kerberos: the harness authenticates the Airflow connector's
requests with `Authorization: Negotiate …` (host_auth=negotiate) against a real Airflow 2.11
with the FAB kerberos_auth backend and a real MIT KDC on loopback (AIRFLOW_AUTH=kerberos,
port 28085; scripts/live_kerberos.sh sets the realm up and runs this).

Checks, each against the server's own answers (scripts/airflow_api.py, HTTP Basic as the admin):
  - the server refuses a request without credentials, so only the host's Kerberos can work;
  - with alice's ticket (`kinit alice`), a full sync lists exactly the server's users, roles,
    memberships and permissions in the expected number of requests (scripts/check_sync.py);
    it is recorded, and the recording replays to the same output with no ticket at all;
  - a grant and a revoke through the harness, each seen on the server;
  - without a ticket (kdestroy) the same sync fails at its first request, exit 2, with the
    message saying to run `kinit alice@REALM`;
  - with the ticket of a principal that has no Airflow user (bob), the refusal explains that the
    Airflow user must be named after the full principal;
  - with the default SPN (airflow@<host of base_url>, here an IP the KDC has no principal for)
    the message names the SPN and --kerberos-spn / AIRFLOW_KERBEROS_SPN;
  - no Negotiate token, password or cookie in any output, log or cassette.

The Airflow user alice@REALM (Admin) is created for the run and deleted after it, so the server
stays what scripts/airflow/seed.py verifies.

usage: live_kerberos.py [--harness PATH] [--keep-cassette FILE]
  env AIRFLOW_BASE_URL, AIRFLOW_ADMIN_USER, AIRFLOW_ADMIN_PASSWORD, KRB5_CONFIG and the realm's
  settings of scripts/kerberos/kerberos.env
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from airflow_api import Api, add_server_args, detect_generation, http, server  # noqa: E402
from check_sync import check, harness_requests, last_error  # noqa: E402
from live_provision import Report  # noqa: E402

# An SPNEGO token starts with the DER tag 0x60 and a long length: base64 "YII".
TOKEN_PATTERNS = (("a Negotiate header with its token", r"(?i)negotiate\s+[A-Za-z0-9+/]{16,}"),
                  ("an SPNEGO token", r"YII[A-Za-z0-9+/]{20,}"),
                  ("a session cookie", r"(?i)\bsession=[A-Za-z0-9]"))


def env_required(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"live_kerberos.py: {name} is not set (run it through scripts/live_kerberos.sh)")
    return value


class Kerberos:
    """Ticket caches in a private directory: one per principal, none shared with the user's."""

    def __init__(self, out):
        self.out = out
        self.realm = env_required("KRB5_REALM")
        self.config = env_required("KRB5_CONFIG")

    def kinit(self, user, password):
        cache = f"FILE:{self.out / ('cc-' + user)}"
        proc = subprocess.run(["kinit", f"{user}@{self.realm}"], input=password + "\n",
                              env={**os.environ, "KRB5CCNAME": cache}, capture_output=True,
                              text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"kinit {user}: {proc.stderr.strip()}")
        return cache

    def kdestroy(self, cache):
        subprocess.run(["kdestroy", "-q"], env={**os.environ, "KRB5CCNAME": cache}, check=True,
                       timeout=30)


class Harness:
    def __init__(self, path, base, spn, kerberos):
        self.path, self.base, self.spn, self.k = path, base, spn, kerberos
        self.runs = []  # (argv, rc, stdout, stderr) of every run, for the secrets check

    def run(self, args, cache, username, spn=True, host_auth=True, record=None, replay=None):
        """One harness run with host_auth=negotiate (settings from the environment, as an
        operator sets them), the ticket cache `cache` and nothing else of the caller's."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW_", "BATON_", "KRB5CCNAME"))}
        env.update(KRB5CCNAME=cache, KRB5_CONFIG=self.k.config)
        if not replay:
            env.update(AIRFLOW_BASE_URL=self.base)
        if host_auth:
            env.update(AIRFLOW_HOST_AUTH="negotiate", AIRFLOW_USERNAME=username)
        if spn:
            env.update(AIRFLOW_KERBEROS_SPN=self.spn)
        source = ("real Airflow 2.11.2 + FAB 1.5.4 (kerberos_auth) on 127.0.0.1, host_auth=negotiate "
                  "with a ticket from a loopback MIT KDC (scripts/kerberos/live_kerberos.py)")
        mode = (["--record", str(record), "--source", source] if record
                else ["--replay", str(replay)] if replay else [])
        argv = [str(self.path), "--verbose", *mode, *args]
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=180)
        self.runs.append((argv, proc.returncode, proc.stdout, proc.stderr))
        return proc

    @staticmethod
    def error(proc):
        return last_error(proc.stderr)

    @staticmethod
    def requests(proc):
        """(method, url, outcome) of each request, from --verbose."""
        return harness_requests(proc.stderr)


class Suite:
    def __init__(self, api, harness, kerberos, report, out, keep=None):
        self.api, self.h, self.k, self.r, self.out = api, harness, kerberos, report, out
        self.keep = keep  # where the sync's recording is copied to, if anywhere
        self.user = f"{env_required('KRB5_USER')}@{kerberos.realm}"
        self.stranger_user = f"{env_required('KRB5_STRANGER')}@{kerberos.realm}"
        self.created_user = False
        self.files = []  # outputs and cassettes, for the secrets check

    def setup(self):
        if self.api.get_user(self.stranger_user) is not None:
            self.api.delete_user(self.stranger_user)  # must have no Airflow user
        if self.api.get_user(self.user) is None:
            self.api.create_user(self.user, f"not-used-{os.getpid()}-Pw1", ["Admin"], "Alice",
                                 "Kerberos")
            self.created_user = True
        self.cache = self.k.kinit(env_required("KRB5_USER"), env_required("KRB5_USER_PASSWORD"))

    def anonymous_refused(self):
        status, _ = http("GET", f"{self.api.base}/api/v1/users?limit=1")
        self.r.check("server: a request without credentials is refused (AUTH_ROLE_PUBLIC = None),"
                     " so only the host's Kerberos can make the connector's work",
                     status == 401, f"HTTP {status}")

    def sync(self):
        jsonl, stats, cassette = (self.out / "sync.jsonl", self.out / "stats.json",
                                  self.out / "kerberos.json")
        self.files += [jsonl, cassette]
        proc = self.h.run(["sync", "--out", str(jsonl), "--stats-json", str(stats)], self.cache,
                          self.user, record=cassette)
        if not self.r.check(f"sync with {self.user}'s ticket: completes", proc.returncode == 0,
                            f"rc={proc.returncode} {self.h.error(proc)}"):
            return
        session = json.loads(stats.read_text())["session"]
        self.r.check("sync: the summary says the host authenticated",
                     session.get("auth", "").startswith("provided by the host"),
                     f"session: {session}",
                     note=f"auth: {session.get('auth')}")
        failures = check(str(jsonl), str(stats), self.api)
        self.r.check("sync: users, roles, memberships, permissions and requests match the "
                     "server (check_sync.py)", not failures, "; ".join(failures))
        requests = self.h.requests(proc)
        self.r.check(f"sync: every one of {len(requests)} requests answered with the host's "
                     f"Kerberos (no 401/403)",
                     requests and all(o.split()[0] not in ("401", "403") for _, _, o in requests),
                     f"{requests}")
        # The recording, replayed with no ticket and no Kerberos setting at all.
        replayed = self.out / "replayed.jsonl"
        self.files.append(replayed)
        proc = self.h.run(["sync", "--out", str(replayed)], "FILE:/nonexistent/cache", "",
                          spn=False, host_auth=False, replay=cassette)
        same = proc.returncode == 0 and replayed.read_bytes() == jsonl.read_bytes()
        self.r.check("replay of the recording, without a ticket: the live sync's output, byte "
                     "for byte", same, f"rc={proc.returncode} {self.h.error(proc)}")
        if same and self.keep:
            self.keep.parent.mkdir(parents=True, exist_ok=True)
            self.keep.write_bytes(cassette.read_bytes())
            print(f"recording kept: {self.keep}")

    def pick_user(self):
        """A seeded user without the Op role."""
        for user in self.api.read_all("users"):
            name = user["username"]
            if name not in (self.api.user, self.user) and "Op" not in {
                    r["name"] for r in user["roles"]} and re.fullmatch(r"[a-z0-9._-]+", name):
                return name
        raise RuntimeError("no seeded user without Op: seed the server (make seed)")

    def provision(self):
        target = self.pick_user()
        for label, args, want in (
                ("grant Op", ["grant", "--entitlement", "role:Op:member", "--principal",
                              f"user:{target}"], True),
                ("revoke Op", ["revoke", "--grant", f"role:Op:member:user:{target}"], False)):
            proc = self.h.run(["--provisioning", "provision", *args], self.cache, self.user)
            try:
                outcome = json.loads(proc.stdout) if proc.returncode == 0 else {}
            except ValueError:
                outcome = {}
            has_op = "Op" in (self.api.roles_of(target) or set())
            self.r.check(f"{label} to {target} through the harness with Kerberos: done, and the "
                         f"server shows it", proc.returncode == 0
                         and outcome.get("status") == "done" and has_op == want,
                         f"rc={proc.returncode} status={outcome.get('status')} "
                         f"error={self.h.error(proc)!r} server has Op: {has_op}")

    def no_ticket(self):
        self.k.kdestroy(self.cache)
        jsonl = self.out / "no-ticket.jsonl"
        proc = self.h.run(["sync", "--out", str(jsonl)], self.cache, self.user)
        error = self.h.error(proc)
        attempts = self.h.requests(proc)
        self.r.check(f"no ticket (kdestroy): exit 2 at the first request, which is not sent or "
                     f"retried, saying to run `kinit {self.user}`",
                     proc.returncode == 2 and f"run `kinit {self.user}` first" in error
                     and "KRB5CCNAME" in error and len(attempts) == 1 and not jsonl.exists(),
                     f"rc={proc.returncode} requests={attempts} {error!r}", note=error)

    def stranger(self):
        cache = self.k.kinit(env_required("KRB5_STRANGER"), env_required("KRB5_STRANGER_PASSWORD"))
        proc = self.h.run(["sync", "--out", str(self.out / "stranger.jsonl")], cache,
                          self.stranger_user)
        error = self.h.error(proc)
        self.r.check(f"a principal with no Airflow user ({self.stranger_user}): the refusal says the "
                     f"Airflow user must be named after the full principal",
                     proc.returncode == 1 and "named after the full principal" in error,
                     f"rc={proc.returncode} {error!r}", note=error)
        self.k.kdestroy(cache)

    def wrong_spn(self):
        cache = self.k.kinit(env_required("KRB5_USER"), env_required("KRB5_USER_PASSWORD"))
        proc = self.h.run(["validate"], cache, self.user, spn=False)
        error = self.h.error(proc)
        host = self.api.base.split("//", 1)[1].rsplit(":", 1)[0]
        self.r.check(f"the default SPN airflow@{host}, unknown to the KDC: exit 2 naming it and "
                     f"--kerberos-spn / AIRFLOW_KERBEROS_SPN",
                     proc.returncode == 2 and f"`airflow@{host}`" in error
                     and "--kerberos-spn" in error and "AIRFLOW_KERBEROS_SPN" in error,
                     f"rc={proc.returncode} {error!r}", note=error)
        self.k.kdestroy(cache)

    def secrets(self):
        # The patterns must find what they look for: a header as the harness sends it.
        planted = "Authorization: Negotiate YIICxAYGKwYBBQUCoIICuDCCArSgDTALBgkqhkiG9xIBAgKi"
        blind = [what for what, pattern in TOKEN_PATTERNS[:2] if not re.search(pattern, planted)]
        self.r.check("secrets: the scan finds a planted Negotiate header", not blind,
                     ", ".join(blind))
        text = "\n".join(out + err for _, _, out, err in self.h.runs)
        text += "".join(f.read_text() for f in self.files if f.exists())
        found = [what for what, value in (
            ("the admin password", self.api.password),
            ("a Kerberos password", os.environ.get("KRB5_USER_PASSWORD")),
            ("a Kerberos password", os.environ.get("KRB5_STRANGER_PASSWORD")))
            if value and value in text]
        found += [what for what, pattern in TOKEN_PATTERNS if re.search(pattern, text)]
        self.r.check(f"secrets: no Negotiate token, password or cookie in the output of "
                     f"{len(self.h.runs)} harness runs, the sync outputs or the cassette",
                     not found, ", ".join(sorted(set(found))))

    def cleanup(self):
        if self.created_user and self.api.get_user(self.user) is not None:
            self.api.delete_user(self.user)
            print(f"cleanup: deleted the Airflow user {self.user}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--harness", default="target/debug/host-harness",
                   help="host-harness binary (relative paths are from the repository root)")
    p.add_argument("--keep-cassette", type=Path,
                   help="also write the sync's recording here (tests/cassettes/"
                        "airflow-2.11-kerberos/sync.json is the committed one)")
    add_server_args(p)
    args = p.parse_args()
    harness_path = (REPO / args.harness).resolve()
    if not harness_path.is_file():
        sys.exit(f"no harness at {harness_path}: build it first (make harness)")
    _, base, user, password = server(args)
    if detect_generation(base) != "v1":
        sys.exit(f"{base} is not an Airflow 2 server: start the Kerberos variant with "
                 f"AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=kerberos scripts/airflow/up.sh")
    api = Api(base, "v1", user, password, auth="basic")
    api.check_admin()
    service_host = Path(env_required("KRB5_SERVICE_HOST_FILE")).read_text().strip()
    out = Path(tempfile.mkdtemp(prefix="live-kerberos-"))
    kerberos = Kerberos(out)
    report = Report()
    suite = Suite(api, Harness(harness_path, base, f"airflow@{service_host}", kerberos),
                  kerberos, report, out, args.keep_cassette)
    t0 = time.monotonic()
    print(f"live Kerberos checks against {base} (Airflow 2 API, FAB kerberos_auth; realm "
          f"{kerberos.realm}, SPN airflow@{service_host}, user {suite.user})", flush=True)
    try:
        suite.setup()
        suite.anonymous_refused()
        suite.sync()
        suite.provision()
        suite.no_ticket()
        suite.stranger()
        suite.wrong_spn()
        suite.secrets()
    finally:
        suite.cleanup()
        print(f"time: {time.monotonic() - t0:.1f} s")
        print(f"{report.passed} passed, {report.failed} failed")
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
