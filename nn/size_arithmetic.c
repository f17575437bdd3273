/*
 * nn/size_arithmetic.c — size_t products and sums checked for overflow. See nn/size_arithmetic.h.
 */
#include "size_arithmetic.h"

#include <stdint.h>

int size_multiply_checked(size_t a, size_t b, size_t *product)
{
    if (a != 0 && b > SIZE_MAX / a)
        return SIMCLR_FAILED;
    *product = a * b;
    return SIMCLR_OK;
}

int size_add_checked(size_t a, size_t b, size_t *sum)
{
    if (b > SIZE_MAX - a)
        return SIMCLR_FAILED;
    *sum = a + b;
    return SIMCLR_OK;
}
