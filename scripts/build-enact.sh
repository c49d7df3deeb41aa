#!/usr/bin/env bash
# Builds the enact binary and prints its path. Arguments go to `cargo build` (such as
# `--release`). Cargo itself reports the path, so CARGO_TARGET_DIR and a target directory set
# in a cargo configuration are followed.
#
#   ENACT=$(bash scripts/build-enact.sh --release)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

command -v jq >/dev/null || die "jq is missing: install the Debian package \`jq\`"
cd "$REPO"
built=$(cargo build --locked -p enact-cli --message-format=json-render-diagnostics "$@" |
    jq -r 'select(.reason == "compiler-artifact" and .target.name == "enact" and .executable != null) | .executable' |
    tail -n 1)
[ -n "$built" ] && [ -x "$built" ] || die "cargo reported no enact binary; see the build output above"
echo "$built"
