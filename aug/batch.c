/*
 * aug/batch.c — the workspace of making the views of a batch of dataset images; see batch.h.
 */
#include "batch.h"

#include <string.h>

#include "../nn/memory.h"
#include "../nn/parallel.h"
#include "../nn/tensor.h"

int aug_batch_create(aug_batch *w, size_t batch, const aug_config *augment,
                     const dataset *data, simclr_error *err)
{
    const size_t N = batch;
    size_t slot_floats;
    memset(w, 0, sizeof *w);
    w->batch = N;
    w->count = data->count;
    w->slots = parallel_thread_count();
    if (size_multiply_checked(data->channels, data->files != NULL ? 0 : data->max_pixels,
                              &w->image_floats) != SIMCLR_OK ||
        size_multiply_checked((size_t)w->slots, w->image_floats, &slot_floats) != SIMCLR_OK)
        return simclr_fail(err, "augment: the images are too large");
    w->images = simclr_calloc(slot_floats > 0 ? slot_floats : 1, sizeof(float),
                              "augment: images", err);
    w->status = simclr_calloc(N > 0 ? N : 1, sizeof *w->status, "augment: image status", err);
    w->order = simclr_calloc(data->count > 0 ? data->count : 1, sizeof *w->order,
                             "augment: epoch order", err);
    w->augment_floats = aug_batch_workspace_floats(augment, data->channels, data->max_height,
                                                   data->max_width, w->slots);
    w->augment = simclr_calloc(w->augment_floats, sizeof(float), "augment: augmentation workspace",
                               err);
    if (w->images == NULL || w->status == NULL || w->order == NULL || w->augment == NULL) {
        aug_batch_destroy(w);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

void aug_batch_destroy(aug_batch *w)
{
    simclr_free(w->images);
    simclr_free(w->status);
    simclr_free(w->order);
    simclr_free(w->augment);
    memset(w, 0, sizeof *w);
}

int aug_batch_each_image(aug_batch *w, const dataset *data, const size_t *order,
                         aug_batch_image_fn make, void *context, simclr_error *err)
{
    const size_t N = w->batch, augment_floats = w->augment_floats / (size_t)w->slots;
    long b;
    PARALLEL_FOR_DYNAMIC(num_threads(w->slots))
    for (b = 0; b < (long)N; b++) {
        const size_t index = order[b], slot = (size_t)parallel_thread_index();
        size_t height, width;
        float *image = w->images + slot * w->image_floats;
        if (data->files != NULL)
            image = dataset_image_new(data, index, &height, &width, NULL);
        else /* in memory: never fails */
            dataset_image_size(data, index, &height, &width), dataset_image(data, index, image, NULL);
        if ((w->status[b] = (signed char)(image != NULL ? 0 : -1)) == 0)
            make(context, (size_t)b, index, image, height, width, w->augment + slot * augment_floats);
        if (data->files != NULL)
            simclr_free(image);
    }
    for (b = 0; b < (long)N; b++) /* the first failure in batch order, whatever the threads */
        if (w->status[b] != 0)
            return dataset_image_failure(data, order[b], err);
    return SIMCLR_OK;
}
