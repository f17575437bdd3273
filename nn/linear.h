/*
 * nn/linear.h — the fully connected layer (torch.nn.Linear: y = x·Wᵀ + b, W (out, in)).
 *
 *     y = x · weightᵀ + bias          x (B, in), weight (out, in), bias (out), y (B, out)
 *     dweight += dyᵀ · x,  dbias += Σ_b dy[b],  dx = dy · weight
 *
 * Through the GEMM (nn/gemm.h): forward (NORMAL, TRANSPOSED), weight gradient
 * (TRANSPOSED, NORMAL), input gradient (NORMAL, NORMAL). Gradient convention as nn/conv2d.h:
 * dweight and dbias accumulate, dx is overwritten, dx or bias/dbias may be NULL.
 * Workspace: linear_workspace_floats(B, in, out) floats.
 */
#ifndef SIMCLR_NN_LINEAR_H
#define SIMCLR_NN_LINEAR_H

#include <stddef.h>

#include "error.h"

int linear_workspace_floats(size_t batch, size_t in_features, size_t out_features,
                            size_t *floats, simclr_error *err);

void linear_forward(float *y,            /* (B, out) */
                    const float *x,      /* (B, in) */
                    const float *weight, /* (out, in) */
                    const float *bias,   /* (out) or NULL */
                    size_t batch, size_t in_features, size_t out_features,
                    float *workspace);

void linear_backward(float *dx,           /* (B, in), overwritten; or NULL */
                     float *dweight,      /* (out, in), accumulated */
                     float *dbias,        /* (out), accumulated; or NULL */
                     const float *dy,     /* (B, out) */
                     const float *x,      /* (B, in) */
                     const float *weight, /* (out, in) */
                     size_t batch, size_t in_features, size_t out_features,
                     float *workspace);

#endif
