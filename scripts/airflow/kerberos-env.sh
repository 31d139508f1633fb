# shellcheck shell=bash
# Sourced by airflow-env.sh when AIRFLOW_AUTH=kerberos (Airflow 2.11 only): the server-side
# Kerberos settings. The realm, its KDC and the keytab are scripts/kerberos/'s (kdc.sh), which
# up.sh starts first; docs/kerberos.md explains each setting.

# shellcheck source=../kerberos/kerberos.env
. "$(dirname "${BASH_SOURCE[0]}")/../kerberos/kerberos.env"

# The FAB provider's Kerberos backend, with Basic beside it so the admin scripts (seed.py,
# check_sync.py) keep working; Airflow appends the session backend itself.
export AIRFLOW__API__AUTH_BACKENDS=airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,airflow.providers.fab.auth_manager.api.auth.backend.kerberos_auth
# The keytab of airflow/<getfqdn()>@REALM, the only principal this backend accepts tickets for.
export AIRFLOW__KERBEROS__KEYTAB=$KRB5_AIRFLOW_KEYTAB
# The acceptor needs the realm's default_realm, not a KDC.
export KRB5_CONFIG=$KRB5_CONF_FILE
