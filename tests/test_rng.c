/*
 * tests/test_rng.c — the generator of nn/rng.h: published known answers,
 * reproducibility, independence of derived streams, and the distributions of its draws.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "test_helpers.h"

/* PCG32 seeded with pcg32_srandom_r(42, 54): the output printed by the reference library's
 * pcg32-demo (pcg-c-basic), "Round 1". */
Test(rng, pcg32_known_answer_seed_42_54)
{
    static const uint32_t expected[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                         0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    rng r;
    int i;
    rng_seed(&r, 42, 54);
    for (i = 0; i < 6; i++)
        cr_expect_eq(rng_next_u32(&r), expected[i], "output %d: want 0x%08x", i, expected[i]);
}

/* SplitMix64 from state 1234567: Rosetta Code "Pseudo-random numbers/Splitmix64". */
Test(rng, splitmix64_known_answer_seed_1234567)
{
    static const uint64_t expected[5] = {
        UINT64_C(6457827717110365317), UINT64_C(3203168211198807973),
        UINT64_C(9817491932198370423), UINT64_C(4593380528125082431),
        UINT64_C(16408922859458223821)};
    uint64_t state = 1234567;
    int i;
    for (i = 0; i < 5; i++)
        cr_expect(splitmix64_next(&state) == expected[i], "output %d", i);
}

/* uniform() = (next_u32() >> 8) · 2^-24, exactly, on the known PCG32 outputs. */
Test(rng, uniform_is_top_24_bits_scaled)
{
    static const uint32_t outputs[3] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u};
    rng r;
    int i;
    rng_seed(&r, 42, 54);
    for (i = 0; i < 3; i++) {
        float want = (float)(outputs[i] >> 8) / 16777216.0f;
        cr_expect_eq(rng_uniform(&r), want, "draw %d", i);
    }
    /* The largest possible draw is 1 - 2^-24, strictly below 1. */
    cr_expect_lt((float)(0xffffffffu >> 8) * (1.0f / 16777216.0f), 1.0f);
}

/* uniform(a, b) = a + (b - a) · uniform(), the same draw. */
Test(rng, uniform_range_formula)
{
    rng r1, r2;
    int i;
    rng_stream(&r1, 7, RNG_DOMAIN_VIEW, 1, 2, 3);
    rng_stream(&r2, 7, RNG_DOMAIN_VIEW, 1, 2, 3);
    for (i = 0; i < 100; i++) {
        float u = rng_uniform(&r1);
        cr_expect_eq(rng_uniform_range(&r2, -3.0f, 5.0f), -3.0f + 8.0f * u);
    }
}

/* The stream derivation documented in nn/rng.h, recomputed by hand from SplitMix64 and PCG32. */
Test(rng, stream_derivation_as_documented)
{
    const uint64_t seed = 99, parts[4] = {RNG_DOMAIN_VIEW, 4, 5, 1};
    uint64_t key = seed, s, initstate, initseq;
    rng by_hand, derived;
    int i;
    for (i = 0; i < 4; i++) {
        s = key ^ parts[i];
        key = splitmix64_next(&s);
    }
    s = key;
    initstate = splitmix64_next(&s);
    initseq = splitmix64_next(&s);
    rng_seed(&by_hand, initstate, initseq);
    rng_stream(&derived, seed, RNG_DOMAIN_VIEW, 4, 5, 1);
    for (i = 0; i < 10; i++)
        cr_expect_eq(rng_next_u32(&derived), rng_next_u32(&by_hand));
}

Test(rng, same_stream_same_draws)
{
    rng a, b;
    int i;
    rng_stream(&a, 2020, RNG_DOMAIN_VIEW, 3, 17, 1);
    rng_stream(&b, 2020, RNG_DOMAIN_VIEW, 3, 17, 1);
    for (i = 0; i < 10000; i++)
        cr_assert_eq(rng_next_u32(&a), rng_next_u32(&b), "draw %d", i);
}

/* Changing any one of seed, domain, epoch, image, view gives a different stream. */
Test(rng, every_stream_coordinate_matters)
{
    uint64_t base[5] = {2020, RNG_DOMAIN_VIEW, 3, 17, 1};
    rng reference, changed;
    int coordinate, i;
    for (coordinate = 0; coordinate < 5; coordinate++) {
        uint64_t c[5];
        int differences = 0;
        memcpy(c, base, sizeof c);
        c[coordinate] += 1;
        rng_stream(&reference, base[0], base[1], base[2], base[3], base[4]);
        rng_stream(&changed, c[0], c[1], c[2], c[3], c[4]);
        for (i = 0; i < 8; i++)
            differences += rng_next_u32(&reference) != rng_next_u32(&changed);
        cr_expect_geq(differences, 7, "coordinate %d: %d of 8 draws differ", coordinate,
                      differences);
    }
}

/* 4,000 view streams (1,000 images × 2 views × 2 epochs): the first 64 bits of each are all
 * distinct (a collision among 4,000 random 64-bit values has probability ~4e-13). */
Test(rng, view_streams_start_distinct)
{
    enum { IMAGES = 1000, STREAMS = IMAGES * 2 * 2 };
    static uint64_t first[STREAMS];
    int epoch, image, view, n = 0, i, j;
    for (epoch = 0; epoch < 2; epoch++)
        for (image = 0; image < IMAGES; image++)
            for (view = 0; view < 2; view++) {
                rng r;
                rng_stream(&r, 1, RNG_DOMAIN_VIEW, (uint64_t)epoch, (uint64_t)image,
                           (uint64_t)view);
                first[n] = (uint64_t)rng_next_u32(&r) << 32;
                first[n] |= rng_next_u32(&r);
                n++;
            }
    for (i = 0; i < STREAMS; i++)
        for (j = i + 1; j < STREAMS; j++)
            cr_assert_neq(first[i], first[j], "streams %d and %d start alike", i, j);
}

/* Pearson correlation of 100,000 paired uniforms from the two views of one image, and from
 * neighbouring images: independent streams give |r| ~ 1/sqrt(n) = 0.0032; we require < 0.015
 * (4.7 standard deviations). A derivation that ignored the view index would give r = 1. */
static double stream_correlation(uint64_t image_a, uint64_t view_a, uint64_t image_b,
                                 uint64_t view_b)
{
    const int n = 100000;
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, mx, my;
    rng a, b;
    int i;
    rng_stream(&a, 5, RNG_DOMAIN_VIEW, 0, image_a, view_a);
    rng_stream(&b, 5, RNG_DOMAIN_VIEW, 0, image_b, view_b);
    for (i = 0; i < n; i++) {
        double x = rng_uniform(&a), y = rng_uniform(&b);
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
    }
    mx = sx / n, my = sy / n;
    return (sxy / n - mx * my) / sqrt((sxx / n - mx * mx) * (syy / n - my * my));
}

Test(rng, view_streams_uncorrelated)
{
    cr_expect_lt(fabs(stream_correlation(0, 0, 0, 1)), 0.015);
    cr_expect_lt(fabs(stream_correlation(0, 0, 1, 0)), 0.015);
    cr_expect_lt(fabs(stream_correlation(41, 1, 42, 1)), 0.015);
}

/* Pearson's chi-square on randint(0, 6) over 60,000 draws, 5 degrees of freedom: the 0.1%
 * critical value is 20.515. Also randint(-3, 4) stays in range and hits every value. */
Test(rng, randint_small_range_chi_square)
{
    enum { FACES = 6, DRAWS = 60000 };
    long counts[FACES] = {0}, seen[7] = {0};
    double chi_square = 0.0, expected = (double)DRAWS / FACES;
    rng r;
    int i;
    rng_stream(&r, 11, RNG_DOMAIN_DATA, 0, 0, 0);
    for (i = 0; i < DRAWS; i++) {
        int64_t x = rng_randint(&r, 0, FACES);
        cr_assert(x >= 0 && x < FACES);
        counts[x]++;
    }
    for (i = 0; i < FACES; i++)
        chi_square += (counts[i] - expected) * (counts[i] - expected) / expected;
    cr_expect_lt(chi_square, 20.515, "chi-square %.3f", chi_square);

    for (i = 0; i < 7000; i++) {
        int64_t x = rng_randint(&r, -3, 4);
        cr_assert(x >= -3 && x < 4, "randint(-3, 4) gave %ld", (long)x);
        seen[x + 3]++;
    }
    for (i = 0; i < 7; i++)
        cr_expect_gt(seen[i], 800, "value %d drawn %ld times of 7000", i - 3, seen[i]);
}

/* The rejection step matters: for n = 3·2^30, 2^32 mod n = 2^30, so plain `x mod n` would draw
 * [0, 2^30) with probability 1/2 instead of 1/3. Over 30,000 draws the unbiased fraction is
 * 1/3 ± 0.0027 (one standard deviation); we require within 0.015. */
Test(rng, randint_rejects_modulo_bias)
{
    const int64_t n = INT64_C(3) << 30;
    long low = 0;
    rng r;
    int i;
    rng_stream(&r, 3, RNG_DOMAIN_DATA, 0, 0, 0);
    for (i = 0; i < 30000; i++) {
        int64_t x = rng_randint(&r, 0, n);
        cr_assert(x >= 0 && x < n);
        low += x < (INT64_C(1) << 30);
    }
    cr_expect(fabs(low / 30000.0 - 1.0 / 3.0) < 0.015, "fraction below 2^30: %.4f",
              low / 30000.0);
}

Test(rng, randint_empty_range_returns_lo_without_drawing)
{
    rng a, b;
    rng_stream(&a, 1, RNG_DOMAIN_DATA, 0, 0, 0);
    b = a;
    cr_expect_eq(rng_randint(&a, 5, 5), 5);
    cr_expect_eq(rng_next_u32(&a), rng_next_u32(&b));
}

/* normal() is Box–Muller with u1 drawn first: sqrt(-2 ln(1 - u1)) cos(2 pi u2). */
Test(rng, normal_is_box_muller_u1_first)
{
    rng a, b;
    int i;
    rng_stream(&a, 8, RNG_DOMAIN_INIT, 0, 0, 0);
    b = a;
    for (i = 0; i < 100; i++) {
        double u1 = rng_uniform(&b), u2 = rng_uniform(&b);
        float want = (float)(sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
        cr_expect_eq(rng_normal(&a), want, "draw %d", i);
    }
}

/* Moments of 200,000 normals: mean 0 ± 0.01 (4.5 sd), variance 1 ± 0.015 (4.7 sd), and the
 * fraction beyond 1.96 is 0.05 ± 0.003. Uniforms: mean 0.5 ± 0.003, all in [0, 1). */
Test(rng, normal_and_uniform_moments)
{
    const int n = 200000;
    double sum = 0, sum_squares = 0, uniform_sum = 0;
    long tails = 0;
    rng r;
    int i;
    rng_stream(&r, 9, RNG_DOMAIN_INIT, 0, 0, 0);
    for (i = 0; i < n; i++) {
        double z = rng_normal(&r);
        sum += z, sum_squares += z * z;
        tails += fabs(z) > 1.959964;
    }
    cr_expect_lt(fabs(sum / n), 0.01, "mean %.5f", sum / n);
    cr_expect_lt(fabs(sum_squares / n - (sum / n) * (sum / n) - 1.0), 0.015);
    cr_expect_lt(fabs((double)tails / n - 0.05), 0.003, "tail fraction %.4f",
                 (double)tails / n);
    for (i = 0; i < n; i++) {
        float u = rng_uniform(&r);
        cr_assert(u >= 0.0f && u < 1.0f);
        uniform_sum += u;
    }
    cr_expect_lt(fabs(uniform_sum / n - 0.5), 0.003);
}
