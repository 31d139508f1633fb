#!/usr/bin/env bash
# A private MIT Kerberos KDC on 127.0.0.1 for the live Kerberos tests (realm, port, principals and
# state directory: kerberos.env).
#
#   scripts/kerberos/kdc.sh up            install the Kerberos packages if missing (apt-get), create
#                                         the realm, the Airflow server's service principal
#                                         airflow/<fqdn> in a keytab, the test users, and start
#                                         the KDC. Idempotent: a running KDC is kept.
#   scripts/kerberos/kdc.sh down [--wipe] stop the KDC by its PID (--wipe also deletes the realm)
#   scripts/kerberos/kdc.sh packages      only install the packages (CI does it while Rust builds)
#   scripts/kerberos/kdc.sh env           the exports a shell needs to use the realm, e.g.
#                                         eval "$(scripts/kerberos/kdc.sh env)"; kinit alice
#
# <fqdn> is what the Airflow server's `airflow.utils.net.getfqdn()` answers on this machine: the
# FAB kerberos_auth backend accepts tickets for airflow/<that name> only. It is computed with the
# Airflow 2.11 venv's Python when that exists, else with the same code on the system's python3;
# KRB5_SERVICE_HOST overrides it. The name found is kept in $KRB5_STATE_DIR/service-host.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=kerberos.env
. "$here/kerberos.env"

K=$KRB5_STATE_DIR
PIDFILE=$K/kdc.pid
export KRB5_CONFIG=$KRB5_CONF_FILE KRB5_KDC_PROFILE=$K/kdc.conf
log() { printf '[kdc] %s\n' "$*" >&2; }

# Commands the realm needs -> the Debian package that brings them. libkrb5-dev (krb5-config) is
# for the Airflow server's `pip install kerberos`, which compiles against it.
PACKAGES=(krb5kdc:krb5-kdc kdb5_util:krb5-kdc kadmin.local:krb5-admin-server kinit:krb5-user
  klist:krb5-user kdestroy:krb5-user krb5-config:libkrb5-dev)

install_packages() {
  local missing=() pair
  # One installer at a time: CI installs the packages while up.sh may be asking for them too.
  mkdir -p "$K"
  exec 7>"$K/.apt.lock"
  flock 7
  for pair in "${PACKAGES[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if ((${#missing[@]} == 0)); then
    exec 7>&-
    return 0
  fi
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    log "missing Kerberos packages: ${missing[*]} (Debian/Ubuntu names); install them as root"
    exit 1
  fi
  log "installing ${missing[*]} (apt-get)"
  local t0=$SECONDS apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet. The lock timeout: another program may be
  # installing packages.
  "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >"$K/apt.log" 2>&1 || {
    "${apt[@]}" update >>"$K/apt.log" 2>&1 &&
      "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >>"$K/apt.log" 2>&1
  } || { tail -n 20 "$K/apt.log" >&2; exit 1; }
  exec 7>&-
  log "installed in $((SECONDS - t0)) s"
}

# The Airflow 2.11 venv of scripts/airflow (config.env), if it is installed.
airflow_python() {
  local venv=${AIRFLOW_VENV:-}
  if [[ -z "$venv" ]]; then
    venv=$(AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=kerberos AIRFLOW_VERSION='' bash -c \
      '. "$1" >/dev/null 2>&1 && echo "$AIRFLOW_VENV"' _ "$here/../airflow/config.env" || true)
  fi
  [[ -n "$venv" && -x "$venv/bin/python" ]] && echo "$venv/bin/python"
}

service_host() {
  if [[ -n "${KRB5_SERVICE_HOST:-}" ]]; then
    echo "$KRB5_SERVICE_HOST"
    return
  fi
  local py host scratch
  if py=$(airflow_python); then
    # Importing airflow writes into AIRFLOW_HOME: a scratch one.
    scratch=$(mktemp -d)
    host=$(AIRFLOW_HOME=$scratch "$py" -c \
      'from airflow.utils.net import getfqdn; print(getfqdn())' 2>/dev/null || true)
    rm -rf "$scratch"
    if [[ -n "$host" ]]; then
      echo "$host"
      return
    fi
  fi
  # airflow.utils.net.getfqdn() of Airflow 2.11, for a machine without the venv yet.
  python3 - <<'PY'
import socket
name = socket.gethostname()
try:
    addrs = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
except OSError:
    addrs = []
print(next((a[3] for a in addrs if a[3]), name))
PY
}

write_config() {
  # rdns and dns_canonicalize_hostname off: the SPN's host is used as given, never replaced by
  # what DNS says about it.
  cat >"$KRB5_CONF_FILE" <<CONF
[libdefaults]
    default_realm = $KRB5_REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
[realms]
    $KRB5_REALM = {
        kdc = 127.0.0.1:$KRB5_KDC_PORT
    }
CONF
  cat >"$K/kdc.conf" <<CONF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$KRB5_KDC_PORT
    kdc_tcp_listen = 127.0.0.1:$KRB5_KDC_PORT
[realms]
    $KRB5_REALM = {
        database_name = $K/principal
        key_stash_file = $K/stash
        acl_file = $K/kadm5.acl
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:$K/kdc.log
CONF
  : >"$K/kadm5.acl"
}

kadmin() { kadmin.local -q "$1" >>"$K/kadmin.log" 2>&1; }
has_principal() { kadmin.local -q "getprinc $1" 2>/dev/null | grep -q '^Principal:'; }

ensure_user() { # name password
  has_principal "$1" || kadmin "addprinc -pw $2 $1"
}

kdc_alive() {
  [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null &&
    [[ "$(ps -o comm= -p "$(cat "$PIDFILE")")" == krb5kdc ]]
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$KRB5_KDC_PORT") 2>/dev/null; }

up() {
  mkdir -p "$K"
  chmod 700 "$K"
  exec 9>"$K/.lock"
  flock 9
  install_packages
  write_config
  if [[ ! -f "$K/principal" ]]; then
    log "creating realm $KRB5_REALM in $K"
    kdb5_util create -s -r "$KRB5_REALM" -P "kdc-master-$KRB5_REALM" >>"$K/kadmin.log" 2>&1
  fi
  local host spn
  host=$(service_host)
  spn="airflow/$host"
  if ! klist -k "$KRB5_AIRFLOW_KEYTAB" 2>/dev/null | grep -q " $spn@$KRB5_REALM\$"; then
    log "service principal $spn@$KRB5_REALM into $KRB5_AIRFLOW_KEYTAB"
    has_principal "$spn" || kadmin "addprinc -randkey $spn"
    kadmin "ktadd -k $KRB5_AIRFLOW_KEYTAB $spn"
  fi
  echo "$host" >"$KRB5_SERVICE_HOST_FILE"
  ensure_user "$KRB5_USER" "$KRB5_USER_PASSWORD"
  ensure_user "$KRB5_STRANGER" "$KRB5_STRANGER_PASSWORD"
  if kdc_alive; then
    log "KDC already running (pid $(cat "$PIDFILE")) for $KRB5_REALM on 127.0.0.1:$KRB5_KDC_PORT"
    return
  fi
  if port_open; then
    log "port $KRB5_KDC_PORT is in use by a process this script did not start; stop it or set KRB5_KDC_PORT"
    exit 1
  fi
  # 7>&- 9>&-: the KDC must not hold this script's locks. -n: it stays in the foreground, so
  # $! is its PID.
  setsid krb5kdc -n </dev/null >>"$K/kdc.out" 2>&1 7>&- 9>&- &
  echo $! >"$PIDFILE"
  for _ in $(seq 50); do
    port_open && break
    kdc_alive || { log "krb5kdc exited:"; tail -n 20 "$K/kdc.out" "$K/kdc.log" >&2 2>/dev/null; exit 1; }
    sleep 0.1
  done
  port_open || { log "krb5kdc is not listening after 5 s"; exit 1; }
  log "KDC for $KRB5_REALM on 127.0.0.1:$KRB5_KDC_PORT (pid $(cat "$PIDFILE")); service $spn; users $KRB5_USER, $KRB5_STRANGER"
}

down() {
  local wipe=0
  [[ "${1:-}" == --wipe ]] && wipe=1
  if kdc_alive; then
    local pid
    pid=$(cat "$PIDFILE")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    log "stopped the KDC (pid $pid)"
  else
    log "no KDC running from $K"
  fi
  rm -f "$PIDFILE"
  if ((wipe)) && [[ -f "$K/kdc.conf" ]]; then
    rm -rf -- "$K"
    log "wiped $K"
  fi
}

case "${1:-}" in
  up) up ;;
  packages) install_packages ;;
  down) shift; down "$@" ;;
  env)
    echo "export KRB5_CONFIG=$KRB5_CONF_FILE"
    echo "# the harness's SPN: airflow@$(cat "$KRB5_SERVICE_HOST_FILE" 2>/dev/null || echo '<run kdc.sh up>')"
    ;;
  *) echo "usage: $0 up | down [--wipe] | packages | env" >&2; exit 2 ;;
esac
