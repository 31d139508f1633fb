#!/usr/bin/env bash
# Regenerates the golden sync outputs by replaying the committed cassettes. Review the diff:
# a golden file is what the tests hold the connector to.
set -euo pipefail
cd "$(dirname "$0")/.."
for cassette in tests/cassettes/*/sync*.json; do
    series=$(basename "$(dirname "$cassette")")
    name=$(basename "$cassette" .json)
    mkdir -p "tests/golden/$series"
    case $series in
        # The Northflank cassettes (synthetic, from its stand-in) replay through its connector;
        # replay matches requests without their token, so any value stands in for it.
        northflank) NORTHFLANK_API_TOKEN=replay-placeholder-not-a-token \
            target/debug/host-harness --connector northflank --replay "$cassette" sync --out "tests/golden/$series/$name.jsonl" ;;
        *) target/debug/host-harness --replay "$cassette" sync --out "tests/golden/$series/$name.jsonl" ;;
    esac
    echo "golden: tests/golden/$series/$name.jsonl"
done
