/*
 * simclr.c — SimCLR, the algorithm and the `simclr` program.
 *
 * Part 1, the algorithm (compiled into libsimclr.a with -DSIMCLR_LIBRARY_ONLY): the model —
 * encoder f(·) = ResNet, projection head g(·), contrastive loss, optimiser — and one step of the
 * paper's Algorithm 1:
 *     for a minibatch of N images, two augmented views each (x̃_0, x̃_1):
 *         h = f(x̃),  z = g(h)                      both views as one batch of 2N
 *         L = NT-Xent(z_0, z_1)                     (paper Eq. 1)
 *         update f and g to minimise L              (SGD or LARS)
 *
 * Part 2, the program (compiled into the `simclr` executable with -DSIMCLR_PROGRAM_ONLY): SimCLR
 * is trained and evaluated through this one program; each job is a subcommand with its own
 * --help. The library never prints or exits; part 2 is the only code that does: results on
 * stdout, progress and errors on stderr, exit status 0 only on success.
 *
 * Subcommands so far:
 *   simclr bench gemm [--n N] [--threads T] [--reps R] [--shape nn|tn|nt]
 *       single-precision GEMM throughput of the fast path, in GFLOP/s (best of R runs), to
 *       compare with ../shared/bench/openblas_sgemm.py on the same machine.
 *   simclr bench step [--arch A] [--stem S] [--batch N] [--threads T] ...
 *       one full SimCLR training step, in views per second, with the peak resident memory, to
 *       compare with ../shared/bench/torch_step.py.
 *   simclr bench augment [--preset P] [--n N] [--threads T]
 *       views per second of the augmentation pipeline.
 *   simclr bench conv [--batch B] [--in C] [--out O] [--size H] [--kernel K] [--stride S] ...
 *       one convolution layer, forward and backward, in GFLOP/s.
 *   simclr bench data [--data SRC] [--threads T]
 *       opening a dataset and turning an epoch of it into floats, in images per second.
 *   simclr augment --out FILE.png [--data builtin:shapes] [--n 8] [--views 6] [--preset P] ...
 *       a preview grid: one row per image, the original and several augmented views.
 */
#if defined(__unix__) || defined(__APPLE__)
#define _XOPEN_SOURCE 700 /* clock_gettime and getrusage, for timing and memory reports only */
#endif

#include "simclr.h"

#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ========================================================================================== */
/* Part 1: the algorithm                                                                      */
/* ========================================================================================== */
#ifndef SIMCLR_PROGRAM_ONLY

simclr_config simclr_config_default(void)
{
    simclr_config config;
    memset(&config, 0, sizeof config);
    config.encoder.arch = RESNET18;
    config.encoder.stem = STEM_CIFAR;
    config.encoder.width = 1.0;
    config.encoder.in_channels = 3;
    config.encoder.num_classes = 0;
    config.head = projection_head_default(0);
    config.loss = contrastive_loss_default();
    config.optimizer.kind = OPTIMIZER_SGD;
    config.optimizer.momentum = 0.9f;
    config.optimizer.weight_decay = 5e-4f;
    config.optimizer.lars_eta = 0.001f;
    config.seed = 0;
    config.batch = 64;
    config.channels = 3;
    config.height = 32;
    config.width = 32;
    return config;
}

int simclr_model_create(simclr_model *model, const simclr_config *config, simclr_error *err)
{
    const size_t views = 2 * config->batch;
    size_t loss_floats, view_floats;
    memset(model, 0, sizeof *model);
    model->config = *config;
    model->config.encoder.num_classes = 0;
    model->config.encoder.in_channels = config->channels;
    param_store_init(&model->store);
    if (config->batch == 0)
        return simclr_fail(err, "simclr: the batch must hold at least one image");
    if (resnet_plan(&model->encoder, &model->config.encoder, &model->store, "backbone.", err) !=
        SIMCLR_OK)
        goto failed;
    model->config.head.in_dim = model->encoder.feature_dim;
    if (model->config.head.hidden_dim == 0)
        model->config.head.hidden_dim = model->encoder.feature_dim;
    if (model->config.head.out_dim == 0)
        model->config.head.out_dim = 128;
    if (projection_head_plan(&model->head, &model->config.head, &model->store,
                             "projection_head.", err) != SIMCLR_OK ||
        param_store_allocate(&model->store, err) != SIMCLR_OK)
        goto failed;
    param_store_init_torchvision(&model->store, config->seed);
    if (resnet_activations_create(&model->encoder_acts, &model->encoder, views, config->height,
                                  config->width, err) != SIMCLR_OK ||
        head_activations_create(&model->head_acts, &model->head, views, err) != SIMCLR_OK ||
        contrastive_cache_floats(config->batch, model->config.head.out_dim, &loss_floats, err) !=
            SIMCLR_OK ||
        tensor_element_count(4, (const size_t[4]){views, config->channels, config->height,
                                                  config->width},
                             &view_floats, err) != SIMCLR_OK)
        goto failed;
    model->loss_memory = simclr_calloc(loss_floats, sizeof(float), "simclr: loss cache", err);
    model->views = simclr_calloc(view_floats, sizeof(float), "simclr: views", err);
    if (model->loss_memory == NULL || model->views == NULL ||
        optimizer_create(&model->opt, &model->config.optimizer, &model->store, err) != SIMCLR_OK)
        goto failed;
    contrastive_cache_bind(&model->loss_cache, model->loss_memory, config->batch,
                           model->config.head.out_dim);
    return SIMCLR_OK;
failed:
    simclr_model_destroy(model);
    return SIMCLR_FAILED;
}

void simclr_model_destroy(simclr_model *model)
{
    resnet_activations_destroy(&model->encoder_acts);
    head_activations_destroy(&model->head_acts);
    optimizer_destroy(&model->opt);
    simclr_free(model->loss_memory);
    simclr_free(model->views);
    param_store_destroy(&model->store);
    memset(model, 0, sizeof *model);
}

float simclr_train_step(simclr_model *model, float lr)
{
    const size_t N = model->config.batch, d = model->config.head.out_dim;
    const size_t features = model->encoder.feature_dim;
    float loss;
    memset(model->store.grads, 0, model->store.param_floats * sizeof(float));

    /* h = f(x̃), z = g(h) for the 2N views */
    resnet_forward(&model->encoder_acts, model->views, &model->encoder, &model->store, 1);
    projection_head_forward(&model->head_acts, model->encoder_acts.features, &model->head,
                            &model->store, 1);
    /* L = NT-Xent(z_0, z_1): rows 0..N-1 are view 0, rows N..2N-1 view 1 */
    loss = contrastive_loss_forward(&model->loss_cache, model->head_acts.output,
                                    model->head_acts.output + N * d, &model->config.loss, N, d);
    /* ∂L/∂z, then back through g and f */
    contrastive_loss_backward(model->head_acts.grad_output, model->head_acts.grad_output + N * d,
                              &model->loss_cache, &model->config.loss, N, d);
    projection_head_backward(&model->head_acts, &model->head, &model->store);
    memcpy(model->encoder_acts.grad_features, model->head_acts.grad_input,
           2 * N * features * sizeof(float));
    resnet_backward(&model->encoder_acts, &model->encoder, &model->store);
    optimizer_step(&model->opt, &model->store, lr);
    model->step++;
    return loss;
}

/* ------------------------------------------------------------------------------------------ */
/* Training runs and checkpoints                                                              */
/* ------------------------------------------------------------------------------------------ */

size_t simclr_steps_per_epoch(size_t images, size_t batch)
{
    return batch == 0 ? 0 : images / batch;
}

lr_schedule simclr_training_schedule(const simclr_training *training, size_t images)
{
    lr_schedule schedule;
    const size_t per_epoch = simclr_steps_per_epoch(images, training->model.batch);
    schedule.base_lr = training->base_lr;
    schedule.scaling = training->scaling;
    schedule.batch = training->model.batch;
    schedule.warmup_steps = (size_t)(training->warmup_epochs * (double)per_epoch + 0.5);
    schedule.total_steps = per_epoch * training->epochs;
    return schedule;
}

#define CHECKPOINT_FORMAT "simclr-c checkpoint 1"
#define CHECKPOINT_MAX_METADATA 48

/* Appends key = formatted value to the metadata table. */
static void metadata_put(safetensors_metadata *table, size_t *count, const char *key,
                         const char *format, ...)
{
    va_list args;
    if (*count >= CHECKPOINT_MAX_METADATA)
        return;
    strncpy(table[*count].key, key, sizeof table[*count].key - 1);
    table[*count].key[sizeof table[*count].key - 1] = '\0';
    va_start(args, format);
    vsnprintf(table[*count].value, sizeof table[*count].value, format, args);
    va_end(args);
    *count += 1;
}

/* The metadata of a run: every field of simclr_training, then the progress. Floats are written
 * with 9 significant digits and doubles with 17, so they read back to the same bits. */
static size_t training_metadata(safetensors_metadata *table, const simclr_training *t,
                                size_t epoch, size_t step)
{
    const simclr_config *m = &t->model;
    const aug_config *a = &t->augment;
    size_t count = 0;
    metadata_put(table, &count, "format", "%s", CHECKPOINT_FORMAT);
    metadata_put(table, &count, "arch", "%s", resnet_arch_name(m->encoder.arch));
    metadata_put(table, &count, "stem", "%s", resnet_stem_name(m->encoder.stem));
    metadata_put(table, &count, "width", "%.17g", m->encoder.width);
    metadata_put(table, &count, "channels", "%lu", (unsigned long)m->channels);
    metadata_put(table, &count, "image_size", "%lu", (unsigned long)m->height);
    metadata_put(table, &count, "head_layers", "%lu", (unsigned long)m->head.num_layers);
    metadata_put(table, &count, "hidden", "%lu", (unsigned long)m->head.hidden_dim);
    metadata_put(table, &count, "out_dim", "%lu", (unsigned long)m->head.out_dim);
    metadata_put(table, &count, "head_batch_norm", "%d", m->head.batch_norm);
    metadata_put(table, &count, "loss", "%s", contrastive_loss_name(m->loss.kind));
    metadata_put(table, &count, "temperature", "%.9g", (double)m->loss.temperature);
    metadata_put(table, &count, "margin", "%.9g", (double)m->loss.margin);
    metadata_put(table, &count, "optimizer", "%s", optimizer_name(m->optimizer.kind));
    metadata_put(table, &count, "momentum", "%.9g", (double)m->optimizer.momentum);
    metadata_put(table, &count, "weight_decay", "%.9g", (double)m->optimizer.weight_decay);
    metadata_put(table, &count, "lars_eta", "%.9g", (double)m->optimizer.lars_eta);
    metadata_put(table, &count, "seed", "%llu", (unsigned long long)m->seed);
    metadata_put(table, &count, "batch", "%lu", (unsigned long)m->batch);
    metadata_put(table, &count, "preset", "%s", t->preset);
    metadata_put(table, &count, "aug_size", "%lu", (unsigned long)a->size);
    metadata_put(table, &count, "aug_scale", "%.17g,%.17g", a->min_scale, a->max_scale);
    metadata_put(table, &count, "aug_ratio", "%.17g,%.17g", a->min_ratio, a->max_ratio);
    metadata_put(table, &count, "aug_flip", "%.9g,%.9g", (double)a->p_hflip, (double)a->p_vflip);
    metadata_put(table, &count, "aug_jitter", "%.9g,%.9g", (double)a->p_jitter,
                 (double)a->strength);
    metadata_put(table, &count, "aug_gray", "%.9g", (double)a->p_gray);
    metadata_put(table, &count, "aug_blur", "%.9g,%.9g,%.9g", (double)a->p_blur,
                 (double)a->blur_sigma_min, (double)a->blur_sigma_max);
    metadata_put(table, &count, "aug_normalize", "%d", a->normalize);
    metadata_put(table, &count, "aug_mean", "%.9g,%.9g,%.9g", (double)a->mean[0],
                 (double)a->mean[1], (double)a->mean[2]);
    metadata_put(table, &count, "aug_std", "%.9g,%.9g,%.9g", (double)a->std[0], (double)a->std[1],
                 (double)a->std[2]);
    metadata_put(table, &count, "data", "%s", t->data);
    metadata_put(table, &count, "limit", "%lu", (unsigned long)t->limit);
    metadata_put(table, &count, "epochs", "%lu", (unsigned long)t->epochs);
    metadata_put(table, &count, "lr", "%.17g", t->base_lr);
    metadata_put(table, &count, "lr_scaling", "%s", t->scaling == LR_SCALING_SQRT ? "sqrt" : "linear");
    metadata_put(table, &count, "warmup_epochs", "%.17g", t->warmup_epochs);
    metadata_put(table, &count, "epoch", "%lu", (unsigned long)epoch);
    metadata_put(table, &count, "step", "%lu", (unsigned long)step);
    return count;
}

int simclr_checkpoint_write(const char *path, const simclr_model *model,
                            const simclr_training *training, size_t epoch, const float *history,
                            simclr_error *err)
{
    const param_store *store = &model->store;
    const size_t step = model->step;
    safetensors_metadata metadata[CHECKPOINT_MAX_METADATA];
    safetensors_entry *entries;
    char (*names)[SAFETENSORS_NAME_MAX];
    size_t count = 0, trainable = 0, i, metadata_count;
    int status;
    for (i = 0; i < store->count; i++)
        trainable += param_role_is_trainable(store->entries[i].role);
    entries = simclr_calloc(store->count + trainable + 3, sizeof *entries, "checkpoint: table",
                            err);
    names = simclr_calloc(trainable + 1, sizeof *names, "checkpoint: names", err);
    if (entries == NULL || names == NULL) {
        simclr_free(entries);
        simclr_free(names);
        return SIMCLR_FAILED;
    }
    /* the model's state, in torchvision's order */
    for (i = 0; i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        safetensors_entry *out = &entries[count++];
        out->name = e->name;
        out->ndim = e->ndim;
        memcpy(out->shape, e->shape, sizeof e->shape);
        if (e->role == BUFFER_NUM_BATCHES_TRACKED)
            out->i64 = store->counters + e->offset;
        else if (param_role_is_trainable(e->role))
            out->f32 = store->params + e->offset;
        else
            out->f32 = store->buffers + e->offset;
    }
    /* the optimiser's velocity, parameter by parameter */
    for (i = 0; i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        safetensors_entry *out;
        if (!param_role_is_trainable(e->role))
            continue;
        out = &entries[count];
        snprintf(names[count - store->count], SAFETENSORS_NAME_MAX, "optimizer.%s.momentum",
                 e->name);
        out->name = names[count - store->count];
        out->ndim = e->ndim;
        memcpy(out->shape, e->shape, sizeof e->shape);
        out->f32 = model->opt.velocity + e->offset;
        count++;
    }
    if (step > 0) {
        static const char *const log_names[3] = {"log.loss", "log.learning_rate",
                                                 "log.views_per_second"};
        for (i = 0; i < 3; i++) {
            safetensors_entry *out = &entries[count++];
            out->name = log_names[i];
            out->ndim = 1;
            out->shape[0] = step;
            out->f32 = history + i * step;
        }
    }
    metadata_count = training_metadata(metadata, training, epoch, step);
    status = safetensors_write(path, entries, count, metadata, metadata_count, err);
    simclr_free(entries);
    simclr_free(names);
    return status;
}

/* Reads metadata `key` as text; fails naming the file when it is missing. */
static const char *metadata_text(const safetensors_file *file, const char *path, const char *key,
                                 simclr_error *err)
{
    const char *value = safetensors_metadata_value(file, key);
    if (value == NULL)
        simclr_fail(err, "%s: the checkpoint's metadata has no '%s'", path, key);
    return value;
}

/* Reads `count` comma-separated numbers of metadata `key`. */
static int metadata_numbers(const safetensors_file *file, const char *path, const char *key,
                            double *values, size_t count, simclr_error *err)
{
    const char *text = metadata_text(file, path, key, err);
    size_t i;
    if (text == NULL)
        return SIMCLR_FAILED;
    for (i = 0; i < count; i++) {
        char *end;
        values[i] = strtod(text, &end);
        if (end == text || (i + 1 < count ? *end != ',' : *end != '\0'))
            return simclr_fail(err, "%s: metadata '%s' = '%s' is not %lu number(s)", path, key,
                               safetensors_metadata_value(file, key), (unsigned long)count);
        text = end + 1;
    }
    return SIMCLR_OK;
}

/* A whole number in [0, limit]. */
static int metadata_size(const safetensors_file *file, const char *path, const char *key,
                         size_t limit, size_t *value, simclr_error *err)
{
    double number;
    if (metadata_numbers(file, path, key, &number, 1, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (!(number >= 0.0 && number <= (double)limit) || number != floor(number))
        return simclr_fail(err, "%s: metadata '%s' = %g is out of range", path, key, number);
    *value = (size_t)number;
    return SIMCLR_OK;
}

int simclr_checkpoint_training(const safetensors_file *file, const char *path,
                               simclr_training *t, size_t *epoch, size_t *step, simclr_error *err)
{
    simclr_config *m = &t->model;
    aug_config *a = &t->augment;
    const char *text;
    double v[3];
    size_t n = 0;
    memset(t, 0, sizeof *t);
    *m = simclr_config_default();
    text = metadata_text(file, path, "format", err);
    if (text == NULL)
        return SIMCLR_FAILED;
    if (strcmp(text, CHECKPOINT_FORMAT) != 0)
        return simclr_fail(err, "%s: not a simclr-c checkpoint (format '%s')", path, text);
#define NEED(call)                      \
    do {                                \
        if ((call) != SIMCLR_OK)        \
            return SIMCLR_FAILED;       \
    } while (0)
#define NEED_TEXT(key, parse)                                                   \
    do {                                                                        \
        text = metadata_text(file, path, key, err);                             \
        if (text == NULL || (parse) != SIMCLR_OK)                               \
            return text == NULL ? SIMCLR_FAILED                                 \
                                : simclr_fail(err, "%s: metadata '%s': %s", path, key, \
                                              err->message);                    \
    } while (0)
    NEED_TEXT("arch", resnet_arch_parse(text, &m->encoder.arch, err));
    NEED_TEXT("stem", resnet_stem_parse(text, &m->encoder.stem, err));
    NEED(metadata_numbers(file, path, "width", &m->encoder.width, 1, err));
    if (!(m->encoder.width > 0.0 && m->encoder.width <= 64.0))
        return simclr_fail(err, "%s: metadata 'width' is out of range", path);
    NEED(metadata_size(file, path, "channels", 3, &m->channels, err));
    NEED(metadata_size(file, path, "image_size", 4096, &m->height, err));
    m->width = m->height;
    NEED(metadata_size(file, path, "head_layers", HEAD_MAX_LAYERS, &m->head.num_layers, err));
    NEED(metadata_size(file, path, "hidden", 1u << 20, &m->head.hidden_dim, err));
    NEED(metadata_size(file, path, "out_dim", 1u << 20, &m->head.out_dim, err));
    NEED(metadata_size(file, path, "head_batch_norm", 1, &n, err));
    m->head.batch_norm = (int)n;
    NEED_TEXT("loss", contrastive_loss_parse(text, &m->loss.kind, err));
    NEED(metadata_numbers(file, path, "temperature", v, 1, err));
    m->loss.temperature = (float)v[0];
    NEED(metadata_numbers(file, path, "margin", v, 1, err));
    m->loss.margin = (float)v[0];
    NEED_TEXT("optimizer", optimizer_parse(text, &m->optimizer.kind, err));
    NEED(metadata_numbers(file, path, "momentum", v, 1, err));
    m->optimizer.momentum = (float)v[0];
    NEED(metadata_numbers(file, path, "weight_decay", v, 1, err));
    m->optimizer.weight_decay = (float)v[0];
    NEED(metadata_numbers(file, path, "lars_eta", v, 1, err));
    m->optimizer.lars_eta = (float)v[0];
    text = metadata_text(file, path, "seed", err);
    if (text == NULL)
        return SIMCLR_FAILED;
    {
        char *end;
        unsigned long long seed;
        errno = 0;
        seed = strtoull(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0')
            return simclr_fail(err, "%s: metadata 'seed' = '%s' is not a seed", path, text);
        m->seed = (uint64_t)seed;
    }
    NEED(metadata_size(file, path, "batch", 1u << 24, &m->batch, err));
    if (m->batch == 0)
        return simclr_fail(err, "%s: metadata 'batch' is 0", path);
    text = metadata_text(file, path, "preset", err);
    if (text == NULL)
        return SIMCLR_FAILED;
    NEED(aug_config_preset(a, text, err));
    strncpy(t->preset, text, sizeof t->preset - 1);
    NEED(metadata_size(file, path, "aug_size", 4096, &a->size, err));
    NEED(metadata_numbers(file, path, "aug_scale", v, 2, err));
    a->min_scale = v[0];
    a->max_scale = v[1];
    NEED(metadata_numbers(file, path, "aug_ratio", v, 2, err));
    a->min_ratio = v[0];
    a->max_ratio = v[1];
    NEED(metadata_numbers(file, path, "aug_flip", v, 2, err));
    a->p_hflip = (float)v[0];
    a->p_vflip = (float)v[1];
    NEED(metadata_numbers(file, path, "aug_jitter", v, 2, err));
    a->p_jitter = (float)v[0];
    a->strength = (float)v[1];
    NEED(metadata_numbers(file, path, "aug_gray", v, 1, err));
    a->p_gray = (float)v[0];
    NEED(metadata_numbers(file, path, "aug_blur", v, 3, err));
    a->p_blur = (float)v[0];
    a->blur_sigma_min = (float)v[1];
    a->blur_sigma_max = (float)v[2];
    NEED(metadata_size(file, path, "aug_normalize", 1, &n, err));
    a->normalize = (int)n;
    NEED(metadata_numbers(file, path, "aug_mean", v, 3, err));
    a->mean[0] = (float)v[0];
    a->mean[1] = (float)v[1];
    a->mean[2] = (float)v[2];
    NEED(metadata_numbers(file, path, "aug_std", v, 3, err));
    a->std[0] = (float)v[0];
    a->std[1] = (float)v[1];
    a->std[2] = (float)v[2];
    text = metadata_text(file, path, "data", err);
    if (text == NULL)
        return SIMCLR_FAILED;
    if (strlen(text) >= sizeof t->data)
        return simclr_fail(err, "%s: metadata 'data' is too long", path);
    strcpy(t->data, text);
    NEED(metadata_size(file, path, "limit", (size_t)-1 / 4, &t->limit, err));
    NEED(metadata_size(file, path, "epochs", 1u << 24, &t->epochs, err));
    NEED(metadata_numbers(file, path, "lr", &t->base_lr, 1, err));
    NEED_TEXT("lr_scaling", lr_scaling_parse(text, &t->scaling, err));
    NEED(metadata_numbers(file, path, "warmup_epochs", &t->warmup_epochs, 1, err));
    NEED(metadata_size(file, path, "epoch", t->epochs, epoch, err));
    NEED(metadata_size(file, path, "step", (size_t)-1 / 4, step, err));
#undef NEED
#undef NEED_TEXT
    if (m->height != a->size)
        return simclr_fail(err, "%s: image_size %lu differs from aug_size %lu", path,
                           (unsigned long)m->height, (unsigned long)a->size);
    return SIMCLR_OK;
}

/* Checks that a file's tensor has the entry's dtype and shape. */
static int tensor_matches(const safetensors_tensor *stored, const param_entry *entry,
                          safetensors_dtype dtype, const char *path, simclr_error *err)
{
    int d;
    if (stored->dtype != dtype || stored->ndim != entry->ndim)
        return simclr_fail(err, "%s: tensor '%s' has the wrong dtype or rank", path, entry->name);
    for (d = 0; d < entry->ndim; d++)
        if (stored->shape[d] != entry->shape[d])
            return simclr_fail(err, "%s: tensor '%s' has dimension %d of %lu, the model %lu",
                               path, entry->name, d, (unsigned long)stored->shape[d],
                               (unsigned long)entry->shape[d]);
    return SIMCLR_OK;
}

int simclr_store_load(param_store *store, const safetensors_file *file, const char *path,
                      simclr_error *err)
{
    size_t i;
    for (i = 0; i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        const safetensors_tensor *stored = safetensors_find(file, e->name);
        if (stored == NULL)
            return simclr_fail(err, "%s: the model's tensor '%s' is missing", path, e->name);
        if (e->role == BUFFER_NUM_BATCHES_TRACKED) {
            const uint8_t *bytes;
            uint64_t value = 0;
            int b;
            if (tensor_matches(stored, e, ST_I64, path, err) != SIMCLR_OK)
                return SIMCLR_FAILED;
            bytes = file->data + stored->begin;
            for (b = 7; b >= 0; b--)
                value = value << 8 | bytes[b];
            store->counters[e->offset] = (int64_t)value;
            continue;
        }
        if (tensor_matches(stored, e, ST_F32, path, err) != SIMCLR_OK ||
            safetensors_copy_f32(file, stored,
                                 param_role_is_trainable(e->role) ? store->params + e->offset
                                                                  : store->buffers + e->offset,
                                 err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int simclr_checkpoint_restore(simclr_model *model, const safetensors_file *file, const char *path,
                              float *history, simclr_error *err)
{
    simclr_training training;
    size_t epoch, step, i;
    char name[SAFETENSORS_NAME_MAX + 32];
    if (simclr_checkpoint_training(file, path, &training, &epoch, &step, err) != SIMCLR_OK ||
        simclr_store_load(&model->store, file, path, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    for (i = 0; i < model->store.count; i++) {
        const param_entry *e = &model->store.entries[i];
        const safetensors_tensor *stored;
        if (!param_role_is_trainable(e->role))
            continue;
        snprintf(name, sizeof name, "optimizer.%s.momentum", e->name);
        stored = safetensors_find(file, name);
        if (stored == NULL)
            return simclr_fail(err, "%s: the optimiser state '%s' is missing", path, name);
        if (tensor_matches(stored, e, ST_F32, path, err) != SIMCLR_OK ||
            safetensors_copy_f32(file, stored, model->opt.velocity + e->offset, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    if (history != NULL && step > 0) {
        static const char *const log_names[3] = {"log.loss", "log.learning_rate",
                                                 "log.views_per_second"};
        for (i = 0; i < 3; i++) {
            const safetensors_tensor *stored = safetensors_find(file, log_names[i]);
            if (stored == NULL || stored->dtype != ST_F32 || stored->ndim != 1 ||
                stored->shape[0] != step)
                return simclr_fail(err, "%s: '%s' is missing or not %lu floats", path,
                                   log_names[i], (unsigned long)step);
            if (safetensors_copy_f32(file, stored, history + i * step, err) != SIMCLR_OK)
                return SIMCLR_FAILED;
        }
    }
    model->step = step;
    return SIMCLR_OK;
}

#endif /* SIMCLR_PROGRAM_ONLY */

/* ========================================================================================== */
/* Part 2: the program                                                                        */
/* ========================================================================================== */
#ifndef SIMCLR_LIBRARY_ONLY

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#endif

/* ------------------------------------------------------------------------------------------ */
/* Small helpers of the command line                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Wall-clock seconds from an arbitrary origin. */
static double wall_seconds(void)
{
#if defined(_OPENMP)
    return omp_get_wtime();
#elif defined(CLOCK_MONOTONIC)
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
#else
    return (double)clock() / CLOCKS_PER_SEC; /* processor time: the best plain C99 offers */
#endif
}

/* Peak resident memory of this process in MiB, or -1 where the platform cannot tell. */
static double peak_memory_mib(void)
{
#if defined(__unix__) || defined(__APPLE__)
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0)
        return -1.0;
#if defined(__APPLE__)
    return (double)usage.ru_maxrss / (1024.0 * 1024.0); /* bytes on macOS */
#else
    return (double)usage.ru_maxrss / 1024.0; /* KiB on Linux and the BSDs */
#endif
#else
    return -1.0;
#endif
}

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

/* Parses a whole decimal integer in [min, max]; prints the reason and returns 0 on failure. */
static int parse_long(const char *flag, const char *text, long min, long max, long *value)
{
    char *end;
    long parsed;
    errno = 0;
    parsed = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < min || parsed > max) {
        fprintf(stderr, "simclr: %s wants a whole number from %ld to %ld, not '%s'\n", flag, min,
                max, text);
        return 0;
    }
    *value = parsed;
    return 1;
}

/* The value after flag argv[*i], advancing *i; prints the reason and returns NULL if missing. */
static const char *flag_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "simclr: %s needs a value\n", argv[*i]);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench gemm                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char bench_gemm_usage[] =
    "usage: simclr bench gemm [--n N] [--threads T] [--reps R] [--shape nn|tn|nt]\n"
    "\n"
    "Times C = A·B (or Aᵀ·B, A·Bᵀ) for N×N single-precision matrices with the library's fast\n"
    "GEMM and prints the best of R runs in GFLOP/s (2·N³ floating-point operations per run).\n"
    "\n"
    "  --n N          matrix size (default 1024)\n"
    "  --threads T    OpenMP threads (default: all the machine offers; 1 without OpenMP)\n"
    "  --reps R       timed runs after one warm-up run (default 5)\n"
    "  --shape S      nn: A·B, tn: Aᵀ·B, nt: A·Bᵀ (default nn)\n"
    "\n"
    "Compare with: python3 ../shared/bench/openblas_sgemm.py --n N --threads T\n";

static int bench_gemm(int argc, char **argv)
{
    long n = 1024, threads = parallel_thread_count(), reps = 5;
    gemm_transpose transpose_a = GEMM_NORMAL, transpose_b = GEMM_NORMAL;
    const char *shape = "nn";
    size_t count, workspace_floats, k;
    float *a = NULL, *b = NULL, *c = NULL, *workspace = NULL;
    double best = 0.0;
    simclr_error err;
    rng random;
    long r;
    int i;

    for (i = 0; i < argc; i++) {
        const char *value;
        if (is_help(argv[i])) {
            fputs(bench_gemm_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--n") == 0) {
            if ((value = flag_value(argc, argv, &i)) == NULL ||
                !parse_long("--n", value, 1, 16384, &n))
                return 2;
        } else if (strcmp(argv[i], "--threads") == 0) {
            if ((value = flag_value(argc, argv, &i)) == NULL ||
                !parse_long("--threads", value, 1, 1024, &threads))
                return 2;
        } else if (strcmp(argv[i], "--reps") == 0) {
            if ((value = flag_value(argc, argv, &i)) == NULL ||
                !parse_long("--reps", value, 1, 1000, &reps))
                return 2;
        } else if (strcmp(argv[i], "--shape") == 0) {
            if ((value = flag_value(argc, argv, &i)) == NULL)
                return 2;
            if (strcmp(value, "nn") != 0 && strcmp(value, "tn") != 0 && strcmp(value, "nt") != 0) {
                fprintf(stderr, "simclr: --shape wants nn, tn or nt, not '%s'\n", value);
                return 2;
            }
            shape = value;
            transpose_a = value[0] == 't' ? GEMM_TRANSPOSED : GEMM_NORMAL;
            transpose_b = value[1] == 't' ? GEMM_TRANSPOSED : GEMM_NORMAL;
        } else {
            fprintf(stderr, "simclr: bench gemm: unknown argument '%s'\n%s", argv[i],
                    bench_gemm_usage);
            return 2;
        }
    }
    parallel_set_thread_count((int)threads);

    count = (size_t)n * (size_t)n;
    if (gemm_workspace_floats((size_t)n, (size_t)n, (size_t)n, &workspace_floats, &err) !=
        SIMCLR_OK) {
        fprintf(stderr, "simclr: bench gemm: %s\n", err.message);
        return 1;
    }
    a = (float *)malloc(count * sizeof(float));
    b = (float *)malloc(count * sizeof(float));
    c = (float *)malloc(count * sizeof(float));
    workspace = (float *)malloc(workspace_floats * sizeof(float));
    if (a == NULL || b == NULL || c == NULL || workspace == NULL) {
        fprintf(stderr, "simclr: bench gemm: out of memory for n=%ld\n", n);
        free(a), free(b), free(c), free(workspace);
        return 1;
    }
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 0, 0, 0);
    for (k = 0; k < count; k++) {
        a[k] = rng_uniform(&random);
        b[k] = rng_uniform(&random);
    }

    for (r = -1; r < reps; r++) { /* r == -1 is the untimed warm-up */
        double start = wall_seconds(), seconds;
        gemm(transpose_a, transpose_b, (size_t)n, (size_t)n, (size_t)n, 1.0f, a, (size_t)n, b,
             (size_t)n, 0.0f, c, (size_t)n, workspace);
        seconds = wall_seconds() - start;
        if (r >= 0 && (best == 0.0 || seconds < best))
            best = seconds;
    }
    printf("gemm n=%ld shape=%s threads=%d gflops=%.1f (best of %ld, tile %dx%d)\n", n, shape,
           parallel_thread_count(), 2.0 * (double)n * (double)n * (double)n / best / 1e9, reps,
           GEMM_MR, GEMM_NR);
    free(a), free(b), free(c), free(workspace);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench step                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char bench_step_usage[] =
    "usage: simclr bench step [--arch A] [--stem S] [--batch N] [--threads T] [--size P]\n"
    "                         [--channels C] [--width W] [--steps K]\n"
    "\n"
    "Times one full SimCLR training step — 2N views through the ResNet encoder and the\n"
    "projection head, NT-Xent, backward, SGD update — on random views, and prints the median\n"
    "of K timed steps (after 2 untimed ones) as views per second, with the peak resident memory.\n"
    "The settings match ../shared/bench/torch_step.py: SGD lr 0.06, momentum 0.9, weight decay\n"
    "5e-4, head Linear-BN-ReLU-Linear-BN with 128 outputs, temperature 0.5.\n"
    "\n"
    "  --arch A       resnet18 | resnet34 | resnet50 (default resnet18)\n"
    "  --stem S       cifar | imagenet (default cifar)\n"
    "  --batch N      images per step, 2N views (default 64)\n"
    "  --threads T    OpenMP threads (default: all)\n"
    "  --size P       view side in pixels (default 32)\n"
    "  --channels C   view channels (default 3)\n"
    "  --width W      channel width multiplier (default 1)\n"
    "  --steps K      timed steps (default 5)\n"
    "\n"
    "Compare with: python3 ../shared/bench/torch_step.py --arch A --stem S --batch N --threads T\n";

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_step(int argc, char **argv)
{
    simclr_config config = simclr_config_default();
    long batch = 64, threads = parallel_thread_count(), size = 32, channels = 3, steps = 5;
    double width = 1.0, *times, median;
    simclr_model model;
    simclr_error err;
    rng random;
    size_t i, count;
    long s;
    int a;

    for (a = 0; a < argc; a++) {
        const char *value;
        if (is_help(argv[a])) {
            fputs(bench_step_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(argv[a - 1], "--arch") == 0) {
            if (resnet_arch_parse(value, &config.encoder.arch, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --arch: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(argv[a - 1], "--stem") == 0) {
            if (resnet_stem_parse(value, &config.encoder.stem, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --stem: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(argv[a - 1], "--batch") == 0) {
            if (!parse_long("--batch", value, 1, 65536, &batch))
                return 2;
        } else if (strcmp(argv[a - 1], "--threads") == 0) {
            if (!parse_long("--threads", value, 1, 1024, &threads))
                return 2;
        } else if (strcmp(argv[a - 1], "--size") == 0) {
            if (!parse_long("--size", value, 8, 4096, &size))
                return 2;
        } else if (strcmp(argv[a - 1], "--channels") == 0) {
            if (!parse_long("--channels", value, 1, 64, &channels))
                return 2;
        } else if (strcmp(argv[a - 1], "--steps") == 0) {
            if (!parse_long("--steps", value, 1, 10000, &steps))
                return 2;
        } else if (strcmp(argv[a - 1], "--width") == 0) {
            char *end;
            width = strtod(value, &end);
            if (end == value || *end != '\0' || !(width > 0.0) || width > 64.0) {
                fprintf(stderr, "simclr: --width wants a number in (0, 64], not '%s'\n", value);
                return 2;
            }
        } else {
            fprintf(stderr, "simclr: bench step: unknown argument '%s'\n%s", argv[a - 1],
                    bench_step_usage);
            return 2;
        }
    }
    parallel_set_thread_count((int)threads);
    config.batch = (size_t)batch;
    config.channels = (size_t)channels;
    config.height = config.width = (size_t)size;
    config.encoder.width = width;
    config.optimizer.kind = OPTIMIZER_SGD;
    config.optimizer.momentum = 0.9f;
    config.optimizer.weight_decay = 5e-4f;
    if (simclr_model_create(&model, &config, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: bench step: %s\n", err.message);
        return 1;
    }
    count = 2 * config.batch * config.channels * config.height * config.width;
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 1, 0, 0);
    for (i = 0; i < count; i++)
        model.views[i] = rng_uniform(&random);
    times = (double *)malloc((size_t)steps * sizeof(double));
    if (times == NULL) {
        fprintf(stderr, "simclr: bench step: out of memory\n");
        simclr_model_destroy(&model);
        return 1;
    }
    for (s = -2; s < steps; s++) { /* two untimed warm-up steps, as the PyTorch peer */
        double start = wall_seconds(), seconds;
        float loss = simclr_train_step(&model, 0.06f);
        seconds = wall_seconds() - start;
        fprintf(stderr, "step %ld: loss %.4f, %.3f s\n", s + 2, loss, seconds);
        if (s >= 0)
            times[s] = seconds;
    }
    qsort(times, (size_t)steps, sizeof(double), compare_doubles);
    median = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    printf("simclr-c %s/%s width=%g batch=%ld threads=%d step_s=%.3f views_per_s=%.1f "
           "peak_rss_mib=%.0f\n",
           resnet_arch_name(config.encoder.arch), resnet_stem_name(config.encoder.stem), width,
           batch, parallel_thread_count(), median, 2.0 * (double)batch / median, peak_memory_mib());
    free(times);
    simclr_model_destroy(&model);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Augmentation overrides, shared by every command that makes views                           */
/* ------------------------------------------------------------------------------------------ */

#define AUGMENTATION_FLAGS_HELP                                                                   \
    "  --size N        view side (preset's)\n"                                                  \
    "  --min-scale X   smallest crop area fraction, in (0, 1] (preset's)\n"                     \
    "  --strength X    colour jitter strength s (preset's)\n"                                    \
    "  --p-jitter X    probability of colour jitter (preset's)\n"                                \
    "  --p-gray X      probability of grayscale (preset's)\n"                                    \
    "  --p-blur X      probability of Gaussian blur (preset's)\n"                                \
    "  --p-hflip X     probability of a horizontal flip (0.5)\n"                                 \
    "  --p-vflip X     probability of a vertical flip (0)\n"

/* Parses a number in [low, high]; prints the reason naming the flag and returns 0 on failure. */
static int parse_double(const char *flag, const char *text, double low, double high,
                        double *value)
{
    char *end;
    const double parsed = strtod(text, &end);
    if (end == text || *end != '\0' || !(parsed >= low && parsed <= high)) {
        fprintf(stderr, "simclr: %s wants a number from %g to %g, not '%s'\n", flag, low, high,
                text);
        return 0;
    }
    *value = parsed;
    return 1;
}

/* Applies one augmentation override. Returns 1 if `flag` was one (0 with a message printed
 * when its value is bad: *bad is set), 0 if it is not an augmentation flag. */
static int augmentation_flag(aug_config *config, const char *flag, const char *value, int *bad)
{
    double x;
    long n;
    *bad = 0;
    if (strcmp(flag, "--size") == 0) {
        if (!parse_long(flag, value, 8, 4096, &n))
            return *bad = 1;
        config->size = (size_t)n;
        return 1;
    }
    if (strcmp(flag, "--min-scale") == 0) {
        if (!parse_double(flag, value, 1e-4, 1.0, &x))
            return *bad = 1;
        config->min_scale = x;
        return 1;
    }
    if (strcmp(flag, "--strength") == 0) {
        if (!parse_double(flag, value, 0.0, 10.0, &x))
            return *bad = 1;
        config->strength = (float)x;
        return 1;
    }
    if (strcmp(flag, "--p-jitter") == 0 || strcmp(flag, "--p-gray") == 0 ||
        strcmp(flag, "--p-blur") == 0 || strcmp(flag, "--p-hflip") == 0 ||
        strcmp(flag, "--p-vflip") == 0) {
        if (!parse_double(flag, value, 0.0, 1.0, &x))
            return *bad = 1;
        if (flag[4] == 'j')
            config->p_jitter = (float)x;
        else if (flag[4] == 'g')
            config->p_gray = (float)x;
        else if (flag[4] == 'b')
            config->p_blur = (float)x;
        else if (flag[4] == 'h')
            config->p_hflip = (float)x;
        else
            config->p_vflip = (float)x;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr augment                                                                             */
/* ------------------------------------------------------------------------------------------ */

static const char augment_usage[] =
    "usage: simclr augment --out FILE [--data SRC] [--n N] [--views V] [--preset P]\n"
    "                      [--seed S] [--split train|test] [augmentation overrides]\n"
    "\n"
    "Writes a preview grid of SimCLR's augmentations: one row per image, the original (resized\n"
    "to the view size) followed by V augmented views, as the training would draw them (without\n"
    "the final normalisation, so that colours stay viewable). PNG unless FILE ends in .ppm.\n"
    "\n"
    "  --out FILE     the image to write (required)\n"
    "  --data SRC     builtin:shapes (default), a directory of IDX files (Fashion-MNIST),\n"
    "                 cifar-10-binary.tar.gz / cifar-100-binary.tar.gz or their directories\n"
    "  --n N          images, one per row (default 8)\n"
    "  --views V      augmented views per image (default 6)\n"
    "  --preset P     cifar | imagenet | gray (default cifar)\n"
    "  --seed S       the run's seed: data and views (default 0)\n"
    "  --split W      train | test (default train)\n"
    "\n"
    "Augmentation overrides, applied after the preset:\n" AUGMENTATION_FLAGS_HELP;

static int command_augment(int argc, char **argv)
{
    const char *out = NULL, *source = "builtin:shapes", *preset = "cifar";
    long n = 8, views = 6, seed = 0;
    shapes_split split = SHAPES_TRAIN;
    aug_config config;
    simclr_error err;
    dataset data;
    size_t S, C, gap = 2, grid_h, grid_w, i, v, c, y, x;
    float *grid, *image, *cell, *workspace;
    int a, status, bad;

    /* the preset first, so that overrides apply on top of it wherever they stand */
    for (a = 0; a + 1 < argc; a++)
        if (strcmp(argv[a], "--preset") == 0)
            preset = argv[a + 1];
    if (aug_config_preset(&config, preset, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --preset: %s\n", err.message);
        return 2;
    }
    for (a = 0; a < argc; a++) {
        const char *value;
        if (is_help(argv[a])) {
            fputs(augment_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (augmentation_flag(&config, argv[a - 1], value, &bad)) {
            if (bad)
                return 2;
        } else if (strcmp(argv[a - 1], "--out") == 0)
            out = value;
        else if (strcmp(argv[a - 1], "--data") == 0)
            source = value;
        else if (strcmp(argv[a - 1], "--preset") == 0)
            preset = value;
        else if (strcmp(argv[a - 1], "--n") == 0) {
            if (!parse_long("--n", value, 1, 256, &n))
                return 2;
        } else if (strcmp(argv[a - 1], "--views") == 0) {
            if (!parse_long("--views", value, 1, 64, &views))
                return 2;
        } else if (strcmp(argv[a - 1], "--seed") == 0) {
            if (!parse_long("--seed", value, 0, LONG_MAX, &seed))
                return 2;
        } else if (strcmp(argv[a - 1], "--split") == 0) {
            if (strcmp(value, "train") != 0 && strcmp(value, "test") != 0) {
                fprintf(stderr, "simclr: --split wants train or test, not '%s'\n", value);
                return 2;
            }
            split = value[1] == 'r' ? SHAPES_TRAIN : SHAPES_TEST;
        } else {
            fprintf(stderr, "simclr: augment: unknown argument '%s'\n%s", argv[a - 1],
                    augment_usage);
            return 2;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "simclr: augment: --out FILE is required\n%s", augment_usage);
        return 2;
    }
    if (dataset_open(&data, source, split == SHAPES_TRAIN, (uint64_t)seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        return 2;
    }
    config.normalize = 0;
    S = config.size;
    C = data.channels;
    if ((size_t)n > data.count)
        n = (long)data.count;
    grid_h = (size_t)n * S + ((size_t)n + 1) * gap;
    grid_w = (size_t)(views + 1) * S + (size_t)(views + 2) * gap + gap; /* extra gap after the original */
    grid = calloc(C * grid_h * grid_w, sizeof(float));
    image = malloc(C * data.height * data.width * sizeof(float));
    cell = malloc(C * S * S * sizeof(float));
    workspace = malloc((aug_view_workspace_floats(&config, C, data.height, data.width) +
                        C * data.height * S) * sizeof(float));
    if (grid == NULL || image == NULL || cell == NULL || workspace == NULL) {
        fprintf(stderr, "simclr: augment: out of memory\n");
        free(grid), free(image), free(cell), free(workspace);
        dataset_close(&data);
        return 1;
    }
    for (i = 0; i < C * grid_h * grid_w; i++)
        grid[i] = 1.0f; /* white gaps */
    for (i = 0; i < (size_t)n; i++) {
        const aug_crop whole = {0, 0, data.height, data.width};
        dataset_image(&data, i, image);
        for (v = 0; v <= (size_t)views; v++) {
            const size_t top = gap + i * (S + gap);
            const size_t left = gap + v * (S + gap) + (v > 0 ? gap : 0);
            if (v == 0) {
                aug_resize(cell, image, C, data.height, data.width, whole, S, S, workspace);
            } else {
                rng random;
                rng_stream(&random, (uint64_t)seed, RNG_DOMAIN_VIEW, 0, i, v - 1);
                aug_view(cell, image, C, data.height, data.width, &config, &random, workspace);
            }
            for (c = 0; c < C; c++)
                for (y = 0; y < S; y++)
                    for (x = 0; x < S; x++)
                        grid[(c * grid_h + top + y) * grid_w + left + x] = cell[(c * S + y) * S + x];
        }
    }
    status = image_write(out, grid, C, grid_h, grid_w, &err);
    dataset_close(&data);
    if (status != SIMCLR_OK)
        fprintf(stderr, "simclr: augment: %s\n", err.message);
    else
        printf("wrote %s: %ld images x (original + %ld views), %lux%lu pixels, preset %s\n", out,
               n, views, (unsigned long)grid_w, (unsigned long)grid_h, preset);
    free(grid), free(image), free(cell), free(workspace);
    return status == SIMCLR_OK ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench augment                                                                       */
/* ------------------------------------------------------------------------------------------ */

static const char bench_augment_usage[] =
    "usage: simclr bench augment [--preset P] [--n N] [--threads T] [--reps R]\n"
    "\n"
    "Times the augmentation pipeline making two views of N built-in images (drawn at the\n"
    "preset's size, or 256x256 for imagenet) and prints the best of R runs in views per second.\n"
    "\n"
    "  --preset P     cifar | imagenet | gray (default cifar)\n"
    "  --n N          images per batch (default 256)\n"
    "  --threads T    OpenMP threads (default: all)\n"
    "  --reps R       timed runs (default 5)\n";

static int bench_augment(int argc, char **argv)
{
    const char *preset = "cifar";
    long n = 256, threads = parallel_thread_count(), reps = 5, r;
    aug_config config;
    simclr_error err;
    size_t side, i, image_floats;
    float *pixels, *views, *workspace;
    const float **images;
    uint64_t *indices;
    double best = 0.0;
    int a;
    for (a = 0; a < argc; a++) {
        const char *value;
        if (is_help(argv[a])) {
            fputs(bench_augment_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(argv[a - 1], "--preset") == 0)
            preset = value;
        else if (strcmp(argv[a - 1], "--n") == 0) {
            if (!parse_long("--n", value, 1, 65536, &n))
                return 2;
        } else if (strcmp(argv[a - 1], "--threads") == 0) {
            if (!parse_long("--threads", value, 1, 1024, &threads))
                return 2;
        } else if (strcmp(argv[a - 1], "--reps") == 0) {
            if (!parse_long("--reps", value, 1, 1000, &reps))
                return 2;
        } else {
            fprintf(stderr, "simclr: bench augment: unknown argument '%s'\n%s", argv[a - 1],
                    bench_augment_usage);
            return 2;
        }
    }
    if (aug_config_preset(&config, preset, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --preset: %s\n", err.message);
        return 2;
    }
    parallel_set_thread_count((int)threads);
    side = strcmp(preset, "imagenet") == 0 ? 256 : config.size;
    image_floats = 3 * side * side;
    pixels = malloc((size_t)n * image_floats * sizeof(float));
    views = malloc(2 * (size_t)n * 3 * config.size * config.size * sizeof(float));
    workspace = malloc(aug_batch_workspace_floats(&config, 3, side, side, (int)threads) *
                       sizeof(float));
    images = malloc((size_t)n * sizeof *images);
    indices = malloc((size_t)n * sizeof *indices);
    if (pixels == NULL || views == NULL || workspace == NULL || images == NULL || indices == NULL) {
        fprintf(stderr, "simclr: bench augment: out of memory\n");
        free(pixels), free(views), free(workspace), free(images), free(indices);
        return 1;
    }
    for (i = 0; i < (size_t)n; i++) {
        shapes_image(pixels + i * image_floats, 0, SHAPES_TRAIN, i, side);
        images[i] = pixels + i * image_floats;
        indices[i] = i;
    }
    for (r = -1; r < reps; r++) {
        double start = wall_seconds(), seconds;
        aug_views_batch(views, images, indices, (size_t)n, 3, side, side, &config, 0,
                        (uint64_t)(r + 1), workspace, (int)threads);
        seconds = wall_seconds() - start;
        if (r >= 0 && (best == 0.0 || seconds < best))
            best = seconds;
    }
    printf("augment preset=%s image=%lux%lu views=%ld threads=%d views_per_s=%.0f (best of %ld)\n",
           preset, (unsigned long)side, (unsigned long)side, 2 * n, parallel_thread_count(),
           2.0 * (double)n / best, reps);
    free(pixels), free(views), free(workspace), free(images), free(indices);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench conv                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char bench_conv_usage[] =
    "usage: simclr bench conv [--batch B] [--in C] [--out O] [--size H] [--kernel K]\n"
    "                         [--stride S] [--padding P] [--threads T] [--reps R]\n"
    "\n"
    "Times one convolution layer as training runs it (Winograd for 3x3, stride 1, padding 1\n"
    "with at least 16 channels each way: F(2x2,3x3) forward, F(4x4,3x3) backward; im2col +\n"
    "GEMM otherwise; the line says which): the forward pass, and the backward pass (weight\n"
    "and input gradients). Prints the best of R runs of each in GFLOP/s, counting the direct\n"
    "convolution's 2·B·O·C·K²·Ho·Wo operations forward and twice that backward (Winograd does\n"
    "fewer, so its figure is an effective rate). The defaults are ResNet-18's first CIFAR\n"
    "stage at the step benchmark's 128 views.\n"
    "\n"
    "  --batch B      images (default 128)\n"
    "  --in C         input channels (default 64)\n"
    "  --out O        output channels (default 64)\n"
    "  --size H       input side in pixels (default 32)\n"
    "  --kernel K     kernel side (default 3)\n"
    "  --stride S     stride (default 1)\n"
    "  --padding P    zero padding (default K / 2)\n"
    "  --threads T    OpenMP threads (default: all)\n"
    "  --reps R       timed runs after one warm-up run (default 5)\n";

static int bench_conv(int argc, char **argv)
{
    long batch = 128, in = 64, out = 64, size = 32, kernel = 3, stride = 1, padding = -1;
    long threads = parallel_thread_count(), reps = 5, r;
    conv2d_shape shape;
    simclr_error err;
    size_t x_count, y_count, w_count, workspace_floats, i;
    float *x, *y, *w, *dw, *dx, *workspace;
    double best_forward = 0.0, best_backward = 0.0, flops;
    rng random;
    int a;
    for (a = 0; a < argc; a++) {
        const char *value, *flag = argv[a];
        long *target = NULL, low = 1, high = 65536;
        if (is_help(flag)) {
            fputs(bench_conv_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(flag, "--batch") == 0)
            target = &batch;
        else if (strcmp(flag, "--in") == 0)
            target = &in;
        else if (strcmp(flag, "--out") == 0)
            target = &out;
        else if (strcmp(flag, "--size") == 0)
            target = &size, high = 4096;
        else if (strcmp(flag, "--kernel") == 0)
            target = &kernel, high = 15;
        else if (strcmp(flag, "--stride") == 0)
            target = &stride, high = 15;
        else if (strcmp(flag, "--padding") == 0)
            target = &padding, low = 0, high = 15;
        else if (strcmp(flag, "--threads") == 0)
            target = &threads, high = 1024;
        else if (strcmp(flag, "--reps") == 0)
            target = &reps, high = 1000;
        else {
            fprintf(stderr, "simclr: bench conv: unknown argument '%s'\n%s", flag,
                    bench_conv_usage);
            return 2;
        }
        if (!parse_long(flag, value, low, high, target))
            return 2;
    }
    if (padding < 0)
        padding = kernel / 2;
    parallel_set_thread_count((int)threads);
    if (conv2d_shape_init(&shape, (size_t)batch, (size_t)in, (size_t)size, (size_t)size,
                          (size_t)out, (size_t)kernel, (size_t)stride, (size_t)padding,
                          &err) != SIMCLR_OK ||
        conv2d_workspace_floats(&shape, &workspace_floats, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: bench conv: %s\n", err.message);
        return 2;
    }
    x_count = shape.batch * shape.in_channels * shape.in_height * shape.in_width;
    y_count = shape.batch * shape.out_channels * shape.out_height * shape.out_width;
    w_count = shape.out_channels * shape.in_channels * shape.kernel * shape.kernel;
    x = malloc(x_count * sizeof(float));
    dx = malloc(x_count * sizeof(float));
    y = malloc(y_count * sizeof(float));
    w = malloc(w_count * sizeof(float));
    dw = malloc(w_count * sizeof(float));
    workspace = malloc(workspace_floats * sizeof(float));
    if (x == NULL || dx == NULL || y == NULL || w == NULL || dw == NULL || workspace == NULL) {
        fprintf(stderr, "simclr: bench conv: out of memory\n");
        free(x), free(dx), free(y), free(w), free(dw), free(workspace);
        return 1;
    }
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 2, 0, 0);
    for (i = 0; i < x_count; i++)
        x[i] = rng_uniform(&random) - 0.5f;
    for (i = 0; i < w_count; i++)
        w[i] = rng_uniform(&random) - 0.5f;
    for (r = -1; r < reps; r++) { /* r == -1 is the untimed warm-up */
        double start = wall_seconds(), middle, end;
        conv2d_forward(y, x, w, NULL, &shape, workspace);
        middle = wall_seconds();
        memset(dw, 0, w_count * sizeof(float));
        conv2d_backward(dx, dw, NULL, y, x, w, &shape, workspace); /* dy = y: any values do */
        end = wall_seconds();
        if (r >= 0 && (best_forward == 0.0 || middle - start < best_forward))
            best_forward = middle - start;
        if (r >= 0 && (best_backward == 0.0 || end - middle < best_backward))
            best_backward = end - middle;
    }
    flops = 2.0 * (double)y_count * (double)(shape.in_channels * shape.kernel * shape.kernel);
    printf("conv batch=%ld in=%ld out=%ld size=%ld kernel=%ld stride=%ld padding=%ld threads=%d "
           "algorithm=%s forward_gflops=%.1f backward_gflops=%.1f forward_ms=%.2f "
           "backward_ms=%.2f (best of %ld)\n",
           batch, in, out, size, kernel, stride, padding, parallel_thread_count(),
           winograd_applies(&shape) ? "winograd" : "im2col",
           flops / best_forward / 1e9, 2.0 * flops / best_backward / 1e9, 1e3 * best_forward,
           1e3 * best_backward, reps);
    free(x), free(dx), free(y), free(w), free(dw), free(workspace);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench data                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char bench_data_usage[] =
    "usage: simclr bench data [--data SRC] [--threads T] [--reps R]\n"
    "\n"
    "Times data loading as training does it: opening the training split (reading, inflating and\n"
    "checking the files, or drawing the built-in images) once, then turning every image into\n"
    "floats in an epoch's shuffled order (best of R passes). Prints the seconds the opening\n"
    "took and the images per second of the passes.\n"
    "\n"
    "  --data SRC     builtin:shapes (default), a directory of IDX files (Fashion-MNIST),\n"
    "                 cifar-10-binary.tar.gz / cifar-100-binary.tar.gz or their directories\n"
    "  --threads T    OpenMP threads for the passes (default: all)\n"
    "  --reps R       timed passes (default 3)\n";

static int bench_data(int argc, char **argv)
{
    const char *source = "builtin:shapes";
    long threads = parallel_thread_count(), reps = 3, r;
    dataset data;
    simclr_error err;
    size_t *order, image_floats, n;
    float *images;
    double start, open_seconds, best = 0.0;
    int a;
    for (a = 0; a < argc; a++) {
        const char *value, *flag = argv[a];
        if (is_help(flag)) {
            fputs(bench_data_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(flag, "--data") == 0)
            source = value;
        else if (strcmp(flag, "--threads") == 0) {
            if (!parse_long(flag, value, 1, 1024, &threads))
                return 2;
        } else if (strcmp(flag, "--reps") == 0) {
            if (!parse_long(flag, value, 1, 1000, &reps))
                return 2;
        } else {
            fprintf(stderr, "simclr: bench data: unknown argument '%s'\n%s", flag,
                    bench_data_usage);
            return 2;
        }
    }
    parallel_set_thread_count((int)threads);
    start = wall_seconds();
    if (dataset_open(&data, source, 1, 0, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --data: %s\n", err.message);
        return 2;
    }
    open_seconds = wall_seconds() - start;
    image_floats = data.channels * data.height * data.width;
    order = malloc(data.count * sizeof *order);
    images = malloc((size_t)parallel_thread_count() * image_floats * sizeof(float));
    if (order == NULL || images == NULL) {
        fprintf(stderr, "simclr: bench data: out of memory\n");
        free(order), free(images);
        dataset_close(&data);
        return 1;
    }
    for (r = 0; r < reps; r++) {
        double seconds;
        start = wall_seconds();
        dataset_epoch_order(&data, 0, (uint64_t)r, order);
        PARALLEL_FOR()
        for (n = 0; n < data.count; n++)
            dataset_image(&data, order[n],
                          images + (size_t)parallel_thread_index() * image_floats);
        seconds = wall_seconds() - start;
        if (best == 0.0 || seconds < best)
            best = seconds;
    }
    printf("data source=%s images=%lu shape=%lux%lux%lu threads=%d open_s=%.3f "
           "epoch_images_per_s=%.0f (best of %ld)\n",
           source, (unsigned long)data.count, (unsigned long)data.channels,
           (unsigned long)data.height, (unsigned long)data.width, parallel_thread_count(),
           open_seconds, (double)data.count / best, reps);
    free(order), free(images);
    dataset_close(&data);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench                                                                               */
/* ------------------------------------------------------------------------------------------ */

static const char bench_usage[] =
    "usage: simclr bench WHAT [options]\n"
    "\n"
    "Benchmarks, one result line each on stdout. WHAT is one of:\n"
    "  gemm     single-precision matrix multiply, GFLOP/s (simclr bench gemm --help)\n"
    "  step     one SimCLR training step, views/s and peak memory (simclr bench step --help)\n"
    "  augment  the augmentation pipeline, views/s (simclr bench augment --help)\n"
    "  conv     one convolution layer forward and backward, GFLOP/s (simclr bench conv --help)\n"
    "  data     data loading: opening a dataset and an epoch of images, images/s\n"
    "           (simclr bench data --help)\n";

static int command_bench(int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0])) {
        fputs(bench_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "gemm") == 0)
        return bench_gemm(argc - 1, argv + 1);
    if (strcmp(argv[0], "step") == 0)
        return bench_step(argc - 1, argv + 1);
    if (strcmp(argv[0], "augment") == 0)
        return bench_augment(argc - 1, argv + 1);
    if (strcmp(argv[0], "conv") == 0)
        return bench_conv(argc - 1, argv + 1);
    if (strcmp(argv[0], "data") == 0)
        return bench_data(argc - 1, argv + 1);
    fprintf(stderr, "simclr: bench: unknown benchmark '%s'\n%s", argv[0], bench_usage);
    return 2;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr train: the paper's Algorithm 1 as a program                                         */
/* ------------------------------------------------------------------------------------------ */

static const char train_usage[] =
    "usage: simclr train [--data SRC] [--out DIR] [options]\n"
    "       simclr train --resume DIR/checkpoint.safetensors [--epochs E] [--out DIR]\n"
    "\n"
    "Trains a SimCLR encoder (Chen et al. 2020, Algorithm 1): for each batch of N images, two\n"
    "augmented views, h = f(x) by a ResNet, z = g(h) by the projection head, NT-Xent over the\n"
    "2N views, backward, optimiser step. Progress on stderr; a summary line on stdout. At the\n"
    "end of every epoch DIR gets (each written atomically): checkpoint.safetensors (the model\n"
    "with torchvision's names under backbone., the optimiser, the settings), log.csv (one row\n"
    "per step) and loss.svg (the loss curve).\n"
    "\n"
    "Data and output:\n"
    "  --data SRC          builtin:shapes (default), an IDX directory (Fashion-MNIST), a CIFAR\n"
    "                      tar.gz or directory, a folder of PPM/PGM images\n"
    "  --out DIR           where checkpoints and logs go (default simclr-run)\n"
    "  --resume CKPT       continue the run a checkpoint belongs to, with its settings (only\n"
    "                      --epochs, --out, --threads and --stop-after may be given with it)\n"
    "  --limit N           train on the first N training images only (default: all)\n"
    "  --seed S            weights, data order and views (default 0)\n"
    "  --threads T         OpenMP threads (default: all; results are the same bits for any T)\n"
    "  --stop-after E      stop after E epochs of this invocation (as an interruption would)\n"
    "Network:\n"
    "  --arch A            resnet18 | resnet34 | resnet50 (default resnet18)\n"
    "  --stem S            cifar | imagenet (default: cifar for views of 64 pixels or less)\n"
    "  --width W           channel multiplier (default 1; 0.25 gives widths 16-32-64-128)\n"
    "  --head-layers L     projection head layers, 2 or more (default 2)\n"
    "  --hidden H          head hidden width (default: the encoder's feature size)\n"
    "  --out-dim D         head output size (default 128)\n"
    "  --head-bn 0|1       batch norm in the head: 1 LightlySSL's head (default), 0 paper v1\n"
    "Optimisation:\n"
    "  --epochs E          (default 10)\n"
    "  --batch N           images per step, 2N views (default 64)\n"
    "  --optimizer O       sgd | lars (default sgd)\n"
    "  --lr LR             base learning rate, scaled by --lr-scaling (default 0.6)\n"
    "  --lr-scaling S      linear: LR·N/256 (default) | sqrt: LR·sqrt(N)\n"
    "  --warmup E          linear warm-up epochs, then cosine decay to 0 (default 1)\n"
    "  --momentum M        (default 0.9)\n"
    "  --weight-decay WD   (default 5e-4 for sgd, 1e-6 for lars)\n"
    "  --loss L            ntxent | nt-logistic | margin-triplet (default ntxent)\n"
    "  --temperature T     NT-Xent / NT-Logistic temperature (default 0.5)\n"
    "Augmentation:\n"
    "  --preset P          cifar | imagenet | gray (default: gray for 1-channel data, cifar for\n"
    "                      32×32, imagenet otherwise)\n" AUGMENTATION_FLAGS_HELP;

/* The per-step history: loss, learning rate, views/s (three rows of `capacity` floats). */
typedef struct train_history {
    float *values;
    size_t capacity, steps;
} train_history;

/* log.csv: one row per step. */
static int write_train_csv(const char *path, const train_history *history, size_t per_epoch,
                           simclr_error *err)
{
    const size_t line_max = 96;
    char *text = malloc(64 + history->steps * line_max);
    size_t length = 0, i;
    int status;
    if (text == NULL)
        return simclr_fail(err, "%s: out of memory", path);
    length += (size_t)sprintf(text, "step,epoch,loss,learning_rate,views_per_second\n");
    for (i = 0; i < history->steps; i++)
        length += (size_t)snprintf(text + length, line_max, "%lu,%lu,%.6f,%.6g,%.1f\n",
                                   (unsigned long)(i + 1), (unsigned long)(i / per_epoch + 1),
                                   (double)history->values[i],
                                   (double)history->values[history->capacity + i],
                                   (double)history->values[2 * history->capacity + i]);
    status = file_write_atomically(path, (const uint8_t *)text, length, err);
    free(text);
    return status;
}

/* loss.svg: the loss per step (at most 1000 points, each the mean of its stretch of steps),
 * with the axis ranges written out and a tick at every epoch. */
static int write_loss_svg(const char *path, const train_history *history, size_t per_epoch,
                          simclr_error *err)
{
    const double W = 640, H = 400, left = 60, right = 20, top = 30, bottom = 40;
    const size_t points = history->steps < 1000 ? history->steps : 1000;
    size_t capacity = 4096 + points * 32 + (history->steps / (per_epoch ? per_epoch : 1)) * 96;
    char *svg = malloc(capacity);
    double low = 1e300, high = -1e300;
    size_t length = 0, p, i;
    int status;
    if (svg == NULL)
        return simclr_fail(err, "%s: out of memory", path);
    for (i = 0; i < history->steps; i++) {
        low = fmin(low, history->values[i]);
        high = fmax(high, history->values[i]);
    }
    if (history->steps == 0)
        low = 0.0, high = 1.0;
    if (high - low < 1e-9)
        high = low + 1.0;
#define SVG_APPEND(...) \
    (length += (size_t)snprintf(svg + length, capacity - length, __VA_ARGS__))
    SVG_APPEND("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    SVG_APPEND("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    SVG_APPEND("<text x=\"%.0f\" y=\"18\">SimCLR training loss per step</text>\n", left);
    SVG_APPEND("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left,
               H - bottom, W - right, H - bottom);
    SVG_APPEND("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left,
               top, left, H - bottom);
    SVG_APPEND("<text x=\"4\" y=\"%.0f\">%.3f</text>\n", top + 4, high);
    SVG_APPEND("<text x=\"4\" y=\"%.0f\">%.3f</text>\n", H - bottom, low);
    SVG_APPEND("<text x=\"%.0f\" y=\"%.0f\">step 0</text>\n", left, H - 12);
    SVG_APPEND("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">step %lu</text>\n", W - right,
               H - 12, (unsigned long)history->steps);
    if (per_epoch > 0 && history->steps > 0)
        for (i = per_epoch; i < history->steps; i += per_epoch) {
            const double x = left + (W - left - right) * (double)i / (double)history->steps;
            SVG_APPEND("<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n",
                       x, top, x, H - bottom);
        }
    SVG_APPEND("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (p = 0; p < points; p++) {
        const size_t from = p * history->steps / points, to = (p + 1) * history->steps / points;
        double mean = 0.0, x, y;
        for (i = from; i < to; i++)
            mean += history->values[i];
        mean /= (double)(to - from);
        x = left + (W - left - right) * ((double)(from + to) / 2.0) / (double)history->steps;
        y = top + (H - top - bottom) * (high - mean) / (high - low);
        SVG_APPEND("%.1f,%.1f ", x, y);
    }
    SVG_APPEND("\"/>\n</svg>\n");
#undef SVG_APPEND
    status = length < capacity
                 ? file_write_atomically(path, (const uint8_t *)svg, length, err)
                 : simclr_fail(err, "%s: the plot outgrew its buffer", path);
    free(svg);
    return status;
}

/* "1h02m", "3m05s", "42s" */
static void format_duration(char *out, size_t size, double seconds)
{
    const long s = seconds < 0 ? 0 : (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, size, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else if (s >= 60)
        snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, size, "%lds", s);
}

/* Writes checkpoint, CSV and plot of the run so far into dir. */
static int save_run(const char *dir, const simclr_model *model, const simclr_training *training,
                    size_t epoch, const train_history *history, size_t per_epoch)
{
    char path[4096];
    float *packed = NULL;
    simclr_error err;
    size_t i;
    int ok;
    if (history->steps > 0) { /* the checkpoint wants (3, steps) contiguous */
        packed = malloc(3 * history->steps * sizeof(float));
        if (packed == NULL) {
            fprintf(stderr, "simclr: out of memory writing the checkpoint\n");
            return 0;
        }
        for (i = 0; i < 3; i++)
            memcpy(packed + i * history->steps, history->values + i * history->capacity,
                   history->steps * sizeof(float));
    }
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    ok = simclr_checkpoint_write(path, model, training, epoch, packed, &err) == SIMCLR_OK;
    if (ok) {
        snprintf(path, sizeof path, "%s/log.csv", dir);
        ok = write_train_csv(path, history, per_epoch, &err) == SIMCLR_OK;
    }
    if (ok) {
        snprintf(path, sizeof path, "%s/loss.svg", dir);
        ok = write_loss_svg(path, history, per_epoch, &err) == SIMCLR_OK;
    }
    if (!ok)
        fprintf(stderr, "simclr: %s\n", err.message);
    free(packed);
    return ok;
}

/* Makes dir and any missing parents (as mkdir -p) unless it exists. */
static int ensure_directory(const char *dir)
{
#if defined(__unix__) || defined(__APPLE__)
    char path[4096];
    struct stat info;
    size_t i, length = strlen(dir);
    if (length == 0 || length >= sizeof path) {
        fprintf(stderr, "simclr: --out: '%s' is not a usable directory name\n", dir);
        return 0;
    }
    memcpy(path, dir, length + 1);
    for (i = 1; i <= length; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (stat(path, &info) != 0 && mkdir(path, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "simclr: --out: cannot create %s: %s\n", path, strerror(errno));
            return 0;
        }
        path[i] = dir[i];
    }
    if (stat(dir, &info) != 0 || !S_ISDIR(info.st_mode)) {
        fprintf(stderr, "simclr: --out: %s is not a directory\n", dir);
        return 0;
    }
    return 1;
#else
    (void)dir; /* C99 has no mkdir: the directory must exist */
    return 1;
#endif
}

/* What train needs besides the settings: where it goes and how far. */
typedef struct train_plan {
    const char *out;
    size_t start_epoch;      /* completed epochs at the start (resume) */
    size_t stop_after;       /* epochs this invocation may run (0: all) */
    size_t fault_nan_step;   /* testing: treat this global step's loss as NaN (0: never) */
} train_plan;

/* The training loop. Returns the exit status. */
static int run_training(simclr_training *training, const train_plan *plan,
                        const char *resume_path)
{
    simclr_model model;
    simclr_error err;
    dataset data;
    train_history history;
    lr_schedule schedule;
    size_t per_epoch, total_steps, epoch, i, images_floats, image_floats;
    size_t *order = NULL;
    float *images = NULL, *aug_workspace = NULL;
    const float **image_pointers = NULL;
    uint64_t *indices = NULL;
    const int slots = parallel_thread_count();
    double start_time, last_report = -1e9;
    const size_t N = training->model.batch;
    size_t epochs_run = 0;
    int status = 1;

    memset(&history, 0, sizeof history);
    if (dataset_open(&data, training->data, 1, training->model.seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --data: %s\n", err.message);
        return 1;
    }
    if (training->limit > 0 && training->limit < data.count)
        data.count = training->limit;
    if (resume_path == NULL) { /* the model takes its view size and channels from the data */
        training->model.channels = data.channels;
        training->model.height = training->model.width = training->augment.size;
    } else if (data.channels != training->model.channels) {
        fprintf(stderr, "simclr: %s has %lu channels, the checkpoint %lu\n", training->data,
                (unsigned long)data.channels, (unsigned long)training->model.channels);
        dataset_close(&data);
        return 1;
    }
    per_epoch = simclr_steps_per_epoch(data.count, N);
    if (per_epoch == 0) {
        fprintf(stderr, "simclr: --batch: %lu is more than the %lu training images\n",
                (unsigned long)N, (unsigned long)data.count);
        dataset_close(&data);
        return 1;
    }
    if (simclr_model_create(&model, &training->model, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        dataset_close(&data);
        return 1;
    }
    training->model = model.config; /* with the defaults resolved, as the checkpoint records */
    total_steps = per_epoch * training->epochs;
    history.capacity = total_steps > 0 ? total_steps : 1;
    history.values = calloc(3 * history.capacity, sizeof(float));
    image_floats = data.channels * data.height * data.width;
    images_floats = N * image_floats;
    images = malloc(images_floats * sizeof(float));
    image_pointers = malloc(N * sizeof *image_pointers);
    indices = malloc(N * sizeof *indices);
    order = malloc(data.count * sizeof *order);
    aug_workspace = malloc(aug_batch_workspace_floats(&training->augment, data.channels,
                                                      data.height, data.width, slots) *
                           sizeof(float));
    if (history.values == NULL || images == NULL || image_pointers == NULL || indices == NULL ||
        order == NULL || aug_workspace == NULL) {
        fprintf(stderr, "simclr: train: out of memory\n");
        goto done;
    }
    if (resume_path != NULL) {
        safetensors_file file;
        size_t saved_epoch, saved_step;
        simclr_training saved;
        if (safetensors_read(&file, resume_path, &err) != SIMCLR_OK) {
            fprintf(stderr, "simclr: --resume: %s\n", err.message);
            goto done;
        }
        if (simclr_checkpoint_training(&file, resume_path, &saved, &saved_epoch, &saved_step,
                                       &err) != SIMCLR_OK ||
            saved_step > history.capacity ||
            simclr_checkpoint_restore(&model, &file, resume_path, history.values, &err) !=
                SIMCLR_OK) {
            if (saved_step > history.capacity)
                fprintf(stderr, "simclr: --resume: %s is at step %lu, beyond --epochs %lu\n",
                        resume_path, (unsigned long)saved_step, (unsigned long)training->epochs);
            else
                fprintf(stderr, "simclr: --resume: %s\n", err.message);
            safetensors_free(&file);
            goto done;
        }
        safetensors_free(&file);
        if (saved_step != plan->start_epoch * per_epoch) {
            fprintf(stderr, "simclr: --resume: %s has %lu steps for %lu epochs of %lu steps\n",
                    resume_path, (unsigned long)saved_step, (unsigned long)plan->start_epoch,
                    (unsigned long)per_epoch);
            goto done;
        }
        /* the log was read as (3, step): spread it to rows of `capacity` */
        for (i = 3; i-- > 1;)
            memmove(history.values + i * history.capacity, history.values + i * saved_step,
                    saved_step * sizeof(float));
        history.steps = saved_step;
        fprintf(stderr, "simclr: resuming %s at epoch %lu of %lu (step %lu)\n", resume_path,
                (unsigned long)plan->start_epoch, (unsigned long)training->epochs,
                (unsigned long)saved_step);
    }
    if (!ensure_directory(plan->out))
        goto done;
    schedule = simclr_training_schedule(training, data.count);
    fprintf(stderr,
            "simclr: %s (%s stem, width %g) + %lu-layer head on %s: %lu images of %lux%lux%lu, "
            "%lu steps of %lu per epoch, %lu epochs, %s lr %g (scaled %g), %d thread(s)\n",
            resnet_arch_name(training->model.encoder.arch),
            resnet_stem_name(training->model.encoder.stem), training->model.encoder.width,
            (unsigned long)training->model.head.num_layers, training->data,
            (unsigned long)data.count, (unsigned long)data.channels, (unsigned long)data.height,
            (unsigned long)data.width, (unsigned long)per_epoch, (unsigned long)N,
            (unsigned long)training->epochs, optimizer_name(training->model.optimizer.kind),
            training->base_lr, lr_schedule_scaled(&schedule), slots);
    start_time = wall_seconds();
    for (epoch = plan->start_epoch; epoch < training->epochs; epoch++) {
        size_t step;
        if (plan->stop_after > 0 && epochs_run == plan->stop_after)
            break;
        dataset_epoch_order(&data, training->model.seed, epoch, order);
        for (step = 0; step < per_epoch; step++) {
            const size_t global = epoch * per_epoch + step;
            const double step_start = wall_seconds();
            double lr, seconds, now;
            float loss;
            long b;
            /* 1. a batch of N images, 2. two views of each (SPEC §2, from per-view streams) */
            PARALLEL_FOR()
            for (b = 0; b < (long)N; b++) {
                const size_t index = order[step * N + (size_t)b];
                dataset_image(&data, index, images + (size_t)b * image_floats);
                image_pointers[b] = images + (size_t)b * image_floats;
                indices[b] = index;
            }
            aug_views_batch(model.views, image_pointers, indices, N, data.channels, data.height,
                            data.width, &training->augment, training->model.seed, epoch,
                            aug_workspace, slots);
            /* 3. h = f(x̃), z = g(h), NT-Xent, backward, optimiser step */
            lr = lr_schedule_at(&schedule, global);
            loss = simclr_train_step(&model, (float)lr);
            if (plan->fault_nan_step == global + 1)
                loss = (float)NAN;
            now = wall_seconds();
            seconds = now - step_start;
            if (!isfinite(loss)) {
                fprintf(stderr,
                        "simclr: the loss became non-finite (%g) at epoch %lu, step %lu; "
                        "stopping. %s/checkpoint.safetensors (epoch %lu) is left as it was.\n",
                        (double)loss, (unsigned long)(epoch + 1), (unsigned long)(global + 1),
                        plan->out, (unsigned long)epoch);
                goto done;
            }
            history.values[global] = loss;
            history.values[history.capacity + global] = (float)lr;
            history.values[2 * history.capacity + global] =
                (float)(2.0 * (double)N / (seconds > 0 ? seconds : 1e-9));
            history.steps = global + 1;
            if (now - last_report >= 1.0 || step + 1 == per_epoch) {
                const double elapsed = now - start_time;
                const size_t done_steps = global + 1 - plan->start_epoch * per_epoch;
                char eta[32];
                format_duration(eta, sizeof eta,
                                elapsed / (double)done_steps * (double)(total_steps - global - 1));
                fprintf(stderr,
                        "epoch %lu/%lu  step %lu/%lu  loss %.4f  lr %.4g  %.0f views/s  ETA %s\n",
                        (unsigned long)(epoch + 1), (unsigned long)training->epochs,
                        (unsigned long)(step + 1), (unsigned long)per_epoch, (double)loss, lr,
                        2.0 * (double)N * (double)done_steps / (elapsed > 0 ? elapsed : 1e-9),
                        eta);
                last_report = now;
            }
        }
        epochs_run++;
        if (!save_run(plan->out, &model, training, epoch + 1, &history, per_epoch))
            goto done;
    }
    {
        const double elapsed = wall_seconds() - start_time;
        const size_t steps_run = history.steps - plan->start_epoch * per_epoch;
        printf("trained %s for %lu of %lu epochs (%lu steps this run, %lu in all): final loss "
               "%.4f, %.0f views/s, %.1f s; checkpoint %s/checkpoint.safetensors\n",
               resnet_arch_name(training->model.encoder.arch),
               (unsigned long)(plan->start_epoch + epochs_run), (unsigned long)training->epochs,
               (unsigned long)steps_run, (unsigned long)history.steps,
               history.steps > 0 ? (double)history.values[history.steps - 1] : 0.0,
               2.0 * (double)N * (double)steps_run / (elapsed > 0 ? elapsed : 1e-9), elapsed,
               plan->out);
    }
    status = 0;
done:
    free(history.values);
    free(images);
    free((void *)image_pointers);
    free(indices);
    free(order);
    free(aug_workspace);
    simclr_model_destroy(&model);
    dataset_close(&data);
    return status;
}

static int command_train(int argc, char **argv)
{
    simclr_training training;
    train_plan plan;
    simclr_error err;
    const char *preset = NULL, *resume = NULL, *stem = NULL;
    long number, threads = 0;
    double x;
    int a, bad, weight_decay_given = 0, setting_flags = 0, epochs_given = 0;
    dataset probe;

    memset(&training, 0, sizeof training);
    memset(&plan, 0, sizeof plan);
    training.model = simclr_config_default();
    training.model.seed = 0;
    training.epochs = 10;
    training.base_lr = 0.6;
    training.scaling = LR_SCALING_LINEAR;
    training.warmup_epochs = 1.0;
    strcpy(training.data, "builtin:shapes");
    plan.out = "simclr-run";

    /* the data and the preset first: defaults follow from them, overrides go on top */
    for (a = 0; a < argc; a++) {
        if (is_help(argv[a])) {
            fputs(train_usage, stdout);
            return 0;
        }
        if (a + 1 < argc && strcmp(argv[a], "--data") == 0) {
            if (strlen(argv[a + 1]) >= sizeof training.data) {
                fprintf(stderr, "simclr: --data: the path is longer than %d characters\n",
                        (int)sizeof training.data - 1);
                return 2;
            }
            strcpy(training.data, argv[a + 1]);
        }
        if (a + 1 < argc && strcmp(argv[a], "--preset") == 0)
            preset = argv[a + 1];
        if (a + 1 < argc && strcmp(argv[a], "--resume") == 0)
            resume = argv[a + 1];
    }
    if (resume != NULL) {
        safetensors_file file;
        size_t step;
        if (safetensors_read(&file, resume, &err) != SIMCLR_OK ||
            (simclr_checkpoint_training(&file, resume, &training, &plan.start_epoch, &step,
                                        &err) != SIMCLR_OK &&
             (safetensors_free(&file), 1))) {
            fprintf(stderr, "simclr: --resume: %s\n", err.message);
            return 2;
        }
        safetensors_free(&file);
    } else {
        if (preset == NULL) {
            if (dataset_open(&probe, training.data, 1, 0, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --data: %s\n", err.message);
                return 2;
            }
            preset = probe.channels == 1 ? "gray"
                     : probe.height == 32 && probe.width == 32 ? "cifar"
                                                                : "imagenet";
            dataset_close(&probe);
        }
        if (aug_config_preset(&training.augment, preset, &err) != SIMCLR_OK) {
            fprintf(stderr, "simclr: --preset: %s\n", err.message);
            return 2;
        }
        strncpy(training.preset, preset, sizeof training.preset - 1);
    }

    for (a = 0; a < argc; a++) {
        const char *flag = argv[a], *value;
        int setting = 1;
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (augmentation_flag(&training.augment, flag, value, &bad)) {
            if (bad)
                return 2;
        } else if (strcmp(flag, "--data") == 0 || strcmp(flag, "--preset") == 0) {
            /* read above */
        } else if (strcmp(flag, "--resume") == 0) {
            setting = 0;
        } else if (strcmp(flag, "--out") == 0) {
            plan.out = value;
            setting = 0;
        } else if (strcmp(flag, "--threads") == 0) {
            if (!parse_long(flag, value, 1, 1024, &threads))
                return 2;
            setting = 0;
        } else if (strcmp(flag, "--stop-after") == 0) {
            if (!parse_long(flag, value, 1, 1000000, &number))
                return 2;
            plan.stop_after = (size_t)number;
            setting = 0;
        } else if (strcmp(flag, "--fault-nan-step") == 0) {
            if (!parse_long(flag, value, 1, LONG_MAX, &number))
                return 2;
            plan.fault_nan_step = (size_t)number;
            setting = 0;
        } else if (strcmp(flag, "--epochs") == 0) {
            if (!parse_long(flag, value, 1, 1000000, &number))
                return 2;
            training.epochs = (size_t)number;
            epochs_given = 1;
            setting = 0;
        } else if (strcmp(flag, "--seed") == 0) {
            if (!parse_long(flag, value, 0, LONG_MAX, &number))
                return 2;
            training.model.seed = (uint64_t)number;
        } else if (strcmp(flag, "--limit") == 0) {
            if (!parse_long(flag, value, 1, LONG_MAX, &number))
                return 2;
            training.limit = (size_t)number;
        } else if (strcmp(flag, "--arch") == 0) {
            if (resnet_arch_parse(value, &training.model.encoder.arch, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --arch: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(flag, "--stem") == 0) {
            if (resnet_stem_parse(value, &training.model.encoder.stem, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --stem: %s\n", err.message);
                return 2;
            }
            stem = value;
        } else if (strcmp(flag, "--width") == 0) {
            if (!parse_double(flag, value, 1.0 / 64.0, 16.0, &x))
                return 2;
            training.model.encoder.width = x;
        } else if (strcmp(flag, "--head-layers") == 0) {
            if (!parse_long(flag, value, 2, HEAD_MAX_LAYERS, &number))
                return 2;
            training.model.head.num_layers = (size_t)number;
        } else if (strcmp(flag, "--hidden") == 0) {
            if (!parse_long(flag, value, 1, 65536, &number))
                return 2;
            training.model.head.hidden_dim = (size_t)number;
        } else if (strcmp(flag, "--out-dim") == 0) {
            if (!parse_long(flag, value, 1, 65536, &number))
                return 2;
            training.model.head.out_dim = (size_t)number;
        } else if (strcmp(flag, "--head-bn") == 0) {
            if (!parse_long(flag, value, 0, 1, &number))
                return 2;
            training.model.head.batch_norm = (int)number;
        } else if (strcmp(flag, "--batch") == 0) {
            if (!parse_long(flag, value, 1, 65536, &number))
                return 2;
            training.model.batch = (size_t)number;
        } else if (strcmp(flag, "--optimizer") == 0) {
            if (optimizer_parse(value, &training.model.optimizer.kind, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --optimizer: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(flag, "--lr") == 0) {
            if (!parse_double(flag, value, 1e-9, 1e3, &training.base_lr))
                return 2;
        } else if (strcmp(flag, "--lr-scaling") == 0) {
            if (lr_scaling_parse(value, &training.scaling, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --lr-scaling: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(flag, "--warmup") == 0) {
            if (!parse_double(flag, value, 0.0, 1e6, &training.warmup_epochs))
                return 2;
        } else if (strcmp(flag, "--momentum") == 0) {
            if (!parse_double(flag, value, 0.0, 0.9999, &x))
                return 2;
            training.model.optimizer.momentum = (float)x;
        } else if (strcmp(flag, "--weight-decay") == 0) {
            if (!parse_double(flag, value, 0.0, 1.0, &x))
                return 2;
            training.model.optimizer.weight_decay = (float)x;
            weight_decay_given = 1;
        } else if (strcmp(flag, "--loss") == 0) {
            if (contrastive_loss_parse(value, &training.model.loss.kind, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --loss: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(flag, "--temperature") == 0) {
            if (!parse_double(flag, value, 1e-3, 100.0, &x))
                return 2;
            training.model.loss.temperature = (float)x;
        } else {
            fprintf(stderr, "simclr: train: unknown argument '%s' (see simclr train --help)\n",
                    flag);
            return 2;
        }
        setting_flags += setting;
    }
    if (resume != NULL && setting_flags > 0) {
        fprintf(stderr, "simclr: --resume takes the run's settings from the checkpoint; only "
                        "--epochs, --out, --threads and --stop-after may be given with it\n");
        return 2;
    }
    if (resume != NULL && epochs_given && training.epochs < plan.start_epoch) {
        fprintf(stderr, "simclr: --epochs: the checkpoint has already done %lu epochs\n",
                (unsigned long)plan.start_epoch);
        return 2;
    }
    if (resume == NULL) {
        if (stem == NULL)
            training.model.encoder.stem = training.augment.size <= 64 ? STEM_CIFAR : STEM_IMAGENET;
        if (!weight_decay_given && training.model.optimizer.kind == OPTIMIZER_LARS)
            training.model.optimizer.weight_decay = 1e-6f;
    }
    if (threads > 0)
        parallel_set_thread_count((int)threads);
    return run_training(&training, &plan, resume);
}

/* ------------------------------------------------------------------------------------------ */
/* Loading an encoder for evaluation                                                          */
/* ------------------------------------------------------------------------------------------ */

/* The encoder f of a checkpoint, with its weights (or, random_init, with the weights the run
 * started from: the same seeded initialisation, drawn before any training), and the run's
 * settings. Prints the reason on failure. */
static int encoder_from_checkpoint(const char *path, int random_init, resnet *net,
                                   param_store *store, simclr_training *training)
{
    safetensors_file file;
    simclr_error err;
    resnet_config config;
    size_t epoch, step;
    param_store_init(store);
    if (safetensors_read(&file, path, &err) != SIMCLR_OK ||
        simclr_checkpoint_training(&file, path, training, &epoch, &step, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        if (file.bytes != NULL)
            safetensors_free(&file);
        return 0;
    }
    config = training->model.encoder;
    config.in_channels = training->model.channels;
    config.num_classes = 0;
    if (resnet_plan(net, &config, store, "backbone.", &err) != SIMCLR_OK ||
        param_store_allocate(store, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        safetensors_free(&file);
        param_store_destroy(store);
        return 0;
    }
    /* the backbone's entries come first in a SimCLR model's table, so the (seed, "init")
     * stream gives them the same values as the run's step 0 */
    param_store_init_torchvision(store, training->model.seed);
    if (!random_init && simclr_store_load(store, &file, path, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        safetensors_free(&file);
        param_store_destroy(store);
        return 0;
    }
    safetensors_free(&file);
    return 1;
}

/* Features of both splits: raw pixels (net NULL) or the encoder's. Prints the reason on
 * failure. */
static int extract_both_splits(feature_set *train, feature_set *test, const dataset *train_data,
                               const dataset *test_data, size_t train_limit, size_t test_limit,
                               const resnet *net, param_store *store, const aug_config *view,
                               size_t batch)
{
    simclr_error err;
    int ok;
    const double start = wall_seconds();
    if (net == NULL)
        ok = features_from_pixels(train, train_data, train_limit, &err) == SIMCLR_OK &&
             features_from_pixels(test, test_data, test_limit, &err) == SIMCLR_OK;
    else
        ok = features_from_encoder(train, train_data, train_limit, net, store, view, batch,
                                   &err) == SIMCLR_OK &&
             features_from_encoder(test, test_data, test_limit, net, store, view, batch, &err) ==
                 SIMCLR_OK;
    if (!ok) {
        fprintf(stderr, "simclr: %s\n", err.message);
        feature_set_destroy(train);
        return 0;
    }
    fprintf(stderr, "simclr: features of %lu + %lu images (%lu each) in %.1f s\n",
            (unsigned long)train->count, (unsigned long)test->count, (unsigned long)train->dim,
            wall_seconds() - start);
    return 1;
}

/* What one probe measured. */
typedef struct probe_outcome {
    const char *probe;         /* "linear" or "knn" */
    classification_report report;
    size_t iterations;         /* L-BFGS iterations (linear) */
    int converged;
    double seconds;
} probe_outcome;

/* Working copies of both feature sets (each probe transforms them in place: standardised for
 * the linear probe, L2-normalised for kNN) and a (test, classes) score buffer. */
static int probe_copies(feature_set *train, feature_set *test, float **scores,
                        const feature_set *train_in, const feature_set *test_in,
                        const char *probe)
{
    const size_t train_floats = train_in->count * train_in->dim;
    const size_t test_floats = test_in->count * test_in->dim;
    *train = *train_in;
    *test = *test_in;
    train->values = malloc((train_floats > 0 ? train_floats : 1) * sizeof(float));
    test->values = malloc((test_floats > 0 ? test_floats : 1) * sizeof(float));
    *scores = malloc((test_in->count > 0 ? test_in->count : 1) * (size_t)train_in->classes *
                     sizeof(float));
    if (train->values == NULL || test->values == NULL || *scores == NULL) {
        fprintf(stderr, "simclr: %s: out of memory\n", probe);
        return 0;
    }
    memcpy(train->values, train_in->values, train_floats * sizeof(float));
    memcpy(test->values, test_in->values, test_floats * sizeof(float));
    return 1;
}

/* The linear probe: standardise (a copy), fit, score the test split. */
static int run_linear_probe(probe_outcome *outcome, const feature_set *train_in,
                            const feature_set *test_in, const logistic_fit_config *config)
{
    feature_set train, test;
    logistic_model model;
    lbfgs_result result;
    simclr_error err;
    float *scores;
    const double start = wall_seconds();
    int ok = 0;
    memset(outcome, 0, sizeof *outcome);
    memset(&model, 0, sizeof model);
    outcome->probe = "linear";
    if (!probe_copies(&train, &test, &scores, train_in, test_in, "linear probe"))
        goto done;
    features_standardize(&train, &test);
    if (logistic_fit(&model, &result, train.values, train.labels, train.count, train.dim,
                     (size_t)train.classes, config, &err) != SIMCLR_OK ||
        logistic_scores(scores, &model, test.values, test.count, &err) != SIMCLR_OK ||
        classification_report_compute(&outcome->report, scores, test.labels, test.count,
                                      (size_t)train.classes, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: linear probe: %s\n", err.message);
        logistic_model_destroy(&model);
        goto done;
    }
    logistic_model_destroy(&model);
    outcome->iterations = result.iterations;
    outcome->converged = result.converged;
    if (!result.converged)
        fprintf(stderr, "simclr: linear probe: L-BFGS stopped after %lu iterations without "
                        "meeting its tolerance (gradient %.2e)\n",
                (unsigned long)result.iterations, result.gradient_norm);
    else
        fprintf(stderr, "simclr: linear probe: L-BFGS converged in %lu iterations (gradient "
                        "%.2e, loss %.6f), %.1f s\n",
                (unsigned long)result.iterations, result.gradient_norm, result.value,
                wall_seconds() - start);
    ok = 1;
done:
    outcome->seconds = wall_seconds() - start;
    free(train.values);
    free(test.values);
    free(scores);
    return ok;
}

/* The kNN monitor on L2-normalised copies. */
static int run_knn_probe(probe_outcome *outcome, const feature_set *train_in,
                         const feature_set *test_in, const knn_config *config)
{
    feature_set train, test;
    simclr_error err;
    float *scores;
    const double start = wall_seconds();
    int ok = 0;
    memset(outcome, 0, sizeof *outcome);
    outcome->probe = "knn";
    if (!probe_copies(&train, &test, &scores, train_in, test_in, "knn"))
        goto done;
    knn_normalize_rows(train.values, train.count, train.dim);
    knn_normalize_rows(test.values, test.count, test.dim);
    if (knn_scores(scores, test.values, test.count, train.values, train.labels, train.count,
                   train.dim, (size_t)train.classes, config, &err) != SIMCLR_OK ||
        classification_report_compute(&outcome->report, scores, test.labels, test.count,
                                      (size_t)train.classes, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: knn: %s\n", err.message);
        goto done;
    }
    outcome->converged = 1;
    ok = 1;
done:
    outcome->seconds = wall_seconds() - start;
    free(train.values);
    free(test.values);
    free(scores);
    return ok;
}

/* One line per probe: a table, or CSV rows (with a header when `header`). */
static void print_probe_outcome(const char *features, const probe_outcome *outcome,
                                const dataset *data, size_t train_count, int csv, int header,
                                int confusion)
{
    const classification_report *r = &outcome->report;
    size_t c, p;
    if (csv) {
        if (header) {
            printf("features,probe,train,test,top1,top5");
            for (c = 0; c < r->classes; c++)
                printf(",class_%lu", (unsigned long)c);
            printf("\n");
        }
        printf("%s,%s,%lu,%lu,%.4f,%.4f", features, outcome->probe, (unsigned long)train_count,
               (unsigned long)r->samples, r->top1, r->top5);
        for (c = 0; c < r->classes; c++)
            printf(",%.4f", r->per_class[c]);
        printf("\n");
        return;
    }
    if (header)
        printf("%-10s %-7s %7s %7s %7s %7s\n", "features", "probe", "train", "test", "top-1",
               "top-5");
    printf("%-10s %-7s %7lu %7lu %7.4f %7.4f\n", features, outcome->probe,
           (unsigned long)train_count, (unsigned long)r->samples, r->top1, r->top5);
    printf("  per class:");
    for (c = 0; c < r->classes; c++)
        printf(" %s %.3f", data->names[c], r->per_class[c]);
    printf("\n");
    if (!confusion)
        return;
    printf("  confusion (rows: true class, columns: predicted):\n");
    for (c = 0; c < r->classes; c++) {
        printf("  %10.10s", data->names[c]);
        for (p = 0; p < r->classes; p++)
            printf(" %6lu", (unsigned long)r->confusion[c * r->classes + p]);
        printf("\n");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* simclr eval                                                                                */
/* ------------------------------------------------------------------------------------------ */

static const char eval_usage[] =
    "usage: simclr eval (--checkpoint CKPT | --features raw) [--data SRC] [--probe P]\n"
    "                   [--k K] [--t T] [--l2 L] [--init checkpoint|random] [--csv] ...\n"
    "\n"
    "Judges a representation as SPEC §6 describes: features of un-augmented images (training\n"
    "and test splits) from the frozen encoder in evaluation mode, then a linear probe\n"
    "(L2-regularised multinomial logistic regression on standardised features, fitted with\n"
    "L-BFGS) and/or the kNN monitor (cosine similarity, top K neighbours, votes exp(sim/T)).\n"
    "Prints one line per probe (top-1, top-5) and its per-class accuracy on stdout.\n"
    "\n"
    "  --checkpoint CKPT   a checkpoint of simclr train (its backbone is the encoder)\n"
    "  --features raw      probe the pixels themselves instead (no checkpoint)\n"
    "  --data SRC          the dataset (default: the checkpoint's; builtin:shapes for raw)\n"
    "  --probe P           linear | knn | both (default both)\n"
    "  --k K               kNN neighbours (default 200)\n"
    "  --t T               kNN temperature (default 0.1)\n"
    "  --l2 L              the probe's L2 penalty λ (default 1e-4)\n"
    "  --max-iterations N  L-BFGS iterations at most (default 1000)\n"
    "  --init I            checkpoint (default) | random: the run's initial weights instead,\n"
    "                      the randomly initialised encoder SimCLR started from | both\n"
    "  --train-limit N     use only the first N training images (default: all)\n"
    "  --test-limit N      use only the first N test images (default: all)\n"
    "  --batch B           images per forward pass (default 64)\n"
    "  --threads T         OpenMP threads (default: all)\n"
    "  --csv               CSV instead of the table\n"
    "  --confusion         print each probe's confusion matrix under its line (table only)\n";

/* Options shared by eval and the evaluation at the end of make run. */
typedef struct eval_options {
    const char *checkpoint, *source;
    int raw, random_init, csv, linear, knn;
    int confusion;             /* print the confusion matrix under each table line */
    int header;                /* print the table's header line first */
    knn_config knn_settings;
    logistic_fit_config linear_settings;
    size_t train_limit, test_limit, batch;
} eval_options;

static int run_evaluation(const eval_options *options)
{
    resnet net;
    param_store store;
    simclr_training training;
    dataset train_data, test_data;
    feature_set train, test;
    simclr_error err;
    probe_outcome outcome;
    const char *source = options->source;
    const char *label = options->raw ? "raw" : options->random_init ? "random" : "simclr";
    int status = 1, header = options->header;
    memset(&training, 0, sizeof training);
    param_store_init(&store);
    if (!options->raw &&
        !encoder_from_checkpoint(options->checkpoint, options->random_init, &net, &store,
                                 &training))
        return 1;
    if (source == NULL)
        source = options->raw ? "builtin:shapes" : training.data;
    if (dataset_open(&train_data, source, 1, training.model.seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --data: %s\n", err.message);
        param_store_destroy(&store);
        return 1;
    }
    if (dataset_open(&test_data, source, 0, training.model.seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --data: %s\n", err.message);
        dataset_close(&train_data);
        param_store_destroy(&store);
        return 1;
    }
    if (!options->raw && train_data.channels != training.model.channels) {
        fprintf(stderr, "simclr: --data: %s has %lu channels, the encoder was trained on %lu\n",
                source, (unsigned long)train_data.channels,
                (unsigned long)training.model.channels);
        goto done;
    }
    if (!extract_both_splits(&train, &test, &train_data, &test_data, options->train_limit,
                             options->test_limit, options->raw ? NULL : &net, &store,
                             &training.augment, options->batch))
        goto done;
    status = 0;
    if (options->linear) {
        if (run_linear_probe(&outcome, &train, &test, &options->linear_settings)) {
            print_probe_outcome(label, &outcome, &train_data, train.count, options->csv, header,
                                options->confusion);
            header = 0;
            classification_report_destroy(&outcome.report);
        } else
            status = 1;
    }
    if (options->knn) {
        if (run_knn_probe(&outcome, &train, &test, &options->knn_settings)) {
            print_probe_outcome(label, &outcome, &train_data, train.count, options->csv, header,
                                options->confusion);
            classification_report_destroy(&outcome.report);
        } else
            status = 1;
    }
    fflush(stdout);
    feature_set_destroy(&train);
    feature_set_destroy(&test);
done:
    dataset_close(&train_data);
    dataset_close(&test_data);
    param_store_destroy(&store);
    return status;
}

static int command_eval(int argc, char **argv)
{
    eval_options options;
    long number, threads = 0;
    double x;
    int a;
    memset(&options, 0, sizeof options);
    options.linear = options.knn = 1;
    options.knn_settings = knn_config_default();
    options.linear_settings = logistic_fit_config_default();
    options.batch = 64;
    for (a = 0; a < argc; a++) {
        const char *flag = argv[a], *value;
        if (is_help(flag)) {
            fputs(eval_usage, stdout);
            return 0;
        }
        if (strcmp(flag, "--csv") == 0) {
            options.csv = 1;
            continue;
        }
        if (strcmp(flag, "--confusion") == 0) {
            options.confusion = 1;
            continue;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(flag, "--checkpoint") == 0)
            options.checkpoint = value;
        else if (strcmp(flag, "--data") == 0)
            options.source = value;
        else if (strcmp(flag, "--features") == 0) {
            if (strcmp(value, "raw") != 0) {
                fprintf(stderr, "simclr: --features wants raw, not '%s'\n", value);
                return 2;
            }
            options.raw = 1;
        } else if (strcmp(flag, "--probe") == 0) {
            if (strcmp(value, "linear") != 0 && strcmp(value, "knn") != 0 &&
                strcmp(value, "both") != 0) {
                fprintf(stderr, "simclr: --probe wants linear, knn or both, not '%s'\n", value);
                return 2;
            }
            options.linear = strcmp(value, "knn") != 0;
            options.knn = strcmp(value, "linear") != 0;
        } else if (strcmp(flag, "--k") == 0) {
            if (!parse_long(flag, value, 1, 100000, &number))
                return 2;
            options.knn_settings.k = (size_t)number;
        } else if (strcmp(flag, "--t") == 0) {
            if (!parse_double(flag, value, 1e-4, 100.0, &x))
                return 2;
            options.knn_settings.temperature = x;
        } else if (strcmp(flag, "--l2") == 0) {
            if (!parse_double(flag, value, 0.0, 1e3, &x))
                return 2;
            options.linear_settings.l2 = x;
        } else if (strcmp(flag, "--max-iterations") == 0) {
            if (!parse_long(flag, value, 1, 1000000, &number))
                return 2;
            options.linear_settings.lbfgs.max_iterations = (size_t)number;
        } else if (strcmp(flag, "--init") == 0) {
            if (strcmp(value, "checkpoint") != 0 && strcmp(value, "random") != 0 &&
                strcmp(value, "both") != 0) {
                fprintf(stderr, "simclr: --init wants checkpoint, random or both, not '%s'\n",
                        value);
                return 2;
            }
            options.random_init = value[0] == 'r' ? 1 : value[0] == 'b' ? 2 : 0;
        } else if (strcmp(flag, "--train-limit") == 0 || strcmp(flag, "--test-limit") == 0) {
            if (!parse_long(flag, value, 1, LONG_MAX, &number))
                return 2;
            *(flag[3] == 'r' ? &options.train_limit : &options.test_limit) = (size_t)number;
        } else if (strcmp(flag, "--batch") == 0) {
            if (!parse_long(flag, value, 1, 4096, &number))
                return 2;
            options.batch = (size_t)number;
        } else if (strcmp(flag, "--threads") == 0) {
            if (!parse_long(flag, value, 1, 1024, &threads))
                return 2;
        } else {
            fprintf(stderr, "simclr: eval: unknown argument '%s'\n%s", flag, eval_usage);
            return 2;
        }
    }
    if ((options.checkpoint == NULL) == (options.raw == 0)) {
        fprintf(stderr, "simclr: eval: give exactly one of --checkpoint CKPT and --features raw\n");
        return 2;
    }
    if (threads > 0)
        parallel_set_thread_count((int)threads);
    options.header = 1;
    if (options.random_init == 2) { /* the trained encoder, then the one it started from */
        int status;
        options.random_init = 0;
        status = run_evaluation(&options);
        options.random_init = 1;
        options.header = 0;
        return run_evaluation(&options) != 0 ? 1 : status;
    }
    return run_evaluation(&options);
}

/* ------------------------------------------------------------------------------------------ */
/* simclr embed                                                                               */
/* ------------------------------------------------------------------------------------------ */

static const char embed_usage[] =
    "usage: simclr embed --checkpoint CKPT --out FILE.safetensors [--data SRC] [--batch B]\n"
    "                    [--threads T]\n"
    "\n"
    "Writes the frozen encoder's features h of every training and test image, with their\n"
    "labels, for other tools: tensors train.features (n, d) F32, train.labels (n) I64,\n"
    "test.features, test.labels; the checkpoint's settings in __metadata__.\n"
    "\n"
    "  --checkpoint CKPT   a checkpoint of simclr train\n"
    "  --out FILE          the safetensors file to write (atomically)\n"
    "  --data SRC          the dataset (default: the checkpoint's)\n"
    "  --batch B           images per forward pass (default 64)\n"
    "  --threads T         OpenMP threads (default: all)\n";

static int command_embed(int argc, char **argv)
{
    const char *checkpoint = NULL, *out = NULL, *source = NULL;
    long batch = 64, threads = 0;
    resnet net;
    param_store store;
    simclr_training training;
    dataset train_data, test_data;
    feature_set train, test;
    simclr_error err;
    safetensors_entry entries[4];
    safetensors_metadata metadata[2];
    int64_t *labels = NULL;
    int a, status = 1;
    size_t i;
    for (a = 0; a < argc; a++) {
        const char *flag = argv[a], *value;
        if (is_help(flag)) {
            fputs(embed_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(flag, "--checkpoint") == 0)
            checkpoint = value;
        else if (strcmp(flag, "--out") == 0)
            out = value;
        else if (strcmp(flag, "--data") == 0)
            source = value;
        else if (strcmp(flag, "--batch") == 0) {
            if (!parse_long(flag, value, 1, 4096, &batch))
                return 2;
        } else if (strcmp(flag, "--threads") == 0) {
            if (!parse_long(flag, value, 1, 1024, &threads))
                return 2;
        } else {
            fprintf(stderr, "simclr: embed: unknown argument '%s'\n%s", flag, embed_usage);
            return 2;
        }
    }
    if (checkpoint == NULL || out == NULL) {
        fprintf(stderr, "simclr: embed: --checkpoint and --out are required\n%s", embed_usage);
        return 2;
    }
    if (threads > 0)
        parallel_set_thread_count((int)threads);
    if (!encoder_from_checkpoint(checkpoint, 0, &net, &store, &training))
        return 1;
    if (source == NULL)
        source = training.data;
    if (dataset_open(&train_data, source, 1, training.model.seed, &err) != SIMCLR_OK ||
        (dataset_open(&test_data, source, 0, training.model.seed, &err) != SIMCLR_OK &&
         (dataset_close(&train_data), 1))) {
        fprintf(stderr, "simclr: --data: %s\n", err.message);
        param_store_destroy(&store);
        return 1;
    }
    if (train_data.channels != training.model.channels) {
        fprintf(stderr, "simclr: --data: %s has %lu channels, the encoder was trained on %lu\n",
                source, (unsigned long)train_data.channels,
                (unsigned long)training.model.channels);
        goto done;
    }
    if (!extract_both_splits(&train, &test, &train_data, &test_data, 0, 0, &net, &store,
                             &training.augment, (size_t)batch))
        goto done;
    labels = malloc((train.count + test.count) * sizeof(int64_t));
    if (labels == NULL) {
        fprintf(stderr, "simclr: embed: out of memory\n");
        goto release;
    }
    for (i = 0; i < train.count; i++)
        labels[i] = train.labels[i];
    for (i = 0; i < test.count; i++)
        labels[train.count + i] = test.labels[i];
    memset(entries, 0, sizeof entries);
    entries[0].name = "train.features";
    entries[0].ndim = 2;
    entries[0].shape[0] = train.count;
    entries[0].shape[1] = train.dim;
    entries[0].f32 = train.values;
    entries[1].name = "train.labels";
    entries[1].ndim = 1;
    entries[1].shape[0] = train.count;
    entries[1].i64 = labels;
    entries[2].name = "test.features";
    entries[2].ndim = 2;
    entries[2].shape[0] = test.count;
    entries[2].shape[1] = test.dim;
    entries[2].f32 = test.values;
    entries[3].name = "test.labels";
    entries[3].ndim = 1;
    entries[3].shape[0] = test.count;
    entries[3].i64 = labels + train.count;
    memset(metadata, 0, sizeof metadata);
    strcpy(metadata[0].key, "checkpoint");
    snprintf(metadata[0].value, sizeof metadata[0].value, "%s", checkpoint);
    strcpy(metadata[1].key, "data");
    snprintf(metadata[1].value, sizeof metadata[1].value, "%s", source);
    if (safetensors_write(out, entries, 4, metadata, 2, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        goto release;
    }
    printf("wrote %s: %lu training and %lu test features of %lu dimensions\n", out,
           (unsigned long)train.count, (unsigned long)test.count, (unsigned long)train.dim);
    status = 0;
release:
    free(labels);
    feature_set_destroy(&train);
    feature_set_destroy(&test);
done:
    dataset_close(&train_data);
    dataset_close(&test_data);
    param_store_destroy(&store);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr golden                                                                              */
/* ------------------------------------------------------------------------------------------ */

static const char golden_usage[] =
    "usage: simclr golden --out DIR [--cases OPS] [--threads T]\n"
    "\n"
    "Writes the reference outputs of SPEC §8 — every layer forward and backward, NT-Xent, each\n"
    "augmentation op, ResNet-18 with both stems, one full SimCLR training step — as one\n"
    "self-describing safetensors file per case, and DIR/README.txt listing them. Check another\n"
    "implementation against them; tests/crosscheck_torch.py DIR does it with PyTorch.\n"
    "The files are the same bits for any thread count and with OpenMP off.\n"
    "\n"
    "  --out DIR      the folder to write (made if missing)\n"
    "  --cases OPS    only the cases of these ops, comma-separated (default: all): conv2d,\n"
    "                 batchnorm2d, batchnorm1d, linear, relu, maxpool2d, avgpool, ntxent,\n"
    "                 brightness, contrast, saturation, hue, grayscale, hflip, resized_crop,\n"
    "                 gaussian_blur, resnet, train_step; each file is the same bits as in the\n"
    "                 full set\n"
    "  --threads T    OpenMP threads (default: all)\n";

static void golden_progress(const char *path)
{
    fprintf(stderr, "simclr: wrote %s\n", path);
}

static int command_golden(int argc, char **argv)
{
    const char *out = NULL, *cases = NULL;
    long threads = 0;
    simclr_error err;
    int a;
    for (a = 0; a < argc; a++) {
        const char *flag = argv[a], *value;
        if (is_help(flag)) {
            fputs(golden_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(flag, "--out") == 0)
            out = value;
        else if (strcmp(flag, "--cases") == 0)
            cases = value;
        else if (strcmp(flag, "--threads") == 0) {
            if (!parse_long(flag, value, 1, 1024, &threads))
                return 2;
        } else {
            fprintf(stderr, "simclr: golden: unknown argument '%s'\n%s", flag, golden_usage);
            return 2;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "simclr: golden: --out DIR is required\n%s", golden_usage);
        return 2;
    }
    if (threads > 0)
        parallel_set_thread_count((int)threads);
    if (!ensure_directory(out))
        return 1;
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
    /* The references are defined with every float operation rounded to float; this build
     * keeps float expressions in a wider type (the Makefile's SINGLE_EVAL=0, or a compiler it
     * could not switch). Say so: its train_step case can differ beyond 1e-5. */
    fprintf(stderr, "simclr: golden: note: this build evaluates float expressions with "
                    "FLT_EVAL_METHOD %d, not 0; its outputs differ from other platforms' in the "
                    "last bits, and the train_step case can differ more (see the README)\n",
            (int)FLT_EVAL_METHOD);
#endif
    if (golden_write_all(out, cases, golden_progress, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: golden: %s\n", err.message);
        return 1;
    }
    printf("wrote the reference outputs to %s (listed in %s/README.txt)\n", out, out);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* main                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static const char main_usage[] =
    "usage: simclr COMMAND [options]\n"
    "\n"
    "simclr-c " SIMCLR_VERSION ": SimCLR (Chen et al. 2020) in portable C99.\n"
    "\n"
    "Commands:\n"
    "  augment    preview SimCLR's augmentations as an image (simclr augment --help)\n"
    "  bench      benchmarks (simclr bench --help)\n"
    "  train      train a SimCLR encoder (simclr train --help)\n"
    "  eval       linear probe and kNN of a checkpoint's encoder or of raw pixels\n"
    "  embed      write a checkpoint's features of a dataset to safetensors\n"
    "  golden     write reference outputs of every op for verifying other implementations\n"
    "  version    print the version and build configuration\n"
    "\n"
    "Every command takes --help.\n";

static int command_version(void)
{
    printf("simclr-c %s openmp=%s threads=%d gemm_tile=%dx%d\n", SIMCLR_VERSION,
#ifdef _OPENMP
           "on",
#else
           "off",
#endif
           parallel_thread_count(), GEMM_MR, GEMM_NR);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_usage, stderr);
        return 2;
    }
    if (is_help(argv[1])) {
        fputs(main_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "bench") == 0)
        return command_bench(argc - 2, argv + 2);
    if (strcmp(argv[1], "augment") == 0)
        return command_augment(argc - 2, argv + 2);
    if (strcmp(argv[1], "train") == 0)
        return command_train(argc - 2, argv + 2);
    if (strcmp(argv[1], "golden") == 0)
        return command_golden(argc - 2, argv + 2);
    if (strcmp(argv[1], "eval") == 0)
        return command_eval(argc - 2, argv + 2);
    if (strcmp(argv[1], "embed") == 0)
        return command_embed(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0)
        return command_version();
    fprintf(stderr, "simclr: unknown command '%s'\n%s", argv[1], main_usage);
    return 2;
}

#endif /* SIMCLR_LIBRARY_ONLY */
