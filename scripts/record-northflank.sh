#!/usr/bin/env bash
# Records the Northflank cassettes (tests/cassettes/northflank/) from the stand-in
# (tests/northflank_standin/server.py) through the harness's record mode, which scrubs the API
# token, then writes the golden sync output (tests/golden/northflank/) by replaying them.
# Every cassette is synthetic: the stand-in is not Northflank. Each one is stamped with what the
# stand-in says it is (GET /__standin/about: the client version its fidelity was checked with)
# and `"synthetic": true`. `make record-northflank` builds the component and harness first.
set -euo pipefail
cd "$(dirname "$0")/.."

harness=target/debug/host-harness
dir=tests/cassettes/northflank
golden=tests/golden/northflank
scratch=$(mktemp -d)
mkdir -p "$dir" "$golden"

python3 tests/northflank_standin/server.py --port 0 >"$scratch/server.out" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$scratch"' EXIT
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/^listening on //p' "$scratch/server.out" | head -n1)
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { echo "record-northflank: the stand-in did not start" >&2; exit 1; }
    sleep 0.05
done
[ -n "$url" ] || { echo "record-northflank: the stand-in printed no address" >&2; exit 1; }

admin() { curl -fsS -X "$1" -H 'content-type: application/json' ${3:+--data "$3"} "$url/__standin/$2"; }
token() { admin GET tokens | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]]["token"])' "$1"; }
checked_with=$(admin GET about | python3 -c 'import json,sys; a=json.load(sys.stdin); assert a["synthetic"] is True; print(a["checkedWith"])')
source_text="synthetic: Northflank stand-in (tests/northflank_standin, seed 13) on 127.0.0.1, checked with $checked_with; not the real service"

# run NAME TOKEN EXPECT [CONFIG] -- harness-args...; EXPECT is ok or fail. The stand-in starts
# from its seed for every cassette, so each one is independent of the others; CONFIG is a JSON
# object for POST /__standin/config applied after that.
run() {
    local name=$1 token_name=$2 expect=$3 config=$4
    shift 5
    admin POST reset '{}' >/dev/null
    [ -n "$config" ] && admin POST config "$config" >/dev/null
    echo "recording $dir/$name.json"
    if NORTHFLANK_BASE_URL=$url NORTHFLANK_API_TOKEN=$(token "$token_name") \
        "$harness" --connector northflank --record "$dir/$name.json" --source "$source_text" "$@" \
        >"$scratch/$name.out" 2>"$scratch/$name.err"; then
        [ "$expect" = ok ] || { echo "  expected a failure, got success" >&2; exit 1; }
    else
        [ "$expect" = fail ] || { cat "$scratch/$name.err" >&2; exit 1; }
        echo "  failed as expected: $(tail -n 1 "$scratch/$name.err")"
    fi
    # The harness marks recordings as taken from a live system; this one is a stand-in.
    python3 - "$dir/$name.json" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
text, n = re.subn(r'^  "synthetic": false,$', '  "synthetic": true,', text, count=1, flags=re.M)
if n != 1 and '\n  "synthetic": true,' not in text:
    sys.exit(f"{path}: no top-level `synthetic` field to set")
open(path, "w", encoding="utf-8").write(text)
PY
}

run sync                        full                     ok   '' -- sync --out "$scratch/sync.jsonl"
run validate                    full                     ok   '' -- validate
# The least-privilege matrix: a token missing one read scope fails before any data is written.
for t in no-members-read no-roles-read no-directory-groups-read; do
    run "$t-validate"           "$t"                     fail '' -- validate
    run "$t-sync"               "$t"                     fail '' -- sync --out "$scratch/$t.jsonl"
    [ ! -e "$scratch/$t.jsonl" ] || { echo "  $t: sync left output behind" >&2; exit 1; }
done
run team-scoped-validate        team-scoped              fail '' -- validate
run grants-developer            full                     ok   '' -- grants --resource role:developer
# The budget already spent: the first answer is a 429 whose reset becomes the retry-after.
run rate-limited                full                     fail '{"remaining": 0}' -- validate

# The harness scrubs the token; check that no test token's value reached a cassette.
admin GET tokens | python3 -c '
import json, pathlib, sys
tokens = [t["token"] for t in json.load(sys.stdin).values()]
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    text = path.read_text(encoding="utf-8")
    leaked = [t for t in tokens if t in text or t.split(".")[-1] in text]
    if leaked:
        sys.exit(f"{path}: holds a test token")
print("record-northflank: no token in any cassette")' "$dir"

NORTHFLANK_API_TOKEN=replay-placeholder-not-a-token \
    "$harness" --connector northflank --replay "$dir/sync.json" sync --out "$golden/sync.jsonl"
echo "golden: $golden/sync.jsonl ($(wc -l <"$golden/sync.jsonl") lines); review the diff"
