/*
 * nn/pointwise.h — element-wise layers: ReLU and the residual addition (torch.relu, a + b).
 *
 *     relu:  y = max(x, 0);            dx = dy · [y > 0]     (the gradient at 0 is 0, as PyTorch)
 *     add:   y = a + b;                da = db = dy          (the caller routes dy to both)
 *
 * ReLU may run in place (y == x) and its backward needs only the output, so the network keeps
 * one buffer for a batchnorm + ReLU pair. dx may alias dy. Parallel over elements; nothing is
 * reduced, so results never depend on the thread count.
 */
#ifndef SIMCLR_NN_POINTWISE_H
#define SIMCLR_NN_POINTWISE_H

#include <stddef.h>

void relu_forward(float *y,       /* (count), may be x */
                  const float *x, /* (count) */
                  size_t count);

void relu_backward(float *dx,       /* (count), overwritten; may be dy */
                   const float *dy, /* (count) */
                   const float *y,  /* (count) the forward output */
                   size_t count);

void add_forward(float *y,       /* (count), may be a or b */
                 const float *a, /* (count) */
                 const float *b, /* (count) */
                 size_t count);

#endif
