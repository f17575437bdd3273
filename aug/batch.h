/*
 * aug/batch.h — what making the two views of N dataset images needs besides the images'
 * views: the N images as floats (C, H, W) in [0, 1], a pointer to each and its dataset index
 * (which names its views' random streams), an epoch's order of the whole dataset, and the
 * augmentation pipeline's scratch for every thread. Made once per run; making a batch then
 * allocates nothing. simclr_batch_of_views (simclr.h) fills it.
 */
#ifndef SIMCLR_AUG_BATCH_H
#define SIMCLR_AUG_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "../data/dataset.h"
#include "../nn/error.h"
#include "pipeline.h"

typedef struct aug_batch {
    size_t batch, image_floats, count;
    float *images;                /* (N, C, H, W) */
    const float **pointers;       /* (N) */
    uint64_t *indices;            /* (N) */
    float *augment;               /* augment_floats = aug_batch_workspace_floats(…, slots) */
    size_t augment_floats;
    size_t *order;                /* (count) */
    int slots;                    /* threads the pipeline may use */
} aug_batch;

/* For batches of `batch` images of `data`, views made as `augment` says. */
int aug_batch_create(aug_batch *workspace, size_t batch, const aug_config *augment,
                     const dataset *data, simclr_error *err);
void aug_batch_destroy(aug_batch *workspace);

#endif
