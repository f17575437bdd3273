/*
 * data/decimal.h — a double as decimal text, the same characters on every C library.
 *
 * Files this library writes for comparison across platforms (the reference outputs' metadata)
 * must be the same bytes everywhere, but C libraries differ in how they print a double with
 * many digits: glibc prints "%.17g" of 0.08 as 0.080000000000000002 (the exact value rounded to
 * 17 digits, as ISO C asks), picolibc's small printf as 0.08. decimal_format_g is ISO C's
 * "%.*g" computed here: the exact binary value expanded in decimal with integer arithmetic
 * (a double is m·2^e: its integer part by repeated division, its fraction by repeated
 * multiplication by 10, both exact), rounded to `precision` significant digits half to even,
 * then laid out as %g does: plain when the decimal exponent X satisfies -4 ≤ X < precision,
 * else d.ddde±XX; trailing zeros and a trailing point removed. Infinities and NaN are written
 * inf, -inf and nan.
 * Known answers: (0.08, 17) → "0.080000000000000002"; (1.0 / 3.0, 17) → "0.33333333333333331";
 * (1e300, 17) → "1.0000000000000001e+300"; (0.5, 1) → "0.5"; (2.5, 1) → "2";
 * (1e-5, 3) → "1e-05".
 */
#ifndef SIMCLR_DATA_DECIMAL_H
#define SIMCLR_DATA_DECIMAL_H

#include <stddef.h>

/* "%.*g" of x with precision 1..40 into out (size bytes, at least 48); returns out. */
char *decimal_format_g(char *out, size_t size, double x, int precision);

#endif
