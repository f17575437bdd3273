/*
 * eval/encoder.c — the trained encoder f for embedding images; see encoder.h.
 */
#include "encoder.h"

#include <stdio.h>
#include <string.h>

#include "../aug/color.h"
#include "../aug/geometry.h"
#include "../data/checkpoint.h"
#include "../nn/memory.h"
#include "../nn/parallel.h"
#include "../nn/tensor.h"


/* The encoder from a parsed checkpoint or encoder file. */
static int encoder_from_file(simclr_encoder *encoder, const safetensors_file *file,
                             const char *name, int random_init, size_t capacity,
                             simclr_error *err)
{
    const char *format = safetensors_metadata_value(file, "format");
    const safetensors_tensor *fc = safetensors_find(file, "fc.weight");
    const safetensors_tensor *hidden = safetensors_find(file, "projection_head.layers.0.weight");
    simclr_training training;
    int fine_tuned;
    resnet_config config;
    char shown[96];
    if (capacity == 0)
        return simclr_fail(err, "%s: an encoder for 0 images", name);
    if (format == NULL ||
        (strcmp(format, RUN_SETTINGS_CHECKPOINT_FORMAT) != 0 && strcmp(format, RUN_SETTINGS_ENCODER_FORMAT) != 0 &&
         strcmp(format, RUN_SETTINGS_FINETUNE_FORMAT) != 0))
        return simclr_fail(err, "%s: neither a checkpoint nor an encoder of this simclr-c "
                                "(format '%s')", name,
                           format != NULL ? simclr_escape(shown, sizeof shown, format) : "none");
    fine_tuned = strcmp(format, RUN_SETTINGS_FINETUNE_FORMAT) == 0;
    if (fine_tuned && (fc == NULL || fc->ndim != 2 || fc->shape[0] < 1 || fc->shape[0] > 1000000))
        return simclr_fail(err, "%s: a fine-tuned network without a classifier 'fc.weight' of "
                                "(classes, features)", name);
    if (run_settings_from_metadata(&training, file, name, run_settings_encoder_keys, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    config = training.model.encoder;
    config.in_channels = training.model.channels;
    config.num_classes = fine_tuned ? (size_t)fc->shape[0] : 0;
    if (simclr_encoder_create(encoder, &config,
                              fine_tuned && hidden != NULL && hidden->ndim == 2 ? hidden->shape[0] : 0,
                              &training.augment, training.model.seed, training.data, capacity,
                              err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (!random_init && checkpoint_load_store(&encoder->store, file, name, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    return SIMCLR_OK;
}

int simclr_encoder_create(simclr_encoder *encoder, const resnet_config *config, size_t hidden,
                          const aug_config *view, uint64_t seed, const char *data,
                          size_t capacity, simclr_error *err)
{
    resnet_config network = *config;
    size_t floats;
    if (capacity == 0)
        return simclr_fail(err, "encoder: a batch of 0 images");
    encoder->classes = config->num_classes;
    encoder->view = *view;
    encoder->channels = config->in_channels;
    encoder->seed = seed;
    encoder->capacity = capacity;
    snprintf(encoder->data, sizeof encoder->data, "%s", data);
    network.num_classes = 0; /* the classifier is nn/classifier.h's */
    if (resnet_plan(&encoder->net, &network, &encoder->store,
                    config->num_classes > 0 ? "" : "backbone.", err) != SIMCLR_OK ||
        (config->num_classes > 0 &&
         (classifier_plan(&encoder->head, encoder->net.feature_dim, hidden, config->num_classes,
                          &encoder->store, err) != SIMCLR_OK ||
          classifier_activations_create(&encoder->head_acts, &encoder->head, capacity, err) !=
              SIMCLR_OK)) ||
        param_store_allocate_inference(&encoder->store, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    /* the backbone's entries come first in a SimCLR model's table, so the (seed, "init")
     * stream gives them the same values as the run's step 0 */
    param_store_init_torchvision(&encoder->store, seed);
    if (tensor_element_count(4, (const size_t[4]){capacity, encoder->channels, view->size,
                                                  view->size},
                             &floats, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    encoder->inputs = simclr_calloc(floats, sizeof(float), "encoder: inputs", err);
    if (encoder->inputs == NULL)
        return SIMCLR_FAILED;
    return resnet_activations_create_inference(&encoder->acts, &encoder->net, capacity,
                                               view->size, view->size, err);
}

int simclr_encoder_load_bytes(simclr_encoder *encoder, const uint8_t *bytes, size_t size,
                              const char *name, int random_init, size_t capacity,
                              simclr_error *err)
{
    safetensors_file file;
    int status;
    memset(encoder, 0, sizeof *encoder);
    param_store_init(&encoder->store);
    if (safetensors_view(&file, bytes, size, name, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = encoder_from_file(encoder, &file, name, random_init, capacity, err);
    safetensors_free(&file);
    if (status != SIMCLR_OK)
        simclr_encoder_destroy(encoder);
    return status;
}

int simclr_encoder_load(simclr_encoder *encoder, const char *path, int random_init,
                        size_t capacity, simclr_error *err)
{
    safetensors_file file;
    int status;
    memset(encoder, 0, sizeof *encoder);
    param_store_init(&encoder->store);
    if (safetensors_read(&file, path, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = encoder_from_file(encoder, &file, path, random_init, capacity, err);
    safetensors_free(&file);
    if (status != SIMCLR_OK)
        simclr_encoder_destroy(encoder);
    return status;
}

void simclr_encoder_destroy(simclr_encoder *encoder)
{
    resnet_activations_destroy(&encoder->acts);
    classifier_activations_destroy(&encoder->head_acts);
    param_store_destroy(&encoder->store);
    simclr_free(encoder->scratch);
    simclr_free(encoder->inputs);
    memset(encoder, 0, sizeof *encoder);
}

/* Scratch for resizing, one slot of slot_floats per thread. */
static int encoder_scratch_for(simclr_encoder *encoder, size_t slot_floats, simclr_error *err)
{
    const int slots = parallel_thread_count();
    if (slot_floats == 0) /* every image already S × S */
        slot_floats = 1;
    if (encoder->scratch_floats >= (size_t)slots * slot_floats) {
        encoder->scratch_stride = encoder->scratch_floats / (size_t)slots;
        return SIMCLR_OK;
    }
    simclr_free(encoder->scratch); /* made for smaller images or fewer threads */
    encoder->scratch_floats = 0;
    encoder->scratch = simclr_calloc((size_t)slots * slot_floats, sizeof(float),
                                     "encoder: resize workspace", err);
    if (encoder->scratch == NULL)
        return SIMCLR_FAILED;
    encoder->scratch_floats = (size_t)slots * slot_floats;
    encoder->scratch_stride = slot_floats;
    return SIMCLR_OK;
}

/* The evaluation transform of one image into input row i: as it is when it is S × S; else the
 * centre view (centre = 1: resize the shorter side to ⌊S/0.875⌋, crop the centre S × S) or the
 * whole image resized to S × S (centre = 0); then normalised. Called inside a parallel loop. */
static void encoder_view(simclr_encoder *encoder, size_t i, const float *image, size_t height,
                         size_t width, int centre)
{
    const size_t C = encoder->channels, S = encoder->view.size;
    float *input = encoder->inputs + i * C * S * S;
    /* this thread's slot, sized for the largest image whatever this one's height, set before
     * the parallel loop (whose threads are at most the slots) */
    float *scratch = encoder->scratch + (size_t)parallel_thread_index() * encoder->scratch_stride;
    if (height == S && width == S) {
        memcpy(input, image, C * S * S * sizeof(float));
    } else if (centre) {
        aug_center_view(input, image, C, height, width, S, scratch);
    } else {
        const aug_crop whole = {0, 0, height, width};
        aug_resize(input, image, C, height, width, whole, S, S, scratch);
    }
    if (encoder->view.normalize)
        aug_normalize(input, C, S, S, encoder->view.mean, encoder->view.std);
}

/* f of the first n rows of encoder->inputs (the rest zeroed: each image is computed on its own
 * in evaluation mode, so padding changes nothing): h, or the classifier's scores. */
static void encoder_forward(simclr_encoder *encoder, float *features, size_t n, int scores)
{
    const size_t view_floats = encoder->channels * encoder->view.size * encoder->view.size;
    if (n < encoder->capacity)
        memset(encoder->inputs + n * view_floats, 0,
               (encoder->capacity - n) * view_floats * sizeof(float));
    resnet_forward(&encoder->acts, encoder->inputs, &encoder->net, &encoder->store, 0);
    if (scores) {
        classifier_forward(&encoder->head_acts, encoder->acts.features, encoder->capacity,
                           &encoder->head, &encoder->store, 0);
        memcpy(features, encoder->head_acts.scores, n * encoder->classes * sizeof(float));
    } else {
        memcpy(features, encoder->acts.features, n * encoder->net.feature_dim * sizeof(float));
    }
}

int simclr_encoder_embed(simclr_encoder *encoder, float *features, const float *images, size_t n,
                         size_t height, size_t width, simclr_error *err)
{
    const size_t image_floats = encoder->channels * height * width;
    const int slots = parallel_thread_count();
    long i;
    (void)slots; /* read only by the OpenMP pragma */
    if (n > encoder->capacity)
        return simclr_fail(err, "encoder: %lu images for an encoder of %lu", (unsigned long)n,
                           (unsigned long)encoder->capacity);
    if (height == 0 || width == 0)
        return simclr_fail(err, "encoder: images of %lux%lu pixels", (unsigned long)height,
                           (unsigned long)width);
    if (encoder_scratch_for(encoder, aug_resize_workspace_floats(encoder->channels, height,
                                                                 encoder->view.size),
                            err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    PARALLEL_FOR(num_threads(slots))
    for (i = 0; i < (long)n; i++)
        encoder_view(encoder, (size_t)i, images + (size_t)i * image_floats, height, width, 0);
    encoder_forward(encoder, features, n, 0);
    return SIMCLR_OK;
}

int simclr_encoder_export(const char *path, const simclr_encoder *encoder, simclr_error *err)
{
    safetensors_metadata metadata[RUN_SETTINGS_METADATA_MAX];
    simclr_training training;
    size_t count;
    memset(&training, 0, sizeof training);
    training.model.encoder = encoder->net.config;
    training.model.channels = encoder->channels;
    training.model.height = training.model.width = encoder->view.size;
    training.model.seed = encoder->seed;
    training.augment = encoder->view;
    strcpy(training.data, encoder->data);
    count = run_settings_to_metadata(metadata, RUN_SETTINGS_ENCODER_FORMAT, &training,
                                     run_settings_encoder_keys, 0, 0);
    return checkpoint_write(path, &encoder->store, "backbone.", NULL, NULL, metadata, count, err);
}

/* The scratch one thread needs for the evaluation views of every image of `data`: an image
 * folder's centre views read only the rows they keep, so a very tall image needs little. */
static size_t encoder_slot_floats(const simclr_encoder *encoder, const dataset *data)
{
    const size_t C = encoder->channels, S = encoder->view.size;
    size_t most = 0, i, floats;
    if (data->files == NULL)
        return aug_resize_workspace_floats(C, data->max_height, S);
    for (i = 0; i < data->count; i++) {
        const size_t height = data->files[i].height, width = data->files[i].width;
        floats = height == S && width == S ? 0 : aug_center_view_workspace_floats(C, height, width, S);
        most = floats > most ? floats : most;
    }
    return most;
}

/* h (scores 0) or the classifier's scores (1) of the first `limit` images of `data`. */
static int encoder_outputs(feature_set *features, simclr_encoder *encoder, const dataset *data,
                           size_t limit, int scores, simclr_error *err)
{
    const size_t batch = encoder->capacity;
    const size_t dim = scores ? encoder->classes : encoder->net.feature_dim;
    const size_t image_floats = data->files != NULL ? 0 : data->channels * data->max_pixels;
    const int centre = data->files != NULL, slots = parallel_thread_count();
    float *images;
    signed char *status;
    size_t start;
    long i;
    (void)slots; /* read only by the OpenMP pragma */
    if (data->channels != encoder->channels)
        return simclr_fail(err, "encoder: the data has %lu channels, the encoder takes %lu",
                           (unsigned long)data->channels, (unsigned long)encoder->channels);
    if (encoder_scratch_for(encoder, encoder_slot_floats(encoder, data), err) != SIMCLR_OK ||
        feature_set_create(features, data, limit, dim, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    images = simclr_calloc(batch * image_floats + 1, sizeof(float), "encoder: images", err);
    status = simclr_calloc(batch, 1, "encoder: image status", err);
    if (images == NULL || status == NULL) {
        simclr_free(images), simclr_free(status);
        feature_set_destroy(features);
        return SIMCLR_FAILED;
    }
    for (start = 0; start < features->count; start += batch) {
        const size_t rows = features->count - start < batch ? features->count - start : batch;
        size_t r;
        /* each image (decoded now, for an image folder) made into its evaluation view */
        PARALLEL_FOR_DYNAMIC(num_threads(slots))
        for (i = 0; i < (long)rows; i++) {
            const size_t index = start + (size_t)i;
            size_t height, width;
            float *image = data->files != NULL
                               ? dataset_image_new(data, index, &height, &width, NULL)
                               : images + (size_t)i * image_floats;
            if (data->files == NULL) { /* in memory: never fails */
                dataset_image_size(data, index, &height, &width);
                dataset_image(data, index, image, NULL);
            }
            status[i] = (signed char)(image != NULL ? 0 : -1);
            if (image != NULL)
                encoder_view(encoder, (size_t)i, image, height, width, centre);
            features->labels[index] = dataset_label(data, index);
            if (data->files != NULL)
                simclr_free(image);
        }
        for (r = 0; r < rows; r++)
            if (status[r] != 0) { /* the first failure in order, whatever the threads */
                dataset_image_failure(data, start + r, err);
                simclr_free(images), simclr_free(status);
                feature_set_destroy(features);
                return SIMCLR_FAILED;
            }
        encoder_forward(encoder, features->values + start * dim, rows, scores);
    }
    simclr_free(images);
    simclr_free(status);
    return SIMCLR_OK;
}

int simclr_encoder_features(feature_set *features, simclr_encoder *encoder, const dataset *data,
                            size_t limit, simclr_error *err)
{
    return encoder_outputs(features, encoder, data, limit, 0, err);
}

int simclr_encoder_scores(feature_set *scores, simclr_encoder *encoder, const dataset *data,
                          size_t limit, simclr_error *err)
{
    if (encoder->classes == 0)
        return simclr_fail(err, "encoder: this network has no classifier (an encoder of simclr "
                                "train or export; simclr finetune makes one)");
    return encoder_outputs(scores, encoder, data, limit, 1, err);
}

int simclr_encoder_copy_state(simclr_encoder *encoder, const param_store *store,
                              simclr_error *err)
{
    size_t i;
    for (i = 0; i < encoder->store.count; i++) {
        const param_entry *to = &encoder->store.entries[i];
        const param_entry *from = param_store_find(store, to->name);
        if (from == NULL || from->count != to->count || from->role != to->role)
            return simclr_fail(err, "encoder: the network has no tensor '%s' of %lu values",
                               to->name, (unsigned long)to->count);
        if (to->role == BUFFER_NUM_BATCHES_TRACKED)
            encoder->store.counters[to->offset] = store->counters[from->offset];
        else if (param_role_is_trainable(to->role))
            memcpy(encoder->store.params + to->offset, store->params + from->offset,
                   to->count * sizeof(float));
        else
            memcpy(encoder->store.buffers + to->offset, store->buffers + from->offset,
                   to->count * sizeof(float));
    }
    return SIMCLR_OK;
}

int simclr_encoder_classify(classification_report *report, simclr_encoder *encoder,
                            const dataset *data, size_t limit, simclr_error *err)
{
    feature_set scores;
    int status;
    memset(report, 0, sizeof *report);
    if (simclr_encoder_scores(&scores, encoder, data, limit, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = classification_report_compute(report, scores.values, scores.labels, scores.count,
                                           encoder->classes, err);
    feature_set_destroy(&scores);
    return status;
}

int simclr_encoder_open_splits(dataset *train, dataset *test, const char *source,
                               const char *test_source, const simclr_encoder *encoder,
                               simclr_error *err)
{
    if (dataset_open_splits(train, test, source, test_source, encoder->seed, encoder->channels,
                            err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if ((size_t)train->classes == encoder->classes)
        return SIMCLR_OK;
    dataset_close(train), dataset_close(test);
    return simclr_fail(err, "%s has %d classes, the network's classifier %lu", source,
                       train->classes, (unsigned long)encoder->classes);
}

int simclr_encoder_split_features(feature_set *train, feature_set *test, dataset *train_data,
                                  dataset *test_data, const char *source,
                                  const char *test_source, uint64_t seed,
                                  simclr_encoder *encoder, size_t train_limit,
                                  size_t test_limit, simclr_error *err)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (dataset_open_splits(train_data, test_data, source, test_source, seed,
                            encoder != NULL ? encoder->channels : 0, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if ((encoder == NULL
             ? features_from_pixels(train, train_data, train_limit, err) != SIMCLR_OK ||
                   features_from_pixels(test, test_data, test_limit, err) != SIMCLR_OK
             : simclr_encoder_features(train, encoder, train_data, train_limit, err) !=
                       SIMCLR_OK ||
                   simclr_encoder_features(test, encoder, test_data, test_limit, err) !=
                       SIMCLR_OK)) {
        feature_set_destroy(train);
        dataset_close(train_data);
        dataset_close(test_data);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int simclr_encoder_write_features(simclr_encoder *encoder, const char *source,
                                  const char *test_source, int split, const char *path,
                                  const char *checkpoint, size_t counts[2], simclr_error *err)
{
    dataset train_data, test_data;
    feature_set train, test;
    const feature_set *sets[2];
    const dataset *data[2];
    int status;
    if (source == NULL || source[0] == '\0')
        source = encoder->data;
    if (simclr_encoder_split_features(&train, &test, &train_data, &test_data, source,
                                      test_source, encoder->seed, encoder,
                                      split == SIMCLR_SPLIT_TEST ? 1 : 0,
                                      split == SIMCLR_SPLIT_TRAIN ? 1 : 0, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    sets[0] = split != SIMCLR_SPLIT_TEST ? &train : NULL;
    sets[1] = split != SIMCLR_SPLIT_TRAIN ? &test : NULL;
    data[0] = sets[0] != NULL ? &train_data : NULL;
    data[1] = sets[1] != NULL ? &test_data : NULL;
    status = feature_sets_write(path, sets, data, checkpoint, source,
                                test_source != NULL && test_source[0] ? test_source : source, err);
    counts[0] = sets[0] != NULL ? train.count : 0;
    counts[1] = sets[1] != NULL ? test.count : 0;
    feature_set_destroy(&train);
    feature_set_destroy(&test);
    dataset_close(&train_data);
    dataset_close(&test_data);
    return status;
}
