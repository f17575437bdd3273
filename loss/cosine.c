/*
 * loss/cosine.c — L2-normalised rows and their cosine matrix, forward and backward.
 * Formulas and conventions: loss/cosine.h.
 */
#include "cosine.h"

#include <math.h>

#include "../nn/parallel.h"

void rows_normalize_forward(float *unit, float *norm, const float *z, size_t R, size_t d)
{
    size_t k;
    PARALLEL_FOR()
    for (k = 0; k < R; k++) {
        const float *z_k = z + k * d;
        float *u_k = unit + k * d;
        double squares = 0.0, divisor;
        size_t j;
        for (j = 0; j < d; j++)
            squares += (double)z_k[j] * z_k[j];
        norm[k] = (float)sqrt(squares);
        divisor = sqrt(squares) > COSINE_NORM_FLOOR ? sqrt(squares) : COSINE_NORM_FLOOR;
        for (j = 0; j < d; j++)
            u_k[j] = (float)(z_k[j] / divisor);
    }
}

void rows_normalize_backward(float *dz, const float *dunit, const float *unit, const float *norm,
                             size_t R, size_t d)
{
    size_t k;
    PARALLEL_FOR()
    for (k = 0; k < R; k++) {
        const float *g = dunit + k * d, *u = unit + k * d;
        float *dz_k = dz + k * d;
        size_t j;
        if (norm[k] > COSINE_NORM_FLOOR) {
            double u_dot_g = 0.0;
            for (j = 0; j < d; j++)
                u_dot_g += (double)u[j] * g[j];
            for (j = 0; j < d; j++)
                dz_k[j] = (float)((g[j] - u[j] * u_dot_g) / norm[k]);
        } else {
            for (j = 0; j < d; j++)
                dz_k[j] = (float)(g[j] / COSINE_NORM_FLOOR);
        }
    }
}

void cosine_matrix_forward(float *cosine, const float *unit, size_t R, size_t d)
{
    size_t i;
    PARALLEL_FOR()
    for (i = 0; i < R; i++) {
        size_t j, t;
        for (j = 0; j < R; j++) {
            float dot = 0.0f;
            for (t = 0; t < d; t++)
                dot += unit[i * d + t] * unit[j * d + t];
            cosine[i * R + j] = dot;
        }
    }
}

void cosine_matrix_backward(float *dunit, const float *grad_cosine, const float *unit, size_t R,
                            size_t d)
{
    size_t k;
    PARALLEL_FOR()
    for (k = 0; k < R; k++) {
        float *du = dunit + k * d;
        size_t j, t;
        for (t = 0; t < d; t++)
            du[t] = 0.0f;
        for (j = 0; j < R; j++) {
            const float weight = grad_cosine[k * R + j] + grad_cosine[j * R + k];
            if (weight == 0.0f)
                continue;
            for (t = 0; t < d; t++)
                du[t] += weight * unit[j * d + t];
        }
    }
}
