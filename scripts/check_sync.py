#!/usr/bin/env python3
"""Checks a harness sync (JSON Lines + stats) against what the Airflow server itself says.

Reads every user and role straight from the FAB API (stdlib only, independent of the
connector) and asserts the sync listed exactly those users, roles, memberships and role
permissions, one entitlement per role, and used exactly detection + sign-in + pages(users) + pages(roles) requests,
within 2 % of plain offset paging's ceil(users/100) + ceil(roles/100). Sign-in, from the
summary's `auth` line: 1 request for a JWT, 2 per form login (GET and POST /login/, on Airflow
3.0 /auth/login/), none for HTTP Basic. On Airflow 3.0 the detection's 2 are the JWT sign-in
its Connexion API then refuses and that refused call.

usage: check_sync.py SYNC.jsonl STATS.json   (env AIRFLOW_BASE_URL, AIRFLOW_USERNAME, AIRFLOW_PASSWORD)
live_session.py calls check() with its own admin client instead, to spare Airflow 2's login
rate limit.
"""
import json
import math
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # airflow_api, from any cwd
from airflow_api import Api  # noqa: E402

# One request in the harness's --verbose log: (method, url, outcome).
HARNESS_REQUEST = re.compile(r"^http: (?:[a-z]+ )?([A-Z]+) (\S+) -> (.*)$", re.M)


def harness_requests(stderr):
    """(method, url, outcome) of each request the harness logged with --verbose."""
    return HARNESS_REQUEST.findall(stderr)


def last_error(stderr):
    """The harness's last `error:` line, or ""."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    return lines[-1] if lines else ""


def generation_of(api):
    """The API generation the connector reported (STATS.json session.api, e.g. "Airflow 2 API
    (/api/v1)"), in airflow_api's terms."""
    if "Airflow 2" in api:
        return "v1"
    return "connexion" if "Connexion" in api else "fastapi"


def sign_in_requests(session):
    """Requests the connector spent signing in, from the summary's `auth` line, e.g. "session
    cookie of the form login (auto: ..., 1 login(s))"; older summaries named JWT in `api`."""
    auth = session.get("auth", "")
    if auth.startswith("session"):
        logins = re.search(r"(\d+) login\(s\)", auth)
        return 2 * int(logins[1]) if logins else 2
    return 1 if signs_in_with_jwt(session) else 0


def signs_in_with_jwt(session):
    """Whether the requests carried a JWT: the `auth` line starts with it (Airflow 3.0's session
    line names the JWT its API refused)."""
    return session.get("auth", "").startswith("JWT") or "JWT" in session.get("api", "")


def pages(n):
    """Page requests of a quiet listing of n rows (src/paging.rs)."""
    return 1 if n < 100 else (n - 100) // 99 + 2


def check(jsonl, stats_path, server=None):
    """Prints what matches; returns the failures. `server`: an airflow_api.Api to read the
    server with (default: one signed in as AIRFLOW_USERNAME)."""
    stats = json.load(open(stats_path, encoding="utf-8"))
    api = stats.get("session", {}).get("api", "")
    if server is None:
        base = os.environ["AIRFLOW_BASE_URL"].rstrip("/")
        user, password = os.environ["AIRFLOW_USERNAME"], os.environ["AIRFLOW_PASSWORD"]
        # Read the server the way its API generation wants (the connector reported which).
        server = Api(base, generation_of(api), user, password, timeout=30)
    users = server.read_all("users")
    roles = server.read_all("roles")

    lines = [json.loads(line) for line in open(jsonl, encoding="utf-8")]
    by_type = {}
    for line in lines:
        by_type.setdefault(line["type"], []).append(line)
    synced_users = {r["id"] for r in by_type.get("resource", []) if r["resource_type"] == "user"}
    synced_roles = {r["id"] for r in by_type.get("resource", []) if r["resource_type"] == "role"}
    synced_entitlements = {e["id"] for e in by_type.get("entitlement", [])}
    synced_grants = {(g["entitlement"], g["principal_id"]) for g in by_type.get("grant", [])
                     if g["principal_type"] == "user"}
    synced_role_permissions = {(g["entitlement"], g["principal_id"]) for g in by_type.get("grant", [])
                               if g["principal_type"] == "role"}
    synced_permissions = {r["id"] for r in by_type.get("resource", []) if r["resource_type"] == "permission"}

    want_users = {u["username"] for u in users}
    want_roles = {r["name"] for r in roles}
    want_grants = {(f"role:{r['name']}:member", u["username"]) for u in users for r in u["roles"]}
    pairs = {(r["name"], f"{a['action']['name']}:{a['resource']['name']}") for r in roles for a in r.get("actions", [])}
    want_role_permissions = {(f"permission:{p}:assigned", role) for role, p in pairs}
    want_permissions = {p for _, p in pairs}

    failures = []
    for what, got, want in [("users", synced_users, want_users), ("roles", synced_roles, want_roles),
                            ("role entitlements", {e for e in synced_entitlements if e.startswith("role:")},
                             {f"role:{r}:member" for r in want_roles}),
                            ("memberships", synced_grants, want_grants),
                            ("permissions", synced_permissions, want_permissions),
                            ("role permissions", synced_role_permissions, want_role_permissions)]:
        if got != want:
            failures.append(f"{what}: missing {sorted(want - got)[:5]} extra {sorted(got - want)[:5]}")
        else:
            print(f"ok: {len(got)} {what} match the server")

    session = stats.get("session", {})
    discovery = int(session.get("discovery_requests", "0"))
    jwt = signs_in_with_jwt(session)
    sign_in = sign_in_requests(session)
    budget = discovery + sign_in + pages(len(users)) + pages(len(roles))
    formula = (f"{discovery} (detection) + {sign_in} (sign-in) + pages({len(users)}) + pages({len(roles)})"
               " [pages(n) = 1 if n < 100 else (n - 100) // 99 + 2: every page after the first starts"
               " on the last row of the one before]")
    if stats["requests"] != budget:
        failures.append(f"requests: {stats['requests']} != {formula} = {budget}")
    else:
        print(f"ok: {stats['requests']} requests = {formula}; api: {session.get('api', '?')}; "
              f"auth: {session.get('auth', '?')}")
    # Against plain offset paging (issue 11: within 2 %), and no request spent on detection where
    # the sign-in tells the generation (FastAPI FAB).
    plain = math.ceil(len(users) / 100) + math.ceil(len(roles) / 100)
    paged = pages(len(users)) + pages(len(roles))
    if paged > plain * 1.02 and paged > plain + 1:
        failures.append(f"pages: {paged} is more than 2 % over plain paging's {plain}")
    else:
        print(f"ok: {paged} page requests against {plain} for plain offset paging")
    if jwt and discovery != 0:
        failures.append(f"detection: {discovery} requests on a JWT server; the sign-in should tell")
    shifted = int(session.get("shifted_pages", "0"))
    if shifted:
        failures.append(f"paging: {shifted} pages shifted although nothing changed the directory")
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    return failures


def main():
    sys.exit(1 if check(sys.argv[1], sys.argv[2]) else 0)


if __name__ == "__main__":
    main()
