/*
 * nn/ranks.c — the pairwise tree over a rank's own shards; see nn/ranks.h.
 */
#include "ranks.h"

int ranks_exchange(const rank_group *group)
{
    return group != NULL && group->size > 1;
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
