/*
 * nn/winograd_internal.h — Winograd internal header: the plans, chunking and gather/scatter of
 * conv2d's Winograd path, used by nn/conv2d.c and the tests; never included by simclr.h, never
 * installed (a user calls conv2d_forward/conv2d_backward, and winograd_applies, nn/conv2d.h).
 *
 * 3×3, stride 1, padding 1 convolution by Winograd's minimal filtering
 * F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016,
 * section 4.1): the same function as nn/conv2d.h for that shape, with 16 multiplications per
 * 2×2 output tile and channel pair instead of 36.
 *
 * The output is cut into 2×2 tiles; tile (ti, tj) of an image reads the 4×4 input patch d at
 * rows 2ti−1 .. 2ti+2, columns 2tj−1 .. 2tj+2 (0 outside the image), and
 *
 *     Y_tile = Aᵀ [ Σ_c (G g_oc Gᵀ) ⊙ (Bᵀ d_c B) ] A            (Lavin & Gray, eq. 8)
 *
 *     Bᵀ = | 1  0 −1  0 |     G = | 1   0   0 |     Aᵀ = | 1  1  1  0 |
 *          | 0  1  1  0 |         | ½   ½   ½ |          | 0  1 −1 −1 |
 *          | 0 −1  1  0 |         | ½  −½   ½ |
 *          | 0  1  0 −1 |         | 0   0   1 |
 *
 * For each of the 16 positions ξ of a transformed 4×4 tile the sum over c is a matrix product
 * over the T tiles of a chunk of images:
 *     M_ξ (O, T) = U_ξ (O, C) · V_ξ (C, T),   U_ξ[o][c] = (G g_oc Gᵀ)_ξ,  V_ξ[c][t] = (Bᵀ d_ct B)_ξ
 * and Y_tile = Aᵀ M_tile A.
 *
 * The backward pass (nn/winograd_backward.c) computes dx and dweight of the same convolution with
 * the larger tile F(4×4, 3×3): the exact adjoint of that algorithm's linear maps (what autograd
 * would derive from them), 36 products per 4×4 tile instead of 64 per four 2×2 tiles. Its
 * rounding error is about 6× F(2×2, 3×3)'s, which is why the forward pass, whose outputs decide
 * ReLU gates, keeps the smaller tile; that file's top comment has the matrices and the figures.
 *
 * Shape legend as nn/conv2d.h: B images, C input channels, H × W (= Ho × Wo), O output channels;
 * here also th × tw = ⌈H/2⌉ × ⌈W/2⌉ tiles per image, T tiles per chunk, ξ = 4·row + column.
 *
 * Accuracy: the forward transforms only add, subtract and halve, so for small-integer inputs
 * the result is exact; in general it differs from the direct sum by float rounding (tests:
 * normwise 1e-5, as every conv2d shape, forward and backward).
 * Determinism: forward, each thread takes whole chunks of images with its own V and M when there
 * are at least as many chunks as threads (the chunks then cut so that every thread gets as many),
 * and otherwise the threads share each chunk: the transforms in parallel over (image, channel)
 * planes, the 16 products over ξ. Each output is the same sums in the same order either way (a
 * tile's transforms and a product's nn/gemm.h order never depend on the chunk), so the chunk size
 * may depend on the thread count. Backward, the same two ways (each thread whole chunks, or the
 * threads sharing each, the 36 products over ξ), but the chunks' size is set by the shape alone:
 * dU = 0 + P(chunk 0) + P(chunk 1) + ..., each chunk's product P added after the one before it.
 * Results are the same bits for any number of threads. Memory: where threads take whole chunks,
 * each has its own chunk buffers (and backward its 36 products), so the workspace of a layer
 * with several chunks grows with the thread count (though at ResNet-18 CIFAR's 128 views and
 * ResNet-50's 32 the step's peak resident memory did not move with 2 threads).
 * conv2d_forward and conv2d_backward use this path for every shape winograd_applies() accepts
 * (nn/conv2d.h; never in a SIMCLR_REFERENCE build); the bias is theirs. Kernels never allocate:
 * the workspace is conv2d's.
 *
 * Files: nn/winograd.c the forward (its statics prefixed f2_, for F(2×2, 3×3)),
 * nn/winograd_backward.c the backward (statics prefixed f4_, for F(4×4, 3×3)), and
 * nn/winograd_layout.c what both share (chunks, strides, gather/scatter), which calls neither.
 */
#ifndef SIMCLR_NN_WINOGRAD_INTERNAL_H
#define SIMCLR_NN_WINOGRAD_INTERNAL_H

#include <stddef.h>

#include "conv2d.h"
#include "error.h"

/* Tiles per chunk aimed at (whole images, at least one); and the widest image handled (wider
 * images, and layers with fewer than WINOGRAD_MIN_CHANNELS input or output channels, where the
 * products are too thin to pay for the transforms, stay on im2col). */
#define WINOGRAD_TARGET_TILES 512
#define WINOGRAD_BACKWARD_TARGET_TILES 1024 /* 4×4 tiles: ResNet's 32×32 maps, 16 images a chunk */
#define WINOGRAD_BACKWARD_CHUNK_GROUPS 4     /* backward: chunk counts a multiple of 4, beyond 1 */
#define WINOGRAD_MAX_TILE_COLUMNS 128
#define WINOGRAD_MIN_CHANNELS 16

/* Floats of workspace winograd_forward and winograd_backward need (fails on overflow): the
 * larger of the two passes' plans (nn/winograd.c). */
int winograd_workspace_floats(const conv2d_shape *shape, size_t *floats, simclr_error *err);

/* Shared by the two passes' workspace plans (nn/winograd_layout.c): images per chunk for images of
 * tiles_per_image tiles and a target of target_tiles a chunk; a size rounded up to 16 floats;
 * the row stride of the (C, T) and (O, T) matrices of a chunk of T tiles; floats of one ξ's
 * block of packed U, (rows, depth) packed as gemm's A operand: (O, C) forward, (C, O) backward. */
size_t winograd_chunk_images(size_t tiles_per_image, size_t target_tiles, size_t batch);
size_t winograd_round_up_16(size_t floats);
size_t winograd_row_stride(size_t T);
/* The distance between consecutive matrices ξ and ξ + 1 of a chunk (V_ξ, M_ξ, dM_ξ): `floats`
 * rounded up to whole 4 KiB and 16 floats (one cache line) more, so at most
 * WINOGRAD_BLOCK_SLACK floats more than `floats`. The transforms write or read one run of all
 * 16 or 36 matrices side by side; at a distance that is a multiple of 4 KiB (as C·L is for any
 * C a multiple of 64) they would all fall into the same L1 cache sets. */
#define WINOGRAD_BLOCK_ALIGN 1024 /* floats: 4 KiB */
#define WINOGRAD_BLOCK_SLACK (WINOGRAD_BLOCK_ALIGN + 16)
size_t winograd_block_stride(size_t floats);
size_t winograd_packed_filter_floats(size_t rows, size_t depth);

/* The image-lane layout of one channel of a chunk of G images (nn/winograd_layout.c):
 * plane[(row·width + column)·G + g] is pixel (row, column) of image g. winograd_gather copies
 * image g's channel (at image + g·image_stride, H × W) in at (top, left), with zeros elsewhere up
 * to rows × width; winograd_scatter copies the H × W pixels at (top, left) back out. */
void winograd_gather(float *plane, const float *image, size_t image_stride, size_t G, size_t H,
                     size_t W, size_t rows, size_t width, size_t top, size_t left);
void winograd_scatter(float *image, const float *plane, size_t image_stride, size_t G, size_t H,
                      size_t W, size_t width, size_t top, size_t left);

/* The backward pass's share of the workspace (nn/winograd_backward.c). */
int winograd_backward_workspace_floats(const conv2d_shape *shape, size_t *floats,
                                       simclr_error *err);

/* y = conv(x, weight) without bias. */
void winograd_forward(float *y,            /* (B, O, H, W) */
                      const float *x,      /* (B, C, H, W) */
                      const float *weight, /* (O, C, 3, 3) */
                      const conv2d_shape *shape,
                      float *workspace);   /* winograd_workspace_floats */

/* dweight += ∂L/∂weight; dx = ∂L/∂x (overwritten), or skipped when dx is NULL. */
void winograd_backward(float *dx,           /* (B, C, H, W) or NULL */
                       float *dweight,      /* (O, C, 3, 3), accumulated */
                       const float *dy,     /* (B, O, H, W) */
                       const float *x,      /* (B, C, H, W) */
                       const float *weight, /* (O, C, 3, 3) */
                       const conv2d_shape *shape,
                       float *workspace);   /* winograd_workspace_floats */

#endif
