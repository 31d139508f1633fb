#!/usr/bin/env bash
# Start (or reuse) a real Apache Airflow server on 127.0.0.1 for the connector's
# integration tests: `airflow api-server` for AIRFLOW_SERIES=3.3 (default) and 3.0,
# `airflow webserver` for 2.11 (see config.env). Idempotent: safe to run again at any time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=airflow-env.sh
. "$here/airflow-env.sh"

START_TIMEOUT="${AIRFLOW_START_TIMEOUT:-300}"
log() { printf '[airflow-up] %s\n' "$*" >&2; }

mkdir -p "$AIRFLOW_STATE_DIR" "$AIRFLOW_HOME"

# Serialise concurrent up.sh runs (shared venv, shared home).
exec 9>"$AIRFLOW_STATE_DIR/.up-${AIRFLOW_PORT}.lock"
flock 9

http_code() { # METHOD URL [curl args...] -> HTTP status ("000" when unreachable)
  local method=$1 url=$2; shift 2
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$method" "$url" "$@" || true
}
ready() {
  local c
  if [[ "$AIRFLOW_API" == v1 ]]; then
    # Airflow 2: one Flask app serves health and the REST API; no /auth/token.
    [[ "$(http_code GET "$AIRFLOW_BASE_URL/api/v1/health")" == 200 ]] || return 1
    c="$(http_code GET "$AIRFLOW_BASE_URL/api/v1/users?limit=1")"  # 403 without credentials
    [[ "$c" != 404 && "$c" != 000 ]]
    return
  fi
  [[ "$(http_code GET "$AIRFLOW_BASE_URL/api/v2/monitor/health")" == 200 ]] || return 1
  # The health route can answer before the auth routes are mounted; {} -> 400 once they are.
  c="$(http_code POST "$AIRFLOW_BASE_URL/auth/token" -H 'Content-Type: application/json' -d '{}')"
  [[ "$c" != 404 && "$c" != 000 ]] || return 1
  # The FAB user API (401 without credentials once mounted).
  c="$(http_code GET "$AIRFLOW_BASE_URL/auth/fab/v1/users?limit=1")"
  [[ "$c" != 404 && "$c" != 000 ]]
}
pid_alive() { [[ -f "$AIRFLOW_PIDFILE" ]] && kill -0 "$(cat "$AIRFLOW_PIDFILE")" 2>/dev/null; }
# AIRFLOW_AUTH=kerberos: the realm's KDC (scripts/kerberos/) must run whenever the server does.
# Its service principal is named after the venv's getfqdn(), so it is made once the venv exists.
kerberos=$here/../kerberos/airflow-server.sh
kerberos_realm=0
if [[ "$AIRFLOW_AUTH" == kerberos && -x "$AIRFLOW_VENV/bin/python" ]]; then
  "$kerberos" realm
  kerberos_realm=1
fi

# 1. Already running?
if pid_alive && ready; then
  log "already running (pid $(cat "$AIRFLOW_PIDFILE"))"
  echo "$AIRFLOW_BASE_URL"
  exit 0
fi

# 2. venv with exactly the pinned versions.
installed_versions() {
  "$AIRFLOW_VENV/bin/python" - <<'PY' 2>/dev/null || true
import importlib.metadata as m
print(m.version("apache-airflow"), m.version("apache-airflow-providers-fab"))
PY
}
# The auth variants of one series share the venv, and CI prepares them at once: one installs,
# the others wait for it here and then find it done.
exec 8>"$AIRFLOW_VENV.lock"
flock 8
if [[ "$(installed_versions)" != "$AIRFLOW_VERSION $FAB_VERSION" ]]; then
  log "installing apache-airflow==$AIRFLOW_VERSION apache-airflow-providers-fab==$FAB_VERSION into $AIRFLOW_VENV"
  [[ -x "$AIRFLOW_VENV/bin/python" ]] || python3 -m venv "$AIRFLOW_VENV"
  t0=$SECONDS
  "$AIRFLOW_VENV/bin/pip" install --quiet \
    "apache-airflow==$AIRFLOW_VERSION" "apache-airflow-providers-fab==$FAB_VERSION"
  log "installed in $((SECONDS - t0)) s"
fi
exec 8>&-
airflow="$AIRFLOW_VENV/bin/airflow"
if [[ "$AIRFLOW_AUTH" == kerberos ]]; then
  ((kerberos_realm)) || "$kerberos" realm
  "$kerberos" packages
fi

# 3. Something else on our port (no live pid of ours)? Refuse rather than seed a stranger.
if ! pid_alive; then
  rm -f "$AIRFLOW_PIDFILE"
  if [[ "$(http_code GET "$AIRFLOW_BASE_URL/")" != 000 ]]; then
    log "port $AIRFLOW_PORT is in use by a process not started from $AIRFLOW_HOME; stop it or set AIRFLOW_PORT"
    exit 1
  fi

  # 4. Schema and admin user. Both commands are idempotent; the marker skips the
  # ~10 s CLI start-up on warm restarts.
  marker="$AIRFLOW_HOME/.initialised-${AIRFLOW_VERSION}-${FAB_VERSION}"
  if [[ ! -f "$marker" ]]; then
    log "airflow db migrate"
    "$airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 ||
      { tail -n 40 "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
    log "creating admin user '$AIRFLOW_ADMIN_USER' (if missing)"
    "$airflow" users create --username "$AIRFLOW_ADMIN_USER" --password "$AIRFLOW_ADMIN_PASSWORD" \
      --firstname Admin --lastname User --role Admin --email "${AIRFLOW_ADMIN_USER}@example.com" \
      >"$AIRFLOW_HOME/users-create.log" 2>&1 ||
      { tail -n 40 "$AIRFLOW_HOME/users-create.log" >&2; exit 1; }
    touch "$marker"
  fi
  [[ "$AIRFLOW_AUTH" != kerberos ]] || "$kerberos" config

  # 5. Start detached in its own session/process group so down.sh can stop the
  # server together with the worker processes it forks.
  log "starting $AIRFLOW_SERVER_CMD (Airflow $AIRFLOW_VERSION) on $AIRFLOW_BASE_URL (log: $AIRFLOW_LOG)"
  if [[ "$AIRFLOW_SERVER_CMD" == webserver ]]; then
    server_args=(webserver --hostname 127.0.0.1 --port "$AIRFLOW_PORT" --workers "$AIRFLOW_WORKERS")
  else
    server_args=(api-server --host 127.0.0.1 --port "$AIRFLOW_PORT" --workers "$AIRFLOW_WORKERS")
  fi
  # 9>&-: the server must not inherit (and so hold forever) the up.sh lock.
  setsid "$airflow" "${server_args[@]}" </dev/null >>"$AIRFLOW_LOG" 2>&1 9>&- &
  echo $! >"$AIRFLOW_PIDFILE"
fi

# 6. Wait until health is 200 and the auth/user routes are mounted.
t0=$SECONDS
until ready; do
  if ! pid_alive; then
    log "$AIRFLOW_SERVER_CMD exited during start-up; last log lines:"
    tail -n 40 "$AIRFLOW_LOG" >&2
    rm -f "$AIRFLOW_PIDFILE"
    exit 1
  fi
  if (( SECONDS - t0 > START_TIMEOUT )); then
    log "$AIRFLOW_SERVER_CMD not ready after ${START_TIMEOUT} s (pid $(cat "$AIRFLOW_PIDFILE")); last log lines:"
    tail -n 40 "$AIRFLOW_LOG" >&2
    exit 1
  fi
  sleep 2
done
log "ready after $((SECONDS - t0)) s (pid $(cat "$AIRFLOW_PIDFILE"))"
echo "$AIRFLOW_BASE_URL"
