#!/usr/bin/env bash
# The baseline that `enact apply` is measured against: rotating each role's password by hand with
# psql, as a careful operator's script would, one role after another.
#
#   bench/baseline_rotate.sh SECRETS_DIR ROLE...
#
# For each role it generates a random password, sets it with ALTER ROLE and writes it to
# SECRETS_DIR/ROLE.pw (mode 0600, replaced atomically). Then it checks that a new connection with
# the new password runs `select 1`, and that one with the old password fails with "password
# authentication failed". The old password is read from the sink file before the change. The
# script stops at the first role that fails a step.
#
# Connection settings come from the environment: ENACT_PG_HOST, ENACT_PG_PORT,
# ENACT_PG_DATABASE and ENACT_PG_SUPERUSER_PASSWORD (the env file that scripts/pg.sh writes).
# ALTER ROLE runs as the superuser only because a non-superuser cannot set log_statement to
# `none`, which keeps the cleartext password out of the server log.
set -euo pipefail

SECRETS=${1:?usage: baseline_rotate.sh SECRETS_DIR ROLE...}
shift
PSQL=/usr/lib/postgresql/15/bin/psql
HOST=${ENACT_PG_HOST:?ENACT_PG_HOST is not set}
PORT=${ENACT_PG_PORT:?ENACT_PG_PORT is not set}
DATABASE=${ENACT_PG_DATABASE:?ENACT_PG_DATABASE is not set}
: "${ENACT_PG_SUPERUSER_PASSWORD:?ENACT_PG_SUPERUSER_PASSWORD is not set}"
export PGCONNECT_TIMEOUT=5

fail() {
    echo "baseline: $*" >&2
    exit 1
}

rotated=0
for role in "$@"; do
    sink=$SECRETS/$role.pw
    [ -f "$sink" ] || fail "no sink file \`$sink\` for role \`$role\`"
    old=$(cat "$sink")
    new=$(od -An -tx1 -N18 /dev/urandom | tr -d ' \n')

    # The SQL goes in on standard input, so the password never appears in a process's arguments.
    printf "SET log_statement = 'none';\nALTER ROLE \"%s\" PASSWORD '%s';\n" "$role" "$new" |
        PGPASSWORD=$ENACT_PG_SUPERUSER_PASSWORD "$PSQL" -X -q -w -v ON_ERROR_STOP=1 \
            -h "$HOST" -p "$PORT" -U postgres -d "$DATABASE" >/dev/null ||
        fail "ALTER ROLE failed for \`$role\`"

    (umask 077 && printf '%s' "$new" >"$sink.tmp" && mv -f "$sink.tmp" "$sink") ||
        fail "writing \`$sink\` failed"

    PGPASSWORD=$new "$PSQL" -X -q -w -h "$HOST" -p "$PORT" -U "$role" -d "$DATABASE" \
        -c 'select 1' >/dev/null 2>&1 ||
        fail "login with the new password of \`$role\` failed"

    if output=$(PGPASSWORD=$old "$PSQL" -X -q -w -h "$HOST" -p "$PORT" -U "$role" \
        -d "$DATABASE" -c 'select 1' 2>&1); then
        fail "login with the old password of \`$role\` still succeeds"
    fi
    case $output in
        *"password authentication failed"*) ;;
        *) fail "login with the old password of \`$role\` failed for another reason: $output" ;;
    esac
    rotated=$((rotated + 1))
done
echo "baseline: rotated and checked $rotated role(s)"
