# Kraken-OS system_service - the two commands: `make run` and `make test`.
# A thin layer over CMake + CTest. Build trees live under build/.

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
# As in an ESP-IDF project, ./sdkconfig (written by `make menuconfig`) is the configuration when it
# exists; otherwise sdkconfig.defaults applies.
SDKCONFIG_FILE := $(if $(wildcard sdkconfig),$(CURDIR)/sdkconfig,)

.PHONY: all run test bench fuzz menuconfig deps clean

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

# Coverage-guided fuzzing (clang's libFuzzer, ASan+UBSan) of every tests/fuzz target for
# FUZZ_SECONDS each (default 60); corpora stay in $(BUILD)-fuzz/tests/fuzz/corpus-NAME, a failing
# input is saved there as crash-* (replay: the target with the file as argument, FUZZ_TRACE=1).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(filter-out fuzz_main,$(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c))))
fuzz:
	@sh tools/ensure-deps.sh clang libclang-rt-dev llvm # llvm: llvm-symbolizer, for readable crash reports
	@CC=clang cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKRAKEN_SANITIZE=address \
	    -DKRAKEN_FUZZ=ON -DKRAKEN_SDKCONFIG=$(SDKCONFIG_FILE) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD)-fuzz -j $(JOBS) --target $(FUZZ_TARGETS) -- --no-print-directory
	@cd $(BUILD)-fuzz/tests/fuzz && for t in $(FUZZ_TARGETS); do \
	    echo "== $$t ($(FUZZ_SECONDS) s)"; \
	    ./$$t corpus-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=2048 -print_final_stats=1 \
	        2>&1 | grep -E 'DONE|stat::number_of_executed_units|==|SUMMARY|broken' || true; \
	    ! ls crash-* leak-* timeout-* oom-* >/dev/null 2>&1 || \
	        { echo "failing input saved: $$PWD/$$(ls crash-* leak-* timeout-* oom-* 2>/dev/null | head -1)"; exit 1; }; \
	done

# The component's options, in the same menu as `idf.py menuconfig`; saved to sdkconfig (host).
menuconfig: deps
	@[ -f sdkconfig ] || /usr/bin/python3 tools/gen_sdkconfig.py --kconfig port/host/Kconfig.host \
	    --defaults sdkconfig.defaults --header $(BUILD)/menuconfig/sdkconfig.h --config sdkconfig
	KCONFIG_CONFIG=sdkconfig /usr/bin/python3 -m menuconfig port/host/Kconfig.host
	@echo "./sdkconfig is now the configuration of every host build (delete it to go back to the defaults)"

clean:
	rm -rf $(BUILD)
