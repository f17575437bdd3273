/*
 * nn/resnet.c — ResNet-18/34/50 in torchvision's layout: planning the state, planning the
 * activations, forward and backward. The architecture and conventions: nn/resnet.h.
 */
#include "resnet.h"

#include <stdio.h>
#include <string.h>

#include "linear.h"
#include "memory.h"
#include "pointwise.h"
#include "tensor.h"

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                      */
/* ------------------------------------------------------------------------------------------ */

int resnet_arch_parse(const char *name, resnet_arch *arch, simclr_error *err)
{
    if (strcmp(name, "resnet18") == 0)
        *arch = RESNET18;
    else if (strcmp(name, "resnet34") == 0)
        *arch = RESNET34;
    else if (strcmp(name, "resnet50") == 0)
        *arch = RESNET50;
    else
        return simclr_fail(err, "unknown architecture '%s' (choose resnet18, resnet34 or resnet50)",
                           name);
    return SIMCLR_OK;
}

int resnet_stem_parse(const char *name, resnet_stem *stem, simclr_error *err)
{
    if (strcmp(name, "imagenet") == 0)
        *stem = STEM_IMAGENET;
    else if (strcmp(name, "cifar") == 0)
        *stem = STEM_CIFAR;
    else
        return simclr_fail(err, "unknown stem '%s' (choose imagenet or cifar)", name);
    return SIMCLR_OK;
}

const char *resnet_arch_name(resnet_arch arch)
{
    return arch == RESNET18 ? "resnet18" : arch == RESNET34 ? "resnet34" : "resnet50";
}

const char *resnet_stem_name(resnet_stem stem)
{
    return stem == STEM_CIFAR ? "cifar" : "imagenet";
}

/* ------------------------------------------------------------------------------------------ */
/* Planning the state                                                                         */
/* ------------------------------------------------------------------------------------------ */

static int plan_conv(conv_layer *conv, param_store *store, const char *prefix, const char *name,
                     size_t in_channels, size_t out_channels, size_t kernel, size_t stride,
                     size_t padding, simclr_error *err)
{
    const size_t shape[4] = {out_channels, in_channels, kernel, kernel};
    conv->in_channels = in_channels;
    conv->out_channels = out_channels;
    conv->kernel = kernel;
    conv->stride = stride;
    conv->padding = padding;
    return param_store_add(store, prefix, name, PARAM_CONV_WEIGHT, 4, shape, 0, &conv->weight,
                           err);
}

static size_t scaled_channels(size_t base, double width)
{
    const double scaled = (double)base * width + 0.5;
    return scaled < 1.0 ? 1 : (size_t)scaled;
}

static int plan_block(resnet_block *block, param_store *store, const char *prefix, int stage,
                      int index, size_t in_channels, size_t planes, size_t stride, int bottleneck,
                      simclr_error *err)
{
    char name[PARAM_NAME_MAX];
    const size_t expansion = bottleneck ? 4 : 1;
    const size_t out_channels = planes * expansion;
    size_t i;
    memset(block, 0, sizeof *block);
    block->convs = bottleneck ? 3 : 2;
    block->in_channels = in_channels;
    block->out_channels = out_channels;
    block->stride = stride;
    for (i = 0; i < block->convs; i++) {
        size_t conv_in, conv_out, kernel, conv_stride;
        if (bottleneck) { /* 1×1 (in → planes), 3×3/s (planes → planes), 1×1 (planes → 4·planes) */
            conv_in = i == 0 ? in_channels : planes;
            conv_out = i == 2 ? out_channels : planes;
            kernel = i == 1 ? 3 : 1;
            conv_stride = i == 1 ? stride : 1;
        } else { /* 3×3/s (in → planes), 3×3 (planes → planes) */
            conv_in = i == 0 ? in_channels : planes;
            conv_out = planes;
            kernel = 3;
            conv_stride = i == 0 ? stride : 1;
        }
        sprintf(name, "layer%d.%d.conv%d.weight", stage, index, (int)i + 1);
        if (plan_conv(&block->conv[i], store, prefix, name, conv_in, conv_out, kernel, conv_stride,
                      kernel / 2, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        sprintf(name, "layer%d.%d.bn%d", stage, index, (int)i + 1);
        if (bn_layer_plan(&block->bn[i], store, prefix, name, conv_out, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    if (stride != 1 || in_channels != out_channels) {
        block->has_downsample = 1;
        sprintf(name, "layer%d.%d.downsample.0.weight", stage, index);
        if (plan_conv(&block->down_conv, store, prefix, name, in_channels, out_channels, 1, stride,
                      0, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        sprintf(name, "layer%d.%d.downsample.1", stage, index);
        if (bn_layer_plan(&block->down_bn, store, prefix, name, out_channels, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int resnet_plan(resnet *net, const resnet_config *config, param_store *store, const char *prefix,
                simclr_error *err)
{
    static const int blocks_18[4] = {2, 2, 2, 2}, blocks_34_50[4] = {3, 4, 6, 3};
    const int *blocks = config->arch == RESNET18 ? blocks_18 : blocks_34_50;
    const int bottleneck = config->arch == RESNET50;
    const size_t stem_channels = scaled_channels(64, config->width);
    size_t channels = stem_channels;
    int stage, index;

    memset(net, 0, sizeof *net);
    if (config->arch != RESNET18 && config->arch != RESNET34 && config->arch != RESNET50)
        return simclr_fail(err, "resnet: unknown architecture %d", (int)config->arch);
    if (!(config->width > 0.0) || config->width > 64.0)
        return simclr_fail(err, "resnet: width multiplier %g is outside (0, 64]", config->width);
    if (config->in_channels == 0)
        return simclr_fail(err, "resnet: the input needs at least one channel");
    net->config = *config;

    if (config->stem == STEM_CIFAR) {
        if (plan_conv(&net->conv1, store, prefix, "conv1.weight", config->in_channels,
                      stem_channels, 3, 1, 1, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    } else if (plan_conv(&net->conv1, store, prefix, "conv1.weight", config->in_channels,
                         stem_channels, 7, 2, 3, err) != SIMCLR_OK) {
        return SIMCLR_FAILED;
    }
    if (bn_layer_plan(&net->bn1, store, prefix, "bn1", stem_channels, err) != SIMCLR_OK)
        return SIMCLR_FAILED;

    for (stage = 0; stage < 4; stage++) {
        const size_t planes = scaled_channels((size_t)64 << stage, config->width);
        for (index = 0; index < blocks[stage]; index++) {
            resnet_block *block = &net->blocks[net->block_count];
            const size_t stride = stage > 0 && index == 0 ? 2 : 1;
            if (plan_block(block, store, prefix, stage + 1, index, channels, planes, stride,
                           bottleneck, err) != SIMCLR_OK)
                return SIMCLR_FAILED;
            channels = block->out_channels;
            net->block_count++;
        }
    }
    net->feature_dim = channels;

    if (config->num_classes > 0) {
        const size_t weight_shape[2] = {config->num_classes, channels};
        const size_t bias_shape[1] = {config->num_classes};
        if (param_store_add(store, prefix, "fc.weight", PARAM_LINEAR_WEIGHT, 2, weight_shape,
                            channels, &net->fc_weight, err) != SIMCLR_OK ||
            param_store_add(store, prefix, "fc.bias", PARAM_LINEAR_BIAS, 1, bias_shape, channels,
                            &net->fc_bias, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Planning the activations                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* The arena is laid out twice with the same code: once to count (arena == NULL), once to hand
 * out pointers. take() returns the next `count` floats, or NULL while counting. */
typedef struct arena_cursor {
    float *base;
    size_t used;
    int overflow;
} arena_cursor;

static void track_max(size_t *maximum, size_t value)
{
    if (value > *maximum)
        *maximum = value;
}

/* A half-open interval [at, end) of arena floats. */
typedef struct arena_interval {
    size_t at, end;
} arena_interval;

/* The interval of `count` floats at `at`, rounded up as take() rounds them. */
static arena_interval interval_at(arena_cursor *cursor, size_t at, size_t count)
{
    arena_interval interval;
    interval.at = at;
    if (count > (size_t)-1 - 15 ||
        size_add_checked(at, (count + 15) / 16 * 16, &interval.end) != SIMCLR_OK) {
        cursor->overflow = 1;
        interval.end = at;
    }
    return interval;
}

/* The next `count` floats, or NULL while counting; every slice starts on a 64-byte boundary
 * (16 floats), as the arena itself. */
static float *take(arena_cursor *cursor, size_t count)
{
    float *slice = cursor->base != NULL ? cursor->base + cursor->used : NULL;
    cursor->used = interval_at(cursor, cursor->used, count).end;
    return slice;
}

/* The lowest offset from `low` (a multiple of 16) where `count` floats overlap none of the
 * `busy` intervals: `low` itself or the end of one of them (so a multiple of 16 too). */
static size_t first_fit(arena_cursor *cursor, size_t low, size_t count, const arena_interval *busy,
                        size_t busy_count)
{
    size_t best = (size_t)-1, k, j;
    for (k = 0; k <= busy_count; k++) {
        const size_t at = k == 0 ? low : busy[k - 1].end;
        arena_interval here;
        int clear = at >= low && at < best;
        if (!clear)
            continue;
        here = interval_at(cursor, at, count);
        for (j = 0; j < busy_count && clear; j++)
            clear = here.end <= busy[j].at || here.at >= busy[j].end;
        if (clear)
            best = at;
    }
    return best; /* the last busy interval's end always fits */
}

/* A feature map of `count` floats: its own slice when training (the backward pass reads every
 * map), else one of the evaluation mode's three shared slots (RESNET_SLOTS: a map lives only
 * until the next layers have read it, see resnet_activations). While counting, the slots'
 * size is the largest map's. */
static float *take_map(resnet_activations *acts, arena_cursor *cursor, int slot, size_t count)
{
    if (!acts->inference)
        return take(cursor, count);
    track_max(&acts->slot_floats, count);
    return acts->slots[slot];
}

/* Block b's grad_in: its largest map, or the block before's largest output (its grad_out). */
static size_t grad_in_floats(size_t b, const size_t *largest, const size_t *output_largest)
{
    const size_t before = b > 0 ? output_largest[b - 1] : 0; /* the stem's: the block's input */
    return before > largest[b] ? before : largest[b];
}

/* Training: each block's three gradient buffers (resnet_block_buffers) placed above the maps
 * it and the blocks before it keep, in the maps of the blocks after it, which its backward
 * pass no longer needs (or above all maps): the lowest offsets that overlap neither each other
 * nor the block's grad_out, which is the grad_in of the block after it (so ∂L/∂x passes from
 * block to block without a copy); with leave_room, each grad_in also lies above the room its
 * block before needs for its other two. grad_in and scratch hold the largest map the block
 * reads or writes, grad_out its largest output (a convolution's). Then the stem's other
 * buffers: its second gradient buffer, its convolution output (which the forward pass keeps
 * there only until its batch norm has read it) and with the max-pool a third one. Returns the
 * offset above the highest of them; assign: sets the pointers too. `map_end[b]`: the cursor
 * after block b's maps, `largest[b]`: its largest map, its input included,
 * `output_largest[b]`: its convolutions' largest output; the stem's likewise. */
static size_t plan_gradients(resnet_activations *acts, const resnet *net, arena_cursor *cursor,
                             size_t stem_end, size_t stem_largest, const size_t *map_end,
                             const size_t *largest, const size_t *output_largest, int leave_room,
                             int assign)
{
    const size_t last = net->block_count - 1;
    arena_interval busy[4];
    size_t top = cursor->used, out_at = cursor->used, out_size = output_largest[last], b, i;
    size_t stem_at[4];
    const size_t stem_buffers = net->config.stem == STEM_IMAGENET ? 3 : 2;
    for (b = last + 1; b-- > 0;) {
        resnet_block_buffers *buffers = &acts->blocks[b];
        const size_t in_size = grad_in_floats(b, largest, output_largest);
        size_t in_at, scratch_at, room;
        /* leave_room: grad_in, the block before's grad_out, leaves room above that block's maps
         * for its other two buffers (the stem's), so they need not go above it */
        if (!leave_room) {
            room = 0;
        } else if (b > 0) {
            room = interval_at(cursor, map_end[b - 1],
                               grad_in_floats(b - 1, largest, output_largest)).end;
            room = interval_at(cursor, room, largest[b - 1]).end;
        } else {
            for (room = stem_end, i = 0; i < stem_buffers; i++)
                room = interval_at(cursor, room, stem_largest).end;
        }
        busy[0] = interval_at(cursor, out_at, out_size);
        in_at = first_fit(cursor, map_end[b] > room ? map_end[b] : room, in_size, busy, 1);
        busy[1] = interval_at(cursor, in_at, in_size);
        scratch_at = first_fit(cursor, map_end[b], largest[b], busy, 2);
        track_max(&top, busy[0].end);
        track_max(&top, busy[1].end);
        track_max(&top, interval_at(cursor, scratch_at, largest[b]).end);
        if (assign && cursor->base != NULL) {
            buffers->grad_out = cursor->base + out_at;
            buffers->grad_in = cursor->base + in_at;
            buffers->scratch = cursor->base + scratch_at;
            /* the maps the backward pass makes again live in them meanwhile: the inner batch
             * norms' outputs in grad_in, the downsample convolution's in scratch (its batch
             * norm's in grad_out) */
            for (i = 0; i + 1 < net->blocks[b].convs; i++)
                buffers->bn_out[i] = buffers->grad_in;
            if (net->blocks[b].has_downsample)
                buffers->down_conv_out = buffers->scratch;
        }
        out_at = in_at, out_size = in_size;
    }
    busy[0] = interval_at(cursor, out_at, out_size); /* ∂L/∂(stem output): the first block's
                                                      * grad_in, the stem's output's size */
    for (i = 1; i <= stem_buffers; i++) {
        stem_at[i] = first_fit(cursor, stem_end, stem_largest, busy, i);
        busy[i] = interval_at(cursor, stem_at[i], stem_largest);
        track_max(&top, busy[i].end);
    }
    if (assign && cursor->base != NULL) { /* the stem's convolution output and (imagenet) its batch norm's
                                 * pass there too, and are made again by the backward pass */
        acts->stem_grad = cursor->base + stem_at[1];
        acts->stem_conv_out = cursor->base + stem_at[2];
        acts->stem_scratch = net->config.stem == STEM_IMAGENET ? cursor->base + stem_at[3] : NULL;
        if (net->config.stem == STEM_IMAGENET)
            acts->stem_bn_out = acts->stem_grad;
    }
    return top;
}

/* Places the buffers the better of two ways (the lower top): each first fit from the block's
 * maps up, or each grad_in above the room its block before needs. */
static void place_gradients(resnet_activations *acts, const resnet *net, arena_cursor *cursor,
                            size_t stem_end, size_t stem_largest, const size_t *map_end,
                            const size_t *largest, const size_t *output_largest)
{
    const size_t packed = plan_gradients(acts, net, cursor, stem_end, stem_largest, map_end,
                                         largest, output_largest, 0, 0);
    const size_t roomy = plan_gradients(acts, net, cursor, stem_end, stem_largest, map_end,
                                        largest, output_largest, 1, 0);
    cursor->used = plan_gradients(acts, net, cursor, stem_end, stem_largest, map_end, largest,
                                  output_largest, roomy < packed, 1);
}

/* Shapes and buffers for one batch; returns SIMCLR_FAILED on an impossible geometry. */
static int layout_activations(resnet_activations *acts, const resnet *net, arena_cursor *cursor,
                              simclr_error *err)
{
    const size_t B = acts->batch;
    size_t channels = net->conv1.out_channels, height, width, workspace = 0, grad = 0, floats, b, i;
    size_t stem_end, stem_largest, map_end[RESNET_MAX_BLOCKS], largest[RESNET_MAX_BLOCKS];
    size_t output_largest[RESNET_MAX_BLOCKS];
    conv2d_shape *stem = &acts->stem_shape;
    int input_slot, conv_slot, bn_slot; /* the evaluation mode's slots of a block (take_map) */

    if (acts->inference && cursor->base != NULL) /* the slots first, their size counted before */
        for (i = 0; i < RESNET_SLOTS; i++)
            acts->slots[i] = take(cursor, acts->slot_floats);
    /* h and the logits before the maps: the gradient buffers go above the maps (below) */
    acts->features = take(cursor, B * net->feature_dim);
    acts->grad_features = acts->inference ? NULL : take(cursor, B * net->feature_dim);
    acts->logits = acts->grad_logits = NULL;
    if (net->config.num_classes > 0) {
        acts->logits = take(cursor, B * net->config.num_classes);
        acts->grad_logits = acts->inference ? NULL : take(cursor, B * net->config.num_classes);
        if (linear_workspace_floats(B, net->feature_dim, net->config.num_classes, &floats, err) !=
            SIMCLR_OK)
            return SIMCLR_FAILED;
        track_max(&workspace, floats);
    }

    if (conv2d_shape_init(stem, B, net->config.in_channels, acts->height, acts->width,
                          channels, net->conv1.kernel, net->conv1.stride, net->conv1.padding,
                          err) != SIMCLR_OK ||
        conv2d_shape_shard(stem, acts->shards, acts->ranks, err) != SIMCLR_OK ||
        conv2d_workspace_floats(stem, &floats, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    track_max(&workspace, floats);
    height = stem->out_height;
    width = stem->out_width;
    acts->stem_bn_shape.batch = B;
    acts->stem_bn_shape.channels = channels;
    acts->stem_bn_shape.spatial = height * width;
    acts->stem_bn_shape.shards = acts->shards;
    acts->stem_bn_shape.ranks = acts->ranks;
    if (ranks_exchange(acts->ranks) && acts->ranks->scratch_doubles < 2 * net->feature_dim)
        return simclr_fail(err, "resnet: the ranks' scratch holds %lu doubles, the batch norms "
                                "need %lu", (unsigned long)acts->ranks->scratch_doubles,
                           (unsigned long)(2 * net->feature_dim));
    acts->stem_conv_out = acts->inference ? take_map(acts, cursor, 0, B * channels * height * width)
                                          : NULL; /* training: made again (resnet_backward) */
    acts->stem_bn_out = acts->inference || net->config.stem == STEM_CIFAR
                            ? take_map(acts, cursor, 1, B * channels * height * width)
                            : NULL; /* training, imagenet stem: made again (resnet_backward) */
    input_slot = 1;
    acts->stem_mean = take(cursor, channels);
    acts->stem_inverse_std = take(cursor, channels);
    track_max(&grad, B * channels * height * width);
    stem_largest = B * channels * height * width;
    acts->pool_out = NULL;
    if (net->config.stem == STEM_IMAGENET) {
        if (pool_shape_init(&acts->pool, B, channels, height, width, 3, 2, 1) != 0)
            return simclr_fail(err, "resnet: a %lux%lu input is too small for the max-pool",
                               (unsigned long)acts->height, (unsigned long)acts->width);
        height = acts->pool.out_height;
        width = acts->pool.out_width;
        acts->pool_out = take_map(acts, cursor, 2, B * channels * height * width);
        input_slot = 2;
    }
    stem_end = cursor->used;

    for (b = 0; b < net->block_count; b++) {
        const resnet_block *block = &net->blocks[b];
        resnet_block_buffers *buffers = &acts->blocks[b];
        size_t in_height = height, in_width = width;
        largest[b] = B * channels * height * width; /* the block's input */
        output_largest[b] = 0;
        /* evaluation mode: every convolution of the block writes one slot, every batch norm
         * another (after its convolution read the previous one), the downsample convolution
         * the batch norms' once the last convolution has read it, and the block's input keeps
         * the third until the downsample branch and the residual add have read it */
        conv_slot = input_slot == 0 ? 1 : 0;
        bn_slot = 3 - input_slot - conv_slot;
        for (i = 0; i < block->convs; i++) {
            const conv_layer *conv = &block->conv[i];
            if (conv2d_shape_init(&buffers->conv_shape[i], B, conv->in_channels, height, width,
                                  conv->out_channels, conv->kernel, conv->stride, conv->padding,
                                  err) != SIMCLR_OK ||
                conv2d_shape_shard(&buffers->conv_shape[i], acts->shards, acts->ranks, err) !=
                    SIMCLR_OK ||
                conv2d_workspace_floats(&buffers->conv_shape[i], &floats, err) != SIMCLR_OK)
                return SIMCLR_FAILED;
            track_max(&workspace, floats);
            height = buffers->conv_shape[i].out_height;
            width = buffers->conv_shape[i].out_width;
            channels = conv->out_channels;
            buffers->bn_shape[i].batch = B;
            buffers->bn_shape[i].channels = channels;
            buffers->bn_shape[i].spatial = height * width;
            buffers->bn_shape[i].shards = acts->shards;
            buffers->bn_shape[i].ranks = acts->ranks;
            floats = B * channels * height * width;
            buffers->conv_out[i] = take_map(acts, cursor, conv_slot, floats);
            buffers->bn_out[i] = acts->inference || i + 1 == block->convs
                                     ? take_map(acts, cursor, bn_slot, floats)
                                     : NULL; /* training: made again (block_backward) */
            buffers->mean[i] = take(cursor, channels);
            buffers->inverse_std[i] = take(cursor, channels);
            track_max(&grad, B * channels * height * width);
            track_max(&largest[b], B * channels * height * width);
            track_max(&output_largest[b], B * channels * height * width);
        }
        if (block->has_downsample) {
            const conv_layer *conv = &block->down_conv;
            if (conv2d_shape_init(&buffers->down_shape, B, conv->in_channels, in_height, in_width,
                                  conv->out_channels, 1, conv->stride, 0, err) != SIMCLR_OK ||
                conv2d_shape_shard(&buffers->down_shape, acts->shards, acts->ranks, err) !=
                    SIMCLR_OK ||
                conv2d_workspace_floats(&buffers->down_shape, &floats, err) != SIMCLR_OK)
                return SIMCLR_FAILED;
            track_max(&workspace, floats);
            buffers->down_bn_shape = buffers->bn_shape[block->convs - 1];
            buffers->down_conv_out = /* evaluation: after the last convolution read the slot */
                acts->inference ? take_map(acts, cursor, bn_slot, B * channels * height * width)
                                : NULL; /* training: made again (block_backward) */
            buffers->down_mean = take(cursor, channels);
            buffers->down_inverse_std = take(cursor, channels);
        }
        buffers->out_height = height;
        buffers->out_width = width;
        input_slot = bn_slot;
        map_end[b] = cursor->used;
    }
    acts->final_height = height;
    acts->final_width = width;
    acts->grad_floats = grad;
    if (acts->inference) { /* the downsample branch's batch norm output, for every block */
        float *scratch = take(cursor, grad);
        for (b = 0; b < net->block_count; b++)
            acts->blocks[b].grad_out = scratch;
    } else {
        place_gradients(acts, net, cursor, stem_end, stem_largest, map_end, largest,
                        output_largest);
    }
    if (acts->inference && cursor->base == NULL) /* counting: the slots, handed out first */
        for (i = 0; i < RESNET_SLOTS; i++)
            (void)take(cursor, acts->slot_floats);
    acts->workspace_floats = workspace;
    acts->workspace = take(cursor, workspace);
    if (cursor->overflow)
        return simclr_fail(err, "resnet: the activations for batch %lu overflow size_t",
                           (unsigned long)B);
    return SIMCLR_OK;
}

static int create(resnet_activations *acts, const resnet *net, size_t batch, size_t height,
                  size_t width, int inference, size_t shards, const rank_group *ranks,
                  simclr_error *err)
{
    arena_cursor cursor = {NULL, 0, 0};
    memset(acts, 0, sizeof *acts);
    if (batch == 0)
        return simclr_fail(err, "resnet: the batch must hold at least one image");
    acts->batch = batch;
    acts->shards = shards;
    acts->ranks = ranks;
    acts->inference = inference;
    acts->height = height;
    acts->width = width;
    if (layout_activations(acts, net, &cursor, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    acts->arena_floats = cursor.used;
    acts->arena = simclr_calloc(cursor.used, sizeof(float), "resnet: activations", err);
    if (acts->arena == NULL)
        return SIMCLR_FAILED;
    cursor.base = acts->arena;
    cursor.used = 0;
    return layout_activations(acts, net, &cursor, err);
}

int resnet_activations_create(resnet_activations *acts, const resnet *net, size_t batch,
                              size_t height, size_t width, simclr_error *err)
{
    return create(acts, net, batch, height, width, 0, 1, NULL, err);
}

int resnet_activations_create_sharded(resnet_activations *acts, const resnet *net, size_t batch,
                                      size_t height, size_t width, size_t shards,
                                      const rank_group *ranks, simclr_error *err)
{
    return create(acts, net, batch, height, width, 0, shards, ranks, err);
}

int resnet_activations_create_inference(resnet_activations *acts, const resnet *net,
                                        size_t batch, size_t height, size_t width,
                                        simclr_error *err)
{
    return create(acts, net, batch, height, width, 1, 1, NULL, err);
}

static double convolution_flops(const conv2d_shape *s)
{
    return 2.0 * (double)s->batch * (double)s->out_channels * (double)s->in_channels *
           (double)(s->kernel * s->kernel) * (double)(s->out_height * s->out_width);
}

double resnet_convolution_flops(const resnet_activations *acts, const resnet *net, int backward)
{
    double flops = convolution_flops(&acts->stem_shape) * (backward ? 2.0 : 1.0);
    size_t b, i;
    for (b = 0; b < net->block_count; b++) {
        const resnet_block_buffers *buffers = &acts->blocks[b];
        double block = net->blocks[b].has_downsample ? convolution_flops(&buffers->down_shape)
                                                     : 0.0;
        for (i = 0; i < net->blocks[b].convs; i++)
            block += convolution_flops(&buffers->conv_shape[i]);
        flops += block * (backward ? 3.0 : 1.0);
    }
    return flops;
}

void resnet_activations_destroy(resnet_activations *acts)
{
    simclr_free(acts->arena);
    memset(acts, 0, sizeof *acts);
}

/* ------------------------------------------------------------------------------------------ */
/* Forward                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static size_t shape_elements(const batchnorm_shape *shape)
{
    return shape->batch * shape->channels * shape->spatial;
}

static void block_forward(resnet_block_buffers *buffers, const float *input,
                          const resnet_block *block, param_store *store, float *workspace,
                          int training)
{
    float *scratch = buffers->grad_out; /* BN(downsample(input)): nothing else needs it yet */
    const size_t last = block->convs - 1;
    const float *conv_in = input;
    size_t i;
    buffers->input = input;
    for (i = 0; i < block->convs; i++) {
        conv2d_forward(buffers->conv_out[i], conv_in, store->params + block->conv[i].weight, NULL,
                       &buffers->conv_shape[i], workspace);
        if (i < last) /* ReLU(BN(·)) in one pass */
            bn_layer_forward_relu(buffers->bn_out[i], buffers->mean[i], buffers->inverse_std[i],
                                  buffers->conv_out[i], NULL, &block->bn[i],
                                  &buffers->bn_shape[i], store, training);
        conv_in = buffers->bn_out[i];
    }
    if (block->has_downsample) { /* the identity path first: BN(downsample(input)) */
        conv2d_forward(buffers->down_conv_out, input, store->params + block->down_conv.weight,
                       NULL, &buffers->down_shape, workspace);
        bn_layer_forward(scratch, buffers->down_mean, buffers->down_inverse_std,
                         buffers->down_conv_out, &block->down_bn, &buffers->down_bn_shape, store,
                         training);
    }
    /* the block's output ReLU(BN(conv_out) + identity), in one pass */
    bn_layer_forward_relu(buffers->bn_out[last], buffers->mean[last], buffers->inverse_std[last],
                          buffers->conv_out[last], block->has_downsample ? scratch : input,
                          &block->bn[last], &buffers->bn_shape[last], store, training);
}

void resnet_forward(resnet_activations *acts, const float *x, const resnet *net,
                    param_store *store, int training)
{
    const float *current;
    size_t b;
    acts->input = x;
    conv2d_forward(acts->stem_conv_out, x, store->params + net->conv1.weight, NULL,
                   &acts->stem_shape, acts->workspace);
    bn_layer_forward_relu(acts->stem_bn_out, acts->stem_mean, acts->stem_inverse_std,
                          acts->stem_conv_out, NULL, &net->bn1, &acts->stem_bn_shape, store,
                          training);
    current = acts->stem_bn_out;
    if (net->config.stem == STEM_IMAGENET) {
        maxpool_forward(acts->pool_out, NULL, acts->stem_bn_out, &acts->pool);
        current = acts->pool_out;
    }
    for (b = 0; b < net->block_count; b++) {
        block_forward(&acts->blocks[b], current, &net->blocks[b], store, acts->workspace,
                      training);
        current = acts->blocks[b].bn_out[net->blocks[b].convs - 1];
    }
    avgpool_forward(acts->features, current, acts->batch, net->feature_dim,
                    acts->final_height * acts->final_width);
    if (net->config.num_classes > 0)
        linear_forward(acts->logits, acts->features, store->params + net->fc_weight,
                       store->params + net->fc_bias, acts->batch, net->feature_dim,
                       net->config.num_classes, acts->workspace);
}

/* ------------------------------------------------------------------------------------------ */
/* Backward                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* ReLU(BN(conv_out)) of a layer whose output the training forward did not keep, made again
 * into `into` from the statistics it saved, in one pass: the same bits (bn_layer_forward_saved). */
static const float *made_again(float *into, const float *conv_out, const float *mean,
                               const float *inverse_std, const bn_layer *bn,
                               const batchnorm_shape *shape, const param_store *store)
{
    bn_layer_forward_saved(into, mean, inverse_std, conv_out, bn, shape, store, 1);
    return into;
}

/* grad_in = ∂L/∂(block input) from grad_out = ∂L/∂(block output); grad_out is consumed (the
 * final ReLU's backward runs in place on it); scratch holds a convolution's ∂L/∂x. The outputs
 * of the inner layers (all but the last) are made again into grad_in, which holds nothing
 * until the end: the forward pass keeps only each layer's convolution output, and the block's
 * output. Each batch norm's backward writes ∂L/∂(its input) over that input, the convolution's
 * output, which nothing reads afterwards: the convolutions' outputs are the block's other
 * gradient buffers. With a downsample branch, the identity path comes first, into grad_in: its
 * convolution output is made again into scratch (the same convolution of the same input: the
 * same bits, a 1×1 convolution's cost for a map not kept), and then grad_out, read for the
 * last time, takes the inner layers' outputs; no buffer holds more than the block's largest
 * map (place_gradients). */
static void block_backward(float *grad_in, float *grad_out, float *scratch,
                           resnet_block_buffers *buffers, const resnet_block *block,
                           param_store *store, float *workspace)
{
    const size_t last = block->convs - 1, out_count = shape_elements(&buffers->bn_shape[last]);
    const size_t in_count = buffers->conv_shape[0].batch * buffers->conv_shape[0].in_channels *
                            buffers->conv_shape[0].in_height * buffers->conv_shape[0].in_width;
    float *inner_into = block->has_downsample ? grad_out : grad_in;
    size_t i;
    relu_backward(grad_out, grad_out, buffers->bn_out[last], out_count);
    /* the main path's last batch norm, then the identity path's while grad_out is whole */
    bn_layer_backward(buffers->conv_out[last], grad_out, buffers->conv_out[last],
                      buffers->mean[last], buffers->inverse_std[last], &block->bn[last],
                      &buffers->bn_shape[last], store);
    if (block->has_downsample) {
        conv2d_forward(scratch, buffers->input, store->params + block->down_conv.weight, NULL,
                       &buffers->down_shape, workspace);
        bn_layer_backward(scratch, grad_out, scratch, buffers->down_mean,
                          buffers->down_inverse_std, &block->down_bn, &buffers->down_bn_shape,
                          store);
        conv2d_backward(grad_in, store->grads + block->down_conv.weight, NULL, scratch,
                        buffers->input, store->params + block->down_conv.weight,
                        &buffers->down_shape, workspace);
    }
    /* the main path, from the last convolution back to the block input */
    for (i = last; i > 0; i--) {
        /* conv_out[i] = ∂L/∂conv_out[i]; its input, the layer before's output, made again */
        const float *inner = made_again(inner_into, buffers->conv_out[i - 1],
                                        buffers->mean[i - 1], buffers->inverse_std[i - 1],
                                        &block->bn[i - 1], &buffers->bn_shape[i - 1], store);
        conv2d_backward(scratch, store->grads + block->conv[i].weight, NULL,
                        buffers->conv_out[i], inner, store->params + block->conv[i].weight,
                        &buffers->conv_shape[i], workspace);
        relu_backward(scratch, scratch, inner, shape_elements(&buffers->bn_shape[i - 1]));
        bn_layer_backward(buffers->conv_out[i - 1], scratch, buffers->conv_out[i - 1],
                          buffers->mean[i - 1], buffers->inverse_std[i - 1], &block->bn[i - 1],
                          &buffers->bn_shape[i - 1], store);
    }
    if (block->has_downsample) { /* the main path's ∂L/∂x plus the identity path's */
        conv2d_backward(scratch, store->grads + block->conv[0].weight, NULL,
                        buffers->conv_out[0], buffers->input,
                        store->params + block->conv[0].weight, &buffers->conv_shape[0],
                        workspace);
        add_forward(grad_in, scratch, grad_in, in_count);
    } else {
        conv2d_backward(grad_in, store->grads + block->conv[0].weight, NULL,
                        buffers->conv_out[0], buffers->input,
                        store->params + block->conv[0].weight, &buffers->conv_shape[0],
                        workspace);
        add_forward(grad_in, grad_in, grad_out, in_count);
    }
}

void resnet_backward(resnet_activations *acts, const resnet *net, param_store *store)
{
    const size_t last = net->block_count - 1;
    float *grad = acts->blocks[0].grad_in, *other = acts->stem_grad;
    size_t b;
    if (net->config.num_classes > 0)
        linear_backward(acts->grad_features, store->grads + net->fc_weight,
                        store->grads + net->fc_bias, acts->grad_logits, acts->features,
                        store->params + net->fc_weight, acts->batch, net->feature_dim,
                        net->config.num_classes, acts->workspace);
    avgpool_backward(acts->blocks[last].grad_out, acts->grad_features, acts->batch,
                     net->feature_dim, acts->final_height * acts->final_width);
    for (b = last + 1; b-- > 0;) /* a block's grad_in is the grad_out of the block before */
        block_backward(acts->blocks[b].grad_in, acts->blocks[b].grad_out,
                       acts->blocks[b].scratch, &acts->blocks[b], &net->blocks[b], store,
                       acts->workspace);
    /* grad = ∂L/∂(the stem's output), the first block's input; the stem's convolution output,
     * not kept, made again (the same convolution of the same input: the same bits) */
    conv2d_forward(acts->stem_conv_out, acts->input, store->params + net->conv1.weight, NULL,
                   &acts->stem_shape, acts->workspace);
    if (net->config.stem == STEM_IMAGENET) { /* the max-pool's input made again: its winners
                                              * found again, its ReLU's gate */
        const float *pooled = made_again(other, acts->stem_conv_out, acts->stem_mean,
                                         acts->stem_inverse_std, &net->bn1, &acts->stem_bn_shape,
                                         store);
        maxpool_backward_from_input(acts->stem_scratch, grad, pooled, &acts->pool);
        relu_backward(acts->stem_scratch, acts->stem_scratch, pooled,
                      shape_elements(&acts->stem_bn_shape));
        bn_layer_backward(acts->stem_scratch, acts->stem_scratch, acts->stem_conv_out,
                          acts->stem_mean, acts->stem_inverse_std, &net->bn1,
                          &acts->stem_bn_shape, store); /* in place: grad is the pool's size */
        conv2d_backward(NULL, store->grads + net->conv1.weight, NULL, acts->stem_scratch,
                        acts->input, store->params + net->conv1.weight, &acts->stem_shape,
                        acts->workspace);
    } else { /* the stem's output is kept: the first block's input */
        relu_backward(grad, grad, acts->stem_bn_out, shape_elements(&acts->stem_bn_shape));
        bn_layer_backward(other, grad, acts->stem_conv_out, acts->stem_mean,
                          acts->stem_inverse_std, &net->bn1, &acts->stem_bn_shape, store);
        conv2d_backward(NULL, store->grads + net->conv1.weight, NULL, other, acts->input,
                        store->params + net->conv1.weight, &acts->stem_shape, acts->workspace);
    }
}
