#!/usr/bin/env bash
# The baseline that `enact apply` with `strategy: alternating` is measured against: rotating
# each group's alternating users by hand with psql, as a careful operator's script would, one
# group after another.
#
#   bench/baseline_alternating.sh SECRETS_DIR GROUP...
#
# Each GROUP has two login roles, GROUP_blue and GROUP_green, and a sink file
# SECRETS_DIR/GROUP.json that contains {"username": ..., "password": ...} for the one in use.
# For each group the script reads the sink and sets a new random password on the other user.
# It checks that a new connection with it runs `select 1`, then writes the sink file to name
# that user (mode 0600, replaced atomically). Next it clears the previous user's password. Last
# it checks that the previous credential fails with "password authentication failed" and that
# the new one still logs in. It waits no grace period between the sink write and the clearing.
# The script stops at the first group that fails a step.
#
# Connection settings come from the environment: ENACT_PG_HOST, ENACT_PG_PORT,
# ENACT_PG_DATABASE and ENACT_PG_SUPERUSER_PASSWORD (the env file that scripts/pg.sh writes).
# ALTER ROLE runs as the superuser only because a non-superuser cannot set log_statement to
# `none`, which keeps the cleartext password out of the server log.
set -euo pipefail

SECRETS=${1:?usage: baseline_alternating.sh SECRETS_DIR GROUP...}
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

# Runs the SQL on standard input as the superuser, with statement logging off. The SQL goes in
# on standard input, so a password never appears in a process's arguments.
as_superuser() {
    { echo "SET log_statement = 'none';" && cat; } |
        PGPASSWORD=$ENACT_PG_SUPERUSER_PASSWORD "$PSQL" -X -q -w -v ON_ERROR_STOP=1 \
            -h "$HOST" -p "$PORT" -U postgres -d "$DATABASE" >/dev/null
}

# Runs `select 1` as user $1 with password $2 on a new connection; prints psql's errors.
login() {
    PGPASSWORD=$2 "$PSQL" -X -q -w -h "$HOST" -p "$PORT" -U "$1" -d "$DATABASE" \
        -c 'select 1' 2>&1 >/dev/null
}

rotated=0
for group in "$@"; do
    sink=$SECRETS/$group.json
    [ -f "$sink" ] || fail "no sink file \`$sink\` for group \`$group\`"
    { read -r old_user && read -r old; } < <(jq -r '.username, .password' "$sink") ||
        fail "the sink file \`$sink\` has no username and password"
    case $old_user in
        "${group}_blue") new_user=${group}_green ;;
        "${group}_green") new_user=${group}_blue ;;
        *) fail "the sink of \`$group\` names \`$old_user\`, which is not one of its users" ;;
    esac
    new=$(od -An -tx1 -N18 /dev/urandom | tr -d ' \n')

    printf 'ALTER ROLE "%s" PASSWORD '\''%s'\'';\n' "$new_user" "$new" | as_superuser ||
        fail "ALTER ROLE failed for \`$new_user\`"

    login "$new_user" "$new" >/dev/null || fail "login with the new password of \`$new_user\` failed"

    # The password is hex digits, so it needs no escaping in JSON.
    (umask 077 && printf '{"username":"%s","password":"%s"}' "$new_user" "$new" >"$sink.tmp" &&
        mv -f "$sink.tmp" "$sink") || fail "writing \`$sink\` failed"

    printf 'ALTER ROLE "%s" PASSWORD NULL;\n' "$old_user" | as_superuser ||
        fail "clearing the password of \`$old_user\` failed"

    if output=$(login "$old_user" "$old"); then
        fail "login with the old password of \`$old_user\` still succeeds"
    fi
    case $output in
        *"password authentication failed"*) ;;
        *) fail "login with the old password of \`$old_user\` failed for another reason: $output" ;;
    esac
    login "$new_user" "$new" >/dev/null ||
        fail "login with the new password of \`$new_user\` failed after the old one was cleared"
    rotated=$((rotated + 1))
done
echo "baseline: rotated and checked $rotated group(s)"
