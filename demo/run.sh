#!/usr/bin/env bash
# The enact demo: a fleet of 53 service identities on a real PostgreSQL, brought to the
# declared state with every action verified, then the evidence checked offline.
#
# It builds enact, starts a fresh private PostgreSQL on 127.0.0.1:${ENACT_DEMO_PORT:-55433}
# under .run/demo, seeds the fleet's real state, and runs plan, apply and evidence verify.
# Every command's exit code is checked; the demo fails loudly if one is not what it should be.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ENACT_RUN_DIR=$REPO/.run/demo
export ENACT_PG_PORT=${ENACT_DEMO_PORT:-55433}
WORK=$ENACT_RUN_DIR/work
PSQL=/usr/lib/postgresql/15/bin/psql
SESSION_PIDS=()

step() {
    printf '\n\033[1m==> %s\033[0m\n' "$*"
}

# Runs a command, shows it, and fails the demo unless it exits with the expected code.
expect() {
    local expected=$1
    shift
    printf '\n$ %s\n' "$*"
    local code=0
    "$@" || code=$?
    if [ "$code" != "$expected" ]; then
        echo "demo: \`$*\` exited $code, expected $expected" >&2
        exit 1
    fi
}

stop_sessions() {
    for pid in "${SESSION_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
}
trap stop_sessions EXIT

step "Building enact"
cargo build --locked -p enact-cli
ENACT=$REPO/target/debug/enact

step "Starting a fresh private PostgreSQL on 127.0.0.1:$ENACT_PG_PORT"
bash "$REPO/scripts/pg.sh" stop >/dev/null 2>&1 || true
rm -rf "$ENACT_RUN_DIR"
bash "$REPO/scripts/pg.sh" start
set -a
# shellcheck disable=SC1091
. "$ENACT_RUN_DIR/pg/env"
set +a

step "Seeding the fleet's real state behind the policy's back"
bash "$REPO/demo/fleet.sh" "$WORK" "$ENACT_PG_PORT"
PGPASSWORD=$ENACT_PG_SUPERUSER_PASSWORD "$PSQL" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$ENACT_PG_PORT" -U postgres -d appdb -f "$WORK/seed.sql"
echo "53 identities in $WORK/enact.yaml; 55 login roles seeded, 8 over-privileged,"
echo "10 with passwords past max_age, 1 disabled identity still able to log in,"
echo "1 decommissioned identity still present, 4 roles outside the policy."

# Sessions that outlive their policy: three batch jobs (max_lifetime 5s), the decommissioned
# role and an unmanaged role. Each runs a long query until enact ends it.
for role in svc_etl_cron svc_webhooks_cron svc_audit_cron svc_ledger_cron legacy_etl; do
    PGPASSWORD=$(cat "$WORK/secrets/$role.pw") PGAPPNAME="$role-job" \
        "$PSQL" -X -q -h 127.0.0.1 -p "$ENACT_PG_PORT" -U "$role" -d appdb \
        -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
    SESSION_PIDS+=($!)
done
echo "Opened 5 long-running sessions; waiting 6 s so three of them pass their 5 s lifetime."
sleep 6

cd "$WORK"
step "enact plan: what differs, and what would fix it (exit 2: changes pending)"
expect 2 "$ENACT" plan

step "enact apply: refused, because the plan takes away more than limits.max_destructive (10)"
expect 1 "$ENACT" apply

step "enact apply --max-destructive 20: execute, verify each action independently, sign the evidence"
expect 0 "$ENACT" apply --max-destructive 20

step "enact evidence verify: check the hash chain and signatures offline"
expect 0 "$ENACT" evidence verify

step "enact plan again: the real state now matches the policy (exit 0)"
expect 0 "$ENACT" plan

step "enact status"
expect 0 "$ENACT" status | head -n 24
echo "..."

step "Done"
echo "Every action was verified. The policy, state, evidence and sink files are in $WORK."
echo "Stop the demo server with: ENACT_RUN_DIR=$ENACT_RUN_DIR scripts/pg.sh stop"
