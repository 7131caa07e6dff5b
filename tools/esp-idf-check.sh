#!/bin/sh
# esp-idf-check.sh - compile the component's ESP-IDF side for the ESP32-S3 against ESP-IDF's real
# headers, with the shared esp-idf-check tool (Debian's Xtensa GCC, ESP-IDF's flags, -Werror).
# usage: tools/esp-idf-check.sh CHECK_DIR IDF_PATH [tool options, e.g. --std=gnu17]
#   CHECK_DIR  a writable copy of esp-idf-check on which setup.sh has run (it holds config/sdkconfig.h:
#              ESP-IDF's options, e.g. PSRAM on or off: one copy per configuration)
#   IDF_PATH   the ESP-IDF tree setup.sh extracted
#   KRAKEN_DEFAULTS (environment) more defaults files for the component's options, applied after
#              its sdkconfig.defaults, e.g. KRAKEN_DEFAULTS=tests/configs/limits.defaults
# demo_memory.c and tests/consumer hold the spec's snippets: they must compile against ESP-IDF as
# written, each file with the one include the spec shows.
# In a real ESP-IDF build the component's own Kconfig options are part of sdkconfig.h; the tool's
# sdkconfig.h lacks them, so they are appended here from the component's Kconfig and defaults.
# The on-chip test app (test_apps/system_service) is checked too when IDF_PATH has Unity's own
# headers (components/unity/unity/src, a git submodule: copy src/unity.h and src/unity_internals.h of
# ThrowTheSwitch/Unity there when the tree came without submodules).
set -eu
check=${1:?usage: tools/esp-idf-check.sh CHECK_DIR IDF_PATH}
idf=${2:?usage: tools/esp-idf-check.sh CHECK_DIR IDF_PATH}
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 "$root/tools/gen_sdkconfig.py" --kconfig "$root/port/host/Kconfig.host" \
    --defaults "$root/sdkconfig.defaults" ${KRAKEN_DEFAULTS:-} --header "$work/component.h" --config "$work/sdkconfig"
mkdir -p "$work/config"
cp "$check/config/sdkconfig.h" "$work/config/sdkconfig.h"
grep '^#define CONFIG_SYSTEM_SERVICE_' "$work/component.h" >> "$work/config/sdkconfig.h"

IDF_CHECK_CONFIG_DIR="$work/config" "$check/idf-compile-check.sh" --full "$@" "$idf" \
    "$root"/port/*.c "$root"/port/esp_idf/*.c "$root"/src/*.c "$root"/examples/kraken_demo/demo_memory.c "$root"/tests/consumer/*.c \
    -I "$root/include" -I "$root/src" -I "$root/port/esp_idf"

# The test app (and the IRAM step, which checks its interrupt callbacks) needs Unity's headers.
app="$root/test_apps/system_service/main"
if [ ! -f "$idf/components/unity/unity/src/unity.h" ]; then
    echo "test_apps/system_service and the IRAM check NOT run: $idf/components/unity/unity/src/unity.h is missing" >&2
    exit 1
fi

# CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM: what the ISR entry points reach must all be in IRAM, at each
# optimisation level ESP-IDF offers (inlining differs). The sources are preprocessed by the tool
# (-save-temps keeps the .i), compiled to assembly with its compiler and code-generation flags, and
# tools/iram_check.py follows every call and load from the entry points.
iram="$work/iram"
mkdir -p "$iram/config"
cp "$work/config/sdkconfig.h" "$iram/config/sdkconfig.h"
echo '#define CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM 1' >> "$iram/config/sdkconfig.h"
iram_srcs="event_bus memory_pool heap_monitor kraken_port_esp_idf"
# The include dirs ESP-IDF adds for the test app's other requirements (unity, the GPTimer driver:
# in components/driver up to ESP-IDF 5.2, esp_driver_gptimer and esp_hal_timg since). No spaces.
app_incs=""
for d in driver/gptimer/include esp_driver_gptimer/include esp_hal_timg/include \
         esp_hal_timg/esp32s3/include; do
    if [ -d "$idf/components/$d" ]; then app_incs="$app_incs -I$idf/components/$d"; fi
done
(cd "$iram" && IDF_CHECK_CONFIG_DIR="$iram/config" "$check/idf-compile-check.sh" -q --full "$idf" \
    "$root/src/event_bus.c" "$root/src/memory_pool.c" "$root/src/heap_monitor.c" \
    "$root/port/esp_idf/kraken_port_esp_idf.c" \
    -I "$root/include" -I "$root/src" -I "$root/port/esp_idf" -save-temps)
# the on-chip test's own interrupt callbacks (sdkconfig.ci.iram sets GPTimer's cache-safe ISR)
echo '#define CONFIG_GPTIMER_ISR_CACHE_SAFE 1' >> "$iram/config/sdkconfig.h"
iram_app_test="$root/test_apps/system_service/main/test_iram_isr_on_chip.c"
app_flags="-I$root/include -I$app -I$idf/components/unity/include -I$idf/components/unity/unity/src
    $app_incs -DUNITY_INCLUDE_CONFIG_H"
(cd "$iram" && IDF_CHECK_CONFIG_DIR="$iram/config" "$check/idf-compile-check.sh" -q --full "$idf" \
    "$iram_app_test" $app_flags -save-temps)
# assembly of $iram/NAME.i at optimisation level $opt, with the tool's code-generation flags
to_asm() {
    xtensa-lx106-elf-gcc -mabi=windowed -mlongcalls -fno-jump-tables -fno-tree-switch-conversion \
        -fstrict-volatile-bitfields -ffunction-sections -fdata-sections $opt \
        -S "$iram/$1.i" -o "$iram/$1$opt.s"
}
for opt in -O0 -Og -Os -O2; do
    srcs_s=""
    for f in $iram_srcs; do
        to_asm "$f"
        srcs_s="$srcs_s $f$opt.s"
    done
    to_asm test_iram_isr_on_chip
    printf '%s ' "IRAM check $opt:"
    (cd "$iram" && /usr/bin/python3 "$root/tools/iram_check.py" $srcs_s)
    printf '%s ' "IRAM check $opt, on-chip test's callbacks:"
    (cd "$iram" && /usr/bin/python3 "$root/tools/iram_check.py" \
        --entries on_alarm,on_misuse,cache_off_for_1_ms test_iram_isr_on_chip$opt.s $srcs_s)
done

# What the option costs: .iram1 bytes at -Os, assembled with the stand-in's call0 ABI (its assembler
# has no windowed instructions; the chip's windowed code should be somewhat smaller).
iram_bytes=0
for f in $iram_srcs; do
    xtensa-lx106-elf-gcc -mlongcalls -fno-jump-tables -fno-tree-switch-conversion \
        -ffunction-sections -fdata-sections -Os -c "$iram/$f.i" -o "$iram/$f.o"
    n=$(xtensa-lx106-elf-size -A "$iram/$f.o" | awk '$1 ~ /^\.iram1/ {s += $2} END {print s + 0}')
    printf '%s ' "$f $n"
    iram_bytes=$((iram_bytes + n))
done
echo "-> IRAM with CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM at -Os: $iram_bytes bytes (call0 stand-in)"

IDF_CHECK_CONFIG_DIR="$work/config" "$check/idf-compile-check.sh" --full "$@" "$idf" "$app"/*.c $app_flags
# the app's IRAM test with the option on (sdkconfig.ci.iram)
IDF_CHECK_CONFIG_DIR="$iram/config" "$check/idf-compile-check.sh" --full "$@" "$idf" "$iram_app_test" \
    $app_flags
