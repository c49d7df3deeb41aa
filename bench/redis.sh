#!/usr/bin/env bash
# Redis ACL users at scale: `enact plan` over BENCH_REDIS_USERS Redis ACL users. It is a
# benchmark, not a test: nothing here runs in CI and nothing asserts a timing. See the section
# "Redis ACL users at scale" in docs/benchmarks.md for the method and the recorded figures.
#
#   bash bench/redis.sh
#
# 1. Starts a private Redis with scripts/redis.sh (ENACT_RUN_DIR=<repo>/.run/bench) and seeds
#    BENCH_REDIS_USERS ACL users in one pipelined `redis-cli --pipe` stream: each has a
#    password hash, a key pattern, a channel pattern, `+@read +set`, a credential set time in
#    the connector's record, and a sink file that contains its password. One user in 100 also has `+del`, which the policy does not
#    declare, so the plan must contain exactly BENCH_REDIS_USERS / 100 revokes.
# 2. Times `enact plan` without the admin password: that run stops right after parsing.
# 3. Times the first `enact plan -o json` after seeding (Redis has not described its users yet),
#    then BENCH_RUNS later ones, with /usr/bin/time -v, the Redis server's CPU time and
#    `INFO commandstats`.
# 4. Times `ACL LIST` with redis-cli on the warm server, then on a second Redis that loads the
#    same users from an ACL file, as a production server does after a restart.
#
# Settings (environment): BENCH_REDIS_USERS (100000), BENCH_RUNS (3), BENCH_REDIS_PLAN_LIMIT
# (90: seconds after which a plan run is stopped and recorded as unfinished; 0 for no limit),
# ENACT_BENCH_REDIS_PORT (56480; the ACL file server uses the next port), ENACT_BENCH_BIN:
# an enact binary to measure instead of building target/release/enact, and BENCH_REDIS_SERVER:
# `redis` (the default, Debian's redis-server) or `valkey` (Valkey 8 from bench/valkey.sh).
# Work files and outputs go to .run/bench-redis, or .run/bench-valkey (ignored by git).
# bench/run.sh empties .run/bench and the files in bench/out when it starts, so nothing of this
# script lives there except the Redis server's own folder, whose PID this script also keeps in
# memory.
set -euo pipefail
# A function that fails inside $(...) stops the script too.
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
USERS=${BENCH_REDIS_USERS:-100000}
RUNS=${BENCH_RUNS:-3}
PLAN_LIMIT=${BENCH_REDIS_PLAN_LIMIT:-90}
export ENACT_RUN_DIR=$REPO/.run/bench
export ENACT_REDIS_PORT=${ENACT_BENCH_REDIS_PORT:-56480}
ACLFILE_PORT=$((ENACT_REDIS_PORT + 1))
SERVER=${BENCH_REDIS_SERVER:-redis}
case $SERVER in
redis) ;;
valkey)
    # Its redis-server and redis-cli come first in PATH, for this script and scripts/redis.sh.
    VALKEY_DIR=$(bash "$REPO/bench/valkey.sh")
    PATH=$VALKEY_DIR/bin:$PATH
    ;;
*)
    echo "bench/redis.sh: BENCH_REDIS_SERVER must be \`redis\` or \`valkey\`, got \`$SERVER\`" >&2
    exit 1
    ;;
esac
WORK=$REPO/.run/bench-$SERVER
OUT=$WORK/out
ENACT=${ENACT_BENCH_BIN:-$REPO/target/release/enact}
TIME=/usr/bin/time
# The hash key in which the Redis connector records when it set each password (microseconds
# since the Unix epoch); see crates/connectors/redis/src/lib.rs.
CREDENTIAL_KEY=enact:credential-set-at

step() {
    printf '\n\033[1m==> %s\033[0m\n' "$*"
}

die() {
    echo "bench/redis.sh: $*" >&2
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

# The timestamp of the first JSON log line in file $1 whose message is $2, or nothing.
log_stamp() {
    jq -rR --arg m "$2" 'fromjson? | select(.fields.message == $m) | .timestamp' "$1" | head -n 1
}

# Prints "median min max" of the numbers given as arguments, with $STATS_DIGITS decimals (3).
stats() {
    printf '%s\n' "$@" | sort -g | awk -v d="${STATS_DIGITS:-3}" '
        { v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            f = "%." d "f"
            printf f " " f " " f, m, v[1], v[NR]
        }'
}

# Runs redis-cli against port $1 as the `default` user; the password goes through the
# environment, not argv.
cli_at() {
    local port=$1
    shift
    REDISCLI_AUTH=$ENACT_REDIS_DEFAULT_PASSWORD redis-cli --no-auth-warning -h 127.0.0.1 \
        -p "$port" "$@"
}

cli() {
    cli_at "$ENACT_REDIS_PORT" "$@"
}

# CPU seconds (user and system, all threads) that Redis process $1 has used so far.
process_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Microseconds that `ACL LIST` has spent inside the server on port $1 since the last
# CONFIG RESETSTAT, from INFO commandstats; 0 when it has not run.
acl_list_usec() {
    cli_at "$1" INFO commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_acl|list:calls=[0-9]*,usec=\([0-9]*\),.*/\1/p' | grep . || echo 0
}

# Whether the process with PID $1 still runs and is a Redis server.
is_redis() {
    kill -0 "$1" 2>/dev/null && grep -q redis "/proc/$1/comm" 2>/dev/null
}

REDIS_PID=
ACLFILE_PID=
# Stops both servers. scripts/redis.sh finds the first by its PID file; if bench/run.sh has
# emptied .run/bench meanwhile, the PID kept here stops it.
stop_servers() {
    bash "$REPO/scripts/redis.sh" stop >/dev/null 2>&1 || true
    local pid
    if [ -z "$ACLFILE_PID" ] && [ -f "$WORK/aclfile/redis.pid" ]; then
        ACLFILE_PID=$(cat "$WORK/aclfile/redis.pid")
    fi
    for pid in "$REDIS_PID" "$ACLFILE_PID"; do
        if [ -n "$pid" ] && is_redis "$pid"; then
            kill "$pid"
        fi
    done
}

[ -x "$TIME" ] || die "$TIME is missing: install the Debian package \`time\` (apt-get install time)"
command -v jq >/dev/null || die "jq is missing: install the Debian package \`jq\`"
perl -MDigest::SHA -e 1 2>/dev/null || die "perl with Digest::SHA is missing: install the Debian package \`perl\`"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    die "redis-server or redis-cli is missing: install the Debian package \`redis-server\`"
[ $((USERS % 100)) = 0 ] && [ "$USERS" -ge 100 ] ||
    die "BENCH_REDIS_USERS must be a multiple of 100, got \`$USERS\`"
LIMIT_CMD=()
if [ "$PLAN_LIMIT" != 0 ]; then
    LIMIT_CMD=(timeout "$PLAN_LIMIT")
fi

# ---------------------------------------------------------------------------------------------
if [ -z "${ENACT_BENCH_BIN:-}" ]; then
    step "Building enact in release mode"
    ENACT=$(bash "$REPO/scripts/build-enact.sh" --release)
fi
[ -x "$ENACT" ] || die "no enact binary at \`$ENACT\`"
BENCH_STARTED=$(now_ns)

step "Starting a fresh private Redis on 127.0.0.1:$ENACT_REDIS_PORT"
stop_servers
for port in "$ENACT_REDIS_PORT" "$ACLFILE_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port on 127.0.0.1 is in use by another server; set ENACT_BENCH_REDIS_PORT to a free port"
    fi
done
rm -rf "$WORK"
mkdir -p "$OUT" "$WORK/aclfile"
chmod 700 "$WORK"
# A copy of the binary, so that a build started elsewhere during the run cannot swap it.
cp "$ENACT" "$WORK/enact"
ENACT=$WORK/enact
trap stop_servers EXIT
bash "$REPO/scripts/redis.sh" start
set -a
# shellcheck disable=SC1091
. "$ENACT_RUN_DIR/redis/env"
set +a
REDIS_PID=$(cat "$ENACT_RUN_DIR/redis/redis.pid")

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "($(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | wc -l) tracked files changed in the work tree)"
    echo "nproc: $(nproc)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    lscpu | grep -v '^Flags:' | head -n 20
    free -h
    "$ENACT" --version
    redis-server --version
    echo "server settings (scripts/redis.sh and the defaults):"
    for name in save appendonly io-threads hz maxmemory maxmemory-policy acl-pubsub-default \
        acllog-max-len slowlog-log-slower-than lazyfree-lazy-user-del; do
        echo "$name = $(cli CONFIG GET "$name" | sed -n 2p)"
    done
} >"$OUT/hardware.txt"

# ---------------------------------------------------------------------------------------------
step "Seeding $USERS ACL users with a password, rules and a credential set time"
user_name() {
    printf 'bench-u%06d' "$1"
}
# Every user gets a random password, sent as its SHA-256 hash (`#<hash>`) as the connector
# does, and a sink file secrets/USER.pw that contains the password: `enact plan` reads every
# sink and plans a rotation for one that contains no credential. The set time is 10 days ago, well
# inside max_age, so the plan rotates nothing.
set_at=$((($(date +%s) - 10 * 86400) * 1000000))
mkdir -p "$WORK/secrets"
chmod 700 "$WORK/secrets"
head -c $((USERS * 18)) /dev/urandom | od -An -v -tx1 | tr -d ' \n' | fold -w 36 |
    awk -v dir="$WORK/secrets" '{ path = sprintf("%s/bench-u%06d.pw", dir, NR); print > path; close(path); print }' |
    perl -MDigest::SHA=sha256_hex -ne 'chomp; print sha256_hex($_), "\n"' >"$WORK/hashes"
# Writes the commands in the Redis protocol (RESP), which `redis-cli --pipe` sends as they are.
awk -v set_at="$set_at" -v key="$CREDENTIAL_KEY" '
    function command(n, args,   out, j) {
        out = "*" n "\r\n"
        for (j = 1; j <= n; j++) out = out "$" length(args[j]) "\r\n" args[j] "\r\n"
        return out
    }
    NF == 1 {
        i = NR
        user = sprintf("bench-u%06d", i)
        n = split("ACL SETUSER " user " on #" $1 " resetchannels", args, " ")
        args[++n] = sprintf("~bench:%06d:*", i)
        args[++n] = "&bench-events"
        args[++n] = "-@all"
        args[++n] = "+@read"
        args[++n] = "+set"
        if (i % 100 == 0) args[++n] = "+del"
        printf "%s", command(n, args)
        split("HSET " key " " user " " set_at, args, " ")
        printf "%s", command(4, args)
    }' "$WORK/hashes" >"$WORK/seed.resp"
rm -f "$WORK/hashes"
started=$(now_ns)
cli --pipe <"$WORK/seed.resp" >"$OUT/seed.log" 2>&1 || die "seeding failed; see $OUT/seed.log"
SEED_SECONDS=$(seconds_between "$started" "$(now_ns)")
rm -f "$WORK/seed.resp"
grep -q "errors: 0, replies: $((USERS * 2))\$" "$OUT/seed.log" ||
    die "seeding did not get $((USERS * 2)) replies without error; see $OUT/seed.log"
# ACL USERS lists names only; ACL LIST would describe every user and warm the server up.
[ "$(cli ACL USERS | grep -c '^bench-u')" = "$USERS" ] || die "Redis does not list $USERS bench users"
[ "$(cli HLEN "$CREDENTIAL_KEY")" = "$USERS" ] || die "the credential record does not hold $USERS users"
echo "seeded $USERS users in ${SEED_SECONDS}s; $(cli INFO memory | tr -d '\r' | grep '^used_memory_human:')"
echo "used memory after seeding: $(cli INFO memory | tr -d '\r' | sed -n 's/^used_memory_human://p')" \
    >>"$OUT/hardware.txt"
DRIFT=$((USERS / 100))

{
    cat <<YAML
# Generated by bench/redis.sh: $USERS Redis ACL users, each with four rules and a password.
version: 1
targets:
  bench-redis:
    kind: redis
    endpoint: 127.0.0.1:$ENACT_REDIS_PORT
    admin:
      user: $ENACT_REDIS_ADMIN_USER
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
YAML
    awk -v n="$USERS" 'BEGIN {
        for (i = 1; i <= n; i++) {
            user = sprintf("bench-u%06d", i)
            printf "  redis-%06d:\n", i
            printf "    owner: team-%d\n", i % 20
            printf "    purpose: redis plan benchmark\n"
            printf "    state: active\n"
            printf "    accounts:\n"
            printf "      - target: bench-redis\n"
            printf "        role: %s\n", user
            printf "        entitlements:\n"
            printf "          - rule: \"~bench:%06d:*\"\n", i
            printf "          - rule: \"&bench-events\"\n"
            printf "          - rule: \"+@read\"\n"
            printf "          - rule: \"+set\"\n"
            printf "        credential:\n"
            printf "          kind: password\n"
            printf "          max_age: 90d\n"
            printf "          deliver_to:\n"
            printf "            file: secrets/%s.pw\n", user
        }
    }'
} >"$WORK/enact.yaml"
POLICY_SIZE="$(wc -l <"$WORK/enact.yaml") lines, $(du -h "$WORK/enact.yaml" | cut -f1)"
echo "policy: $POLICY_SIZE"

# ---------------------------------------------------------------------------------------------
step "Policy parsing alone (the run stops when it looks for the admin password)"
PARSE_TIMES=()
PARSE_RSS=()
for run in $(seq 1 "$RUNS"); do
    started=$(now_ns)
    code=0
    (cd "$WORK" && env -u ENACT_REDIS_ADMIN_PASSWORD "$TIME" -v -o "$OUT/parse-$run.time" \
        "$ENACT" --state-dir "$WORK/state" plan >/dev/null 2>"$OUT/parse-$run.err") || code=$?
    ended=$(now_ns)
    [ "$code" = 1 ] && grep -q ENACT_REDIS_ADMIN_PASSWORD "$OUT/parse-$run.err" ||
        die "the parse-only run did not stop at the admin password; see $OUT/parse-$run.err"
    PARSE_TIMES+=("$(seconds_between "$started" "$ended")")
    PARSE_RSS+=("$(awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$OUT/parse-$run.time")")
done
echo "parse: ${PARSE_TIMES[*]} s; peak RSS ${PARSE_RSS[*]} MB"

# Runs `enact plan -o json` once as run $1 and writes "code wall observed rss redis_cpu
# acl_list" to $OUT/$1.result. These are the exit code, the wall seconds, the seconds from the
# start until the "observed target" log line (`-` if there is none), the peak RSS in MB, the
# server's CPU seconds, and the seconds `ACL LIST` spent inside the server. A finished run
# must exit 2 with exactly $DRIFT revokes of `+del`; a run stopped by BENCH_REDIS_PLAN_LIMIT
# exits 124 and is recorded as unfinished.
run_plan() {
    local label=$1 started ended code=0 cpu_before observed="" stamp revokes actions
    cli CONFIG RESETSTAT >/dev/null
    cli SLOWLOG RESET >/dev/null
    cpu_before=$(process_cpu "$REDIS_PID")
    started=$(now_ns)
    (cd "$WORK" && "$TIME" -v -o "$OUT/$label.time" "${LIMIT_CMD[@]}" "$ENACT" \
        --state-dir "$WORK/state" --log info --log-format json plan -o json \
        >"$OUT/$label.json" 2>"$OUT/$label.log") || code=$?
    ended=$(now_ns)
    cli SLOWLOG GET 5 >"$OUT/$label.slowlog"
    stamp=$(log_stamp "$OUT/$label.log" "observed target")
    if [ -n "$stamp" ]; then
        observed=$(seconds_between "$started" "$(stamp_ns "$stamp")")
    fi
    if [ "$code" = 124 ]; then
        echo "stopped after BENCH_REDIS_PLAN_LIMIT = $PLAN_LIMIT s" >&2
    else
        [ "$code" = 2 ] || die "\`enact plan\` exited $code, expected 2 (changes pending); see $OUT/$label.log"
        actions=$(jq '.plan.actions | length' "$OUT/$label.json")
        revokes=$(jq '[.plan.actions[] | select(.kind.kind == "revoke"
            and .kind.entitlement.rule.rule == "+del")] | length' "$OUT/$label.json")
        [ "$actions" = "$DRIFT" ] && [ "$revokes" = "$DRIFT" ] ||
            die "the plan has $actions action(s), $revokes revoke(s) of +del; expected $DRIFT"
    fi
    echo "$code $(seconds_between "$started" "$ended") ${observed:--}" \
        "$(awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$OUT/$label.time")" \
        "$(awk -v a="$cpu_before" -v b="$(process_cpu "$REDIS_PID")" 'BEGIN { printf "%.2f", b - a }')" \
        "$(awk -v u="$(acl_list_usec "$ENACT_REDIS_PORT")" 'BEGIN { printf "%.3f", u / 1e6 }')" \
        >"$OUT/$label.result"
}

# Prints one run's result for a person.
show_result() {
    local code wall observed rss cpu acl
    read -r code wall observed rss cpu acl <"$OUT/$1.result"
    local outcome="exit 2, $DRIFT revokes"
    [ "$code" = 124 ] && outcome="UNFINISHED: stopped at the limit"
    echo "wall ${wall}s, observed after ${observed}s, peak RSS ${rss} MB, Redis CPU ${cpu}s" \
        "(ACL LIST ${acl}s); $outcome"
}

step "Plan 1: the first after seeding (Redis has not described its users yet)"
run_plan plan-cold
show_result plan-cold

for run in $(seq 1 "$RUNS"); do
    step "Plan run $run of $RUNS on the warm server"
    run_plan "plan-warm-$run"
    show_result "plan-warm-$run"
done

# ---------------------------------------------------------------------------------------------
step "ACL LIST with redis-cli on the warm server"
cli CONFIG RESETSTAT >/dev/null
WARM_CLI=()
for run in 1 2 3; do
    started=$(now_ns)
    cli ACL LIST >"$WORK/aclfile/users.acl"
    WARM_CLI+=("$(seconds_between "$started" "$(now_ns)")")
done
WARM_INSIDE=$(awk -v u="$(acl_list_usec "$ENACT_REDIS_PORT")" 'BEGIN { printf "%.3f", u / 3e6 }')
echo "redis-cli wall: ${WARM_CLI[*]} s; inside Redis ${WARM_INSIDE}s per call"

step "ACL LIST after a restart: a second Redis on 127.0.0.1:$ACLFILE_PORT loads the users from an ACL file"
# The file is what ACL LIST printed, which is the ACL file format. It contains password
# hashes only, and the `default` user keeps its password.
chmod 600 "$WORK/aclfile/users.acl"
started=$(now_ns)
redis-server --bind 127.0.0.1 --port "$ACLFILE_PORT" --save '' --appendonly no \
    --aclfile "$WORK/aclfile/users.acl" --daemonize yes --pidfile "$WORK/aclfile/redis.pid" \
    --logfile "$WORK/aclfile/redis.log" --dir "$WORK/aclfile" ||
    die "the ACL file server failed to start; see $WORK/aclfile/redis.log"
tries=0
until [[ $(cli_at "$ACLFILE_PORT" TIME 2>/dev/null | head -n 1) =~ ^[0-9]+$ ]]; do
    tries=$((tries + 1))
    [ "$tries" -lt 600 ] || die "the ACL file server did not respond to TIME within 60 s; see $WORK/aclfile/redis.log"
    sleep 0.1
done
ACLFILE_READY=$(seconds_between "$started" "$(now_ns)")
ACLFILE_PID=$(cat "$WORK/aclfile/redis.pid")
[ "$(cli_at "$ACLFILE_PORT" ACL USERS | grep -c '^bench-u')" = "$USERS" ] ||
    die "the ACL file server did not load $USERS bench users"
RESTART_CLI=()
RESTART_INSIDE=()
for run in 1 2 3; do
    cli_at "$ACLFILE_PORT" CONFIG RESETSTAT >/dev/null
    started=$(now_ns)
    cli_at "$ACLFILE_PORT" ACL LIST >/dev/null
    RESTART_CLI+=("$(seconds_between "$started" "$(now_ns)")")
    RESTART_INSIDE+=("$(awk -v u="$(acl_list_usec "$ACLFILE_PORT")" 'BEGIN { printf "%.3f", u / 1e6 }')")
done
kill "$ACLFILE_PID"
rm -f "$WORK/aclfile/users.acl"
echo "loaded and answering after ${ACLFILE_READY}s; ACL LIST 1, 2, 3: redis-cli wall ${RESTART_CLI[*]} s," \
    "inside Redis ${RESTART_INSIDE[*]} s"

# ---------------------------------------------------------------------------------------------
step "Summary"
# Prints column $1 (1-based: code wall observed rss cpu acl) of the warm runs' results.
warm_column() {
    local run
    for run in $(seq 1 "$RUNS"); do
        cut -d' ' -f"$1" "$OUT/plan-warm-$run.result"
    done
}
# Prints a table row for one column of the warm runs: median, min and max. When a run was
# stopped at the limit, a whole-run figure ($3 = whole) is only a lower bound, marked with ≥.
warm_row() {
    local column=$1 unit=$2 median min max mark="" digits=3
    if [ "$3" = whole ] && [[ " $(warm_column 1 | tr "\n" " ") " == *" 124 "* ]]; then
        mark="≥ "
    fi
    [ "$unit" = MB ] && digits=1
    mapfile -t values < <(warm_column "$column")
    read -r median min max <<<"$(STATS_DIGITS=$digits stats "${values[@]}")"
    echo "$mark$median $unit | $mark$min $unit | $mark$max $unit"
}
# Prints column $1 of the first run's result with unit $3, marked with ≥ as in warm_row.
cold_value() {
    local mark=""
    if [ "$2" = whole ] && [ "$(cut -d' ' -f1 "$OUT/plan-cold.result")" = 124 ]; then
        mark="≥ "
    fi
    echo "$mark$(cut -d' ' -f"$1" "$OUT/plan-cold.result") $3"
}
verdict() {
    if awk -v v="$1" -v t="$2" 'BEGIN { exit !(v + 0 < t) }' && [ "$3" != 124 ]; then
        echo met
    else
        echo "NOT met"
    fi
}
read -r parse_med parse_min parse_max <<<"$(stats "${PARSE_TIMES[@]}")"
read -r prss_med prss_min prss_max <<<"$(STATS_DIGITS=1 stats "${PARSE_RSS[@]}")"
read -r cold_code cold_wall _ cold_rss _ _ <"$OUT/plan-cold.result"
mapfile -t warm_walls < <(warm_column 2)
mapfile -t warm_rss < <(warm_column 4)
read -r warm_wall_med _ _ <<<"$(stats "${warm_walls[@]}")"
read -r _ _ warm_rss_max <<<"$(stats "${warm_rss[@]}")"
warm_code=$(warm_column 1 | sort -n | tail -n 1)

{
    echo "## Redis results ($(date -u +%Y-%m-%d), $(nproc) CPUs, $USERS users, $RUNS warm runs)"
    echo
    echo "Load average at start: $(sed -n 's/^load average at start: //p' "$OUT/hardware.txt");" \
        "at the end: $(cut -d' ' -f1-3 /proc/loadavg). Seeding took ${SEED_SECONDS} s; the" \
        "policy has $POLICY_SIZE. The benchmark took" \
        "$(awk -v s="$(seconds_between "$BENCH_STARTED" "$(now_ns)")" 'BEGIN { printf "%.0f", s }') s" \
        "after the build."
    echo
    if grep -q '^124 ' "$OUT"/plan-*.result; then
        echo "Runs marked ≥ were stopped at BENCH_REDIS_PLAN_LIMIT = $PLAN_LIMIT s before they finished."
        echo
    fi
    echo "| Measurement | First plan after seeding | Later runs: median | Min | Max |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    echo "| enact plan: wall | $(cold_value 2 whole s) | $(warm_row 2 s whole) |"
    echo "| enact plan: peak RSS | $(cold_value 4 whole MB) | $(warm_row 4 MB whole) |"
    echo "| enact plan: start until the target is observed | $(cold_value 3 part s) | $(warm_row 3 s part) |"
    echo "| Redis: CPU during the run | $(cold_value 5 part s) | $(warm_row 5 s part) |"
    echo "| Redis: inside \`ACL LIST\` (INFO commandstats) | $(cold_value 6 part s) | $(warm_row 6 s part) |"
    echo "| enact plan: start and policy parsing only | | $parse_med s | $parse_min s | $parse_max s |"
    echo "| enact plan: peak RSS of parsing only | | $prss_med MB | $prss_min MB | $prss_max MB |"
    echo
    echo "| \`redis-cli ACL LIST > /dev/null\` | Call 1 | Call 2 | Call 3 |"
    echo "| --- | ---: | ---: | ---: |"
    echo "| Warm server, redis-cli wall | ${WARM_CLI[0]} s | ${WARM_CLI[1]} s | ${WARM_CLI[2]} s |"
    echo "| Server restarted from an ACL file, redis-cli wall | ${RESTART_CLI[0]} s | ${RESTART_CLI[1]} s | ${RESTART_CLI[2]} s |"
    echo "| Server restarted from an ACL file, inside Redis | ${RESTART_INSIDE[0]} s | ${RESTART_INSIDE[1]} s | ${RESTART_INSIDE[2]} s |"
    echo
    echo "On the warm server, \`ACL LIST\` took ${WARM_INSIDE} s per call inside Redis. The server" \
        "that loaded the ACL file answered ${ACLFILE_READY} s after it was started."
    echo
    echo "| Target | First plan | Later runs |"
    echo "| --- | --- | --- |"
    echo "| Plan at $USERS users under 10 s | $(verdict "$cold_wall" 10 "$cold_code") | $(verdict "$warm_wall_med" 10 "$warm_code") (median) |"
    echo "| Plan at $USERS users under 300 MB peak RSS | $(verdict "$cold_rss" 300 "$cold_code") | $(verdict "$warm_rss_max" 300 "$warm_code") (max) |"
} | tee "$OUT/summary.md"
echo
echo "Logs and outputs are in $OUT; hardware and server settings in $OUT/hardware.txt."
