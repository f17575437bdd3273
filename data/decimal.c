/*
 * data/decimal.c — "%.*g" of a double from exact integer arithmetic; see decimal.h.
 *
 * x = m·2^e with m < 2^53. Its integer part (m shifted) and its fraction (f / 2^s, s = −e)
 * are big integers in 32-bit limbs, least significant first; 1,108 bits cover every double.
 * The digits come out most significant first: the integer part's by repeated division by 10^9,
 * the fraction's one at a time (f·10: the digit is what passes 2^s, the rest stays). Only the
 * first precision + 1 significant digits are kept, and whether anything non-zero follows them,
 * which is all that rounding half to even needs.
 */
#include "decimal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DECIMAL_LIMBS 36      /* 1,152 bits ≥ 53 + 1,074 (+ 4 for the fraction's ×10) */
#define DECIMAL_MAX_DIGITS 41 /* the most significant digits kept (precision 40, and one) */

/* The significant digits met so far, and whether a non-zero digit was dropped after them. */
typedef struct digit_sink {
    char digits[DECIMAL_MAX_DIGITS];
    int count, wanted;  /* kept; to keep (precision + 1) */
    int exponent;       /* the decimal exponent of digits[0] */
    int position;       /* the decimal exponent of the next digit to come */
    int sticky;         /* a non-zero digit after the kept ones */
} digit_sink;

static void sink_digit(digit_sink *sink, int digit)
{
    if (sink->count == 0 && digit == 0) { /* leading zeros are not significant */
        sink->position--;
        return;
    }
    if (sink->count == 0)
        sink->exponent = sink->position;
    if (sink->count < sink->wanted)
        sink->digits[sink->count++] = (char)digit;
    else if (digit != 0)
        sink->sticky = 1;
    sink->position--;
}

static int limbs_zero(const uint32_t *limbs)
{
    int i;
    for (i = 0; i < DECIMAL_LIMBS; i++)
        if (limbs[i] != 0)
            return 0;
    return 1;
}

/* limbs = limbs / divisor; returns the remainder. */
static uint32_t limbs_divide(uint32_t *limbs, uint32_t divisor)
{
    uint64_t remainder = 0;
    int i;
    for (i = DECIMAL_LIMBS - 1; i >= 0; i--) {
        const uint64_t part = (remainder << 32) | limbs[i];
        limbs[i] = (uint32_t)(part / divisor);
        remainder = part % divisor;
    }
    return (uint32_t)remainder;
}

/* The digits of the integer m·2^shift (shift ≥ 0), most significant first. */
static void integer_digits(digit_sink *sink, uint64_t m, int shift)
{
    uint32_t limbs[DECIMAL_LIMBS];
    char reversed[DECIMAL_LIMBS * 10 + 1];
    int length = 0, i;
    memset(limbs, 0, sizeof limbs);
    for (i = 0; i < 64; i++) /* m shifted left by `shift`, bit by bit */
        if ((m >> i) & 1u)
            limbs[(i + shift) / 32] |= (uint32_t)1 << ((i + shift) % 32);
    while (!limbs_zero(limbs)) {
        uint32_t chunk = limbs_divide(limbs, 1000000000u);
        const int last = limbs_zero(limbs);
        for (i = 0; i < 9 && (!last || chunk != 0); i++) { /* no leading zeros in the last */
            reversed[length++] = (char)(chunk % 10);
            chunk /= 10;
        }
    }
    sink->position = length - 1;
    for (i = length - 1; i >= 0; i--)
        sink_digit(sink, reversed[i]);
}

/* The digits of the fraction f / 2^s (f < 2^s), until the sink is full; then the sticky bit. */
static void fraction_digits(digit_sink *sink, uint64_t f, int s)
{
    uint32_t limbs[DECIMAL_LIMBS];
    int i;
    memset(limbs, 0, sizeof limbs);
    limbs[0] = (uint32_t)f;
    limbs[1] = (uint32_t)(f >> 32);
    while (!limbs_zero(limbs) && sink->count < sink->wanted) {
        uint64_t carry = 0;
        int digit;
        for (i = 0; i < DECIMAL_LIMBS; i++) { /* × 10 */
            const uint64_t part = (uint64_t)limbs[i] * 10u + carry;
            limbs[i] = (uint32_t)part;
            carry = part >> 32;
        }
        /* the digit: the (at most 4) bits from bit s up; then cleared */
        digit = (int)((limbs[s / 32] >> (s % 32)) |
                      (s % 32 != 0 && s / 32 + 1 < DECIMAL_LIMBS
                           ? limbs[s / 32 + 1] << (32 - s % 32) : 0u)) & 0xf;
        limbs[s / 32] &= ((uint32_t)1 << (s % 32)) - 1u;
        for (i = s / 32 + 1; i < DECIMAL_LIMBS; i++)
            limbs[i] = 0;
        sink_digit(sink, digit);
    }
    if (!limbs_zero(limbs))
        sink->sticky = 1;
}

char *decimal_format_g(char *out, size_t size, double x, int precision)
{
    digit_sink sink;
    char text[DECIMAL_MAX_DIGITS + 16];
    int exponent, i, length = 0, last, point;
    uint64_t m;
    if (precision < 1)
        precision = 1;
    if (precision > DECIMAL_MAX_DIGITS - 1)
        precision = DECIMAL_MAX_DIGITS - 1;
    if (x != x) {
        snprintf(out, size, "nan");
        return out;
    }
    if (x == HUGE_VAL || x == -HUGE_VAL) {
        snprintf(out, size, x < 0 ? "-inf" : "inf");
        return out;
    }
    memset(&sink, 0, sizeof sink);
    sink.wanted = precision + 1;
    if (signbit(x))
        text[length++] = '-';
    x = fabs(x);
    if (x == 0.0) {
        text[length++] = '0';
        text[length] = '\0';
        snprintf(out, size, "%s", text);
        return out;
    }
    m = (uint64_t)ldexp(frexp(x, &exponent), 53); /* x = m·2^(exponent − 53), exactly */
    exponent -= 53;
    if (exponent >= 0) {
        integer_digits(&sink, m, exponent);
    } else if (exponent > -64) {
        integer_digits(&sink, m >> -exponent, 0);
        fraction_digits(&sink, m & ((UINT64_C(1) << -exponent) - 1u), -exponent);
    } else { /* no integer part */
        sink.position = -1;
        fraction_digits(&sink, m, -exponent);
    }
    /* round to `precision` digits, half to even, on the exact value */
    if (sink.count > precision) {
        const int next = sink.digits[precision];
        sink.count = precision;
        if (next > 5 || (next == 5 && (sink.sticky || (sink.digits[precision - 1] & 1)))) {
            for (i = precision - 1; i >= 0 && sink.digits[i] == 9; i--)
                sink.digits[i] = 0;
            if (i >= 0) {
                sink.digits[i]++;
            } else { /* 99…9 became 100…0 */
                sink.digits[0] = 1;
                sink.exponent++;
            }
        }
    }
    while (sink.count < precision)
        sink.digits[sink.count++] = 0;
    for (last = precision - 1; last > 0 && sink.digits[last] == 0; last--) /* trailing zeros */
        ;
    if (sink.exponent < -4 || sink.exponent >= precision) { /* d.ddde±XX */
        text[length++] = (char)('0' + sink.digits[0]);
        if (last > 0)
            text[length++] = '.';
        for (i = 1; i <= last; i++)
            text[length++] = (char)('0' + sink.digits[i]);
        length += sprintf(text + length, "e%c%02d", sink.exponent < 0 ? '-' : '+',
                          sink.exponent < 0 ? -sink.exponent : sink.exponent);
    } else { /* plain: the point after digit `point` (0.000ddd when the exponent is negative) */
        point = sink.exponent;
        if (point < 0) {
            text[length++] = '0';
            text[length++] = '.';
            for (i = point + 1; i < 0; i++)
                text[length++] = '0';
        }
        for (i = 0; i <= (last > point ? last : point); i++) {
            if (i == point + 1 && point >= 0)
                text[length++] = '.';
            text[length++] = (char)('0' + sink.digits[i]);
        }
        text[length] = '\0';
    }
    text[length] = '\0';
    snprintf(out, size, "%s", text);
    return out;
}
