# Sourceable: config.env plus the Airflow environment the test server runs with.
# Lets you run the CLI against the test server by hand, e.g.
#   . scripts/airflow/airflow-env.sh && "$AIRFLOW_VENV/bin/airflow" users list
# shellcheck shell=bash

# shellcheck source=config.env
. "$(dirname "${BASH_SOURCE[0]}")/config.env"

export AIRFLOW_HOME
# FAB auth manager: the connector talks to /auth/fab/v1/{users,roles,permissions}.
export AIRFLOW__CORE__AUTH_MANAGER=airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///${AIRFLOW_HOME}/airflow.db"
export AIRFLOW__API__WORKERS=1
# Fixed secrets so tokens and sessions survive a restart. Loopback test server only.
export AIRFLOW__API_AUTH__JWT_SECRET=airflow-connector-test-jwt-secret-not-for-production
export AIRFLOW__API__SECRET_KEY=airflow-connector-test-api-secret-not-for-production
# Without an issuer some Airflow/PyJWT combinations answer 500 on /auth/token.
export AIRFLOW__API_AUTH__JWT_ISSUER=airflow-connector-test
if [[ -n "${AIRFLOW_TOKEN_TTL:-}" ]]; then
  export AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME="$AIRFLOW_TOKEN_TTL"
fi

AIRFLOW_PIDFILE="$AIRFLOW_HOME/api-server.pid"
AIRFLOW_LOG="$AIRFLOW_HOME/api-server.log"
export AIRFLOW_PIDFILE AIRFLOW_LOG
