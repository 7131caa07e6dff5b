/*
 * test_sanitizers.h - which sanitizer a test program is built with (gcc and clang say it
 * differently): TEST_ASAN or TEST_TSAN is defined then.
 */
#ifndef TEST_SANITIZERS_H
#define TEST_SANITIZERS_H

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif

#endif /* TEST_SANITIZERS_H */
