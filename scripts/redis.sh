#!/usr/bin/env bash
# Installs, starts and stops a private Redis 7 server for enact's tests and demo.
#
#   scripts/redis.sh start    install on first use, start, create the admin user `enact-admin`
#   scripts/redis.sh stop     stop the server (a no-op when it is stopped)
#   scripts/redis.sh status   print whether it runs, and where
#   scripts/redis.sh env      print the path of the env file that contains the connection settings
#
# Everything lives in ${ENACT_RUN_DIR:-<repo>/.run}/redis: the configuration with the two users
# (redis.conf), the PID file (redis.pid), the server log (redis.log) and the env file (env),
# all mode 0600. The server listens on 127.0.0.1:${ENACT_REDIS_PORT:-56379} only, saves
# nothing to disk (`--save ''`, no append-only file), and never touches a system service.
#
# Every start begins empty, with new random passwords for `default` and `enact-admin`. The
# configuration holds only their SHA-256 hashes; the passwords themselves are stored only in
# the env file. `enact-admin` has the rights that the Redis connector documents at the top of
# crates/connectors/redis/src/lib.rs.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

RUN_DIR=${ENACT_RUN_DIR:-$REPO/.run}
REDIS_DIR=$RUN_DIR/redis
ENV_FILE=$REDIS_DIR/env
PID_FILE=$REDIS_DIR/redis.pid
LOG=$REDIS_DIR/redis.log
CONFIG=$REDIS_DIR/redis.conf
PORT=${ENACT_REDIS_PORT:-56379}
ADMIN_USER=enact-admin
# The key in which the connector records when it set each password; see the connector's docs.
CREDENTIAL_KEY=enact:credential-set-at

ensure_installed() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "redis-server is missing and installing it needs root: apt-get install redis-server"
    log "installing redis-server"
    apt-get update
    # The package's own service is never started: this script runs a private instance.
    DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
}

# Prints the PID of the running server, or nothing. A PID is trusted only while it still names
# a `redis-server` process, because the kernel reuses PIDs.
running_pid() {
    [ -f "$PID_FILE" ] || return 0
    local pid
    pid=$(cat "$PID_FILE")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis "/proc/$pid/comm" 2>/dev/null; then
        echo "$pid"
    fi
}

# Prints the SHA-256 of a password as hex, the form in which Redis stores passwords.
sha256_hex() {
    printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# Writes the configuration: both users, each with the hash of its password only.
write_config() {
    local default_password=$1 admin_password=$2
    cat >"$CONFIG" <<EOF
# Written by scripts/redis.sh on every start. The other settings are on the command line.
user default on #$(sha256_hex "$default_password") ~* &* +@all
user $ADMIN_USER on #$(sha256_hex "$admin_password") resetchannels -@all +acl|list +acl|getuser +acl|setuser +acl|deluser +client|list +client|kill +time +hgetall +hget +hset +hdel ~$CREDENTIAL_KEY
EOF
}

# Runs redis-cli as the admin user; the password goes through the environment, not argv.
admin_cli() {
    REDISCLI_AUTH=$ADMIN_PASSWORD redis-cli --no-auth-warning -h 127.0.0.1 -p "$PORT" --user "$ADMIN_USER" "$@"
}

wait_ready() {
    local tries=0 reply
    while true; do
        # redis-cli exits 0 even when AUTH fails, so the reply is what counts.
        reply=$(admin_cli TIME 2>&1 | head -n 1 || true)
        if [[ $reply =~ ^[0-9]+$ ]]; then
            return
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || die "Redis did not become ready on 127.0.0.1:$PORT within 10 s (last reply: $reply); see $LOG"
        sleep 0.1
    done
}

cmd_start() {
    local pid
    pid=$(running_pid)
    if [ -n "$pid" ] && [ -f "$ENV_FILE" ]; then
        log "Redis already runs on 127.0.0.1:$(current_port), pid $pid, env in $ENV_FILE"
        return
    fi
    if [ -n "$pid" ]; then
        # A server without an env file never finished starting, and its data is in memory only.
        log "Redis (pid $pid) runs without an env file, so it is restarted"
        cmd_stop
    fi
    ensure_installed
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "something else already listens on 127.0.0.1:$PORT: stop it, or set ENACT_REDIS_PORT"
    fi

    umask 077
    mkdir -p "$REDIS_DIR"
    chmod 0700 "$REDIS_DIR"
    # The old files describe a server whose data is gone.
    rm -f "$ENV_FILE" "$PID_FILE" "$LOG" "$CONFIG"

    local default_password
    default_password=$(random_password)
    ADMIN_PASSWORD=$(random_password)
    write_config "$default_password" "$ADMIN_PASSWORD"
    if ! redis-server "$CONFIG" --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
        --daemonize yes --pidfile "$PID_FILE" --logfile "$LOG" --dir "$REDIS_DIR"; then
        tail -n 20 "$LOG" >&2 || true
        die "Redis failed to start; see $LOG"
    fi
    wait_ready
    pid=$(running_pid)
    [ -n "$pid" ] || die "Redis wrote no PID file at $PID_FILE; see $LOG"

    cat >"$ENV_FILE.tmp" <<EOF
ENACT_REDIS_HOST=127.0.0.1
ENACT_REDIS_PORT=$PORT
ENACT_REDIS_ADMIN_USER=$ADMIN_USER
ENACT_REDIS_ADMIN_PASSWORD=$ADMIN_PASSWORD
ENACT_REDIS_DEFAULT_PASSWORD=$default_password
ENACT_REDIS_LOG=$(shell_quote "$LOG")
EOF
    chmod 0600 "$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    log "Redis runs on 127.0.0.1:$PORT, pid $pid, log in $LOG, env in $ENV_FILE"
    log "nothing is saved: a restart starts empty with new passwords"
}

current_port() {
    sed -n 's/^ENACT_REDIS_PORT=//p' "$ENV_FILE" 2>/dev/null || echo "$PORT"
}

cmd_stop() {
    local pid
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        log "Redis is not running"
        rm -f "$PID_FILE" "$ENV_FILE"
        return
    fi
    kill "$pid"
    local tries=0
    while kill -0 "$pid" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || die "Redis (pid $pid) did not stop within 10 s"
        sleep 0.1
    done
    rm -f "$PID_FILE" "$ENV_FILE"
    log "Redis stopped; its users and data are gone, because nothing is saved"
}

cmd_status() {
    local pid
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        log "Redis runs on 127.0.0.1:$(current_port), pid $pid, log in $LOG"
    else
        log "Redis is not running"
        return 3
    fi
}

cmd_env() {
    [ -f "$ENV_FILE" ] || die "no env file at $ENV_FILE: start Redis with scripts/redis.sh start"
    echo "$ENV_FILE"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) die "usage: scripts/redis.sh start|stop|status|env" ;;
esac
