#!/bin/sh
# ensure-deps.sh - make sure the Debian packages the build needs are installed.
# As root, installs what is missing; otherwise prints the exact apt-get line and fails.
# usage: ensure-deps.sh [extra-package ...]   (e.g. qemu-user-static for the 32-bit run)
set -eu

missing=""
need() { # need PACKAGE TEST-COMMAND...
    pkg=$1; shift
    if ! "$@" >/dev/null 2>&1; then missing="$missing $pkg"; fi
}
need cmake command -v cmake
need make command -v make
need gcc command -v cc
need libcmocka-dev test -f /usr/include/cmocka.h
need python3-kconfiglib /usr/bin/python3 -c 'import kconfiglib'
for extra in "$@"; do
    need "$extra" dpkg-query -W -f='${Status}' "$extra"
    if [ -n "${missing##*"$extra"*}" ] || [ -z "$missing" ]; then
        case "$(dpkg-query -W -f='${Status}' "$extra" 2>/dev/null)" in
            *"ok installed"*) ;;
            *) missing="$missing $extra" ;;
        esac
    fi
done
missing=$(echo "$missing" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    echo "Installing missing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
else
    echo "Missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get install -y $missing" >&2
    exit 1
fi
