#!/usr/bin/env bash
# The enact demo: a fleet of 53 service identities on a real PostgreSQL and OpenBao, brought to
# the declared state with every action verified, then the evidence checked offline.
#
# It builds enact, starts a fresh private PostgreSQL on 127.0.0.1:${ENACT_DEMO_PORT:-55433} and
# OpenBao on 127.0.0.1:${ENACT_DEMO_BAO_PORT:-58210} under .run/demo, seeds the fleet's real
# state, and runs plan, apply and evidence verify.
# Every command's exit code is checked; the demo fails loudly if one is not what it should be.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ENACT_RUN_DIR=$REPO/.run/demo
export ENACT_PG_PORT=${ENACT_DEMO_PORT:-55433}
export ENACT_BAO_PORT=${ENACT_DEMO_BAO_PORT:-58210}
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

for tool in curl jq python3; do
    command -v "$tool" >/dev/null || {
        echo "demo: \`$tool\` is missing; install it (on Debian: apt-get install -y $tool)" >&2
        exit 1
    }
done

step "Building enact"
ENACT=$(bash "$REPO/scripts/build-enact.sh")

step "Starting a fresh private PostgreSQL (127.0.0.1:$ENACT_PG_PORT) and OpenBao (127.0.0.1:$ENACT_BAO_PORT)"
bash "$REPO/scripts/pg.sh" stop >/dev/null 2>&1 || true
bash "$REPO/scripts/bao.sh" stop >/dev/null 2>&1 || true
# The Python environment with OpenBao is kept between runs; everything else starts empty.
rm -rf "$ENACT_RUN_DIR/pg" "$ENACT_RUN_DIR/bao" "$WORK"
bash "$REPO/scripts/pg.sh" start
bash "$REPO/scripts/bao.sh" start
set -a
# shellcheck disable=SC1091
. "$ENACT_RUN_DIR/pg/env"
# shellcheck disable=SC1091
. "$ENACT_RUN_DIR/bao/env"
set +a

step "Seeding the fleet's real state behind the policy's back"
bash "$REPO/demo/fleet.sh" "$WORK" "$ENACT_PG_PORT" "$ENACT_BAO_PORT"
PGPASSWORD=$ENACT_PG_SUPERUSER_PASSWORD "$PSQL" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$ENACT_PG_PORT" -U postgres -d appdb -f "$WORK/seed.sql"
bash "$REPO/demo/seed-bao.sh" "$WORK"
echo "53 identities in $WORK/enact.yaml, on PostgreSQL and OpenBao."
echo "PostgreSQL: 55 login roles, 8 over-privileged, 10 with passwords past max_age,"
echo "  1 disabled identity still able to log in, 1 decommissioned identity still present,"
echo "  4 roles outside the policy. The 17 API services read their passwords from OpenBao KV."
echo "OpenBao: 4 of 6 declared AppRoles exist; one has a policy attached by hand, one a second"
echo "  secret ID, one a longer token TTL; the decommissioned one has a live token; 1 AppRole"
echo "  is outside the policy."
OLD_ORDERS_PASSWORD=$(awk -F'\t' '$1 == "apps/orders/db" {print $2}' "$WORK/kv-seed.tsv")

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

step "enact apply --max-destructive 25: execute, verify each action independently, sign the evidence"
expect 0 "$ENACT" apply --max-destructive 25

step "A dependent moves to the new password: orders-api logs in to OpenBao with its AppRole, reads its database password from KV and connects to PostgreSQL"
# The dependent does what the service would: AppRole login with the secret ID enact delivered,
# a KV read with the token it gets, then a PostgreSQL login with the value it read.
role_id=$(curl -sS -H "X-Vault-Token: $ENACT_BAO_ROOT_TOKEN" \
    "$ENACT_BAO_ADDR/v1/auth/approle/role/orders-api/role-id" | jq -r .data.role_id)
app_token=$(curl -sS -X POST "$ENACT_BAO_ADDR/v1/auth/approle/login" \
    -d "$(jq -n --arg r "$role_id" --arg s "$(cat "$WORK/secrets/orders-api.secret-id")" '{role_id: $r, secret_id: $s}')" |
    jq -r .auth.client_token)
new_password=$(curl -sS -H "X-Vault-Token: $app_token" "$ENACT_BAO_ADDR/v1/secret/data/apps/orders/db" |
    jq -r .data.data.value)
PGPASSWORD=$new_password "$PSQL" -X -tA -h 127.0.0.1 -p "$ENACT_PG_PORT" -U svc_orders_api -d appdb \
    -c "SELECT 'svc_orders_api connected with the password read from OpenBao KV'"
if PGPASSWORD=$OLD_ORDERS_PASSWORD "$PSQL" -X -tA -h 127.0.0.1 -p "$ENACT_PG_PORT" -U svc_orders_api \
    -d appdb -c "SELECT 1" >/dev/null 2>&1; then
    echo "demo: the old password of svc_orders_api still works" >&2
    exit 1
fi
echo "The old password is rejected by PostgreSQL."
curl -sS -H "X-Vault-Token: $ENACT_BAO_ROOT_TOKEN" "$ENACT_BAO_ADDR/v1/secret/metadata/apps/orders/db" |
    jq -r '.data.versions | to_entries[] | "KV version \(.key): \(if .value.destroyed then "destroyed" else "current" end)"'

step "Exposure response: a scanner finds svc_orders_api's password in a file; copies sit in KV and in a sink file"
# A developer pasted the password into a config file, and a stray copy landed in the sink file of
# the decommissioned ledger-cron identity. gitleaks reports the file; without gitleaks installed,
# the demo writes the same report by hand.
mkdir -p "$WORK/app"
printf 'DATABASE_URL=postgres://svc_orders_api:%s@127.0.0.1:%s/appdb\n' "$new_password" "$ENACT_PG_PORT" > "$WORK/app/config.env"
(umask 077 && printf '%s\n' "$new_password" > "$WORK/secrets/svc_ledger_cron.pw")
if command -v gitleaks >/dev/null; then
    gitleaks detect --no-git --source "$WORK/app" --report-format json --report-path "$WORK/leaks.json" >/dev/null 2>&1 || true
else
    jq -n --arg s "$new_password" '[{RuleID: "generic-password", File: "app/config.env", StartLine: 1, Secret: $s}]' > "$WORK/leaks.json"
fi
expect 0 "$ENACT" respond --finding "$WORK/leaks.json"
if PGPASSWORD=$new_password "$PSQL" -X -tA -h 127.0.0.1 -p "$ENACT_PG_PORT" -U svc_orders_api \
    -d appdb -c "SELECT 1" >/dev/null 2>&1; then
    echo "demo: the exposed password of svc_orders_api still works" >&2
    exit 1
fi
if [ -e "$WORK/secrets/svc_ledger_cron.pw" ]; then
    echo "demo: the stray copy in secrets/svc_ledger_cron.pw is still there" >&2
    exit 1
fi
echo "The exposed password is rejected by PostgreSQL, and secrets/svc_ledger_cron.pw, which held a stray copy, is deleted."

step "Rotation without downtime: ledger-writer keeps logging in while enact rotates its password three times"
# A new identity whose PostgreSQL account uses alternating users: a group role holds the rights,
# two login roles take turns, and the sink names the one in use. Its dependent, ledger-writer,
# reads the sink before every login and keeps one pooled session that it reopens when the sink
# changes; enact waits for that session before it clears the previous password.
cat >> "$WORK/enact.yaml" <<'YAML'
  ledger-writer:
    owner: finance-platform
    purpose: appends to the ledger
    state: active
    accounts:
      - target: pg-main
        role: svc_ledger_writer
        entitlements:
          - privilege: CONNECT
            on: database appdb
        credential:
          kind: password
          strategy: alternating
          grace_period: 30s
          max_age: 30d
          deliver_to:
            file: secrets/svc_ledger_writer.json
          dependents:
            - name: ledger-writer
              application_name: ledger-writer
YAML
expect 0 "$ENACT" apply
sink=$WORK/secrets/svc_ledger_writer.json
counts=$WORK/ledger-writer.counts
: > "$counts"
(
    # Runs in the background until the demo stops it: one login per loop with the value the sink
    # holds; a failure counts only if the sink still holds that value afterwards.
    pooled_value="" pooled_pid=""
    trap '[ -n "$pooled_pid" ] && kill "$pooled_pid" 2>/dev/null; exit 0' TERM
    while :; do
        value=$(cat "$sink")
        user=$(jq -r .username <<<"$value")
        password=$(jq -r .password <<<"$value")
        if [ "$value" != "$pooled_value" ]; then
            # An idle pooled session: psql runs SELECT 1 once a second until it is stopped, and
            # its backend ends as soon as psql does.
            printf 'SELECT 1 \\watch 1\n' | PGPASSWORD=$password PGAPPNAME=ledger-writer "$PSQL" -X -q \
                -h 127.0.0.1 -p "$ENACT_PG_PORT" -U "$user" -d appdb >/dev/null 2>&1 &
            new_pid=$!
            sleep 0.2
            [ -n "$pooled_pid" ] && kill "$pooled_pid" 2>/dev/null
            pooled_value=$value pooled_pid=$new_pid
        fi
        if PGPASSWORD=$password PGAPPNAME=ledger-writer "$PSQL" -X -tA -h 127.0.0.1 -p "$ENACT_PG_PORT" \
            -U "$user" -d appdb -c "SELECT 1" >/dev/null 2>&1; then
            echo ok >> "$counts"
        elif [ "$(cat "$sink")" = "$value" ]; then
            echo failed >> "$counts"
        fi
    done
) &
SESSION_PIDS+=($!)
sleep 1
for round in 1 2 3; do
    expect 0 "$ENACT" apply --rotate ledger-writer
    echo "Rotation $round: the sink now names $(jq -r .username "$sink")."
done
kill "${SESSION_PIDS[-1]}" 2>/dev/null || true
logins=$(grep -c ok "$counts" || true)
failures=$(grep -c failed "$counts" || true)
echo "ledger-writer logged in $logins times during the rotations; $failures login(s) failed with the value the sink held."
if [ "$failures" != 0 ]; then
    echo "demo: the dependent lost access during a rotation" >&2
    exit 1
fi

step "enact evidence verify: check the hash chain and signatures offline"
expect 0 "$ENACT" evidence verify

step "enact plan again: the real state now matches the policy (exit 0)"
expect 0 "$ENACT" plan

step "enact status"
expect 0 "$ENACT" status | head -n 24
echo "..."

step "Done"
echo "Every action was verified. The policy, state, evidence and sink files are in $WORK."
echo "Stop the demo servers with: make demo-stop"
