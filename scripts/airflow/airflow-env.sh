# Sourceable: config.env plus the Airflow environment the test server runs with.
# Lets you run the CLI against the test server by hand, e.g.
#   . scripts/airflow/airflow-env.sh && "$AIRFLOW_VENV/bin/airflow" users list
#   AIRFLOW_SERIES=2.11 . scripts/airflow/airflow-env.sh && "$AIRFLOW_VENV/bin/airflow" users list
# shellcheck shell=bash

# shellcheck source=config.env
. "$(dirname "${BASH_SOURCE[0]}")/config.env"

export AIRFLOW_HOME
# FAB auth manager on every generation: the connector talks to
# /auth/fab/v1/{users,roles,permissions} (Airflow 3) or /api/v1/... (Airflow 2).
export AIRFLOW__CORE__AUTH_MANAGER=airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///${AIRFLOW_HOME}/airflow.db"

# HTTP Basic (plus the browser session) for the FAB REST API of the Basic-only generations.
AIRFLOW_FAB_BASIC_BACKENDS=airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,airflow.providers.fab.auth_manager.api.auth.backend.session

case "$AIRFLOW_API" in
  v1)  # Airflow 2: Flask webserver (gunicorn), stable REST API under /api/v1.
    AIRFLOW_SERVER_CMD=webserver
    case "$AIRFLOW_AUTH" in
      basic) export AIRFLOW__API__AUTH_BACKENDS="$AIRFLOW_FAB_BASIC_BACKENDS" ;;
      # Nothing set: Airflow 2's default backend, the session cookie of the form login.
      default) unset AIRFLOW__API__AUTH_BACKENDS ;;
      kerberos) # shellcheck source=kerberos-env.sh
        . "$(dirname "${BASH_SOURCE[0]}")/kerberos-env.sh" ;;
    esac
    export AIRFLOW__WEBSERVER__WORKERS="$AIRFLOW_WORKERS"
    # Fixed so sessions survive a restart (otherwise a random key lands in airflow.cfg).
    export AIRFLOW__WEBSERVER__SECRET_KEY=airflow-connector-test-webserver-secret-not-for-production
    ;;
  *)   # Airflow 3: FastAPI api-server.
    AIRFLOW_SERVER_CMD=api-server
    export AIRFLOW__API__WORKERS="$AIRFLOW_WORKERS"
    # Fixed secrets so tokens and sessions survive a restart. Loopback test server only.
    export AIRFLOW__API_AUTH__JWT_SECRET=airflow-connector-test-jwt-secret-not-for-production
    export AIRFLOW__API__SECRET_KEY=airflow-connector-test-api-secret-not-for-production
    # Without an issuer Airflow 3.0 with current PyJWT answers 500 on /auth/token.
    export AIRFLOW__API_AUTH__JWT_ISSUER=airflow-connector-test
    if [[ -n "${AIRFLOW_TOKEN_TTL:-}" ]]; then
      export AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME="$AIRFLOW_TOKEN_TTL"
    fi
    if [[ "$AIRFLOW_API" == connexion ]]; then
      # The Connexion FAB API (FAB provider <= 3.1) accepts only these backends; JWTs get 401.
      export AIRFLOW__FAB__AUTH_BACKENDS="$AIRFLOW_FAB_BASIC_BACKENDS"
    fi
    ;;
esac

# Same file names as before for 3.x (api-server.*); Airflow 2 uses webserver.*.
AIRFLOW_PIDFILE="$AIRFLOW_HOME/$AIRFLOW_SERVER_CMD.pid"
AIRFLOW_LOG="$AIRFLOW_HOME/$AIRFLOW_SERVER_CMD.log"
export AIRFLOW_SERVER_CMD AIRFLOW_PIDFILE AIRFLOW_LOG
