#!/usr/bin/env bash
# Runs the full kill loop: an apply of 1,000 actions across PostgreSQL, OpenBao and Redis is
# killed with SIGKILL at 100 seeded random points, then applied until it succeeds, and the
# side effects are counted from the targets' own records (see crates/cli/tests/kill_loop.rs).
#
#   scripts/kill-loop.sh [ACTIONS [KILLS [SEED]]]    defaults: 1000 100 2026
#
# It needs the test servers that `make test` uses (scripts/pg.sh, bao.sh and redis.sh start)
# and starts a private Redis server of its own. The figures are printed at the end; they are
# recorded in docs/reliability.md.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

RUN_DIR=${ENACT_RUN_DIR:-$REPO/.run}
for service in pg bao redis; do
    [ -f "$RUN_DIR/$service/env" ] || die "no $RUN_DIR/$service/env: start the server with scripts/$service.sh start"
done
export ENACT_PG_ENV=${ENACT_PG_ENV:-$RUN_DIR/pg/env}
export ENACT_BAO_ENV=${ENACT_BAO_ENV:-$RUN_DIR/bao/env}
export ENACT_REDIS_ENV=${ENACT_REDIS_ENV:-$RUN_DIR/redis/env}
export ENACT_KILL_ACTIONS=${1:-1000}
export ENACT_KILL_COUNT=${2:-100}
export ENACT_KILL_SEED=${3:-2026}

log "kill loop: $ENACT_KILL_ACTIONS actions, $ENACT_KILL_COUNT kills, seed $ENACT_KILL_SEED"
cd "$REPO"
cargo test -p enact-cli --test kill_loop -- --ignored --exact kill_loop_full --nocapture
