/* Functions the benchmarks call, built both to wasm (embind-py) and natively (gcc). */
#include <stddef.h>
#include <stdint.h>

int add(int a, int b);
size_t str_len(const char *s);
const char *greeting(void);
uint32_t checksum(const uint8_t *data, size_t n);
