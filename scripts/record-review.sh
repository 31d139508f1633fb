#!/usr/bin/env bash
# Records the access-review fixtures (issue 15) from a real Airflow 3.3 on loopback, into
# tests/fixtures/review/airflow-3.3/ (REVIEW_FIXTURES overrides):
#   before.jsonl       a sync of the seeded directory plus seed.py's review findings (a custom
#                      admin-equivalent role and its member, a stale, a never-used, a
#                      failed-sign-in and a disabled account)
#   after.jsonl        a sync after three changes made through the harness: a grant, a revoke
#                      and a new account
#   after-again.jsonl  a second sync with nothing changed in between
#   taken-at           when before.jsonl was taken (UTC), for `report --taken-at`
# Then it undoes the three changes and removes the review findings (also when it fails
# halfway), leaving the server as `make seed` leaves it. Needs `make component harness`;
# starts the server if it is not running. Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
export AIRFLOW_SERIES=3.3
# shellcheck source=airflow/config.env
source scripts/airflow/config.env
out=${REVIEW_FIXTURES:-tests/fixtures/review/airflow-3.3}
harness=target/debug/host-harness
[[ -x $harness ]] || { echo "record-review: $harness is missing: run make component harness" >&2; exit 1; }

scripts/airflow/up.sh >/dev/null
python3 scripts/airflow/seed.py --review-findings add

export AIRFLOW_BASE_URL AIRFLOW_USERNAME=$AIRFLOW_ADMIN_USER AIRFLOW_PASSWORD=$AIRFLOW_ADMIN_PASSWORD
provision() { "$harness" --provisioning provision "$@" >/dev/null; }

# The changes: `anna maria` (Viewer) gains Op, `d.evans` loses Data Engineer, `rev.new` is
# created with Viewer.
GRANT=(--entitlement role:Op:member --principal "user:anna maria")
REVOKE=(--entitlement "role:Data Engineer:member" --principal user:d.evans)
undo() {
    set +e
    echo "record-review: undoing the changes and removing the review findings"
    provision revoke "${GRANT[@]}"
    provision grant "${REVOKE[@]}"
    provision delete-account --principal user:rev.new
    python3 scripts/airflow/seed.py --review-findings remove >/dev/null || \
        echo "record-review: the server differs from the directory: run make seed" >&2
}
trap undo EXIT

mkdir -p "$out"
date -u +%Y-%m-%dT%H:%M:%SZ >"$out/taken-at"
"$harness" sync --out "$out/before.jsonl"
provision grant "${GRANT[@]}"
provision revoke "${REVOKE[@]}"
provision create-account --login rev.new --email rev.new@example.com --first-name Rita \
    --last-name New --role Viewer
"$harness" sync --out "$out/after.jsonl"
"$harness" sync --out "$out/after-again.jsonl"

set +e
"$harness" diff "$out/before.jsonl" "$out/after.jsonl"
echo "record-review: diff exit status $? (1: different)"
"$harness" diff "$out/after.jsonl" "$out/after-again.jsonl"
echo "record-review: diff exit status $? (0: equal)"
