/*
 * nn/pool.h — max pooling (torch.nn.MaxPool2d(kernel, stride, padding), ResNet's 3×3/2 pad 1)
 * and global average pooling (torch.nn.AdaptiveAvgPool2d(1) + flatten).
 *
 * Max pool: y[n][c][i][j] = max over a, b < k of x[n][c][i·s − p + a][j·s − p + b], positions in
 * the padding never win (PyTorch pads with −∞). Ties go to the first maximum in row-major scan
 * order, as PyTorch's CPU kernel. Backward routes dy to the winning input position (the
 * positions saved by the forward pass as indices into the plane, or found again from its
 * input).
 *     Ho = (H + 2p − k)/s + 1 (floor; no ceil mode), likewise Wo.
 * Average pool: h[n][c] = (1/(H·W)) Σ x[n][c][·][·];  dx[n][c][·][·] = dh[n][c] / (H·W).
 *
 * Parallel over (n, c) planes; dx is overwritten.
 */
#ifndef SIMCLR_NN_POOL_H
#define SIMCLR_NN_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct pool_shape {
    size_t batch, channels, in_height, in_width; /* B, C, H, W */
    size_t kernel, stride, padding;              /* k, s, p */
    size_t out_height, out_width;                /* Ho, Wo (derived) */
} pool_shape;

/* Fills the derived sizes; returns -1 when the kernel does not fit or padding >= kernel. */
int pool_shape_init(pool_shape *shape, size_t batch, size_t channels, size_t in_height,
                    size_t in_width, size_t kernel, size_t stride, size_t padding);

void maxpool_forward(float *y,          /* (B, C, Ho, Wo) */
                     int32_t *argmax,   /* (B, C, Ho, Wo) index of the winner in its H·W plane,
                                         * or NULL: not saved */
                     const float *x,    /* (B, C, H, W) */
                     const pool_shape *shape);

void maxpool_backward(float *dx,             /* (B, C, H, W), overwritten */
                      const float *dy,       /* (B, C, Ho, Wo) */
                      const int32_t *argmax, /* (B, C, Ho, Wo) */
                      const pool_shape *shape);

/* The same from the forward's input instead of its saved winners (found again the same way):
 * the same bits as maxpool_backward, without the (B, C, Ho, Wo) indices kept between the
 * passes. */
void maxpool_backward_from_input(float *dx,       /* (B, C, H, W), overwritten */
                                 const float *dy, /* (B, C, Ho, Wo) */
                                 const float *x,  /* (B, C, H, W) the forward's input */
                                 const pool_shape *shape);

void avgpool_forward(float *h,       /* (B, C) */
                     const float *x, /* (B, C, S) with S = H·W */
                     size_t batch, size_t channels, size_t spatial);

void avgpool_backward(float *dx,       /* (B, C, S), overwritten */
                      const float *dh, /* (B, C) */
                      size_t batch, size_t channels, size_t spatial);

#endif
