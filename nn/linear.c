/*
 * nn/linear.c — y = x·Wᵀ + b and its backward through the GEMM. See nn/linear.h.
 */
#include "linear.h"

#include "gemm.h"
#include "parallel.h"

int linear_workspace_floats(size_t batch, size_t in_features, size_t out_features,
                            size_t *floats, simclr_error *err)
{
    size_t forward, weight_grad, input_grad;
    if (gemm_workspace_floats(batch, out_features, in_features, &forward, err) != SIMCLR_OK ||
        gemm_workspace_floats(out_features, in_features, batch, &weight_grad, err) !=
            SIMCLR_OK ||
        gemm_workspace_floats(batch, in_features, out_features, &input_grad, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    *floats = forward > weight_grad ? forward : weight_grad;
    *floats = *floats > input_grad ? *floats : input_grad;
    return SIMCLR_OK;
}

void linear_forward(float *y, const float *x, const float *weight, const float *bias,
                    size_t batch, size_t in_features, size_t out_features, float *workspace)
{
    gemm(GEMM_NORMAL, GEMM_TRANSPOSED, batch, out_features, in_features, 1.0f, x, in_features,
         weight, in_features, 0.0f, y, out_features, workspace);
    if (bias != NULL) {
        size_t b;
        PARALLEL_FOR()
        for (b = 0; b < batch; b++) {
            size_t o;
            for (o = 0; o < out_features; o++)
                y[b * out_features + o] += bias[o];
        }
    }
}

void linear_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                     const float *weight, size_t batch, size_t in_features, size_t out_features,
                     float *workspace)
{
    gemm(GEMM_TRANSPOSED, GEMM_NORMAL, out_features, in_features, batch, 1.0f, dy, out_features,
         x, in_features, 1.0f, dweight, in_features, workspace);
    if (dbias != NULL) {
        size_t o;
        PARALLEL_FOR()
        for (o = 0; o < out_features; o++) {
            double sum = 0.0;
            size_t b;
            for (b = 0; b < batch; b++)
                sum += dy[b * out_features + o];
            dbias[o] += (float)sum;
        }
    }
    if (dx != NULL)
        gemm(GEMM_NORMAL, GEMM_NORMAL, batch, in_features, out_features, 1.0f, dy, out_features,
             weight, in_features, 0.0f, dx, in_features, workspace);
}
