/*
 * nn/winograd_layout.c — what the two Winograd passes share (nn/winograd.c forward F(2×2, 3×3),
 * nn/winograd_backward.c backward F(4×4, 3×3)): how a batch is cut into chunks of images, the
 * sizes and strides of their matrices in the workspace, and the image-lane layout with its
 * gather and scatter. Conventions: nn/winograd_internal.h.
 */
#include "winograd_internal.h"

/* Gather and scatter copy short runs; GCC would turn the plain copies into calls to memcpy,
 * which cost more than the copies. Only GCC sees this. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#include <string.h>

#include "gemm_internal.h" /* gemm_packed_a_floats */

/* Images per chunk: enough for target_tiles tiles, at least one, at most the batch. */
size_t winograd_chunk_images(size_t tiles_per_image, size_t target_tiles, size_t batch)
{
    const size_t images = (target_tiles + tiles_per_image - 1) / tiles_per_image;
    return images < batch ? images : batch;
}

size_t winograd_round_up_16(size_t floats)
{
    return (floats + 15) / 16 * 16; /* so that every region starts 64-byte aligned */
}

/* T rounded up and 16 floats more, so that rows are never a multiple of 4 KiB apart (gemm's
 * packing reads 12 or 32 rows side by side, which would otherwise all fall into the same L1
 * cache sets). */
size_t winograd_row_stride(size_t T)
{
    return winograd_round_up_16(T) + 16;
}

/* floats rounded up to whole 4 KiB, then a cache line more: consecutive matrices start 64
 * bytes further along the L1 sets each (nn/winograd_internal.h) */
size_t winograd_block_stride(size_t floats)
{
    return (floats + WINOGRAD_BLOCK_ALIGN - 1) / WINOGRAD_BLOCK_ALIGN * WINOGRAD_BLOCK_ALIGN + 16;
}

size_t winograd_packed_filter_floats(size_t rows, size_t depth)
{
    return winograd_round_up_16(gemm_packed_a_floats(rows, depth));
}

/* The image-lane layout of one channel of a chunk: plane[(row·width + column)·G + g] is pixel
 * (row, column) of image g, so the G images of a chunk are the vector lanes of every transform.
 * winograd_gather copies a channel in, at an offset of (top, left) with zeros around it up to
 * (rows, width); winograd_scatter copies the H × W pixels at (top, left) back out. */
void winograd_gather(float *plane,       /* (rows, width, G) */
                     const float *image, /* image g's channel at image + g·image_stride */
                     size_t image_stride, size_t G, size_t H, size_t W, size_t rows,
                     size_t width, size_t top, size_t left)
{
    size_t g, row, column;
    for (row = 0; row < rows; row++) { /* zeros outside the H × W window */
        float *line = plane + row * width * G;
        if (row < top || row >= top + H) {
            memset(line, 0, width * G * sizeof(float));
            continue;
        }
        memset(line, 0, left * G * sizeof(float));
        memset(line + (left + W) * G, 0, (width - left - W) * G * sizeof(float));
    }
    /* written in order, G lanes after G lanes: each pixel's G images read from G rows that
     * stay in cache along the image row */
    for (row = 0; row < H; row++) {
        float *line = plane + ((top + row) * width + left) * G;
        const float *source = image + row * W;
        for (column = 0; column < W; column++)
            for (g = 0; g < G; g++)
                line[column * G + g] = source[g * image_stride + column];
    }
}

void winograd_scatter(float *image,       /* image g's channel at image + g·image_stride */
                      const float *plane, /* (rows, width, G) */
                      size_t image_stride, size_t G, size_t H, size_t W, size_t width,
                      size_t top, size_t left)
{
    size_t g, row, column;
    for (g = 0; g < G; g++) {
        float *target = image + g * image_stride;
        for (row = 0; row < H; row++) {
            const float *line = plane + ((top + row) * width + left) * G + g;
            for (column = 0; column < W; column++)
                target[row * W + column] = line[column * G];
        }
    }
}
