/*
 * nn/conv2d.h — 2-D convolution, forward and backward (torch.nn.Conv2d: square kernel, stride,
 * zero padding, optional bias, no dilation, no groups).
 *
 *     y[n][o][i][j] = bias[o] + Σ_c Σ_a Σ_b weight[o][c][a][b] · x[n][c][i·s − p + a][j·s − p + b]
 *     (x read as 0 outside the image);  Hout = (H + 2p − k)/s + 1,  Wout = (W + 2p − k)/s + 1
 *
 * Shape legend: B images, C input channels, H × W input, O output channels, k kernel side,
 * s stride, p padding, Ho × Wo output.
 *
 * The fast path is im2col + GEMM (as darknet): a chunk of G images is unrolled into columns
 * col[(c, a, b)][(g, i, j)] (C·k·k rows, G·Ho·Wo columns) and
 *     forward          Y  = W · col                 (O × G·Ho·Wo)
 *     weight gradient  dW += dY · colᵀ              (O × C·k·k), summed over chunks in order
 *     input gradient   dcol = Wᵀ · dY, then col2im adds each column back where it came from.
 * The columns go straight into the GEMM's packed panel layout (nn/gemm.h: gemm_prepacked), so
 * no col matrix is ever stored; for a 1×1, stride 1, unpadded convolution the "unrolling" is just
 * the packing of the image itself (no im2col).
 * Chunk sizes: G images at most for the forward and input-gradient products (a few hundred
 * columns, so a chunk's data stays in cache), a larger G_w, from the shape alone, for the weight
 * gradient (whose sum over chunks is the only reduction; beyond one chunk, a count of chunks that
 * 4 divides, as equal as whole images allow). Threads take whole chunks of the forward and
 * input-gradient products when there are enough of them (each chunk is independent and computes
 * each image the same way, whichever thread runs it and whatever other images it holds), then
 * cut so that every thread gets as many (nn/parallel.h); otherwise they work inside each chunk's
 * GEMM. The weight gradient: one chunk goes straight into dW; several are each one product
 * P = dY · colᵀ, and dW + P(chunk 0) + P(chunk 1) + ... is added in that order, by each thread
 * for its own chunks when there are at least as many chunks as threads. So every sum has the
 * same order for any number of threads and the results are the same bits.
 *
 * For 3×3, stride 1, padding 1 with at least 16 input and output channels (every stride-1
 * convolution of a ResNet but the CIFAR stem's), forward and backward instead go to Winograd's
 * minimal filtering (nn/winograd_internal.h): forward F(2×2, 3×3), 16 products per 2×2 output tile and
 * channel pair instead of 36; backward F(4×4, 3×3), 36 per 4×4 tile instead of 144. Same
 * function, same determinism; the rounding differs from the direct sum's (normwise ~3e-7
 * forward, ~2e-6 for the gradients).
 *
 * Gradient convention (all layers in nn/): parameter gradients are accumulated (+=), so the
 * caller zeroes them once per step; the input gradient dx is overwritten. dx may be NULL when the
 * input needs no gradient (the first layer); dbias may be NULL when there is no bias.
 * Kernels never allocate: the caller passes conv2d_workspace_floats(shape) floats.
 */
#ifndef SIMCLR_NN_CONV2D_H
#define SIMCLR_NN_CONV2D_H

#include <stddef.h>

#include "error.h"

typedef struct conv2d_shape {
    size_t batch;                    /* B */
    size_t in_channels;              /* C */
    size_t in_height, in_width;      /* H, W */
    size_t out_channels;             /* O */
    size_t kernel, stride, padding;  /* k, s, p */
    size_t out_height, out_width;    /* Ho, Wo (derived) */
    size_t chunk;                    /* G: images per forward / dx GEMM, at most (derived) */
    size_t weight_chunk;             /* G_w, images per weight-gradient GEMM (derived) */
    size_t threads;                  /* worker slots planned in the workspace (derived) */
    /* Data-parallel training (nn/ranks.h), set by conv2d_shape_shard (init: 1 and NULL):
     * shards  1: the weight gradient sums over the whole batch, chunk after chunk;
     *         S_h > 1: per shard of B/S_h images (each as a batch of its own), the shards'
     *         sums added by the pairwise tree, then added to dW
     * ranks   NULL: this process holds the whole batch; else its rank's shards, and the
     *         ranks' sums are added (the same bits as one process holding all the shards) */
    size_t shards;
    const struct rank_group *ranks;
} conv2d_shape;

/* Fills the shape and its derived sizes; fails on a kernel larger than the padded input, a zero
 * size or stride, or sizes whose products overflow. The workspace gets one slot per thread
 * available now (parallel_thread_count()); running later with more threads uses only that many
 * for the chunk loops, with the same results. */
int conv2d_shape_init(conv2d_shape *shape, size_t batch, size_t in_channels, size_t in_height,
                      size_t in_width, size_t out_channels, size_t kernel, size_t stride,
                      size_t padding, simclr_error *err);

/* Sets the shape's shards and ranks (see above); fails unless shards is a power of two
 * dividing the batch. Call it before sizing the workspace. */
int conv2d_shape_shard(conv2d_shape *shape, size_t shards, const struct rank_group *ranks,
                       simclr_error *err);

/* 1 when conv2d_forward and conv2d_backward compute this shape by Winograd's minimal filtering
 * (3×3, stride 1, padding 1, at least WINOGRAD_MIN_CHANNELS = 16 input and output channels,
 * images at most 256 pixels wide), 0 when by im2col + GEMM. Public so that a user can tell which
 * rounding a layer gets (the two differ in the last bits) and a benchmark can label its rows;
 * the Winograd plumbing itself is internal (nn/winograd_internal.h). A SIMCLR_REFERENCE build
 * answers the same but runs every shape by the naive definition. */
int winograd_applies(const conv2d_shape *shape);

/* Floats of workspace conv2d_forward and conv2d_backward need for this shape. */
int conv2d_workspace_floats(const conv2d_shape *shape, size_t *floats, simclr_error *err);

/* The 7-loop definition above, the reference of the tests (and, in a SIMCLR_REFERENCE build,
 * what conv2d_forward runs). */
void conv2d_forward_naive(float *y,            /* (B, O, Ho, Wo) */
                          const float *x,      /* (B, C, H, W) */
                          const float *weight, /* (O, C, k, k) */
                          const float *bias,   /* (O) or NULL */
                          const conv2d_shape *shape);

/* The adjoint of that definition in direct loops (dx, dweight, dbias each as one sum per element,
 * accumulated in double; formulas in nn/conv2d.c), the reference of the backward tests. Same
 * arguments and conventions as conv2d_backward: dweight and dbias accumulated, dx overwritten,
 * dx or dbias may be NULL; no workspace. */
void conv2d_backward_naive(float *dx,           /* (B, C, H, W), overwritten; or NULL */
                           float *dweight,      /* (O, C, k, k), accumulated */
                           float *dbias,        /* (O), accumulated; or NULL */
                           const float *dy,     /* (B, O, Ho, Wo) */
                           const float *x,      /* (B, C, H, W) */
                           const float *weight, /* (O, C, k, k) */
                           const conv2d_shape *shape);

void conv2d_forward(float *y,            /* (B, O, Ho, Wo) */
                    const float *x,      /* (B, C, H, W) */
                    const float *weight, /* (O, C, k, k) */
                    const float *bias,   /* (O) or NULL */
                    const conv2d_shape *shape,
                    float *workspace);   /* conv2d_workspace_floats */

void conv2d_backward(float *dx,           /* (B, C, H, W), overwritten; or NULL */
                     float *dweight,      /* (O, C, k, k), accumulated */
                     float *dbias,        /* (O), accumulated; or NULL */
                     const float *dy,     /* (B, O, Ho, Wo) */
                     const float *x,      /* (B, C, H, W) */
                     const float *weight, /* (O, C, k, k) */
                     const conv2d_shape *shape,
                     float *workspace);   /* conv2d_workspace_floats */

#endif
