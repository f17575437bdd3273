/*
 * nn/maths.h — the project's own exponential, logarithm and cosine, the same bits everywhere.
 *
 * Every transcendental value that reaches a weight, a loss or a reference output (the
 * initialisation's Box–Muller draws, the losses' log-sum-exp, the blur kernel, the crop's aspect
 * ratio, the learning-rate schedule's cosine, the probe's softmax and the kNN vote) is computed
 * here instead of by the C library. C leaves the accuracy of exp, log and cos to each library,
 * and glibc, musl, mingw-w64, picolibc and wasi-libc differ in the last bit on some inputs
 * (mingw's log and cos on about 0.1%): one such bit in one initial weight was enough to make a
 * Windows build's reference outputs differ from every other platform's.
 *
 * Not here: sqrt, floor, rint, fmod and fabs, whose results IEEE 754 and C define exactly
 * (sqrt correctly rounded, the others exact), so every platform's library already agrees.
 *
 * Each function here is a fixed sequence of IEEE 754 double operations (+, −, ×, ÷, each
 * correctly rounded by every conforming platform) plus frexp and ldexp, which C defines as exact.
 * So every platform that evaluates double expressions in double (FLT_EVAL_METHOD 0 or 1, i.e.
 * not the x87 without SSE2, see the Makefile's SINGLE_EVAL) and does not fuse a·b + c into one
 * rounding returns the same bits. The Makefile compiles nn/maths.c with -ffp-contract=off
 * whatever the profile; a build system of your own must do the same.
 *
 * The algorithms are Sun's fdlibm 5.3 (e_exp.c, e_log.c, k_sin.c, k_cos.c; the polynomials are
 * fdlibm's Remez approximations, the constants its bits, written here in hexadecimal), whose
 * documented bound is < 1 ulp. Measured here (tests/test_maths.c: 10^6 inputs each, spread
 * log-uniformly or uniformly over the stated domain, against the x86-64 long double functions,
 * whose 64-bit significand is 11 bits more than the result needs):
 *
 *   function            domain tested                  largest error   correctly rounded
 *   maths_exp(x)        [−745.13, 709.78], [−40, 0]    0.873 ulp       90.2 %
 *   maths_log(x)        [0.5, 1.5]                     0.902 ulp       93.3 %
 *                       2^[−1074, 1024] (every binade) 0.765 ulp       99.9 %
 *   maths_log1p(x)      [−0.5, 1], 2^[−60, 0]          1.300 ulp       76.6 %
 *   maths_cos_pi(x)     [−4, 4], [0, 1]                0.832 ulp       96.7 %
 *
 * (The test's bounds are these figures rounded up to two decimals: 0.88, 0.91, 1.30, 0.84.)
 * Special values follow C99 Annex F: exp(−inf) = 0, exp(+inf) = +inf, log(0) = −inf,
 * log(x < 0) = NaN, NaN in → NaN out.
 */
#ifndef SIMCLR_MATHS_H
#define SIMCLR_MATHS_H

/* e^x. Overflows to +inf above 709.78, underflows through subnormals to 0 below −745.13. */
double maths_exp(double x);

/* The natural logarithm. */
double maths_log(double x);

/* ln(1 + x), accurate for small x where log(1 + x) would lose the digits of x. */
double maths_log1p(double x);

/* cos(π·x): exact reduction of x (no rounding before the polynomial), so cos_pi(0.5) is 0 and
 * cos_pi(1) is −1 exactly; finite x only (±inf and NaN give NaN). */
double maths_cos_pi(double x);

#endif
