/*
 * tests/test_decimal.c — data/decimal.h: decimal_format_g is ISO C's "%.*g", character for
 * character: the known answers of decimal.h, and glibc's snprintf (which expands the exact
 * binary value, as ISO C asks) on 200,000 doubles spread over the whole exponent range and every
 * precision from 1 to 20, zeros, halfway cases and the largest and smallest doubles included.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../data/decimal.h"

Test(decimal, known_answers)
{
    char text[64];
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 0.08, 17), "0.080000000000000002");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 1.0 / 3.0, 17), "0.33333333333333331");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 1e300, 17), "1.0000000000000001e+300");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 0.5, 1), "0.5");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 2.5, 1), "2"); /* half to even */
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 3.5, 1), "4");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 1e-5, 3), "1e-05");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, -0.0, 17), "-0");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 1.0, 17), "1");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, 9.5, 1), "1e+01");
    cr_assert_str_eq(decimal_format_g(text, sizeof text, HUGE_VAL, 17), "inf");
}

/* The same text as the C library's snprintf (glibc's is exact). */
static void check_against_snprintf(double x, int precision)
{
    char ours[64], theirs[64];
    decimal_format_g(ours, sizeof ours, x, precision);
    snprintf(theirs, sizeof theirs, "%.*g", precision, x);
    cr_assert_str_eq(ours, theirs, "%%.%dg of %a", precision, x);
}

Test(decimal, as_snprintf)
{
    static const double edges[] = {0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                                   0.095, 0.125, 0.0001, 0.00001234, 1e16, 1e17, 4.0 / 3.0,
                                   123456789012345678.0, 99999999999999999.0, 0.75, 0.2};
    uint64_t state = UINT64_C(88172645463325252);
    size_t i;
    int precision;
    for (i = 0; i < sizeof edges / sizeof edges[0]; i++)
        for (precision = 1; precision <= 40; precision++) {
            check_against_snprintf(edges[i], precision);
            check_against_snprintf(-edges[i], precision);
        }
    for (i = 0; i < 200000; i++) { /* xorshift64 (13, 7, 17): every bit pattern but NaN, inf */
        double x;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        memcpy(&x, &state, sizeof x);
        if (isfinite(x))
            check_against_snprintf(x, 1 + (int)(i % 20));
    }
}
