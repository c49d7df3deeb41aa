# Shell helpers shared by the scripts in this folder. Source it; do not run it.

# Prints a progress line for a person on standard error.
log() {
    echo "$(basename "$0"): $*" >&2
}

# Prints an error on standard error and exits with status 1.
die() {
    echo "$(basename "$0"): error: $*" >&2
    exit 1
}

# Prints a random password of 48 hex digits (192 bits) from the kernel's random source.
random_password() {
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
    echo
}

# Prints a value single-quoted for a shell, so a file of KEY=VALUE lines can be sourced.
shell_quote() {
    local escaped=${1//\'/\'\\\'\'}
    printf "'%s'" "$escaped"
}
