#!/usr/bin/env bash
# Stop the loopback Airflow server started by up.sh (same AIRFLOW_SERIES / AIRFLOW_PORT).
# Idempotent. `--wipe` also deletes its AIRFLOW_HOME (sqlite DB, logs), so the
# next up.sh starts from an empty directory; the shared venv is kept.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=airflow-env.sh
. "$here/airflow-env.sh"

wipe=0
for arg in "$@"; do
  case "$arg" in
    --wipe) wipe=1 ;;
    -h|--help) echo "usage: $0 [--wipe]"; exit 0 ;;
    *) echo "unknown argument: $arg (usage: $0 [--wipe])" >&2; exit 2 ;;
  esac
done
log() { printf '[airflow-down] %s\n' "$*" >&2; }

descendants() { # all descendant pids of $1 (workers may not stay in our process group)
  local c
  for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done
}

pid=""
[[ -f "$AIRFLOW_PIDFILE" ]] && pid="$(cat "$AIRFLOW_PIDFILE")"
# Only act on a live process that is really an airflow server (pids get reused).
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ "$(ps -o args= -p "$pid")" == *airflow* ]]; then
  pids="$pid $(descendants "$pid" | tr '\n' ' ')"
  log "stopping $AIRFLOW_SERVER_CMD (pid $pid, process group $pid)"
  # up.sh starts it with setsid, so its pid is also its process group id.
  # shellcheck disable=SC2086 # word splitting of $pids is intended
  kill -TERM -- "-$pid" $pids 2>/dev/null || true
  for _ in $(seq 60); do  # uvicorn / gunicorn shut down gracefully within a few seconds
    alive=0
    # shellcheck disable=SC2086
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.5
  done
  if (( alive )); then
    log "still running after 30 s: SIGKILL"
    # shellcheck disable=SC2086
    kill -KILL -- "-$pid" $pids 2>/dev/null || true
  fi
  log "stopped"
else
  log "no $AIRFLOW_SERVER_CMD running for $AIRFLOW_HOME (port $AIRFLOW_PORT)"
fi
rm -f "$AIRFLOW_PIDFILE"

if (( wipe )) && [[ -d "$AIRFLOW_HOME" ]]; then
  # Guard against an AIRFLOW_HOME override pointing somewhere precious.
  if [[ -f "$AIRFLOW_HOME/airflow.cfg" || -f "$AIRFLOW_HOME/airflow.db" ]]; then
    rm -rf -- "$AIRFLOW_HOME"
    log "wiped $AIRFLOW_HOME"
  else
    log "refusing to wipe $AIRFLOW_HOME: it does not look like an Airflow home"
    exit 1
  fi
fi
