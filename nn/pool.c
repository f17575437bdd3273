/*
 * nn/pool.c — max pooling and global average pooling. Definitions: nn/pool.h.
 */
#include "pool.h"

#include <string.h>

#include "parallel.h"

int pool_shape_init(pool_shape *shape, size_t batch, size_t channels, size_t in_height,
                    size_t in_width, size_t kernel, size_t stride, size_t padding)
{
    memset(shape, 0, sizeof *shape);
    if (kernel == 0 || stride == 0 || 2 * padding > kernel || in_height + 2 * padding < kernel ||
        in_width + 2 * padding < kernel)
        return -1;
    shape->batch = batch;
    shape->channels = channels;
    shape->in_height = in_height;
    shape->in_width = in_width;
    shape->kernel = kernel;
    shape->stride = stride;
    shape->padding = padding;
    shape->out_height = (in_height + 2 * padding - kernel) / stride + 1;
    shape->out_width = (in_width + 2 * padding - kernel) / stride + 1;
    return 0;
}

/* The position of output (i, j)'s winner in its H·W plane `in`, and its value: the first
 * maximum in row-major scan order, padding never winning. */
static size_t window_winner(float *value, const float *in, const pool_shape *s, size_t i,
                            size_t j)
{
    const size_t H = s->in_height, W = s->in_width, k = s->kernel, pad = s->padding;
    const size_t top = i * s->stride, left = j * s->stride; /* in padded coordinates */
    /* the window's rows and columns inside the plane, [r0, r1) × [q0, q1): padding < kernel/2
     * guarantees one real position in every window */
    const size_t r0 = top > pad ? top - pad : 0, q0 = left > pad ? left - pad : 0;
    const size_t r1 = top + k - pad < H ? top + k - pad : H;
    const size_t q1 = left + k - pad < W ? left + k - pad : W;
    size_t best_at = r0 * W + q0, r, q;
    float best = in[best_at];
    for (r = r0; r < r1; r++)
        for (q = q0; q < q1; q++)
            if (in[r * W + q] > best) {
                best = in[r * W + q];
                best_at = r * W + q;
            }
    *value = best;
    return best_at;
}

void maxpool_forward(float *y, int32_t *argmax, const float *x, const pool_shape *s)
{
    const size_t planes = s->batch * s->channels, H = s->in_height, W = s->in_width;
    const size_t Ho = s->out_height, Wo = s->out_width;
    size_t plane;
    PARALLEL_FOR()
    for (plane = 0; plane < planes; plane++) {
        const float *in = x + plane * H * W;
        float *out = y + plane * Ho * Wo;
        size_t i, j;
        for (i = 0; i < Ho; i++)
            for (j = 0; j < Wo; j++) {
                const size_t at = window_winner(&out[i * Wo + j], in, s, i, j);
                if (argmax != NULL)
                    argmax[(plane * Ho + i) * Wo + j] = (int32_t)at;
            }
    }
}

void maxpool_backward(float *dx, const float *dy, const int32_t *argmax, const pool_shape *s)
{
    const size_t planes = s->batch * s->channels, H = s->in_height, W = s->in_width;
    const size_t outputs = s->out_height * s->out_width;
    size_t plane;
    PARALLEL_FOR()
    for (plane = 0; plane < planes; plane++) {
        float *d_in = dx + plane * H * W;
        size_t t;
        memset(d_in, 0, H * W * sizeof(float));
        for (t = 0; t < outputs; t++)
            d_in[argmax[plane * outputs + t]] += dy[plane * outputs + t];
    }
}

void maxpool_backward_from_input(float *dx, const float *dy, const float *x,
                                 const pool_shape *s)
{
    const size_t planes = s->batch * s->channels, H = s->in_height, W = s->in_width;
    const size_t Ho = s->out_height, Wo = s->out_width;
    size_t plane;
    PARALLEL_FOR()
    for (plane = 0; plane < planes; plane++) {
        float *d_in = dx + plane * H * W, value;
        size_t i, j;
        memset(d_in, 0, H * W * sizeof(float));
        for (i = 0; i < Ho; i++) /* the outputs in maxpool_backward's order */
            for (j = 0; j < Wo; j++)
                d_in[window_winner(&value, x + plane * H * W, s, i, j)] +=
                    dy[(plane * Ho + i) * Wo + j];
    }
}

void avgpool_forward(float *h, const float *x, size_t batch, size_t channels, size_t spatial)
{
    size_t plane;
    PARALLEL_FOR()
    for (plane = 0; plane < batch * channels; plane++) {
        double sum = 0.0;
        size_t t;
        for (t = 0; t < spatial; t++)
            sum += x[plane * spatial + t];
        h[plane] = (float)(sum / (double)spatial);
    }
}

void avgpool_backward(float *dx, const float *dh, size_t batch, size_t channels, size_t spatial)
{
    size_t plane;
    PARALLEL_FOR()
    for (plane = 0; plane < batch * channels; plane++) {
        const float share = dh[plane] / (float)spatial;
        size_t t;
        for (t = 0; t < spatial; t++)
            dx[plane * spatial + t] = share;
    }
}
