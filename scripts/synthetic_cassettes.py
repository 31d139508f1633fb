#!/usr/bin/env python3
"""Writes the fault suite's hand-made cassettes (tests/cassettes/synthetic/).

Each one is a real Airflow 3.3 recording (tests/cassettes/airflow-3.3/) with one fault put in:
every request and every other answer stays as the real server gave it. They are marked
`"synthetic": true` and their `source` says why a real server was not used. Rerun after
re-recording: python3 scripts/synthetic_cassettes.py
"""
import copy
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
REAL = ROOT / "tests/cassettes/airflow-3.3"
OUT = ROOT / "tests/cassettes/synthetic"

SYNC = json.loads((REAL / "sync.json").read_text())
# The sign-in tells the generation (no probe); pages after the first start on the last row of
# the one before (offsets 0, 99, 198).
TOKEN, USERS0, USERS100, USERS200, ROLES0 = SYNC["interactions"]
CREATE = json.loads((REAL / "provision/create-account.json").read_text())
HTML = {"content-type": "text/html; charset=utf-8", "server": "nginx/1.26.2"}


def answer(interaction, status, headers=None, json_body=None, text=None):
    out = copy.deepcopy(interaction)
    out["response"] = {"status": status, "headers": headers or {}}
    if json_body is not None:
        out["response"]["json"] = json_body
    if text is not None:
        out["response"]["text"] = text
    return out


def with_body(interaction, **body):
    out = copy.deepcopy(interaction)
    out["response"].pop("json", None)
    out["response"].pop("text", None)
    out["response"].update(body)
    return out


def write(name, why, interactions, base=SYNC):
    cassette = {
        "format": base["format"],
        "source": f"synthetic fault, hand-made from {base['source']}: {why}",
        "recorded_at": base["recorded_at"],
        "synthetic": True,
        "settings": base["settings"],
        "interactions": interactions,
    }
    (OUT / f"{name}.json").write_text(json.dumps(cassette, indent=2, ensure_ascii=False) + "\n")


def json_headers(status_headers=None):
    h = dict(USERS0["response"]["headers"])
    h.update(status_headers or {})
    return h


users0_text = json.dumps(USERS0["response"]["json"])
page_json = USERS100["response"]["json"]

write("malformed-json", "Airflow always sends well-formed JSON; a broken proxy or encoder does not",
      [TOKEN, USERS0, with_body(USERS100, text=json.dumps(page_json).replace("}, {", "} {", 1))])
write("truncated-body", "a connection cut mid-body; a healthy server never sends half a page",
      [TOKEN, with_body(USERS0, text=users0_text[: len(users0_text) // 2])])
write("html-404-page", "a proxy in front of Airflow that does not route the API path",
      [TOKEN, answer(USERS0, 404, HTML, text="<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
                            "<body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>\n")])
write("html-500-page", "a proxy's error page; Airflow's own errors are JSON",
      [TOKEN, answer(USERS0, 500, HTML, text="<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n"
                            "<body><center><h1>500 Internal Server Error</h1></center></body></html>\r\n")])
write("429-then-success", "rate limiting needs a gateway in front of Airflow; the recordings had none",
      [TOKEN, USERS0,
       answer(USERS100, 429, json_headers({"retry-after": "1"}), json_body={"detail": "Too Many Requests"}),
       USERS100, USERS200, ROLES0])
write("503-then-success", "a restarting server behind a proxy, which a recording cannot time",
      [TOKEN, USERS0, USERS100, USERS200,
       answer(ROLES0, 503, {"content-type": "text/plain", "retry-after": "1"}, text="Service Unavailable"),
       ROLES0])
write("503-forever", "a server that stays down behind a proxy",
      [TOKEN] + [answer(USERS0, 503, {"content-type": "text/plain", "retry-after": "1"},
                               text="Service Unavailable")] * 4)
write("token-expired-mid-sync", "the JWT lives 24 h on the recorded server; a sync does not take that long",
      [TOKEN, USERS0,
       answer(USERS100, 401, json_headers(), json_body={"detail": "Token Expired"}),
       TOKEN, USERS100, USERS200, ROLES0])
# The repeated page looks like 99 rows added before the listing's place, so the connector reads
# the third page 25 rows early (its widest overlap) and then sees the repeat a second time.
third = with_body(USERS200, json=USERS0["response"]["json"])
third["request"]["url"] = third["request"]["url"].replace("offset=198", "offset=174")
write("endless-paging", "a server (or cache) that ignores `offset` and repeats the first page",
      [TOKEN, USERS0, with_body(USERS100, json=USERS0["response"]["json"]), third])
last_json = USERS200["response"]["json"]
write("empty-page-before-total", "a server whose total_entries promises rows its pages never deliver",
      [TOKEN, USERS0, USERS100, with_body(USERS200, json=dict(last_json, users=last_json["users"][:10]))])
# A user added at the end between two page requests: total_entries changes, nothing shifts.
late = dict(last_json["users"][-1], username="late.joiner", email="late.joiner@example.com",
            created_on="2026-12-01T09:00:00.000001", changed_on="2026-12-01T09:00:00.000001")
write("total-changed-mid-sync", "a user added between two page requests, which a recording cannot time",
      [TOKEN, USERS0, with_body(USERS100, json=dict(page_json, total_entries=272)),
       with_body(USERS200, json=dict(last_json, users=last_json["users"] + [late], total_entries=272)),
       ROLES0])
write("wrong-content-type", "a proxy that relabels the API's answers",
      [TOKEN, answer(USERS0, 200, json_headers({"content-type": "text/plain; charset=utf-8"}),
                            text=users0_text)])
write("redirect-to-another-host", "an SSO proxy that redirects API calls to its login page",
      [TOKEN, answer(USERS0, 302, {"location": "https://sso.example.com/login?next=%2Fauth%2Ffab%2Fv1%2Fusers",
                                          "content-type": "text/html"}, text="<a href=\"https://sso.example.com/login\">Found</a>")])
token, post = CREATE["interactions"]
write("422-list-detail", "FastAPI's validation answer to an address its e-mail check rejects; the "
      "recorded server accepted every address sent", [token, answer(post, 422, json_headers(), json_body={
          "detail": [{"type": "value_error", "loc": ["body", "email"],
                      "msg": "value is not a valid email address: The part after the @-sign is not valid.",
                      "input": "rec.alice@example.com"}]})], base=CREATE)
