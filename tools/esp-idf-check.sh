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

app="$root/test_apps/system_service/main"
if [ ! -f "$idf/components/unity/unity/src/unity.h" ]; then
    echo "test_apps/system_service NOT checked: $idf/components/unity/unity/src/unity.h is missing" >&2
    exit 1
fi
# The include dirs ESP-IDF adds for the app's other requirements: unity, the GPTimer driver.
IDF_CHECK_CONFIG_DIR="$work/config" "$check/idf-compile-check.sh" --full "$@" "$idf" "$app"/*.c \
    -I "$root/include" -I "$app" -I "$idf/components/unity/include" \
    -I "$idf/components/unity/unity/src" -I "$idf/components/esp_driver_gptimer/include" \
    -I "$idf/components/esp_hal_timg/include" -I "$idf/components/esp_hal_timg/esp32s3/include" \
    -DUNITY_INCLUDE_CONFIG_H
