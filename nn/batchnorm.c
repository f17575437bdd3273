/*
 * nn/batchnorm.c — batch normalisation, training and evaluation mode, forward and backward.
 * Formulas and conventions: nn/batchnorm.h.
 */
#include "batchnorm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "parallel.h"
#include "ranks.h"

/* The two per-channel sums of both passes, over the B segments of S values of channel c:
 *   forward  (x_for_hat NULL):  first = Σ v,   second = Σ v²             (v = values[·])
 *   backward:                   first = Σ dy,  second = Σ dy·x̂,  x̂ = (x − mean)·inverse_std
 * in double, in BATCHNORM_LANES interleaved lanes (a value goes to lane t mod LANES of its
 * segment) added together in lane order at the end. The order is fixed by the shape alone, so
 * the bits do not depend on threads; the independent lanes let compilers vectorise the loop
 * without reassociating anything (one running sum would be a chain of dependent additions),
 * and 32 of them are four vectors of AVX-512 doubles, four additions in flight at once. */
#define BATCHNORM_LANES 32

static void channel_sums(double *first, double *second,
                         const float *values,    /* (B, C, S) */
                         const float *x_for_hat, /* (B, C, S) or NULL */
                         float mean, float inverse_std, size_t B, size_t C, size_t S, size_t c)
{
    double lane_first[BATCHNORM_LANES] = {0}, lane_second[BATCHNORM_LANES] = {0};
    const size_t whole = S - S % BATCHNORM_LANES; /* the segment's values in whole rows of lanes */
    size_t b, t, l;
    for (b = 0; b < B; b++) {
        const float *v = values + (b * C + c) * S;
        const float *xs = x_for_hat != NULL ? x_for_hat + (b * C + c) * S : NULL;
        if (xs == NULL) {
            for (t = 0; t < whole; t += BATCHNORM_LANES)
                for (l = 0; l < BATCHNORM_LANES; l++) {
                    const double value = v[t + l];
                    lane_first[l] += value;
                    lane_second[l] += value * value;
                }
            for (l = 0; l < S - whole; l++) {
                const double value = v[whole + l];
                lane_first[l] += value;
                lane_second[l] += value * value;
            }
        } else {
            for (t = 0; t < whole; t += BATCHNORM_LANES)
                for (l = 0; l < BATCHNORM_LANES; l++) {
                    const float x_hat = (xs[t + l] - mean) * inverse_std;
                    lane_first[l] += v[t + l];
                    lane_second[l] += (double)v[t + l] * x_hat;
                }
            for (l = 0; l < S - whole; l++) {
                const float x_hat = (xs[whole + l] - mean) * inverse_std;
                lane_first[l] += v[whole + l];
                lane_second[l] += (double)v[whole + l] * x_hat;
            }
        }
    }
    *first = 0.0, *second = 0.0;
    for (l = 0; l < BATCHNORM_LANES; l++) {
        *first += lane_first[l];
        *second += lane_second[l];
    }
}

/* The two sums of channel c over the batch: over the whole batch at once (shards 0 or 1), or
 * per shard of B/shards rows, the shards' sums added by the pairwise tree (nn/ranks.h). */
static void batch_sums(double *first, double *second, /* one each */
                       const float *values,                /* (B, C, S) */
                       const float *x_for_hat,             /* (B, C, S) or NULL */
                       float mean, float inverse_std, const batchnorm_shape *shape, size_t c)
{
    const size_t B = shape->batch, C = shape->channels, S = shape->spatial;
    const size_t shards = shape->shards > 1 ? shape->shards : 1, rows = B / shards;
    double level_first[64], level_second[64]; /* a stack of log2(shards) + 1 levels */
    size_t k, level, l;
    if (shards == 1) {
        channel_sums(first, second, values, x_for_hat, mean, inverse_std, B, C, S, c);
        return;
    }
    for (k = 0; k < shards; k++) {
        const size_t at = k * rows * C * S;
        level = pairwise_level(k);
        channel_sums(&level_first[level], &level_second[level], values + at,
                     x_for_hat != NULL ? x_for_hat + at : NULL, mean, inverse_std, rows, C, S,
                     c);
        for (l = 0; l < level; l++) {
            level_first[level] += level_first[l];
            level_second[level] += level_second[l];
        }
    }
    level = pairwise_depth(shards);
    *first = level_first[level];
    *second = level_second[level];
}

/* The values a training-mode pass normalises over: n = B·S, times the ranks. */
static size_t batch_count(const batchnorm_shape *shape)
{
    const size_t ranks = ranks_exchange(shape->ranks) ? (size_t)shape->ranks->size : 1;
    return shape->batch * shape->spatial * ranks;
}

/* What a ResNet does right after a batch norm, done in the same pass over the channel
 * (bn_layer_forward_relu): y = ReLU(BN(x) + residual), the residual optional. */
typedef struct batchnorm_then {
    const float *residual; /* (B, C, S) or NULL */
    int relu;
} batchnorm_then;

/* y = x·scale + (bias − mean·scale) over channel c, then `then`'s residual and ReLU: each
 * rounded as the separate passes round it (add_forward, relu_forward: the same bits). Also the
 * training forward's output from the statistics it saves (batchnorm_forward_saved). */
static void apply_channel(float *y, const float *x, /* (B, C, S) each */
                          float scale, float mean, float bias, const batchnorm_shape *shape,
                          size_t c, const batchnorm_then *then)
{
    const size_t B = shape->batch, C = shape->channels, S = shape->spatial;
    const float shift = bias - mean * scale;
    size_t b, t;
    for (b = 0; b < B; b++) {
        const float *in = x + (b * C + c) * S;
        float *out = y + (b * C + c) * S;
        if (then == NULL || (!then->relu && then->residual == NULL)) {
            for (t = 0; t < S; t++)
                out[t] = in[t] * scale + shift;
        } else if (then->residual == NULL) {
            for (t = 0; t < S; t++) {
                const float v = in[t] * scale + shift;
                out[t] = v > 0.0f ? v : 0.0f;
            }
        } else {
            const float *residual = then->residual + (b * C + c) * S;
            for (t = 0; t < S; t++) {
                const float v = in[t] * scale + shift;
                const float w = v + residual[t];
                out[t] = !then->relu || w > 0.0f ? w : 0.0f;
            }
        }
    }
}

static void forward_channel(float *y,                 /* (B, C, S) */
                            float *saved_mean,        /* (C) */
                            float *saved_inverse_std, /* (C) */
                            const float *x,           /* (B, C, S) */
                            const float *weight, const float *bias, /* (C) each */
                            batchnorm_state *state, const batchnorm_shape *shape, size_t c,
                            double sum, double sum_squares, const batchnorm_then *then)
{
    const size_t n = batch_count(shape);
    /* one pass for Σx and Σx² in double: var = Σx²/n − mean², exact enough in double for
     * float inputs unless |mean| exceeds the standard deviation by ~10⁶ */
    double mean, variance;
    float inverse_std;
    mean = sum / (double)n;
    variance = sum_squares / (double)n - mean * mean;
    if (variance < 0.0)
        variance = 0.0;
    inverse_std = (float)(1.0 / sqrt(variance + state->eps));
    saved_mean[c] = (float)mean;
    saved_inverse_std[c] = inverse_std;
    apply_channel(y, x, weight[c] * inverse_std, saved_mean[c], bias[c], shape, c, then);
    state->running_mean[c] = (1.0f - state->momentum) * state->running_mean[c] +
                             state->momentum * (float)mean;
    state->running_var[c] =
        (1.0f - state->momentum) * state->running_var[c] +
        state->momentum * (float)(n > 1 ? variance * (double)n / (double)(n - 1) : variance);
}

static void forward_train(float *y, float *saved_mean, float *saved_inverse_std,
                          const float *x, const float *weight, const float *bias,
                          batchnorm_state *state, const batchnorm_shape *shape,
                          const batchnorm_then *then)
{
    const size_t C = shape->channels;
    size_t c;
    if (!ranks_exchange(shape->ranks)) {
        PARALLEL_FOR()
        for (c = 0; c < C; c++) {
            double sum, sum_squares;
            batch_sums(&sum, &sum_squares, x, NULL, 0.0f, 0.0f, shape, c);
            forward_channel(y, saved_mean, saved_inverse_std, x, weight, bias, state, shape, c,
                            sum, sum_squares, then);
        }
    } else { /* this rank's sums, every rank's added, then the same normalisation */
        double *sums = shape->ranks->scratch; /* (C, 2) */
        PARALLEL_FOR()
        for (c = 0; c < C; c++)
            batch_sums(&sums[2 * c], &sums[2 * c + 1], x, NULL, 0.0f, 0.0f, shape, c);
        shape->ranks->sum_doubles(shape->ranks, sums, 2 * C);
        PARALLEL_FOR()
        for (c = 0; c < C; c++)
            forward_channel(y, saved_mean, saved_inverse_std, x, weight, bias, state, shape, c,
                            sums[2 * c], sums[2 * c + 1], then);
    }
    *state->num_batches_tracked += 1;
}

void batchnorm_forward_train(float *y, float *saved_mean, float *saved_inverse_std,
                             const float *x, const float *weight, const float *bias,
                             batchnorm_state *state, const batchnorm_shape *shape)
{
    forward_train(y, saved_mean, saved_inverse_std, x, weight, bias, state, shape, NULL);
}

void batchnorm_forward_saved(float *y, const float *x, const float *saved_mean,
                             const float *saved_inverse_std, const float *weight,
                             const float *bias, const batchnorm_shape *shape, int relu)
{
    const batchnorm_then then = {NULL, relu};
    size_t c;
    PARALLEL_FOR()
    for (c = 0; c < shape->channels; c++)
        apply_channel(y, x, weight[c] * saved_inverse_std[c], saved_mean[c], bias[c], shape, c,
                      &then);
}

static void backward_channel(float *dx,                      /* (B, C, S) */
                             float *dweight, float *dbias,   /* (C) each, accumulated */
                             const float *dy, const float *x, /* (B, C, S) each */
                             const float *saved_mean, const float *saved_inverse_std, /* (C) */
                             const float *weight,            /* (C) */
                             const batchnorm_shape *shape, size_t c, double sum_dy,
                             double sum_dy_xhat)
{
    const size_t B = shape->batch, C = shape->channels, S = shape->spatial;
    const size_t n = batch_count(shape);
    const float mean = saved_mean[c], inverse_std = saved_inverse_std[c];
    float mean_dy, mean_dy_xhat, scale;
    size_t b, t;
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

void batchnorm_backward_train(float *dx, float *dweight, float *dbias, const float *dy,
                              const float *x, const float *saved_mean,
                              const float *saved_inverse_std, const float *weight,
                              const batchnorm_shape *shape)
{
    const size_t C = shape->channels;
    size_t c;
    if (!ranks_exchange(shape->ranks)) {
        PARALLEL_FOR()
        for (c = 0; c < C; c++) {
            double sum_dy, sum_dy_xhat;
            batch_sums(&sum_dy, &sum_dy_xhat, dy, x, saved_mean[c], saved_inverse_std[c], shape,
                       c);
            backward_channel(dx, dweight, dbias, dy, x, saved_mean, saved_inverse_std, weight,
                             shape, c, sum_dy, sum_dy_xhat);
        }
    } else { /* dx may alias dy: every sum is taken before any dx is written */
        double *sums = shape->ranks->scratch; /* (C, 2) */
        PARALLEL_FOR()
        for (c = 0; c < C; c++)
            batch_sums(&sums[2 * c], &sums[2 * c + 1], dy, x, saved_mean[c],
                       saved_inverse_std[c], shape, c);
        shape->ranks->sum_doubles(shape->ranks, sums, 2 * C);
        PARALLEL_FOR()
        for (c = 0; c < C; c++)
            backward_channel(dx, dweight, dbias, dy, x, saved_mean, saved_inverse_std, weight,
                             shape, c, sums[2 * c], sums[2 * c + 1]);
    }
}

static void forward_eval(float *y, const float *x, const float *weight, const float *bias,
                         const batchnorm_state *state, const batchnorm_shape *shape,
                         const batchnorm_then *then)
{
    size_t c;
    PARALLEL_FOR()
    for (c = 0; c < shape->channels; c++) {
        const float inverse_std = (float)(1.0 / sqrt((double)state->running_var[c] + state->eps));
        apply_channel(y, x, weight[c] * inverse_std, state->running_mean[c], bias[c], shape, c,
                      then);
    }
}

void batchnorm_forward_eval(float *y, const float *x, const float *weight, const float *bias,
                            const batchnorm_state *state, const batchnorm_shape *shape)
{
    forward_eval(y, x, weight, bias, state, shape, NULL);
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

void bn_layer_forward_relu(float *y, float *saved_mean, float *saved_inverse_std,
                           const float *x, const float *residual, const bn_layer *bn,
                           const batchnorm_shape *shape, param_store *store, int training)
{
    batchnorm_state state = bn_layer_state(bn, store);
    const batchnorm_then then = {residual, 1};
    if (training)
        forward_train(y, saved_mean, saved_inverse_std, x, store->params + bn->weight,
                      store->params + bn->bias, &state, shape, &then);
    else
        forward_eval(y, x, store->params + bn->weight, store->params + bn->bias, &state, shape,
                     &then);
}

void bn_layer_forward_saved(float *y, const float *saved_mean, const float *saved_inverse_std,
                            const float *x, const bn_layer *bn, const batchnorm_shape *shape,
                            const param_store *store, int relu)
{
    batchnorm_forward_saved(y, x, saved_mean, saved_inverse_std, store->params + bn->weight,
                            store->params + bn->bias, shape, relu);
}

void bn_layer_backward(float *dx, const float *dy, const float *x, const float *saved_mean,
                       const float *saved_inverse_std, const bn_layer *bn,
                       const batchnorm_shape *shape, param_store *store)
{
    batchnorm_backward_train(dx, store->grads + bn->weight, store->grads + bn->bias, dy, x,
                             saved_mean, saved_inverse_std, store->params + bn->weight, shape);
}
