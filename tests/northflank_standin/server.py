#!/usr/bin/env python3
"""A loopback stand-in for the Northflank API's org members, org roles and directory groups.

Built from /work/shared/reference/northflank-api.md (sections 1-5: shapes, paging, errors, rate
limits), whose facts come from Northflank's own JS client @northflank/js-client 0.9.5 and the
Northflank docs; hosts/northflank-js-client/check.mjs checks it with that client. Where the
reference is silent (its section 8), the decision is written next to the code as
"Decision (§8.N)". See README.md in this folder for the seeded organisation and the tokens.

Python 3 standard library only. Start it with `server.py --port 0`: the first stdout line is
`listening on http://127.0.0.1:PORT`.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime
import json
import math
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

SEED = 13
ORG_ID = "standin-org"
# The client whose check (hosts/northflank-js-client) this server passes; cassettes recorded
# from it name this and say they are synthetic (GET /__standin/about).
CHECKED_WITH = "@northflank/js-client 0.9.5"
REFERENCE = "/work/shared/reference/northflank-api.md (sections 1-5, decisions for section 8)"

# Display names from the JS client's `requiredPermissions` [reference §1].
MEMBERS_READ = "Organisation > Admin > Members > Read"
ROLES_READ = "Organisation > Admin > Roles > Read"
ROLES_MANAGE = "Organisation > Admin > Roles > Manage"

# Decision (§8.6): Northflank's internal ids for org permissions are unpublished; the one known
# real id (`ps_services_deployment_view-observability`) is project-scoped. These ids are
# invented in that style. A missing-permission 401 carries one in `details.requiredPermission`,
# so a client must not rely on it being a display name.
#
# "directory-groups:read" is the stand-in's only capability the real API does not have on its
# own: Northflank gates `GET /v1/directory-groups` by Roles > Read [reference §3.7]. Every token
# with roles:read also has it except the synthetic `no-directory-groups-read` token, which
# exists so a connector's validation of the directory-groups probe can be tested by itself.
CAPABILITIES = {
    "members:read": ("org_admin_members_read", MEMBERS_READ),
    "roles:read": ("org_admin_roles_read", ROLES_READ),
    "directory-groups:read": ("org_admin_roles_read", ROLES_READ),
    "roles:manage": ("org_admin_roles_manage", ROLES_MANAGE),
}

PER_PAGE_DEFAULT = 50  # "Paginated endpoints ... return 50 elements by default" [reference §2]
PER_PAGE_MAX = 100
ID_PATTERN = re.compile(r"^[A-Za-z0-9-]+$")
JSON_TYPE = "application/json; charset=utf-8"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

FIRST_NAMES = [
    "alan", "alice", "amara", "ana", "arjun", "bea", "boris", "carla", "chen", "dana", "diego",
    "elif", "emil", "fatima", "felix", "gwen", "hana", "hugo", "ines", "ivan", "jonas", "kai",
    "lena", "liam", "maya", "milan", "nadia", "nils", "omar", "priya", "quinn", "rosa", "sami",
    "sofia", "tariq", "uma", "vera", "wei", "yara", "zane",
]
LAST_NAMES = [
    "abbott", "baker", "castro", "dubois", "eriksen", "fischer", "garcia", "haddad", "ito",
    "jensen", "kowalski", "larsen", "moreau", "nakamura", "okafor", "petrov", "quinn", "rossi",
    "schmidt", "tanaka", "ueda", "varga", "weber", "xu", "yilmaz", "zhang",
]


# --- The seeded organisation -------------------------------------------------------------------


def _iso(base: datetime.datetime, minutes: int) -> str:
    moment = base + datetime.timedelta(minutes=minutes, milliseconds=minutes % 997)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _test_token(name: str, entity_type: str = "org") -> str:
    """A fake JWT: the JS client reads the `entityType` claim to choose org or team scope
    [reference §1], so the stand-in's tokens have that shape. The signature segment says what
    it is; none of these is a credential anywhere."""
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    claims = {
        "entityType": entity_type,
        "entityId": ORG_ID,
        "roleInternalId": f"standin-{name}",
        "note": "TEST TOKEN for the Northflank stand-in; not a real credential",
    }
    payload = _b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{header}.{payload}.standin-test-token-{name}"


def _ulid(rng: random.Random) -> str:
    return "01H" + "".join(rng.choice(CROCKFORD) for _ in range(23))


def build_org(seed: int = SEED) -> dict[str, Any]:
    """The seeded organisation, the same for the same seed (org.json is its output)."""
    rng = random.Random(seed)
    base = datetime.datetime(2021, 1, 20, 11, 19, 53, 175000)

    members: list[dict[str, Any]] = []

    def add_member(member_id: str, name: str | None, emails: list[dict[str, Any]] | None,
                   joined: int | None, finalized: bool) -> None:
        member: dict[str, Any] = {"id": member_id}
        if name is not None:
            member["name"] = name
        if emails is not None:
            member["emails"] = emails
        if joined is not None:
            member["joinedAt"] = _iso(base, joined)
        member["finalized"] = finalized
        members.append(member)

    # Named members the tests and the JS-client check look for.
    add_member("ada-lovelace", "Ada Lovelace",
               [{"address": "ada@example.com", "verified": True}], 1, True)
    add_member("grace-hopper", "Grace Hopper",
               [{"address": "grace.hopper@example.com", "verified": True},
                {"address": "grace@old.example.org", "verified": False}], 2, True)
    add_member("zoe-angstrom", "Zoë Ångström",
               [{"address": "zoe.angstrom@example.com", "verified": True}], 3, True)
    # Decision (§8.10): name, emails and joinedAt are optional in [T]; some members lack them.
    add_member("ken-thompson", "Ken Thompson", None, 4, True)
    add_member("no-profile", None, [], None, True)
    # The docs' ObjectId-style id, for a member who has not set the account up yet.
    add_member("5e6ea4090a1a280001b2d4e3", None,
               [{"address": "invitee@example.com", "verified": False}], None, False)

    taken = {m["id"] for m in members}
    while len(members) < 262:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        member_id = f"{first}-{last}"
        suffix = 2
        while member_id in taken:
            member_id = f"{first}-{last}-{suffix}"
            suffix += 1
        taken.add(member_id)
        display = f"{first.capitalize()} {last.capitalize()}"
        index = len(members)
        if index % 29 == 0:
            # Unfinalised: the id may still change on finalisation [T]; ObjectId-like here.
            hex_id = "".join(rng.choice("0123456789abcdef") for _ in range(24))
            taken.add(hex_id)
            add_member(hex_id, display if index % 58 else None,
                       [{"address": f"{first}.{last}.{index}@example.com", "verified": False}],
                       None, False)
            continue
        emails = [{"address": f"{member_id.replace('-', '.')}@example.com", "verified": True}]
        if index % 7 == 0:
            emails.append({"address": f"{first}{index}@personal.example.net", "verified": False})
        if index % 11 == 0:
            emails.reverse()  # the verified address is not always first
        add_member(member_id, display, emails, 10 + index * 37, True)

    finalized_ids = sorted(m["id"] for m in members if m["finalized"])
    unfinalized_ids = sorted(m["id"] for m in members if not m["finalized"])
    pool = [i for i in finalized_ids if i not in
            ("ada-lovelace", "grace-hopper", "zoe-angstrom", "ken-thompson", "no-profile")]
    rng.shuffle(pool)

    def take(count: int, start: int) -> list[str]:
        return pool[start:start + count]

    groups: list[dict[str, Any]] = []

    def add_group(name: str, idp_id: str, member_ids: list[str], unlinked: list[dict[str, Any]],
                  created: int) -> str:
        group_id = "directory_group_" + _ulid(rng)
        group_members: list[dict[str, Any]] = []
        by_id = {m["id"]: m for m in members}
        for member_id in sorted(set(member_ids)):
            source = by_id[member_id]
            entry: dict[str, Any] = {"id": member_id}
            if "name" in source:
                entry["name"] = source["name"]
            # Directory members' emails are plain strings, not {address, verified} [T].
            entry["emails"] = [e["address"] for e in source.get("emails", []) if "address" in e]
            group_members.append(entry)
        for directory_user in unlinked:
            group_members.append(directory_user)
        groups.append({
            "id": group_id, "name": name, "idpId": idp_id,
            "createdAt": _iso(base, created), "updatedAt": _iso(base, created + 600),
            "members": group_members,
        })
        return group_id

    engineering = add_group(
        "Engineering", "00g1engineering0001", ["grace-hopper", "zoe-angstrom"] + take(113, 0),
        [{"id": None, "name": "Pat Pending", "emails": ["pat.pending@example.com"],
          "_directoryUserId": "directory_user_" + _ulid(rng)}], 100)
    data = add_group("Data Platform", "00g1dataplatform002",
                     take(20, 100) + take(10, 140) + [unfinalized_ids[0]], [], 200)
    sre = add_group(
        "SRE", "00g1sre000000000003", ["ken-thompson"] + take(7, 150),
        [{"id": None, "emails": ["oncall-bot@example.com"],
          "_directoryUserId": "directory_user_" + _ulid(rng)}], 300)
    security = add_group("Security", "00g1security000004", take(4, 157), [], 400)
    contractors = add_group("Contractors", "00g1contractors005", take(6, 161), [], 500)
    add_group("Alumni", "00g1alumni00000006", take(3, 167),
              [{"id": None, "name": "Former Employee", "emails": [],
                "_directoryUserId": "directory_user_" + _ulid(rng)}], 600)

    roles: list[dict[str, Any]] = []

    def add_role(role_id: str, name: str, description: str | None, restrictions: dict[str, Any],
                 directory_groups: list[str], explicit: list[str], created: int | None,
                 org_scope: list[str], team_scope: list[str], project_scope: list[str]) -> None:
        role: dict[str, Any] = {"id": role_id, "name": name}
        if description is not None:
            role["description"] = description
        # Decision (§8.10): `restrictions` is required in [T], so every role has it.
        role["restrictions"] = restrictions
        if directory_groups:
            role["directoryGroups"] = directory_groups
        if created is not None:
            role["createdAt"] = _iso(base, created)
            role["updatedAt"] = _iso(base, created + 1440)
        role["permissions"] = {"teamScope": team_scope, "projectScope": project_scope,
                               "orgScope": org_scope}
        role["explicitMembers"] = sorted(set(explicit))
        roles.append(role)

    unrestricted = {"enabled": False}
    add_role("admin", "Admin", "Full access to the organisation.", unrestricted, [],
             ["ada-lovelace"] + take(3, 170), 10,
             ["org_admin_members_read", "org_admin_roles_read", "org_admin_roles_manage"],
             ["team_admin"], ["project_admin"])
    add_role("billing", "Billing", "Invoices and payment methods.",
             {"enabled": True, "teams": [{"teamId": "finance"}]}, [], take(2, 173), 20,
             ["org_billing_read"], [], [])
    add_role("contractor", "Contractor", "External contractors, storefront only.",
             {"enabled": True, "teams": [{"teamId": "web-team", "restrictions": {
                 "enabled": True, "projects": ["storefront"], "restrictionMode": "in"}}]},
             [contractors], take(2, 175), 30, [], ["team_general_read"], ["project_deploy"])
    add_role("data-engineering", "Data Engineering", "Pipelines and warehouses.",
             {"enabled": True, "teams": [{"teamId": "data-platform"}]}, [data],
             take(5, 100), 40, [], ["team_general_read"], ["project_deploy"])
    # More than 100 explicit members (pages), and grace-hopper explicit here and implicit
    # through Engineering.
    add_role("developer", "Developer", "Role for developers.", unrestricted, [engineering],
             ["grace-hopper"] + take(15, 0) + take(80, 177), 50, [], ["team_general_read"],
             ["project_deploy", "project_logs_read"])
    add_role("platform-oncall", "Platform On-call", None, unrestricted, [sre],
             ["ada-lovelace", "ken-thompson"], 60, [], ["team_general_read"],
             ["project_deploy", "project_restart"])
    add_role("security-auditor", "Security Auditor", "Read-only audit access.",
             {"enabled": True, "teams": [{"teamId": "payments", "restrictions": {
                 "enabled": True, "projects": ["card-vault"], "restrictionMode": "notIn"}}]},
             [security], [], 70, ["org_admin_members_read", "org_admin_roles_read"], [], [])
    add_role("unused", "Unused", None, unrestricted, [], [], None, [], [], [])
    # Linked to two groups: a member of both is one implicit row.
    add_role("viewer", "Viewer", "Read-only.", unrestricted, [engineering, data],
             take(40, 200) + [unfinalized_ids[1], "no-profile"], 80, [], ["team_general_read"],
             ["project_logs_read"])

    tokens = [
        ("full", "org", ["members:read", "roles:read", "directory-groups:read"],
         "Members Read + Roles Read: everything a sync needs, read-only."),
        ("no-members-read", "org", ["roles:read", "directory-groups:read"],
         "Lacks Organisation > Admin > Members > Read (org members, directory-group members)."),
        ("no-roles-read", "org", ["members:read"],
         "Lacks Organisation > Admin > Roles > Read (roles, role members, directory groups)."),
        ("no-directory-groups-read", "org", ["members:read", "roles:read"],
         "SYNTHETIC: Roles Read that does not reach GET /v1/directory-groups (Northflank has no "
         "separate permission; see server.py CAPABILITIES)."),
        ("writer", "org", ["members:read", "roles:read", "directory-groups:read", "roles:manage"],
         "Full read plus Organisation > Admin > Roles > Manage (add/remove role members)."),
        ("team-scoped", "team", [],
         "A team-scoped token: every org endpoint answers it the missing-permission 401."),
    ]
    return {
        "seed": seed,
        "org": {"id": ORG_ID, "directorySync": True},
        "members": sorted(members, key=lambda m: m["id"]),
        "roles": sorted(roles, key=lambda r: r["id"]),
        "directoryGroups": sorted(groups, key=lambda g: g["id"]),
        "tokens": [
            {"name": name, "token": _test_token(name, scope), "scope": scope,
             "capabilities": caps, "description": text}
            for name, scope, caps, text in tokens
        ],
    }


# --- Views the API serves ---------------------------------------------------------------------


def public_member(member: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in member.items() if not k.startswith("_")}


def public_role(role: dict[str, Any], with_permissions: bool) -> dict[str, Any]:
    hidden = {"explicitMembers"} | (set() if with_permissions else {"permissions"})
    return {k: v for k, v in role.items() if k not in hidden}


def public_group(group: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in group.items() if k != "members"}


def role_member_rows(org: dict[str, Any], role: dict[str, Any],
                     both: str) -> list[tuple[list[str], dict[str, Any]]]:
    """(sort key, item) for each member of a role, explicit and implicit.

    Decision (§8.4): a user who is both an explicit member and (through a linked directory
    group) an implicit one is listed twice, once per `type`, adjacent (`--both-membership
    two-rows`, the default), so `type=explicit` and `type=implicit` each find them. With
    `--both-membership explicit` they are one `explicit` row instead.
    Decision: directory users without a Northflank account (null id) are not role members: a
    role-member item's `id` is a required string [T]."""
    by_id = {m["id"]: m for m in org["members"]}
    explicit = [i for i in role["explicitMembers"] if i in by_id]
    implicit: set[str] = set()
    for group in org["directoryGroups"]:
        if group["id"] in role.get("directoryGroups", []):
            implicit.update(m["id"] for m in group["members"] if m["id"] in by_id)
    rows = []
    for member_id in explicit:
        rows.append(([member_id, "explicit"], {**public_member(by_id[member_id]),
                                               "type": "explicit"}))
    for member_id in sorted(implicit):
        if both == "explicit" and member_id in role["explicitMembers"]:
            continue
        rows.append(([member_id, "implicit"], {**public_member(by_id[member_id]),
                                               "type": "implicit"}))
    rows.sort(key=lambda row: row[0])
    return rows


def group_member_rows(group: dict[str, Any]) -> list[tuple[list[str], dict[str, Any]]]:
    """Members with a Northflank id in id order, then those without (null id) in the order of
    their directory user id, which the API does not show but keeps their order stable."""
    rows = []
    for member in group["members"]:
        if member["id"] is None:
            key = ["~", member.get("_directoryUserId", "")]
        else:
            key = [member["id"]]
        rows.append((key, public_member(member)))
    rows.sort(key=lambda row: row[0])
    return rows


# --- HTTP --------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str, error_id: str | None = None,
                 details: Any = None, extra_headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_id = error_id
        self.details = details
        self.extra_headers = extra_headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.error_id is not None:
            error["id"] = self.error_id
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class MethodNotAllowed(Exception):
    def __init__(self, allow: list[str]):
        super().__init__("Method Not Allowed")
        self.allow = allow


def validation_error(kind: str, field: str, text: str) -> ApiError:
    # The 400 envelope observed live [reference §4]; `kind` is body, query or params.
    return ApiError(400, f"Request failed {'payload' if kind == 'body' else kind} validation - "
                    "see details.", f"nf-invalid-request-{kind}", {field: [text]})


UNAUTHORIZED = ApiError(401, "Unauthorized")


class RateLimiter:
    """One budget for the organisation (the docs call it the account rate limit), a fixed
    window that starts at the first counted request and lasts `reset_seconds` [reference §5].

    Decision (§8.9): every response under /v1 carries the three x-ratelimit headers, errors
    included; requests with a valid token count, unauthenticated ones and admin calls do not;
    a request made when nothing remains is answered 429 with the JSON envelope and does not
    count. `Retry-After` is sent only with --retry-after, so a client must read
    x-ratelimit-reset (seconds, rounded up)."""

    def __init__(self, limit: int, reset_seconds: float, clock: Callable[[], float]):
        self.limit = limit
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.window_start: float | None = None
        self.used = 0

    def _roll(self) -> None:
        if self.window_start is not None and \
                self.clock() >= self.window_start + self.reset_seconds:
            self.window_start = None
            self.used = 0

    def take(self) -> bool:
        self._roll()
        if self.used >= self.limit:
            return False
        if self.window_start is None:
            self.window_start = self.clock()
        self.used += 1
        return True

    def headers(self) -> dict[str, str]:
        self._roll()
        if self.window_start is None:
            reset = self.reset_seconds
        else:
            reset = max(0.0, self.window_start + self.reset_seconds - self.clock())
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(0, self.limit - self.used)),
            "x-ratelimit-reset": str(math.ceil(reset)),
        }


class Standin:
    """The organisation, the rate limiter and the request log, behind one lock."""

    def __init__(self, seed_org: dict[str, Any], rate_limit: int = 1000,
                 reset_seconds: float = 3600, both_membership: str = "two-rows",
                 retry_after: bool = False, clock: Callable[[], float] = time.monotonic):
        self.lock = threading.Lock()
        self.seed_org = seed_org
        self.both_membership = both_membership
        self.retry_after = retry_after
        self.initial_limit = (rate_limit, reset_seconds)
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.org = copy.deepcopy(self.seed_org)
        self.tokens = {t["token"]: t for t in self.org["tokens"]}
        self.limiter = RateLimiter(self.initial_limit[0], self.initial_limit[1], self.clock)
        self.requests: list[dict[str, Any]] = []

    # -- paging --

    def page(self, list_key: str, rows: list[tuple[list[str], dict[str, Any]]],
             query: dict[str, list[str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        per_page = PER_PAGE_DEFAULT
        if "per_page" in query:
            raw = query["per_page"][-1]
            # Decision (§8.1): the API validates with Joi-style messages [reference §4], so
            # per_page outside 1..100 or not an integer is a 400, not silently clamped.
            if not re.fullmatch(r"-?[0-9]+", raw):
                raise validation_error("query", "per_page", '"per_page" must be a number')
            per_page = int(raw)
            if per_page < 1:
                raise validation_error("query", "per_page",
                                       '"per_page" must be greater than or equal to 1')
            if per_page > PER_PAGE_MAX:
                raise validation_error("query", "per_page",
                                       f'"per_page" must be less than or equal to {PER_PAGE_MAX}')
        start = 0
        cursor = query.get("cursor", [None])[-1]
        if cursor:
            # Decision (§8.2): a cursor is opaque URL-safe base64 of the list it belongs to
            # and the sort key of the last item served (keyset paging: an item added or
            # removed behind the cursor shifts nothing). It wins over `page`. A cursor that
            # does not decode, or that belongs to another list or filter, is a 400.
            try:
                decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
                after = decoded["after"]
                if decoded["list"] != list_key or not isinstance(after, list):
                    raise ValueError("cursor of another list")
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "Invalid cursor", "nf-invalid-cursor",
                               {"cursor": ['"cursor" is not a valid cursor for this request']})
            start = next((i for i, (key, _) in enumerate(rows) if key > after), len(rows))
        elif "page" in query:
            # Decision (§8.2): `page` is 1-based; a page past the end is an empty last page.
            raw = query["page"][-1]
            if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:
                raise validation_error("query", "page",
                                       '"page" must be greater than or equal to 1')
            start = (int(raw) - 1) * per_page
        chunk = rows[start:start + per_page]
        has_next = start + per_page < len(rows)
        pagination: dict[str, Any] = {"hasNextPage": has_next}
        if has_next and chunk:
            last_key = chunk[-1][0]
            pagination["cursor"] = _b64url(json.dumps(
                {"list": list_key, "after": last_key}, separators=(",", ":")).encode())
        # The last page has no `cursor` key at all: the JS client's .all() loops while
        # `cursor !== undefined` [reference §2].
        pagination["count"] = len(chunk)
        return [item for _, item in chunk], pagination

    # -- routes --

    def find_role(self, role_id: str) -> dict[str, Any]:
        for role in self.org["roles"]:
            if role["id"] == role_id:
                return role
        # Decision (§8.8): same envelope as every error; the message and id are ours.
        raise ApiError(404, f"Org role {role_id} not found", "nf-org-role-not-found")

    def find_group(self, group_id: str) -> dict[str, Any]:
        if self.org["org"].get("directorySync", True):
            for group in self.org["directoryGroups"]:
                if group["id"] == group_id:
                    return group
        raise ApiError(404, f"Directory group {group_id} not found",
                       "nf-directory-group-not-found")

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               token_entry: dict[str, Any] | None, body: bytes | None) -> dict[str, Any]:
        """The routed API; raises ApiError. Routing runs before authentication: an unrouted
        path is a 404 with or without a token [reference §4]."""
        # Decision (§8.12): one trailing slash is tolerated, as Express does by default.
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        segments = [unquote(s) for s in path.split("/")[1:]]
        route, params = _route(segments)
        if route is None:
            raise ApiError(404, "Not found. The requested route does not exist")
        allowed = ROUTES[route]
        if method not in allowed:
            raise MethodNotAllowed(sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set())))
        if token_entry is None:
            raise UNAUTHORIZED
        need = ROUTE_CAPABILITY[(route, method)]
        # Decision (§8.6, §8.7): a valid token without the permission gets 401 (never 403),
        # with details.requiredPermission, before anything about the resource is looked up,
        # so it does not learn whether a role or group exists. A team-scoped token has no org
        # permissions at all.
        if token_entry["scope"] != "org" or need not in token_entry["capabilities"]:
            internal_id, _display = CAPABILITIES[need]
            raise ApiError(401, "The API token does not have permission to perform this "
                           "action", None, {"requiredPermission": internal_id})
        for name in ("roleId", "memberId"):
            if name in params and not ID_PATTERN.match(params[name]):
                raise validation_error("params", name, f'"{name}" with value "{params[name]}" '
                                       'fails to match the required pattern: /^[A-Za-z0-9-]+$/')

        if route == "org-members":
            rows = [([m["id"]], public_member(m)) for m in self.org["members"]]
            items, pagination = self.page("org-members", rows, query)
            return {"data": {"members": items}, "pagination": pagination}
        if route == "org-roles":
            rows = [([r["id"]], public_role(r, False)) for r in self.org["roles"]]
            items, pagination = self.page("org-roles", rows, query)
            return {"data": {"roles": items}, "pagination": pagination}
        if route == "org-role":
            return {"data": public_role(self.find_role(params["roleId"]), True)}
        if route == "org-role-members" and method == "GET":
            role = self.find_role(params["roleId"])
            rows = role_member_rows(self.org, role, self.both_membership)
            kind = query.get("type", [None])[-1]
            if kind is not None:
                if kind not in ("explicit", "implicit"):
                    raise validation_error("query", "type",
                                           '"type" must be one of [explicit, implicit]')
                rows = [row for row in rows if row[1]["type"] == kind]
            # Decision (§8.5): userIds works both as a repeated parameter (the docs) and as a
            # comma list (what the JS client sends for an array); unknown ids match nothing.
            user_ids = sorted({u for raw in query.get("userIds", []) for u in raw.split(",") if u})
            if user_ids:
                rows = [row for row in rows if row[1]["id"] in user_ids]
            list_key = f"org-role-members:{role['id']}:{kind or ''}:{','.join(user_ids)}"
            items, pagination = self.page(list_key, rows, query)
            return {"data": {"members": items}, "pagination": pagination}
        if route == "org-role-members" and method == "POST":
            role = self.find_role(params["roleId"])
            user_id = _parse_user_id(body)
            if user_id not in {m["id"] for m in self.org["members"]}:
                # Decision (§8.8): a user who is not an org member is a 404.
                raise ApiError(404, f"User {user_id} is not a member of this org",
                               "nf-org-member-not-found")
            if user_id in role["explicitMembers"]:
                # Decision (§8.8): adding an explicit member again is a 409 conflict.
                raise ApiError(409, f"User {user_id} is already a member of role {role['id']}",
                               "nf-org-role-member-exists")
            # Adding an implicit-only member makes them explicit too (both rows then).
            role["explicitMembers"] = sorted(role["explicitMembers"] + [user_id])
            return {"data": {}}
        if route == "org-role-member":
            role = self.find_role(params["roleId"])
            member_id = params["memberId"]
            if member_id in role["explicitMembers"]:
                role["explicitMembers"] = [i for i in role["explicitMembers"] if i != member_id]
                return {"data": {}}
            via = [g["id"] for g in self.org["directoryGroups"]
                   if g["id"] in role.get("directoryGroups", [])
                   and any(m["id"] == member_id for m in g["members"])]
            if via:
                # Decision (§8.8): an implicit membership belongs to Directory Sync; removing
                # it is a 409 naming the groups that grant it.
                raise ApiError(409, f"User {member_id} is a member of role {role['id']} through "
                               "Directory Sync and cannot be removed from it directly",
                               "nf-org-role-member-implicit", {"directoryGroups": via})
            # Decision (§8.8): removing a non-member is a 404.
            raise ApiError(404, f"User {member_id} is not a member of role {role['id']}",
                           "nf-org-role-member-not-found")
        if route == "directory-groups":
            # Decision (§8.3): not paginated; paging parameters are ignored, and no
            # `pagination` key is sent. With Directory Sync off the list is empty.
            groups = self.org["directoryGroups"] if self.org["org"].get("directorySync", True) \
                else []
            return {"data": {"directoryGroups": [public_group(g) for g in groups]}}
        if route == "directory-group-members":
            group = self.find_group(params["groupId"])
            items, pagination = self.page(f"directory-group-members:{group['id']}",
                                          group_member_rows(group), query)
            return {"data": {"members": items}, "pagination": pagination}
        raise ApiError(404, "Not found. The requested route does not exist")


# route name -> methods; (route, method) -> capability
ROUTES = {
    "org-members": ["GET"],
    "org-roles": ["GET"],
    "org-role": ["GET"],
    "org-role-members": ["GET", "POST"],
    "org-role-member": ["DELETE"],
    "directory-groups": ["GET"],
    "directory-group-members": ["GET"],
}
ROUTE_CAPABILITY = {
    ("org-members", "GET"): "members:read",
    ("org-roles", "GET"): "roles:read",
    ("org-role", "GET"): "roles:read",
    ("org-role-members", "GET"): "roles:read",
    ("org-role-members", "POST"): "roles:manage",
    ("org-role-member", "DELETE"): "roles:manage",
    ("directory-groups", "GET"): "directory-groups:read",
    # Members Read, not Roles Read [reference §3.8].
    ("directory-group-members", "GET"): "members:read",
}


def _route(segments: list[str]) -> tuple[str | None, dict[str, str]]:
    if not segments or segments[0] != "v1" or any(s == "" for s in segments):
        return None, {}
    rest = segments[1:]
    match rest:
        case ["org-members"]:
            return "org-members", {}
        case ["org-roles"]:
            return "org-roles", {}
        case ["org-roles", role_id]:
            return "org-role", {"roleId": role_id}
        case ["org-roles", role_id, "members"]:
            return "org-role-members", {"roleId": role_id}
        case ["org-roles", role_id, "members", member_id]:
            return "org-role-member", {"roleId": role_id, "memberId": member_id}
        case ["directory-groups"]:
            return "directory-groups", {}
        case ["directory-groups", group_id, "members"]:
            return "directory-group-members", {"groupId": group_id}
    return None, {}


def _parse_user_id(body: bytes | None) -> str:
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise validation_error("body", "object", '"value" must be of type object')
    if not isinstance(data, dict):
        raise validation_error("body", "object", '"value" must be of type object')
    if "userId" not in data:
        raise validation_error("body", "userId", '"userId" is required')
    user_id = data["userId"]
    if not isinstance(user_id, str):
        raise validation_error("body", "userId", '"userId" must be a string')
    if not ID_PATTERN.match(user_id):
        raise validation_error("body", "userId", f'"userId" with value "{user_id}" fails to '
                               'match the required pattern: /^[A-Za-z0-9-]+$/')
    unknown = sorted(set(data) - {"userId"})
    if unknown:
        raise validation_error("body", unknown[0], f'"{unknown[0]}" is not allowed')
    return user_id


# --- The admin API, under a path the real API does not have -----------------------------------


ADMIN = "/__standin"


def admin(standin: Standin, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
    """GET  /__standin/about     what this server is: synthetic, the client it was checked with
    GET  /__standin/org       the current organisation, with derived role memberships
    GET  /__standin/tokens    the test tokens
    GET  /__standin/requests  every /v1 request so far (no token values), and their count
    POST /__standin/reset     back to the seed: data, rate-limit window, request log
    POST /__standin/config    {"rateLimit", "resetSeconds", "remaining", "directorySync",
                               "bothMembership"}: change behaviour at run time"""
    sub = path[len(ADMIN):].rstrip("/")
    if method == "GET" and sub == "/about":
        return 200, {"synthetic": True, "service": "Northflank API stand-in (not the real "
                     "service)", "checkedWith": CHECKED_WITH, "reference": REFERENCE,
                     "seed": standin.seed_org.get("seed")}
    if method == "GET" and sub == "/org":
        org = standin.org
        role_members = {}
        for role in org["roles"]:
            rows = role_member_rows(org, role, standin.both_membership)
            entries = []
            for _, item in rows:
                via = [g["id"] for g in org["directoryGroups"]
                       if item["type"] == "implicit" and g["id"] in role.get("directoryGroups", [])
                       and any(m["id"] == item["id"] for m in g["members"])]
                entry = {"id": item["id"], "type": item["type"]}
                if via:
                    entry["directoryGroups"] = via
                entries.append(entry)
            role_members[role["id"]] = entries
        return 200, {
            "members": [public_member(m) for m in org["members"]],
            "roles": [{**public_role(r, True), "explicitMembers": r["explicitMembers"]}
                      for r in org["roles"]],
            "directoryGroups": [{**public_group(g), "members": [public_member(m)
                                                                for m in g["members"]]}
                                for g in org["directoryGroups"]],
            "roleMembers": role_members,
            "directorySync": org["org"].get("directorySync", True),
            "bothMembership": standin.both_membership,
        }
    if method == "GET" and sub == "/tokens":
        return 200, {t["name"]: {k: v for k, v in t.items() if k != "name"}
                     for t in standin.org["tokens"]}
    if method == "GET" and sub == "/requests":
        return 200, {"count": len(standin.requests), "requests": standin.requests}
    if method == "POST" and sub == "/reset":
        standin.reset()
        return 200, {"reset": True}
    if method == "POST" and sub == "/config":
        try:
            conf = json.loads(body or b"{}")
            if not isinstance(conf, dict):
                raise ValueError("not an object")
            limiter = standin.limiter
            if "rateLimit" in conf:
                limiter.limit = int(conf["rateLimit"])
            if "resetSeconds" in conf:
                limiter.reset_seconds = float(conf["resetSeconds"])
            if "remaining" in conf:
                if limiter.window_start is None:
                    limiter.window_start = limiter.clock()
                limiter.used = max(0, limiter.limit - int(conf["remaining"]))
            if "directorySync" in conf:
                standin.org["org"]["directorySync"] = bool(conf["directorySync"])
            if "bothMembership" in conf:
                if conf["bothMembership"] not in ("two-rows", "explicit"):
                    raise ValueError("bothMembership")
                standin.both_membership = conf["bothMembership"]
        except (ValueError, TypeError) as err:
            return 400, {"error": {"status": 400, "message": f"bad config: {err}"}}
        return 200, {"rateLimit": standin.limiter.headers()}
    return 404, {"error": {"status": 404, "message": "unknown stand-in admin route"}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin: Standin  # set on the subclass made by make_server

    def version_string(self) -> str:
        return "northflank-standin"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if getattr(self.server, "verbose", False):
            sys.stderr.write("standin: " + (format % args) + "\n")

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def _read_body(self) -> bytes | None:
        """Request bodies by content-length only. Decision: a chunked body (no length) is
        answered 411 and the connection closed; the real API likely accepts it, but the
        components must send lengths, and this is where a test notices if one does not."""
        if self.headers.get("Transfer-Encoding", "").lower().strip() not in ("", "identity"):
            return None
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if size < 0 or size > 1 << 20:
            return None
        return self.rfile.read(size)

    def _serve(self, method: str) -> None:
        standin = self.standin
        split = urlsplit(self.path)
        path = split.path
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            if method in ("POST", "PUT", "PATCH", "DELETE") or \
                    self.headers.get("Transfer-Encoding"):
                self._send(411, {"error": {"status": 411, "message": "Length Required"}}, {},
                           method)
                return

        if path == ADMIN or path.startswith(ADMIN + "/"):
            with standin.lock:
                status, payload = admin(standin, method, path, body)
            self._send(status, payload, {}, method)
            return

        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None
        with standin.lock:
            entry = standin.tokens.get(token) if token else None
            status: int
            headers: dict[str, str] = {}
            payload: Any
            plain: str | None = None
            try:
                # Rate limit after routing and authentication (an unrouted or unauthenticated
                # request does not spend the organisation's budget) but before the work.
                if entry is not None and _route(
                        [unquote(s) for s in path.rstrip("/").split("/")[1:]])[0] is not None:
                    if not standin.limiter.take():
                        extra = {}
                        if standin.retry_after:
                            extra["Retry-After"] = standin.limiter.headers()["x-ratelimit-reset"]
                        raise ApiError(429, "Too many requests. The rate limit for this account "
                                       "has been reached", "nf-rate-limit-exceeded", None, extra)
                payload = standin.handle("GET" if method == "HEAD" else method, path, query,
                                         entry, body)
                status = 200
            except ApiError as err:
                status, payload, headers = err.status, err.body(), dict(err.extra_headers)
            except MethodNotAllowed as err:
                # The one non-JSON error, as observed live [reference §4].
                status, payload, plain = 405, None, "Method Not Allowed"
                headers["Allow"] = ", ".join(err.allow)
            headers.update(standin.limiter.headers())
            standin.requests.append({
                "seq": len(standin.requests) + 1, "method": method, "path": path,
                "query": split.query, "token": entry["name"] if entry else
                ("missing" if token is None else "invalid"),
                "status": status, "bodyLength": len(body) if body else 0,
                "remaining": int(headers["x-ratelimit-remaining"]),
            })
        if plain is not None:
            self._send_raw(status, plain.encode(), "text/plain; charset=utf-8", headers, method)
        else:
            self._send(status, payload, headers, method)

    def _send(self, status: int, payload: Any, headers: dict[str, str], method: str) -> None:
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._send_raw(status, raw, JSON_TYPE, headers, method)

    def _send_raw(self, status: int, raw: bytes, content_type: str, headers: dict[str, str],
                  method: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for key, value in headers.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(raw)


def make_server(standin: Standin, host: str = "127.0.0.1", port: int = 0,
                verbose: bool = False) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"standin": standin})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def org_json(org: dict[str, Any]) -> str:
    return json.dumps(org, ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--org", metavar="FILE",
                        help="serve this organisation (org.json's format) instead of the seed")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--rate-limit", type=int, default=1000, metavar="N",
                        help="requests per window (Northflank's default: 1000 an hour)")
    parser.add_argument("--reset-seconds", type=float, default=3600.0)
    parser.add_argument("--retry-after", action="store_true",
                        help="also send Retry-After on 429 (the real API is not known to)")
    parser.add_argument("--both-membership", choices=["two-rows", "explicit"],
                        default="two-rows")
    parser.add_argument("--no-directory-sync", action="store_true",
                        help="an org without Directory Sync: no directory groups")
    parser.add_argument("--dump-org", action="store_true",
                        help="print the seeded organisation as JSON (org.json) and exit")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    if args.org:
        with open(args.org, encoding="utf-8") as f:
            org = json.load(f)
    else:
        org = build_org(args.seed)
    if args.dump_org:
        sys.stdout.write(org_json(org))
        return 0
    if args.no_directory_sync:
        org["org"]["directorySync"] = False
    standin = Standin(org, args.rate_limit, args.reset_seconds, args.both_membership,
                      args.retry_after)
    server = make_server(standin, args.host, args.port, args.verbose)
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
