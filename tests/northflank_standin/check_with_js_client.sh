#!/usr/bin/env bash
# Runs Northflank's own JS client (hosts/northflank-js-client/check.mjs, @northflank/js-client
# pinned there) against the stand-in on a free loopback port. Installs the client with `npm ci`
# only when package.json or package-lock.json changed (a stamp in node_modules, as the Makefile's
# node-host target does). Exit status: check.mjs's (0 = the client sees the seeded organisation).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
client=$(cd "$here/../../hosts/northflank-js-client" && pwd)

command -v node >/dev/null && command -v npm >/dev/null || {
  echo "check_with_js_client: install Node.js 20+ and npm" >&2; exit 1; }

want=$(cat "$client/package.json" "$client/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$client/node_modules/.installed" 2>/dev/null)" != "$want" ]; then
  # --ignore-scripts: the client's optional native helpers (bufferutil, utf-8-validate) are not
  # needed for HTTP and their install scripts would compile code.
  npm ci --prefix "$client" --ignore-scripts --loglevel=error --no-audit --no-fund >/dev/null
  echo "$want" > "$client/node_modules/.installed"
fi

out=$(mktemp)
python3 "$here/server.py" --port 0 >"$out" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$out"' EXIT

url=
for _ in $(seq 1 100); do
  url=$(sed -n 's/^listening on //p' "$out" | head -n1)
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { echo "check_with_js_client: the stand-in did not start" >&2; exit 1; }
  sleep 0.05
done
[ -n "$url" ] || { echo "check_with_js_client: the stand-in printed no address" >&2; exit 1; }

node "$client/check.mjs" "$url"
