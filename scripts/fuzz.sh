#!/usr/bin/env bash
# Runs every cargo-fuzz target of the workspace for SECONDS each and prints a table of the
# runs, the corpus size and the crashes found.
#
#   scripts/fuzz.sh SECONDS [TARGET...]    such as: scripts/fuzz.sh 60, or scripts/fuzz.sh 10 parse_policy
#
# The targets live in crates/policy/fuzz (the policy and rule parsers), crates/evidence/fuzz
# (the log reader and verifier, and the proof decoder) and crates/respond/fuzz (the gitleaks,
# TruffleHog and detect-secrets importers). cargo-fuzz needs a nightly toolchain
# (`rustup toolchain install nightly`, `cargo install cargo-fuzz`). The policy corpora start
# from the sample policies under crates/policy/tests; a crash is saved under the crate's
# fuzz/artifacts/TARGET/ and named in the table.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

[ $# -ge 1 ] || die "usage: scripts/fuzz.sh SECONDS [TARGET...]"
SECONDS_EACH=$1
shift
[[ $SECONDS_EACH =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number, not \`$SECONDS_EACH\`"
cargo +nightly fuzz --version >/dev/null 2>&1 \
    || die "cargo-fuzz on a nightly toolchain is missing: rustup toolchain install nightly && cargo install cargo-fuzz"

# Seeds the policy corpora with the sample policies, once.
seed_policy_corpus() {
    local corpus
    for corpus in parse_policy parse_rules; do
        mkdir -p "$REPO/crates/policy/fuzz/corpus/$corpus"
        cp "$REPO"/crates/policy/tests/*.yaml "$REPO/crates/policy/fuzz/corpus/$corpus/"
    done
}

seed_policy_corpus
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for crate in policy evidence respond; do
    dir=$REPO/crates/$crate/fuzz
    for target in $(cd "$dir" && cargo +nightly fuzz list); do
        if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$target"; then
            continue
        fi
        log "fuzzing $crate/$target for $SECONDS_EACH s, after cargo-fuzz builds it (tens of seconds the first time)"
        output=$(mktemp)
        status=0
        # -rss_limit_mb stays at libFuzzer's default of 2048; -max_len bounds one input at 64 KiB.
        (cd "$dir" && cargo +nightly fuzz run "$target" -- \
            -max_total_time="$SECONDS_EACH" -max_len=65536 -print_final_stats=1) >"$output" 2>&1 \
            || status=$?
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$output" | grep -o '[0-9]*$' | tail -1 || true)
        corpus=$(find "$dir/corpus/$target" -type f 2>/dev/null | wc -l)
        crash=$(grep -o 'Test unit written to [^ ]*' "$output" | sed 's/Test unit written to //' | tail -1 || true)
        if [ "$status" -ne 0 ] && [ -z "$crash" ]; then
            tail -20 "$output" >&2
            crash="failed with status $status"
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$crate" "$target" "${runs:-?}" "$corpus" "${crash:-none}" >>"$results"
        rm -f "$output"
    done
done

printf '\n%-9s %-16s %12s %8s  %s\n' crate target runs corpus crash
while IFS=$'\t' read -r crate target runs corpus crash; do
    printf '%-9s %-16s %12s %8s  %s\n' "$crate" "$target" "$runs" "$corpus" "$crash"
done <"$results"
! grep -qv $'\tnone$' "$results"
