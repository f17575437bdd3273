/*
 * nn/classifier.c — fc on h, optionally after the projection head's first layer; see
 * classifier.h.
 */
#include "classifier.h"

#include <string.h>

#include "linear.h"
#include "memory.h"
#include "pointwise.h"
#include "size_arithmetic.h"

int classifier_plan(classifier *c, size_t in_dim, size_t hidden, size_t classes,
                    param_store *store, simclr_error *err)
{
    const size_t fc_in = hidden > 0 ? hidden : in_dim;
    const size_t hidden_shape[2] = {hidden, in_dim}, weight_shape[2] = {classes, fc_in};
    const size_t bias_shape[1] = {classes};
    memset(c, 0, sizeof *c);
    c->in_dim = in_dim, c->hidden = hidden, c->classes = classes;
    if (in_dim == 0 || classes == 0)
        return simclr_fail(err, "classifier: %lu features into %lu classes",
                           (unsigned long)in_dim, (unsigned long)classes);
    if (hidden > 0 &&
        (param_store_add(store, "projection_head.", "layers.0.weight", PARAM_LINEAR_WEIGHT, 2,
                         hidden_shape, in_dim, &c->hidden_weight, err) != SIMCLR_OK ||
         bn_layer_plan(&c->hidden_bn, store, "projection_head.", "layers.1", hidden, err) !=
             SIMCLR_OK))
        return SIMCLR_FAILED;
    if (param_store_add(store, "", "fc.weight", PARAM_LINEAR_WEIGHT, 2, weight_shape, fc_in,
                        &c->weight, err) != SIMCLR_OK ||
        param_store_add(store, "", "fc.bias", PARAM_LINEAR_BIAS, 1, bias_shape, fc_in, &c->bias,
                        err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    return SIMCLR_OK;
}

int classifier_activations_create(classifier_activations *acts, const classifier *c,
                                  size_t batch, simclr_error *err)
{
    const size_t B = batch, H = c->hidden, K = c->classes;
    size_t workspace, hidden_workspace = 0, floats = 0, terms[4], i;
    float *cursor;
    memset(acts, 0, sizeof *acts);
    acts->batch = B;
    if (linear_workspace_floats(B, H > 0 ? H : c->in_dim, K, &workspace, err) != SIMCLR_OK ||
        (H > 0 && linear_workspace_floats(B, c->in_dim, H, &hidden_workspace, err) != SIMCLR_OK) ||
        size_multiply_checked(B, H, &terms[0]) != SIMCLR_OK ||
        size_multiply_checked(terms[0], 4, &terms[0]) != SIMCLR_OK || /* linear_out, hidden_out,
                                                                         and their gradients */
        size_multiply_checked(B, K, &terms[1]) != SIMCLR_OK ||
        size_multiply_checked(terms[1], 2, &terms[1]) != SIMCLR_OK || /* scores, gradient */
        size_multiply_checked(H, 2, &terms[2]) != SIMCLR_OK)          /* mean, inverse std */
        return simclr_fail(err, "classifier: activations for %lu rows overflow",
                           (unsigned long)B);
    terms[3] = workspace > hidden_workspace ? workspace : hidden_workspace;
    for (i = 0; i < 4; i++)
        if (size_add_checked(floats, terms[i], &floats) != SIMCLR_OK)
            return simclr_fail(err, "classifier: activations overflow");
    acts->arena = simclr_calloc(floats + 1, sizeof(float), "classifier: activations", err);
    if (acts->arena == NULL)
        return SIMCLR_FAILED;
    cursor = acts->arena;
    acts->linear_out = cursor, cursor += B * H;
    acts->hidden_out = cursor, cursor += B * H;
    acts->grad_hidden = cursor, cursor += B * H;
    acts->grad_linear = cursor, cursor += B * H;
    acts->scores = cursor, cursor += B * K;
    acts->grad_scores = cursor, cursor += B * K;
    acts->mean = cursor, cursor += H;
    acts->inverse_std = cursor, cursor += H;
    acts->workspace = cursor;
    return SIMCLR_OK;
}

void classifier_activations_destroy(classifier_activations *acts)
{
    simclr_free(acts->arena);
    memset(acts, 0, sizeof *acts);
}

void classifier_forward(classifier_activations *acts, const float *h, size_t batch,
                        const classifier *c, param_store *store, int training)
{
    const float *in = h;
    acts->input = h;
    if (c->hidden > 0) { /* u = ReLU(BN1d(h·W0ᵀ)) */
        acts->bn_shape.batch = batch, acts->bn_shape.channels = c->hidden;
        acts->bn_shape.spatial = 1;
        linear_forward(acts->linear_out, h, store->params + c->hidden_weight, NULL, batch,
                       c->in_dim, c->hidden, acts->workspace);
        bn_layer_forward(acts->hidden_out, acts->mean, acts->inverse_std, acts->linear_out,
                         &c->hidden_bn, &acts->bn_shape, store, training);
        relu_forward(acts->hidden_out, acts->hidden_out, batch * c->hidden);
        in = acts->hidden_out;
    }
    linear_forward(acts->scores, in, store->params + c->weight, store->params + c->bias, batch,
                   c->hidden > 0 ? c->hidden : c->in_dim, c->classes, acts->workspace);
}

void classifier_backward(float *grad_h, classifier_activations *acts, const classifier *c,
                         param_store *store)
{
    const size_t B = acts->batch;
    if (c->hidden == 0) {
        linear_backward(grad_h, store->grads + c->weight, store->grads + c->bias,
                        acts->grad_scores, acts->input, store->params + c->weight, B, c->in_dim,
                        c->classes, acts->workspace);
        return;
    }
    linear_backward(acts->grad_hidden, store->grads + c->weight, store->grads + c->bias,
                    acts->grad_scores, acts->hidden_out, store->params + c->weight, B, c->hidden,
                    c->classes, acts->workspace);
    relu_backward(acts->grad_hidden, acts->grad_hidden, acts->hidden_out, B * c->hidden);
    bn_layer_backward(acts->grad_linear, acts->grad_hidden, acts->linear_out, acts->mean,
                      acts->inverse_std, &c->hidden_bn, &acts->bn_shape, store);
    linear_backward(grad_h, store->grads + c->hidden_weight, NULL, acts->grad_linear,
                    acts->input, store->params + c->hidden_weight, B, c->in_dim, c->hidden,
                    acts->workspace);
}
