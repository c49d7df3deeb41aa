# The OpenBao AppRole part of enact's benchmarks. bench/run.sh sources this file and calls
# approle_bench once the private OpenBao server runs. The helpers and settings used here come
# from run.sh: step, die, stats, seconds_between, now_ns, client_cpu, random_passwords,
# enact_phases, verdict, TIME, OUT, WORK, ENACT, BAO_BIN, RUNS and DEFAULT_CONCURRENCY.
#
# Rotation with full proof: BENCH_APPROLES AppRoles, each with a secret ID in its sink file and
# one more secret ID issued behind enact's back, so enact finds an extra credential and rotates
# every role. `enact apply` rotates and verifies all of them; bench/baseline_approle.sh rotates
# the first BENCH_APPROLE_BASELINE of them by hand with the `bao` CLI. Both sides run RUNS
# times, alternately, from the same reset state, and the ratio compares their rates.

APPROLES=${BENCH_APPROLES:-1000}
APPROLE_SAMPLE=${BENCH_APPROLE_BASELINE:-100}
APPROLE=$WORK/approle
APPROLE_POLICY=bench-read
# secret_id_ttl of every role: 30 days in seconds, the policy's max_age.
APPROLE_SECRET_ID_TTL=2592000

approle_name() {
    printf 'bench-approle-%05d\n' "$1"
}

# Quotes $1 as a string of a curl configuration file, which takes one option a line.
curl_config_string() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "${s//$'\n'/\\n}"
}

# Sends one request to the private OpenBao as root and prints the response body; fails on an
# HTTP status of 400 or more. The token and the body go to curl on standard input, so neither
# appears in a process's arguments.
#   bao_request METHOD PATH [JSON]
bao_request() {
    local method=$1 path=$2 body=${3:-}
    {
        echo "header = $(curl_config_string "X-Vault-Token: $ENACT_BAO_ROOT_TOKEN")"
        if [ -n "$body" ]; then
            echo 'header = "Content-Type: application/json"'
            echo "data-binary = $(curl_config_string "$body")"
        fi
    } | curl -sS --fail-with-body -K - -X "$method" "$ENACT_BAO_ADDR/v1/$path"
}

# Sends the requests listed on standard input, one a line as "METHOD PATH [JSON]", as root. A
# single curl process sends them in order on one kept connection. Fails unless every status is
# 2xx.
bao_batch() {
    local method path body token separator=''
    token=$(curl_config_string "X-Vault-Token: $ENACT_BAO_ROOT_TOKEN")
    while read -r method path body; do
        # `next` separates the options of one request from those of the one before.
        [ -z "$separator" ] || echo "$separator"
        separator=next
        echo "url = $(curl_config_string "$ENACT_BAO_ADDR/v1/$path")"
        echo "request = \"$method\""
        echo "header = $token"
        if [ -n "$body" ]; then
            echo 'header = "Content-Type: application/json"'
            echo "data-binary = $(curl_config_string "$body")"
        fi
        echo 'output = "/dev/null"'
        echo 'silent'
        echo 'show-error'
        echo "write-out = \"%{http_code} $method $path\\n\""
    done | curl -K - >"$OUT/approle-batch.status" ||
        die "a batch of OpenBao requests failed; see $OUT/approle-batch.status"
    if grep -qv '^20[04] ' "$OUT/approle-batch.status"; then
        die "OpenBao rejected a request of a batch: $(grep -v '^20[04] ' "$OUT/approle-batch.status" | head -n 1)"
    fi
}

# CPU seconds (user and system) that the private OpenBao server has used so far, all its
# threads included.
bao_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$BAO_PID/stat"
}

# The number of token accessors on the server: a run that leaves a login token behind grows it.
token_count() {
    bao_request LIST auth/token/accessors | jq '.data.keys | length'
}

# Recreates each role that a run has touched since the last reset with the policy's settings,
# a new secret ID in its sink file and one more secret ID that no sink contains. Both sides
# thus start each measurement from the same state. Deleting a role destroys its secret IDs, and
# the new role gets a new role ID. APPROLE_TOUCHED is the number of roles, from the first, that
# a run may have changed: all of them after seeding or an enact run, the sample after a
# baseline run.
approle_reset() {
    local secret_ids i role role_body
    mapfile -t secret_ids < <(random_passwords "$APPROLE_TOUCHED")
    role_body="{\"token_policies\":[\"$APPROLE_POLICY\"],\"secret_id_ttl\":$APPROLE_SECRET_ID_TTL}"
    (
        umask 077
        for ((i = 0; i < APPROLE_TOUCHED; i++)); do
            printf '%s' "${secret_ids[$i]}" >"$APPROLE/secrets/${APPROLE_ROLES[$i]}.secret-id"
        done
    )
    for ((i = 0; i < APPROLE_TOUCHED; i++)); do
        role=auth/approle/role/${APPROLE_ROLES[$i]}
        echo "DELETE $role"
        echo "POST $role $role_body"
        echo "POST $role/custom-secret-id {\"secret_id\":\"${secret_ids[$i]}\"}"
        echo "POST $role/secret-id {}"
    done | bao_batch
    APPROLE_TOUCHED=0
}

# Checks independently of either side that the first, middle and last of roles $@ have exactly
# one secret ID and log in with the one in their sink file, and that no login token is left.
approle_spot_check() {
    local roles=("$@") role role_id accessors reply
    for role in "${roles[0]}" "${roles[$((${#roles[@]} / 2))]}" "${roles[-1]}"; do
        accessors=$(bao_request LIST "auth/approle/role/$role/secret-id" | jq '.data.keys | length')
        [ "$accessors" = 1 ] || die "spot check: \`$role\` has $accessors secret IDs, expected 1"
        role_id=$(bao_request GET "auth/approle/role/$role/role-id" | jq -r .data.role_id)
        reply=$(jq -n --arg r "$role_id" --rawfile s "$APPROLE/secrets/$role.secret-id" \
            '{role_id: $r, secret_id: $s}' |
            curl -sS --fail-with-body -X POST --data-binary @- "$ENACT_BAO_ADDR/v1/auth/approle/login") ||
            die "spot check: \`$role\` cannot log in with the secret ID in its sink file"
        bao_request POST auth/token/revoke-accessor \
            "$(jq -c '{accessor: .auth.accessor}' <<<"$reply")" >/dev/null
    done
    [ "$(token_count)" = "$APPROLE_TOKENS" ] ||
        die "spot check: $(token_count) tokens exist after the run, $APPROLE_TOKENS before"
}

approle_seed() {
    step "AppRole: seeding $APPROLES roles, each with a secret ID in its sink and one extra"
    BAO_PID=$(cat "$ENACT_RUN_DIR/bao/server.pid")
    mapfile -t APPROLE_ROLES < <(for i in $(seq 1 "$APPROLES"); do approle_name "$i"; done)
    mkdir -p "$APPROLE/secrets"
    chmod 700 "$APPROLE/secrets"
    APPROLE_TOUCHED=$APPROLES
    bao_request PUT "sys/policies/acl/$APPROLE_POLICY" \
        "$(jq -cn '{policy: "path \"secret/data/bench/*\" { capabilities = [\"read\"] }"}')" >/dev/null

    {
        cat <<YAML
# Generated by bench/run.sh: $APPROLES AppRoles, each with one secret ID more than enact manages.
version: 1
targets:
  bench-bao:
    kind: openbao
    endpoint: $ENACT_BAO_ADDR
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
YAML
        for role in "${APPROLE_ROLES[@]}"; do
            cat <<YAML
  $role:
    owner: bench-team
    purpose: AppRole rotation benchmark
    state: active
    accounts:
      - target: bench-bao
        role: $role
        entitlements:
          - policy: $APPROLE_POLICY
        credential:
          kind: secret_id
          strategy: single
          max_age: 30d
          deliver_to:
            file: secrets/$role.secret-id
YAML
        done
    } >"$APPROLE/enact.yaml"
    APPROLE_TOKENS=$(token_count)
}

# Runs the baseline once over the first APPROLE_SAMPLE roles. $OUT/$label.wall gets its wall
# time in seconds, and $OUT/$label.cpu the CPU seconds of the script with its bao processes, and of the server.
approle_run_baseline() {
    local label=$1 started ended server_before
    approle_reset
    APPROLE_TOUCHED=$APPROLE_SAMPLE
    server_before=$(bao_cpu)
    started=$(now_ns)
    BAO_TOKEN=$ENACT_BAO_TOKEN BAO_ADDR=$ENACT_BAO_ADDR BAO_BIN=$BAO_BIN \
        "$TIME" -v -o "$OUT/$label.time" bash "$REPO/bench/baseline_approle.sh" \
        "$APPROLE/secrets" "${APPROLE_ROLES[@]:0:$APPROLE_SAMPLE}" >"$OUT/$label.out" 2>&1 ||
        die "the AppRole baseline failed; see $OUT/$label.out"
    ended=$(now_ns)
    echo "$(client_cpu "$OUT/$label.time") $(awk -v a="$server_before" -v b="$(bao_cpu)" \
        'BEGIN { printf "%.2f", b - a }')" >"$OUT/$label.cpu"
    approle_spot_check "${APPROLE_ROLES[@]:0:$APPROLE_SAMPLE}"
    seconds_between "$started" "$ended" >"$OUT/$label.wall"
}

# Runs `enact apply` once over every role and checks it verified every rotation. $OUT/$label.wall
# gets its wall time in seconds, $OUT/$label.cpu the CPU seconds of enact and of the server, and
# the JSON log in $OUT/$label.log gives the phases.
approle_run_enact() {
    local label=$1 started ended code=0 verified server_before
    approle_reset
    APPROLE_TOUCHED=$APPROLES
    rm -rf "$WORK/state-$label"
    server_before=$(bao_cpu)
    started=$(now_ns)
    (cd "$APPROLE" && "$TIME" -v -o "$OUT/$label.time" "$ENACT" --state-dir "$WORK/state-$label" \
        --log info --log-format json apply --allow-destructive -o json \
        >"$OUT/$label.json" 2>"$OUT/$label.log") || code=$?
    ended=$(now_ns)
    echo "$(client_cpu "$OUT/$label.time") $(awk -v a="$server_before" -v b="$(bao_cpu)" \
        'BEGIN { printf "%.2f", b - a }')" >"$OUT/$label.cpu"
    [ "$code" = 0 ] || die "\`enact apply\` exited $code, expected 0; see $OUT/$label.log"
    verified=$(jq '.counts.verified' "$OUT/$label.json")
    [ "$verified" = "$APPROLES" ] || die "\`enact apply\` verified $verified of $APPROLES rotations"
    approle_spot_check "${APPROLE_ROLES[@]}"
    echo "$started" >"$OUT/$label.started"
    seconds_between "$started" "$ended" >"$OUT/$label.wall"
}

approle_bench() {
    [ "$APPROLE_SAMPLE" -le "$APPROLES" ] ||
        die "BENCH_APPROLE_BASELINE ($APPROLE_SAMPLE) exceeds BENCH_APPROLES ($APPROLES)"
    approle_seed

    step "AppRole: checking that enact's evidence holds every probe"
    local run seconds probe
    # These functions run in this shell, not in $(...), because each one records which roles
    # it has touched for the next reset.
    approle_run_enact approle-enact-check
    (cd "$APPROLE" && "$ENACT" --state-dir "$WORK/state-approle-enact-check" evidence verify >/dev/null) ||
        die "\`enact evidence verify\` failed for the AppRole run"
    (cd "$APPROLE" && "$ENACT" --state-dir "$WORK/state-approle-enact-check" evidence export) \
        >"$OUT/approle-enact-check.evidence.jsonl"
    jq -r 'select(.type == "action") | .outcome.verdict.probes[]
        | select(.outcome.outcome == "confirmed") | .name' "$OUT/approle-enact-check.evidence.jsonl" |
        sort | uniq -c >"$OUT/approle-enact-check.probes"
    for probe in sink-holds-new-credential login-with-current-credential \
        login-with-previous-credential-rejected previous-credential-purged; do
        grep -q "^ *$APPROLES $probe\$" "$OUT/approle-enact-check.probes" ||
            die "probe \`$probe\` is not confirmed for all $APPROLES AppRole rotations; see $OUT/approle-enact-check.probes"
    done
    echo "all four probes confirmed for each of the $APPROLES rotations; evidence chain and signatures verified"
    echo "warm-up run: $(cat "$OUT/approle-enact-check.wall")s (not counted)"

    APPROLE_BASELINE_TIMES=()
    APPROLE_ENACT_TIMES=()
    for run in $(seq 1 "$RUNS"); do
        step "AppRole run $run of $RUNS: baseline (bao CLI, $APPROLE_SAMPLE roles), then enact ($APPROLES roles)"
        approle_run_baseline "approle-baseline-$run"
        seconds=$(cat "$OUT/approle-baseline-$run.wall")
        echo "baseline: ${seconds}s (CPU s of the script with bao, of the server: $(cat "$OUT/approle-baseline-$run.cpu"))"
        APPROLE_BASELINE_TIMES+=("$seconds")
        approle_run_enact "approle-enact-$run"
        seconds=$(cat "$OUT/approle-enact-$run.wall")
        echo "enact:    ${seconds}s (CPU s of enact, of the server: $(cat "$OUT/approle-enact-$run.cpu");" \
            "phases observe+plan, execute+verify, commit: $(enact_phases "approle-enact-$run"))"
        APPROLE_ENACT_TIMES+=("$seconds")
    done
}

# Prints the CPU milliseconds per rotation in column $1 (1: client, 2: server) of the
# $OUT/$2-N.cpu files, as the median over the runs, for $3 rotations a run.
approle_cpu_per_rotation() {
    local column=$1 prefix=$2 count=$3 values=() file median
    for file in "$OUT/$prefix"-[0-9]*.cpu; do
        values+=("$(cut -d' ' -f"$column" "$file")")
    done
    read -r median _ <<<"$(stats "${values[@]}")"
    awk -v s="$median" -v n="$count" 'BEGIN { printf "%.1f", s * 1000 / n }'
}

# Prints the AppRole rows of the summary table.
approle_summary_rows() {
    local base_med base_min base_max enact_med enact_min enact_max base_rate enact_rate ratio
    read -r base_med base_min base_max <<<"$(stats "${APPROLE_BASELINE_TIMES[@]}")"
    read -r enact_med enact_min enact_max <<<"$(stats "${APPROLE_ENACT_TIMES[@]}")"
    base_rate=$(awk -v n="$APPROLE_SAMPLE" -v s="$base_med" 'BEGIN { printf "%.2f", n / s }')
    enact_rate=$(awk -v n="$APPROLES" -v s="$enact_med" 'BEGIN { printf "%.1f", n / s }')
    ratio=$(awk -v b="$base_rate" -v e="$enact_rate" 'BEGIN { printf "%.1f", e / b }')
    echo "| Baseline: bao CLI rotation of $APPROLE_SAMPLE AppRoles | ${base_med} s | ${base_min} s | ${base_max} s | ${base_rate}/s | $(approle_cpu_per_rotation 1 approle-baseline "$APPROLE_SAMPLE") / $(approle_cpu_per_rotation 2 approle-baseline "$APPROLE_SAMPLE") ms | |"
    echo "| enact apply, $APPROLES AppRole rotations, --concurrency $DEFAULT_CONCURRENCY | ${enact_med} s | ${enact_min} s | ${enact_max} s | ${enact_rate}/s | $(approle_cpu_per_rotation 1 approle-enact "$APPROLES") / $(approle_cpu_per_rotation 2 approle-enact "$APPROLES") ms | |"
    echo "| Ratio of the rates, enact / baseline | ${ratio}× | | | | | ≥ 10×: $(verdict "$ratio" 10 ">=") |"
}
