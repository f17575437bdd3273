/*
 * tests/test_tensor.c — the tensor type and checked size arithmetic (nn/tensor.h): shapes,
 * zero-filled creation, wrapping, and every overflow rejected before allocation.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "test_helpers.h"

Test(tensor, create_describes_shape_and_zero_fills)
{
    const size_t shape[4] = {2, 3, 4, 5};
    simclr_error err;
    tensor t;
    size_t i;
    cr_assert_eq(tensor_create(&t, 4, shape, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_eq(t.ndim, 4);
    cr_expect_eq(t.size, 120u);
    cr_expect_eq(t.shape[0], 2u);
    cr_expect_eq(t.shape[3], 5u);
    cr_expect_eq(t.shape[4], 1u, "dimensions past ndim read as 1");
    for (i = 0; i < t.size; i++)
        cr_assert_eq(t.data[i], 0.0f);
    t.data[119] = 1.0f; /* the whole block is ours to write */
    tensor_destroy(&t);
    cr_expect_null(t.data);
    tensor_destroy(&t); /* twice is harmless */
}

Test(tensor, scalar_and_empty_shapes)
{
    const size_t empty[2] = {0, 7};
    tensor t;
    cr_assert_eq(tensor_create(&t, 0, NULL, NULL), SIMCLR_OK);
    cr_expect_eq(t.size, 1u, "a 0-dimensional tensor holds one element");
    tensor_destroy(&t);
    cr_assert_eq(tensor_create(&t, 2, empty, NULL), SIMCLR_OK);
    cr_expect_eq(t.size, 0u);
    cr_expect_not_null(t.data);
    tensor_destroy(&t);
}

Test(tensor, wrap_does_not_own)
{
    float storage[6] = {1, 2, 3, 4, 5, 6};
    const size_t shape[2] = {2, 3};
    tensor t;
    cr_assert_eq(tensor_wrap(&t, storage, 2, shape, NULL), SIMCLR_OK);
    cr_expect_eq(t.data, storage);
    cr_expect_eq(t.owns_data, 0);
    cr_expect_eq(t.size, 6u);
    tensor_destroy(&t); /* must not free a stack array */
    cr_expect_eq(storage[5], 6.0f);
    cr_expect_eq(tensor_wrap(&t, NULL, 2, shape, NULL), SIMCLR_FAILED);
}

Test(tensor, size_arithmetic_edges)
{
    size_t out = 42;
    cr_expect_eq(size_multiply_checked(SIZE_MAX, 1, &out), SIMCLR_OK);
    cr_expect_eq(out, SIZE_MAX);
    cr_expect_eq(size_multiply_checked(0, SIZE_MAX, &out), SIMCLR_OK);
    cr_expect_eq(out, 0u);
    out = 42;
    cr_expect_eq(size_multiply_checked(SIZE_MAX / 2 + 1, 2, &out), SIMCLR_FAILED);
    cr_expect_eq(out, 42u, "untouched on overflow");
    cr_expect_eq(size_multiply_checked(SIZE_MAX / 3, 3, &out), SIMCLR_OK);
    cr_expect_eq(size_add_checked(SIZE_MAX - 1, 1, &out), SIMCLR_OK);
    cr_expect_eq(out, SIZE_MAX);
    cr_expect_eq(size_add_checked(SIZE_MAX, 1, &out), SIMCLR_FAILED);
}

/* The element count overflowing, and the element count fitting but its bytes not: both are
 * rejected with a reason, before any allocation, and leave the tensor empty. */
Test(tensor, overflowing_shapes_are_rejected)
{
    const size_t elements_overflow[3] = {SIZE_MAX / 2 + 1, 2, 1};
    const size_t bytes_overflow[1] = {SIZE_MAX / sizeof(float) + 1};
    const size_t hidden_by_zero[3] = {SIZE_MAX, SIZE_MAX, 0}; /* overflows before the 0 */
    simclr_error err;
    tensor t;
    memset(&err, 0, sizeof err);
    cr_expect_eq(tensor_create(&t, 3, elements_overflow, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "overflow"), "reason: %s", err.message);
    cr_expect_null(t.data);
    memset(&err, 0, sizeof err);
    cr_expect_eq(tensor_create(&t, 1, bytes_overflow, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "overflow"), "reason: %s", err.message);
    cr_expect_eq(tensor_create(&t, 3, hidden_by_zero, &err), SIMCLR_FAILED);
}

Test(tensor, dimension_count_limits)
{
    const size_t ones[TENSOR_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    simclr_error err;
    tensor t;
    cr_expect_eq(tensor_create(&t, TENSOR_MAX_DIMS, ones, &err), SIMCLR_OK);
    tensor_destroy(&t);
    cr_expect_eq(tensor_create(&t, TENSOR_MAX_DIMS + 1, ones, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "dimensions"), "reason: %s", err.message);
    cr_expect_eq(tensor_create(&t, -1, ones, &err), SIMCLR_FAILED);
}
