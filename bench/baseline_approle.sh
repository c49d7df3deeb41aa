#!/usr/bin/env bash
# The baseline that `enact apply` is measured against on OpenBao: rotating each AppRole's secret
# ID by hand with the `bao` CLI, as a careful operator's script would, one role after another.
#
#   bench/baseline_approle.sh SECRETS_DIR ROLE...
#
# For each role it lists the accessors of the role's secret IDs, issues a new secret ID and
# writes it to SECRETS_DIR/ROLE.secret-id (mode 0600, replaced atomically). It then logs in with
# the new secret ID, which must succeed, and revokes the token that login returned. Next it
# destroys every secret ID listed before, by accessor, and logs in with the old secret ID from
# the sink file, which must fail with "invalid role or secret ID". The script stops at the first
# role that fails a step.
#
# Settings come from the environment: BAO_ADDR and BAO_TOKEN as the `bao` CLI reads them, and
# BAO_BIN, the path of the `bao` binary (default: `bao` on PATH). The token needs what enact's
# admin token has on `auth/approle/role/*` and `auth/token/revoke-accessor`.
#
# Secret IDs never appear in a process's arguments: a login reads the new one from the sink
# file (`secret_id=@FILE`) and the old one from standard input (`secret_id=-`). The login
# prints only the token's accessor, so the token itself never reaches the shell.
set -euo pipefail

SECRETS=${1:?usage: baseline_approle.sh SECRETS_DIR ROLE...}
shift
BAO=${BAO_BIN:-bao}
: "${BAO_ADDR:?BAO_ADDR is not set}" "${BAO_TOKEN:?BAO_TOKEN is not set}"

fail() {
    echo "baseline: $*" >&2
    exit 1
}

rotated=0
for role in "$@"; do
    sink=$SECRETS/$role.secret-id
    path=auth/approle/role/$role
    [ -f "$sink" ] || fail "no sink file \`$sink\` for role \`$role\`"
    old=$(<"$sink")

    role_id=$("$BAO" read -field=role_id "$path/role-id") ||
        fail "reading the role ID of \`$role\` failed"

    # Every secret ID that exists now is an old one, whether it is in the sink file or not.
    old_accessors=()
    listing=$("$BAO" list "$path/secret-id") || fail "listing the secret IDs of \`$role\` failed"
    # The table has a header line and a rule line, then one accessor a line.
    while read -r accessor; do
        case $accessor in Keys | ----) continue ;; esac
        old_accessors+=("$accessor")
    done <<<"$listing"

    # The table of the response has one "key value" pair a line.
    new='' new_accessor=''
    reply=$("$BAO" write -f "$path/secret-id") || fail "issuing a secret ID for \`$role\` failed"
    while read -r key value; do
        case $key in
            secret_id) new=$value ;;
            secret_id_accessor) new_accessor=$value ;;
        esac
    done <<<"$reply"
    [ -n "$new" ] && [ -n "$new_accessor" ] || fail "the new secret ID of \`$role\` is missing from the response"

    (umask 077 && printf '%s' "$new" >"$sink.tmp" && mv -f "$sink.tmp" "$sink") ||
        fail "writing \`$sink\` failed"

    token_accessor=$("$BAO" write -field=token_accessor auth/approle/login \
        role_id="$role_id" secret_id=@"$sink") ||
        fail "login with the new secret ID of \`$role\` failed"
    "$BAO" token revoke -accessor "$token_accessor" >/dev/null ||
        fail "revoking the login token of \`$role\` failed"

    for accessor in "${old_accessors[@]}"; do
        [ "$accessor" = "$new_accessor" ] && continue
        "$BAO" write "$path/secret-id-accessor/destroy" secret_id_accessor="$accessor" >/dev/null ||
            fail "destroying secret ID \`$accessor\` of \`$role\` failed"
    done

    if output=$(printf '%s' "$old" | "$BAO" write auth/approle/login role_id="$role_id" \
        secret_id=- 2>&1); then
        fail "login with the old secret ID of \`$role\` still succeeds"
    fi
    case $output in
        *"invalid role or secret ID"*) ;;
        *) fail "login with the old secret ID of \`$role\` failed for another reason: $output" ;;
    esac
    rotated=$((rotated + 1))
done
echo "baseline: rotated and checked $rotated role(s)"
