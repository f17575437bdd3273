/*
 * eval/golden_margin.c — the smallest distance of a network's ReLU inputs from 0, relative to
 * each layer's scale; see golden_margin.h.
 */
#include "golden_margin.h"

#include <math.h>

#include "../nn/batchnorm.h"
#include "../nn/memory.h"

void golden_margin_init(golden_margin *margin)
{
    margin->minimum = HUGE_VAL;
    margin->inputs = 0;
    margin->layers = 0;
}

/* The batch norm of x at position (b, c, t) of a (B, C, S) tensor, in double: training mode
 * with the saved statistics, evaluation mode with the running ones. */
static double batchnorm_value(const float *x, const bn_layer *bn, const param_store *store,
                              const float *saved_mean, const float *saved_inverse_std,
                              int training, size_t c, size_t at)
{
    double mean, inverse_std;
    if (training) {
        mean = saved_mean[c];
        inverse_std = saved_inverse_std[c];
    } else {
        mean = store->buffers[bn->running_mean + c];
        inverse_std = 1.0 / sqrt((double)store->buffers[bn->running_var + c] + BATCHNORM_EPS);
    }
    return ((double)x[at] - mean) * inverse_std * store->params[bn->weight + c] +
           store->params[bn->bias + c];
}

/* One ReLU layer: x = BN(conv_out) (+ BN(down) or + identity) over (B, C, S). */
typedef struct relu_layer {
    const float *x;                         /* (B, C, S) batch-norm input */
    const bn_layer *bn;
    const float *mean, *inverse_std;        /* (C) saved statistics */
    const float *down_x;                    /* (B, C, S) downsample batch-norm input, or NULL */
    const bn_layer *down_bn;
    const float *down_mean, *down_inverse_std;
    const float *identity;                  /* (B, C, S) added when no downsample, or NULL */
    batchnorm_shape shape;
} relu_layer;

static double relu_input(const relu_layer *l, const param_store *store, int training, size_t c,
                         size_t at)
{
    double x = batchnorm_value(l->x, l->bn, store, l->mean, l->inverse_std, training, c, at);
    if (l->down_x != NULL)
        x += batchnorm_value(l->down_x, l->down_bn, store, l->down_mean, l->down_inverse_std,
                             training, c, at);
    else if (l->identity != NULL)
        x += l->identity[at];
    return x;
}

static void measure(golden_margin *margin, const relu_layer *l, const param_store *store,
                    int training)
{
    const size_t B = l->shape.batch, C = l->shape.channels, S = l->shape.spatial;
    double squares = 0.0, smallest = HUGE_VAL, rms;
    size_t b, c, t;
    for (b = 0; b < B; b++)
        for (c = 0; c < C; c++)
            for (t = 0; t < S; t++) {
                const double x = relu_input(l, store, training, c, (b * C + c) * S + t);
                squares += x * x;
                if (fabs(x) < smallest)
                    smallest = fabs(x);
            }
    rms = sqrt(squares / (double)(B * C * S));
    if (rms > 0.0 && smallest / rms < margin->minimum)
        margin->minimum = smallest / rms;
    if (rms == 0.0) /* every input exactly 0: no margin at all */
        margin->minimum = 0.0;
    margin->inputs += B * C * S;
    margin->layers++;
}

int golden_margin_resnet(golden_margin *margin, resnet_activations *acts, const resnet *net,
                         const param_store *store, int training, simclr_error *err)
{
    relu_layer l = {0};
    float *down = NULL; /* the stem's or a downsample branch's convolution output, made again */
    const int remade = !acts->inference; /* a training layout keeps neither map */
    size_t b, i;
    if (remade) {
        const conv2d_shape *s = &acts->stem_shape;
        size_t largest = s->batch * s->out_channels * s->out_height * s->out_width;
        for (b = 0; b < net->block_count; b++)
            if (net->blocks[b].has_downsample) {
                const conv2d_shape *d = &acts->blocks[b].down_shape;
                const size_t floats = d->batch * d->out_channels * d->out_height * d->out_width;
                largest = floats > largest ? floats : largest;
            }
        if ((down = simclr_calloc(largest, sizeof(float), "golden: a map made again", err)) ==
            NULL)
            return SIMCLR_FAILED;
        conv2d_forward(down, acts->input, store->params + net->conv1.weight, NULL,
                       &acts->stem_shape, acts->workspace);
    }
    l.x = remade ? down : acts->stem_conv_out;
    l.bn = &net->bn1;
    l.mean = acts->stem_mean;
    l.inverse_std = acts->stem_inverse_std;
    l.shape = acts->stem_bn_shape;
    measure(margin, &l, store, training);
    for (b = 0; b < net->block_count; b++) {
        const resnet_block *block = &net->blocks[b];
        const resnet_block_buffers *buffers = &acts->blocks[b];
        for (i = 0; i < block->convs; i++) {
            const int last = i + 1 == block->convs;
            relu_layer k = {0};
            k.x = buffers->conv_out[i];
            k.bn = &block->bn[i];
            k.mean = buffers->mean[i];
            k.inverse_std = buffers->inverse_std[i];
            k.shape = buffers->bn_shape[i];
            if (last && block->has_downsample) {
                if (remade) /* not kept: made again, as the backward pass does */
                    conv2d_forward(down, buffers->input, store->params + block->down_conv.weight,
                                   NULL, &buffers->down_shape, acts->workspace);
                k.down_x = remade ? down : buffers->down_conv_out;
                k.down_bn = &block->down_bn;
                k.down_mean = buffers->down_mean;
                k.down_inverse_std = buffers->down_inverse_std;
            } else if (last) {
                k.identity = buffers->input;
            }
            measure(margin, &k, store, training);
        }
    }
    simclr_free(down);
    return SIMCLR_OK;
}

void golden_margin_head(golden_margin *margin, const head_activations *acts,
                        const projection_head *head, const param_store *store)
{
    size_t i;
    for (i = 0; i + 1 < head->config.num_layers; i++) {
        relu_layer l = {0};
        if (!head->config.batch_norm) { /* ReLU ran in place on the linear output: lost */
            margin->minimum = 0.0;
            return;
        }
        l.x = acts->linear_out[i];
        l.bn = &head->bn[i];
        l.mean = acts->mean[i];
        l.inverse_std = acts->inverse_std[i];
        l.shape = acts->bn_shape[i];
        measure(margin, &l, store, 1);
    }
}
