/*
 * tests/test_helpers.h — small helpers shared by the Criterion tests.
 */
#ifndef SIMCLR_TEST_HELPERS_H
#define SIMCLR_TEST_HELPERS_H

#include <stddef.h>

#include "simclr.h"

/* Fills x[0..count) with uniform values on [low, high) from the stream (seed, "data", tag). */
static inline void test_fill_uniform(float *x, size_t count, float low, float high,
                                     unsigned long tag)
{
    rng random;
    size_t i;
    rng_stream(&random, 12345, RNG_DOMAIN_DATA, tag, 0, 0);
    for (i = 0; i < count; i++)
        x[i] = rng_uniform_range(&random, low, high);
}

#endif
