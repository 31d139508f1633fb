#!/usr/bin/env python3
"""Seed corpus for the `responses` fuzz target from the recorded cassettes.

One input per cassette: the contract call the cassette was recorded for, the settings of its
API generation, and every recorded answer in order (format: fuzz/src/lib.rs). Redacted access
tokens become JWT-shaped strings so the expiry parser sees real shapes from the start.

usage: fuzz-seeds.py CASSETTE_DIR OUT_DIR
"""

import base64
import hashlib
import json
import pathlib
import sys
import urllib.parse

CHUNK = b"\n\x1e\n"
ARG = "\x1f"
# Config bits 0-1: the API generation. The recordings detected it (their first answers are the
# probes'), so seeds use 0 (detect); a variant names it, which shifts the answers by the probes.
GENERATION = {"airflow-3.3": 1, "airflow-3.0": 2, "airflow-2.11": 3}
PROVISIONING = 8
# Op numbers of fuzz/src/lib.rs `conversation`.
VALIDATE, SYNC, LIST_RESOURCES, LIST_ENTITLEMENTS, LIST_GRANTS = 0, 1, 2, 3, 4
GRANT, REVOKE_ID, REVOKE_MEMBERSHIP, CREATE_ACCOUNT, DELETE_ACCOUNT = 5, 6, 7, 8, 9
CREATE_ROLE, DELETE_ROLE = 10, 11


def jwt():
    claims = json.dumps({"sub": "1", "iat": 1800000000, "exp": 1800086400}).encode()
    payload = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzUxMiJ9.{payload}.c2ln"


def body(response):
    if "json" in response:
        value = response["json"]
        if isinstance(value, dict) and value.get("access_token") == "[REDACTED]":
            value = dict(value, access_token=jwt())
        return json.dumps(value).encode()
    return response.get("text", "").encode()


def names(cassette, collection):
    """Names addressed in request paths, e.g. /users/<name>, in order of first use."""
    out = []
    for i in cassette["interactions"]:
        path = urllib.parse.urlsplit(i["request"]["url"]).path
        marker = f"/{collection}/"
        if marker in path:
            name = urllib.parse.unquote(path.split(marker, 1)[1])
            if name and name not in out:
                out.append(name)
    return out


def call(path, cassette):
    """The op and arguments the cassette was most likely recorded for."""
    stem = path.stem
    users = names(cassette, "users") or ["rec.alice"]
    roles = names(cassette, "roles") or ["Op"]
    if stem.startswith("sync"):
        return SYNC, []
    if stem.startswith("grants-"):
        return LIST_GRANTS, ["role", roles[0]]
    if stem in ("validate", "bad-password", "no-read-permission"):
        return VALIDATE, []
    if stem.startswith("grant") or stem == "gate-off":
        return GRANT, [f"role:{roles[0]}:member", users[0]]
    if stem.startswith("revoke"):
        return REVOKE_ID, [f"role:{roles[0]}:member:user:{users[0]}"]
    if stem.startswith("create-account"):
        return CREATE_ACCOUNT, [users[0], f"{users[0]}@example.com", "Rec", "Alice", ""] + [
            f"role:{r}:member" for r in roles
        ]
    if stem.startswith("delete-account") or stem == "delete-self":
        return DELETE_ACCOUNT, [users[0]]
    if stem.startswith("create-role"):
        return CREATE_ROLE, [roles[0], "permission:can_read:DAGs:assigned"]
    if stem.startswith("delete-") and "role" in stem:
        return DELETE_ROLE, [roles[0]]
    return VALIDATE, []


def seed(path):
    cassette = json.loads(path.read_text())
    op, args = call(path, cassette)
    config = 0
    if str(cassette.get("settings", {}).get("provisioning", "")).lower() == "true":
        config |= PROVISIONING
    data = bytes([op, config]) + ARG.join(args).encode()
    for i in cassette["interactions"]:
        r = i["response"]
        head = str(r["status"])
        retry = {k.lower(): v for k, v in r.get("headers", {}).items()}.get("retry-after")
        if retry:
            head += f" {retry}"
        data += CHUNK + head.encode() + b"\n" + body(r)
    return data


def main():
    cassettes, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(cassettes.rglob("*.json")):
        series = path.relative_to(cassettes).parts[0]
        data = seed(path)
        named = bytes([data[0], data[1] | GENERATION.get(series, 0)]) + data[2:]
        variants = [data, named]
        for v in variants:
            (out / hashlib.sha1(v).hexdigest()).write_bytes(v)
            count += 1
    print(f"fuzz-seeds: {count} seeds from {cassettes} in {out}")


if __name__ == "__main__":
    main()
