/*
 * nn/batchnorm.c — batch normalisation, training and evaluation mode, forward and backward.
 * Formulas and conventions: nn/batchnorm.h.
 */
#include "batchnorm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "parallel.h"

void batchnorm_forward_train(float *y, float *saved_mean, float *saved_inverse_std,
                             const float *x, const float *weight, const float *bias,
                             batchnorm_state *state, const batchnorm_shape *shape)
{
    const size_t B = shape->batch, C = shape->channels, S = shape->spatial, n = B * S;
    size_t c;
    PARALLEL_FOR()
    for (c = 0; c < C; c++) {
        /* one pass for Σx and Σx² in double: var = Σx²/n − mean², exact enough in double for
         * float inputs unless |mean| exceeds the standard deviation by ~10⁶ */
        double sum = 0.0, sum_squares = 0.0, mean, variance;
        float inverse_std, scale, shift;
        size_t b, t;
        for (b = 0; b < B; b++) {
            const float *in = x + (b * C + c) * S;
            for (t = 0; t < S; t++) {
                sum += in[t];
                sum_squares += (double)in[t] * in[t];
            }
        }
        mean = sum / (double)n;
        variance = sum_squares / (double)n - mean * mean;
        if (variance < 0.0)
            variance = 0.0;
        inverse_std = (float)(1.0 / sqrt(variance + state->eps));
        saved_mean[c] = (float)mean;
        saved_inverse_std[c] = inverse_std;
        scale = weight[c] * inverse_std;
        shift = bias[c] - (float)mean * scale;
        for (b = 0; b < B; b++) {
            const float *in = x + (b * C + c) * S;
            float *out = y + (b * C + c) * S;
            for (t = 0; t < S; t++)
                out[t] = in[t] * scale + shift;
        }
        state->running_mean[c] = (1.0f - state->momentum) * state->running_mean[c] +
                                 state->momentum * (float)mean;
        state->running_var[c] =
            (1.0f - state->momentum) * state->running_var[c] +
            state->momentum * (float)(n > 1 ? variance * (double)n / (double)(n - 1) : variance);
    }
    *state->num_batches_tracked += 1;
}

void batchnorm_backward_train(float *dx, float *dweight, float *dbias, const float *dy,
                              const float *x, const float *saved_mean,
                              const float *saved_inverse_std, const float *weight,
                              const batchnorm_shape *shape)
{
    const size_t B = shape->batch, C = shape->channels, S = shape->spatial, n = B * S;
    size_t c;
    PARALLEL_FOR()
    for (c = 0; c < C; c++) {
        const float mean = saved_mean[c], inverse_std = saved_inverse_std[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        float mean_dy, mean_dy_xhat, scale;
        size_t b, t;
        for (b = 0; b < B; b++)
            for (t = 0; t < S; t++) {
                const size_t at = (b * C + c) * S + t;
                sum_dy += dy[at];
                sum_dy_xhat += (double)dy[at] * ((x[at] - mean) * inverse_std);
            }
        dweight[c] += (float)sum_dy_xhat;
        dbias[c] += (float)sum_dy;
        mean_dy = (float)(sum_dy / (double)n);
        mean_dy_xhat = (float)(sum_dy_xhat / (double)n);
        scale = weight[c] * inverse_std;
        for (b = 0; b < B; b++)
            for (t = 0; t < S; t++) {
                const size_t at = (b * C + c) * S + t;
                const float x_hat = (x[at] - mean) * inverse_std;
                dx[at] = scale * (dy[at] - mean_dy - x_hat * mean_dy_xhat);
            }
    }
}

void batchnorm_forward_eval(float *y, const float *x, const float *weight, const float *bias,
                            const batchnorm_state *state, const batchnorm_shape *shape)
{
    const size_t B = shape->batch, C = shape->channels, S = shape->spatial;
    size_t c;
    PARALLEL_FOR()
    for (c = 0; c < C; c++) {
        const float inverse_std = (float)(1.0 / sqrt((double)state->running_var[c] + state->eps));
        const float scale = weight[c] * inverse_std;
        const float shift = bias[c] - state->running_mean[c] * scale;
        size_t b, t;
        for (b = 0; b < B; b++)
            for (t = 0; t < S; t++)
                y[(b * C + c) * S + t] = x[(b * C + c) * S + t] * scale + shift;
    }
}

void batchnorm_backward_eval(float *dx, float *dweight, float *dbias, const float *dy,
                             const float *x, const float *weight, const batchnorm_state *state,
                             const batchnorm_shape *shape)
{
    const size_t B = shape->batch, C = shape->channels, S = shape->spatial;
    size_t c;
    PARALLEL_FOR()
    for (c = 0; c < C; c++) {
        const float inverse_std = (float)(1.0 / sqrt((double)state->running_var[c] + state->eps));
        const float mean = state->running_mean[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        size_t b, t;
        for (b = 0; b < B; b++)
            for (t = 0; t < S; t++) {
                const size_t at = (b * C + c) * S + t;
                sum_dy += dy[at];
                sum_dy_xhat += (double)dy[at] * ((x[at] - mean) * inverse_std);
                dx[at] = dy[at] * weight[c] * inverse_std;
            }
        dweight[c] += (float)sum_dy_xhat;
        dbias[c] += (float)sum_dy;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* A batchnorm layer whose state lives in a param_store                                       */
/* ------------------------------------------------------------------------------------------ */

int bn_layer_plan(bn_layer *bn, param_store *store, const char *prefix, const char *name,
                  size_t channels, simclr_error *err)
{
    static const char *const suffixes[5] = {"weight", "bias", "running_mean", "running_var",
                                            "num_batches_tracked"};
    static const param_role roles[5] = {PARAM_BN_WEIGHT, PARAM_BN_BIAS, BUFFER_RUNNING_MEAN,
                                        BUFFER_RUNNING_VAR, BUFFER_NUM_BATCHES_TRACKED};
    size_t *offsets[5];
    const size_t shape[1] = {channels};
    char full[PARAM_NAME_MAX];
    int i;
    offsets[0] = &bn->weight, offsets[1] = &bn->bias, offsets[2] = &bn->running_mean;
    offsets[3] = &bn->running_var, offsets[4] = &bn->counter;
    bn->channels = channels;
    for (i = 0; i < 5; i++) {
        if (strlen(name) + strlen(suffixes[i]) + 2 > sizeof full)
            return simclr_fail(err, "batchnorm: the name '%s' is too long", name);
        sprintf(full, "%s.%s", name, suffixes[i]);
        if (param_store_add(store, prefix, full, roles[i], i == 4 ? 0 : 1, shape, 0, offsets[i],
                            err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

static batchnorm_state bn_layer_state(const bn_layer *bn, param_store *store)
{
    batchnorm_state state;
    state.running_mean = store->buffers + bn->running_mean;
    state.running_var = store->buffers + bn->running_var;
    state.num_batches_tracked = store->counters + bn->counter;
    state.momentum = BATCHNORM_MOMENTUM;
    state.eps = BATCHNORM_EPS;
    return state;
}

void bn_layer_forward(float *y, float *saved_mean, float *saved_inverse_std, const float *x,
                      const bn_layer *bn, const batchnorm_shape *shape, param_store *store,
                      int training)
{
    batchnorm_state state = bn_layer_state(bn, store);
    if (training)
        batchnorm_forward_train(y, saved_mean, saved_inverse_std, x, store->params + bn->weight,
                                store->params + bn->bias, &state, shape);
    else
        batchnorm_forward_eval(y, x, store->params + bn->weight, store->params + bn->bias,
                               &state, shape);
}

void bn_layer_backward(float *dx, const float *dy, const float *x, const float *saved_mean,
                       const float *saved_inverse_std, const bn_layer *bn,
                       const batchnorm_shape *shape, param_store *store)
{
    batchnorm_backward_train(dx, store->grads + bn->weight, store->grads + bn->bias, dy, x,
                             saved_mean, saved_inverse_std, store->params + bn->weight, shape);
}
