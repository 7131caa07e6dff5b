# Kraken-OS system_service - the two commands: `make run` and `make test`.
# A thin layer over CMake + CTest. Build trees live under build/.

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
# As in an ESP-IDF project, ./sdkconfig (written by `make menuconfig`) is the configuration when it
# exists; otherwise sdkconfig.defaults applies.
SDKCONFIG_FILE := $(if $(wildcard sdkconfig),$(CURDIR)/sdkconfig,)

.PHONY: all run test bench menuconfig deps clean

all: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKRAKEN_SDKCONFIG=$(SDKCONFIG_FILE) \
	    $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

deps:
	@sh tools/ensure-deps.sh

# The simulated Kraken-OS workload and its statistics (KRAKEN_SIM_PROFILE picks the module).
run: all
	$(BUILD)/examples/kraken_demo/kraken_demo

# Every test, on the default profile; tests switch profiles themselves.
test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Figures, not assertions; each program says how to reproduce them (see docs/ for callgrind runs).
bench: all
	@for b in $(BUILD)/bench/bench_*; do [ -x "$$b" ] && echo "== $$b" && "$$b" || exit 1; done

# The component's options, in the same menu as `idf.py menuconfig`; saved to sdkconfig (host).
menuconfig: deps
	@[ -f sdkconfig ] || /usr/bin/python3 tools/gen_sdkconfig.py --kconfig port/host/Kconfig.host \
	    --defaults sdkconfig.defaults --header $(BUILD)/menuconfig/sdkconfig.h --config sdkconfig
	KCONFIG_CONFIG=sdkconfig /usr/bin/python3 -m menuconfig port/host/Kconfig.host
	@echo "./sdkconfig is now the configuration of every host build (delete it to go back to the defaults)"

clean:
	rm -rf $(BUILD)
