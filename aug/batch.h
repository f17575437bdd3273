/*
 * aug/batch.h — what making the two views of N dataset images needs besides the views: an
 * epoch's order of the whole dataset, and for each thread the image being made into views
 * (C × max_pixels floats, for datasets held in memory; an image folder's images are decoded
 * into memory allocated per image) and the augmentation pipeline's scratch, sized for the
 * dataset's largest image. Made once per run; aug_batch_each_image hands a batch's images, one
 * thread each, to what makes their views (simclr_batch_of_views of simclr.h: two views each;
 * finetune_batch_of_views of eval/finetune.h: one).
 */
#ifndef SIMCLR_AUG_BATCH_H
#define SIMCLR_AUG_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "../data/dataset.h"
#include "../nn/error.h"
#include "pipeline.h"

typedef struct aug_batch {
    size_t batch, count;
    size_t image_floats;          /* one image's slot: channels · max_pixels (0 for folders) */
    float *images;                /* (slots, image_floats) */
    float *augment;               /* (slots, augment_floats / slots) view workspaces */
    size_t augment_floats;
    signed char *status;          /* (N) per image of a batch: 0 made, −1 failed */
    size_t *order;                /* (count) */
    int slots;                    /* threads the pipeline may use */
} aug_batch;

/* For batches of `batch` images of `data`, views made as `augment` says. */
int aug_batch_create(aug_batch *workspace, size_t batch, const aug_config *augment,
                     const dataset *data, simclr_error *err);
void aug_batch_destroy(aug_batch *workspace);

/* What becomes of image b of a batch (dataset index `index`): its pixels (C, height, width,
 * valid only during the call) and the calling thread's augmentation workspace. */
typedef void (*aug_batch_image_fn)(void *context, size_t b, size_t index, const float *image,
                                   size_t height, size_t width, float *augment_workspace);

/* For every b in [0, N): image order[b] of `data`, decoded (an image folder, into memory of its
 * own) or copied (in memory, into the thread's slot), handed to make(); the images in parallel,
 * one thread each. A failure to decode is reported for the first failing image in batch order,
 * whatever the threads did; make() is then not called for that image. */
int aug_batch_each_image(aug_batch *workspace, const dataset *data, const size_t *order,
                         aug_batch_image_fn make, void *context, simclr_error *err);

#endif
