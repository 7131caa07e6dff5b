#!/bin/bash
# esp-idf-check-release.sh - run tools/esp-idf-check.sh against the headers of an older ESP-IDF
# release (the README promises 5.1 and later), with a copy of the esp-idf-check tool set up for it.
# usage: tools/esp-idf-check-release.sh TOOL_DIR IDF_GIT_DIR TAG [WORK_DIR]
#   TOOL_DIR     the esp-idf-check tool (read-only is fine: it is copied)
#   IDF_GIT_DIR  a git dir of espressif/esp-idf with its tags (the search tool's fetch gives one)
#   TAG          e.g. v5.1.7
#   WORK_DIR     where the copy and the headers go (default /tmp/idf-TAG; replaced when it holds
#                an earlier run's, refused otherwise); nothing is committed
# Needs what the tool's setup.sh installs (python3-kconfiglib, gcc-xtensa-lx106, picolibc).
# The tool's include list is ESP-IDF master's: dirs a release lacks are dropped and the older
# layout's FreeRTOS and libc dirs added. ESP-IDF 5.x uses newlib, the tool's libc is picolibc:
# a two-line sys/reent.h stand-in (struct _reent, for FreeRTOS's TCB) fills the gap. The test
# app's Unity headers (a submodule) are taken from an ESP-IDF tree given in UNITY_SRC (default
# /tmp/idf/components/unity/unity/src), as for tools/esp-idf-check.sh.
set -eu
tool=${1:?usage: $0 TOOL_DIR IDF_GIT_DIR TAG [WORK_DIR]}
gitdir=${2:?usage: $0 TOOL_DIR IDF_GIT_DIR TAG [WORK_DIR]}
tag=${3:?usage: $0 TOOL_DIR IDF_GIT_DIR TAG [WORK_DIR]}
work=${4:-/tmp/idf-$tag}
root=$(cd "$(dirname "$0")/.." && pwd)
check="$work/check"
idf="$work/idf"

if [ -e "$work" ]; then # only an earlier run's directory is replaced
    [ -f "$work/.esp-idf-check-release" ] || { echo "$work exists: give another WORK_DIR" >&2; exit 1; }
    rm -rf "$work"
fi
mkdir -p "$work" "$idf"
touch "$work/.esp-idf-check-release"
cp -r "$tool" "$check"
chmod -R u+w "$check" # the tool may come from a read-only tree
# git archive stops at objects the fetched snapshot lacks (large example files): what it wrote
# before them is all that is needed.
(git --git-dir="$gitdir" archive "$tag" CMakeLists.txt Kconfig sdkconfig.rename components \
    tools/cmake tools/kconfig_new tools/ldgen 2>/dev/null | tar -x -C "$idf" 2>/dev/null) || true
[ -f "$idf/components/esp_common/include/esp_err.h" ] || { echo "no ESP-IDF $tag in $gitdir" >&2; exit 1; }
mkdir -p "$idf/components/heap/tlsf/include" "$idf/components/unity/unity/src"
cp "${UNITY_SRC:-/tmp/idf/components/unity/unity/src}"/unity*.h "$idf/components/unity/unity/src/" \
    2>/dev/null || echo "note: no Unity headers: the test app will not be checked" >&2
(cd "$check" && /usr/bin/python3 gen_sdkconfig.py "$idf" esp32s3 config sdkconfig.defaults >/dev/null)

{
    echo "# ESP-IDF master's list, restricted to the dirs $tag has, plus its older layout's"
    for d in components/newlib/platform_include components/esp_libc/platform_include; do
        if [ -d "$idf/$d" ]; then echo "$d"; fi
    done
    grep -v '^#' "$tool/include_dirs.txt" | while read -r d; do
        if [ -d "$idf/$d" ]; then echo "$d"; fi
    done
    for d in freertos/FreeRTOS-Kernel/portable/xtensa/include/freertos \
             freertos/esp_additions/include/freertos freertos/esp_additions/arch/xtensa/include \
             esp_rom/include/esp32s3 soc/esp32s3/include; do
        if [ -d "$idf/components/$d" ]; then echo "components/$d"; fi
    done
} > "$check/include_dirs.txt"
if [ ! -f "$idf/components/esp_libc/platform_include/stdio.h" ]; then # newlib releases
    printf '#pragma once\nstruct _reent {\n    int _errno;\n    void *_stdin, *_stdout, *_stderr;\n};\n' \
        > "$check/libc-overlay/sys/reent.h"
    printf '#pragma once\n#include <sys/reent.h>\n' > "$check/libc-overlay/reent.h"
fi
"$root/tools/esp-idf-check.sh" "$check" "$idf"
