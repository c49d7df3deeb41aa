#!/usr/bin/env bash
# Installs, starts and stops a private OpenLDAP server (slapd) for enact's tests and demo.
#
#   scripts/ldap.sh start    install on first use, start, create the tree and enact's admin entry
#   scripts/ldap.sh stop     stop the server (a no-op when it is stopped)
#   scripts/ldap.sh status   print whether it runs, and where
#   scripts/ldap.sh env      print the path of the env file that contains the connection settings
#
# Everything lives under ${ENACT_RUN_DIR:-<repo>/.run}/ldap: the server configuration
# (slapd.conf, mode 0600), the mdb database (data/), the server log (slapd.log, written with
# `-d stats` because there is no syslog), the PID file (slapd.pid) and the env file (env, mode
# 0600). The server listens on ldap://127.0.0.1:${ENACT_LDAP_PORT:-53389}/ only. It never touches
# a system slapd: the Debian package is installed without a configuration and never started.
#
# The tree is dc=enact,dc=test with ou=services (the service accounts enact manages),
# ou=groups (groupOfNames groups) and ou=policies (the default password policy). The rootdn
# cn=admin,dc=enact,dc=test gets a new random password at every start, stored hashed in
# slapd.conf and in clear only in the env file; tests use it for setup that enact must not do
# itself. The connector binds as cn=enact-admin,dc=enact,dc=test, whose password is generated
# when the tree is first created and kept in the env file. Its access rules are explained at
# the top of crates/connectors/ldap/src/lib.rs.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

RUN_DIR=${ENACT_RUN_DIR:-$REPO/.run}
LDAP_DIR=$RUN_DIR/ldap
DATA=$LDAP_DIR/data
CONFIG=$LDAP_DIR/slapd.conf
LOG=$LDAP_DIR/slapd.log
PID_FILE=$LDAP_DIR/slapd.pid
ENV_FILE=$LDAP_DIR/env
PORT=${ENACT_LDAP_PORT:-53389}
URL=ldap://127.0.0.1:$PORT/
SUFFIX=dc=enact,dc=test
ROOT_DN=cn=admin,$SUFFIX
ADMIN_DN=cn=enact-admin,$SUFFIX
SERVICES_DN=ou=services,$SUFFIX
GROUPS_DN=ou=groups,$SUFFIX
POLICY_DN=cn=default,ou=policies,$SUFFIX

# Installs slapd and the command-line tools unless they are there. The preseed keeps the
# package from creating a system database, and policy-rc.d keeps it from starting a service.
ensure_installed() {
    if command -v slapd >/dev/null && command -v ldapadd >/dev/null && [ -f /usr/lib/ldap/back_mdb.so ]; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "slapd is missing and installing it needs root: apt-get install slapd ldap-utils"
    log "installing slapd and ldap-utils"
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils
}

# Prints the PID of the running server, or nothing. A PID is trusted only while it still names
# a `slapd` process, because the kernel reuses PIDs.
running_pid() {
    [ -f "$PID_FILE" ] || return 0
    local pid
    pid=$(cat "$PID_FILE")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q slapd "/proc/$pid/comm" 2>/dev/null; then
        echo "$pid"
    fi
}

# Prints the value of KEY from the env file, unquoted, or nothing.
env_value() {
    local key=$1
    [ -f "$ENV_FILE" ] || return 0
    (
        # shellcheck disable=SC1090
        . "$ENV_FILE"
        printf '%s' "${!key:-}"
    )
}

# Writes the configuration. ROOT_HASH is the hashed rootdn password of this start.
write_config() {
    local root_hash=$1
    cat >"$CONFIG.tmp" <<EOF
# Written by scripts/ldap.sh on every start.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy

database mdb
maxsize 104857600
suffix "$SUFFIX"
rootdn "$ROOT_DN"
rootpw $root_hash
directory $DATA
index objectClass eq
index uid eq
index member eq

# Every bind and password change is checked against the default policy: no expiry and no
# quality rules. It sets pwdLockout TRUE with pwdMaxFailure 0, so failed binds never lock an
# account but a pwdAccountLockedTime set by enact does. slapd 2.5 ignores that attribute while
# pwdLockout is FALSE. A cleartext userPassword written by an add or a modify is hashed as {SSHA}, as the
# Password Modify operation always does. ppolicy_use_lockout makes a bind to a locked account
# return the accountLocked error in the ppolicy response control, which is how the connector
# tells a locked account from a wrong password (both get result 49).
overlay ppolicy
ppolicy_default "$POLICY_DN"
ppolicy_hash_cleartext
ppolicy_use_lockout

# The first matching "access to" rule decides, and the rootdn bypasses all of them.
# The root DSE, so the connector can find the naming context that contains the accounts.
access to dn.base=""
    by * read

# Passwords of service accounts: enact-admin sets them (Password Modify) and reads their hashes
# to count them. Anyone may bind with them.
access to dn.children="$SERVICES_DN" attrs=userPassword
    by dn.exact="$ADMIN_DN" write
    by anonymous auth
    by * none

# Every other password, enact-admin's own included, serves only to bind.
access to attrs=userPassword
    by anonymous auth
    by * none

# Service accounts: enact-admin creates, locks, unlocks and deletes them.
access to dn.base="$SERVICES_DN" attrs=children
    by dn.exact="$ADMIN_DN" write
    by * none
access to dn.subtree="$SERVICES_DN"
    by dn.exact="$ADMIN_DN" write
    by * none

# Groups anywhere in the tree: enact-admin reads them and changes their members only.
access to dn.subtree="$SUFFIX" filter=(objectClass=groupOfNames) attrs=member
    by dn.exact="$ADMIN_DN" write
    by * none
access to dn.subtree="$SUFFIX" filter=(objectClass=groupOfNames)
    by dn.exact="$ADMIN_DN" read
    by * none

# The entries above the groups, so a subtree search from the suffix can reach them.
access to dn.subtree="$SUFFIX" attrs=entry
    by dn.exact="$ADMIN_DN" search
    by * none

access to *
    by * none
EOF
    chmod 0600 "$CONFIG.tmp"
    mv "$CONFIG.tmp" "$CONFIG"
}

# Prints the {SSHA} hash of the password in FILE, which contains it without a newline.
hash_password() {
    slappasswd -h '{SSHA}' -T "$1"
}

wait_ready() {
    local pid=$1 tries=0
    until ldapsearch -x -LLL -H "$URL" -s base -b "" namingContexts >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || {
            tail -n 20 "$LOG" >&2 || true
            die "slapd exited during startup; see $LOG"
        }
        tries=$((tries + 1))
        [ "$tries" -lt 150 ] || die "slapd did not become ready on $URL within 15 s; see $LOG"
        sleep 0.1
    done
}

# Adds the LDIF on standard input as the rootdn, whose password is in ROOT_PW_FILE.
root_add() {
    ldapadd -x -H "$URL" -D "$ROOT_DN" -y "$ROOT_PW_FILE" >/dev/null
}

# Creates the tree, the default password policy and enact's admin entry. Runs once, on an
# empty database; prints the admin password.
provision() {
    local admin_password admin_hash admin_pw_file
    admin_password=$(random_password)
    admin_pw_file=$(mktemp "$LDAP_DIR/admin.pw.XXXXXX")
    printf '%s' "$admin_password" >"$admin_pw_file"
    admin_hash=$(hash_password "$admin_pw_file")
    rm -f "$admin_pw_file"

    root_add <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: enact
o: enact test directory

dn: $SERVICES_DN
objectClass: organizationalUnit
ou: services
description: Service accounts that enact manages.

dn: $GROUPS_DN
objectClass: organizationalUnit
ou: groups
description: Groups whose membership enact grants and revokes.

dn: ou=policies,$SUFFIX
objectClass: organizationalUnit
ou: policies

dn: $POLICY_DN
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMaxAge: 0
pwdInHistory: 0
pwdCheckQuality: 0
pwdMinLength: 0
pwdLockout: TRUE
pwdMaxFailure: 0
pwdMustChange: FALSE
pwdAllowUserChange: FALSE
pwdSafeModify: FALSE

dn: $ADMIN_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: enact-admin
description: The account enact's LDAP connector binds as.
userPassword: $admin_hash
EOF
    echo "$admin_password"
}

write_env() {
    local root_password=$1 admin_password=$2
    cat >"$ENV_FILE.tmp" <<EOF
ENACT_LDAP_URL=$URL
ENACT_LDAP_BASE=$(shell_quote "$SERVICES_DN")
ENACT_LDAP_GROUPS=$(shell_quote "$GROUPS_DN")
ENACT_LDAP_ADMIN_DN=$(shell_quote "$ADMIN_DN")
ENACT_LDAP_ADMIN_PASSWORD=$admin_password
ENACT_LDAP_ROOT_DN=$(shell_quote "$ROOT_DN")
ENACT_LDAP_ROOT_PASSWORD=$root_password
ENACT_LDAP_LOG=$(shell_quote "$LOG")
EOF
    chmod 0600 "$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_start() {
    local pid
    pid=$(running_pid)
    if [ -n "$pid" ] && [ -f "$ENV_FILE" ]; then
        log "slapd already runs on $(env_value ENACT_LDAP_URL), pid $pid, env in $ENV_FILE"
        return
    fi
    if [ -n "$pid" ]; then
        # Without the env file the passwords are unknown, so the server is restarted.
        log "slapd (pid $pid) runs without an env file, so it is restarted"
        cmd_stop
    fi
    ensure_installed
    if ldapsearch -x -LLL -H "$URL" -s base -b "" namingContexts >/dev/null 2>&1; then
        die "something else already listens on $URL: stop it, or set ENACT_LDAP_PORT"
    fi

    umask 077
    mkdir -p "$LDAP_DIR"
    chmod 0700 "$LDAP_DIR"
    # The admin password lives only in the env file, so a database without one cannot be used
    # and starts over.
    local admin_password
    admin_password=$(env_value ENACT_LDAP_ADMIN_PASSWORD)
    local fresh=0
    if [ -z "$admin_password" ] || [ ! -f "$DATA/data.mdb" ]; then
        rm -rf "$DATA"
        fresh=1
    fi
    rm -f "$ENV_FILE" "$PID_FILE"
    mkdir -p "$DATA"

    local root_password
    root_password=$(random_password)
    ROOT_PW_FILE=$(mktemp "$LDAP_DIR/root.pw.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -f '$ROOT_PW_FILE'" EXIT
    printf '%s' "$root_password" >"$ROOT_PW_FILE"
    write_config "$(hash_password "$ROOT_PW_FILE")"
    slaptest -Q -u -f "$CONFIG" || die "slaptest rejects $CONFIG"

    # setsid detaches the server from this shell's process group, so it outlives the script.
    # With -d the server stays in the foreground, so $! is its PID.
    setsid slapd -f "$CONFIG" -h "$URL" -d stats >>"$LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_ready "$pid"
    if [ "$fresh" = 1 ]; then
        admin_password=$(provision)
    fi
    write_env "$root_password" "$admin_password"
    log "slapd runs on $URL, pid $pid, data in $DATA, log in $LOG, env in $ENV_FILE"
}

cmd_stop() {
    local pid
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        log "slapd is not running"
        rm -f "$PID_FILE"
        return
    fi
    kill "$pid"
    local tries=0
    while kill -0 "$pid" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || die "slapd (pid $pid) did not stop within 10 s"
        sleep 0.1
    done
    rm -f "$PID_FILE"
    log "slapd stopped; the data stays in $DATA"
}

cmd_status() {
    local pid
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        log "slapd runs on $(env_value ENACT_LDAP_URL), pid $pid, log in $LOG"
    else
        log "slapd is not running"
        return 3
    fi
}

cmd_env() {
    [ -f "$ENV_FILE" ] || die "no env file at $ENV_FILE: start slapd with scripts/ldap.sh start"
    echo "$ENV_FILE"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) die "usage: scripts/ldap.sh start|stop|status|env" ;;
esac
