"""Use the generated mathlib bindings: run `embind-py build mathlib.c` here first."""

from array import array

import mathlib

print("mathlib", mathlib.MATHLIB_VERSION)
print("gcd(1071, 462) =", mathlib.gcd(1071, 462))
print("3x^2 + 2x + 1 at x=2:", mathlib.poly_eval(array("d", [3, 2, 1]), 3, 2.0))

fib = array("Q", [0] * 10)  # any writable buffer: C's writes come back
mathlib.fibonacci(fib, len(fib))
print("fibonacci:", list(fib))

mean = mathlib.ffi.new("double *")  # out-parameters, cffi style
var = mathlib.ffi.new("double *")
mathlib.mean_var(array("d", [2, 4, 4, 4, 5, 5, 7, 9]), 8, mean, var)
print(f"mean={mean[0]} variance={var[0]}")

print("primes below 30:", [n for n in range(30) if mathlib.is_prime(n)])
try:
    mathlib.is_prime(-1)
except OverflowError as e:
    print("OverflowError:", e)
