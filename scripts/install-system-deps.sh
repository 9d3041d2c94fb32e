#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (dovecot-imapd plus any named as arguments).
#
# Usage: scripts/install-system-deps.sh [extra-package ...]
# As root with apt-get available, missing packages are installed; otherwise they are only
# reported. Exits non-zero when something is still missing and CI=true; 0 otherwise.
set -euo pipefail

packages=(dovecot-imapd "$@")

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing_packages() {
    local package
    for package in "${packages[@]}"; do
        is_installed "$package" || printf '%s\n' "$package"
    done
}

ci_enabled() {
    case "${CI:-}" in
        true | TRUE | True | 1) return 0 ;;
        *) return 1 ;;
    esac
}

install_packages() {
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "$@"; then
        apt-get update
        apt-get install -y --no-install-recommends "$@"
    fi
}

mapfile -t missing < <(missing_packages)
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system packages: all present (${packages[*]})"
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "system packages: not a Debian system; install these yourself: ${missing[*]}" >&2
elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "system packages: installing ${missing[*]}"
    install_packages "${missing[@]}" || echo "system packages: apt-get failed" >&2
    mapfile -t missing < <(missing_packages)
else
    echo "system packages: missing ${missing[*]}; run as root: $0 $*" >&2
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system packages: all present (${packages[*]})"
    exit 0
fi
echo "system packages: still missing: ${missing[*]}" >&2
if ci_enabled; then
    echo "system packages: CI=true, so a missing package is an error" >&2
    exit 1
fi
exit 0
