/*
 * nn/pointwise.c — ReLU and residual addition. See nn/pointwise.h.
 */
#include "pointwise.h"

#include "parallel.h"

void relu_forward(float *y, const float *x, size_t count)
{
    size_t i;
    PARALLEL_FOR(if (count > 65536))
    for (i = 0; i < count; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(float *dx, const float *dy, const float *y, size_t count)
{
    size_t i;
    PARALLEL_FOR(if (count > 65536))
    for (i = 0; i < count; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void add_forward(float *y, const float *a, const float *b, size_t count)
{
    size_t i;
    PARALLEL_FOR(if (count > 65536))
    for (i = 0; i < count; i++)
        y[i] = a[i] + b[i];
}
