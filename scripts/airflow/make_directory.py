#!/usr/bin/env python3
"""Generate tests/fixtures/directory.json: the users and roles seed.py puts on the
loopback Airflow test server.

Deterministic (fixed seed, no timestamps), so re-running it reproduces the
committed file byte for byte. Usernames and names deliberately cover spaces,
`+`, `@`, `.`, `'`, `-`, `_`, upper case and non-ASCII letters — never `/`,
which Airflow can create but never address by path again.

Usage: make_directory.py [OUTPUT]   (default: tests/fixtures/directory.json)
"""
import json
import random
import sys
import unicodedata
from pathlib import Path

SEED = 20261122
GENERATED_USERS = 250  # + the hand-written ones below: > 260, i.e. 3 pages of 100 with admin

# Action/resource pairs checked against GET /auth/fab/v1/permissions on Airflow 3.3.2
# (FAB provider 3.10.2); an unknown pair makes POST /roles answer 400.
CUSTOM_ROLES = {
    # Day-to-day DAG work: read/edit DAGs, trigger and manage runs, read code and logs.
    "Data Engineer": [
        ("can_read", "DAGs"), ("can_edit", "DAGs"), ("menu_access", "DAGs"),
        ("can_read", "DAG Runs"), ("can_create", "DAG Runs"), ("can_edit", "DAG Runs"),
        ("can_delete", "DAG Runs"), ("menu_access", "DAG Runs"),
        ("can_read", "Task Instances"), ("can_edit", "Task Instances"),
        ("can_read", "Task Logs"), ("can_read", "DAG Code"),
        ("can_read", "Connections"), ("can_read", "Variables"), ("can_edit", "Variables"),
        ("can_read", "Website"), ("menu_access", "Browse"),
    ],
    # Read-only oversight, including who has access.
    "Auditor": [
        ("can_read", "Audit Logs"), ("menu_access", "Audit Logs"),
        ("can_read", "DAGs"), ("can_read", "DAG Runs"), ("can_read", "Task Instances"),
        ("can_read", "Configurations"),
        ("can_read", "Users"), ("can_read", "Roles"), ("can_read", "Permissions"),
        ("can_read", "Website"), ("menu_access", "Browse"),
    ],
    # Least privilege for a read-only directory sync (see the API reference).
    "Sync Reader": [("can_read", "Users"), ("can_read", "Roles"), ("can_read", "Website")],
    # A grouping role with nothing but the homepage.
    "Contractor": [("can_read", "Website")],
}
# Every custom role lists ("can_read", "Website"): the FAB auth manager adds it to
# every non-built-in role each time the api-server starts (sync_roles ->
# add_homepage_access_to_custom_roles), so a role without it would drift on restart.
assert all(("can_read", "Website") in pairs for pairs in CUSTOM_ROLES.values())
BUILTIN_ROLES = ["Admin", "Op", "User", "Viewer", "Public"]

# Hand-written users: the awkward names tests refer to by name.
# (username, first_name, last_name, email or None, roles)
SPECIAL_USERS = [
    ("anna maria", "Anna Maria", "Rossi", None, ["Viewer"]),
    ("bob+ops", "Bob", "Okafor", None, ["Op", "Data Engineer"]),
    ("carol@example.com", "Carol", "Danvers", "carol@example.com", ["User"]),
    ("d.evans", "Dana", "Evans", None, ["Data Engineer"]),
    ("EveAdmin", "Eve", "Adams", None, ["Admin"]),
    ("józef", "Józef", "Wiśniewski", None, ["Viewer", "Auditor"]),
    ("zoë.müller", "Zoë", "Müller", None, []),
    ("o'brien", "Seán", "O'Brien", None, ["User"]),
    ("mary-jane watson", "Mary Jane", "Watson", None, ["Public"]),
    ("ÅSA.LINDSTRÖM", "Åsa", "Lindström", None, ["Viewer", "Contractor"]),
    ("李雷", "雷", "李", "li.lei@example.com", ["User", "Viewer"]),
    ("José.García-López", "José", "García-López", None, ["Op"]),
    ("svc-sync", "Sync", "Service", "svc-sync@example.com", ["Sync Reader"]),
    ("auditor_1", "Ingrid", "Bergström", None, ["Auditor"]),
    ("all.builtins", "Alex", "Everything", None, ["Admin", "Op", "User", "Viewer", "Public"]),
    ("nobody", "No", "Body", None, []),
    ("guest.reader", "Guest", "Reader", None, ["Public"]),
    ("OPS-ONCALL", "Ops", "On-Call", "ops-oncall@example.com", ["Op", "Viewer"]),
    ("ext.contractor+1", "Chidi", "Anagonye", None, ["Contractor"]),
    ("Łukasz_K", "Łukasz", "Kowalczyk", None, ["Data Engineer", "Viewer", "User"]),
]

FIRST_NAMES = [
    "Aaliyah", "Ahmed", "Aiko", "Alejandro", "Amélie", "Ana", "Andrés", "Anja", "Arjun",
    "Beatriz", "Benedikt", "Björn", "Camille", "Carlos", "Chloé", "Chen", "Dagny", "Daniel",
    "Dmitri", "Elif", "Elena", "Émile", "Fatima", "Felix", "François", "Gabriel", "Grace",
    "Hana", "Hannah", "Henrik", "Ines", "Isabel", "Jakub", "Jean Luc", "Jiří", "João",
    "Jürgen", "Kai", "Karolina", "Kenji", "Lars", "Laura", "Leila", "Liam", "Lucía",
    "Łucja", "Maja", "Malik", "Mary Ann", "Mårten", "Mateo", "Mei", "Mikkel", "Nadia",
    "Niamh", "Noah", "Olga", "Omar", "Oskar", "Paulo", "Priya", "Rafael", "Renée", "Rosa",
    "Sakura", "Samuel", "Sara", "Søren", "Stefan", "Tomás", "Uma", "Valentina", "Wei",
    "Yusuf", "Zoë", "Ángel", "Ðorđe", "Ömer",
]
LAST_NAMES = [
    "Abe", "Andersen", "Baker", "Berg", "Brown", "Castro", "Chen", "Costa", "de la Cruz",
    "Dubois", "Dvořák", "Eriksson", "Fernández", "Fischer", "García", "Gómez", "Gruber",
    "Haddad", "Hansen", "Hernández", "Ivanova", "Jansen", "Jensen", "Kim", "Kowalski",
    "Kumar", "Larsen", "Lefèvre", "Li", "López", "Martin", "Meyer", "Moreau", "Müller",
    "Nakamura", "Nguyen", "Novák", "O'Neil", "Olsen", "Papadopoulos", "Patel", "Pereira",
    "Petrović", "Quinn", "Rossi", "Sánchez", "Santos", "Schmidt", "Schäfer", "Silva",
    "Singh", "Smith-Jones", "Sørensen", "Suzuki", "Tanaka", "Thompson", "Varga",
    "van der Berg", "Wagner", "Walker", "Wang", "Weiß", "Yilmaz", "Zhang", "Żak",
]
DOMAINS = ["example.com", "example.org", "corp.example", "ops.example.net"]
# (weight, number of roles) and per-role weights for the generated users.
ROLE_COUNT_WEIGHTS = [(12, 0), (55, 1), (23, 2), (10, 3)]
ROLE_WEIGHTS = {
    "Viewer": 30, "User": 25, "Data Engineer": 15, "Op": 10, "Auditor": 8,
    "Public": 6, "Contractor": 4, "Admin": 3,
}


def ascii_fold(s: str) -> str:
    """'Ðorđe Żak' -> 'Dorde Zak' (for e-mail local parts)."""
    s = s.replace("Ð", "D").replace("đ", "d").replace("Ł", "L").replace("ł", "l")
    s = s.replace("ø", "o").replace("Ø", "O").replace("ß", "ss").replace("'", "")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def generated_username(rng: random.Random, first: str, last: str, email: str) -> str:
    f, l_ = first.replace(" ", ""), last.replace(" ", "").replace("'", "")
    style = rng.randrange(7)
    if style == 0:
        return f"{f}.{l_}".lower()                      # józef.müller (non-ASCII kept)
    if style == 1:
        return ascii_fold(f"{f[0]}{l_}").lower()        # jmuller
    if style == 2:
        return ascii_fold(f"{f}_{l_}").lower()          # jozef_muller
    if style == 3:
        return email                                    # e-mail as username
    if style == 4:
        return f"{f}{l_}"                               # JózefMüller (mixed case)
    if style == 5:
        return ascii_fold(f"{f}.{l_}").lower() + f"+{rng.choice(['ops', 'dev', 'qa'])}"
    return f"{first} {last}".lower()                    # "mary ann de la cruz" (spaces)


def build() -> dict:
    rng = random.Random(SEED)
    users, seen_names, seen_emails = [], set(), set()

    def add(username, first, last, email, roles):
        assert "/" not in username and username.strip() == username and username
        assert username.lower() not in seen_names, username  # Airflow: case-insensitive
        assert email not in seen_emails, email
        seen_names.add(username.lower())
        seen_emails.add(email)
        users.append({
            "username": username, "email": email, "first_name": first, "last_name": last,
            "roles": sorted(set(roles)),
        })

    for username, first, last, email, roles in SPECIAL_USERS:
        email = email or ascii_fold(username.replace(" ", ".")).lower() + "@example.com"
        add(username, first, last, email, roles)

    role_names, role_w = list(ROLE_WEIGHTS), list(ROLE_WEIGHTS.values())
    counts, count_w = [c for _, c in ROLE_COUNT_WEIGHTS], [w for w, _ in ROLE_COUNT_WEIGHTS]
    while len(users) < len(SPECIAL_USERS) + GENERATED_USERS:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = ascii_fold(f"{first}.{last}").lower().replace(" ", "")
        email, n = f"{local}@{rng.choice(DOMAINS)}", 1
        while email in seen_emails:
            n += 1
            email = f"{local}{n}@{email.split('@')[1]}"
        username = generated_username(rng, first, last, email)
        base, n = username, 1
        while username.lower() in seen_names:
            n += 1
            username = f"{base}{n}"
        k = rng.choices(counts, count_w)[0]
        roles = set()
        while len(roles) < k:
            roles.add(rng.choices(role_names, role_w)[0])
        add(username, first, last, email, roles)

    roles = [
        {"name": name, "actions": [{"action": {"name": a}, "resource": {"name": r}} for a, r in pairs]}
        for name, pairs in CUSTOM_ROLES.items()
    ]
    return {"roles": roles, "users": users}


def main() -> None:
    repo = Path(__file__).resolve().parents[2]
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else repo / "tests/fixtures/directory.json"
    d = build()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(d, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    zero = sum(1 for u in d["users"] if not u["roles"])
    many = sum(1 for u in d["users"] if len(u["roles"]) > 1)
    print(f"{out}: {len(d['users'])} users ({zero} without roles, {many} with several), "
          f"{len(d['roles'])} custom roles", file=sys.stderr)


if __name__ == "__main__":
    main()
