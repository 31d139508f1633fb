"""The FAB users/roles API of a live Airflow, read and changed as an admin, for the live tests.

Stdlib only and independent of the connector, so the scripts can check the connector's work
against the server's own answers. Used by check_sync.py, live_provision.py, live_churn.py and
live_session.py (scripts/airflow/seed.py has its own client but signs in with form_login here).

Three API generations (scripts/airflow/GENERATIONS.md), told apart by `POST /auth/token {}`:
  400 -> 3.3 (FastAPI FAB): JWT from POST /auth/token, /auth/fab/v1
  422 -> 3.0 (Connexion FAB): HTTP Basic, /auth/fab/v1
  404 -> 2.11 (Airflow 2): HTTP Basic, /api/v1 (confirmed by GET /api/v1/health 200)
The series (AIRFLOW_SERIES: 3.3 | 3.0 | 2.11) picks the default URL (config.env's ports
28080 / 28083 / 28082; for 2.11, AIRFLOW_AUTH=default picks 28084 and kerberos 28085); the
scripts check it against what the server turns out to be.

On Airflow 2 the admin uses HTTP Basic where the server takes it, else ("session") the form
login that Airflow 2's default API backend expects: GET /login/, POST /login/ with its
csrf_token, then the `session` cookie on every call (shared/reference/airflow-auth-backends.md).
Airflow limits POST /login/ (Airflow 3.0's FAB 2.x: /auth/login/) to 5 per 40 s per client
address, good and bad alike, and every process on this machine is the same client; `login_slot`
paces the logins of all our scripts through one file per server, so they queue instead of
getting 429. The connector's `auth_mode=auto` logs in by form on Airflow 2 and on 3.0, so every
harness run there that leaves auth_mode unset books one.
`python3 airflow_api.py login-slot URL` books one for a login another program makes (the harness).
"""
import base64
import fcntl
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

# AIRFLOW_SERIES -> (API generation, default port), as in scripts/airflow/config.env.
SERIES = {"3.3": ("fastapi", 28080), "3.0": ("connexion", 28083), "2.11": ("v1", 28082)}
# The 2.11 auth variants (AIRFLOW_AUTH) are separate servers on ports of their own.
AUTH_PORTS = {"basic": 28082, "default": 28084, "kerberos": 28085}
DEFAULT_SERIES = "3.3"
# API generation -> (series, users/roles path prefix, how the admin authenticates; on v1
# `session` instead where the server refuses Basic, see v1_auth).
GENERATIONS = {
    "fastapi": ("3.3", "/auth/fab/v1", "jwt"),
    "connexion": ("3.0", "/auth/fab/v1", "basic"),
    "v1": ("2.11", "/api/v1", "basic"),
}
DEFAULT_ADMIN_USER = "admin"
DEFAULT_ADMIN_PASSWORD = "Sync-Test-Pa55word"
PAGE = 100  # rows per page when reading a whole listing


def http(method, url, body=None, headers=None, timeout=60):
    """(status, parsed JSON body or text) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, payload.decode(errors="replace")


# ---------------------------------------------------------------- the form login (Airflow 2)

LOGIN_LIMIT = 5  # [fab] auth_rate_limit = "5 per 40 second"
LOGIN_WINDOW = 41.0  # one second over Airflow's window, so a booking never races its edge
CSRF_INPUT = re.compile(r"<input\b[^>]*\bname=\"csrf_token\"[^>]*>")
VALUE_ATTR = re.compile(r"\bvalue=\"([^\"]*)\"")


class LoginRefused(RuntimeError):
    """The form login sent us back to the login page: wrong username or password."""


class LoginRateLimited(RuntimeError):
    """POST /login/ answered 429: more than 5 logins from this machine within 40 s."""


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    # The login's 302 is the answer: its Location tells success from failure and its
    # Set-Cookie carries the signed-in session, so it must not be followed.
    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_KeepRedirects)


def _exchange(req, timeout):
    """(status, headers, body bytes) without following redirects."""
    try:
        with _NO_REDIRECTS.open(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _session_cookie(headers):
    for line in headers.get_all("Set-Cookie") or []:
        name, _, rest = line.partition("=")
        if name.strip() == "session":
            return rest.split(";", 1)[0]
    return None


def login_slot(base):
    """Waits until one more POST /login/ to `base` keeps this machine within Airflow's login
    rate limit, then books it. Every script here books through the same file per server."""
    where = urllib.parse.urlsplit(base)
    path = os.path.join(tempfile.gettempdir(),
                        f"airflow-connector-logins-{where.hostname}-{where.port or 80}")
    with open(path, "a+", encoding="ascii") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # held while waiting: the others would wait anyway
        while True:
            f.seek(0)
            now = time.time()
            recent = sorted(float(t) for t in f.read().split()
                            if re.fullmatch(r"[0-9.]+", t) and now - float(t) < LOGIN_WINDOW)
            if len(recent) < LOGIN_LIMIT:
                break
            wait = recent[-LOGIN_LIMIT] + LOGIN_WINDOW - now
            print(f"(waiting {wait:.0f} s for Airflow's login rate limit, 5 per 40 s)",
                  file=sys.stderr, flush=True)
            time.sleep(max(wait, 0.1))
        f.seek(0)
        f.truncate()
        f.write("".join(f"{t:.3f}\n" for t in recent + [now]))


def harness_env(base, user, password):
    """The environment of one harness run against `base` as `user`: inherited connector settings
    stripped (a stray BATON_PROVISIONING would defeat the gate test), except the one setting
    test-live.sh pins for every run (AIRFLOW_AUTH_MODE: HTTP Basic, not the rate-limited form
    login)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "BATON_"))}
    env.update(AIRFLOW_BASE_URL=base, AIRFLOW_USERNAME=user, AIRFLOW_PASSWORD=password)
    if os.environ.get("AIRFLOW_AUTH_MODE"):
        env["AIRFLOW_AUTH_MODE"] = os.environ["AIRFLOW_AUTH_MODE"]
    return env


def form_login(base, user, password, timeout=60, login_path="/login/"):
    """The `session` cookie of a form login as `user` (Airflow 2: /login/; Airflow 3 FAB:
    /auth/login/). Raises LoginRefused (bad credentials), LoginRateLimited (429) or
    RuntimeError (anything else). Books a login_slot first."""
    url = base.rstrip("/") + login_path
    status, headers, page = _exchange(urllib.request.Request(url), timeout)
    form = CSRF_INPUT.search(page.decode(errors="replace")) if status == 200 else None
    token = form and VALUE_ATTR.search(form[0])
    anonymous = _session_cookie(headers)
    if not token or not anonymous:
        raise RuntimeError(f"GET {login_path}: HTTP {status}, "
                           f"{'no' if not token else 'a'} csrf_token field, "
                           f"{'no' if not anonymous else 'a'} session cookie: no form login here")
    login_slot(base)
    form_body = urllib.parse.urlencode(
        {"csrf_token": token[1], "username": user, "password": password}).encode()
    req = urllib.request.Request(url, data=form_body, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("Cookie", f"session={anonymous}")
    status, headers, _ = _exchange(req, timeout)
    if status == 429:
        raise LoginRateLimited(f"POST {login_path}: HTTP 429, more than 5 logins from this "
                               f"machine within 40 s")
    location = headers.get("Location") or ""
    if status != 302:
        raise RuntimeError(f"POST {login_path}: HTTP {status}, want a 302 redirect")
    if "/login" in urllib.parse.urlsplit(location).path:
        raise LoginRefused(f"form login as {user!r}: sent back to the login page "
                           f"(wrong username or password)")
    cookie = _session_cookie(headers)
    if not cookie:
        raise RuntimeError(f"POST {login_path}: 302 without a session cookie")
    return cookie


def v1_auth(base, user, password, timeout=60):
    """How an admin authenticates to an Airflow 2 server: `basic` where the server takes HTTP
    Basic, else `session` (AIRFLOW_AUTH=default names that server, so no probe there)."""
    if os.environ.get("AIRFLOW_AUTH") == "default":
        return "session"
    status, _ = http("GET", base.rstrip("/") + "/api/v1/users?limit=1", None,
                     {"Authorization": basic(user, password)}, timeout)
    # 2.11 without the Basic backend answers 403, like a wrong password on one with it; the
    # form login then tells which.
    return "basic" if status == 200 else "session"


def detect_generation(base, timeout=60):
    """The API generation, from `POST /auth/token {}` (GENERATIONS.md, "Telling them apart")."""
    status, body = http("POST", base + "/auth/token", {}, timeout=timeout)
    if status == 400:
        return "fastapi"
    if status == 422:
        return "connexion"
    if status == 404 and http("GET", base + "/api/v1/health", timeout=timeout)[0] == 200:
        return "v1"
    raise RuntimeError(f"{base}: not a known Airflow API generation "
                       f"(POST /auth/token {{}} answered HTTP {status} {str(body)[:120]!r})")


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def q(name):
    return urllib.parse.quote(name, safe="")


def email_for(name):
    local = re.sub(r"[^A-Za-z0-9.-]", "-", name)
    return f"{local}@example.com"


# ---------------------------------------------------------------- which server

def add_server_args(parser):
    """--series and --base-url, as every live script takes them."""
    parser.add_argument("--series", choices=sorted(SERIES),
                        help="server series: picks the default URL and must match the server "
                             "(default: env AIRFLOW_SERIES, else detected)")
    parser.add_argument("--base-url",
                        help="server URL (default: env AIRFLOW_BASE_URL, else the series' port)")


def series_from_env():
    """AIRFLOW_SERIES, else the series of AIRFLOW_VERSION (as config.env does), else None."""
    series = os.environ.get("AIRFLOW_SERIES")
    if not series and os.environ.get("AIRFLOW_VERSION"):
        m = re.match(r"(\d+)\.(\d+)", os.environ["AIRFLOW_VERSION"])
        series = m and f"{m[1]}.{m[2]}"
    if series and series not in SERIES:
        sys.exit(f"unknown AIRFLOW_SERIES {series!r} (want {', '.join(SERIES)})")
    return series or None


def server(args):
    """(series or None, base URL, admin user, admin password) from --series / --base-url, else
    the environment (AIRFLOW_SERIES, AIRFLOW_BASE_URL, AIRFLOW_ADMIN_USER,
    AIRFLOW_ADMIN_PASSWORD), else config.env's defaults."""
    series = args.series or series_from_env()
    port = SERIES[series or DEFAULT_SERIES][1]
    if series == "2.11":
        port = AUTH_PORTS.get(os.environ.get("AIRFLOW_AUTH") or "basic", port)
    base = (args.base_url or os.environ.get("AIRFLOW_BASE_URL")
            or f"http://127.0.0.1:{port}").rstrip("/")
    user = os.environ.get("AIRFLOW_ADMIN_USER", DEFAULT_ADMIN_USER)
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD)
    return series, base, user, password


def wrong_series(base, series, generation):
    """The complaint when the server at `base` is not of the series asked for, else None."""
    if series and SERIES[series][0] != generation:
        return (f"{base} is a {GENERATIONS[generation][0]} server ({generation} API), not "
                f"{series}: fix AIRFLOW_SERIES/--series or AIRFLOW_BASE_URL/--base-url")
    return None


# ---------------------------------------------------------------- the API

class Api:
    """The admin's view of the server, independent of the connector; usable from threads.

    `timeout`: seconds per request. `tries`: attempts of a user create or delete, retried on
    5xx and network errors (sqlite `database is locked`). `body_chars`: how much of an
    unexpected answer's body an error message quotes (None: all of it). `auth`: jwt, basic or
    session (default: the generation's; on v1 whichever the server takes, see v1_auth)."""

    def __init__(self, base_url, generation, user, password, timeout=60, tries=1,
                 body_chars=None, auth=None):
        self.base = base_url.rstrip("/")
        self.generation = generation
        self.series, self.prefix, self.auth = GENERATIONS[generation]
        self.user, self.password = user, password
        self.timeout, self.tries, self.body_chars = timeout, tries, body_chars
        if auth:
            self.auth = auth
        elif generation == "v1":
            self.auth = v1_auth(self.base, user, password, timeout)
        self.token = None  # the JWT, or the session cookie
        self.token_at = 0.0
        self.lock = threading.Lock()

    def brief(self, body):
        return str(body) if self.body_chars is None else str(body)[:self.body_chars]

    def raw(self, method, path, body=None, authorization=None, cookie=None):
        headers = {"Authorization": authorization} if authorization else {}
        if cookie:
            headers["Cookie"] = f"session={cookie}"
        return http(method, self.base + path, body, headers, self.timeout)

    def call(self, method, path, body=None):
        """`path` is below the users/roles prefix (`/auth/fab/v1` or `/api/v1`)."""
        path = self.prefix + path
        if self.auth == "basic":
            return self.raw(method, path, body, basic(self.user, self.password))
        if self.auth == "session":
            cookie = self.token or self.login()
            status, resp = self.raw(method, path, body, cookie=cookie)
            # An expired session answers 403 like a refusal; only a session older than the
            # rate-limit window is renewed, so a real refusal costs no login.
            if status in (401, 403) and time.monotonic() - self.token_at > LOGIN_WINDOW:
                cookie = self.login(cookie)
                status, resp = self.raw(method, path, body, cookie=cookie)
            return status, resp
        token = self.token or self.login()
        status, resp = self.raw(method, path, body, f"Bearer {token}")
        if status == 401:  # token expired (short AIRFLOW_TOKEN_TTL): renew once
            token = self.login(token)
            status, resp = self.raw(method, path, body, f"Bearer {token}")
        return status, resp

    def login(self, stale=None):
        """The admin's JWT or session cookie: a new one unless another thread already replaced
        `stale`."""
        with self.lock:
            if self.token is None or self.token == stale:
                if self.auth == "session":
                    try:
                        self.token = self.session_login(self.user, self.password)
                    except LoginRefused as e:
                        raise RuntimeError(f"admin sign-in: {e}") from None
                else:
                    status, body = self.raw("POST", "/auth/token",
                                            {"username": self.user, "password": self.password})
                    if status != 201:
                        raise RuntimeError(f"admin sign-in as {self.user!r} failed: HTTP {status}")
                    self.token = body["access_token"]
                self.token_at = time.monotonic()
            return self.token

    def session_login(self, user, password):
        """form_login, waiting out a 429 (another program's logins) up to twice."""
        for _ in range(2):
            try:
                return form_login(self.base, user, password, self.timeout)
            except LoginRateLimited:
                print(f"(login rate limit hit, waiting {LOGIN_WINDOW:.0f} s)", file=sys.stderr,
                      flush=True)
                time.sleep(LOGIN_WINDOW)
        return form_login(self.base, user, password, self.timeout)

    def check_admin(self):
        """Fails early, with a clear message, when the admin's credentials do not work."""
        status, body = self.call("GET", "/users?limit=1")
        if status != 200:
            raise RuntimeError(f"admin {self.user!r} cannot list users on {self.base}"
                               f"{self.prefix}: HTTP {status} {str(body)[:200]}")

    def signs_in(self, username, password):
        """Whether `password` is `username`'s. JWT: POST /auth/token answers 201. Session: the
        form login redirects away from the login page. Basic: GET
        <prefix>/users?limit=1 with those credentials is not 401 AND the account's login_count
        went up by one (a Public user gets 403 with the right password, and 2.11 answers 403 to
        a wrong one too; FAB counts a login only when the password is right)."""
        if self.auth == "jwt":
            status = self.raw("POST", "/auth/token",
                              {"username": username, "password": password})[0]
            return status == 201
        if self.auth == "session":
            try:
                self.session_login(username, password)
                return True
            except LoginRefused:
                return False
        before = self.login_count(username)
        status = self.raw("GET", f"{self.prefix}/users?limit=1", None,
                          basic(username, password))[0]
        return status in (200, 403) and self.login_count(username) == before + 1

    def login_count(self, name):
        user = self.get_user(name)
        if user is None:
            raise RuntimeError(f"user {name!r} not found")
        return user.get("login_count") or 0

    # -- listings

    def read_all(self, collection):
        """Every row of `users` or `roles`, page by page."""
        rows, offset = [], 0
        while True:
            status, page = self.call("GET", f"/{collection}?limit={PAGE}&offset={offset}")
            if status != 200:
                raise RuntimeError(f"listing {collection}: HTTP {status} {self.brief(page)}")
            got = page[collection]
            rows += got
            offset += len(got)
            if not got or offset >= page["total_entries"]:
                return rows

    def total(self, collection):
        """total_entries of `users` or `roles`, from one request."""
        status, page = self.call("GET", f"/{collection}?limit=1")
        if status != 200:
            raise RuntimeError(f"listing {collection}: HTTP {status} {self.brief(page)}")
        return page["total_entries"]

    # -- users

    def get_user(self, name):
        """The user record, or None if the server answers 404."""
        status, body = self.call("GET", f"/users/{q(name)}")
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"GET user {name!r}: HTTP {status} {self.brief(body)}")
        return body

    def roles_of(self, name):
        user = self.get_user(name)
        return None if user is None else {r["name"] for r in user["roles"]}

    def usernames(self):
        return [u["username"] for u in self.read_all("users")]

    def create_user(self, name, password, roles, first_name, last_name):
        """Creates the user; a retried attempt checks first whether a failed-looking one went
        through after all."""
        # Always with at least one role: 3.3 and 3.0 answer 500 to `roles: []`.
        body = {"username": name, "email": email_for(name), "first_name": first_name,
                "last_name": last_name, "password": password,
                "roles": [{"name": r} for r in roles]}
        for attempt in range(self.tries):
            try:
                status, resp = self.call("POST", "/users", body)
            except OSError as e:
                status, resp = None, repr(e)
            if status == 200:
                return
            if attempt and status in (400, 409) and self.get_user(name) is not None:
                return  # an earlier attempt that looked failed did create it
            if status is not None and status < 500 and status != 409:
                break
            time.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"POST user {name!r}: HTTP {status} {self.brief(resp)}")

    def delete_user(self, name):
        """True if this call deleted the user, False if it was not there."""
        for attempt in range(self.tries):
            try:
                status, resp = self.call("DELETE", f"/users/{q(name)}")
            except OSError as e:
                status, resp = None, repr(e)
            if status == 204:
                return True
            if status == 404:  # after a failed-looking attempt: that one deleted it
                return attempt > 0
            if status is not None and status < 500:
                break
            time.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"DELETE user {name!r}: HTTP {status} {self.brief(resp)}")

    # -- roles

    def get_role(self, name):
        """The role record, or None if the server answers 404."""
        status, body = self.call("GET", f"/roles/{q(name)}")
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"GET role {name!r}: HTTP {status} {self.brief(body)}")
        return body

    def permissions_of(self, name):
        """The role's (action, resource) pairs, or None if there is no such role."""
        role = self.get_role(name)
        return None if role is None else {
            (a["action"]["name"], a["resource"]["name"]) for a in role["actions"]}

    def role_names(self):
        return [r["name"] for r in self.read_all("roles")]

    def create_role(self, name, pairs):
        body = {"name": name, "actions": [{"action": {"name": a}, "resource": {"name": r}}
                                          for a, r in pairs]}
        status, resp = self.call("POST", "/roles", body)
        if status != 200:  # 3.3 answers the role, 3.0 and 2.11 `{}`
            raise RuntimeError(f"POST role {name!r}: HTTP {status} {self.brief(resp)}")

    def delete_role(self, name):
        status, resp = self.call("DELETE", f"/roles/{q(name)}")
        if status not in (200, 204, 404):  # 3.3: 200 `null`; 3.0 and 2.11: 204
            raise RuntimeError(f"DELETE role {name!r}: HTTP {status} {self.brief(resp)}")
        return status != 404


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "login-slot":
        sys.exit("usage: airflow_api.py login-slot BASE_URL")
    login_slot(sys.argv[2])
