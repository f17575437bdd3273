/*
 * nn/size_arithmetic.h — size_t arithmetic checked for overflow: the floor under every
 * allocation (nn/memory.h) and every shape (nn/tensor.h).
 *
 * A size computed from untrusted input (a file header, a command-line shape) is multiplied and
 * added only through these, so a product that does not fit in size_t is an error, never a
 * wrapped-around small allocation that is then overrun.
 */
#ifndef SIMCLR_NN_SIZE_ARITHMETIC_H
#define SIMCLR_NN_SIZE_ARITHMETIC_H

#include <stddef.h>

#include "error.h" /* SIMCLR_OK, SIMCLR_FAILED */

/* *product = a * b, or SIMCLR_FAILED (product untouched) when that overflows size_t. */
int size_multiply_checked(size_t a, size_t b, size_t *product);

/* *sum = a + b, or SIMCLR_FAILED (sum untouched) when that overflows size_t. */
int size_add_checked(size_t a, size_t b, size_t *sum);

#endif
