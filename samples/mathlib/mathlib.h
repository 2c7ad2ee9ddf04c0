/* mathlib: numbers and arrays, a first taste of embind-py. */
#ifndef MATHLIB_H
#define MATHLIB_H
#include <stddef.h>
#include <stdint.h>

#define MATHLIB_VERSION "1.0"
#define MATHLIB_MAX_DEGREE 16

/* Greatest common divisor. */
int64_t gcd(int64_t a, int64_t b);
/* Evaluate a polynomial with `n` coefficients (highest degree first) at x. */
double poly_eval(const double *coeffs, size_t n, double x);
/* Write the first n Fibonacci numbers into out. */
void fibonacci(uint64_t *out, size_t n);
/* Mean and (population) variance of xs, through out-parameters; returns 0 on success. */
int mean_var(const double *xs, size_t n, double *mean, double *var);
/* Is n prime? */
_Bool is_prime(uint32_t n);
#endif
