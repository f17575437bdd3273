/*
 * eval/encoder.c — the trained encoder f for embedding images; see encoder.h.
 */
#include "encoder.h"

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
    simclr_training training;
    resnet_config config;
    size_t floats;
    if (capacity == 0)
        return simclr_fail(err, "%s: an encoder for 0 images", name);
    if (format == NULL ||
        (strcmp(format, RUN_SETTINGS_CHECKPOINT_FORMAT) != 0 && strcmp(format, RUN_SETTINGS_ENCODER_FORMAT) != 0))
        return simclr_fail(err, "%s: neither a checkpoint nor an encoder of this simclr-c "
                                "(format '%s')", name, format != NULL ? format : "none");
    if (run_settings_from_metadata(&training, file, name, run_settings_encoder_keys, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    config = training.model.encoder;
    config.in_channels = training.model.channels;
    config.num_classes = 0;
    encoder->view = training.augment;
    encoder->channels = training.model.channels;
    encoder->seed = training.model.seed;
    encoder->capacity = capacity;
    strcpy(encoder->data, training.data);
    if (resnet_plan(&encoder->net, &config, &encoder->store, "backbone.", err) != SIMCLR_OK ||
        param_store_allocate_inference(&encoder->store, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    /* the backbone's entries come first in a SimCLR model's table, so the (seed, "init")
     * stream gives them the same values as the run's step 0 */
    param_store_init_torchvision(&encoder->store, encoder->seed);
    if (!random_init && checkpoint_load_store(&encoder->store, file, name, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (tensor_element_count(4, (const size_t[4]){capacity, encoder->channels, encoder->view.size,
                                                  encoder->view.size},
                             &floats, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    encoder->inputs = simclr_calloc(floats, sizeof(float), "simclr: encoder inputs", err);
    if (encoder->inputs == NULL)
        return SIMCLR_FAILED;
    return resnet_activations_create_inference(&encoder->acts, &encoder->net, capacity,
                                               encoder->view.size, encoder->view.size, err);
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
    param_store_destroy(&encoder->store);
    simclr_free(encoder->scratch);
    simclr_free(encoder->inputs);
    memset(encoder, 0, sizeof *encoder);
}

int simclr_encoder_embed(simclr_encoder *encoder, float *features, const float *images, size_t n,
                         size_t height, size_t width, simclr_error *err)
{
    const size_t C = encoder->channels, S = encoder->view.size, image_floats = C * height * width;
    const size_t view_floats = C * S * S, slot_floats = aug_resize_workspace_floats(C, height, S);
    const int slots = parallel_thread_count();
    float *inputs = encoder->inputs;
    long i;
    if (n > encoder->capacity)
        return simclr_fail(err, "simclr: %lu images for an encoder of %lu", (unsigned long)n,
                           (unsigned long)encoder->capacity);
    if (height == 0 || width == 0)
        return simclr_fail(err, "simclr: images of %lux%lu pixels", (unsigned long)height,
                           (unsigned long)width);
    if ((height != S || width != S) && encoder->scratch_floats < (size_t)slots * slot_floats) {
        simclr_free(encoder->scratch); /* made for smaller images or fewer threads */
        encoder->scratch_floats = 0;
        encoder->scratch = simclr_calloc((size_t)slots * slot_floats, sizeof(float),
                                         "simclr: resize workspace", err);
        if (encoder->scratch == NULL)
            return SIMCLR_FAILED;
        encoder->scratch_floats = (size_t)slots * slot_floats;
    }
    /* the evaluation transform of each image: resize when needed, normalise */
    PARALLEL_FOR(num_threads(slots))
    for (i = 0; i < (long)n; i++) {
        const float *image = images + (size_t)i * image_floats;
        float *input = inputs + (size_t)i * view_floats;
        if (height == S && width == S) {
            memcpy(input, image, view_floats * sizeof(float));
        } else {
            const aug_crop whole = {0, 0, height, width};
            aug_resize(input, image, C, height, width, whole, S, S,
                       encoder->scratch + (size_t)parallel_thread_index() * slot_floats);
        }
        if (encoder->view.normalize)
            aug_normalize(input, C, S, S, encoder->view.mean, encoder->view.std);
    }
    if (n < encoder->capacity)
        memset(inputs + n * view_floats, 0, (encoder->capacity - n) * view_floats * sizeof(float));
    resnet_forward(&encoder->acts, inputs, &encoder->net, &encoder->store, 0);
    memcpy(features, encoder->acts.features, n * encoder->net.feature_dim * sizeof(float));
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

int simclr_encoder_features(feature_set *features, simclr_encoder *encoder, const dataset *data,
                            size_t limit, simclr_error *err)
{
    const size_t image_floats = data->channels * data->height * data->width;
    const size_t batch = encoder->capacity, dim = encoder->net.feature_dim;
    float *images;
    size_t start;
    long i;
    if (data->channels != encoder->channels)
        return simclr_fail(err, "simclr: the data has %lu channels, the encoder takes %lu",
                           (unsigned long)data->channels, (unsigned long)encoder->channels);
    if (feature_set_create(features, data, limit, dim, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    images = simclr_calloc(batch * image_floats, sizeof(float), "simclr: images", err);
    if (images == NULL) {
        feature_set_destroy(features);
        return SIMCLR_FAILED;
    }
    for (start = 0; start < features->count; start += batch) {
        const size_t rows = features->count - start < batch ? features->count - start : batch;
        PARALLEL_FOR()
        for (i = 0; i < (long)rows; i++) {
            dataset_image(data, start + (size_t)i, images + (size_t)i * image_floats);
            features->labels[start + (size_t)i] = dataset_label(data, start + (size_t)i);
        }
        if (simclr_encoder_embed(encoder, features->values + start * dim, images, rows,
                                 data->height, data->width, err) != SIMCLR_OK) {
            simclr_free(images);
            feature_set_destroy(features);
            return SIMCLR_FAILED;
        }
    }
    simclr_free(images);
    return SIMCLR_OK;
}


int simclr_encoder_split_features(feature_set *train, feature_set *test, dataset *train_data,
                                  dataset *test_data, const char *source, uint64_t seed,
                                  simclr_encoder *encoder, size_t train_limit,
                                  size_t test_limit, simclr_error *err)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (dataset_open(train_data, source, 1, seed, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (dataset_open(test_data, source, 0, seed, err) != SIMCLR_OK) {
        dataset_close(train_data);
        return SIMCLR_FAILED;
    }
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


int simclr_encoder_write_features(simclr_encoder *encoder, const char *source, const char *path,
                                  const char *checkpoint, size_t counts[2], simclr_error *err)
{
    dataset train_data, test_data;
    feature_set train, test;
    int status;
    if (source == NULL)
        source = encoder->data;
    if (simclr_encoder_split_features(&train, &test, &train_data, &test_data, source,
                                      encoder->seed, encoder, 0, 0, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = feature_sets_write(path, &train, &test, checkpoint, source, err);
    counts[0] = train.count;
    counts[1] = test.count;
    feature_set_destroy(&train);
    feature_set_destroy(&test);
    dataset_close(&train_data);
    dataset_close(&test_data);
    return status;
}
