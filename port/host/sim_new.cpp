/*
 * sim_new.cpp - C++ new and delete on the simulated chip.
 *
 * On ESP-IDF the global operators are libstdc++'s: new calls malloc() (heap_caps_malloc_default:
 * internal SRAM under CONFIG_SPIRAM_USE_CAPS_ALLOC), delete calls free(). These replacements do
 * the same through the wrapped malloc()/free() (sim_malloc.c). A replacement operator new is the
 * whole program's, the C++ runtime's own code included, so a std::string or std::vector grown
 * inside libstdc++ takes simulated memory too. kraken_host.cmake builds this file only into
 * projects that compile C++, and makes the link pull it in (kraken_sim_cxx_new_linked).
 *
 * Failure follows libstdc++: the new-handler is called until it gives up, then std::bad_alloc is
 * thrown. ESP-IDF without CONFIG_COMPILER_CXX_EXCEPTIONS aborts there; so does a host program
 * built with -fno-exceptions (nothing catches it), and this file when it is built so. The failed
 * malloc() has already gone through the failed-allocation hook, as on the chip.
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

extern "C" {
extern const int kraken_sim_cxx_new_linked;
const int kraken_sim_cxx_new_linked = 1;
}

namespace {

[[noreturn]] void out_of_memory(std::size_t size)
{
#if defined(__cpp_exceptions)
    (void)size;
    throw std::bad_alloc();
#else
    std::fprintf(stderr, "operator new: no memory for %zu bytes (no C++ exceptions: abort)\n", size);
    std::abort();
#endif
}

/* The new-handler's turn; false when a nothrow form must give up (the handler threw bad_alloc). */
bool run_handler(std::new_handler handler, bool nothrow)
{
#if defined(__cpp_exceptions)
    if (nothrow) {
        try {
            handler();
        } catch (const std::bad_alloc &) {
            return false;
        }
        return true;
    }
#else
    (void)nothrow;
#endif
    handler();
    return true;
}

/* align 0: malloc(). Otherwise, as libstdc++: an alignment that is not a power of two fails at
 * once, and the size is rounded up to a multiple of it (C11's aligned_alloc rule). malloc(0) is
 * NULL on ESP-IDF while new must return a distinct pointer: libstdc++ asks for 1 byte. */
void *allocate(std::size_t size, std::size_t align, bool nothrow)
{
    if (size == 0) {
        size = 1;
    }
    const bool valid =
        align == 0 || ((align & (align - 1)) == 0 && size <= SIZE_MAX - (align - 1));
    if (valid && align != 0) {
        size = (size + align - 1) & ~(align - 1);
    }
    while (valid) {
        void *p = align == 0 ? std::malloc(size) : std::aligned_alloc(align, size);
        if (p != nullptr) {
            return p;
        }
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr || !run_handler(handler, nothrow)) {
            break;
        }
    }
    if (nothrow) {
        return nullptr;
    }
    out_of_memory(size);
}

} // namespace

void *operator new(std::size_t size)
{
    return allocate(size, 0, false);
}

void *operator new[](std::size_t size)
{
    return allocate(size, 0, false);
}

void *operator new(std::size_t size, const std::nothrow_t &) noexcept
{
    return allocate(size, 0, true);
}

void *operator new[](std::size_t size, const std::nothrow_t &) noexcept
{
    return allocate(size, 0, true);
}

void *operator new(std::size_t size, std::align_val_t align)
{
    return allocate(size, static_cast<std::size_t>(align), false);
}

void *operator new[](std::size_t size, std::align_val_t align)
{
    return allocate(size, static_cast<std::size_t>(align), false);
}

void *operator new(std::size_t size, std::align_val_t align, const std::nothrow_t &) noexcept
{
    return allocate(size, static_cast<std::size_t>(align), true);
}

void *operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t &) noexcept
{
    return allocate(size, static_cast<std::size_t>(align), true);
}

/* Every delete is free(): ESP-IDF frees aligned blocks with free() too. */
void operator delete(void *p) noexcept
{
    std::free(p);
}

void operator delete[](void *p) noexcept
{
    std::free(p);
}

void operator delete(void *p, std::size_t) noexcept
{
    std::free(p);
}

void operator delete[](void *p, std::size_t) noexcept
{
    std::free(p);
}

void operator delete(void *p, const std::nothrow_t &) noexcept
{
    std::free(p);
}

void operator delete[](void *p, const std::nothrow_t &) noexcept
{
    std::free(p);
}

void operator delete(void *p, std::align_val_t) noexcept
{
    std::free(p);
}

void operator delete[](void *p, std::align_val_t) noexcept
{
    std::free(p);
}

void operator delete(void *p, std::size_t, std::align_val_t) noexcept
{
    std::free(p);
}

void operator delete[](void *p, std::size_t, std::align_val_t) noexcept
{
    std::free(p);
}

void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept
{
    std::free(p);
}

void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept
{
    std::free(p);
}
