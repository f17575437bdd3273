/*
 * nn/tensor.c — the tensor type: checked shapes, owned and wrapped data. See nn/tensor.h.
 */
#include "tensor.h"

#include "memory.h"

#include <stdint.h>
#include <string.h>

int tensor_element_count(int ndim, const size_t *shape, size_t *count, simclr_error *err)
{
    size_t elements = 1, bytes;
    int d;
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
        return simclr_fail(err, "tensor: %d dimensions (at most %d are supported)", ndim,
                           TENSOR_MAX_DIMS);
    for (d = 0; d < ndim; d++) {
        if (size_multiply_checked(elements, shape[d], &elements) != SIMCLR_OK)
            return simclr_fail(err, "tensor: the element count overflows size_t at dimension %d",
                               d);
    }
    if (size_multiply_checked(elements, sizeof(float), &bytes) != SIMCLR_OK)
        return simclr_fail(err, "tensor: %lu elements of float overflow size_t bytes",
                           (unsigned long)elements);
    *count = elements;
    return SIMCLR_OK;
}

static int tensor_describe(tensor *t, int ndim, const size_t *shape, simclr_error *err)
{
    size_t count = 0;
    int d;
    if (tensor_element_count(ndim, shape, &count, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (d = 0; d < TENSOR_MAX_DIMS; d++)
        t->shape[d] = d < ndim ? shape[d] : 1;
    t->size = count;
    return SIMCLR_OK;
}

int tensor_create(tensor *t, int ndim, const size_t *shape, simclr_error *err)
{
    memset(t, 0, sizeof *t);
    if (tensor_describe(t, ndim, shape, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    t->data = (float *)simclr_calloc(t->size, sizeof(float), "tensor", err);
    if (t->data == NULL) {
        memset(t, 0, sizeof *t);
        return SIMCLR_FAILED;
    }
    t->owns_data = 1;
    return SIMCLR_OK;
}

int tensor_wrap(tensor *t, float *data, int ndim, const size_t *shape, simclr_error *err)
{
    memset(t, 0, sizeof *t);
    if (data == NULL)
        return simclr_fail(err, "tensor: cannot wrap a NULL pointer");
    if (tensor_describe(t, ndim, shape, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    t->data = data;
    t->owns_data = 0;
    return SIMCLR_OK;
}

void tensor_destroy(tensor *t)
{
    if (t->owns_data)
        simclr_free(t->data);
    memset(t, 0, sizeof *t);
}
