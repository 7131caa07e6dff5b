# 32-bit x86 build, the closest the host gets to the chip (4-byte pointers, 4-byte heap granularity).
# Tests run under qemu-i386-static (Debian's qemu-user-static) because this kernel may not run i386.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_FLAGS_INIT "-m32")
set(CMAKE_CXX_FLAGS_INIT "-m32")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-m32")
set(CMAKE_LIBRARY_ARCHITECTURE i386-linux-gnu)
find_program(KRAKEN_QEMU_I386 qemu-i386-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${KRAKEN_QEMU_I386})
