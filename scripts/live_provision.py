#!/usr/bin/env python3
"""Live provisioning checks: the harness's `provision` commands against a real Airflow.

Every change the connector makes is checked independently of it, straight through the FAB
API with the admin's credentials. Works on the three API generations (scripts/airflow/
GENERATIONS.md), which it detects itself from `POST /auth/token` with `{}`:
  400 -> 3.3 (FastAPI FAB): JWT from POST /auth/token, /auth/fab/v1
  422 -> 3.0 (Connexion FAB): HTTP Basic, /auth/fab/v1
  404 -> 2.11 (Airflow 2): HTTP Basic, /api/v1 (confirmed by GET /api/v1/health 200)
--series / AIRFLOW_SERIES (3.3 | 3.0 | 2.11) picks the default URL (config.env's ports
28080 / 28083 / 28082) and is checked against what the server turns out to be.

"The password signs in" means: on 3.3, POST /auth/token answers 201; on 3.0 and 2.11 (Basic),
GET <prefix>/users?limit=1 with the account's Basic credentials is not 401 AND the account's
login_count (read by the admin) went up by one. The status alone cannot tell: a Public user
gets 403 with the right password on both, and 2.11 answers the same 403 to a wrong one; FAB
counts a login only when the password is right (a wrong one bumps fail_login_count instead).
Each generated-password check is paired with the same check on a deliberately wrong password,
which must come out negative.

The script works only on throwaway users and roles it names `lp-<pid>-<time>-…` and deletes
all of them at the end, even on failure.

Checks: the --provisioning gate; grant/revoke round trips (both revoke forms, idempotence,
no write when nothing changes); create-account (generated and supplied passwords, default
role Public, --role, case-insensitive "already exists", `/` refused) and delete-account
(idempotent, own identity refused); not-found errors; role lifecycle (create-role with its
permissions, repeat, conflicting permissions, unknown action, built-in roles and a role the
connector's own account holds refused, delete-role and its repeat); concurrent changes to one
user (lost updates); no secrets on stderr.

Concurrency: each round, three harness processes change the same throwaway user at the same
moment (grant Op, grant Viewer, revoke User); the server must end with all three changes. It
reports lost updates (must be 0), writes the connector redid after seeing its change replaced,
the waits it chose before reading back (parsed from the outcome messages) and the load average.
--load N runs N CPU burners (busy Python loops at normal priority) during those rounds, to
measure on a loaded machine; they stop when the section ends, and on their own when this
script dies or after a hard time limit.

usage: live_provision.py [--harness PATH] [--rounds N] [--load N] [--series S] [--base-url URL]
  env AIRFLOW_BASE_URL, AIRFLOW_SERIES, AIRFLOW_ADMIN_USER, AIRFLOW_ADMIN_PASSWORD
  (defaults: config.env's)
Prints PASS/FAIL per check and ends with `N passed, M failed`; exit 1 on any failure.
"""
import argparse
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # airflow_api, from any cwd
from airflow_api import (  # noqa: E402
    GENERATIONS, Api, add_server_args, detect_generation, email_for, harness_env, server,
    wrong_series)

# `http: live PATCH <url> -> 200 (41 ms)`; the mode word (live, record, replay) is optional.
HTTP_LOG = re.compile(r"^http: (?:[a-z]+ )?([A-Z]+) (\S+) -> (\d+)", re.M)
ENABLE_HINT = "--provisioning"
BUILT_IN_ROLES = ("Admin", "Op", "User", "Viewer", "Public")
# The outcome of a verified role change (src/provision/verify.rs, `Attempts::note`):
#   "(1 attempt, verified after 300+200 ms)"
#   "(after 3 attempts: a concurrent change replaced the role list; waits 300, 610+200, 900 ms)"
#   either with "; 2 writes failed, read back" before the ")" when Airflow answered 5xx.
FAILED_WRITES = r"(?:; (\d+) writes? failed, read back)?\)$"
ONE_ATTEMPT = re.compile(r"\(1 attempt, verified after ([\d+]+) ms" + FAILED_WRITES)
REDONE = re.compile(r"\(after (\d+) attempts: [^;]*; waits ([\d+, ]+) ms" + FAILED_WRITES)
# A CPU burner: a busy loop that ends at its deadline, or as soon as its parent is gone.
BURNER = """
import os, sys, time
parent, end = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < end:
    n += 1
    if n % 200000 == 0 and os.getppid() != parent:
        break
"""


# ---------------------------------------------------------------- the harness

class Run:
    """One finished harness run."""

    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        try:
            self.outcome = json.loads(stdout) if rc == 0 else None
        except ValueError:
            self.outcome = None

    @property
    def status(self):
        return (self.outcome or {}).get("status")

    @property
    def error(self):
        lines = [l for l in self.stderr.splitlines() if l.startswith("error:")]
        return lines[-1] if lines else ""

    def requests(self):
        """(method, url, status) of every HTTP request, from the --verbose log."""
        return [(m, u, int(s)) for m, u, s in HTTP_LOG.findall(self.stderr)]

    def writes(self):
        """Mutating requests the server accepted (2xx); signing in is not a change."""
        return [(m, u, s) for m, u, s in self.requests()
                if m != "GET" and not u.endswith("/auth/token") and 200 <= s < 300]

    def describe(self):
        out = self.stdout.strip()
        if (self.outcome or {}).get("credential"):  # keep generated passwords out of the log
            out = json.dumps({**self.outcome, "credential": "<redacted>"})
        return f"rc={self.rc} stdout={out[:300]!r} error={self.error!r}"


class Harness:
    def __init__(self, path, base_url, username, password):
        self.path = path
        self.base_url, self.username, self.password = base_url, username, password
        self.runs = []  # every run, for the secrets check
        self.live = []  # started processes, stopped before cleanup if still running

    def env(self, username=None, password=None):
        return harness_env(self.base_url, username or self.username, password or self.password)

    def argv(self, action, args, provisioning):
        flags = ["--provisioning"] if provisioning else []
        return [str(self.path), *flags, "-v", "provision", action, *args]

    def start(self, action, *args, provisioning=True, stdin=None, username=None, password=None):
        argv = self.argv(action, args, provisioning)
        proc = subprocess.Popen(argv, cwd=REPO, env=self.env(username, password), text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.live.append(proc)
        return argv, proc, stdin

    def finish(self, started):
        argv, proc, stdin = started
        try:
            out, err = proc.communicate(stdin, timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += "\n(live_provision: harness run timed out)"
        self.live.remove(proc)
        run = Run(argv, proc.returncode, out, err)
        self.runs.append(run)
        return run

    def stop_all(self):
        """After an interruption: a run still in flight could create a user after cleanup."""
        for proc in self.live:
            proc.kill()
            proc.wait()
        self.live.clear()

    def run(self, action, *args, **kw):
        return self.finish(self.start(action, *args, **kw))


# ---------------------------------------------------------------- reporting

class Report:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail="", note=""):
        """`detail` explains a failure; `note` is shown either way (e.g. the refusal text)."""
        if ok:
            self.passed += 1
            print(f"PASS  {name}" + (f"\n        {note}" if note else ""))
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f"\n        {detail}" if detail else ""))
        sys.stdout.flush()
        return ok


# ---------------------------------------------------------------- the checks

class Suite:
    def __init__(self, api, harness, report, rounds, load=0):
        self.api, self.h, self.r, self.rounds = api, harness, report, rounds
        self.load = load
        self.prefix = f"lp-{os.getpid()}-{int(time.time())}"
        self.created = []        # every throwaway user name, for cleanup
        self.created_roles = []  # every throwaway role name, for cleanup
        self.secrets = set()     # passwords that must never reach stderr
        self.generated = []      # (password, run) pairs the connector generated

    def name(self, tag):
        name = f"{self.prefix}-{tag}"
        self.created.append(name)
        return name

    def role_name(self, tag):
        name = f"{self.prefix}-{tag}"
        self.created_roles.append(name)
        return name

    def throwaway(self, tag, roles=("Public",)):
        name = self.name(tag)
        password = new_password()
        self.secrets.add(password)
        self.api.create_user(name, password, roles, "Live", "Provision")
        return name, password

    # -- helpers shared by the checks

    def sign_in_how(self):
        if self.api.auth == "jwt":
            return "POST /auth/token 201"
        return f"Basic GET {self.api.prefix}/users not 401, login_count +1"

    def expect_done(self, label, run, status="done"):
        return self.r.check(f"{label}: {status}", run.rc == 0 and run.status == status,
                            run.describe())

    def expect_error(self, label, run, kind, rc, *words):
        text = run.error.lower()
        ok = run.rc == rc and text.startswith(f"error: {kind}") and all(
            w.lower() in text for w in words)
        return self.r.check(f"{label}: refused ({kind}, exit {rc})", ok, run.describe(),
                            note=run.error)

    def expect_roles(self, label, name, want):
        got = self.api.roles_of(name)
        return self.r.check(f"{label}: server shows roles {sorted(want)}", got == set(want),
                            f"server has {sorted(got) if got is not None else 'no such user'}")

    def expect_no_writes(self, label, run):
        return self.r.check(f"{label}: nothing written (no write answered 2xx)",
                            not run.writes(), f"writes: {run.writes()}")

    def expect_grant(self, label, run, role, name):
        entitlement = f"role:{role}:member"
        want = {"type": "grant", "id": f"{entitlement}:user:{name}", "entitlement": entitlement,
                "principal_type": "user", "principal_id": name}
        got = (run.outcome or {}).get("grant") or {}
        return self.r.check(f"{label}: outcome carries grant {want['id']}",
                            {k: got.get(k) for k in want} == want, f"grant={got}")

    # -- 1. the gate

    def gate(self):
        name, _ = self.throwaway("gate")
        fresh = f"{self.prefix}-gate-new"
        self.created.append(fresh)
        role, fresh_role = self.role_name("gate-role"), self.role_name("gate-role-new")
        self.api.create_role(role, [("can_read", "DAGs")])
        before = self.api.get_user(name)
        role_before = self.api.permissions_of(role)
        runs = {
            "grant": self.h.run("grant", "--entitlement", "role:Op:member",
                                "--principal", f"user:{name}", provisioning=False),
            "revoke": self.h.run("revoke", "--grant", f"role:Public:member:user:{name}",
                                 provisioning=False),
            "create-account": self.h.run("create-account", *account_args(fresh),
                                         provisioning=False),
            "delete-account": self.h.run("delete-account", "--principal", f"user:{name}",
                                         provisioning=False),
            "create-role": self.h.run("create-role", "--name", fresh_role,
                                      *permission_args([("can_read", "DAGs")]),
                                      provisioning=False),
            "delete-role": self.h.run("delete-role", "--name", role, provisioning=False),
        }
        for action, run in runs.items():
            text = run.error
            self.r.check(f"gate: {action} without --provisioning is refused and says how to "
                         f"enable it", run.rc != 0 and "provisioning is disabled" in text
                         and ENABLE_HINT in text, run.describe())
            self.expect_no_writes(f"gate: {action}", run)
        self.r.check("gate: server unchanged (user intact, no account created, role intact, "
                     "no role created)",
                     self.api.get_user(name) == before and self.api.get_user(fresh) is None
                     and self.api.permissions_of(role) == role_before
                     and self.api.get_role(fresh_role) is None)

    # -- 2. grant / revoke round trips

    def round_trips(self):
        name, _ = self.throwaway("rt")
        self.grant_revoke_cycle("round trip", name)
        # Percent-encoding: Airflow allows spaces, `+`, `@` and non-ASCII in names.
        odd, _ = self.throwaway("Ünï +c@de.x")
        self.grant_revoke_cycle("odd name", odd, short=True)

    def grant_revoke_cycle(self, label, name, short=False):
        grant_id = f"role:Op:member:user:{name}"
        run = self.grant("Op", name)
        self.expect_done(f"{label}: grant Op", run)
        self.expect_grant(f"{label}: grant Op", run, "Op", name)
        self.expect_roles(f"{label}: after grant Op", name, {"Public", "Op"})
        if not short:
            run = self.grant("Op", name)
            self.expect_done(f"{label}: grant Op again", run, "already_done")
            self.expect_no_writes(f"{label}: grant Op again", run)
            self.expect_roles(f"{label}: after grant Op again", name, {"Public", "Op"})
        run = self.h.run("revoke", "--grant", grant_id)
        self.expect_done(f"{label}: revoke --grant {grant_id}", run)
        self.expect_roles(f"{label}: after revoke", name, {"Public"})
        if short:
            return
        run = self.h.run("revoke", "--grant", grant_id)
        self.expect_done(f"{label}: revoke again", run, "already_done")
        self.expect_no_writes(f"{label}: revoke again", run)
        self.expect_done(f"{label}: grant Op once more", self.grant("Op", name))
        form = ("--entitlement", "role:Op:member", "--principal", f"user:{name}")
        self.expect_done(f"{label}: revoke --entitlement/--principal", self.h.run("revoke", *form))
        self.expect_roles(f"{label}: after revoke --entitlement/--principal", name, {"Public"})
        run = self.h.run("revoke", *form)
        self.expect_done(f"{label}: revoke --entitlement/--principal again", run, "already_done")
        self.expect_no_writes(f"{label}: revoke --entitlement/--principal again", run)

    def grant(self, role, name):
        return self.h.run("grant", "--entitlement", f"role:{role}:member",
                          "--principal", f"user:{name}")

    # -- 3. accounts

    def accounts(self):
        plain = self.create_generated("create (no --role)", "acct", [], {"Public"})
        self.create_generated("create (--role Op --role Viewer)", "acct-roles", ["Op", "Viewer"],
                              {"Op", "Viewer"})
        if plain:
            self.create_existing(*plain)
        self.create_supplied()
        self.create_refused()
        if plain:
            self.delete_twice(plain[0])
        self.delete_own_identity()

    def create_generated(self, label, tag, roles, want_roles):
        login = self.name(tag)
        run = self.h.run("create-account", *account_args(login, roles))
        self.expect_done(label, run)
        credential = (run.outcome or {}).get("credential") or {}
        password = credential.get("value")
        if not self.r.check(f"{label}: outcome carries a generated password",
                            credential.get("kind") == "password" and bool(password),
                            f"credential={credential!r}"):
            return None
        self.secrets.add(password)
        self.generated.append((password, run))
        resource = (run.outcome or {}).get("resource") or {}
        self.r.check(f"{label}: outcome carries the new account",
                     resource.get("resource_type") == "user" and resource.get("id") == login,
                     f"resource={resource}")
        self.r.check(f"{label}: the generated password signs in ({self.sign_in_how()})",
                     self.api.signs_in(login, password))
        self.r.check(f"{label}: control: a wrong password does not sign in",
                     not self.api.signs_in(login, password + "-wrong"))
        self.expect_roles(label, login, want_roles)
        return login, password

    def create_existing(self, login, password):
        label = "create again, login in other case"
        before = len(self.api.usernames())
        run = self.h.run("create-account", "--login", login.upper(), "--email",
                         f"other-{email_for(login)}", "--first-name", "Other", "--last-name",
                         "Person")
        self.expect_done(label, run, "already_done")
        resource = (run.outcome or {}).get("resource") or {}
        self.r.check(f"{label}: outcome carries the existing account {login!r}",
                     resource.get("resource_type") == "user" and resource.get("id") == login,
                     f"resource={resource}")
        self.r.check(f"{label}: no credential", (run.outcome or {}).get("credential") is None,
                     run.describe())
        self.r.check(f"{label}: no account added, original password still signs in",
                     len(self.api.usernames()) == before and self.api.signs_in(login, password))

    def create_supplied(self):
        label = "create with --password-stdin"
        login, password = self.name("acct-stdin"), new_password()
        self.secrets.add(password)
        run = self.h.run("create-account", *account_args(login), "--password-stdin",
                         stdin=password + "\n")
        self.expect_done(label, run)
        self.r.check(f"{label}: the supplied password signs in ({self.sign_in_how()})",
                     self.api.signs_in(login, password))
        self.r.check(f"{label}: the supplied password is not echoed on stdout",
                     password not in run.stdout, run.describe())
        self.expect_roles(label, login, {"Public"})

    def create_refused(self):
        login = f"{self.prefix}-sl/ash"
        self.created.append(login)
        run = self.h.run("create-account", *account_args(login))
        self.expect_error("create with `/` in the login", run, "invalid argument", 2, "/")
        self.expect_no_writes("create with `/` in the login", run)

    def delete_twice(self, login):
        run = self.h.run("delete-account", "--principal", f"user:{login}")
        self.expect_done("delete-account", run)
        self.r.check("delete-account: server answers 404 afterwards",
                     self.api.get_user(login) is None)
        run = self.h.run("delete-account", "--principal", f"user:{login}")
        self.expect_done("delete-account again", run, "already_done")
        self.expect_no_writes("delete-account again", run)

    def delete_own_identity(self):
        # The connector signs in as a throwaway Admin here, so a connector that wrongly
        # deletes its own account costs a throwaway user, not the server's admin.
        svc, password = self.throwaway("svc", roles=("Admin",))
        for principal in (svc, svc.upper()):  # Airflow resolves user names case-insensitively
            label = f"delete-account of the connector's own identity ({principal!r})"
            run = self.h.run("delete-account", "--principal", f"user:{principal}",
                             username=svc, password=password)
            self.r.check(f"{label}: refused", run.rc != 0 and run.error.startswith("error:")
                         and "not implemented" not in run.error, run.describe(), note=run.error)
            self.expect_no_writes(label, run)
            self.r.check(f"{label}: the account still exists", self.api.get_user(svc) is not None)

    # -- 4. errors

    def errors(self):
        name, _ = self.throwaway("err")
        run = self.grant(f"{self.prefix}-no-such-role", name)
        self.expect_error("grant an unknown role", run, "not found", 1)
        self.expect_no_writes("grant an unknown role", run)
        run = self.grant("Op", f"{self.prefix}-no-such-user")
        self.expect_error("grant to an unknown user", run, "not found", 1)
        self.expect_no_writes("grant to an unknown user", run)
        run = self.grant("Op", "some/user")
        self.expect_error("grant to a user with `/`", run, "invalid argument", 2, "/")
        self.expect_no_writes("grant to a user with `/`", run)
        self.expect_roles("errors: throwaway user untouched", name, {"Public"})

    # -- 5. roles

    def roles(self):
        name = self.role_name("role x")  # the space checks percent-encoding
        both = [("can_read", "DAGs"), ("can_edit", "Variables")]
        run = self.h.run("create-role", "--name", name, *permission_args(both))
        self.expect_done("create-role with 2 permissions", run)
        resource = (run.outcome or {}).get("resource") or {}
        self.r.check("create-role: outcome carries the new role",
                     resource.get("resource_type") == "role" and resource.get("id") == name,
                     f"resource={resource}")
        self.expect_permissions("create-role", name, both)
        run = self.h.run("create-role", "--name", name, *permission_args(both))
        self.expect_done("create-role again", run, "already_done")
        self.expect_no_writes("create-role again", run)
        self.expect_permissions("create-role again", name, both)
        for label, other in (
                ("a subset of the permissions", both[:1]),
                ("a superset of the permissions", both + [("can_read", "Variables")]),
                ("other permissions", [("can_read", "DAGs"), ("can_delete", "Variables")])):
            label = f"create-role, same name, {label}"
            run = self.h.run("create-role", "--name", name, *permission_args(other))
            self.expect_error(label, run, "conflict", 1, "other permissions")
            self.expect_no_writes(label, run)
            self.expect_permissions(f"{label}: unchanged", name, both)

        bad = self.role_name("role-bad")
        run = self.h.run("create-role", "--name", bad, "--permission", "can_fly:DAGs")
        self.expect_error("create-role with an unknown action", run, "invalid argument", 2,
                          "can_fly")
        self.r.check("create-role with an unknown action: no role on the server",
                     self.api.get_role(bad) is None)

        run = self.h.run("delete-role", "--name", name)
        self.expect_done("delete-role", run)
        self.r.check("delete-role: server answers 404 afterwards", self.api.get_role(name) is None)
        run = self.h.run("delete-role", "--name", name)
        self.expect_done("delete-role again", run, "already_done")
        self.expect_no_writes("delete-role again", run)

        admin = self.api.permissions_of("Admin")
        run = self.h.run("delete-role", "--name", "Admin")
        self.expect_error("delete-role Admin", run, "conflict", 1, "built-in")
        self.expect_no_writes("delete-role Admin", run)
        self.r.check("delete-role Admin: the role is intact",
                     bool(admin) and self.api.permissions_of("Admin") == admin)
        # Viewer's own permissions: a connector without the built-in guard would answer
        # already_done, so only a real refusal passes.
        viewer = self.api.permissions_of("Viewer")
        run = self.h.run("create-role", "--name", "Viewer", *permission_args(sorted(viewer)))
        self.expect_error("create-role Viewer (its current permissions)", run, "conflict", 1,
                          "built-in")
        self.expect_no_writes("create-role Viewer", run)
        self.r.check("create-role Viewer: the role is unchanged",
                     self.api.permissions_of("Viewer") == viewer)

        # A role the connector's own account holds: deleting it would strip it silently.
        held = self.role_name("role-held")
        self.api.create_role(held, [("can_read", "DAGs")])
        svc, password = self.throwaway("role-svc", roles=("Admin", held))
        run = self.h.run("delete-role", "--name", held, username=svc, password=password)
        self.expect_error("delete-role of a role the connector's own account holds", run,
                          "conflict", 1)
        self.expect_no_writes("delete-role of a role the connector's own account holds", run)
        self.r.check("delete-role of a role the connector's own account holds: role and "
                     "membership intact", self.api.get_role(held) is not None
                     and self.api.roles_of(svc) == {"Admin", held})

    # -- 5b. permissions of an existing role

    def permissions(self):
        name = self.role_name("perm x")
        self.api.create_role(name, [("can_read", "DAGs"), ("can_edit", "Variables")])
        principal = f"role:{name}"
        add = "permission:can_read:Variables:assigned"
        run = self.h.run("grant", "--entitlement", add, "--principal", principal)
        self.expect_done("grant a permission to a role", run)
        grant = ((run.outcome or {}).get("grant") or {}).get("id")
        self.r.check("grant a permission: outcome carries the grant id",
                     grant == f"{add}:{principal}", f"grant={grant}")
        want = {("can_read", "DAGs"), ("can_edit", "Variables"), ("can_read", "Variables")}
        self.expect_permissions("grant a permission", name, want)
        run = self.h.run("grant", "--entitlement", add, "--principal", principal)
        self.expect_done("grant the permission again", run, "already_done")
        self.expect_no_writes("grant the permission again", run)

        remove = f"permission:can_edit:Variables:assigned:{principal}"
        run = self.h.run("revoke", "--grant", remove)
        if self.api.generation != "fastapi":  # Connexion role PATCH merges: it cannot remove
            self.expect_error("revoke a permission (Connexion API)", run, "unsupported", 1,
                              "only adds")
            self.expect_no_writes("revoke a permission (Connexion API)", run)
            self.expect_permissions("revoke a permission (Connexion API): unchanged", name, want)
        else:
            self.expect_done("revoke a permission", run)
            want = want - {("can_edit", "Variables")}
            self.expect_permissions("revoke a permission", name, want)
            run = self.h.run("revoke", "--grant", remove)
            self.expect_done("revoke the permission again", run, "already_done")
            self.expect_no_writes("revoke the permission again", run)

        viewer = self.api.permissions_of("Viewer")
        run = self.h.run("grant", "--entitlement", "permission:can_edit:Users:assigned",
                         "--principal", "role:Viewer")
        self.expect_error("grant a permission to a built-in role", run, "conflict", 1,
                          "built-in")
        self.expect_no_writes("grant a permission to a built-in role", run)
        self.r.check("grant a permission to a built-in role: Viewer unchanged",
                     self.api.permissions_of("Viewer") == viewer)
        run = self.h.run("grant", "--entitlement", "permission:can_fly:DAGs:assigned",
                         "--principal", principal)
        self.r.check("grant an unknown action: refused, role unchanged",
                     run.rc != 0 and self.api.permissions_of(name) == want, run.describe())

    def expect_permissions(self, label, name, want):
        got = self.api.permissions_of(name)
        return self.r.check(f"{label}: server shows role {name!r} with exactly "
                            f"{sorted(f'{a}:{r}' for a, r in want)}", got == set(want),
                            f"server has {sorted(got) if got is not None else 'no such role'}")

    # -- 6. concurrency

    # Each round: these changes at the same moment, each by its own harness process.
    WRITERS = (("grant", "Op"), ("grant", "Viewer"), ("revoke", "User"))
    START_ROLES = ("Public", "User")
    END_ROLES = {"Public", "Op", "Viewer"}

    def concurrency(self):
        burners = start_burners(self.load, timeout=60 + 180 * max(self.rounds, 1))
        try:
            self.concurrent_rounds(burners)
        finally:
            stop_burners(burners)

    def concurrent_rounds(self, burners):
        t0 = time.monotonic()
        lost, failed_runs, unreported, loads = [], [], [], []
        patches = sent = redone = changes = failed_writes = 0
        first_waits, extra_waits = [], []
        for i in range(self.rounds):
            name, _ = self.throwaway(f"cc{i}", roles=self.START_ROLES)
            loads.append(os.getloadavg()[0])
            started = [self.h.start(verb, "--entitlement", f"role:{role}:member",
                                    "--principal", f"user:{name}")
                       for verb, role in self.WRITERS]
            runs = [self.h.finish(s) for s in started]
            failed_runs += [f"round {i}: {r.describe()}" for r in runs if r.status != "done"]
            patches += sum(1 for r in runs for m, _, _ in r.writes() if m == "PATCH")
            sent += sum(1 for r in runs for m, _, _ in r.requests() if m == "PATCH")
            for r in runs:
                if r.status != "done":
                    continue
                changes += 1
                found = verification((r.outcome or {}).get("message") or "")
                if found is None:
                    unreported.append(f"round {i}: {r.describe()}")
                    continue
                attempts, per_attempt, failed = found
                redone += attempts - 1
                failed_writes += failed
                for reads in per_attempt:
                    first_waits += reads[:1]
                    extra_waits += reads[1:]
            roles = self.api.roles_of(name)
            # A lost update: every writer reported success, yet a change is missing.
            if all(r.status == "done" for r in runs) and roles != self.END_ROLES:
                lost.append(f"round {i}: server has {sorted(roles or [])}")
            self.api.delete_user(name)
        loads.append(os.getloadavg()[0])
        elapsed = time.monotonic() - t0
        burning = f"{len(burners)} CPU burners" if burners else "no added load"
        print(f"concurrency: {self.rounds} rounds of {len(self.WRITERS)} concurrent changes to one "
              f"user ({', '.join(f'{v} {r}' for v, r in self.WRITERS)}), {burning}: "
              f"{len(lost)} lost updates")
        print(f"  {changes} changes done, {len(failed_runs)} not `done`, {patches} role PATCHes "
              f"accepted, {redone} writes redone after a concurrent change replaced them "
              f"({patches - changes} PATCHes beyond one per change), {failed_writes} writes "
              f"Airflow failed (5xx, read back), {elapsed:.1f} s")
        if first_waits:
            print(f"  waits chosen before reading back: {spread(first_waits)} over "
                  f"{len(first_waits)} writes; {len(extra_waits)} more read backs because the "
                  f"server slowed down meanwhile"
                  + (f", after {spread(extra_waits)} more" if extra_waits else ""))
        print(f"  load average (1 min) during the rounds: mean {statistics.mean(loads):.2f}, "
              f"max {max(loads):.2f} ({os.cpu_count()} CPUs)")
        self.r.check(f"concurrency: no lost updates in {self.rounds} rounds", not lost,
                     "; ".join(lost[:5]))
        self.r.check("concurrency: every concurrent change reports `done`", not failed_runs,
                     "; ".join(failed_runs[:3]))
        self.r.check("concurrency: every done change reports its attempts and waits",
                     not unreported, "; ".join(unreported[:3]))
        # Guards the `-v` log parsing every "nothing written" check relies on.
        self.r.check("concurrency: the harness log shows at least one PATCH per change",
                     sent >= changes, f"{sent} PATCHes sent for {changes} changes")

    # -- 7. secrets

    def secrets_check(self):
        stderr = "\n".join(r.stderr for r in self.h.runs)
        stdout = "\n".join(r.stdout for r in self.h.runs)
        self.r.check(f"secrets: the connector password is on no output of "
                     f"{len(self.h.runs)} harness runs",
                     self.h.password not in stderr and self.h.password not in stdout)
        leaked = [s for s in self.secrets if s in stderr]
        self.r.check(f"secrets: none of {len(self.secrets)} account passwords on stderr",
                     not leaked, f"{len(leaked)} leaked")
        self.r.check("secrets: no JWT (`eyJ`) on stderr or stdout",
                     "eyJ" not in stderr and "eyJ" not in stdout)
        elsewhere = [p for p, run in self.generated
                     if sum(r.stdout.count(p) for r in self.h.runs) != 1]
        self.r.check(f"secrets: each of {len(self.generated)} generated passwords appears once, "
                     f"on its own run's stdout",
                     bool(self.generated) and not elsewhere
                     and all(p in run.stdout for p, run in self.generated),
                     f"{len(elsewhere)} appear elsewhere" if elsewhere else "none generated")

    # -- cleanup

    def cleanup(self, users_before, roles_before):
        """Deletes every throwaway user and role, including ones a misbehaving connector left."""
        self.h.stop_all()
        deleted = sum(self.api.delete_user(n) for n in self.api.usernames() if self.mine(n))
        deleted_roles = sum(self.api.delete_role(n) for n in self.api.role_names()
                            if self.mine_role(n))
        after = set(self.api.usernames())
        roles_after = set(self.api.role_names())
        print(f"cleanup: {deleted} throwaway users and {deleted_roles} throwaway roles deleted")
        self.r.check("cleanup: no throwaway user left on the server",
                     not any(self.mine(n) for n in after))
        self.r.check("cleanup: no throwaway role left on the server",
                     not any(self.mine_role(n) for n in roles_after))
        if roles_after != roles_before:
            print(f"note: roles changed by others during the run: "
                  f"gone {sorted(roles_before - roles_after)[:5]}, "
                  f"new {sorted(roles_after - roles_before)[:5]}")
        # Others may use the server meanwhile, so their changes are reported, not failed.
        if after != users_before:
            print(f"note: users changed by others during the run: "
                  f"gone {sorted(users_before - after)[:5]}, new {sorted(after - users_before)[:5]}")

    def mine(self, name):
        return (name.lower() in {n.lower() for n in self.created}
                or name.lower().startswith(self.prefix.lower()))

    def mine_role(self, name):  # role names are case-sensitive
        return name in self.created_roles or name.startswith(self.prefix)


def verification(message):
    """(attempts, [waits per read back, per attempt], writes that failed) from a done change's
    message, or None."""
    m = ONE_ATTEMPT.search(message)
    if m:
        return 1, [[int(w) for w in m[1].split("+")]], int(m[2] or 0)
    m = REDONE.search(message)
    if m:
        waits = [[int(w) for w in a.split("+")] for a in m[2].split(", ")]
        return int(m[1]), waits, int(m[3] or 0)
    return None


def spread(ms):
    return f"min {min(ms)} / median {statistics.median(ms):g} / max {max(ms)} ms"


def start_burners(n, timeout):
    """`n` busy loops at normal priority; each ends by itself after `timeout` seconds at most,
    or when this process is gone, so none outlives the script even if it is killed."""
    burners = []
    try:
        for _ in range(n):
            burners.append(subprocess.Popen(
                [sys.executable, "-c", BURNER, str(os.getpid()), str(timeout)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    except BaseException:
        stop_burners(burners)
        raise
    return burners


def stop_burners(burners):
    for proc in burners:
        proc.kill()
    for proc in burners:
        proc.wait()


def account_args(login, roles=()):
    args = ["--login", login, "--email", email_for(login), "--first-name", "Live",
            "--last-name", "Provision"]
    for role in roles:
        args += ["--role", role]
    return args


def permission_args(pairs):
    args = []
    for action, resource in pairs:
        args += ["--permission", f"{action}:{resource}"]
    return args


def new_password():
    return "Lp-" + secrets.token_urlsafe(18)


# ---------------------------------------------------------------- main

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--harness", default="target/debug/host-harness",
                   help="host-harness binary (relative paths are from the repository root)")
    p.add_argument("--rounds", type=int, default=20, help="concurrency rounds (default 20)")
    p.add_argument("--load", type=int, default=0,
                   help="CPU burner processes during the concurrency rounds (default 0)")
    add_server_args(p)
    return p.parse_args()


def on_sigterm(*_):
    # Raise instead of dying, so the cleanup in `finally` still deletes the throwaway users.
    print("interrupted (SIGTERM): cleaning up", flush=True)
    sys.exit(143)


def main():
    args = parse_args()
    if args.rounds < 0 or args.load < 0:
        sys.exit("--rounds and --load must not be negative")
    harness_path = (REPO / args.harness).resolve()
    if not harness_path.is_file():
        sys.exit(f"no harness at {harness_path}: build it first (make harness)")
    series, base, user, password = server(args)
    try:
        generation = detect_generation(base)
    except (OSError, RuntimeError) as e:
        sys.exit(f"cannot tell which Airflow runs at {base}: {e}")
    detected = GENERATIONS[generation][0]
    mismatch = wrong_series(base, series, generation)
    if mismatch:
        sys.exit(mismatch)
    signal.signal(signal.SIGTERM, on_sigterm)

    api = Api(base, generation, user, password)
    try:
        api.check_admin()
    except RuntimeError as e:
        sys.exit(str(e))
    report = Report()
    suite = Suite(api, Harness(harness_path, base, user, password), report, args.rounds,
                  args.load)
    t0 = time.monotonic()
    users_before = set(api.usernames())
    roles_before = set(api.role_names())
    print(f"live provisioning checks against {base}: series {detected} ({generation} API, "
          f"{api.auth} auth, {api.prefix}; throwaway users and roles {suite.prefix}-*)")
    try:
        for section in (suite.gate, suite.round_trips, suite.accounts, suite.errors,
                        suite.roles, suite.permissions, suite.concurrency,
                        suite.secrets_check):
            try:
                section()
            except Exception:  # one broken section must not hide the others' results
                report.check(f"{section.__name__}: ran to the end", False,
                             traceback.format_exc().strip().replace("\n", "\n        "))
    finally:
        try:
            suite.cleanup(users_before, roles_before)
        except Exception as e:
            report.check("cleanup: ran to the end", False, repr(e))
        print(f"time: {time.monotonic() - t0:.1f} s")
        print(f"{report.passed} passed, {report.failed} failed")
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
