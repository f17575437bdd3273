/*
 * nn/ranks.c — the pairwise tree over a rank's own shards; see nn/ranks.h.
 */
#include "ranks.h"

#include <string.h>

int ranks_exchange(const rank_group *group)
{
    return group != NULL && group->size > 1;
}

int rank_layout_plan(rank_layout *layout, size_t batch, size_t shards, int separate,
                     const rank_group *group, simclr_error *err)
{
    const size_t K = ranks_exchange(group) ? (size_t)group->size : 1;
    const size_t G = shards > 1 ? shards : 1;
    if ((G & (G - 1)) != 0 || batch % G != 0)
        return simclr_fail(err, "--shards %lu is not a power of two dividing the batch "
                                "of %lu", (unsigned long)G, (unsigned long)batch);
    if (batch % K != 0)
        return simclr_fail(err, "%lu ranks do not divide the batch of %lu images",
                           (unsigned long)K, (unsigned long)batch);
    if (G % K != 0)
        return simclr_fail(err, "%lu ranks need --shards to be a multiple of %lu; this "
                                "run has --shards %lu (a run's shards are fixed when it starts: "
                                "other shards, other bits)",
                           (unsigned long)K, (unsigned long)K, (unsigned long)G);
    layout->batch = batch, layout->local = batch / K, layout->shard = batch / G;
    layout->rank = K > 1 ? (size_t)group->rank : 0, layout->ranks = K;
    layout->separate = separate;
    return SIMCLR_OK;
}

size_t rank_layout_view_row(const rank_layout *layout, size_t j, int v)
{
    const size_t g = layout->shard;
    if (layout->separate)
        return (size_t)v * layout->local + j;
    return j / g * 2 * g + (size_t)v * g + j % g;
}

size_t rank_layout_batch_row(const rank_layout *layout, size_t rank, size_t i)
{
    const size_t g = layout->shard, within = i % (2 * g);
    if (layout->separate)
        return rank * layout->local + i;
    return within / g * layout->batch + rank * layout->local + i / (2 * g) * g + within % g;
}

void rank_layout_gather(const rank_layout *layout, const rank_group *group, float *batch,
                        float *gathered, const float *mine, size_t width)
{
    const size_t rows = 2 * layout->local / (layout->separate ? 2 : 1);
    const float *all = mine;
    size_t r, i;
    if (layout->ranks > 1) {
        group->gather_floats(group, gathered, mine, rows * width);
        all = gathered;
    }
    for (r = 0; r < layout->ranks; r++)
        for (i = 0; i < rows; i++)
            memcpy(batch + rank_layout_batch_row(layout, r, i) * width,
                   all + (r * rows + i) * width, width * sizeof(float));
}

int ranks_agree(const rank_group *group, int ok, const double *values, size_t count,
                int *failed, int *differs)
{
    double sums[RANKS_AGREE_MAX + 1], verdict[1] = {0.0};
    size_t i;
    *failed = ok ? 0 : 1, *differs = -1;
    if (!ranks_exchange(group))
        return ok;
    sums[0] = ok ? 0.0 : 1.0;
    for (i = 0; i < count; i++)
        sums[i + 1] = ok ? values[i] : 0.0;
    group->sum_doubles(group, sums, count + 1);
    for (i = 0; sums[0] == 0.0 && i < count && *differs < 0; i++)
        if (sums[i + 1] != values[i] * (double)group->size)
            *differs = (int)i;
    verdict[0] = *differs >= 0 ? 1.0 : 0.0;
    group->sum_doubles(group, verdict, 1);
    *failed = (int)sums[0];
    return sums[0] == 0.0 && verdict[0] == 0.0;
}

int ranks_agree_reason(const rank_group *group, int ok, const double *values,
                       const char *const *names, size_t count, simclr_error *err)
{
    int failed, differs;
    err->message[0] = '\0';
    if (ranks_agree(group, ok, values, count, &failed, &differs))
        return SIMCLR_OK;
    if (differs >= 0)
        simclr_fail(err, "rank %d: its %s differs from the other ranks' (the same data, "
                         "checkpoint and program on every machine?)", group->rank, names[differs]);
    if (ok && failed > 0 && group->rank == 0)
        simclr_fail(err, "stopping: %d of the %d ranks failed (above)", failed, group->size);
    return SIMCLR_FAILED;
}

size_t pairwise_level(size_t k)
{
    size_t level = 0;
    while ((k >> level) & 1u) /* the trailing ones of k: the pending levels it completes */
        level++;
    return level;
}

void pairwise_merge_floats(float *levels, size_t stride, size_t level, size_t count)
{
    float *top = levels + level * stride;
    size_t l, i;
    for (l = 0; l < level; l++) {
        const float *lower = levels + l * stride;
        for (i = 0; i < count; i++)
            top[i] += lower[i];
    }
}

size_t pairwise_depth(size_t count)
{
    size_t depth = 0;
    while (((size_t)1 << depth) < count)
        depth++;
    return depth;
}
