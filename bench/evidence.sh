#!/usr/bin/env bash
# The evidence log benchmark: append with durable group commit, verify, inclusion proofs.
# It is not a test and asserts nothing; docs/benchmarks.md ("Evidence log") records its output.
#
#   bench/evidence.sh [RECORDS] [GROUP]      defaults: 1000000 records, a commit every 1000
#
# The log is written to a new temporary directory under ${TMPDIR:-/tmp}, removed at the end.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RECORDS=${1:-1000000}
GROUP=${2:-1000}

cargo build --release --quiet --manifest-path "$REPO/Cargo.toml" -p enact-evidence --example evidence_bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
# Other work on the machine slows every phase; the load average before and after shows how much.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$REPO/target/release/examples/evidence_bench" "$WORK/state" "$RECORDS" "$GROUP"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
