#!/usr/bin/env bash
# Live suite of the Airflow 2.11 server left on Airflow's default API backend, the session cookie
# of the web form login (AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=default, port 28084; scripts/test-live.sh
# runs this for that variant): syncs as the admin and as svc-sync with the default settings
# (auth_mode auto chooses the form login), a provisioning round trip and the wrong-password error,
# each checked against the server's own answers (scripts/live_session.py). Paced by Airflow's
# login rate limit (5 per 40 s), it takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=airflow/config.env
source scripts/airflow/config.env
if [[ "$AIRFLOW_SERIES" != 2.11 || "$AIRFLOW_AUTH" != default ]]; then
    echo "live_session.sh: needs AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=default (got $AIRFLOW_SERIES, $AIRFLOW_AUTH)" >&2
    exit 2
fi
AIRFLOW_BASE_URL=$AIRFLOW_BASE_URL AIRFLOW_ADMIN_USER=$AIRFLOW_ADMIN_USER \
    AIRFLOW_ADMIN_PASSWORD=$AIRFLOW_ADMIN_PASSWORD AIRFLOW_SEED_USER_PASSWORD=$AIRFLOW_SEED_USER_PASSWORD \
    python3 scripts/live_session.py
echo "test-live: passed"
