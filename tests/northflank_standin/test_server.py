"""The stand-in's paging, errors, rate limit and seed: `python3 -m unittest` in this folder."""

from __future__ import annotations

import http.client
import json
import os
import threading
import unittest
from typing import Any

import server

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_ORG = server.build_org()
TOKENS = {t["name"]: t["token"] for t in SEED_ORG["tokens"]}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StandinCase(unittest.TestCase):
    rate_limit = 1000

    def setUp(self) -> None:
        self.clock = FakeClock()
        self.standin = server.Standin(server.build_org(), rate_limit=self.rate_limit,
                                      reset_seconds=3600, clock=self.clock)
        self.httpd = server.make_server(self.standin)
        # A short poll interval: shutdown() waits for the loop to look, 0.5 s by default.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,),
                                       daemon=True)
        self.thread.start()
        self.port = self.httpd.server_address[1]

    def tearDown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def call(self, method: str, path: str, token: str | None = "full", body: Any = None,
             raw_body: bytes | None = None, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {TOKENS.get(token, token)}"
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=sent)
        res = conn.getresponse()
        text = res.read()
        got = {k.lower(): v for k, v in res.getheaders()}
        conn.close()
        if got.get("content-type", "").startswith("application/json") and text:
            return res.status, got, json.loads(text)
        return res.status, got, text.decode()

    def all_pages(self, path: str, key: str, per_page: int = 100, token: str = "full"
                  ) -> tuple[list[Any], list[dict[str, Any]]]:
        items: list[Any] = []
        paginations = []
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}per_page={per_page}"
        while True:
            status, _, body = self.call("GET", url, token)
            self.assertEqual(status, 200, body)
            items.extend(body["data"][key])
            paginations.append(body["pagination"])
            if "cursor" not in body["pagination"]:
                return items, paginations
            url = f"{path}{sep}per_page={per_page}&cursor={body['pagination']['cursor']}"


class SeedTest(unittest.TestCase):
    def test_org_json_is_the_seed(self) -> None:
        with open(os.path.join(HERE, "org.json"), encoding="utf-8") as f:
            committed = f.read()
        self.assertEqual(committed, server.org_json(server.build_org()),
                         "org.json is stale: python3 server.py --dump-org > org.json")

    def test_seed_has_what_the_tests_need(self) -> None:
        org = SEED_ORG
        self.assertGreaterEqual(len(org["members"]), 250)
        self.assertGreaterEqual(sum(not m["finalized"] for m in org["members"]), 5)
        self.assertGreaterEqual(sum(r["restrictions"]["enabled"] for r in org["roles"]), 3)
        self.assertTrue(any(m["id"] is None for g in org["directoryGroups"]
                            for m in g["members"]))
        self.assertTrue(all(g["id"].startswith("directory_group_") for g in org["directoryGroups"]))
        developer = next(r for r in org["roles"] if r["id"] == "developer")
        rows = server.role_member_rows(org, developer, "two-rows")
        self.assertIn((["grace-hopper", "explicit"]), [k for k, _ in rows])
        self.assertIn((["grace-hopper", "implicit"]), [k for k, _ in rows])
        self.assertEqual(
            {t["name"] for t in org["tokens"]},
            {"full", "no-members-read", "no-roles-read", "no-directory-groups-read", "writer",
             "team-scoped"})

    def test_checked_with_names_the_pinned_client(self) -> None:
        with open(os.path.join(HERE, "../../hosts/northflank-js-client/package.json"),
                  encoding="utf-8") as f:
            pinned = json.load(f)["dependencies"]["@northflank/js-client"]
        self.assertEqual(server.CHECKED_WITH, f"@northflank/js-client {pinned}")

    def test_same_seed_same_org(self) -> None:
        self.assertEqual(server.build_org(13), server.build_org(13))
        self.assertNotEqual(server.build_org(13)["members"], server.build_org(14)["members"])


class PagingTest(StandinCase):
    def test_cursor_pages_cover_every_member_once_and_the_last_has_no_cursor(self) -> None:
        items, pages = self.all_pages("/v1/org-members", "members")
        self.assertEqual([m["id"] for m in items], [m["id"] for m in SEED_ORG["members"]])
        self.assertEqual(len(pages), 3)
        self.assertEqual([p["count"] for p in pages], [100, 100, len(items) - 200])
        self.assertEqual([p["hasNextPage"] for p in pages], [True, True, False])
        self.assertNotIn("cursor", pages[-1])

    def test_default_page_size_is_50(self) -> None:
        _, _, body = self.call("GET", "/v1/org-members")
        self.assertEqual(len(body["data"]["members"]), 50)
        self.assertEqual(body["pagination"]["count"], 50)

    def test_per_page_outside_1_to_100_is_a_validation_error(self) -> None:
        for bad in ("101", "0", "-1", "ten"):
            status, _, body = self.call("GET", f"/v1/org-members?per_page={bad}")
            self.assertEqual(status, 400, bad)
            self.assertEqual(body["error"]["id"], "nf-invalid-request-query")
            self.assertIn("per_page", body["error"]["details"])

    def test_page_is_one_based_and_past_the_end_is_empty(self) -> None:
        _, _, first = self.call("GET", "/v1/org-members?per_page=100&page=1")
        _, _, third = self.call("GET", "/v1/org-members?per_page=100&page=3")
        _, _, past = self.call("GET", "/v1/org-members?per_page=100&page=9")
        self.assertEqual(first["data"]["members"][0]["id"], SEED_ORG["members"][0]["id"])
        self.assertEqual(third["data"]["members"][0]["id"], SEED_ORG["members"][200]["id"])
        self.assertEqual(past, {"data": {"members": []},
                                "pagination": {"hasNextPage": False, "count": 0}})

    def test_the_cursor_wins_over_page(self) -> None:
        _, _, first = self.call("GET", "/v1/org-members?per_page=100")
        cursor = first["pagination"]["cursor"]
        _, _, both = self.call("GET", f"/v1/org-members?per_page=100&page=3&cursor={cursor}")
        self.assertEqual(both["data"]["members"][0]["id"], SEED_ORG["members"][100]["id"])

    def test_a_garbage_or_foreign_cursor_is_a_400(self) -> None:
        _, _, roles = self.call("GET", "/v1/org-roles?per_page=1")
        foreign = roles["pagination"]["cursor"]
        for cursor in ("garbage!", "eyJub3QiOiJ1cyJ9", foreign):
            status, _, body = self.call("GET", f"/v1/org-members?cursor={cursor}")
            self.assertEqual(status, 400, cursor)
            self.assertEqual(body["error"]["id"], "nf-invalid-cursor")

    def test_keyset_cursor_survives_a_removal_behind_it(self) -> None:
        _, _, first = self.call("GET", "/v1/org-members?per_page=100")
        with self.standin.lock:
            del self.standin.org["members"][0]
        _, _, second = self.call(
            "GET", f"/v1/org-members?per_page=100&cursor={first['pagination']['cursor']}")
        self.assertEqual(second["data"]["members"][0]["id"], SEED_ORG["members"][100]["id"])

    def test_directory_groups_are_not_paginated(self) -> None:
        status, _, body = self.call("GET", "/v1/directory-groups?per_page=1")
        self.assertEqual(status, 200)
        self.assertNotIn("pagination", body)
        self.assertEqual(len(body["data"]["directoryGroups"]), len(SEED_ORG["directoryGroups"]))
        self.assertEqual(set(body["data"]["directoryGroups"][0]),
                         {"id", "name", "idpId", "createdAt", "updatedAt"})

    def test_group_members_page_and_keep_null_ids(self) -> None:
        group = next(g for g in SEED_ORG["directoryGroups"] if g["name"] == "Engineering")
        items, pages = self.all_pages(f"/v1/directory-groups/{group['id']}/members", "members")
        self.assertEqual(len(pages), 2)
        self.assertEqual(len(items), len(group["members"]))
        self.assertEqual(items[-1], {"id": None, "name": "Pat Pending",
                                     "emails": ["pat.pending@example.com"]})

    def test_role_members_type_and_user_id_filters(self) -> None:
        items, _ = self.all_pages("/v1/org-roles/developer/members", "members")
        self.assertEqual([m["type"] for m in items if m["id"] == "grace-hopper"],
                         ["explicit", "implicit"])
        implicit, _ = self.all_pages("/v1/org-roles/developer/members?type=implicit", "members")
        self.assertTrue(implicit and all(m["type"] == "implicit" for m in implicit))
        for query in ("userIds=grace-hopper&userIds=ada-lovelace",
                      "userIds=grace-hopper,ada-lovelace"):
            _, _, body = self.call("GET", f"/v1/org-roles/developer/members?{query}")
            self.assertEqual([(m["id"], m["type"]) for m in body["data"]["members"]],
                             [("grace-hopper", "explicit"), ("grace-hopper", "implicit")])
        _, _, none = self.call("GET", "/v1/org-roles/developer/members?userIds=nobody")
        self.assertEqual(none["data"]["members"], [])
        status, _, _ = self.call("GET", "/v1/org-roles/developer/members?type=other")
        self.assertEqual(status, 400)

    def test_both_membership_as_one_explicit_row(self) -> None:
        self.standin.both_membership = "explicit"
        _, _, body = self.call("GET", "/v1/org-roles/developer/members?userIds=grace-hopper")
        self.assertEqual([m["type"] for m in body["data"]["members"]], ["explicit"])

    def test_an_org_without_directory_sync_has_no_groups(self) -> None:
        self.call("POST", "/__standin/config", None, {"directorySync": False})
        _, _, body = self.call("GET", "/v1/directory-groups")
        self.assertEqual(body, {"data": {"directoryGroups": []}})


class ErrorTest(StandinCase):
    def test_missing_and_invalid_token_are_the_same_bare_401(self) -> None:
        for token in (None, "junkjunkjunk"):
            status, headers, body = self.call("GET", "/v1/org-members", token)
            self.assertEqual(status, 401)
            self.assertEqual(body, {"error": {"status": 401, "message": "Unauthorized"}})
            self.assertEqual(headers["content-type"], "application/json; charset=utf-8")

    def test_missing_permission_is_a_401_with_required_permission(self) -> None:
        cases = [
            ("no-members-read", "GET", "/v1/org-members", "org_admin_members_read"),
            ("no-members-read", "GET",
             f"/v1/directory-groups/{SEED_ORG['directoryGroups'][0]['id']}/members",
             "org_admin_members_read"),
            ("no-roles-read", "GET", "/v1/org-roles", "org_admin_roles_read"),
            ("no-roles-read", "GET", "/v1/directory-groups", "org_admin_roles_read"),
            ("no-directory-groups-read", "GET", "/v1/directory-groups", "org_admin_roles_read"),
            ("team-scoped", "GET", "/v1/org-members", "org_admin_members_read"),
            ("full", "DELETE", "/v1/org-roles/admin/members/ada-lovelace",
             "org_admin_roles_manage"),
        ]
        for token, method, path, permission in cases:
            status, _, body = self.call(method, path, token)
            self.assertEqual(status, 401, (token, path))
            self.assertEqual(body["error"]["details"], {"requiredPermission": permission})
        # Nothing about the resource leaks before the permission check.
        status, _, body = self.call("GET", "/v1/org-roles/no-such-role", "no-roles-read")
        self.assertEqual((status, body["error"]["details"]["requiredPermission"]),
                         (401, "org_admin_roles_read"))
        status, _, _ = self.call("GET", "/v1/org-roles", "no-directory-groups-read")
        self.assertEqual(status, 200)

    def test_unrouted_is_404_even_without_a_token(self) -> None:
        for path in ("/v1/nope", "/v1/org-members/extra", "/v2/org-members", "/"):
            status, _, body = self.call("GET", path, None)
            self.assertEqual(status, 404, path)
            self.assertEqual(body["error"]["message"],
                             "Not found. The requested route does not exist")

    def test_trailing_slash_is_tolerated(self) -> None:
        status, _, _ = self.call("GET", "/v1/org-roles/")
        self.assertEqual(status, 200)

    def test_unknown_role_and_group_are_404(self) -> None:
        status, _, body = self.call("GET", "/v1/org-roles/no-such-role")
        self.assertEqual((status, body["error"]["id"]), (404, "nf-org-role-not-found"))
        status, _, body = self.call("GET", "/v1/directory-groups/directory_group_NOPE/members")
        self.assertEqual((status, body["error"]["id"]), (404, "nf-directory-group-not-found"))

    def test_wrong_method_is_a_plain_text_405_with_allow(self) -> None:
        status, headers, body = self.call("PUT", "/v1/org-members", None)
        self.assertEqual(status, 405)
        self.assertEqual(body, "Method Not Allowed")
        self.assertEqual(headers["allow"], "GET, HEAD")
        self.assertTrue(headers["content-type"].startswith("text/plain"))

    def test_add_member_body_validation(self) -> None:
        cases = [
            (b"", "object"), (b"[1]", "object"), (b"{}", "userId"),
            (b'{"userId": 5}', "userId"), (b'{"userId": "a b"}', "userId"),
            (b'{"userId": "ada-lovelace", "x": 1}', "x"),
        ]
        for raw, field in cases:
            status, _, body = self.call("POST", "/v1/org-roles/unused/members", "writer",
                                        raw_body=raw)
            self.assertEqual(status, 400, raw)
            self.assertEqual(body["error"]["id"], "nf-invalid-request-body")
            self.assertIn(field, body["error"]["details"])

    def test_a_chunked_body_is_refused_with_411(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.putrequest("POST", "/v1/org-roles/unused/members")
        conn.putheader("Authorization", f"Bearer {TOKENS['writer']}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b'13\r\n{"userId":"ken-th"}\r\n0\r\n\r\n')
        res = conn.getresponse()
        self.assertEqual(res.status, 411)
        res.read()
        conn.close()
        self.assertEqual(self.standin.org["roles"][-2]["id"], "unused")
        self.assertEqual(self.standin.org["roles"][-2]["explicitMembers"], [])


class ProvisioningTest(StandinCase):
    def members(self, role: str) -> list[tuple[str, str]]:
        items, _ = self.all_pages(f"/v1/org-roles/{role}/members", "members")
        return [(m["id"], m["type"]) for m in items]

    def test_add_then_conflict_then_remove_then_not_found(self) -> None:
        add = self.call("POST", "/v1/org-roles/unused/members", "writer", {"userId": "ken-thompson"})
        self.assertEqual((add[0], add[2]), (200, {"data": {}}))
        self.assertEqual(self.members("unused"), [("ken-thompson", "explicit")])
        again = self.call("POST", "/v1/org-roles/unused/members", "writer",
                          {"userId": "ken-thompson"})
        self.assertEqual(again[0], 409)
        removed = self.call("DELETE", "/v1/org-roles/unused/members/ken-thompson", "writer")
        self.assertEqual((removed[0], removed[2]), (200, {"data": {}}))
        self.assertEqual(self.members("unused"), [])
        gone = self.call("DELETE", "/v1/org-roles/unused/members/ken-thompson", "writer")
        self.assertEqual(gone[0], 404)

    def test_unknown_user_is_404(self) -> None:
        status, _, body = self.call("POST", "/v1/org-roles/unused/members", "writer",
                                    {"userId": "nobody"})
        self.assertEqual((status, body["error"]["id"]), (404, "nf-org-member-not-found"))

    def test_an_implicit_membership_cannot_be_removed(self) -> None:
        engineering = next(g for g in SEED_ORG["directoryGroups"] if g["name"] == "Engineering")
        implicit_only = next(i for i, t in self.members("developer") if t == "implicit"
                             and (i, "explicit") not in self.members("developer"))
        status, _, body = self.call(
            "DELETE", f"/v1/org-roles/developer/members/{implicit_only}", "writer")
        self.assertEqual(status, 409)
        self.assertEqual(body["error"]["details"], {"directoryGroups": [engineering["id"]]})

    def test_removing_the_explicit_half_leaves_the_implicit_one(self) -> None:
        status, _, _ = self.call("DELETE", "/v1/org-roles/developer/members/grace-hopper",
                                 "writer")
        self.assertEqual(status, 200)
        self.assertEqual([t for i, t in self.members("developer") if i == "grace-hopper"],
                         ["implicit"])
        status, _, _ = self.call("POST", "/v1/org-roles/developer/members", "writer",
                                 {"userId": "grace-hopper"})
        self.assertEqual(status, 200)
        self.assertEqual([t for i, t in self.members("developer") if i == "grace-hopper"],
                         ["explicit", "implicit"])

    def test_admin_org_view_follows_writes_and_reset_restores_the_seed(self) -> None:
        self.call("POST", "/v1/org-roles/unused/members", "writer", {"userId": "ada-lovelace"})
        _, _, view = self.call("GET", "/__standin/org", None)
        self.assertEqual(view["roleMembers"]["unused"], [{"id": "ada-lovelace",
                                                          "type": "explicit"}])
        implicit = [m for m in view["roleMembers"]["viewer"] if m["type"] == "implicit"]
        self.assertTrue(all(m["directoryGroups"] for m in implicit))
        self.call("POST", "/__standin/reset", None)
        _, _, view = self.call("GET", "/__standin/org", None)
        self.assertEqual(view["roleMembers"]["unused"], [])
        _, _, log = self.call("GET", "/__standin/requests", None)
        self.assertEqual(log["count"], 0)
        _, _, about = self.call("GET", "/__standin/about", None)
        self.assertEqual((about["synthetic"], about["checkedWith"]),
                         (True, server.CHECKED_WITH))


class RateLimitTest(StandinCase):
    rate_limit = 3

    def test_headers_count_down_then_429_then_the_window_resets(self) -> None:
        remaining = []
        for _ in range(3):
            status, headers, _ = self.call("GET", "/v1/org-roles?per_page=1")
            self.assertEqual(status, 200)
            remaining.append(headers["x-ratelimit-remaining"])
            self.assertEqual(headers["x-ratelimit-limit"], "3")
        self.assertEqual(remaining, ["2", "1", "0"])
        self.clock.now += 600.2
        status, headers, body = self.call("GET", "/v1/org-roles")
        self.assertEqual(status, 429)
        self.assertEqual(body["error"]["status"], 429)
        self.assertEqual(headers["x-ratelimit-remaining"], "0")
        self.assertEqual(headers["x-ratelimit-reset"], "3000")
        self.assertNotIn("retry-after", headers)
        self.clock.now += 3000
        status, headers, _ = self.call("GET", "/v1/org-roles")
        self.assertEqual((status, headers["x-ratelimit-remaining"]), (200, "2"))

    def test_errors_carry_the_headers_and_only_authenticated_calls_count(self) -> None:
        status, headers, _ = self.call("GET", "/v1/org-members", None)
        self.assertEqual((status, headers["x-ratelimit-remaining"]), (401, "3"))
        status, headers, _ = self.call("GET", "/v1/nope")
        self.assertEqual((status, headers["x-ratelimit-remaining"]), (404, "3"))
        status, headers, _ = self.call("GET", "/v1/org-members", "no-members-read")
        self.assertEqual((status, headers["x-ratelimit-remaining"]), (401, "2"))

    def test_retry_after_on_request_and_remaining_set_by_admin(self) -> None:
        self.standin.retry_after = True
        self.call("POST", "/__standin/config", None, {"remaining": 0})
        status, headers, _ = self.call("GET", "/v1/org-roles")
        self.assertEqual(status, 429)
        self.assertEqual(headers["retry-after"], headers["x-ratelimit-reset"])

    def test_request_log_names_tokens_never_their_values(self) -> None:
        self.call("GET", "/v1/org-roles")
        self.call("GET", "/v1/org-roles", "junk")
        _, _, log = self.call("GET", "/__standin/requests", None)
        self.assertEqual([r["token"] for r in log["requests"]], ["full", "invalid"])
        self.assertNotIn(TOKENS["full"], json.dumps(log))


if __name__ == "__main__":
    unittest.main()
