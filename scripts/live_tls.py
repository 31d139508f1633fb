#!/usr/bin/env python3
"""Live TLS test: the running Airflow behind a local HTTPS reverse proxy, under the path prefix
/airflow, with a certificate from a CA this script makes (openssl CLI) — as an enterprise
serves an internal tool.

Checks, through target/debug/host-harness:
  1. without the CA: the sync fails at once (one TLS handshake, no retries) with the
     unknown-issuer error naming --ca-file, exit status 2;
  2. with --ca-file: a full sync succeeds and its output equals the plain-HTTP sync's (but for
     the syncing account's own last_login and login_count, which each sign-in moves); the same
     with the CA named by AIRFLOW_CA_FILE instead;
  3. a certificate for another host name: the wrong-host error naming base_url, at once;
  4. a proxy requiring a client certificate (mutual TLS): without one, the error naming
     --client-cert and --client-key, at once; with them, the same sync as over plain HTTP.

The proxy is Python's stdlib (http.server + ssl), in this process, bound to 127.0.0.1.

usage: live_tls.py   (env AIRFLOW_BASE_URL, AIRFLOW_USERNAME, AIRFLOW_PASSWORD)
"""
import http.client
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_api import login_slot  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "target" / "debug" / "host-harness"
PREFIX = "/airflow"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "host", "content-length"}


def openssl(workdir, *args):
    subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)


def make_pki(workdir):
    """ca.pem, and certificates it signed, each with its .key: good.pem (server: localhost,
    127.0.0.1), other.pem (server: other.example only), client.pem (a client's)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl(workdir, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Live TLS Test CA")
    for name, san, usage in [("good", "DNS:localhost,IP:127.0.0.1", "serverAuth"),
                             ("other", "DNS:other.example", "serverAuth"),
                             ("client", "DNS:governance.test", "clientAuth")]:
        Path(workdir, f"{name}.ext").write_text(
            f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
            f"keyUsage=digitalSignature\nextendedKeyUsage={usage}\n")
        openssl(workdir, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", "/CN=airflow behind a proxy")
        openssl(workdir, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey",
                "ca.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                "-extfile", f"{name}.ext")


class Proxy(http.server.ThreadingHTTPServer):
    """HTTPS on 127.0.0.1, forwarding PREFIX/... to the upstream Airflow (prefix removed)."""
    daemon_threads = True

    def __init__(self, workdir, cert, upstream, client_ca=False):
        super().__init__(("127.0.0.1", 0), Handler)
        self.upstream = urllib.parse.urlsplit(upstream)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(Path(workdir, f"{cert}.pem"), Path(workdir, f"{cert}.key"))
        if client_ca:
            # Mutual TLS: only clients with a certificate from the test CA.
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(Path(workdir, "ca.pem"))
        self.connections = 0
        self.lock = threading.Lock()

    def get_request(self):
        sock, addr = self.socket.accept()
        with self.lock:
            self.connections += 1
        # The handshake happens here; a client that refuses the certificate ends it with an
        # alert, which socketserver drops as a failed accept.
        return self.context.wrap_socket(sock, server_side=True), addr

    def url(self):
        return f"https://127.0.0.1:{self.server_address[1]}{PREFIX}"

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def forward(self):
        if not (self.path == PREFIX or self.path.startswith(PREFIX + "/")):
            self.send_error(404, "outside the proxied prefix")
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        # As Airflow's nginx example does (`proxy_set_header Host $http_host`): the client's
        # Host, which Flask-WTF compares with the Referer of a form POST over HTTPS.
        headers["Host"] = self.headers.get("host", "")
        headers["X-Forwarded-Proto"] = "https"
        headers["X-Forwarded-Prefix"] = PREFIX
        conn.request(self.command, self.path[len(PREFIX):] or "/", body=body, headers=headers)
        res = conn.getresponse()
        data = res.read()
        self.send_response(res.status, res.reason)
        for k, v in res.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = forward


def harness(args, base_url, extra_env=None, timeout=120):
    env = dict(os.environ, AIRFLOW_BASE_URL=base_url)
    env.pop("AIRFLOW_CA_FILE", None)
    env.update(extra_env or {})
    started = time.monotonic()
    proc = subprocess.run([str(HARNESS), *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=timeout)
    return proc, time.monotonic() - started


def comparable(path):
    """The sync's lines, except that the syncing account's own sign-in counters are blanked:
    every sync signs in, so they move between any two syncs."""
    me = os.environ["AIRFLOW_USERNAME"]
    out = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("type") == "resource" and row.get("id") == me and "user" in row:
            row["user"]["last_login"] = row["user"]["login_count"] = "(this sync's sign-in)"
            line = json.dumps(row)
        out.append(line)
    return "\n".join(out)


failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f"\n     {detail}" if not ok and detail else ""))
    if not ok:
        failures.append(name)


def expect_refusal(name, proxy, args, words, extra_env=None):
    before = proxy.connections
    proc, took = harness(["sync", *args], proxy.url(), extra_env)
    err = proc.stderr.strip()
    check(f"{name}: exit status 2", proc.returncode == 2, f"status {proc.returncode}: {err}")
    check(f"{name}: the error names the problem and its fix", all(w in err for w in words),
          f"want {words} in: {err}")
    check(f"{name}: no retry (one connection)", proxy.connections - before == 1,
          f"{proxy.connections - before} connections")
    check(f"{name}: fails fast", took < 5, f"{took:.1f} s")
    check(f"{name}: nothing on stdout", proc.stdout == "", proc.stdout[:200])
    for line in err.splitlines():
        print(f"     | {line}")


def main():
    upstream = os.environ["AIRFLOW_BASE_URL"].rstrip("/")
    with tempfile.TemporaryDirectory() as work:
        make_pki(work)
        ca = str(Path(work, "ca.pem"))
        good = Proxy(work, "good", upstream).start()
        other = Proxy(work, "other", upstream).start()

        plain_out = Path(work, "plain.jsonl")
        proc, took = harness(["sync", "--out", str(plain_out)], upstream)
        check("plain HTTP sync", proc.returncode == 0, proc.stderr)
        print(f"     plain HTTP sync: {took:.1f} s")

        expect_refusal("HTTPS without the CA", good, [],
                       ["TLS certificate not trusted", "unknown issuer",
                        "--ca-file PATH (config `ca_file`, env AIRFLOW_CA_FILE)"])

        for label, args, env in [("--ca-file", ["--ca-file", ca], None),
                                 ("AIRFLOW_CA_FILE", [], {"AIRFLOW_CA_FILE": ca})]:
            out = Path(work, f"tls-{label}.jsonl")
            proc, took = harness(["sync", "--out", str(out), *args], good.url(), env)
            check(f"HTTPS with the CA ({label}) under {PREFIX}: sync succeeds",
                  proc.returncode == 0, proc.stderr)
            if proc.returncode == 0 and plain_out.exists():
                want, got = comparable(plain_out), comparable(out)
                first = next((f"plain: {a}\n     https: {b}" for a, b in
                              zip(want.splitlines(), got.splitlines()) if a != b),
                             f"{len(want.splitlines())} lines against {len(got.splitlines())}")
                check(f"HTTPS with the CA ({label}): output equals the plain-HTTP sync",
                      want == got, first)
            print(f"     HTTPS sync ({label}): {took:.1f} s")

        expect_refusal("certificate for another host", other, ["--ca-file", ca],
                       ["TLS certificate for the wrong host", "other.example",
                        "not for 127.0.0.1", "set base_url"])

        mutual = Proxy(work, "good", upstream, client_ca=True).start()
        expect_refusal("mutual TLS without a client certificate", mutual, ["--ca-file", ca],
                       ["TLS handshake refused by the server", "CertificateRequired",
                        "--client-cert and --client-key"])
        out = Path(work, "tls-mutual.jsonl")
        proc, took = harness(["sync", "--out", str(out), "--ca-file", ca, "--client-cert",
                              str(Path(work, "client.pem")), "--client-key",
                              str(Path(work, "client.key"))], mutual.url())
        check("mutual TLS with --client-cert and --client-key: sync succeeds",
              proc.returncode == 0, proc.stderr)
        if proc.returncode == 0:
            check("mutual TLS: output equals the plain-HTTP sync",
                  comparable(out) == comparable(plain_out))
        print(f"     HTTPS sync (mutual TLS): {took:.1f} s")

        # The form login through the proxy: over HTTPS Flask-WTF wants a same-origin Referer on
        # the login POST, which plain HTTP never asks for. Where the server has the form
        # (Airflow 2 at /login/, 3.0 at /auth/login/).
        if os.environ.get("AIRFLOW_API") in ("v1", "connexion"):
            out = Path(work, "tls-session.jsonl")
            login_slot(upstream)
            proc, took = harness(["sync", "--out", str(out), "--ca-file", ca], good.url(),
                                 {"AIRFLOW_AUTH_MODE": "session"})
            check(f"HTTPS with the CA under {PREFIX}, session login: sync succeeds",
                  proc.returncode == 0, proc.stderr)
            if proc.returncode == 0:
                check("HTTPS, session login: output equals the plain-HTTP sync",
                      comparable(out) == comparable(plain_out))
                check("HTTPS, session login: the summary says so",
                      "auth: session cookie" in proc.stderr, proc.stderr[-400:])
            print(f"     HTTPS sync (session login): {took:.1f} s")
        for proxy in (good, other, mutual):
            proxy.shutdown()

    if failures:
        print(f"live_tls: {len(failures)} check(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("live_tls: passed")


if __name__ == "__main__":
    main()
