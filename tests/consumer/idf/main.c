/*
 * main.c - idf_headers: the host's ESP-IDF headers as firmware includes them. Each header of
 * port/host/include also compiles alone, in C and in C++ (the headers_alone library this
 * project builds); this program runs the file that includes FreeRTOS.h only.
 */
#include <stdio.h>

int freertos_only_uses_espidfs_transitive_includes(void);

int main(void)
{
    const int failed = freertos_only_uses_espidfs_transitive_includes();
    if (failed != 0) {
        fprintf(stderr, "freertos_only: check %d failed\n", failed);
        return 1;
    }
    printf("idf headers: all checks passed\n");
    return 0;
}
