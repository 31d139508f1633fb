#!/usr/bin/env python3
"""Seed the loopback Airflow test server with tests/fixtures/directory.json, then
verify it through the API.

Stdlib only. Idempotent and converging: missing roles/users are created, existing
ones whose fields, role lists or permissions differ are PATCHed; `--prune` also
deletes users and custom roles the directory does not list (never the admin or
the built-in roles). Ends by reading every user and role back (paged, limit=100)
and asserting the server equals the directory plus the admin user.

Speaks all three API generations (see GENERATIONS.md), detected from the server
with unauthenticated requests unless AIRFLOW_API_GENERATION / --generation says:
  fastapi    Airflow 3.3 + FAB 3.10: JWT from POST /auth/token, /auth/fab/v1
  connexion  Airflow 3.0 + FAB 2.4:  HTTP Basic, /auth/fab/v1
  v1         Airflow 2.11 + FAB 1.5: HTTP Basic, /api/v1; where Basic is refused (Airflow 2's
             default API backend, AIRFLOW_AUTH=default) the form login and its session
             cookie, logged in once (scripts/airflow_api.py's form_login)

Defaults come from the environment (AIRFLOW_BASE_URL, AIRFLOW_ADMIN_USER,
AIRFLOW_ADMIN_PASSWORD, AIRFLOW_SEED_USER_PASSWORD), else from config.env.
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from airflow_api import LoginRefused, form_login, v1_auth  # noqa: E402
BUILTIN_ROLES = {"Admin", "Op", "User", "Viewer", "Public"}
CONFIG_KEYS = ["AIRFLOW_BASE_URL", "AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD",
               "AIRFLOW_SEED_USER_PASSWORD"]


def config_defaults() -> dict:
    """The values config.env yields in the current environment (env overrides win)."""
    script = '. "$1"; printf "%s\\0" ' + " ".join(f'"${k}"' for k in CONFIG_KEYS)
    out = subprocess.run(["bash", "-c", script, "_", str(HERE / "config.env")],
                         check=True, capture_output=True, text=True).stdout
    return dict(zip(CONFIG_KEYS, out.split("\0")))


GENERATIONS = ("fastapi", "connexion", "v1")
PREFIX = {"fastapi": "/auth/fab/v1", "connexion": "/auth/fab/v1", "v1": "/api/v1"}


def detect_generation(base: str) -> str:
    """Tell the generations apart with unauthenticated requests (see GENERATIONS.md)."""
    def get(path):
        try:
            with urllib.request.urlopen(base.rstrip("/") + path, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            sys.exit(f"cannot reach {base}: {e}")
    # FastAPI FAB's own OpenAPI document; its paths are relative to /auth ("/fab/v1/users").
    status, body = get("/auth/openapi.json")
    if status == 200:
        try:
            paths = json.loads(body).get("paths", {})
        except ValueError:
            paths = {}
        if any(p.rstrip("/").endswith("fab/v1/users") for p in paths):
            return "fastapi"
    if get("/api/v2/monitor/health")[0] == 200:
        return "connexion"  # Airflow 3 without the FastAPI FAB routes
    if get("/api/v1/health")[0] == 200:
        return "v1"
    sys.exit(f"{base}: not an Airflow server this script knows (no /auth/openapi.json, "
             "/api/v2/monitor/health or /api/v1/health)")


class Api:
    def __init__(self, base_url: str, user: str, password: str, generation: str, auth: str):
        self.base = base_url.rstrip("/")
        self.user, self.password = user, password
        self.generation = generation
        self.auth = auth  # jwt, basic or session
        self.prefix = PREFIX[generation]
        self.token = None  # the JWT, or the session cookie
        self.calls = 0

    def _raw(self, method, path, body=None, auth=True):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth and self.auth == "jwt":
            req.add_header("Authorization", f"Bearer {self.token}")
        elif auth and self.auth == "session":
            req.add_header("Cookie", f"session={self.token}")
        elif auth:
            basic = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {basic}")
        self.calls += 1
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def login(self):
        if self.auth == "session":
            try:
                self.token = form_login(self.base, self.user, self.password)
            except LoginRefused as e:
                sys.exit(f"{e}: check AIRFLOW_ADMIN_USER / AIRFLOW_ADMIN_PASSWORD")
            except RuntimeError as e:
                sys.exit(f"form login as {self.user!r} on {self.base}: {e}")
            return
        status, body = self._raw("POST", "/auth/token",
                                 {"username": self.user, "password": self.password}, auth=False)
        if status != 201:
            sys.exit(f"POST /auth/token as {self.user!r}: HTTP {status} {body}")
        self.token = body["access_token"]

    def call(self, method, path, body=None, ok=(200,)):
        """Returns (status, body); renews the token once on 401; exits on an unexpected status.

        `path` is relative to the generation's prefix (/auth/fab/v1 or /api/v1)."""
        path = self.prefix + path
        if self.auth == "session" and self.token is None:
            self.login()  # once per process: Airflow allows 5 logins per 40 s
        if self.auth != "jwt":  # Basic on every request, or the session; 401/403 are final
            status, resp = self._raw(method, path, body)
            if status not in ok:
                sys.exit(f"{method} {path}: HTTP {status} {resp}\n  request body: {json.dumps(body)}")
            return status, resp
        if self.token is None:
            self.login()
        status, resp = self._raw(method, path, body)
        if status == 401:  # expired token (short AIRFLOW_TOKEN_TTL): renew and retry once
            self.login()
            status, resp = self._raw(method, path, body)
        if status not in ok:
            sys.exit(f"{method} {path}: HTTP {status} {resp}\n  request body: {json.dumps(body)}")
        return status, resp

    def list_all(self, kind):
        """Every users/roles entry, limit=100, advancing by the rows actually received."""
        items, offset, pages = [], 0, 0
        while True:
            # Default order only: Airflow 2 answers 400/500 to most order_by values.
            _, page = self.call("GET", f"/{kind}?limit=100&offset={offset}")
            rows = page[kind]
            pages += 1
            items += rows
            offset += len(rows)
            if not rows or offset >= page["total_entries"]:
                return items, page["total_entries"], pages


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def action_set(role) -> set:
    return {(p["action"]["name"], p["resource"]["name"]) for p in role["actions"]}


def role_refs(names) -> list:
    # A set: Airflow 2 / Connexion answer 500 to a duplicate role in a user create.
    return [{"name": n} for n in sorted(set(names))]


def seed_roles(api, want_roles, prune):
    have = {r["name"]: r for r in api.list_all("roles")[0]}
    created = patched = recreated = deleted = 0
    for role in want_roles:
        name = role["name"]
        path = f"/roles/{q(name)}"
        if name not in have:
            status, _ = api.call("POST", "/roles", role, ok=(200, 409))
            created += status == 200
            # Airflow 2 / Connexion answer {} (and FastAPI's body may lag the server): read back.
            _, have[name] = api.call("GET", path)
        if action_set(have[name]) == action_set(role):
            continue
        if api.generation != "fastapi" and action_set(have[name]) - action_set(role):
            # Airflow 2 / Connexion: a role PATCH only adds actions (union), so a role holding
            # extra ones is deleted and re-created. Its members silently lose it; seed_users
            # (which lists users after this) gives it back.
            api.call("DELETE", path, ok=(200, 204))
            api.call("POST", "/roles", role)
            recreated += 1
        else:
            api.call("PATCH", f"{path}?update_mask=actions", role)
            patched += 1
        _, have[name] = api.call("GET", path)
        if action_set(have[name]) != action_set(role):
            sys.exit(f"role {name!r}: permissions still differ after the update: "
                     f"{sorted(action_set(have[name]) ^ action_set(role))}")
    missing = BUILTIN_ROLES - set(have)
    if missing:
        sys.exit(f"built-in roles missing on the server: {sorted(missing)}")
    if prune:
        wanted = {r["name"] for r in want_roles} | BUILTIN_ROLES
        for name in sorted(set(have) - wanted):
            api.call("DELETE", f"/roles/{q(name)}", ok=(200, 204))  # 200 null / 204 (Airflow 2)
            deleted += 1
    print(f"roles: {created} created, {patched} patched, {recreated} re-created, {deleted} deleted")


def seed_users(api, want_users, admin, password, prune):
    have = {u["username"].lower(): u for u in api.list_all("users")[0]}  # names match case-insensitively
    created = patched = deleted = 0
    t0 = time.monotonic()
    for want in want_users:
        name, roles = want["username"], set(want["roles"])
        path = f"/users/{q(name)}"
        cur = have.get(name.lower())
        fresh = cur is None
        if fresh:
            # A user can only be created with at least one role: no roles answers 500 on 3.3
            # ("Default registration role is not configured") and gives `Public` on 3.0 / 2.11.
            # Create zero-role users with Public, then PATCH the roles to [] below (works on
            # every generation; such users can still log in).
            body = {k: want[k] for k in ("username", "email", "first_name", "last_name")}
            body["password"] = password
            body["roles"] = role_refs(roles or {"Public"})
            status, cur = api.call("POST", "/users", body, ok=(200, 409))
            if status == 409:  # created meanwhile (or an e-mail clash): fall through to converge
                _, cur = api.call("GET", path)
                fresh = False
            else:
                created += 1
        # Converge: PATCH exactly the fields that differ (roles replace the whole list).
        mask = [k for k in ("email", "first_name", "last_name") if cur[k] != want[k]]
        if {r["name"] for r in cur["roles"]} != roles:
            mask.append("roles")
        if mask:
            if api.generation == "fastapi":
                body = {k: want[k] for k in mask if k != "roles"}
            else:
                # Airflow 2 / Connexion validate the body as a whole user: username, email,
                # first_name and last_name are required even when the mask names only roles.
                body = {k: want[k] for k in ("username", "email", "first_name", "last_name")}
            if "roles" in mask:
                body["roles"] = role_refs(roles)
            api.call("PATCH", f"{path}?update_mask={','.join(mask)}", body)
            patched += not fresh  # the roles=[] PATCH of a just-created user is part of creating it
    if prune:
        wanted = {u["username"].lower() for u in want_users} | {admin.lower()}
        for key in sorted(set(have) - wanted):
            api.call("DELETE", f"/users/{q(have[key]['username'])}", ok=(204,))
            deleted += 1
    print(f"users: {created} created, {patched} patched, {deleted} deleted "
          f"({time.monotonic() - t0:.1f} s)")


def verify(api, directory, admin) -> list:
    """Differences between the server and directory + admin (empty list = equal)."""
    errors = []
    users, total_users, pages = api.list_all("users")
    roles, total_roles, _ = api.list_all("roles")
    if total_users != len(users):
        errors.append(f"users: total_entries {total_users} but {len(users)} rows read")
    server = {u["username"]: u for u in users}
    want = {u["username"]: u for u in directory["users"]}
    if admin not in server:
        errors.append(f"admin user {admin!r} missing")
    elif "Admin" not in {r["name"] for r in server[admin]["roles"]}:
        errors.append(f"admin user {admin!r} lacks the Admin role")
    extra = sorted(set(server) - set(want) - {admin})
    missing = sorted(set(want) - set(server))
    if extra:
        errors.append(f"users on the server but not in the directory (seed --prune removes them): {extra}")
    if missing:
        errors.append(f"users missing on the server: {missing}")
    for name in sorted(set(want) & set(server)):
        s, w = server[name], want[name]
        for k in ("email", "first_name", "last_name"):
            if s[k] != w[k]:
                errors.append(f"user {name!r}: {k} is {s[k]!r}, want {w[k]!r}")
        got = sorted(r["name"] for r in s["roles"])
        if got != sorted(w["roles"]):
            errors.append(f"user {name!r}: roles {got}, want {sorted(w['roles'])}")
    srv_roles = {r["name"]: r for r in roles}
    want_roles = {r["name"]: r for r in directory["roles"]}
    extra = sorted(set(srv_roles) - set(want_roles) - BUILTIN_ROLES)
    if extra:
        errors.append(f"roles on the server but not in the directory: {extra}")
    for name, role in want_roles.items():
        if name not in srv_roles:
            errors.append(f"role {name!r} missing")
        elif action_set(srv_roles[name]) != action_set(role):
            errors.append(f"role {name!r}: permissions differ: "
                          f"{sorted(action_set(srv_roles[name]) ^ action_set(role))}")
    memberships = sum(len(u["roles"]) for u in users)
    zero = sum(1 for u in users if not u["roles"])
    per_role = {r: sum(1 for u in users if r in {x["name"] for x in u["roles"]}) for r in sorted(srv_roles)}
    print(f"server: {total_users} users in {pages} pages ({zero} without roles), "
          f"{total_roles} roles, {memberships} memberships")
    print("members per role: " + ", ".join(f"{r}={n}" for r, n in per_role.items()))
    return errors


def main():
    env = {k: os.environ.get(k) for k in CONFIG_KEYS}
    if not all(env.values()):
        env = {k: env[k] or v for k, v in config_defaults().items()}
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", default=env["AIRFLOW_BASE_URL"])
    ap.add_argument("--admin-user", default=env["AIRFLOW_ADMIN_USER"])
    ap.add_argument("--admin-password", default=env["AIRFLOW_ADMIN_PASSWORD"])
    ap.add_argument("--user-password", default=env["AIRFLOW_SEED_USER_PASSWORD"],
                    help="password given to users this script creates")
    ap.add_argument("--directory", default=str(REPO / "tests/fixtures/directory.json"))
    ap.add_argument("--prune", action="store_true",
                    help="delete users and custom roles that the directory does not list")
    ap.add_argument("--verify-only", action="store_true", help="only compare server and directory")
    ap.add_argument("--review-findings", choices=("add", "remove"),
                    help="after seeding, add the accounts and role the access-review report must "
                         "find (not in the directory); or remove them before seeding")
    ap.add_argument("--generation", choices=("auto",) + GENERATIONS,
                    default=os.environ.get("AIRFLOW_API_GENERATION") or "auto",
                    help="API generation (default: $AIRFLOW_API_GENERATION, else detected)")
    args = ap.parse_args()

    directory = json.loads(Path(args.directory).read_text(encoding="utf-8"))
    if args.admin_user in {u["username"] for u in directory["users"]}:
        sys.exit(f"the directory must not list the admin user {args.admin_user!r}")
    generation = args.generation
    if generation == "auto":
        generation = detect_generation(args.base_url)
    auth = "jwt" if generation == "fastapi" else "basic"
    if generation == "v1":
        auth = v1_auth(args.base_url, args.admin_user, args.admin_password)
    how = {"jwt": "JWT", "basic": "HTTP Basic", "session": "form login, session cookie"}[auth]
    print(f"{args.base_url}: API generation {generation} ({PREFIX[generation]}, {how})")
    api = Api(args.base_url, args.admin_user, args.admin_password, generation, auth)
    t0 = time.monotonic()
    if args.review_findings:  # none may be left when the directory is checked
        remove_review_findings(api)
    if not args.verify_only:
        seed_roles(api, directory["roles"], args.prune)
        seed_users(api, directory["users"], args.admin_user, args.user_password, args.prune)
    errors = verify(api, directory, args.admin_user)
    print(f"{api.calls} API calls in {time.monotonic() - t0:.1f} s")
    if errors:
        print(f"MISMATCH ({len(errors)}):", *errors[:50], sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print(f"OK: {args.base_url} matches {args.directory} (+ admin {args.admin_user!r})")
    if args.review_findings == "add":
        add_review_findings(api, args.user_password)


# --- Access-review findings (issue 15): not part of directory.json ---------------------------
# What `host-harness report` must find on a real server: a custom role that can administer
# users and roles (admin-equivalent whatever its name) with a member, an account whose last
# sign-in is long past, one that never signed in and is old, one with a spike of failed
# sign-ins, and a disabled account that still holds a role. Added after the directory is seeded
# and verified, and removed before, so the directory's own checks never see them.
REVIEW_ROLE = {"name": "Access Manager", "actions": [
    {"action": {"name": a}, "resource": {"name": r}}
    for a, r in [("can_read", "Users"), ("can_create", "Users"), ("can_edit", "Users"),
                 ("can_delete", "Users"), ("can_read", "Roles"), ("can_edit", "Roles"),
                 ("can_read", "Website")]]}
REVIEW_USERS = [  # username, first, last, roles, what happens to the account
    ("rev.keyholder", "Kim", "Keyholder", ["Access Manager"], "member of the custom role"),
    ("rev.stale", "Sam", "Stale", ["Op"], "signs in once; last sign-in set 400 days back"),
    ("rev.dormant", "Dee", "Dormant", ["Viewer"], "never signs in; created 200 days back"),
    ("rev.locked", "Lou", "Locked", ["User"], "8 sign-ins with a wrong password"),
    ("rev.leaver", "Lee", "Leaver", ["Data Engineer"], "disabled, keeps its role"),
]
REVIEW_FAILED_SIGN_INS = 8


def _review_sign_in(api, user, password) -> int:
    """One real sign-in attempt as `user`; FAB counts it (last_login, login_count or
    fail_login_count). The HTTP status."""
    if api.generation == "fastapi":
        req = urllib.request.Request(api.base + "/auth/token", method="POST",
                                     data=json.dumps({"username": user, "password": password}).encode())
        req.add_header("Content-Type", "application/json")
    else:
        req = urllib.request.Request(api.base + api.prefix + "/users?limit=1")
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def _review_db():
    """The server's sqlite DB: sign-in times, creation times and `active` have no API."""
    import sqlite3
    home = os.environ.get("AIRFLOW_HOME") or subprocess.run(
        ["bash", "-c", '. "$1"; printf %s "$AIRFLOW_HOME"', "_", str(HERE / "config.env")],
        check=True, capture_output=True, text=True).stdout
    db = Path(home) / "airflow.db"
    if not db.is_file():
        sys.exit(f"review findings: no Airflow DB at {db} (set AIRFLOW_HOME, or AIRFLOW_SERIES)")
    return sqlite3.connect(db)


def remove_review_findings(api):
    for name, *_ in REVIEW_USERS:
        api.call("DELETE", f"/users/{q(name)}", ok=(200, 204, 404))
    api.call("DELETE", f"/roles/{q(REVIEW_ROLE['name'])}", ok=(200, 204, 404))
    print(f"review findings: removed {len(REVIEW_USERS)} accounts and role {REVIEW_ROLE['name']!r}")


def add_review_findings(api, password):
    import datetime
    api.call("POST", "/roles", REVIEW_ROLE)
    for name, first, last, roles, _ in REVIEW_USERS:
        api.call("POST", "/users", {"username": name, "email": f"{name}@example.com",
                                    "first_name": first, "last_name": last,
                                    "password": password, "roles": role_refs(roles)})
    if _review_sign_in(api, "rev.stale", password) not in (200, 201):
        sys.exit("review findings: rev.stale cannot sign in")
    for _ in range(REVIEW_FAILED_SIGN_INS):
        if _review_sign_in(api, "rev.locked", "not-" + password) not in (401, 403):
            sys.exit("review findings: a wrong password for rev.locked was not refused")
    def past(days):  # FAB stores naive local times
        return (datetime.datetime.now() - datetime.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S.%f")

    with _review_db() as db:
        for sql, args in [
            ("UPDATE ab_user SET last_login = ? WHERE username = 'rev.stale'", (past(400),)),
            ("UPDATE ab_user SET created_on = ? WHERE username = 'rev.dormant'", (past(200),)),
            ("UPDATE ab_user SET active = 0 WHERE username = 'rev.leaver'", ()),
        ]:
            if db.execute(sql, args).rowcount != 1:
                sys.exit(f"review findings: no row for: {sql}")
    for name, *_, what in REVIEW_USERS:
        print(f"review findings: {name}: {what}")


if __name__ == "__main__":
    main()
