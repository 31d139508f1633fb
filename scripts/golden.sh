#!/usr/bin/env bash
# Regenerates the golden sync outputs by replaying the committed cassettes. Review the diff:
# a golden file is what the tests hold the connector to.
set -euo pipefail
cd "$(dirname "$0")/.."
for cassette in tests/cassettes/*/sync*.json; do
    series=$(basename "$(dirname "$cassette")")
    name=$(basename "$cassette" .json)
    mkdir -p "tests/golden/$series"
    target/debug/host-harness --replay "$cassette" sync --out "tests/golden/$series/$name.jsonl"
    echo "golden: tests/golden/$series/$name.jsonl"
done
