#!/usr/bin/env bash
# Composes a connector component with the generic command adapter into one command component
# for `wasmtime run`: the adapter's contract imports come from the connector, and the
# connector's outgoing HTTP goes through http-counter (so the summary counts requests) on its
# way to the host.
#
# usage: scripts/compose-command.sh WASM_TOOLS CONNECTOR.wasm ADAPTER.wasm COUNTER.wasm OUT.wasm
set -euo pipefail

if [ $# -ne 5 ]; then
  echo "usage: $0 WASM_TOOLS CONNECTOR.wasm ADAPTER.wasm COUNTER.wasm OUT.wasm" >&2
  exit 2
fi
wasm_tools=$1 connector=$(realpath "$2") adapter=$3 counter=$(realpath "$4") out=$5

# Both the contract and WASI versions are pinned by the WIT of each side; a mismatch fails
# the composition rather than leaving an import open.
contract=governance:connector
http=wasi:http/outgoing-handler@0.2.12
config=$(mktemp --suffix=.yml)
trap 'rm -f "$config" "$out.tmp"' EXIT
cat > "$config" <<YAML
dependencies:
  connector: "$connector"
  http-counter: "$counter"
instantiations:
  root:
    arguments:
      $contract/types@0.1.0: { instance: connector, export: $contract/types@0.1.0 }
      $contract/connector@0.1.0: { instance: connector, export: $contract/connector@0.1.0 }
      governance:command/http-requests@0.1.0: { instance: counter, export: governance:command/http-requests@0.1.0 }
  connector:
    dependency: connector
    arguments:
      $http: { instance: counter, export: $http }
  counter:
    dependency: http-counter
YAML
# `compose` is deprecated upstream in favour of wac, which has no prebuilt release on the
# package registries this project installs from. It prints that warning on every run, so its
# messages are shown only when it fails.
if ! log=$("$wasm_tools" compose --config "$config" -o "$out.tmp" "$adapter" 2>&1); then
  echo "$log" >&2
  exit 1
fi
# Nothing is left for the host to supply but WASI.
if "$wasm_tools" component wit "$out.tmp" | grep -E '^\s*import ' | grep -v ' wasi:' >&2; then
  echo "compose-command: the composed component still imports the above" >&2
  exit 1
fi
mv -f "$out.tmp" "$out"
