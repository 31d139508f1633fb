#!/usr/bin/env bash
# The live suites of all three Airflow generations, laid out for CI's two cores.
#
#   scripts/ci-live.sh prepare   install, start and seed Airflow 3.3, 3.0 and 2.11 at once, in the
#                                background of the Rust build (pip mostly waits on the network)
#   scripts/ci-live.sh run       wait for `prepare`, then `make test-live` on each generation in
#                                turn, so the concurrency rounds run on an otherwise quiet machine
#                                (or one loaded on purpose: LOAD, or LOAD_<series> such as LOAD_3_3;
#                                ROUNDS and ROUNDS_<series>, CHURN and CHURN_<series> likewise)
#
# Each step logs to tests/out/live/<series>-{prepare,test}.log and prints its duration; a failure
# prints the tail of the log that explains it.
set -euo pipefail
cd "$(dirname "$0")/.."
# series[:auth]: the auth variants of Airflow 2.11 are separate servers (config.env, AIRFLOW_AUTH).
SERIES=(3.3 3.0 2.11 2.11:default 2.11:kerberos)
logs=tests/out/live
mkdir -p "$logs"

series_of() { echo "${1%%:*}"; }
auth_of() { [[ "$1" == *:* ]] && echo "${1#*:}" || echo basic; }

prepare_one() { # series[:auth]
  local s=$1 t0=$SECONDS
  export AIRFLOW_SERIES AIRFLOW_AUTH
  AIRFLOW_SERIES=$(series_of "$s") AIRFLOW_AUTH=$(auth_of "$s")
  if scripts/airflow/up.sh && make --no-print-directory seed; then
    echo "ok $((SECONDS - t0))" >"$logs/$s-prepare.status"
  else
    echo "failed $((SECONDS - t0))" >"$logs/$s-prepare.status"
  fi
}

case "${1:-}" in
  prepare)
    for s in "${SERIES[@]}"; do
      rm -f "$logs/$s-prepare.status"
      prepare_one "$s" >"$logs/$s-prepare.log" 2>&1 </dev/null &
    done
    echo "ci-live: preparing Airflow ${SERIES[*]} in the background (logs in $logs/)"
    ;;
  run)
    failed=0
    for s in "${SERIES[@]}"; do
      t0=$SECONDS
      until [[ -f "$logs/$s-prepare.status" ]]; do
        if (( SECONDS - t0 > ${PREPARE_TIMEOUT:-1200} )); then
          echo "ci-live: Airflow $s still not prepared after $((SECONDS - t0)) s" >&2
          tail -n 30 "$logs/$s-prepare.log" >&2 || true
          exit 1
        fi
        sleep 5
      done
      read -r state took <"$logs/$s-prepare.status"
      echo "ci-live: Airflow $s installed, started and seeded in $took s ($state)"
      if [[ "$state" != ok ]]; then
        tail -n 40 "$logs/$s-prepare.log" >&2
        failed=1
        continue
      fi
      t0=$SECONDS
      # Per-series concurrency settings win over ROUNDS and LOAD, e.g. ROUNDS_3_3=50 LOAD_3_3=2.
      key=${s//[.:]/_}
      rounds_var=ROUNDS_$key load_var=LOAD_$key churn_var=CHURN_$key
      if ROUNDS=${!rounds_var:-${ROUNDS:-}} LOAD=${!load_var:-${LOAD:-0}} \
          CHURN=${!churn_var:-${CHURN:-1}} AIRFLOW_SERIES=$(series_of "$s") \
          AIRFLOW_AUTH=$(auth_of "$s") scripts/test-live.sh >"$logs/$s-test.log" 2>&1; then
        echo "ci-live: test-live on Airflow $s passed in $((SECONDS - t0)) s:" \
          "$(grep -E '^[0-9]+ passed' "$logs/$s-test.log" | tail -n 1)"
      else
        echo "ci-live: test-live on Airflow $s FAILED after $((SECONDS - t0)) s; last lines:" >&2
        tail -n 40 "$logs/$s-test.log" >&2
        failed=1
      fi
      AIRFLOW_SERIES=$(series_of "$s") AIRFLOW_AUTH=$(auth_of "$s") scripts/airflow/down.sh \
        >/dev/null 2>&1 || true
    done
    exit "$failed"
    ;;
  *)
    echo "usage: scripts/ci-live.sh prepare|run" >&2
    exit 2
    ;;
esac
