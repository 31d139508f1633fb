#!/usr/bin/env bash
# Re-records the replay cassettes from the running, seeded real Airflow (`make record` starts and
# seeds it first). Every cassette is written by the harness's record mode, which scrubs secrets.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=airflow/config.env
source scripts/airflow/config.env

harness=target/debug/host-harness
series=${AIRFLOW_VERSION%.*}                  # 3.3.2 -> 3.3
dir=tests/cassettes/airflow-$series
source_text="real Airflow $AIRFLOW_VERSION + FAB provider $FAB_VERSION on 127.0.0.1, seeded from tests/fixtures/directory.json"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/provision"
mkdir -p "$dir"

# run NAME USER PASSWORD EXPECT -- harness-args...; EXPECT is ok or fail.
run() {
    local name=$1 user=$2 password=$3 expect=$4
    shift 5
    echo "recording $dir/$name.json"
    if AIRFLOW_BASE_URL=$AIRFLOW_BASE_URL AIRFLOW_USERNAME=$user AIRFLOW_PASSWORD=$password \
        "$harness" --record "$dir/$name.json" --source "$source_text" "$@" >"$scratch/$name.out" 2>"$scratch/$name.err"; then
        [ "$expect" = ok ] || { echo "  expected a failure, got success" >&2; exit 1; }
    else
        [ "$expect" = fail ] || { cat "$scratch/$name.err" >&2; exit 1; }
        echo "  failed as expected: $(tail -n 1 "$scratch/$name.err")"
    fi
}

admin=$AIRFLOW_ADMIN_USER pw=$AIRFLOW_ADMIN_PASSWORD
p=$dir/provision
mkdir -p "$p"
prov() { local name=$1 expect=$2; shift 2; run "provision/$name" "$admin" "$pw" "$expect" -- "$@"; }
as_admin() {
    AIRFLOW_BASE_URL=$AIRFLOW_BASE_URL AIRFLOW_USERNAME=$admin AIRFLOW_PASSWORD=$pw "$harness" "$@" >/dev/null
}

# Permissions of an existing custom role `rec.perm` (created and deleted unrecorded). The
# Connexion role PATCH (Airflow 3.0, 2.11) cannot remove a permission, so there the revoke is
# refused before any write.
record_permissions() {
    local removable=fail
    [[ "$AIRFLOW_API" == fastapi ]] && removable=ok
    as_admin --provisioning provision delete-role --name rec.perm
    as_admin --provisioning provision create-role --name rec.perm --permission can_read:DAGs --permission can_edit:Variables
    prov grant-permission         ok   --provisioning provision grant --entitlement permission:can_read:Variables:assigned --principal role:rec.perm
    prov grant-permission-again   ok   --provisioning provision grant --entitlement permission:can_read:Variables:assigned --principal role:rec.perm
    prov revoke-permission  "$removable" --provisioning provision revoke --grant permission:can_edit:Variables:assigned:role:rec.perm
    prov revoke-permission-absent ok   --provisioning provision revoke --entitlement permission:can_delete:Variables:assigned --principal role:rec.perm
    prov grant-permission-builtin fail --provisioning provision grant --entitlement permission:can_read:DAGs:assigned --principal role:Viewer
    prov grant-permission-unknown-role fail --provisioning provision grant --entitlement permission:can_read:DAGs:assigned --principal "role:No Such Role"
    as_admin --provisioning provision delete-role --name rec.perm
}
if [[ "${1:-}" == permissions ]]; then  # only these, e.g. after adding them
    record_permissions
    exit 0
fi

run sync               "$admin"   "$pw"                         ok   -- sync --out "$scratch/sync.jsonl"
run validate           "$admin"   "$pw"                         ok   -- validate
# The least-privilege account (role `Sync Reader`: can_read on Users and Roles) syncs the same.
run sync-least-privilege svc-sync "$AIRFLOW_SEED_USER_PASSWORD" ok   -- sync --out "$scratch/sync-lp.jsonl"
# Targeted look-up of one role's members (pages the users), and of a role that does not exist.
run grants-data-engineer "$admin" "$pw"                         ok   -- grants --resource "role:Data Engineer"
run grants-unknown-role  "$admin" "$pw"                         fail -- grants --resource "role:No Such Role"
run bad-password       "$admin"   "not-the-password"            fail -- validate
# `Contractor` may only read the website: signing in works, reading users is forbidden.
run no-read-permission roneil     "$AIRFLOW_SEED_USER_PASSWORD" fail -- validate

# Provisioning: every action, its repeat (already done) and its error paths, on throwaway
# accounts `rec.alice` and `rec.bob` and role `rec.role` that this script removes first and last
# (live, unrecorded).
cleanup() {
    for u in rec.alice rec.bob; do
        AIRFLOW_BASE_URL=$AIRFLOW_BASE_URL AIRFLOW_USERNAME=$admin AIRFLOW_PASSWORD=$pw \
            "$harness" --provisioning provision delete-account --principal "user:$u" >/dev/null
    done
    for r in rec.role rec.bad; do
        AIRFLOW_BASE_URL=$AIRFLOW_BASE_URL AIRFLOW_USERNAME=$admin AIRFLOW_PASSWORD=$pw \
            "$harness" --provisioning provision delete-role --name "$r" >/dev/null
    done
}
cleanup
prov gate-off                fail provision grant --entitlement role:Op:member --principal user:rec.alice
prov create-account          ok   --provisioning provision create-account --login rec.alice --email rec.alice@example.com --first-name Alice --last-name Recorded
prov create-account-again    ok   --provisioning provision create-account --login REC.ALICE --email other@example.com --first-name A --last-name R
echo 'Given-Pa55word-for-bob' | \
prov create-account-with-roles ok --provisioning provision create-account --login rec.bob --email rec.bob@example.com --first-name Bob --last-name Recorded --role Op --role Viewer --password-stdin
prov create-account-slash    fail --provisioning provision create-account --login rec/slash --email s@example.com --first-name S --last-name L
prov grant                   ok   --provisioning provision grant --entitlement role:Op:member --principal user:rec.alice
prov grant-again             ok   --provisioning provision grant --entitlement role:Op:member --principal user:rec.alice
prov grant-unknown-role      fail --provisioning provision grant --entitlement "role:No Such Role:member" --principal user:rec.alice
prov grant-unknown-user      fail --provisioning provision grant --entitlement role:Op:member --principal user:rec.nobody
prov revoke                  ok   --provisioning provision revoke --grant role:Op:member:user:rec.alice
prov revoke-again            ok   --provisioning provision revoke --entitlement role:Op:member --principal user:rec.alice
prov delete-account          ok   --provisioning provision delete-account --principal user:rec.alice
prov delete-account-again    ok   --provisioning provision delete-account --principal user:rec.alice
prov delete-self             fail --provisioning provision delete-account --principal "user:$admin"
# Role lifecycle, on a throwaway role `rec.role`.
prov create-role             ok   --provisioning provision create-role --name rec.role --permission can_read:DAGs --permission can_edit:Variables
prov create-role-again       ok   --provisioning provision create-role --name rec.role --permission can_read:DAGs --permission can_edit:Variables
prov create-role-different   fail --provisioning provision create-role --name rec.role --permission can_read:DAGs
prov create-role-unknown-action fail --provisioning provision create-role --name rec.bad --permission can_fly:DAGs
prov delete-role             ok   --provisioning provision delete-role --name rec.role
prov delete-role-again       ok   --provisioning provision delete-role --name rec.role
prov delete-builtin-role     fail --provisioning provision delete-role --name Admin
record_permissions
cleanup

echo "cassettes in $dir; now run \`make golden\` and review the diff"
