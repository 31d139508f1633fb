# shellcheck shell=bash
# Sourced by airflow-env.sh when AIRFLOW_AUTH=kerberos (Airflow 2.11 only): the server-side
# Kerberos settings. Filled in by the Kerberos work (scripts/kerberos/).
export AIRFLOW__API__AUTH_BACKENDS=airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,airflow.providers.fab.auth_manager.api.auth.backend.kerberos_auth
