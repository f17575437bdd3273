/*
 * tests/test_resnet.c — the ResNet encoder and the projection head (nn/resnet.h, nn/head.h).
 *
 * Published facts (torchvision 0.14): parameter counts, the state_dict's names and shapes
 * (tests/resnet18_state_dict.txt and resnet50_state_dict.txt were written by torchvision itself:
 * `for k, v in torchvision.models.resnet18().state_dict().items()`), feature and spatial sizes.
 * The wiring: a small network's features against a double-precision forward written here from
 * torchvision's definition, finding every tensor by its torchvision name; and its parameter
 * gradients against central differences of that double forward.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradient_check.h"
#include "reference_layers.h"
#include "test_helpers.h"

static void plan_resnet(resnet *net, param_store *store, resnet_arch arch, resnet_stem stem,
                        double width, size_t in_channels, size_t classes)
{
    resnet_config config = {arch, stem, width, in_channels, classes};
    simclr_error err;
    param_store_init(store);
    cr_assert_eq(resnet_plan(net, &config, store, "", &err), SIMCLR_OK, "%s", err.message);
}

/* torchvision: sum(p.numel() for p in model.parameters()), fc replaced by Identity where
 * "without fc". */
Test(resnet, parameter_counts_equal_torchvision)
{
    resnet net;
    param_store store;
    plan_resnet(&net, &store, RESNET18, STEM_IMAGENET, 1.0, 3, 0);
    cr_expect_eq(param_store_trainable_count(&store), 11176512u);
    cr_expect_eq(net.feature_dim, 512u);
    param_store_destroy(&store);
    plan_resnet(&net, &store, RESNET18, STEM_CIFAR, 1.0, 3, 0);
    cr_expect_eq(param_store_trainable_count(&store), 11168832u);
    param_store_destroy(&store);
    plan_resnet(&net, &store, RESNET34, STEM_IMAGENET, 1.0, 3, 1000);
    cr_expect_eq(param_store_trainable_count(&store), 21797672u);
    param_store_destroy(&store);
    plan_resnet(&net, &store, RESNET50, STEM_IMAGENET, 1.0, 3, 0);
    cr_expect_eq(param_store_trainable_count(&store), 23508032u);
    cr_expect_eq(net.feature_dim, 2048u);
    param_store_destroy(&store);
}

static void check_state_dict(resnet_arch arch, const char *path, size_t expected_entries)
{
    resnet net;
    param_store store;
    char line[256];
    size_t index = 0;
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "cannot open %s", path);
    plan_resnet(&net, &store, arch, STEM_IMAGENET, 1.0, 3, 1000);
    cr_expect_eq(store.count, expected_entries);
    while (fgets(line, sizeof line, file) != NULL) {
        char name[128], shape[64] = "", ours[64] = "";
        const param_entry *entry;
        int d;
        if (line[0] == '#')
            continue;
        cr_assert(sscanf(line, "%127s %63s", name, shape) >= 1);
        cr_assert_lt(index, store.count);
        entry = &store.entries[index++];
        cr_expect_str_eq(entry->name, name, "entry %zu", index - 1);
        for (d = 0; d < entry->ndim; d++)
            sprintf(ours + strlen(ours), d ? "x%zu" : "%zu", entry->shape[d]);
        cr_expect_str_eq(ours, shape, "%s", name);
    }
    cr_expect_eq(index, expected_entries);
    fclose(file);
    param_store_destroy(&store);
}

Test(resnet, resnet18_state_dict_names_and_shapes) { check_state_dict(RESNET18, "tests/resnet18_state_dict.txt", 122); }
Test(resnet, resnet50_state_dict_names_and_shapes) { check_state_dict(RESNET50, "tests/resnet50_state_dict.txt", 320); }

static void check_sizes(resnet_arch arch, resnet_stem stem, size_t side, size_t stem_side,
                        size_t final_side, size_t features)
{
    resnet net;
    param_store store;
    resnet_activations acts;
    simclr_error err;
    plan_resnet(&net, &store, arch, stem, 1.0, 3, 0);
    cr_assert_eq(resnet_activations_create(&acts, &net, 1, side, side, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect_eq(acts.stem_shape.out_height, stem_side);
    cr_expect_eq(acts.final_height, final_side);
    cr_expect_eq(acts.final_width, final_side);
    cr_expect_eq(net.feature_dim, features);
    resnet_activations_destroy(&acts);
    param_store_destroy(&store);
}

/* 224 → conv 112 → pool 56 → 56, 28, 14, 7; 32 with the CIFAR stem → 32, 16, 8, 4. */
Test(resnet, spatial_sizes)
{
    check_sizes(RESNET18, STEM_IMAGENET, 224, 112, 7, 512);
    check_sizes(RESNET18, STEM_CIFAR, 32, 32, 4, 512);
    check_sizes(RESNET50, STEM_IMAGENET, 224, 112, 7, 2048);
    check_sizes(RESNET50, STEM_CIFAR, 32, 32, 4, 2048);
}

Test(resnet, width_and_channels)
{
    resnet net;
    param_store store;
    plan_resnet(&net, &store, RESNET18, STEM_CIFAR, 0.5, 1, 0);
    cr_expect_eq(net.feature_dim, 256u);
    cr_expect_eq(param_store_find(&store, "conv1.weight")->shape[0], 32u);
    cr_expect_eq(param_store_find(&store, "conv1.weight")->shape[1], 1u);
    param_store_destroy(&store);
}

/* ---- the whole network against a double forward written from torchvision's definition ---- */

typedef struct network_context {
    const param_store *store;
    resnet_arch arch;
    resnet_stem stem;
    size_t B, C, H, W;
    double *params; /* the store's params in double, perturbed by the gradient check */
    double *x, *r;  /* input (B, C, H, W) and the loss weights on h (B, features) */
    size_t features;
} network_context;

static const double *named(const network_context *t, const char *name, size_t *count)
{
    const param_entry *entry = param_store_find(t->store, name);
    cr_assert_not_null(entry, "no entry %s", name);
    if (count)
        *count = entry->count;
    return t->params + entry->offset;
}

/* conv (named weight) then training-mode BN (named prefix); returns the new buffer. */
static double *conv_bn(const network_context *t, const double *x, size_t B, size_t C,
                       size_t *H, size_t *W, const char *conv_name, const char *bn_name,
                       size_t O, size_t k, size_t s, size_t p, int relu)
{
    char weight_name[128], bias_name[128];
    const size_t Ho = (*H + 2 * p - k) / s + 1, Wo = (*W + 2 * p - k) / s + 1;
    double *y = malloc(B * O * Ho * Wo * sizeof(double)), *z = malloc(B * O * Ho * Wo * sizeof(double));
    reference_conv2d(y, x, named(t, conv_name, NULL), NULL, B, C, *H, *W, O, k, s, p);
    sprintf(weight_name, "%s.weight", bn_name);
    sprintf(bias_name, "%s.bias", bn_name);
    reference_batchnorm_train(z, y, named(t, weight_name, NULL), named(t, bias_name, NULL), B, O,
                              Ho * Wo, 1e-5);
    if (relu)
        reference_relu(z, z, B * O * Ho * Wo);
    free(y);
    *H = Ho, *W = Wo;
    return z;
}

static double network_loss(void *context)
{
    const network_context *t = context;
    const int blocks[4] = {t->arch == RESNET18 ? 2 : 3, t->arch == RESNET18 ? 2 : 4,
                           t->arch == RESNET18 ? 2 : 6, t->arch == RESNET18 ? 2 : 3};
    size_t H = t->H, W = t->W, channels, weight_count;
    const double *stem_weight = named(t, "conv1.weight", &weight_count);
    double *x, *h, loss;
    int stage, index;
    channels = weight_count / (t->C * (t->stem == STEM_CIFAR ? 9 : 49));
    (void)stem_weight;
    x = t->stem == STEM_CIFAR
            ? conv_bn(t, t->x, t->B, t->C, &H, &W, "conv1.weight", "bn1", channels, 3, 1, 1, 1)
            : conv_bn(t, t->x, t->B, t->C, &H, &W, "conv1.weight", "bn1", channels, 7, 2, 3, 1);
    if (t->stem == STEM_IMAGENET) {
        const size_t Ho = (H + 2 - 3) / 2 + 1, Wo = (W + 2 - 3) / 2 + 1;
        double *pooled = malloc(t->B * channels * Ho * Wo * sizeof(double));
        reference_maxpool(pooled, x, t->B, channels, H, W, 3, 2, 1);
        free(x);
        x = pooled, H = Ho, W = Wo;
    }
    for (stage = 1; stage <= 4; stage++)
        for (index = 0; index < blocks[stage - 1]; index++) {
            char conv[96], bn[96];
            size_t planes, Hb = H, Wb = W, Hd = H, Wd = W, count, i;
            const size_t stride = stage > 1 && index == 0 ? 2 : 1;
            double *a, *b, *identity, *out;
            sprintf(conv, "layer%d.%d.conv1.weight", stage, index);
            planes = (named(t, conv, &count), count) / (channels * (t->arch == RESNET50 ? 1 : 9));
            if (t->arch == RESNET50) { /* 1×1 → 3×3/s → 1×1 (×4) */
                sprintf(bn, "layer%d.%d.bn1", stage, index);
                a = conv_bn(t, x, t->B, channels, &Hb, &Wb, conv, bn, planes, 1, 1, 0, 1);
                sprintf(conv, "layer%d.%d.conv2.weight", stage, index);
                sprintf(bn, "layer%d.%d.bn2", stage, index);
                b = conv_bn(t, a, t->B, planes, &Hb, &Wb, conv, bn, planes, 3, stride, 1, 1);
                free(a);
                sprintf(conv, "layer%d.%d.conv3.weight", stage, index);
                sprintf(bn, "layer%d.%d.bn3", stage, index);
                out = conv_bn(t, b, t->B, planes, &Hb, &Wb, conv, bn, 4 * planes, 1, 1, 0, 0);
                free(b);
                planes *= 4;
            } else { /* 3×3/s → 3×3 */
                sprintf(bn, "layer%d.%d.bn1", stage, index);
                a = conv_bn(t, x, t->B, channels, &Hb, &Wb, conv, bn, planes, 3, stride, 1, 1);
                sprintf(conv, "layer%d.%d.conv2.weight", stage, index);
                sprintf(bn, "layer%d.%d.bn2", stage, index);
                out = conv_bn(t, a, t->B, planes, &Hb, &Wb, conv, bn, planes, 3, 1, 1, 0);
                free(a);
            }
            sprintf(conv, "layer%d.%d.downsample.0.weight", stage, index);
            if (param_store_find(t->store, conv) != NULL) {
                sprintf(bn, "layer%d.%d.downsample.1", stage, index);
                identity = conv_bn(t, x, t->B, channels, &Hd, &Wd, conv, bn, planes, 1, stride, 0, 0);
            } else {
                identity = x;
            }
            for (i = 0; i < t->B * planes * Hb * Wb; i++)
                out[i] = out[i] + identity[i] > 0 ? out[i] + identity[i] : 0.0;
            if (identity != x)
                free(identity);
            free(x);
            x = out, H = Hb, W = Wb, channels = planes;
        }
    h = malloc(t->B * channels * sizeof(double));
    reference_avgpool(h, x, t->B, channels, H * W);
    loss = reference_dot(h, t->r, t->B * channels);
    free(x), free(h);
    return loss;
}

static void check_network(resnet_arch arch, resnet_stem stem, double width, size_t B, size_t C,
                          size_t H, size_t W, float residual_scale, unsigned long tag)
{
    resnet net;
    param_store store;
    resnet_activations acts;
    simclr_error err;
    network_context t;
    float *x = malloc(B * C * H * W * sizeof(float));
    double *features;
    size_t i;
    char what[96];
    plan_resnet(&net, &store, arch, stem, width, C, 0);
    cr_assert_eq(param_store_allocate(&store, &err), SIMCLR_OK);
    param_store_init_torchvision(&store, tag);
    /* Each block's last batchnorm weight scaled (1 keeps torchvision's initialisation). */
    for (i = 0; i < net.block_count; i++) {
        const bn_layer *last = &net.blocks[i].bn[net.blocks[i].convs - 1];
        size_t c;
        for (c = 0; c < last->channels; c++)
            store.params[last->weight + c] *= residual_scale;
    }
    cr_assert_eq(resnet_activations_create(&acts, &net, B, H, W, &err), SIMCLR_OK, "%s",
                 err.message);
    test_fill_uniform(x, B * C * H * W, -1, 1, tag);
    test_fill_uniform(acts.grad_features, B * net.feature_dim, -1, 1, tag + 1);
    sprintf(what, "%s/%s width %g", resnet_arch_name(arch), resnet_stem_name(stem), width);

    resnet_forward(&acts, x, &net, &store, 1);
    resnet_backward(&acts, &net, &store);

    t.store = &store, t.arch = arch, t.stem = stem, t.B = B, t.C = C, t.H = H, t.W = W;
    t.features = net.feature_dim;
    t.params = reference_from_float(store.params, store.param_floats);
    t.x = reference_from_float(x, B * C * H * W);
    t.r = reference_from_float(acts.grad_features, B * net.feature_dim);
    /* forward: Σ r·h from the float features against the double network */
    features = reference_from_float(acts.features, B * net.feature_dim);
    cr_expect(fabs(reference_dot(features, t.r, B * net.feature_dim) - network_loss(&t)) <=
                  1e-4 * fmax(1.0, fabs(network_loss(&t))),
              "%s: forward %.9g vs %.9g", what, reference_dot(features, t.r, B * net.feature_dim), network_loss(&t));
    /* backward: 400 parameters spread over every layer of the flat buffer */
    check_gradient(what, t.params, store.param_floats, store.grads, network_loss, &t, 1e-4, 400);
    for (i = 0; i < 2; i++)
        cr_expect_eq(store.counters[i], 1, "num_batches_tracked after one training forward");
    free(x), free(features), free(t.params), free(t.x), free(t.r);
    resnet_activations_destroy(&acts);
    param_store_destroy(&store);
}

/* A float network of 20 to 50 layers against its double twin: the tolerance is 1e-4 (forward
 * value and gradient, normwise), ten times the per-layer one, because batchnorm over small
 * batches divides by standard deviations of a few values and so amplifies the float rounding of
 * everything before it (the forward value differs by 1.4e-5 relative in the portable build,
 * whose GEMM tile and lack of fused multiply-adds change every rounding).
 * At width 1/16 (4 to 32 channels) a freshly initialised ResNet-50 is so ill-conditioned that
 * gradients grow ~300x from layer4 to the stem and float rounding alone reaches 8% there (the
 * error grows smoothly layer by layer, the signature of conditioning, not of a wiring mistake);
 * scaling each block's last batchnorm weight by 0.2 (torchvision's zero_init_residual, softened)
 * keeps every code path and makes the comparison meaningful. */
Test(resnet, resnet18_cifar_stem_gradients_match_double_network) { check_network(RESNET18, STEM_CIFAR, 0.0625, 3, 2, 8, 8, 1.0f, 700); }
Test(resnet, resnet18_imagenet_stem_gradients_match_double_network) { check_network(RESNET18, STEM_IMAGENET, 0.0625, 2, 3, 33, 31, 1.0f, 710); }
Test(resnet, resnet50_cifar_stem_gradients_match_double_network) { check_network(RESNET50, STEM_CIFAR, 0.0625, 2, 1, 16, 16, 0.2f, 720); }

/* Evaluation mode keeps three shared map slots (resnet_activations_create_inference) instead of
 * every map: the features must be the same bits as with the training activations, every map
 * kept, and the maps (the arena without the convolutions' workspace) no more than the three
 * slots and the downsample branch's scratch, each the largest map, with the batch norms' saved
 * statistics (2 floats a channel) and h (1,277 against 325 MiB peak
 * for ResNet-18 at batch 256). The running statistics are first moved by a training forward. */
static void check_inference_slots(resnet_arch arch, resnet_stem stem, double width, size_t B,
                                  size_t H, unsigned long tag)
{
    resnet net;
    param_store store;
    resnet_activations training, inference;
    simclr_error err;
    size_t statistics = 0, i;
    float *x = malloc(B * 3 * H * H * sizeof(float));
    plan_resnet(&net, &store, arch, stem, width, 3, 0);
    cr_assert_eq(param_store_allocate(&store, &err), SIMCLR_OK);
    param_store_init_torchvision(&store, tag);
    cr_assert_eq(resnet_activations_create(&training, &net, B, H, H, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(resnet_activations_create_inference(&inference, &net, B, H, H, &err), SIMCLR_OK,
                 "%s", err.message);
    test_fill_uniform(x, B * 3 * H * H, -1, 1, tag);
    resnet_forward(&training, x, &net, &store, 1); /* running statistics off their start */
    test_fill_uniform(x, B * 3 * H * H, -1, 1, tag + 1);
    resnet_forward(&training, x, &net, &store, 0);
    resnet_forward(&inference, x, &net, &store, 0);
    cr_expect(memcmp(training.features, inference.features,
                     B * net.feature_dim * sizeof(float)) == 0,
              "%s/%s: evaluation-mode features differ with the shared slots",
              resnet_arch_name(arch), resnet_stem_name(stem));
    for (i = 0; i < store.count; i++)
        statistics += store.entries[i].role == BUFFER_RUNNING_MEAN ? 2 * store.entries[i].count
                                                                   : 0;
    cr_expect_leq(inference.arena_floats - inference.workspace_floats,
                  (RESNET_SLOTS + 1) * inference.grad_floats + statistics + B * net.feature_dim,
                  "maps: %lu floats, the largest map %lu, the statistics %lu",
                  (unsigned long)(inference.arena_floats - inference.workspace_floats),
                  (unsigned long)inference.grad_floats, (unsigned long)statistics);
    free(x);
    resnet_activations_destroy(&training), resnet_activations_destroy(&inference);
    param_store_destroy(&store);
}

/* Training keeps every block's convolution outputs and its output (with the CIFAR stem, the
 * stem's output too; with the ImageNet stem, the max-pool's), but no other map: a block's
 * three gradient buffers lie in the maps of the blocks after it, so beyond the maps, the saved
 * statistics, h, ∂L/∂h and the workspace the arena holds only the last block's three buffers
 * (three of its largest maps), or what the stem's three maps (its convolution output made
 * again, ∂L/∂ of it and of its ReLU's output) need beyond the blocks' maps, and 16 floats of
 * alignment a slice. The gradient checks above show that no buffer overlaps a map still
 * needed; this shows the maps are shared. */
static size_t shape_floats(const batchnorm_shape *shape, size_t B)
{
    return B * shape->channels * shape->spatial;
}

static void check_training_arena(resnet_arch arch, resnet_stem stem, double width, size_t B,
                                 size_t H)
{
    resnet net;
    param_store store;
    resnet_activations acts;
    simclr_error err;
    size_t maps, stem_maps, statistics = 0, last_largest = 0, slices = 8, beyond, b, i;
    plan_resnet(&net, &store, arch, stem, width, 3, 0);
    cr_assert_eq(resnet_activations_create(&acts, &net, B, H, H, &err), SIMCLR_OK, "%s",
                 err.message);
    stem_maps = 2 * B * net.feature_dim +
                B * acts.stem_bn_shape.channels *
                    (stem == STEM_CIFAR ? acts.stem_bn_shape.spatial
                                        : acts.pool.out_height * acts.pool.out_width);
    maps = stem_maps;
    for (b = 0; b < net.block_count; b++) {
        const resnet_block_buffers *buffers = &acts.blocks[b];
        const size_t convs = net.blocks[b].convs;
        for (i = 0; i < convs; i++) {
            const size_t floats = B * buffers->bn_shape[i].channels * buffers->bn_shape[i].spatial;
            maps += floats + (i + 1 == convs ? floats : 0); /* the last: the block's output */
            if (b + 1 == net.block_count && floats > last_largest)
                last_largest = floats;
        }
        slices += 4 * convs + 2;
    }
    for (i = 0; i < store.count; i++)
        statistics += store.entries[i].role == BUFFER_RUNNING_MEAN ? 2 * store.entries[i].count
                                                                   : 0;
    beyond = 3 * last_largest;
    if (3 * shape_floats(&acts.stem_bn_shape, B) > maps - stem_maps + beyond)
        beyond = 3 * shape_floats(&acts.stem_bn_shape, B) - (maps - stem_maps);
    cr_expect_leq(acts.arena_floats - acts.workspace_floats,
                  maps + statistics + beyond + 16 * slices,
                  "%s/%s: arena %lu floats without the workspace; maps %lu, statistics %lu, the "
                  "last block's largest map %lu, the largest map %lu",
                  resnet_arch_name(arch), resnet_stem_name(stem),
                  (unsigned long)(acts.arena_floats - acts.workspace_floats),
                  (unsigned long)maps, (unsigned long)statistics, (unsigned long)last_largest,
                  (unsigned long)acts.grad_floats);
    resnet_activations_destroy(&acts);
    param_store_destroy(&store);
}

Test(resnet, training_keeps_the_maps_and_the_last_blocks_three_buffers)
{
    check_training_arena(RESNET18, STEM_CIFAR, 0.25, 3, 16);
    check_training_arena(RESNET18, STEM_IMAGENET, 0.25, 2, 40);
    check_training_arena(RESNET50, STEM_IMAGENET, 0.25, 2, 36);
    check_training_arena(RESNET18, STEM_CIFAR, 1.0, 4, 32); /* one-chunk F(4×4) layers */
}

Test(resnet, inference_slots_give_the_same_features)
{
    check_inference_slots(RESNET18, STEM_CIFAR, 0.25, 3, 16, 730);   /* Winograd and im2col */
    check_inference_slots(RESNET18, STEM_IMAGENET, 0.25, 2, 40, 731);
    check_inference_slots(RESNET50, STEM_IMAGENET, 0.25, 2, 36, 732); /* bottlenecks */
}

/* The convolutions' operation count that the benchmarks' effective rates divide by, against
 * torchvision's published figures (the model table of torchvision.models: ResNet-18 1.81 and
 * ResNet-50 4.09 "GFLOPS", which count multiply-adds, at 224×224; ours leave out fc's 0.5 and
 * 2 M). The backward pass is twice the forward but for the stem's input gradient. */
Test(resnet, convolution_flops_match_torchvision)
{
    const resnet_arch archs[2] = {RESNET18, RESNET50};
    const double published[2] = {1.81e9, 4.09e9};
    size_t a;
    for (a = 0; a < 2; a++) {
        resnet net;
        param_store store;
        resnet_activations acts;
        simclr_error err;
        double forward, both;
        plan_resnet(&net, &store, archs[a], STEM_IMAGENET, 1.0, 3, 0);
        cr_assert_eq(resnet_activations_create_inference(&acts, &net, 2, 224, 224, &err),
                     SIMCLR_OK, "%s", err.message);
        forward = resnet_convolution_flops(&acts, &net, 0);
        both = resnet_convolution_flops(&acts, &net, 1);
        cr_expect(fabs(forward / 4.0 - published[a]) <= 0.005 * published[a],
                  "%s: %.4g multiply-adds an image, published %.3g", resnet_arch_name(archs[a]),
                  forward / 4.0, published[a]);
        /* the stem: 3→64 channels, 7×7, 112×112 outputs, for 2 images */
        cr_expect_float_eq(both, 3.0 * forward - 2.0 * 2.0 * 64 * 3 * 49 * 112 * 112, 1e-12);
        resnet_activations_destroy(&acts);
        param_store_destroy(&store);
    }
}
