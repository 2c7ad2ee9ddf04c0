#include "mathlib.h"

int64_t gcd(int64_t a, int64_t b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) { int64_t t = a % b; a = b; b = t; }
    return a;
}

double poly_eval(const double *coeffs, size_t n, double x) {
    double acc = 0;
    for (size_t i = 0; i < n; i++) acc = acc * x + coeffs[i];
    return acc;
}

void fibonacci(uint64_t *out, size_t n) {
    uint64_t a = 0, b = 1;
    for (size_t i = 0; i < n; i++) { out[i] = a; uint64_t t = a + b; a = b; b = t; }
}

int mean_var(const double *xs, size_t n, double *mean, double *var) {
    if (n == 0) return -1;
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) { s += xs[i]; s2 += xs[i] * xs[i]; }
    *mean = s / n;
    *var = s2 / n - (*mean) * (*mean);
    return 0;
}

_Bool is_prime(uint32_t n) {
    if (n < 2) return 0;
    for (uint32_t d = 2; (uint64_t)d * d <= n; d++) if (n % d == 0) return 0;
    return 1;
}
