#!/usr/bin/env bash
# Seeds the demo's OpenBao state behind the policy's back, with the root token: token policies,
# the KV secrets that hold the API services' database passwords, and AppRoles with drift (a
# policy attached by hand, a secret ID issued by hand, a changed token TTL), a token issued
# through an AppRole, and an AppRole that no identity declares.
#
#   demo/seed-bao.sh WORK_DIR     (needs ENACT_BAO_ADDR and ENACT_BAO_ROOT_TOKEN)
set -euo pipefail

WORK=${1:?usage: seed-bao.sh WORK_DIR}
: "${ENACT_BAO_ADDR:?}" "${ENACT_BAO_ROOT_TOKEN:?}"

# Calls the OpenBao API: METHOD PATH [JSON BODY]; prints the response body.
api() {
    local method=$1 path=$2 body=${3:-}
    local args=(-sS --fail-with-body -X "$method" -H "X-Vault-Token: $ENACT_BAO_ROOT_TOKEN")
    if [ -n "$body" ]; then
        args+=(-H "Content-Type: application/json" --data-binary @-)
        printf '%s' "$body" | curl "${args[@]}" "$ENACT_BAO_ADDR/v1/$path"
    else
        curl "${args[@]}" "$ENACT_BAO_ADDR/v1/$path"
    fi
}

for service in billing orders payments search auth ledger; do
    policy="path \"secret/data/apps/$service/*\" { capabilities = [\"read\"] }"
    api PUT "sys/policies/acl/$service-read" "$(jq -n --arg p "$policy" '{policy: $p}')" >/dev/null
done
api PUT sys/policies/acl/payments-write \
    "$(jq -n '{policy: "path \"secret/data/apps/payments/*\" { capabilities = [\"create\", \"update\"] }"}')" >/dev/null

# The API services' database passwords, as a deployment pipeline stored them.
while IFS=$'\t' read -r path password; do
    api POST "secret/data/$path" "$(jq -n --arg v "$password" '{data: {value: $v}}')" >/dev/null
done < "$WORK/kv-seed.tsv"

# AppRoles that exist before enact runs, each with a secret ID in its sink file.
while read -r role; do
    service=${role%%-*}
    api POST "auth/approle/role/$role" "$(jq -n --arg p "$service-read" \
        '{token_policies: [$p], token_ttl: 1800, token_max_ttl: 3600, secret_id_ttl: 2592000}')" >/dev/null
    api POST "auth/approle/role/$role/secret-id" '{}' | jq -r .data.secret_id > "$WORK/secrets/$role.secret-id"
    chmod 600 "$WORK/secrets/$role.secret-id"
done < "$WORK/approles.txt"

# Drift made by hand: a write policy attached to a read-only service, a second secret ID, and a
# longer token TTL than the policy allows.
api POST auth/approle/role/payments-api/policies '{"token_policies": ["payments-read", "payments-write"]}' >/dev/null
api POST auth/approle/role/orders-api/secret-id '{"metadata": "{\"issued_by\": \"a developer\"}"}' >/dev/null
api POST auth/approle/role/billing-api/token-ttl '{"token_ttl": 3000}' >/dev/null

# A token issued through the decommissioned identity's AppRole: a session that must end.
role_id=$(api GET auth/approle/role/ledger-cron/role-id | jq -r .data.role_id)
secret_id=$(cat "$WORK/secrets/ledger-cron.secret-id")
curl -sS --fail-with-body -X POST "$ENACT_BAO_ADDR/v1/auth/approle/login" \
    -d "$(jq -n --arg r "$role_id" --arg s "$secret_id" '{role_id: $r, secret_id: $s}')" >/dev/null

# An AppRole that no identity declares.
api POST auth/approle/role/legacy-deployer '{"token_policies": ["default"]}' >/dev/null
