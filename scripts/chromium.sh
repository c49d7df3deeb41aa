#!/usr/bin/env bash
# Installs headless Chromium for the HTML report test (crates/cli/tests/report_html.rs).
#
#   scripts/chromium.sh install   install the Debian packages `chromium` and `chromium-driver`
#                                 with apt-get, unless both are installed already
#   scripts/chromium.sh status    print the installed versions, or what is missing
#
# Installing needs root and the Debian package archive. When both packages are present, the
# script only checks for them, so it returns at once on every later run.
set -euo pipefail

PACKAGES=(chromium chromium-driver)

missing() {
    local package
    for package in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            echo "$package"
        fi
    done
}

case "${1:-}" in
install)
    mapfile -t absent < <(missing)
    if [ "${#absent[@]}" -eq 0 ]; then
        echo "chromium: already installed"
        exit 0
    fi
    echo "chromium: installing ${absent[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${absent[@]}"
    ;;
status)
    mapfile -t absent < <(missing)
    if [ "${#absent[@]}" -gt 0 ]; then
        echo "chromium: missing ${absent[*]}; run bash scripts/chromium.sh install"
        exit 1
    fi
    chromium --version
    chromedriver --version
    ;;
*)
    echo "usage: scripts/chromium.sh install|status" >&2
    exit 64
    ;;
esac
