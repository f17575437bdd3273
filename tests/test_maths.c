/*
 * tests/test_maths.c — nn/maths.h: exp, log, log1p and cos(π·x) against the long double
 * functions of the C library (64-bit significand on x86-64: 11 bits beyond a double's, so the
 * reference's own error is below 2^−11 ulp of the result), over 10^6 inputs each, with the
 * error bounds maths.h states; known values; Annex F's special values; and a checksum of the
 * results' bits, which is the same on every platform (that is the point of maths.h).
 */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../nn/maths.h"

#define INPUTS 1000000

/* A fixed sequence of doubles uniform on [0, 1): xorshift64 (Marsaglia 2003, shifts 13, 7, 17),
 * the top 53 bits. */
static uint64_t state;
static double uniform01(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) * 0x1p-53;
}

/* |got − want| in units in the last place of want as a double (subnormal ulp below DBL_MIN). */
static double ulp_error(double got, long double want)
{
    int exponent;
    long double ulp;
    if (isinf(want) || want == 0.0L)
        return got == (double)want ? 0.0 : HUGE_VAL;
    frexpl(want, &exponent);
    ulp = fabsl(want) < (long double)DBL_MIN ? 0x1p-1074L : ldexpl(1.0L, exponent - 53);
    return (double)(fabsl((long double)got - want) / ulp);
}

/* cos(πx) in long double, reduced exactly as in double first (so π·y is the only rounding of
 * the argument, relative 2^−64, which near a zero of the cosine would otherwise be many ulps) */
static long double cos_pi_reference(double x)
{
    const long double pi = 3.14159265358979323846264338327950288L;
    double y = fabs(x);
    long double sign = 1.0L;
    y -= 2.0 * floor(y / 2.0);
    if (y > 1.0)
        y = 2.0 - y;
    if (y > 0.5) {
        y = 1.0 - y;
        sign = -1.0L;
    }
    return y > 0.25 ? sign * sinl(pi * (long double)(0.5 - y)) : sign * cosl(pi * (long double)y);
}

typedef enum { EXP, LOG, LOG1P, COS_PI } function_kind;

/* The largest error over INPUTS inputs low + (high − low)·u, or 2^(low + (high − low)·u) when
 * log_spaced, u uniform on [0, 1); *correctly_rounded counts the results equal to the
 * reference rounded to double. */
static double largest_error(function_kind kind, double low, double high, int log_spaced,
                            long *correctly_rounded)
{
    double largest = 0.0;
    long i;
    state = 88172645463325252ULL;
    *correctly_rounded = 0;
    for (i = 0; i < INPUTS; i++) {
        /* the same inputs in every build: no multiply-add fused into the draw (volatile) */
        volatile double scaled = (high - low) * uniform01();
        const double u = low + scaled, x = log_spaced ? exp2(u) : u;
        double got = 0.0, error;
        long double want = 0.0L;
        switch (kind) {
        case EXP:    got = maths_exp(x);    want = expl((long double)x);   break;
        case LOG:    got = maths_log(x);    want = logl((long double)x);   break;
        case LOG1P:  got = maths_log1p(x);  want = log1pl((long double)x); break;
        case COS_PI: got = maths_cos_pi(x); want = cos_pi_reference(x);    break;
        }
        error = ulp_error(got, want);
        if (error > largest)
            largest = error;
        *correctly_rounded += got == (double)want;
    }
    return largest;
}

static void require_long_double(void)
{
    if (LDBL_MANT_DIG < 64)
        cr_skip_test("long double has %d significant bits here: no reference", LDBL_MANT_DIG);
}

#define CHECK_BOUND(kind, low, high, log_spaced, bound)                                        \
    do {                                                                                       \
        long exact;                                                                            \
        const double error = largest_error(kind, low, high, log_spaced, &exact);               \
        cr_expect(error <= (bound), #kind " on [%g, %g]%s: %.4f ulp > %g (%.4f%% exact)",      \
                  low, high, log_spaced ? " (exponents)" : "", error, (double)(bound),         \
                  100.0 * (double)exact / INPUTS);                                             \
        cr_log_info(#kind " on [%g, %g]%s: largest error %.4f ulp, %.4f%% correctly rounded",  \
                    low, high, log_spaced ? " (exponents)" : "", error,                        \
                    100.0 * (double)exact / INPUTS);                                           \
    } while (0)

/* fdlibm's e_exp.c bound is < 1 ulp; measured 0.8730 (the largest of the three ranges). */
Test(maths, exp_within_0_88_ulp_over_its_range)
{
    require_long_double();
    CHECK_BOUND(EXP, -745.13, 709.78, 0, 0.88);
    CHECK_BOUND(EXP, -40.0, 0.0, 0, 0.88);   /* NT-Xent: exp(s − max s), s ≤ max s */
    CHECK_BOUND(EXP, -1e-6, 1e-6, 0, 0.88);  /* no reduction (|x| < ln2/2) */
}

/* fdlibm's e_log.c bound is < 1 ulp; measured 0.9019 on [0.5, 1.5], 0.7651 over every exponent. */
Test(maths, log_within_0_91_ulp_over_its_range)
{
    require_long_double();
    CHECK_BOUND(LOG, 0.5, 1.5, 0, 0.91);
    CHECK_BOUND(LOG, -1074.0, 1024.0, 1, 0.91);    /* subnormals to DBL_MAX */
    CHECK_BOUND(LOG, 1.0 - 0x1p-20, 1.0 + 0x1p-20, 0, 0.91); /* the series branch */
}

/* log u + c/u on maths_log: measured 1.2998 ulp (on 2^[−60, 0]; 1.2471 on a sample drawn with
 * a fused multiply-add, before the draw was made the same in every build). */
Test(maths, log1p_within_1_30_ulp)
{
    require_long_double();
    CHECK_BOUND(LOG1P, 0.0, 1.0, 0, 1.30);         /* loss/alternatives.c: log1p(e^−|x|) */
    CHECK_BOUND(LOG1P, -0.5, 0.0, 0, 1.30);
    CHECK_BOUND(LOG1P, -60.0, 0.0, 1, 1.30);       /* 2^−60 .. 1 */
    CHECK_BOUND(LOG1P, 1.0, 1e6, 0, 1.30);
}

/* Exact reduction, then fdlibm's kernels on π·y as a double-double: measured 0.8315 ulp. */
Test(maths, cos_pi_within_0_84_ulp)
{
    require_long_double();
    CHECK_BOUND(COS_PI, -4.0, 4.0, 0, 0.84);
    CHECK_BOUND(COS_PI, 0.0, 1.0, 0, 0.84);        /* the schedule's progress, Box–Muller's 2u */
    CHECK_BOUND(COS_PI, 0.49, 0.51, 0, 0.84);      /* near the zero at 1/2 */
}

Test(maths, known_values)
{
    /* e = 0x1.5bf0a8b145769p+1 rounded; fdlibm's exp(1) is one ulp above */
    cr_expect(fabs(maths_exp(1.0) - 0x1.5bf0a8b145769p+1) <= 0x1p-51, "%a", maths_exp(1.0));
    cr_expect_eq(maths_exp(0.0), 1.0);
    cr_expect_eq(maths_exp(-0.0), 1.0);
    cr_expect_eq(maths_exp(-745.13), 0x1p-1074, "%a", maths_exp(-745.13)); /* e^−745.13 ≈ 2^−1074 */
    cr_expect_eq(maths_exp(-746.0), 0.0);
    cr_expect(isinf(maths_exp(710.0)) && maths_exp(710.0) > 0);
    cr_expect_eq(maths_exp(-INFINITY), 0.0);
    cr_expect(isinf(maths_exp(INFINITY)));
    cr_expect(isnan(maths_exp(NAN)));
    /* ln 2 = 0x1.62e42fefa39ef35793c7673007e5...p-1 rounds to 0x1.62e42fefa39efp-1 */
    cr_expect_eq(maths_log(2.0), 0x1.62e42fefa39efp-1, "%a", maths_log(2.0));
    cr_expect_eq(maths_log(1.0), 0.0);
    cr_expect_eq(maths_log(0x1p-1074), -0x1.74385446d71c3p+9, "%a", maths_log(0x1p-1074)); /* −744.44 */
    cr_expect(isinf(maths_log(0.0)) && maths_log(0.0) < 0);
    cr_expect(isnan(maths_log(-1.0)));
    cr_expect(isinf(maths_log(INFINITY)));
    cr_expect(isnan(maths_log(NAN)));
    cr_expect_eq(maths_log1p(0.0), 0.0);
    cr_expect_eq(maths_log1p(1e-300), 1e-300);
    cr_expect_eq(maths_log1p(1.0), maths_log(2.0));
    cr_expect(isinf(maths_log1p(-1.0)) && maths_log1p(-1.0) < 0);
    cr_expect(isnan(maths_log1p(-2.0)));
    /* cos πx at the exact points: 1, 0, −1, and the reduction's symmetry */
    cr_expect_eq(maths_cos_pi(0.0), 1.0);
    cr_expect_eq(maths_cos_pi(0.5), 0.0);
    cr_expect_eq(maths_cos_pi(1.0), -1.0);
    cr_expect_eq(maths_cos_pi(2.0), 1.0);
    cr_expect_eq(maths_cos_pi(-1.5), 0.0);
    cr_expect_eq(maths_cos_pi(0x1p60), 1.0);
    cr_expect_eq(maths_cos_pi(-0.3), maths_cos_pi(0.3));
    cr_expect_eq(maths_cos_pi(1.75), maths_cos_pi(0.25));
    cr_expect_eq(maths_cos_pi(0.625), -maths_cos_pi(0.375));
    /* cos(π/3) = 1/2 and cos(π/4) = √2/2 = 0x1.6a09e667f3bcdp-1 (both within one ulp) */
    cr_expect(fabs(maths_cos_pi(1.0 / 3.0) - 0.5) <= 0x1p-53, "%a", maths_cos_pi(1.0 / 3.0));
    cr_expect(fabs(maths_cos_pi(0.25) - 0x1.6a09e667f3bcdp-1) <= 0x1p-53, "%a", maths_cos_pi(0.25));
    cr_expect(isnan(maths_cos_pi(INFINITY)));
    cr_expect(isnan(maths_cos_pi(NAN)));
}

/* The point of maths.h: the same bits everywhere. A 64-bit FNV-1a hash of the results' bytes
 * (least significant first) on 10^5 inputs per function; any change in any bit of any result
 * changes it. The same value came out on x86-64 (gcc, clang, tcc; glibc), 32-bit x86
 * (qemu-i386), armhf (qemu-arm), s390x (qemu-s390x) and Windows (mingw-w64 under wine); clang
 * allowed to contract gave another (0x8c1b18ce79c6167f), which is why nn/maths.c is compiled
 * with -ffp-contract=off. */
Test(maths, results_are_the_same_bits_everywhere)
{
    uint64_t hash = 0xcbf29ce484222325ULL, bits;
    long i;
    int b;
    state = 42;
    for (i = 0; i < 100000; i++) {
        const double u = uniform01();
        /* inputs computed exactly (u·2^k exact, and the difference fits in 53 bits), so the test's
         * own compilation (contracted or not) cannot change them */
        const double results[4] = { maths_exp(128.0 * u - 64.0), maths_log(1024.0 * u),
                                    maths_log1p(u), maths_cos_pi(4.0 * u - 2.0) };
        int r;
        for (r = 0; r < 4; r++) {
            memcpy(&bits, &results[r], sizeof bits);
            for (b = 0; b < 8; b++) {
                hash ^= (bits >> (8 * b)) & 0xffu;
                hash *= 0x100000001b3ULL;
            }
        }
    }
    cr_expect_eq(hash, 0x0de89a210c1dad17ULL, "hash %#llx", (unsigned long long)hash);
}
