#!/usr/bin/env bash
# Live tests against the real Airflow that `make airflow-up seed` runs: a full sync through the
# harness in live mode, checked against the server's own answers by scripts/check_sync.py, the
# same over HTTPS through a private CA (scripts/live_tls.py), then provisioning
# (scripts/live_provision.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=airflow/config.env
source scripts/airflow/config.env
# The auth variants of Airflow 2.11 have suites of their own.
case "$AIRFLOW_AUTH" in
  default) exec scripts/live_session.sh ;;
  kerberos) exec scripts/live_kerberos.sh ;;
esac
# These suites are about HTTP Basic on the servers that take it (the JWT on FastAPI FAB is
# unaffected): `auto` would choose the session login, whose login Airflow allows 5 times in
# 40 s, and the provisioning rounds run the harness dozens of times. The session login has
# live_session.sh (on 3.0, live_session.py at the end), and one HTTPS check in live_tls.py.
export AIRFLOW_AUTH_MODE=password
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export AIRFLOW_BASE_URL AIRFLOW_USERNAME=$AIRFLOW_ADMIN_USER AIRFLOW_PASSWORD=$AIRFLOW_ADMIN_PASSWORD
target/debug/host-harness sync --out "$out/sync.jsonl" --stats-json "$out/stats.json"
python3 scripts/check_sync.py "$out/sync.jsonl" "$out/stats.json"
# The same through the least-privilege account.
AIRFLOW_USERNAME=svc-sync AIRFLOW_PASSWORD=$AIRFLOW_SEED_USER_PASSWORD \
    target/debug/host-harness sync --out "$out/sync-lp.jsonl" --stats-json "$out/stats-lp.json"
python3 scripts/check_sync.py "$out/sync-lp.jsonl" "$out/stats-lp.json"
# Four pages in flight (page_concurrency): the same directory, with the same requests (check_sync
# counts them).
AIRFLOW_PAGE_CONCURRENCY=4 \
    target/debug/host-harness sync --out "$out/sync-4.jsonl" --stats-json "$out/stats-4.json"
python3 scripts/check_sync.py "$out/sync-4.jsonl" "$out/stats-4.json"
# HTTPS through a private CA, behind a local TLS proxy under a path prefix: the clear
# unknown-issuer error without the CA, the plain sync's output with it (--ca-file and
# AIRFLOW_CA_FILE), the wrong-host error for a certificate naming another host, and mutual TLS
# (the error without a client certificate, the same sync with one).
python3 scripts/live_tls.py
# Provisioning round trips, the gate, error paths, the role lifecycle and ROUNDS (default 20)
# rounds of concurrent role changes, with LOAD (default 0) CPU burners running meanwhile, each
# checked against the server's own answers (the script detects the API generation and checks it
# matches AIRFLOW_SERIES).
AIRFLOW_ADMIN_USER=$AIRFLOW_ADMIN_USER AIRFLOW_ADMIN_PASSWORD=$AIRFLOW_ADMIN_PASSWORD \
    python3 scripts/live_provision.py --rounds "${ROUNDS:-20}" --load "${LOAD:-0}"
# Sync under churn: a paced sync while throwaway users are deleted and created; every user
# present throughout must be listed exactly once (CHURN_POOL throwaway users, default 200;
# CHURN_PAUSE seconds between churn rounds, default 0.2).
# CHURN=0 skips it (CI runs it on Airflow 3.3 only, for time).
if [[ "${CHURN:-1}" != 0 ]]; then
    AIRFLOW_ADMIN_USER=$AIRFLOW_ADMIN_USER AIRFLOW_ADMIN_PASSWORD=$AIRFLOW_ADMIN_PASSWORD \
        python3 scripts/live_churn.py ${CHURN_POOL:+--pool "$CHURN_POOL"}
fi
# Airflow 3.0 takes the form login beside Basic on the same server, and `auto` chooses it there:
# the session-login suite with default settings (syncs checked by check_sync.py, a provisioning
# round trip, the wrong password), paced by Airflow's login limit.
if [[ "$AIRFLOW_API" == connexion ]]; then
    (unset AIRFLOW_AUTH_MODE; python3 scripts/live_session.py)
fi
echo "test-live: passed"
