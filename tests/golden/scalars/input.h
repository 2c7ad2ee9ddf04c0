/* Golden case: scalars, strings, buffers, constants, renaming. */
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define SCALARS_VERSION "2.0"
#define SCALARS_FLAGS (1 << 3 | 1)

typedef unsigned long uLong;
typedef uLong uLongf;

int add(int a, int b);
uint64_t mix(uint8_t a, int16_t b, int64_t c);
double area(float w, double h);
bool flip(bool b);
const char *name_of(int id);
size_t copy(char *dst, const char *src, size_t n);
void fill(uLongf *out, uLong n);
void *raw(void *p);
int lambda(int from);
int load(void);
