/*
 * aug/blur.c — separable Gaussian blur with reflected borders. Definitions: aug/blur.h.
 */
#include "blur.h"

#include <math.h>
#include <string.h>

#include "../nn/maths.h"

size_t aug_blur_kernel_size(size_t side)
{
    size_t k = side / 10; /* 10% of the side, rounded down */
    if (k % 2 == 0)
        k += 1;
    if (k < 3)
        k = 3;
    return k > AUG_BLUR_MAX_KERNEL ? AUG_BLUR_MAX_KERNEL : k;
}

void aug_blur_kernel(float *kernel, size_t kernel_size, float sigma)
{
    const double half = (double)(kernel_size - 1) / 2.0;
    double total = 0.0, values[AUG_BLUR_MAX_KERNEL];
    size_t i;
    for (i = 0; i < kernel_size; i++) {
        const double x = (double)i - half;
        values[i] = maths_exp(-x * x / (2.0 * (double)sigma * sigma));
        total += values[i];
    }
    for (i = 0; i < kernel_size; i++)
        kernel[i] = (float)(values[i] / total);
}

size_t aug_reflect_index(long i, size_t n)
{
    const long period = n > 1 ? 2 * ((long)n - 1) : 1;
    if (n == 1)
        return 0;
    i %= period;
    if (i < 0)
        i += period;
    return (size_t)(i < (long)n ? i : period - i);
}

void aug_gaussian_blur(float *image, size_t channels, size_t height, size_t width,
                       size_t kernel_size, float sigma, float *workspace)
{
    float kernel[AUG_BLUR_MAX_KERNEL];
    const long half = (long)(kernel_size / 2);
    size_t c, i, j, t;
    if (kernel_size > AUG_BLUR_MAX_KERNEL)
        kernel_size = AUG_BLUR_MAX_KERNEL;
    aug_blur_kernel(kernel, kernel_size, sigma);
    /* rows into the workspace */
    for (c = 0; c < channels; c++)
        for (i = 0; i < height; i++) {
            const float *row = image + (c * height + i) * width;
            float *out = workspace + (c * height + i) * width;
            for (j = 0; j < width; j++) {
                float sum = 0.0f;
                for (t = 0; t < kernel_size; t++)
                    sum += kernel[t] * row[aug_reflect_index((long)j + (long)t - half, width)];
                out[j] = sum;
            }
        }
    /* columns back into the image */
    for (c = 0; c < channels; c++)
        for (i = 0; i < height; i++)
            for (j = 0; j < width; j++) {
                float sum = 0.0f;
                for (t = 0; t < kernel_size; t++)
                    sum += kernel[t] *
                           workspace[(c * height + aug_reflect_index((long)i + (long)t - half,
                                                                     height)) *
                                         width +
                                     j];
                image[(c * height + i) * width + j] = sum;
            }
}
