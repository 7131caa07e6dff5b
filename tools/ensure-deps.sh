#!/bin/sh
# ensure-deps.sh - make sure the Debian packages the build needs are installed.
# As root, installs what is missing; otherwise prints the exact apt-get line and fails.
# usage: ensure-deps.sh [extra-package ...]   (CI adds clang, qemu-user-static, libcmocka-dev:i386 ...)
set -eu

missing=""
need() { # need PACKAGE TEST-COMMAND...
    pkg=$1; shift
    "$@" >/dev/null 2>&1 || missing="$missing $pkg"
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

need cmake command -v cmake
need make command -v make
need gcc command -v cc
need g++ command -v g++ # the consumer test's C++ part (C++ new/delete on the simulated heap)
need libc6-dev test -f /usr/include/stdio.h # only a Recommends of gcc: not with --no-install-recommends
need libcmocka-dev test -f /usr/include/cmocka.h
need python3-kconfiglib /usr/bin/python3 -c 'import kconfiglib'
for pkg in "$@"; do
    need "$pkg" installed "$pkg"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    echo "Installing missing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    case "$missing" in *:i386*) dpkg --add-architecture i386 ;; esac
    # A mirror in mid-sync can fail one index; the install below says whether it matters.
    apt-get update -qq || echo "ensure-deps: apt-get update reported errors; trying the install anyway" >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
else
    echo "Missing Debian packages. Install them as root (sudo where it is installed) with:" >&2
    case "$missing" in *:i386*) echo "  dpkg --add-architecture i386" >&2 ;; esac
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
