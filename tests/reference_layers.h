/*
 * tests/reference_layers.h — the layers written straight from their definitions in double, for
 * the tests: forward values to compare against, and functions to take central differences of.
 * Nothing here shares code with nn/.
 */
#ifndef SIMCLR_TEST_REFERENCE_LAYERS_H
#define SIMCLR_TEST_REFERENCE_LAYERS_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

/* y[n][o][i][j] = b[o] + Σ_c,a,b w[o][c][a][b] x[n][c][i·s−p+a][j·s−p+b] (0 outside). */
static inline void reference_conv2d(double *y, const double *x, const double *w, const double *b,
                                    size_t B, size_t C, size_t H, size_t W, size_t O, size_t k,
                                    size_t s, size_t p)
{
    const size_t Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    size_t n, o, i, j, c, a, q;
    for (n = 0; n < B; n++)
        for (o = 0; o < O; o++)
            for (i = 0; i < Ho; i++)
                for (j = 0; j < Wo; j++) {
                    double sum = b ? b[o] : 0.0;
                    for (c = 0; c < C; c++)
                        for (a = 0; a < k; a++)
                            for (q = 0; q < k; q++) {
                                long r = (long)(i * s + a) - (long)p, t = (long)(j * s + q) - (long)p;
                                if (r < 0 || t < 0 || r >= (long)H || t >= (long)W)
                                    continue;
                                sum += w[((o * C + c) * k + a) * k + q] *
                                       x[((n * C + c) * H + (size_t)r) * W + (size_t)t];
                            }
                    y[((n * O + o) * Ho + i) * Wo + j] = sum;
                }
}

/* Training-mode batchnorm over (B, C, S): biased variance, eps. */
static inline void reference_batchnorm_train(double *y, const double *x, const double *weight,
                                             const double *bias, size_t B, size_t C, size_t S,
                                             double eps)
{
    size_t c, n, t;
    for (c = 0; c < C; c++) {
        double mean = 0.0, var = 0.0;
        for (n = 0; n < B; n++)
            for (t = 0; t < S; t++)
                mean += x[(n * C + c) * S + t];
        mean /= (double)(B * S);
        for (n = 0; n < B; n++)
            for (t = 0; t < S; t++)
                var += (x[(n * C + c) * S + t] - mean) * (x[(n * C + c) * S + t] - mean);
        var /= (double)(B * S);
        for (n = 0; n < B; n++)
            for (t = 0; t < S; t++)
                y[(n * C + c) * S + t] =
                    weight[c] * (x[(n * C + c) * S + t] - mean) / sqrt(var + eps) + bias[c];
    }
}

static inline void reference_relu(double *y, const double *x, size_t count)
{
    size_t i;
    for (i = 0; i < count; i++)
        y[i] = x[i] > 0 ? x[i] : 0.0;
}

/* Max pool with −∞ padding. */
static inline void reference_maxpool(double *y, const double *x, size_t B, size_t C, size_t H,
                                     size_t W, size_t k, size_t s, size_t p)
{
    const size_t Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    size_t plane, i, j, a, q;
    for (plane = 0; plane < B * C; plane++)
        for (i = 0; i < Ho; i++)
            for (j = 0; j < Wo; j++) {
                double best = -HUGE_VAL;
                for (a = 0; a < k; a++)
                    for (q = 0; q < k; q++) {
                        long r = (long)(i * s + a) - (long)p, t = (long)(j * s + q) - (long)p;
                        if (r >= 0 && t >= 0 && r < (long)H && t < (long)W &&
                            x[plane * H * W + (size_t)r * W + (size_t)t] > best)
                            best = x[plane * H * W + (size_t)r * W + (size_t)t];
                    }
                y[plane * Ho * Wo + i * Wo + j] = best;
            }
}

static inline void reference_avgpool(double *h, const double *x, size_t B, size_t C, size_t S)
{
    size_t plane, t;
    for (plane = 0; plane < B * C; plane++) {
        double sum = 0.0;
        for (t = 0; t < S; t++)
            sum += x[plane * S + t];
        h[plane] = sum / (double)S;
    }
}

/* y = x Wᵀ + b; x (B, in), W (out, in). */
static inline void reference_linear(double *y, const double *x, const double *w, const double *b,
                                    size_t B, size_t in, size_t out)
{
    size_t n, o, i;
    for (n = 0; n < B; n++)
        for (o = 0; o < out; o++) {
            double sum = b ? b[o] : 0.0;
            for (i = 0; i < in; i++)
                sum += x[n * in + i] * w[o * in + i];
            y[n * out + o] = sum;
        }
}

static inline double *reference_from_float(const float *x, size_t count)
{
    double *y = malloc((count ? count : 1) * sizeof(double));
    size_t i;
    for (i = 0; i < count; i++)
        y[i] = x[i];
    return y;
}

static inline double reference_dot(const double *a, const double *b, size_t count)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < count; i++)
        sum += a[i] * b[i];
    return sum;
}

#endif
