#!/usr/bin/env bash
# Live suite of host-provided Kerberos (AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=kerberos, port 28085;
# scripts/test-live.sh runs this for that variant): the realm's KDC on loopback
# (scripts/kerberos/kdc.sh, started by up.sh; started again here if it was stopped), then the
# checks of scripts/kerberos/live_kerberos.py: kinit, a full sync with host_auth=negotiate checked
# against the server, its recording replayed without a ticket, a grant and a revoke, kdestroy and
# the `kinit` error, a principal without an Airflow user, an SPN the KDC does not know, and no
# token in any output. Arguments go to live_kerberos.py, e.g.
# --keep-cassette tests/cassettes/airflow-2.11-kerberos/sync.json to re-record that cassette.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=airflow/airflow-env.sh
source scripts/airflow/airflow-env.sh
if [[ "$AIRFLOW_SERIES" != 2.11 || "$AIRFLOW_AUTH" != kerberos ]]; then
    echo "live_kerberos.sh: needs AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=kerberos (got $AIRFLOW_SERIES, $AIRFLOW_AUTH)" >&2
    exit 2
fi
scripts/kerberos/kdc.sh up
AIRFLOW_BASE_URL=$AIRFLOW_BASE_URL AIRFLOW_ADMIN_USER=$AIRFLOW_ADMIN_USER \
    AIRFLOW_ADMIN_PASSWORD=$AIRFLOW_ADMIN_PASSWORD python3 scripts/kerberos/live_kerberos.py "$@"
echo "test-live: passed"
