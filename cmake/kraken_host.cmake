# Host build of the component: sdkconfig.h from Kconfig, the simulated chip, the core, tests.

set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)
set(KRAKEN_ROOT ${CMAKE_CURRENT_SOURCE_DIR})

# ---- sdkconfig.h, generated from the same Kconfig as ESP-IDF's, with Debian's python3-kconfiglib
find_program(KRAKEN_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT KRAKEN_PYTHON3)
    find_program(KRAKEN_PYTHON3 NAMES python3 REQUIRED)
endif()
set(KRAKEN_CONFIG_DIR ${CMAKE_CURRENT_BINARY_DIR}/config)
# Relative defaults files are the top-level project's (a reconfigure runs from the build directory).
set(kraken_defaults "")
foreach(f IN LISTS KRAKEN_SDKCONFIG_DEFAULTS)
    get_filename_component(f "${f}" ABSOLUTE BASE_DIR "${CMAKE_SOURCE_DIR}")
    list(APPEND kraken_defaults "${f}")
endforeach()
set(kraken_kconfig_inputs
    ${KRAKEN_ROOT}/Kconfig ${KRAKEN_ROOT}/port/host/Kconfig.host ${KRAKEN_ROOT}/sdkconfig.defaults
    ${KRAKEN_ROOT}/port/host/sdkconfig.rename) # ESP-IDF's old names (gen_sdkconfig reads it)
file(GLOB kraken_kconfig_parts ${KRAKEN_ROOT}/kconfig/Kconfig.*)
list(APPEND kraken_kconfig_inputs ${kraken_kconfig_parts} ${kraken_defaults})
set(kraken_gen_args
    --kconfig ${KRAKEN_ROOT}/port/host/Kconfig.host
    --defaults ${KRAKEN_ROOT}/sdkconfig.defaults ${kraken_defaults}
    --header ${KRAKEN_CONFIG_DIR}/sdkconfig.h
    --config ${KRAKEN_CONFIG_DIR}/sdkconfig)
if(KRAKEN_SDKCONFIG)
    list(APPEND kraken_gen_args --sdkconfig ${KRAKEN_SDKCONFIG})
    list(APPEND kraken_kconfig_inputs ${KRAKEN_SDKCONFIG})
endif()
execute_process(
    COMMAND ${KRAKEN_PYTHON3} ${KRAKEN_ROOT}/tools/gen_sdkconfig.py ${kraken_gen_args}
    RESULT_VARIABLE kraken_gen_rc)
if(NOT kraken_gen_rc EQUAL 0)
    message(FATAL_ERROR "sdkconfig generation failed (see the message above)")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${kraken_kconfig_inputs})

# ---- flags for this project's own targets (consumers keep theirs)
set(KRAKEN_WARNINGS -Wall -Wextra -Wshadow $<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes> -Wformat=2)
if(KRAKEN_WERROR)
    list(APPEND KRAKEN_WARNINGS -Werror)
endif()
# Sanitizer flags go to everything that links the library (PUBLIC on kraken_host_port below), so a
# consumer project that sets KRAKEN_SANITIZE is instrumented and links too.
if(KRAKEN_SANITIZE STREQUAL "address")
    set(KRAKEN_SANITIZE_COMPILE -fsanitize=address,undefined -fno-sanitize-recover=all
                                -fno-omit-frame-pointer)
    set(KRAKEN_SANITIZE_LINK -fsanitize=address,undefined)
elseif(KRAKEN_SANITIZE STREQUAL "thread")
    set(KRAKEN_SANITIZE_COMPILE -fsanitize=thread -fno-omit-frame-pointer)
    set(KRAKEN_SANITIZE_LINK -fsanitize=thread)
elseif(NOT KRAKEN_SANITIZE STREQUAL "")
    message(FATAL_ERROR "KRAKEN_SANITIZE must be '', 'address' or 'thread'")
endif()
if(KRAKEN_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang" OR NOT KRAKEN_SANITIZE STREQUAL "address")
        message(FATAL_ERROR "KRAKEN_FUZZ needs clang and KRAKEN_SANITIZE=address (CC=clang)")
    endif()
    list(APPEND KRAKEN_SANITIZE_COMPILE -fsanitize=fuzzer-no-link) # coverage for libFuzzer
endif()

find_package(Threads REQUIRED)

# ---- the simulated ESP32-S3 (host port)
add_library(kraken_host_port STATIC
    port/host/tlsf_heap.c
    port/host/sim_chip.c
    port/host/sim_malloc.c
    port/host/sim_heap_trace.c
    port/host/sim_task_tracking.c
    port/host/sim_memory_utils.c
    port/host/sim_multi_heap.c
    port/host/esp_host_api.c
    port/host/esp_host_chip.c
    port/host/esp_host_dma.c
    port/host/esp_host_timer.c
    port/host/esp_host_task_wdt.c
    port/host/freertos_host.c
    port/host/freertos_host_queue.c
    port/host/freertos_host_handles.c
    port/host/freertos_host_event_groups.c
    port/host/freertos_host_ringbuf.c
    port/host/freertos_host_stream_buffer.c
    port/host/freertos_host_timers.c
    port/kraken_port_heap_caps.c)
# The core's port: port/host's (pthreads), or the chip's own port/esp_idf running on the simulated
# FreeRTOS, esp_timer and esp_log, so that the tests also run the code the chip runs.
set(KRAKEN_PORT "host" CACHE STRING "The core's port on the host: 'host' or 'esp_idf'")
if(KRAKEN_PORT STREQUAL "host")
    target_sources(kraken_host_port PRIVATE port/host/kraken_port_host.c)
elseif(KRAKEN_PORT STREQUAL "esp_idf")
    target_sources(kraken_host_port PRIVATE port/esp_idf/kraken_port_esp_idf.c)
    # its kraken_port_types.h before port/host/include's
    target_include_directories(kraken_host_port BEFORE PUBLIC ${KRAKEN_ROOT}/port/esp_idf)
else()
    message(FATAL_ERROR "KRAKEN_PORT must be 'host' or 'esp_idf'")
endif()
target_include_directories(kraken_host_port
    PUBLIC ${KRAKEN_ROOT}/port/host/include ${KRAKEN_CONFIG_DIR}
    PRIVATE ${KRAKEN_ROOT}/port/host ${KRAKEN_ROOT}/src)
target_compile_options(kraken_host_port PRIVATE ${KRAKEN_WARNINGS} PUBLIC ${KRAKEN_SANITIZE_COMPILE})
target_link_options(kraken_host_port PUBLIC ${KRAKEN_SANITIZE_LINK})
target_link_libraries(kraken_host_port PUBLIC Threads::Threads ${CMAKE_DL_LIBS})
# Plain malloc()/calloc()/realloc()/free() (and aligned_alloc/memalign/posix_memalign,
# valloc/pvalloc) in code linked with the library go through the simulated chip, as they do on
# ESP-IDF (heap_caps_malloc_default); mallinfo/malloc_trim/mallopt/malloc_stats are ESP-IDF's
# stubs. See port/host/sim_malloc.c.
target_link_options(kraken_host_port INTERFACE
    "LINKER:--wrap=malloc" "LINKER:--wrap=calloc" "LINKER:--wrap=realloc" "LINKER:--wrap=free"
    "LINKER:--wrap=aligned_alloc" "LINKER:--wrap=memalign" "LINKER:--wrap=posix_memalign"
    "LINKER:--wrap=valloc" "LINKER:--wrap=pvalloc" "LINKER:--wrap=mallinfo" "LINKER:--wrap=malloc_trim"
    "LINKER:--wrap=mallopt" "LINKER:--wrap=malloc_stats"
    "LINKER:--wrap=malloc_usable_size" "LINKER:--wrap=reallocarray" "LINKER:--wrap=getline"
    "LINKER:--wrap=getdelim" "LINKER:--wrap=__getdelim" "LINKER:--wrap=strdup" "LINKER:--wrap=strndup"
    "LINKER:--wrap=asprintf" "LINKER:--wrap=vasprintf" "LINKER:--wrap=__asprintf_chk"
    "LINKER:--wrap=__vasprintf_chk")
# Symbols bound at load: a lazy binding runs the dynamic linker on the stack of the task that first
# calls a libc function (2.5 KB and more where it saves AVX-512 state), which no task pays on the
# chip: high-water marks (uxTaskGetStackHighWaterMark) would depend on which task called first.
target_link_options(kraken_host_port INTERFACE "LINKER:-z,now")
# That malloc() can run out: the compiler must not assume it succeeds or elide it (clang does).
target_compile_options(kraken_host_port INTERFACE
    -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free
    -fno-builtin-strdup -fno-builtin-strndup)

# C++ new and delete through the simulated heap too (port/host/sim_new.cpp), for projects that
# compile C++ (enabled before this file is read, as project(... CXX) does).
get_property(kraken_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
if("CXX" IN_LIST kraken_languages)
    option(KRAKEN_SIM_CXX_NEW "C++ new/delete on the simulated heap (off: your own replacements)" ON)
    if(KRAKEN_SIM_CXX_NEW)
        target_sources(kraken_host_port PRIVATE port/host/sim_new.cpp)
        target_compile_features(kraken_host_port PRIVATE cxx_std_17) # the aligned forms
        target_link_options(kraken_host_port INTERFACE "LINKER:--undefined=kraken_sim_cxx_new_linked")
    endif()
endif()

# ---- the component itself
add_library(system_service STATIC ${KRAKEN_CORE_SRCS})
add_library(kraken::system_service ALIAS system_service)
target_include_directories(system_service
    PUBLIC ${KRAKEN_ROOT}/include
    PRIVATE ${KRAKEN_ROOT}/src)
target_compile_options(system_service PRIVATE ${KRAKEN_WARNINGS})
target_link_libraries(system_service PUBLIC kraken_host_port)

if(KRAKEN_BUILD_TESTS)
    enable_testing()
    add_subdirectory(tests)
endif()
if(KRAKEN_BUILD_BENCH)
    add_subdirectory(bench)
endif()
if(KRAKEN_BUILD_EXAMPLES)
    add_subdirectory(examples/kraken_demo)
endif()
