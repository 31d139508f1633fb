#!/usr/bin/env bash
# Re-records the replay cassettes from the running, seeded real Airflow (`make record` starts and
# seeds it first). Every cassette is written by the harness's record mode, which scrubs secrets.
#
# The servers that take the session login (Airflow 2.11, Airflow 3.0's FAB 2.x) have two sets:
#   tests/cassettes/airflow-<series>: auth_mode pinned to `password` (HTTP Basic), which these
#            cassettes are about; `auto` would choose the session login on these servers
#   tests/cassettes/airflow-<series>-session: the session login chosen by `auto` (syncs,
#            validate, the wrong password, a grant and a revoke); each run logs in once, paced by
#            Airflow's login rate limit (5 per 40 s), so this takes a minute or two. On 2.11 from
#            the server on Airflow's default API backend (AIRFLOW_AUTH=default, config.env); on
#            3.0 from the one server, which takes both: `AIRFLOW_SERIES=3.0 scripts/record.sh
#            session`.
#            `scripts/record.sh session-faults` (3.0: with AIRFLOW_SERIES=3.0) adds two real
#            faults from a short-lived copy of that server on port FAULT_PORT (default 28086 for
#            2.11, 28087 for 3.0) whose sessions end 25 s after the login:
#            session-expired.json (refused mid-sync, one new login, the sync completes) and
#            login-rate-limited.json (the login answered 429 after five curl logins).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=airflow/config.env
source scripts/airflow/config.env

harness=target/debug/host-harness
series=${AIRFLOW_VERSION%.*}                  # 3.3.2 -> 3.3
dir=tests/cassettes/airflow-$series
source_text="real Airflow $AIRFLOW_VERSION + FAB provider $FAB_VERSION on 127.0.0.1, seeded from tests/fixtures/directory.json"
# Whether this run records the session login's set, and where its login form is.
session=0 form=/login/
case "${1:-}" in
  session|session-faults)
    if [[ "$AIRFLOW_API" == connexion ]]; then
        session=1 form=/auth/login/
    elif [[ "$AIRFLOW_AUTH" != default ]]; then
        echo "record.sh $1: needs AIRFLOW_SERIES=3.0, or AIRFLOW_SERIES=2.11 AIRFLOW_AUTH=default" >&2
        exit 2
    fi ;;
esac
[[ "$AIRFLOW_AUTH" != default ]] || session=1
paced=0
if (( session )); then
    dir=tests/cassettes/airflow-$series-session
    if [[ "$AIRFLOW_API" == connexion ]]; then
        backend="its form login at /auth/login/ chosen by auth_mode auto (the server takes HTTP Basic too)"
    else
        backend="Airflow's default API backend (session)"
    fi
    source_text="real Airflow $AIRFLOW_VERSION + FAB provider $FAB_VERSION on 127.0.0.1, $backend, seeded from tests/fixtures/directory.json"
    paced=1
    # What these cassettes are about is what `auto` chooses.
    unset AIRFLOW_AUTH_MODE
elif [[ "$AIRFLOW_AUTH" != basic ]]; then
    echo "record.sh: no cassettes for AIRFLOW_AUTH=$AIRFLOW_AUTH" >&2
    exit 2
elif [[ "$AIRFLOW_API" == v1 || "$AIRFLOW_API" == connexion ]]; then
    export AIRFLOW_AUTH_MODE=password
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/provision"
mkdir -p "$dir"

# Each run of the connector on the session server logs in once (POST $form); Airflow refuses
# the sixth within 40 s, so every run first books a login through the scripts' shared pacer.
login_slot() {
    if (( paced )); then python3 scripts/airflow_api.py login-slot "$AIRFLOW_BASE_URL"; fi
}

# run NAME USER PASSWORD EXPECT -- harness-args...; EXPECT is ok or fail.
run() {
    local name=$1 user=$2 password=$3 expect=$4
    shift 5
    echo "recording $dir/$name.json"
    login_slot
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
    login_slot
    AIRFLOW_BASE_URL=$AIRFLOW_BASE_URL AIRFLOW_USERNAME=$admin AIRFLOW_PASSWORD=$pw "$harness" "$@" >/dev/null
}

# No value a login produced may reach a cassette: every session id and CSRF token in the
# server's session table (the cookie is `<session id>.<signature>`, the form's token the signed
# JSON of the raw one), and the passwords. Prints counts only, never a value. Airflow 2 stores a
# session's data as JSON, Airflow 3.0's FAB 2.x as a pickle of plain values, read here without
# importing anything.
scan_login_secrets() { # DB CASSETTE-DIR...
    python3 - "$@" <<'PY'
import base64, io, json, os, pathlib, pickle, sqlite3, sys
class PlainValues(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"not a plain value: {module}.{name}")
def load(data):
    if isinstance(data, bytes) and data[:1] == b"\x80":
        return PlainValues(io.BytesIO(data)).load()
    return json.loads(data)
db, dirs = sys.argv[1], sys.argv[2:]
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
tables = ["session"] + [t for (t,) in con.execute(
    "select name from sqlite_master where name = 'ended_session'")]  # record_session_faults'
rows = [row for t in tables for row in con.execute(f"select session_id, data from {t}")]
needles = set()
for sid, data in rows:
    needles.add(sid)
    token = load(data).get("csrf_token")
    if token:
        needles.add(token)
        needles.add(base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("="))
needles |= {os.environ["AIRFLOW_ADMIN_PASSWORD"], os.environ["AIRFLOW_SEED_USER_PASSWORD"]}
files = [f for d in dirs for f in sorted(pathlib.Path(d).rglob("*.json"))]
hits = [str(f) for f in files if any(n in f.read_text() for n in needles)]
print(f"secret scan: {len(files)} cassettes, {len(rows)} sessions' ids and CSRF tokens and "
      f"the passwords: {len(hits)} files with a hit {hits}")
sys.exit(1 if hits else 0)
PY
}

# The two faults of the session login, from a short-lived copy of the seeded session server.
csrf_value='s/.*name="csrf_token" type="hidden" value="\([^"]*\)".*/\1/p'  # sed: a form's CSRF token
record_session_faults() {
    local port=$FAULT_PORT home=$scratch/fault-home src_db=$AIRFLOW_HOME/airflow.db
    [[ -f "$src_db" ]] || { echo "record.sh: no seeded session server at $AIRFLOW_HOME (make record first)" >&2; exit 1; }
    mkdir -p "$home"
    # sqlite's backup API: a consistent copy while the running server may write.
    python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
        "$src_db" "$home/airflow.db"
    touch "$home/.initialised-$AIRFLOW_VERSION-$FAB_VERSION"
    # Airflow's shortest `session_lifetime_minutes` is 1, and a sync of the recorded directory
    # makes only four requests after its login, at most 10 s apart (the connector's largest
    # request_interval_ms): it would end before the session. webserver_config.py is read after
    # that setting, so it can make the lifetime 25 s. Airflow 3.0's FAB 2.x saves the session
    # on every API call (its exemption names only Airflow 2's /api/v1 blueprint), moving its
    # end a lifetime past each call, so no paced sync (10 s between calls at most) outlives it,
    # and a lifetime under 10 s would end the login form's own session before its POST. There
    # the admin's sessions are deleted mid-sync instead (below).
    local ending="sessions ending 25 s after the login"
    if [[ "$AIRFLOW_API" == connexion ]]; then
        ending="the admin's sessions deleted from its session table mid-sync"
    else
        cp "$AIRFLOW_HOME/webserver_config.py" "$home/"
        printf '%s\n' '' '# record.sh session-faults: sessions end 25 s after the login.' \
            'from datetime import timedelta' 'PERMANENT_SESSION_LIFETIME = timedelta(seconds=25)' \
            >>"$home/webserver_config.py"
    fi
    # Global: the EXIT trap stops this server after the function has returned.
    fault_env=(AIRFLOW_PORT="$port" AIRFLOW_HOME="$home" AIRFLOW_BASE_URL="http://127.0.0.1:$port")
    trap 'env "${fault_env[@]}" scripts/airflow/down.sh >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
    env "${fault_env[@]}" scripts/airflow/up.sh >/dev/null
    local base="http://127.0.0.1:$port" fsource="${source_text/on 127.0.0.1,/on 127.0.0.1 with $ending,}"
    # (a) Airflow 2 ends the session its lifetime after the login however much /api/v1 is used;
    # pacing the sync 10 s per request puts its third page 30 s after the login, so that page
    # gets 403. On 3.0, once the first page came through the session (a refused cookie that never
    # worked is a missing permission, not an ended session), the admin's rows of the session table
    # are deleted, as FAB's password reset means to (FAB 2.4.4's reset compares the stored
    # `_user_id`, a string, with the numeric id and deletes none, from the web UI or the CLI),
    # and the next page gets 401. Either way the connector logs in again once and the sync
    # completes.
    echo "recording $dir/session-expired.json (about 2 minutes)"
    python3 scripts/airflow_api.py login-slot "$base"
    AIRFLOW_BASE_URL=$base AIRFLOW_USERNAME=$admin AIRFLOW_PASSWORD=$pw "$harness" -v --deadline 5m \
        --record "$dir/session-expired.json" --source "$fsource" --set request_interval_ms=10000 \
        sync --out "$scratch/expired.jsonl" >"$scratch/expired.out" 2>"$scratch/expired.err" &
    local sync_pid=$! logged_in="POST $base$form -> 302"
    if [[ "$AIRFLOW_API" == connexion ]]; then
        until grep -qs "users?limit=100&offset=0 -> 200" "$scratch/expired.err" || ! kill -0 "$sync_pid" 2>/dev/null; do sleep 1; done
        python3 - "$home/airflow.db" "$admin" <<'PY'
import io, pickle, sqlite3, sys
class PlainValues(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"not a plain value: {module}.{name}")
db = sqlite3.connect(sys.argv[1], timeout=30)
(uid,) = db.execute("select id from ab_user where username = ?", (sys.argv[2],)).fetchone()
mine = [sid for sid, data in db.execute("select session_id, data from session")
        if str(PlainValues(io.BytesIO(data)).load().get("_user_id")) == str(uid)]
# Kept aside in the copy's database, for scan_login_secrets.
db.execute("create table if not exists ended_session as select * from session where 0")
for sid in mine:
    db.execute("insert into ended_session select * from session where session_id = ?", (sid,))
    db.execute("delete from session where session_id = ?", (sid,))
db.commit()
print(f"  deleted the admin's {len(mine)} session(s) from the session table")
PY
    fi
    wait "$sync_pid" || { cat "$scratch/expired.err" >&2; exit 1; }
    grep '^http:' "$scratch/expired.err" | sed 's/^/  /'
    # A refusal after the first login (on 3.0 the detection's refused JWT call comes before it).
    sed -n "\#$logged_in#,\$p" "$scratch/expired.err" | grep -Eq '^http: .* -> 40[13] ' ||
        { echo "  no 401/403 after the login: the session did not end mid-sync" >&2; exit 1; }
    # (b) Five logins from this machine within 40 s (real form posts with a wrong password),
    # then a sync: Airflow answers its login 429, and the connector stops with the clear error.
    echo "recording $dir/login-rate-limited.json"
    local jar=$scratch/jar csrf
    for _ in 1 2 3 4 5; do
        csrf=$(curl -s -c "$jar" "$base$form" | sed -n "$csrf_value" | head -n 1)
        curl -s -o /dev/null -b "$jar" --data-urlencode "csrf_token=$csrf" --data-urlencode "username=$admin" \
            --data-urlencode "password=not-the-password" "$base$form"
    done
    if AIRFLOW_BASE_URL=$base AIRFLOW_USERNAME=$admin AIRFLOW_PASSWORD=$pw "$harness" \
        --record "$dir/login-rate-limited.json" --source "${source_text}, after five logins within 40 s" \
        sync --out "$scratch/limited.jsonl" >"$scratch/limited.out" 2>"$scratch/limited.err"; then
        echo "  expected the rate-limit error, got a sync" >&2; exit 1
    fi
    echo "  failed as expected: $(grep '^error:' "$scratch/limited.err" | tail -n 1)"
    grep -q '^error: .*rate limited: .*429' "$scratch/limited.err" || { echo "  not the rate-limit error" >&2; exit 1; }
    scan_login_secrets "$home/airflow.db" "$dir"
}

if [[ "${1:-}" == session-faults ]]; then
    # Its own port per series, so the two can be recorded side by side.
    FAULT_PORT=${FAULT_PORT:-$([[ "$AIRFLOW_API" == connexion ]] && echo 28087 || echo 28086)}
    record_session_faults
    exit 0
fi

# The session login's set: its cassettes, a grant and a revoke on a throwaway account.
if (( session )); then
    run sync                 "$admin"   "$pw"                         ok   -- sync --out "$scratch/sync.jsonl"
    run validate             "$admin"   "$pw"                         ok   -- validate
    run sync-least-privilege svc-sync   "$AIRFLOW_SEED_USER_PASSWORD" ok   -- sync --out "$scratch/sync-lp.jsonl"
    # Airflow redirects a wrong password back to the login form. On 3.0 `auto` meets it first at
    # the detection's JWT sign-in (401, no login spent); pinned to the form login it gets the
    # redirect there too.
    run bad-password         "$admin"   "not-the-password"            fail -- validate
    if [[ "$AIRFLOW_API" == connexion ]]; then
        run bad-password-form "$admin"  "not-the-password"            fail -- --set auth_mode=session validate
    fi
    as_admin --provisioning provision delete-account --principal user:rec.alice
    as_admin --provisioning provision create-account --login rec.alice --email rec.alice@example.com --first-name Alice --last-name Recorded
    prov grant  ok --provisioning provision grant --entitlement role:Op:member --principal user:rec.alice
    prov revoke ok --provisioning provision revoke --grant role:Op:member:user:rec.alice
    as_admin --provisioning provision delete-account --principal user:rec.alice
    scan_login_secrets "$AIRFLOW_HOME/airflow.db" "$dir"
    echo "cassettes in $dir; \`scripts/record.sh session-faults\` records the two faults; now run \`make golden\`"
    exit 0
fi

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
