#!/usr/bin/env bash
# Installs, starts and stops a private PostgreSQL 15 server for enact's tests and demo.
#
#   scripts/pg.sh start    initialize on first use, start, create `appdb` and `enact_admin`
#   scripts/pg.sh stop     stop the server (a no-op when it is stopped)
#   scripts/pg.sh status   print whether it runs, and where
#   scripts/pg.sh env      print the path of the env file that contains the connection settings
#
# Everything lives under ${ENACT_RUN_DIR:-<repo>/.run}/pg: the cluster (data/), its socket
# directory (socket/), the server log (server.log) and the env file (env, mode 0600). When the
# postgres user cannot reach that directory, the first three move to a private directory in /tmp
# and the env file names them. The server listens on 127.0.0.1:${ENACT_PG_PORT:-55432} only. It
# never touches the system cluster.
#
# The superuser and admin passwords are random, generated when the cluster is first
# initialized, and stored only in the env file. The admin role `enact_admin` has the rights
# that the PostgreSQL connector documents at the top of crates/connectors/postgres/src/lib.rs.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

PG_BIN=/usr/lib/postgresql/15/bin
RUN_DIR=${ENACT_RUN_DIR:-$REPO/.run}
PG_DIR=$RUN_DIR/pg
ENV_FILE=$PG_DIR/env
PORT=${ENACT_PG_PORT:-55432}
ADMIN_USER=enact_admin
DATABASE=appdb

# Runs a command as the `postgres` user, because initdb and the server refuse to run as root.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Sets SERVER_DIR, which holds the cluster, its socket and its log: $PG_DIR, unless the postgres
# user cannot reach it (a parent directory without o+x), in which case a private directory in /tmp
# named after $PG_DIR is used. The env file always stays in $PG_DIR.
choose_server_dir() {
    SERVER_DIR=$PG_DIR
    if [ "$(id -u)" = 0 ] && [ -d "$PG_DIR" ] && ! runuser -u postgres -- test -x "$PG_DIR"; then
        SERVER_DIR=/tmp/enact-pg.$(printf '%s' "$PG_DIR" | cksum | cut -d' ' -f1)
    fi
    DATA=$SERVER_DIR/data
    SOCKET_DIR=$SERVER_DIR/socket
    LOG=$SERVER_DIR/server.log
}

ensure_installed() {
    if [ -x "$PG_BIN/initdb" ]; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "PostgreSQL 15 is missing and installing it needs root: apt-get install postgresql-15"
    log "installing postgresql-15"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15
}

is_running() {
    [ -f "$DATA/PG_VERSION" ] && as_postgres "$PG_BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# Runs SQL from standard input as the bootstrap superuser over the private socket.
superuser_sql() {
    local password=$1
    shift
    PGPASSWORD=$password "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$SOCKET_DIR" -p "$PORT" -U postgres "$@"
}

initialize() {
    log "initializing a new cluster in $DATA"
    rm -rf "$DATA" "$ENV_FILE"
    mkdir -p "$DATA" "$SOCKET_DIR"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$DATA" "$SOCKET_DIR"
    fi
    chmod 0700 "$DATA"

    local pwfile
    pwfile=$(mktemp "$SERVER_DIR/pwfile.XXXXXX")
    random_password >"$pwfile"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$pwfile"
    fi
    chmod 0600 "$pwfile"
    if ! as_postgres "$PG_BIN/initdb" -D "$DATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 --pwfile="$pwfile" \
        >"$SERVER_DIR/initdb.log" 2>&1; then
        rm -f "$pwfile"
        cat "$SERVER_DIR/initdb.log" >&2
        die "initdb failed; its output is in $SERVER_DIR/initdb.log"
    fi
    SUPERUSER_PASSWORD=$(cat "$pwfile")
    rm -f "$pwfile"
    echo "include_if_exists 'enact.conf'" >>"$DATA/postgresql.conf"
}

# Writes the settings that may change between starts (the port and the paths).
write_settings() {
    as_postgres tee "$DATA/enact.conf" >/dev/null <<EOF
# Written by scripts/pg.sh on every start.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
log_statement = 'ddl'
log_connections = on
log_disconnections = on
logging_collector = off
max_connections = 200
EOF
}

# Creates the database and the admin role. Runs once, right after initdb.
provision() {
    local admin_password
    admin_password=$(random_password)
    # log_statement is switched off in this session only, so the admin's cleartext password in
    # CREATE ROLE never reaches the server log. The connector itself sends SCRAM verifiers.
    superuser_sql "$SUPERUSER_PASSWORD" -d postgres \
        -v admin="$ADMIN_USER" -v admin_password="$admin_password" -v db="$DATABASE" <<'SQL'
SET log_statement = 'none';
CREATE ROLE :"admin" LOGIN CREATEROLE PASSWORD :'admin_password';
RESET log_statement;
GRANT pg_signal_backend, pg_read_all_stats TO :"admin";
CREATE DATABASE :"db" OWNER :"admin";
SQL
    # In PostgreSQL 15 the public schema is owned by pg_database_owner, so the admin, as the
    # database owner, can grant on it and create tables in it.

    umask 077
    cat >"$ENV_FILE.tmp" <<EOF
ENACT_PG_HOST=127.0.0.1
ENACT_PG_PORT=$PORT
ENACT_PG_DATABASE=$DATABASE
ENACT_PG_ADMIN_USER=$ADMIN_USER
ENACT_PG_ADMIN_PASSWORD=$admin_password
ENACT_PG_SUPERUSER_PASSWORD=$SUPERUSER_PASSWORD
ENACT_PG_LOG=$(shell_quote "$LOG")
ENACT_PG_SOCKET_DIR=$(shell_quote "$SOCKET_DIR")
EOF
    chmod 0600 "$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# Lets the admin store the connector's per-role settings. PostgreSQL 15 lets only a superuser,
# or a role granted SET on the parameter, store a custom setting with ALTER ROLE ... SET. The
# connector records credential set times and marks alternating users there. Runs on every
# start, so a cluster made by an older version of this script gains new grants.
grant_parameters() {
    local superuser_password
    superuser_password=$(sed -n 's/^ENACT_PG_SUPERUSER_PASSWORD=//p' "$ENV_FILE")
    superuser_sql "$superuser_password" -d postgres -v admin="$ADMIN_USER" <<'SQL'
GRANT SET ON PARAMETER "enact.credential_set_at" TO :"admin";
GRANT SET ON PARAMETER "enact.alternate_of" TO :"admin";
SQL
}

start_server() {
    write_settings
    if ! as_postgres "$PG_BIN/pg_ctl" start -w -t 30 -D "$DATA" -l "$LOG" >/dev/null; then
        tail -n 20 "$LOG" >&2 || true
        die "PostgreSQL failed to start; see $LOG"
    fi
    local tries=0
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || die "PostgreSQL did not become ready on 127.0.0.1:$PORT; see $LOG"
        sleep 0.1
    done
}

cmd_start() {
    if is_running; then
        PORT=$(current_port)
        grant_parameters
        log "PostgreSQL already runs on 127.0.0.1:$PORT, data in $DATA, env in $ENV_FILE"
        return
    fi
    ensure_installed
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$PG_DIR"
    fi
    choose_server_dir
    if [ "$SERVER_DIR" != "$PG_DIR" ]; then
        log "the postgres user cannot reach $PG_DIR, so the server runs in $SERVER_DIR"
        mkdir -p -m 0700 "$SERVER_DIR"
        chown postgres:postgres "$SERVER_DIR"
        [ "$(stat -c %U "$SERVER_DIR")" = postgres ] || die "$SERVER_DIR is not owned by postgres"
    fi

    # The env file is written last, so a cluster without one never finished provisioning.
    local fresh=0
    if [ ! -f "$DATA/PG_VERSION" ] || [ ! -f "$ENV_FILE" ]; then
        initialize
        fresh=1
    fi
    mkdir -p "$SOCKET_DIR"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$SOCKET_DIR"
    fi
    # A Unix socket path has at most 107 bytes on Linux.
    local socket_path="$SOCKET_DIR/.s.PGSQL.$PORT"
    [ "${#socket_path}" -le 107 ] || die "socket path $socket_path is longer than 107 bytes: set a shorter ENACT_RUN_DIR"
    start_server
    if [ "$fresh" = 1 ]; then
        provision
    elif ! grep -q "^ENACT_PG_PORT=$PORT\$" "$ENV_FILE"; then
        # The port changed since the env file was written.
        sed -i "s/^ENACT_PG_PORT=.*/ENACT_PG_PORT=$PORT/" "$ENV_FILE"
    fi
    grant_parameters
    log "PostgreSQL runs on 127.0.0.1:$PORT, data in $DATA, log in $LOG, env in $ENV_FILE"
}

current_port() {
    sed -n 's/^port = //p' "$DATA/enact.conf" 2>/dev/null || echo "$PORT"
}

cmd_stop() {
    if ! is_running; then
        log "PostgreSQL is not running (data in $DATA)"
        return
    fi
    as_postgres "$PG_BIN/pg_ctl" stop -w -t 30 -m fast -D "$DATA" >/dev/null
    log "PostgreSQL stopped"
}

cmd_status() {
    if is_running; then
        log "PostgreSQL runs on 127.0.0.1:$(current_port), pid $(head -n 1 "$DATA/postmaster.pid"), log in $LOG"
    else
        log "PostgreSQL is not running (data in $DATA)"
        return 3
    fi
}

cmd_env() {
    [ -f "$ENV_FILE" ] || die "no env file at $ENV_FILE: start PostgreSQL with scripts/pg.sh start"
    echo "$ENV_FILE"
}

choose_server_dir
case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) die "usage: scripts/pg.sh start|stop|status|env" ;;
esac
