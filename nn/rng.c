/*
 * nn/rng.c — PCG32 with SplitMix64 stream derivation. The exact algorithm, its constants and its
 * published known answers are documented in nn/rng.h.
 */
#include "rng.h"

#include <math.h>

#include "maths.h"

#define PCG32_MULTIPLIER UINT64_C(6364136223846793005)
#define SPLITMIX64_GAMMA UINT64_C(0x9e3779b97f4a7c15)

uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += SPLITMIX64_GAMMA);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint32_t rng_next_u32(rng *r)
{
    uint64_t old = r->state;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rotation = (uint32_t)(old >> 59);
    r->state = old * PCG32_MULTIPLIER + r->increment;
    return (xorshifted >> rotation) | (xorshifted << ((32u - rotation) & 31u));
}

void rng_seed(rng *r, uint64_t initstate, uint64_t initseq)
{
    r->state = 0;
    r->increment = (initseq << 1) | 1u;
    (void)rng_next_u32(r);
    r->state += initstate;
    (void)rng_next_u32(r);
}

void rng_stream(rng *r, uint64_t seed, uint64_t domain, uint64_t a, uint64_t b, uint64_t c)
{
    const uint64_t parts[4] = {domain, a, b, c};
    uint64_t key = seed, s;
    uint64_t initstate, initseq;
    int i;
    for (i = 0; i < 4; i++) {
        s = key ^ parts[i];
        key = splitmix64_next(&s);
    }
    s = key;
    initstate = splitmix64_next(&s);
    initseq = splitmix64_next(&s);
    rng_seed(r, initstate, initseq);
}

float rng_uniform(rng *r)
{
    /* 24 random bits scaled by 2^-24: every value is exact in float and the largest is
     * 1 - 2^-24 < 1. */
    return (float)(rng_next_u32(r) >> 8) * (1.0f / 16777216.0f);
}

float rng_uniform_range(rng *r, float a, float b)
{
    return a + (b - a) * rng_uniform(r);
}

int64_t rng_randint(rng *r, int64_t lo, int64_t hi)
{
    uint32_t n, threshold, x;
    if (hi <= lo)
        return lo;
    /* Ranges of 2^32 or more are outside the contract; cap them rather than divide by zero. */
    n = (uint64_t)(hi - lo) > UINT32_MAX ? UINT32_MAX : (uint32_t)(hi - lo);
    /* (2^32 - n) mod n: the count of low values that would make `x mod n` favour small results. */
    threshold = (uint32_t)(0u - n) % n;
    do {
        x = rng_next_u32(r);
    } while (x < threshold);
    return lo + (int64_t)(x % n);
}

float rng_normal(rng *r)
{
    double u1 = rng_uniform(r);
    double u2 = rng_uniform(r);
    /* 1 - u1 lies in (0, 1], so the logarithm is finite. */
    return (float)(sqrt(-2.0 * maths_log(1.0 - u1)) * maths_cos_pi(2.0 * u2));
}

void rng_shuffle(rng *r, size_t *items, size_t count)
{
    size_t i;
    for (i = count; i-- > 1;) {
        const size_t j = (size_t)rng_randint(r, 0, (int64_t)i + 1), t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
}
