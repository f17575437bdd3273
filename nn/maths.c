/*
 * nn/maths.c — exp, log, log1p and cos(π·x) as fixed sequences of IEEE double operations; see
 * maths.h for why, the accuracy and the build flag this file needs (-ffp-contract=off).
 *
 * exp, log and the two polynomial kernels of cos_pi are Sun's fdlibm 5.3 (e_exp.c, e_log.c,
 * k_cos.c, k_sin.c; "Copyright (C) 1993 by Sun Microsystems, Inc. Permission to use, copy,
 * modify, and distribute this software is freely granted, provided that this notice is
 * preserved."), with the word manipulation replaced by frexp/ldexp and comparisons of doubles.
 * Its constants are copied bit for bit (in hexadecimal, so no compiler's decimal conversion can
 * change a bit).
 */
#include "maths.h"

#include <math.h>

/* ---- exp --------------------------------------------------------------------------------------
 * fdlibm e_exp.c. Reduce x = k·ln2 + r, |r| ≤ ln2/2, with ln2 split into a high part of 32 bits
 * (k·ln2_high is exact for |k| < 2^20) and the rest. Then e^r = 1 + r + r·c/(2 − c), with
 * c = r − r²·(P1 + r²·(P2 + … + r²·P5)) the Remez fit of r·(e^r + 1)/(e^r − 1) − 2 on
 * [0, 0.347] (error below 2^−59), and e^x = 2^k·e^r. */
static const double ln2_high = 0x1.62e42feep-1, ln2_low = 0x1.a39ef35793c76p-33,
                    inverse_ln2 = 0x1.71547652b82fep+0,
                    exp_overflow = 0x1.62e42fefa39efp+9,   /* 709.78: e^x > DBL_MAX above */
                    exp_underflow = -0x1.74910d52d3051p+9, /* −745.13: e^x < DBL_TRUE_MIN/2 */
                    P1 = 0x1.555555555553ep-3, P2 = -0x1.6c16c16bebd93p-9,
                    P3 = 0x1.1566aaf25de2cp-14, P4 = -0x1.bbd41c5d26bf1p-20,
                    P5 = 0x1.6376972bea4d0p-25;

double maths_exp(double x)
{
    const double magnitude = x < 0.0 ? -x : x;
    double high = 0.0, low = 0.0, r, t, c;
    int k = 0;
    if (x != x)
        return x + x; /* NaN */
    if (x > exp_overflow)
        return HUGE_VAL;
    if (x < exp_underflow)
        return 0.0;
    if (magnitude > 0x1.62e42fefa39efp-2) {          /* |x| > ln2/2: reduce */
        if (magnitude < 0x1.0a2b23f3bab73p+0) {      /* and |x| < 1.5·ln2: k = ±1 */
            k = x < 0.0 ? -1 : 1;
            high = x - (double)k * ln2_high;
            low = (double)k * ln2_low;
        } else {
            k = (int)(inverse_ln2 * x + (x < 0.0 ? -0.5 : 0.5));
            high = x - (double)k * ln2_high;         /* exact: k·ln2_high has 32 + 11 bits */
            low = (double)k * ln2_low;
        }
        r = high - low;
    } else if (magnitude < 0x1p-28) {
        return 1.0 + x;                              /* e^x = 1 + x to within x²/2 < 2^−57 */
    } else {
        r = x;
    }
    t = r * r;
    c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    if (k == 0)
        return 1.0 - ((r * c) / (c - 2.0) - r);
    /* 2^k · e^r: ldexp is exact, and rounds once (as C requires) when the result is subnormal */
    return ldexp(1.0 - ((low - (r * c) / (2.0 - c)) - high), k);
}

/* ---- log --------------------------------------------------------------------------------------
 * fdlibm e_log.c. Write x = 2^k·(1 + f) with √2/2 ≤ 1 + f < √2 (frexp gives the exponent
 * exactly); then log(1 + f) = f − f²/2 + s·(f²/2 + R(s²)), s = f/(2 + f), where R is the Remez
 * fit of (log((1 + s)/(1 − s)) − 2s)/s on [0, 0.1716] (error below 2^−58.45), and
 * log x = k·ln2 + log(1 + f), k·ln2 in two parts as for exp. */
static const double Lg1 = 0x1.5555555555593p-1, Lg2 = 0x1.999999997fa04p-2,
                    Lg3 = 0x1.2492494229359p-2, Lg4 = 0x1.c71c51d8e78afp-3,
                    Lg5 = 0x1.7466496cb03dep-3, Lg6 = 0x1.39a09d078c69fp-3,
                    Lg7 = 0x1.2f112df3e5244p-3,
                    sqrt_half = 0x1.6a09e667f3bcdp-1;

double maths_log(double x)
{
    double m, f, s, z, w, R, half_f_squared, dk;
    int k;
    if (x != x)
        return x + x;              /* NaN */
    if (x < 0.0)
        return (x - x) / 0.0;      /* NaN (0/0), as C requires */
    if (x == 0.0)
        return -HUGE_VAL;
    if (x == HUGE_VAL)
        return x;
    m = frexp(x, &k);              /* x = m·2^k, 0.5 ≤ m < 1, exact */
    if (m < sqrt_half) {
        m *= 2.0;
        k -= 1;
    }
    f = m - 1.0;                   /* exact (Sterbenz: m is within a factor 2 of 1) */
    dk = (double)k;
    if ((f < 0.0 ? -f : f) < 0x1p-20) { /* tiny f: two terms of the series */
        if (f == 0.0)
            return dk * ln2_high + dk * ln2_low;
        R = f * f * (0.5 - 0x1.5555555555555p-2 * f);
        return dk * ln2_high - ((R - dk * ln2_low) - f);
    }
    s = f / (2.0 + f);
    z = s * s;
    w = z * z;
    R = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7))) + w * (Lg2 + w * (Lg4 + w * Lg6));
    /* fdlibm's two final forms: with f²/2 apart where f is large (1 + f beyond 1.38 or below
     * 0.71), where it gains accuracy; the thresholds are fdlibm's, 0x6147a and 0x6b851 in the
     * high word, as values of f. */
    if (f > 0x6147ap-20 || f < -0x947afp-21) {
        half_f_squared = 0.5 * f * f;
        return dk * ln2_high - ((half_f_squared - (s * (half_f_squared + R) + dk * ln2_low)) - f);
    }
    return dk * ln2_high - ((s * (f - R) - dk * ln2_low) - f);
}

/* ---- log1p ------------------------------------------------------------------------------------
 * u = 1 ⊕ x rounded, and c = x − (u − 1) the part of x the rounding lost (exact: u − 1 by
 * Sterbenz's lemma for 1/2 ≤ u ≤ 2, the difference as in Knuth's two-sum); then
 * log(1 + x) = log(u·(1 + c/u)) = log u + c/u to within (c/u)²/2 < 2^−107 — fdlibm s_log1p.c's
 * correction term, on maths_log. Beyond [−1/2, 1], where u − 1 may round, log1p is log(1 + x)
 * to within log's error: c is still u's rounding error there, up to ulp(u)/2. */
double maths_log1p(double x)
{
    const double u = 1.0 + x;
    if (u == 1.0)
        return x;                  /* |x| ≤ ε/2: log1p(x) = x to within x²/2 */
    if (u == HUGE_VAL || u <= 0.0 || u != u)
        return maths_log(u);       /* +inf, −1 → −inf, below −1 → NaN, NaN */
    return maths_log(u) + (x - (u - 1.0)) / u;
}

/* ---- cos(π·x) ---------------------------------------------------------------------------------
 * Reduce x exactly (every step below is an exact IEEE operation) to y in [0, 1/4], with a sign
 * and a choice of cosine or sine: cos π(2n ± y) = cos πy, cos π(1 − y) = −cos πy,
 * cos π(1/2 − y) = sin πy. Then r = π·y as an unevaluated sum high + low (Dekker's exact product,
 * T. J. Dekker, "A floating-point technique for extending the available precision", Numer. Math.
 * 18, 1971; π itself as two doubles), and fdlibm's kernels k_cos.c and k_sin.c on |r| ≤ π/4:
 * Remez fits of cos with error below 2^−58 and of sin below 2^−58. */
static const double C1 = 0x1.555555555554cp-5, C2 = -0x1.6c16c16c15177p-10,
                    C3 = 0x1.a01a019cb1590p-16, C4 = -0x1.27e4f809c52adp-22,
                    C5 = 0x1.1ee9ebdb4b1c4p-29, C6 = -0x1.8fae9be8838d4p-37,
                    S1 = -0x1.5555555555549p-3, S2 = 0x1.111111110f8a6p-7,
                    S3 = -0x1.a01a019c161d5p-13, S4 = 0x1.71de357b1fe7dp-19,
                    S5 = -0x1.ae5e68a2b9cebp-26, S6 = 0x1.5d93a5acfd57cp-33,
                    pi_high = 0x1.921fb54442d18p+1, pi_low = 0x1.1a62633145c07p-53;

/* cos(x + y) for |x| ≤ π/4, |y| tiny beside x (fdlibm __kernel_cos). */
static double kernel_cos(double x, double y)
{
    const double z = x * x;
    const double r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    double quarter, a;
    if (x < 0.0 ? x > -0x1.33333p-2 : x < 0x1.33333p-2) /* |x| < 0.3 */
        return 1.0 - (0.5 * z - (z * r - x * y));
    /* 1 − z/2 as (1 − q) − (z/2 − q), q = |x|/4 cut to 21 significant bits (fdlibm clears the
     * low word), or q = 0.28125 for |x| > 0.78125: both subtractions then lose nothing */
    if ((x < 0.0 ? -x : x) > 0.78125) {
        quarter = 0.28125;
    } else {
        int e;
        const double m = frexp(x < 0.0 ? -x : x, &e);       /* exact */
        quarter = ldexp(floor(m * 0x1p21) * 0x1p-21, e - 2); /* exact */
    }
    a = 1.0 - quarter;
    return a - ((0.5 * z - quarter) - (z * r - x * y));
}

/* sin(x + y) for |x| ≤ π/4, |y| tiny beside x (fdlibm __kernel_sin with iy = 1). */
static double kernel_sin(double x, double y)
{
    const double z = x * x, v = z * x;
    const double r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    return x - ((z * (0.5 * y - v * r) - y) - v * S1);
}

/* Veltkamp's split: a = high + low, each with at most 26 significant bits (exact). */
static void split(double a, double *high, double *low)
{
    const double c = 134217729.0 * a; /* 2^27 + 1 */
    *high = c - (c - a);
    *low = a - *high;
}

double maths_cos_pi(double x)
{
    double y = x < 0.0 ? -x : x, sign = 1.0, p, e, ah, al, bh, bl, high, low;
    int use_sine = 0;
    if (y - y != 0.0)
        return (x - x) / (x - x);           /* ±inf, NaN → NaN */
    if (y >= 0x1p53)
        return 1.0;                          /* every such double is an even integer */
    y -= 2.0 * floor(y / 2.0);               /* y mod 2, exact: floor, /2 and ×2 are exact */
    if (y > 1.0)
        y = 2.0 - y;                         /* cos π(2 − y) = cos πy; exact (Sterbenz) */
    if (y > 0.5) {
        y = 1.0 - y;                         /* cos π(1 − y) = −cos πy; exact */
        sign = -1.0;
    }
    if (y > 0.25) {
        y = 0.5 - y;                         /* cos π(1/2 − y) = sin πy; exact */
        use_sine = 1;
    }
    /* π·y = p + e exactly up to π's own error (Dekker's product), then renormalised */
    split(pi_high, &ah, &al);
    split(y, &bh, &bl);
    p = pi_high * y;
    e = (((ah * bh - p) + ah * bl) + al * bh) + al * bl;
    e += pi_low * y;
    high = p + e;
    low = e - (high - p);
    return sign * (use_sine ? kernel_sin(high, low) : kernel_cos(high, low));
}
