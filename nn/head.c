/*
 * nn/head.c — the projection head: planning, forward, backward. Definitions: nn/head.h.
 */
#include "head.h"

#include <stdio.h>
#include <string.h>

#include "linear.h"
#include "memory.h"
#include "pointwise.h"
#include "tensor.h"

projection_head_config projection_head_default(size_t in_dim)
{
    projection_head_config config;
    config.in_dim = in_dim;
    config.hidden_dim = in_dim;
    config.out_dim = 128;
    config.num_layers = 2;
    config.batch_norm = 1;
    return config;
}

int projection_head_plan(projection_head *head, const projection_head_config *config,
                         param_store *store, const char *prefix, simclr_error *err)
{
    const size_t L = config->num_layers;
    char name[PARAM_NAME_MAX];
    size_t i;
    memset(head, 0, sizeof *head);
    if (L < 2 || L > HEAD_MAX_LAYERS)
        return simclr_fail(err, "projection head: %lu layers (choose 2 to %d)", (unsigned long)L,
                           HEAD_MAX_LAYERS);
    if (config->in_dim == 0 || config->hidden_dim == 0 || config->out_dim == 0)
        return simclr_fail(err, "projection head: every dimension must be positive");
    head->config = *config;
    for (i = 0; i < L; i++) {
        const size_t in = i == 0 ? config->in_dim : config->hidden_dim;
        const size_t out = i == L - 1 ? config->out_dim : config->hidden_dim;
        const size_t weight_shape[2] = {out, in}, bias_shape[1] = {out};
        const size_t module = config->batch_norm ? 3 * i : 2 * i;
        head->in_features[i] = in;
        head->out_features[i] = out;
        sprintf(name, "layers.%lu.weight", (unsigned long)module);
        if (param_store_add(store, prefix, name, PARAM_LINEAR_WEIGHT, 2, weight_shape, in,
                            &head->weight[i], err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        if (config->batch_norm) {
            sprintf(name, "layers.%lu", (unsigned long)module + 1);
            if (bn_layer_plan(&head->bn[i], store, prefix, name, out, err) != SIMCLR_OK)
                return SIMCLR_FAILED;
        } else {
            sprintf(name, "layers.%lu.bias", (unsigned long)module);
            if (param_store_add(store, prefix, name, PARAM_LINEAR_BIAS, 1, bias_shape, in,
                                &head->bias[i], err) != SIMCLR_OK)
                return SIMCLR_FAILED;
        }
    }
    return SIMCLR_OK;
}

int head_activations_create(head_activations *acts, const projection_head *head, size_t batch,
                            simclr_error *err)
{
    const size_t L = head->config.num_layers;
    size_t total = 0, widest = head->config.in_dim, workspace = 0, floats, i;
    float *cursor;
    memset(acts, 0, sizeof *acts);
    if (batch == 0)
        return simclr_fail(err, "projection head: the batch must be positive");
    acts->batch = batch;
    for (i = 0; i < L; i++) {
        if (head->out_features[i] > widest)
            widest = head->out_features[i];
        if (linear_workspace_floats(batch, head->in_features[i], head->out_features[i], &floats,
                                    err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        if (floats > workspace)
            workspace = floats;
        /* linear_out, bn_out (B, out) and mean, inverse_std (out) */
        total += 2 * batch * head->out_features[i] + 2 * head->out_features[i];
    }
    total += batch * head->config.out_dim + batch * head->config.in_dim + 2 * batch * widest +
             workspace;
    acts->arena = simclr_calloc(total, sizeof(float), "projection head: activations", err);
    if (acts->arena == NULL)
        return SIMCLR_FAILED;
    cursor = acts->arena;
    for (i = 0; i < L; i++) {
        const size_t out = head->out_features[i];
        acts->bn_shape[i].batch = batch;
        acts->bn_shape[i].channels = out;
        acts->bn_shape[i].spatial = 1;
        acts->linear_out[i] = cursor, cursor += batch * out;
        acts->bn_out[i] = cursor, cursor += batch * out;
        acts->mean[i] = cursor, cursor += out;
        acts->inverse_std[i] = cursor, cursor += out;
    }
    acts->output = head->config.batch_norm ? acts->bn_out[L - 1] : acts->linear_out[L - 1];
    acts->grad_output = cursor, cursor += batch * head->config.out_dim;
    acts->grad_input = cursor, cursor += batch * head->config.in_dim;
    acts->grad[0] = cursor, cursor += batch * widest;
    acts->grad[1] = cursor, cursor += batch * widest;
    acts->workspace = cursor;
    return SIMCLR_OK;
}

void head_activations_destroy(head_activations *acts)
{
    simclr_free(acts->arena);
    memset(acts, 0, sizeof *acts);
}

void projection_head_forward(head_activations *acts, const float *h, const projection_head *head,
                             param_store *store, int training)
{
    const size_t L = head->config.num_layers, B = acts->batch;
    const float *in = h;
    size_t i;
    for (i = 0; i < L; i++) {
        const size_t out = head->out_features[i];
        float *result;
        acts->layer_in[i] = in;
        linear_forward(acts->linear_out[i], in, store->params + head->weight[i],
                       head->config.batch_norm ? NULL : store->params + head->bias[i], B,
                       head->in_features[i], out, acts->workspace);
        result = acts->linear_out[i];
        if (head->config.batch_norm) {
            bn_layer_forward(acts->bn_out[i], acts->mean[i], acts->inverse_std[i],
                             acts->linear_out[i], &head->bn[i], &acts->bn_shape[i], store,
                             training);
            result = acts->bn_out[i];
        }
        if (i < L - 1)
            relu_forward(result, result, B * out); /* in place: backward needs only the output */
        in = result;
    }
}

void projection_head_backward(head_activations *acts, const projection_head *head,
                              param_store *store)
{
    const size_t L = head->config.num_layers, B = acts->batch;
    float *grad_out = acts->grad[0], *grad_linear = acts->grad[1];
    size_t i;
    memcpy(grad_out, acts->grad_output, B * head->config.out_dim * sizeof(float));
    for (i = L; i-- > 0;) {
        const size_t out = head->out_features[i];
        float *grad_in;
        const float *result = head->config.batch_norm ? acts->bn_out[i] : acts->linear_out[i];
        if (i < L - 1)
            relu_backward(grad_out, grad_out, result, B * out);
        if (head->config.batch_norm) {
            bn_layer_backward(grad_linear, grad_out, acts->linear_out[i], acts->mean[i],
                              acts->inverse_std[i], &head->bn[i], &acts->bn_shape[i], store);
        } else {
            memcpy(grad_linear, grad_out, B * out * sizeof(float));
        }
        /* ∂L/∂(layer input) goes where grad_out was: it has been consumed */
        grad_in = i == 0 ? acts->grad_input : grad_out;
        linear_backward(grad_in, store->grads + head->weight[i],
                        head->config.batch_norm ? NULL : store->grads + head->bias[i],
                        grad_linear, acts->layer_in[i], store->params + head->weight[i], B,
                        head->in_features[i], out, acts->workspace);
    }
}
