#!/usr/bin/env bash
# What the AIRFLOW_AUTH=kerberos variant of the Airflow 2.11 test server needs besides the usual
# set-up; up.sh calls it (the environment is airflow-env.sh's, with kerberos-env.sh's settings).
#
#   airflow-server.sh realm      the KDC, the service keytab and the test principals (kdc.sh up)
#   airflow-server.sh packages   the Python Kerberos modules the FAB backend imports, in the venv
#   airflow-server.sh config     `AUTH_ROLE_PUBLIC = None` in webserver_config.py
#
# Every step is idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[airflow-kerberos] %s\n' "$*" >&2; }

case "${1:-}" in
  realm)
    "$here/kdc.sh" up
    ;;
  packages)
    # `kerberos` is a C extension built against libkrb5-dev (kdc.sh up installs it). The FAB
    # module also imports requests_kerberos, whose own dependencies would compile the gssapi
    # and krb5 sdists the server never uses: --no-deps.
    # The venv is shared by the 2.11 variants, which up.sh may be preparing at the same time.
    exec 8>"$AIRFLOW_STATE_DIR/.pip-kerberos.lock"
    flock 8
    if ! "$AIRFLOW_VENV/bin/python" -c 'import kerberos, requests_kerberos' 2>/dev/null; then
      log "pip install kerberos requests-kerberos pyspnego into $AIRFLOW_VENV"
      t0=$SECONDS
      "$AIRFLOW_VENV/bin/pip" install --quiet kerberos
      "$AIRFLOW_VENV/bin/pip" install --quiet --no-deps requests-kerberos pyspnego
      log "installed in $((SECONDS - t0)) s"
    fi
    ;;
  config)
    # FAB provider 1.5.4 defaults AUTH_ROLE_PUBLIC to "Public", and its kerberos_auth then skips
    # the Negotiate header altogether: every request would be anonymous (403).
    cfg=$AIRFLOW_HOME/webserver_config.py
    if [[ ! -f "$cfg" ]]; then
      # What `airflow webserver` would write on its first start; it keeps a file already there.
      "$AIRFLOW_VENV/bin/python" - "$cfg" <<'PY'
import importlib.util, pathlib, shutil, sys
airflow = pathlib.Path(importlib.util.find_spec("airflow").submodule_search_locations[0])
shutil.copy(airflow / "config_templates" / "default_webserver_config.py", sys.argv[1])
PY
    fi
    if ! grep -qx 'AUTH_ROLE_PUBLIC = None' "$cfg"; then
      printf '\n# Kerberos API auth (scripts/kerberos/airflow-server.sh): no anonymous role.\nAUTH_ROLE_PUBLIC = None\n' >>"$cfg"
      log "AUTH_ROLE_PUBLIC = None appended to $cfg"
    fi
    ;;
  *)
    echo "usage: $0 realm | packages | config" >&2
    exit 2
    ;;
esac
