#include "bench.h"

int add(int a, int b) { return a + b; }

size_t str_len(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

const char *greeting(void) { return "hello from C"; }

/* Adler-32 style checksum: a serial loop typical of compute-bound C. */
uint32_t checksum(const uint8_t *data, size_t n) {
    uint32_t a = 1, b = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = i + 5552 < n ? i + 5552 : n;
        for (; i < end; i++) { a += data[i]; b += a; }
        a %= 65521;
        b %= 65521;
    }
    return (b << 16) | a;
}
