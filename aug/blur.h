/*
 * aug/blur.h — Gaussian blur (torchvision gaussian_blur on tensors).
 *
 *   kernel size k: 10% of the image side (paper Appendix A), rounded down, made odd by adding 1
 *                  when even, at least 3
 *   g(x) = exp(−x²/(2σ²)) / Σ_x exp(−x²/(2σ²)),  x = −(k−1)/2 … (k−1)/2
 *   separable: rows, then columns; the border is reflected without repeating the edge
 *   (torchvision's pad mode "reflect": … c b | a b c | b a …), as often as needed for tiny images.
 */
#ifndef SIMCLR_AUG_BLUR_H
#define SIMCLR_AUG_BLUR_H

#include <stddef.h>

#define AUG_BLUR_MAX_KERNEL 511

/* k for an image side (clamped to AUG_BLUR_MAX_KERNEL). */
size_t aug_blur_kernel_size(size_t side);

/* kernel[0 .. k) = g(−(k−1)/2 … (k−1)/2). */
void aug_blur_kernel(float *kernel, size_t kernel_size, float sigma);

/* The reflected index of i in 0 .. n − 1 (n >= 1). */
size_t aug_reflect_index(long i, size_t n);

/* Blurs in place; workspace holds C·H·W floats. */
void aug_gaussian_blur(float *image, /* (C, H, W) */
                       size_t channels, size_t height, size_t width, size_t kernel_size,
                       float sigma, float *workspace);

#endif
