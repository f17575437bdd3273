/*
 * simclr.c — SimCLR (Chen et al. 2020), the algorithm and the `simclr` program.
 *
 * Part 1, the algorithm (compiled into libsimclr.a), is the paper's Algorithm 1, top to bottom:
 *
 *     for every epoch:                                      simclr_train
 *         order = a shuffle of the training images          (seed, epoch)
 *         for every minibatch of N images in that order:    (the last partial batch is dropped)
 *             two augmented views x̃0, x̃1 of each image      simclr_batch_of_views
 *             h = f(x̃)   (ResNet encoder)                   simclr_train_step
 *             z = g(h)   (projection head)
 *             L = NT-Xent(z0, z1)                           (paper Eq. 1, mean over the 2N views)
 *             update f and g to minimise L                  (SGD or LARS, warm-up + cosine)
 *
 * then what a run needs around it: the table of run settings (flags, --help and checkpoint
 * metadata from one list), checkpoints, the trained encoder for embedding images, and the
 * training-step reference cases. Part 2, the program (compiled into `simclr` alone), parses
 * flags from the tables, calls part 1 and prints: results on stdout, progress and errors on
 * stderr, exit status 0 only on success. The library never prints.
 *
 * Where this differs from the official code (google-research/simclr): it repeats the dataset
 * and batches the stream, so no image is dropped, and counts round(warmup_epochs·n/B) warm-up
 * steps and n·E/B + 1 steps in all (integer division); here every epoch is a fresh shuffle
 * whose last partial batch is dropped (as LightlySSL's examples' drop_last=True), so a run has
 * ⌊n/N⌋·E steps with round(warmup_epochs·⌊n/N⌋) of warm-up: a few steps fewer.
 */
#include "simclr.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    config.head = projection_head_default(0);
    config.loss = contrastive_loss_default();
    config.optimizer.kind = OPTIMIZER_SGD;
    config.optimizer.momentum = 0.9f;
    config.optimizer.weight_decay = 5e-4f;
    config.optimizer.lars_eta = 0.001f;
    config.batch = 64;
    config.channels = 3;
    config.height = config.width = 32;
    config.views_forward = SIMCLR_VIEWS_JOINT;
    return config;
}

int simclr_model_create(simclr_model *model, const simclr_config *config, simclr_error *err)
{
    const size_t N = config->batch, passes = config->views_forward == SIMCLR_VIEWS_SEPARATE ? 2 : 1;
    const size_t per_pass = 2 * N / passes; /* views through the network at once */
    size_t loss_floats, view_floats, p;
    memset(model, 0, sizeof *model);
    model->config = *config;
    model->config.encoder.num_classes = 0;
    model->config.encoder.in_channels = config->channels;
    param_store_init(&model->store);
    if (N == 0)
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
    for (p = 0; p < passes; p++)
        if (resnet_activations_create(&model->encoder_acts[p], &model->encoder, per_pass,
                                      config->height, config->width, err) != SIMCLR_OK ||
            head_activations_create(&model->head_acts[p], &model->head, per_pass, err) !=
                SIMCLR_OK)
            goto failed;
    if (contrastive_cache_floats(N, model->config.head.out_dim, &loss_floats, err) != SIMCLR_OK ||
        tensor_element_count(4, (const size_t[4]){2 * N, config->channels, config->height,
                                                  config->width},
                             &view_floats, err) != SIMCLR_OK)
        goto failed;
    model->loss_memory = simclr_calloc(loss_floats, sizeof(float), "simclr: loss cache", err);
    model->views = simclr_calloc(view_floats, sizeof(float), "simclr: views", err);
    if (model->loss_memory == NULL || model->views == NULL ||
        optimizer_create(&model->opt, &model->config.optimizer, &model->store, err) != SIMCLR_OK)
        goto failed;
    contrastive_cache_bind(&model->loss_cache, model->loss_memory, N, model->config.head.out_dim);
    return SIMCLR_OK;
failed:
    simclr_model_destroy(model);
    return SIMCLR_FAILED;
}

void simclr_model_destroy(simclr_model *model)
{
    size_t p;
    for (p = 0; p < 2; p++) {
        resnet_activations_destroy(&model->encoder_acts[p]);
        head_activations_destroy(&model->head_acts[p]);
    }
    optimizer_destroy(&model->opt);
    simclr_free(model->loss_memory);
    simclr_free(model->views);
    param_store_destroy(&model->store);
    memset(model, 0, sizeof *model);
}

/* ---- the minibatch: N images, two views each ------------------------------------------------ */

int simclr_views_workspace_create(simclr_views_workspace *w, const simclr_model *model,
                                  const aug_config *augment, const dataset *data,
                                  simclr_error *err)
{
    const size_t N = model->config.batch;
    memset(w, 0, sizeof *w);
    w->batch = N;
    w->count = data->count;
    w->slots = parallel_thread_count();
    if (size_multiply_checked(data->channels * data->height, data->width, &w->image_floats) !=
        SIMCLR_OK)
        return simclr_fail(err, "simclr: the images are too large");
    w->images = simclr_calloc(N * w->image_floats, sizeof(float), "simclr: images", err);
    w->pointers = simclr_calloc(N, sizeof *w->pointers, "simclr: image pointers", err);
    w->indices = simclr_calloc(N, sizeof *w->indices, "simclr: image indices", err);
    w->order = simclr_calloc(data->count > 0 ? data->count : 1, sizeof *w->order,
                             "simclr: epoch order", err);
    w->augment = simclr_calloc(aug_batch_workspace_floats(augment, data->channels, data->height,
                                                          data->width, w->slots),
                               sizeof(float), "simclr: augmentation workspace", err);
    if (w->images == NULL || w->pointers == NULL || w->indices == NULL || w->order == NULL ||
        w->augment == NULL) {
        simclr_views_workspace_destroy(w);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

void simclr_views_workspace_destroy(simclr_views_workspace *w)
{
    simclr_free(w->images);
    simclr_free((void *)w->pointers);
    simclr_free(w->indices);
    simclr_free(w->order);
    simclr_free(w->augment);
    memset(w, 0, sizeof *w);
}

int simclr_batch_of_views(simclr_model *model, simclr_views_workspace *w, const dataset *data,
                          const size_t *order, size_t step, const aug_config *augment,
                          size_t epoch, simclr_error *err)
{
    const size_t N = model->config.batch;
    long b;
    if (order == NULL)
        order = w->order;
    if (data->channels != model->config.channels)
        return simclr_fail(err, "simclr: the data has %lu channels, the model takes %lu",
                           (unsigned long)data->channels, (unsigned long)model->config.channels);
    if (augment->size != model->config.height || augment->size != model->config.width)
        return simclr_fail(err, "simclr: the views are %lux%lu, the model takes %lux%lu",
                           (unsigned long)augment->size, (unsigned long)augment->size,
                           (unsigned long)model->config.height,
                           (unsigned long)model->config.width);
    if (w->batch != N || w->image_floats != data->channels * data->height * data->width)
        return simclr_fail(err, "simclr: the views' workspace was made for another batch");
    PARALLEL_FOR()
    for (b = 0; b < (long)N; b++) {
        const size_t index = order[step * N + (size_t)b];
        dataset_image(data, index, w->images + (size_t)b * w->image_floats);
        w->pointers[b] = w->images + (size_t)b * w->image_floats;
        w->indices[b] = index;
    }
    aug_views_batch(model->views, w->pointers, w->indices, N, data->channels, data->height,
                    data->width, augment, model->config.seed, epoch, w->augment, w->slots);
    return SIMCLR_OK;
}

/* ---- one step ------------------------------------------------------------------------------- */

float simclr_train_step(simclr_model *model, float lr)
{
    const size_t N = model->config.batch, d = model->config.head.out_dim;
    const size_t features = model->encoder.feature_dim;
    const size_t passes = model->config.views_forward == SIMCLR_VIEWS_SEPARATE ? 2 : 1;
    const size_t per_pass = 2 * N / passes;
    const size_t view_floats = model->config.channels * model->config.height * model->config.width;
    float *z0, *z1, *dz0, *dz1, loss;
    size_t p;
    memset(model->store.grads, 0, model->store.param_floats * sizeof(float));

    /* h = f(x̃), z = g(h): the 2N views as one batch, or view 0's N then view 1's N */
    for (p = 0; p < passes; p++) {
        resnet_forward(&model->encoder_acts[p], model->views + p * per_pass * view_floats,
                       &model->encoder, &model->store, 1);
        projection_head_forward(&model->head_acts[p], model->encoder_acts[p].features,
                                &model->head, &model->store, 1);
    }
    z0 = model->head_acts[0].output;
    z1 = passes == 2 ? model->head_acts[1].output : z0 + N * d;
    dz0 = model->head_acts[0].grad_output;
    dz1 = passes == 2 ? model->head_acts[1].grad_output : dz0 + N * d;

    /* L = NT-Xent(z0, z1) (or the configured loss), then ∂L/∂z back through g and f */
    loss = contrastive_loss_forward(&model->loss_cache, z0, z1, &model->config.loss, N, d);
    contrastive_loss_backward(dz0, dz1, &model->loss_cache, &model->config.loss, N, d);
    for (p = 0; p < passes; p++) {
        projection_head_backward(&model->head_acts[p], &model->head, &model->store);
        memcpy(model->encoder_acts[p].grad_features, model->head_acts[p].grad_input,
               per_pass * features * sizeof(float));
        resnet_backward(&model->encoder_acts[p], &model->encoder, &model->store);
    }
    optimizer_step(&model->opt, &model->store, lr);
    model->step++;
    return loss;
}

/* ---- epochs, schedule, resume --------------------------------------------------------------- */

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

int simclr_history_create(simclr_history *history, size_t capacity, simclr_error *err)
{
    memset(history, 0, sizeof *history);
    history->capacity = capacity;
    history->loss = simclr_calloc(capacity + 1, sizeof(float), "simclr: loss history", err);
    history->learning_rate = simclr_calloc(capacity + 1, sizeof(float), "simclr: lr history", err);
    history->views_per_second = simclr_calloc(capacity + 1, sizeof(float), "simclr: speeds", err);
    if (history->loss == NULL || history->learning_rate == NULL ||
        history->views_per_second == NULL) {
        simclr_history_destroy(history);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

void simclr_history_destroy(simclr_history *history)
{
    simclr_free(history->loss);
    simclr_free(history->learning_rate);
    simclr_free(history->views_per_second);
    memset(history, 0, sizeof *history);
}

int simclr_train(simclr_model *model, const simclr_training *training, const dataset *data,
                 simclr_history *history, simclr_progress_fn progress, void *context,
                 simclr_error *err)
{
    const size_t N = model->config.batch;
    dataset images = *data; /* the first `limit` images */
    simclr_views_workspace workspace;
    simclr_progress report;
    lr_schedule schedule;
    size_t per_epoch, epoch;
    int status = SIMCLR_OK, stop = 0;
    if (training->limit > 0 && training->limit < images.count)
        images.count = training->limit;
    per_epoch = simclr_steps_per_epoch(images.count, N);
    if (per_epoch == 0)
        return simclr_fail(err, "simclr: a batch of %lu is more than the %lu training images",
                           (unsigned long)N, (unsigned long)images.count);
    if (model->step % per_epoch != 0 || model->step / per_epoch > training->epochs)
        return simclr_fail(err, "simclr: the model has taken %lu steps, which is not a whole "
                                "number of epochs of %lu steps up to %lu epochs",
                           (unsigned long)model->step, (unsigned long)per_epoch,
                           (unsigned long)training->epochs);
    if (history->capacity < per_epoch * training->epochs || history->steps != model->step)
        return simclr_fail(err, "simclr: the history holds %lu of %lu steps, not room for %lu",
                           (unsigned long)history->steps, (unsigned long)model->step,
                           (unsigned long)(per_epoch * training->epochs));
    if (simclr_views_workspace_create(&workspace, model, &training->augment, &images, err) !=
        SIMCLR_OK)
        return SIMCLR_FAILED;
    schedule = simclr_training_schedule(training, images.count);
    memset(&report, 0, sizeof report);
    report.steps_per_epoch = per_epoch;
    report.total_steps = per_epoch * training->epochs;
    report.first_step = model->step;
    for (epoch = model->step / per_epoch; epoch < training->epochs && !stop; epoch++) {
        size_t step;
        dataset_epoch_order(&images, model->config.seed, epoch, workspace.order);
        for (step = 0; step < per_epoch && !stop; step++) {
            const size_t global = epoch * per_epoch + step;
            const double start = timer_seconds();
            const double lr = lr_schedule_at(&schedule, global);
            float loss;
            if (simclr_batch_of_views(model, &workspace, &images, NULL, step, &training->augment,
                                      epoch, err) != SIMCLR_OK) {
                status = SIMCLR_FAILED;
                break;
            }
            loss = simclr_train_step(model, (float)lr);
            if (!isfinite(loss)) {
                status = simclr_fail(err, "the loss became non-finite (%g) at epoch %lu, step %lu",
                                     (double)loss, (unsigned long)(epoch + 1),
                                     (unsigned long)(global + 1));
                break;
            }
            report.seconds = timer_seconds() - start;
            history->loss[global] = loss;
            history->learning_rate[global] = (float)lr;
            history->views_per_second[global] =
                (float)(2.0 * (double)N / (report.seconds > 0 ? report.seconds : 1e-9));
            history->steps = global + 1;
            report.step = global + 1;
            report.epoch = epoch;
            report.step_in_epoch = step;
            report.loss = loss;
            report.learning_rate = lr;
            report.epoch_done = step + 1 == per_epoch;
            if (progress != NULL && progress(&report, model, history, context) != 0)
                stop = 1;
        }
        if (status != SIMCLR_OK)
            break;
    }
    simclr_views_workspace_destroy(&workspace);
    return status;
}

/* ---- the run settings ----------------------------------------------------------------------- */

simclr_training simclr_training_default(void)
{
    simclr_training t;
    simclr_error err;
    memset(&t, 0, sizeof t);
    t.model = simclr_config_default();
    aug_config_preset(&t.augment, "cifar", &err);
    strcpy(t.preset, "cifar");
    strcpy(t.data, "builtin:shapes");
    t.epochs = 10;
    t.base_lr = 0.6;
    t.scaling = LR_SCALING_LINEAR;
    t.warmup_epochs = 1.0;
    return t;
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

#define METADATA_MAX 64

int simclr_checkpoint_write(const char *path, const simclr_model *model,
                            const simclr_training *training, size_t epoch,
                            const simclr_history *history, simclr_error *err)
{
    safetensors_metadata metadata[METADATA_MAX];
    checkpoint_log log;
    size_t count;
    if (model->step > 0 && (history == NULL || history->steps != model->step))
        return simclr_fail(err, "%s: the model has taken %lu steps but the history holds %lu",
                           path, (unsigned long)model->step,
                           (unsigned long)(history != NULL ? history->steps : 0));
    memset(&log, 0, sizeof log);
    if (model->step > 0) {
        log.loss = history->loss;
        log.learning_rate = history->learning_rate;
        log.views_per_second = history->views_per_second;
        log.steps = model->step;
    }
    count = run_settings_to_metadata(metadata, RUN_SETTINGS_CHECKPOINT_FORMAT, training, NULL, epoch,
                                     model->step);
    return checkpoint_write(path, &model->store, NULL, model->opt.velocity, &log, metadata, count,
                            err);
}

int simclr_checkpoint_training(const safetensors_file *file, const char *path,
                               simclr_training *training, size_t *epoch, size_t *step,
                               simclr_error *err)
{
    static const setting progress[] = {
        {NULL, "epoch", SETTING_SIZE, 0, 0, 1e6, NULL, NULL, 0, NULL, NULL},
        {NULL, "step", SETTING_SIZE, 0, 0, 1e15, NULL, NULL, 0, NULL, NULL}};
    const char *format = safetensors_metadata_value(file, "format");
    char where[600];
    size_t i;
    if (format == NULL || strcmp(format, RUN_SETTINGS_CHECKPOINT_FORMAT) != 0)
        return simclr_fail(err, "%s: not a checkpoint of this simclr-c (format '%s', expected "
                                "'%s')", path, format != NULL ? format : "none",
                           RUN_SETTINGS_CHECKPOINT_FORMAT);
    if (run_settings_from_metadata(training, file, path, NULL, err) != SIMCLR_OK ||
        run_settings_check(training, path, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    for (i = 0; i < 2; i++) {
        const char *value = safetensors_metadata_value(file, progress[i].key);
        snprintf(where, sizeof where, "%s: metadata '%s'", path, progress[i].key);
        if (value == NULL)
            return simclr_fail(err, "%s is missing", where);
        if (setting_parse(&progress[i], i == 0 ? epoch : step, value, where, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    if (*epoch > training->epochs)
        return simclr_fail(err, "%s: epoch %lu of a run of %lu epochs", path,
                           (unsigned long)*epoch, (unsigned long)training->epochs);
    return SIMCLR_OK;
}

int simclr_checkpoint_restore(simclr_model *model, const safetensors_file *file, const char *path,
                              simclr_history *history, simclr_error *err)
{
    simclr_training training;
    size_t epoch, step;
    if (simclr_checkpoint_training(file, path, &training, &epoch, &step, err) != SIMCLR_OK ||
        checkpoint_load_store(&model->store, file, path, err) != SIMCLR_OK ||
        checkpoint_load_velocity(model->opt.velocity, &model->store, file, path, err) !=
            SIMCLR_OK)
        return SIMCLR_FAILED;
    if (history != NULL) {
        if (step > history->capacity)
            return simclr_fail(err, "%s is at step %lu, beyond the %lu steps of the run", path,
                               (unsigned long)step, (unsigned long)history->capacity);
        if (checkpoint_load_log(history->loss, history->learning_rate, history->views_per_second,
                                step, file, path, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        history->steps = step;
    }
    model->step = step;
    return SIMCLR_OK;
}

/* ---- the training-step reference cases ------------------------------------------------------ */

/* One SGD step of the whole model on 4 images (the first built-in shapes, two cifar-preset
 * views each, as the program makes them) at 8 × 8 views, so ResNet-18's layer4 works on 1 × 1
 * maps. Small on purpose: a ReLU input within rounding distance of 0 may take the other side in
 * another correct implementation (another summation order, Winograd or direct convolution,
 * fused multiply-adds), and one flipped gate changes the update of every layer below it by
 * ~1e-2; at 8 × 8 the step has 0.3 M ReLU inputs and compares with PyTorch within 6e-5. */
int simclr_golden_train_step(golden_case *g, int views_forward, void *context)
{
    static const size_t order[4] = {0, 1, 2, 3};
    const size_t N = 4, C = 3, S = 8, view_floats = N * C * S * S;
    simclr_config config = simclr_config_default();
    simclr_error *err = golden_case_error(g);
    simclr_views_workspace workspace;
    simclr_model model;
    aug_config augment;
    dataset shapes;
    const float lr = 0.1f;
    float *view0, *view1, *loss;
    int status = SIMCLR_FAILED;
    (void)context;
    golden_case_begin(g, "train_step");
    config.batch = N;
    config.channels = C;
    config.height = config.width = S;
    config.seed = GOLDEN_SEED;
    config.views_forward = views_forward ? SIMCLR_VIEWS_SEPARATE : SIMCLR_VIEWS_JOINT;
    if (aug_config_preset(&augment, "cifar", err) != SIMCLR_OK ||
        dataset_open(&shapes, "builtin:shapes", 1, GOLDEN_SEED, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    augment.size = S;
    if (simclr_model_create(&model, &config, err) != SIMCLR_OK) {
        dataset_close(&shapes);
        return SIMCLR_FAILED;
    }
    golden_case_meta(g, "arch", "resnet18");
    golden_case_meta(g, "stem", "cifar");
    golden_case_meta(g, "width", "1");
    golden_case_meta(g, "head_layers", "%lu", (unsigned long)model.config.head.num_layers);
    golden_case_meta(g, "hidden", "%lu", (unsigned long)model.config.head.hidden_dim);
    golden_case_meta(g, "out_dim", "%lu", (unsigned long)model.config.head.out_dim);
    golden_case_meta(g, "head_batch_norm", "%d", model.config.head.batch_norm);
    golden_case_meta(g, "loss", "ntxent");
    golden_case_meta(g, "temperature", "%.9g", (double)model.config.loss.temperature);
    golden_case_meta(g, "optimizer", "sgd");
    golden_case_meta(g, "lr", "%.9g", (double)lr);
    golden_case_meta(g, "momentum", "%.9g", (double)model.config.optimizer.momentum);
    golden_case_meta(g, "weight_decay", "%.9g", (double)model.config.optimizer.weight_decay);
    golden_case_meta(g, "batch", "%lu", (unsigned long)N);
    if (views_forward) {
        golden_case_meta(g, "views", "two batches of N: view0, then view1, batch-norm "
                                     "statistics per batch, running statistics updated twice");
        golden_case_meta(g, "views_forward", "separate");
    } else {
        golden_case_meta(g, "views", "one batch of 2N: view0 then view1, batch-norm statistics "
                                     "over both");
    }
    golden_case_copy_store(g, "before.", &model.store);
    view0 = golden_case_tensor(g, "view0", 4, N, C, S, S);
    view1 = golden_case_tensor(g, "view1", 4, N, C, S, S);
    loss = golden_case_tensor(g, "loss", 1, 1, 0, 0, 0);
    if (view0 != NULL && view1 != NULL && loss != NULL &&
        simclr_views_workspace_create(&workspace, &model, &augment, &shapes, err) == SIMCLR_OK) {
        status = simclr_batch_of_views(&model, &workspace, &shapes, order, 0, &augment, 0, err);
        simclr_views_workspace_destroy(&workspace);
    }
    if (status == SIMCLR_OK) {
        memcpy(view0, model.views, view_floats * sizeof(float));
        memcpy(view1, model.views + view_floats, view_floats * sizeof(float));
        loss[0] = simclr_train_step(&model, lr);
        golden_case_copy_store(g, "after.", &model.store);
        status = golden_case_finish(g, views_forward ? "train_step_resnet18_cifar_n4_8x8_separate"
                                                     : "train_step_resnet18_cifar_n4_8x8");
    }
    simclr_model_destroy(&model);
    dataset_close(&shapes);
    return status;
}

#endif /* SIMCLR_PROGRAM_ONLY */

/* ========================================================================================== */
/* Part 2: the program                                                                        */
/* ========================================================================================== */
#ifndef SIMCLR_LIBRARY_ONLY

#define PATH_CAPACITY 4096

/* ---- flags from tables ---------------------------------------------------------------------- */

/* The flags of a command: tables of settings, each over its own struct. */
typedef struct flag_table {
    const setting *settings;
    size_t count;
    void *object;
    unsigned char *given;     /* (count) set to 1 for each flag given; may be NULL */
    size_t from, to;          /* only the settings at offsets in [from, to) (to 0: all) */
} flag_table;

/* Is the setting one of the table's (inside its window)? */
static int in_window(const flag_table *table, const setting *s)
{
    return s != NULL && (table->to == 0 || (s->offset >= table->from && s->offset < table->to));
}

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* Parses --flag VALUE (and --flag alone for SETTING_PRESENT) against the tables. Prints the
 * reason and returns 0 on a bad flag or value, 1 otherwise, 2 when --help was asked for. */
static int parse_flags(int argc, char **argv, const flag_table *tables, size_t table_count,
                       const char *command)
{
    simclr_error err;
    int a;
    for (a = 0; a < argc; a++) {
        const setting *s = NULL;
        size_t t;
        char source[160];
        if (is_help(argv[a]))
            return 2;
        for (t = 0; t < table_count && s == NULL && strncmp(argv[a], "--", 2) == 0; t++) {
            s = settings_find_flag(tables[t].settings, tables[t].count, argv[a] + 2);
            s = in_window(&tables[t], s) ? s : NULL;
        }
        if (s == NULL) {
            fprintf(stderr, "simclr: %s: unknown argument '%s' (see simclr %s --help)\n", command,
                    argv[a], command);
            return 0;
        }
        t--;
        if (tables[t].given != NULL)
            tables[t].given[s - tables[t].settings] = 1;
        if (s->type == SETTING_PRESENT) {
            *(int *)((char *)tables[t].object + s->offset) = 1;
            continue;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "simclr: %s needs a value\n", argv[a]);
            return 0;
        }
        snprintf(source, sizeof source, "%s", argv[a]);
        if (setting_parse(s, tables[t].object, argv[++a], source, &err) != SIMCLR_OK) {
            fprintf(stderr, "simclr: %s\n", err.message);
            return 0;
        }
    }
    return 1;
}

/* "usage" then one line per flag of the tables, with the default from `defaults` (the tables'
 * objects as they stand) unless the help text states its own in parentheses. */
static void print_usage(const char *usage, const flag_table *tables, size_t table_count)
{
    size_t t, i;
    fputs(usage, stdout);
    for (t = 0; t < table_count; t++)
        for (i = 0; i < tables[t].count; i++) {
            const setting *s = &tables[t].settings[i];
            char value[96], flag[160], fallback[128];
            if (s->flag == NULL || !in_window(&tables[t], s))
                continue;
            setting_usage(s, value, sizeof value);
            snprintf(flag, sizeof flag, "--%s%s%s", s->flag, s->type == SETTING_PRESENT ? "" : " ",
                     s->type == SETTING_PRESENT ? "" : value);
            printf("  %-22s %s", flag, s->help);
            if (strchr(s->help, '(') == NULL && s->type != SETTING_PRESENT &&
                setting_format(s, tables[t].object, fallback, sizeof fallback) > 0)
                printf(" (default %s)", fallback);
            printf("\n");
        }
}

/* Parses a command's flags; returns -1 to go on, else the exit status (0 after --help). */
static int command_flags(int argc, char **argv, const flag_table *tables, size_t count,
                         const char *command, const char *usage)
{
    switch (parse_flags(argc, argv, tables, count, command)) {
    case 2:
        print_usage(usage, tables, count);
        return 0;
    case 0:
        return 2;
    default:
        return -1;
    }
}

#define OPTION(type, flag, kind, field, low, high, name, help) \
    {flag, NULL, kind, offsetof(type, field), low, high, NULL, NULL, sizeof(((type *)0)->field), \
     name, help}
#define THREADS(type) \
    OPTION(type, "threads", SETTING_SIZE, threads, 0, 1024, "T", \
           "OpenMP threads (default: all; the results are the same bits for any T)")

static void use_threads(size_t threads)
{
    if (threads > 0)
        parallel_set_thread_count((int)threads);
}

/* ---- simclr train --------------------------------------------------------------------------- */

typedef struct train_options {
    char out[PATH_CAPACITY], resume[PATH_CAPACITY];
    size_t threads, stop_after;
} train_options;

static const setting train_option_table[] = {
    OPTION(train_options, "out", SETTING_TEXT, out, 0, 0, "DIR",
           "where checkpoints and logs go (default simclr-run; with --resume, that run's own)"),
    OPTION(train_options, "resume", SETTING_TEXT, resume, 0, 0, "CKPT",
           "continue the run a checkpoint belongs to, with its settings (only --epochs, --out, "
           "--threads and --stop-after may be given with it)"),
    THREADS(train_options),
    OPTION(train_options, "stop-after", SETTING_SIZE, stop_after, 0, 1e6, "E",
           "stop after E epochs of this invocation, as an interruption would (0: never)")};

static const char train_usage[] =
    "usage: simclr train [--data SRC] [--out DIR] [options]\n"
    "       simclr train --resume DIR/checkpoint.safetensors [--epochs E] [--out DIR]\n"
    "\n"
    "Trains a SimCLR encoder (Chen et al. 2020, Algorithm 1): for each batch of N images, two\n"
    "augmented views, h = f(x) by a ResNet, z = g(h) by the projection head, NT-Xent over the\n"
    "2N views, backward, optimiser step. Progress on stderr; a summary line on stdout. At the\n"
    "end of every epoch DIR gets (each written atomically): checkpoint.safetensors (the model\n"
    "with torchvision's names under backbone., the optimiser, the settings), log.csv (one row\n"
    "per step) and loss.svg (the loss curve).\n\n";

/* What the progress callback of a training run needs. */
typedef struct train_run {
    const char *out;
    const simclr_training *training;
    size_t stop_after, epochs_run;
    double start, last_report;
    int failed;
} train_run;

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

/* Checkpoint, log.csv and loss.svg of the run so far. */
static int save_run(const train_run *run, const simclr_model *model, const simclr_history *history,
                    size_t epoch, size_t per_epoch)
{
    char path[PATH_CAPACITY + 32];
    checkpoint_log log;
    simclr_error err;
    log.loss = history->loss;
    log.learning_rate = history->learning_rate;
    log.views_per_second = history->views_per_second;
    log.steps = history->steps;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", run->out);
    if (simclr_checkpoint_write(path, model, run->training, epoch, history, &err) == SIMCLR_OK) {
        snprintf(path, sizeof path, "%s/log.csv", run->out);
        if (run_files_write_csv(path, &log, per_epoch, &err) == SIMCLR_OK) {
            snprintf(path, sizeof path, "%s/loss.svg", run->out);
            if (run_files_write_loss_svg(path, &log, per_epoch, &err) == SIMCLR_OK)
                return 1;
        }
    }
    fprintf(stderr, "simclr: %s\n", err.message);
    return 0;
}

/* Progress on stderr at most once a second and at every epoch's end; the run's files at every
 * epoch's end; stops after --stop-after epochs. */
static int train_progress(const simclr_progress *p, simclr_model *model,
                          const simclr_history *history, void *context)
{
    train_run *run = context;
    const double now = timer_seconds(), elapsed = now - run->start;
    if (now - run->last_report >= 1.0 || p->epoch_done) {
        const size_t done = p->step - p->first_step;
        char eta[32];
        format_duration(eta, sizeof eta,
                        elapsed / (double)done * (double)(p->total_steps - p->step));
        fprintf(stderr, "epoch %lu/%lu  step %lu/%lu  loss %.4f  lr %.4g  %.0f views/s  ETA %s\n",
                (unsigned long)(p->epoch + 1), (unsigned long)run->training->epochs,
                (unsigned long)(p->step_in_epoch + 1), (unsigned long)p->steps_per_epoch,
                (double)p->loss, p->learning_rate,
                2.0 * (double)model->config.batch * (double)done / (elapsed > 0 ? elapsed : 1e-9),
                eta);
        run->last_report = now;
    }
    if (!p->epoch_done)
        return 0;
    run->epochs_run++;
    if (!save_run(run, model, history, p->epoch + 1, p->steps_per_epoch)) {
        run->failed = 1;
        return 1;
    }
    return run->stop_after > 0 && run->epochs_run == run->stop_after;
}

/* Trains with the settings of `training` (resolved: defaults applied, checked). */
static int run_training(simclr_training *training, const train_options *options)
{
    simclr_model model;
    simclr_history history;
    simclr_error err;
    dataset data;
    train_run run;
    lr_schedule schedule;
    size_t images, per_epoch;
    int status = 1;
    memset(&history, 0, sizeof history);
    if (dataset_open(&data, training->data, 1, training->model.seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --data: %s\n", err.message);
        return 1;
    }
    images = training->limit > 0 && training->limit < data.count ? training->limit : data.count;
    per_epoch = simclr_steps_per_epoch(images, training->model.batch);
    schedule = simclr_training_schedule(training, images);
    if (per_epoch == 0) {
        fprintf(stderr, "simclr: --batch: %lu is more than the %lu training images\n",
                (unsigned long)training->model.batch, (unsigned long)images);
        dataset_close(&data);
        return 1;
    }
    if (options->resume[0] == '\0')
        training->model.channels = data.channels;
    if (simclr_model_create(&model, &training->model, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        dataset_close(&data);
        return 1;
    }
    training->model = model.config; /* with the defaults resolved, as the checkpoint records */
    if (simclr_history_create(&history, per_epoch * training->epochs, &err) != SIMCLR_OK)
        goto failed;
    if (options->resume[0] != '\0') {
        safetensors_file file;
        if (safetensors_read(&file, options->resume, &err) != SIMCLR_OK)
            goto failed;
        if (simclr_checkpoint_restore(&model, &file, options->resume, &history, &err) !=
            SIMCLR_OK) {
            safetensors_free(&file);
            goto failed;
        }
        safetensors_free(&file);
        fprintf(stderr, "simclr: resuming %s at step %lu of %lu\n", options->resume,
                (unsigned long)model.step, (unsigned long)(per_epoch * training->epochs));
    }
    if (run_files_make_folder(options->out, &err) != SIMCLR_OK)
        goto failed;
    fprintf(stderr,
            "simclr: %s (%s stem, width %g) + %lu-layer head on %s: %lu images of %lux%lux%lu, "
            "%lu steps of %lu per epoch, %lu epochs, %s lr %g (scaled %g), %d thread(s)\n",
            resnet_arch_name(training->model.encoder.arch),
            resnet_stem_name(training->model.encoder.stem), training->model.encoder.width,
            (unsigned long)training->model.head.num_layers, training->data, (unsigned long)images,
            (unsigned long)data.channels, (unsigned long)data.height, (unsigned long)data.width,
            (unsigned long)per_epoch, (unsigned long)training->model.batch,
            (unsigned long)training->epochs, optimizer_name(training->model.optimizer.kind),
            training->base_lr, lr_schedule_scaled(&schedule), parallel_thread_count());
    memset(&run, 0, sizeof run);
    run.out = options->out;
    run.training = training;
    run.stop_after = options->stop_after;
    run.start = timer_seconds();
    run.last_report = -1e9;
    {
        const size_t first = model.step;
        if (simclr_train(&model, training, &data, &history, train_progress, &run, &err) !=
            SIMCLR_OK) {
            char path[PATH_CAPACITY + 32];
            FILE *kept;
            snprintf(path, sizeof path, "%s/checkpoint.safetensors", options->out);
            kept = fopen(path, "rb");
            fprintf(stderr, "simclr: %s; stopping.%s%s%s\n", err.message,
                    kept != NULL ? " " : "", kept != NULL ? path : "",
                    kept != NULL ? " is left as it was." : "");
            if (kept != NULL)
                fclose(kept);
        } else if (!run.failed) {
            const double elapsed = timer_seconds() - run.start;
            const size_t steps_run = model.step - first;
            printf("trained %s for %lu of %lu epochs (%lu steps this run, %lu in all): final "
                   "loss %.4f, %.0f views/s, %.1f s; checkpoint %s/checkpoint.safetensors\n",
                   resnet_arch_name(training->model.encoder.arch),
                   (unsigned long)(model.step / per_epoch), (unsigned long)training->epochs,
                   (unsigned long)steps_run, (unsigned long)model.step,
                   model.step > 0 ? (double)history.loss[model.step - 1] : 0.0,
                   2.0 * (double)training->model.batch * (double)steps_run /
                       (elapsed > 0 ? elapsed : 1e-9),
                   elapsed, options->out);
            status = 0;
        }
    }
    goto done;
failed:
    fprintf(stderr, "simclr: %s\n", err.message);
done:
    simclr_history_destroy(&history);
    simclr_model_destroy(&model);
    dataset_close(&data);
    return status;
}

static int command_train(int argc, char **argv)
{
    simclr_training training = simclr_training_default();
    train_options options;
    unsigned char given[64], option_given[8];
    flag_table tables[2];
    simclr_error err;
    const setting *s;
    size_t epoch, step, i, settings_given = 0;
    int a, status;
    memset(&options, 0, sizeof options);
    memset(given, 0, sizeof given);
    memset(option_given, 0, sizeof option_given);
    strcpy(options.out, "simclr-run");
    tables[0].settings = run_settings;
    tables[0].count = run_setting_count;
    tables[0].object = &training;
    tables[0].given = given;
    tables[0].from = tables[0].to = 0;
    tables[1].from = tables[1].to = 0;
    tables[1].settings = train_option_table;
    tables[1].count = sizeof train_option_table / sizeof train_option_table[0];
    tables[1].object = &options;
    tables[1].given = option_given;
    for (a = 0; a < argc; a++)
        if (is_help(argv[a])) {
            print_usage(train_usage, tables, 2);
            return 0;
        }
    /* --data, --preset and --resume first: defaults follow from them, flags go on top */
    for (a = 0; a + 1 < argc; a++)
        if (strcmp(argv[a], "--data") == 0 || strcmp(argv[a], "--preset") == 0 ||
            strcmp(argv[a], "--resume") == 0) {
            const int is_option = strcmp(argv[a], "--resume") == 0;
            s = settings_find_flag(tables[is_option].settings, tables[is_option].count, argv[a] + 2);
            if (setting_parse(s, tables[is_option].object, argv[a + 1], argv[a], &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: %s\n", err.message);
                return 2;
            }
        }
    if (options.resume[0] != '\0') {
        safetensors_file file;
        if (safetensors_read(&file, options.resume, &err) != SIMCLR_OK) {
            fprintf(stderr, "simclr: --resume: %s\n", err.message);
            return 2;
        }
        status = simclr_checkpoint_training(&file, options.resume, &training, &epoch, &step, &err);
        safetensors_free(&file);
        if (status != SIMCLR_OK) {
            fprintf(stderr, "simclr: --resume: %s\n", err.message);
            return 2;
        }
    } else {
        int preset_given = 0;
        for (a = 0; a + 1 < argc; a++)
            preset_given |= strcmp(argv[a], "--preset") == 0;
        if (!preset_given) { /* the preset follows from the data */
            dataset probe;
            if (dataset_open(&probe, training.data, 1, 0, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --data: %s\n", err.message);
                return 2;
            }
            strcpy(training.preset, probe.channels == 1                           ? "gray"
                                    : probe.height == 32 && probe.width == 32 ? "cifar"
                                                                              : "imagenet");
            dataset_close(&probe);
        }
        if (aug_config_preset(&training.augment, training.preset, &err) != SIMCLR_OK) {
            fprintf(stderr, "simclr: --preset: %s\n", err.message);
            return 2;
        }
    }
    if ((status = command_flags(argc, argv, tables, 2, "train", train_usage)) >= 0)
        return status;
    for (i = 0; i < run_setting_count; i++)
        settings_given += given[i] && strcmp(run_settings[i].flag, "epochs") != 0 &&
                          strcmp(run_settings[i].flag, "data") != 0;
    if (options.resume[0] != '\0') {
        if (settings_given > 0) {
            fprintf(stderr, "simclr: --resume takes the run's settings from the checkpoint; only "
                            "--epochs, --out, --threads and --stop-after may be given with it\n");
            return 2;
        }
        if (training.epochs < epoch) {
            fprintf(stderr, "simclr: --epochs: the checkpoint has already done %lu epochs\n",
                    (unsigned long)epoch);
            return 2;
        }
        if (!option_given[0]) { /* the run's own folder */
            char *slash;
            snprintf(options.out, sizeof options.out, "%s", options.resume);
            slash = strrchr(options.out, '/');
            if (slash != NULL)
                *slash = '\0';
            else
                strcpy(options.out, ".");
        }
    } else {
        if (!given[settings_find_flag(run_settings, run_setting_count, "stem") -
                   run_settings])
            training.model.encoder.stem = training.augment.size <= 64 ? STEM_CIFAR : STEM_IMAGENET;
        if (!given[settings_find_flag(run_settings, run_setting_count, "weight-decay") -
                   run_settings] &&
            training.model.optimizer.kind == OPTIMIZER_LARS)
            training.model.optimizer.weight_decay = 1e-6f;
        training.model.height = training.model.width = training.augment.size;
    }
    if (run_settings_check(&training, "simclr train", &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        return 2;
    }
    use_threads(options.threads);
    return run_training(&training, &options);
}

/* ---- simclr eval ---------------------------------------------------------------------------- */

static flag_table flags_of(const setting *settings, size_t count, void *object)
{
    flag_table table;
    memset(&table, 0, sizeof table);
    table.settings = settings;
    table.count = count;
    table.object = object;
    return table;
}

#define FLAGS_OF(table, object) flags_of(table, sizeof table / sizeof table[0], object)

typedef struct eval_options {
    char checkpoint[PATH_CAPACITY], data[SIMCLR_DATA_MAX];
    int features, probe, init, csv, confusion;
    knn_config knn;
    logistic_fit_config linear;
    size_t train_limit, test_limit, batch, threads;
} eval_options;

static const char *const feature_names[] = {"encoder", "raw", NULL};
static const char *const probe_names[] = {"both", "linear", "knn", NULL};
static const char *const init_names[] = {"checkpoint", "random", "both", NULL};

#define EVAL(flag, kind, field, low, high, name, help) \
    OPTION(eval_options, flag, kind, field, low, high, name, help)
static const setting eval_table[] = {
    EVAL("checkpoint", SETTING_TEXT, checkpoint, 0, 0, "CKPT",
         "a checkpoint of simclr train or an encoder of simclr export"),
    {"features", NULL, SETTING_CHOICE, offsetof(eval_options, features), 0, 0, feature_names,
     NULL, 0, NULL, "encoder: the checkpoint's encoder (default) | raw: the pixels themselves"},
    EVAL("data", SETTING_TEXT, data, 0, 0, "SRC",
         "the dataset (default: the checkpoint's; builtin:shapes for raw)"),
    {"probe", NULL, SETTING_CHOICE, offsetof(eval_options, probe), 0, 0, probe_names, NULL, 0,
     NULL, "which probes"},
    EVAL("k", SETTING_SIZE, knn.k, 1, 1e6, "K", "kNN neighbours"),
    EVAL("t", SETTING_DOUBLE, knn.temperature, 1e-4, 100, "T", "kNN temperature"),
    EVAL("l2", SETTING_DOUBLE, linear.l2, 0, 1e3, "L", "the linear probe's L2 penalty"),
    EVAL("max-iterations", SETTING_SIZE, linear.lbfgs.max_iterations, 1, 1e6, "N",
         "L-BFGS iterations at most"),
    {"init", NULL, SETTING_CHOICE, offsetof(eval_options, init), 0, 0, init_names, NULL, 0, NULL,
     "checkpoint: the trained weights | random: the run's initial weights, the random encoder "
     "SimCLR started from | both"},
    EVAL("train-limit", SETTING_SIZE, train_limit, 0, 1e15, "N",
         "use only the first N training images (0: all)"),
    EVAL("test-limit", SETTING_SIZE, test_limit, 0, 1e15, "N",
         "use only the first N test images (0: all)"),
    EVAL("batch", SETTING_SIZE, batch, 1, 4096, "B", "images per forward pass"),
    THREADS(eval_options),
    EVAL("csv", SETTING_PRESENT, csv, 0, 1, NULL, "CSV instead of the table"),
    EVAL("confusion", SETTING_PRESENT, confusion, 0, 1, NULL,
         "each probe's confusion matrix under its line (table only)")};

static const char eval_usage[] =
    "usage: simclr eval (--checkpoint CKPT | --features raw) [--data SRC] [--probe P] ...\n"
    "\n"
    "Judges a representation: features of un-augmented images (training and test splits) from\n"
    "the frozen encoder in evaluation mode, then a linear probe (L2-regularised multinomial\n"
    "logistic regression on standardised features, fitted with L-BFGS) and/or the kNN monitor\n"
    "(cosine similarity, top K neighbours, votes exp(sim/T)). Prints one line per probe (top-1,\n"
    "top-5) and its per-class accuracy on stdout. A dataset without a test split of its own (a\n"
    "folder of images) is evaluated against its training images.\n\n";

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

/* The probes of one set of features (random_init: the run's initial weights). */
static int run_evaluation(const eval_options *options, int random_init, int header)
{
    simclr_encoder encoder;
    dataset train_data, test_data;
    feature_set train, test;
    probe_outcome outcome;
    simclr_error err;
    const int raw = options->features == 1;
    const char *label = raw ? "raw" : random_init ? "random" : "simclr";
    const char *source = options->data[0] != '\0' ? options->data : "builtin:shapes";
    int status = 0, p;
    memset(&encoder, 0, sizeof encoder);
    if (!raw) {
        if (simclr_encoder_load(&encoder, options->checkpoint, random_init, options->batch,
                                &err) != SIMCLR_OK) {
            fprintf(stderr, "simclr: %s\n", err.message);
            return 1;
        }
        if (options->data[0] == '\0')
            source = encoder.data;
    }
    if (simclr_encoder_split_features(&train, &test, &train_data, &test_data, source, encoder.seed,
                       raw ? NULL : &encoder, options->train_limit, options->test_limit,
                       &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        simclr_encoder_destroy(&encoder);
        return 1;
    }
    for (p = 1; p <= 2; p++) { /* 1: linear, 2: knn */
        if (options->probe != 0 && options->probe != p)
            continue;
        if ((p == 1 ? probe_linear(&outcome, &train, &test, &options->linear, &err)
                    : probe_knn(&outcome, &train, &test, &options->knn, &err)) != SIMCLR_OK) {
            fprintf(stderr, "simclr: %s probe: %s\n", p == 1 ? "linear" : "knn", err.message);
            status = 1;
            continue;
        }
        if (p == 1)
            fprintf(stderr, "simclr: linear probe: L-BFGS %s %lu iterations (gradient %.2e, "
                            "loss %.6f), %.1f s\n",
                    outcome.converged ? "converged in" : "stopped without meeting its "
                                                         "tolerance after",
                    (unsigned long)outcome.iterations, outcome.gradient_norm, outcome.loss,
                    outcome.seconds);
        print_probe_outcome(label, &outcome, &train_data, train.count, options->csv, header,
                            options->confusion);
        header = 0;
        probe_outcome_destroy(&outcome);
    }
    fflush(stdout);
    feature_set_destroy(&train);
    feature_set_destroy(&test);
    dataset_close(&train_data);
    dataset_close(&test_data);
    simclr_encoder_destroy(&encoder);
    return status;
}

static int command_eval(int argc, char **argv)
{
    eval_options options;
    flag_table table;
    int status;
    memset(&options, 0, sizeof options);
    options.knn = knn_config_default();
    options.linear = logistic_fit_config_default();
    options.batch = 64;
    table = FLAGS_OF(eval_table, &options);
    if ((status = command_flags(argc, argv, &table, 1, "eval", eval_usage)) >= 0)
        return status;
    if ((options.checkpoint[0] == '\0') == (options.features == 0)) {
        fprintf(stderr, "simclr: eval: give exactly one of --checkpoint CKPT and --features raw\n");
        return 2;
    }
    use_threads(options.threads);
    if (options.init == 2) { /* the trained encoder, then the one it started from */
        status = run_evaluation(&options, 0, 1);
        return run_evaluation(&options, 1, 0) != 0 ? 1 : status;
    }
    return run_evaluation(&options, options.init == 1, 1);
}

/* ---- simclr embed, simclr export ------------------------------------------------------------ */

typedef struct embed_options {
    char checkpoint[PATH_CAPACITY], out[PATH_CAPACITY], data[SIMCLR_DATA_MAX];
    size_t batch, threads;
} embed_options;

static const setting embed_table[] = {
    OPTION(embed_options, "checkpoint", SETTING_TEXT, checkpoint, 0, 0, "CKPT",
           "a checkpoint of simclr train or an encoder of simclr export (required)"),
    OPTION(embed_options, "out", SETTING_TEXT, out, 0, 0, "FILE",
           "the safetensors file to write, atomically (required)"),
    OPTION(embed_options, "data", SETTING_TEXT, data, 0, 0, "SRC",
           "the dataset (default: the checkpoint's)"),
    OPTION(embed_options, "batch", SETTING_SIZE, batch, 1, 4096, "B", "images per forward pass"),
    THREADS(embed_options)};

static const char embed_usage[] =
    "usage: simclr embed --checkpoint CKPT --out FILE.safetensors [--data SRC] [--batch B]\n"
    "\n"
    "Writes the frozen encoder's features h of every training and test image, with their\n"
    "labels, for other tools: tensors train.features (n, d) F32, train.labels (n) I64,\n"
    "test.features, test.labels; the checkpoint and the data in __metadata__.\n\n";

static const char export_usage[] =
    "usage: simclr export --checkpoint CKPT --out encoder.safetensors\n"
    "\n"
    "Writes the encoder alone: the backbone.* tensors (torchvision's names after the prefix)\n"
    "and, in __metadata__, the architecture, the view size and the normalisation the encoder\n"
    "needs (format \"simclr-c encoder 1\"). Small enough to compile into firmware as a const\n"
    "array; simclr_encoder_load_bytes (simclr.h) reads it from memory.\n\n";

static int command_embed(int argc, char **argv, int export_only)
{
    embed_options options;
    flag_table table;
    simclr_encoder encoder;
    dataset train_data, test_data;
    feature_set train, test;
    simclr_error err;
    const char *source;
    int status;
    memset(&options, 0, sizeof options);
    options.batch = 64;
    table = flags_of(embed_table, export_only ? 2 : 5, &options);
    if ((status = command_flags(argc, argv, &table, 1, export_only ? "export" : "embed",
                                export_only ? export_usage : embed_usage)) >= 0)
        return status;
    if (options.checkpoint[0] == '\0' || options.out[0] == '\0') {
        fprintf(stderr, "simclr: --checkpoint and --out are required\n");
        return 2;
    }
    use_threads(options.threads);
    if (simclr_encoder_load(&encoder, options.checkpoint, 0, options.batch, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        return 1;
    }
    if (export_only) {
        status = simclr_encoder_export(options.out, &encoder, &err);
        if (status == SIMCLR_OK)
            printf("wrote %s: the %s encoder (%lu floats)\n", options.out,
                   resnet_arch_name(encoder.net.config.arch),
                   (unsigned long)encoder.store.param_floats);
        else
            fprintf(stderr, "simclr: %s\n", err.message);
        simclr_encoder_destroy(&encoder);
        return status == SIMCLR_OK ? 0 : 1;
    }
    source = options.data[0] != '\0' ? options.data : encoder.data;
    if (simclr_encoder_split_features(&train, &test, &train_data, &test_data, source, encoder.seed, &encoder, 0,
                       0, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        simclr_encoder_destroy(&encoder);
        return 1;
    }
    status = feature_sets_write(options.out, &train, &test, options.checkpoint, source, &err);
    if (status == SIMCLR_OK)
        printf("wrote %s: %lu training and %lu test features of %lu dimensions\n", options.out,
               (unsigned long)train.count, (unsigned long)test.count, (unsigned long)train.dim);
    else
        fprintf(stderr, "simclr: %s\n", err.message);
    feature_set_destroy(&train);
    feature_set_destroy(&test);
    dataset_close(&train_data);
    dataset_close(&test_data);
    simclr_encoder_destroy(&encoder);
    return status == SIMCLR_OK ? 0 : 1;
}

/* ---- simclr golden -------------------------------------------------------------------------- */

typedef struct golden_options {
    char out[PATH_CAPACITY], cases[512];
    size_t threads;
} golden_options;

static const setting golden_table[] = {
    OPTION(golden_options, "out", SETTING_TEXT, out, 0, 0, "DIR",
           "the folder to write (made if missing; required)"),
    OPTION(golden_options, "cases", SETTING_TEXT, cases, 0, 0, "OPS",
           "only the cases of these ops, comma-separated (default: all): conv2d, batchnorm2d, "
           "batchnorm1d, linear, relu, maxpool2d, avgpool, ntxent, brightness, contrast, "
           "saturation, hue, grayscale, hflip, resized_crop, gaussian_blur, resnet, train_step; "
           "each file is the same bits as in the full set"),
    THREADS(golden_options)};

static const char golden_usage[] =
    "usage: simclr golden --out DIR [--cases OPS] [--threads T]\n"
    "\n"
    "Writes reference outputs — every layer forward and backward, NT-Xent, each augmentation\n"
    "op, ResNet-18 with both stems, a SimCLR training step with the views as one batch and as\n"
    "two — as one self-describing safetensors file per case, and DIR/README.txt listing them\n"
    "with the conventions they follow. Check another implementation against them;\n"
    "tests/crosscheck_torch.py DIR does it with PyTorch. The files are the same bits for any\n"
    "thread count and with OpenMP off.\n\n";

static void golden_progress(const char *path)
{
    fprintf(stderr, "simclr: wrote %s\n", path);
}

static int command_golden(int argc, char **argv)
{
    golden_options options;
    flag_table table;
    simclr_error err;
    int status;
    memset(&options, 0, sizeof options);
    table = FLAGS_OF(golden_table, &options);
    if ((status = command_flags(argc, argv, &table, 1, "golden", golden_usage)) >= 0)
        return status;
    if (options.out[0] == '\0') {
        fprintf(stderr, "simclr: golden: --out DIR is required\n");
        return 2;
    }
    use_threads(options.threads);
    if (run_files_make_folder(options.out, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --out: %s\n", err.message);
        return 1;
    }
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
    /* The references are defined with every float operation rounded to float; this build
     * keeps float expressions in a wider type. Say so: its train_step case can differ. */
    fprintf(stderr, "simclr: golden: note: this build evaluates float expressions with "
                    "FLT_EVAL_METHOD %d, not 0; its outputs differ from other platforms' in the "
                    "last bits, and the train_step case can differ more (see the README)\n",
            (int)FLT_EVAL_METHOD);
#endif
    if (golden_write_all(options.out, options.cases[0] != '\0' ? options.cases : NULL,
                         simclr_golden_train_step, NULL, golden_progress, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: golden: %s\n", err.message);
        return 1;
    }
    printf("wrote the reference outputs to %s (listed in %s/README.txt)\n", options.out,
           options.out);
    return 0;
}

/* ---- simclr augment ------------------------------------------------------------------------- */

typedef struct augment_options {
    char out[PATH_CAPACITY], data[SIMCLR_DATA_MAX];
    size_t n, views;
    uint64_t seed;
    int test;
} augment_options;

static const char *const split_names[] = {"train", "test", NULL};

static const setting augment_table[] = {
    OPTION(augment_options, "out", SETTING_TEXT, out, 0, 0, "FILE",
           "the image to write: PNG, or PPM/PGM when FILE ends in .ppm/.pgm (required)"),
    OPTION(augment_options, "data", SETTING_TEXT, data, 0, 0, "SRC", "the dataset"),
    OPTION(augment_options, "n", SETTING_SIZE, n, 1, 256, "N", "images, one per row"),
    OPTION(augment_options, "views", SETTING_SIZE, views, 1, 64, "V", "views per image"),
    {"seed", NULL, SETTING_SEED, offsetof(augment_options, seed), 0, 0, NULL, NULL, 0, "S",
     "the run's seed: data and views"},
    {"split", NULL, SETTING_CHOICE, offsetof(augment_options, test), 0, 0, split_names, NULL, 0,
     NULL, "which split"}};

static const char augment_usage[] =
    "usage: simclr augment --out FILE [--data SRC] [--n N] [--views V] [--preset P] ...\n"
    "\n"
    "Writes a preview grid of SimCLR's augmentations: one row per image, the original (resized\n"
    "to the view size) followed by V augmented views, as the training would draw them (without\n"
    "the final normalisation, so that colours stay viewable). The preset and the augmentation\n"
    "flags of simclr train apply.\n\n";

static int command_augment(int argc, char **argv)
{
    simclr_training training = simclr_training_default();
    augment_options options;
    flag_table tables[2];
    simclr_error err;
    dataset data;
    float *grid;
    size_t height, width;
    int a, status;
    memset(&options, 0, sizeof options);
    strcpy(options.data, "builtin:shapes");
    options.n = 8;
    options.views = 6;
    tables[0] = FLAGS_OF(augment_table, &options);
    tables[1] = flags_of(run_settings, run_setting_count, &training);
    tables[1].from = offsetof(simclr_training, augment);
    tables[1].to = offsetof(simclr_training, data); /* the augmentation and the preset */
    for (a = 0; a + 1 < argc; a++) /* the preset first, so that overrides apply on top of it */
        if (strcmp(argv[a], "--preset") == 0)
            snprintf(training.preset, sizeof training.preset, "%s", argv[a + 1]);
    if (aug_config_preset(&training.augment, training.preset, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --preset: %s\n", err.message);
        return 2;
    }
    if ((status = command_flags(argc, argv, tables, 2, "augment", augment_usage)) >= 0)
        return status;
    if (options.out[0] == '\0') {
        fprintf(stderr, "simclr: augment: --out FILE is required\n");
        return 2;
    }
    if (dataset_open(&data, options.data, !options.test, options.seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --data: %s\n", err.message);
        return 2;
    }
    status = aug_preview_grid(&grid, &height, &width, &data, options.n, options.views,
                              &training.augment, options.seed, &err);
    if (status == SIMCLR_OK) {
        status = image_write(options.out, grid, data.channels, height, width, &err);
        simclr_free(grid);
    }
    if (status == SIMCLR_OK)
        printf("wrote %s: %lu images x (original + %lu views), %lux%lu pixels, preset %s\n",
               options.out, (unsigned long)(options.n < data.count ? options.n : data.count),
               (unsigned long)options.views, (unsigned long)width, (unsigned long)height,
               training.preset);
    else
        fprintf(stderr, "simclr: augment: %s\n", err.message);
    dataset_close(&data);
    return status == SIMCLR_OK ? 0 : 1;
}

/* ---- simclr bench --------------------------------------------------------------------------- */

typedef struct step_bench {
    simclr_config config;
    size_t threads, steps;
} step_bench;

#define STEP(flag, kind, field, low, high, name, help) \
    {flag, NULL, kind, offsetof(step_bench, field), low, high, NULL, NULL, 0, name, help}
static const setting step_bench_table[] = {
    {"arch", NULL, SETTING_CHOICE, offsetof(step_bench, config.encoder.arch), 0, 0, run_settings_arch_names,
     run_settings_arch_values, 0, NULL, "the encoder"},
    {"stem", NULL, SETTING_CHOICE, offsetof(step_bench, config.encoder.stem), 0, 0, run_settings_stem_names,
     run_settings_stem_values, 0, NULL, "the ResNet stem"},
    STEP("batch", SETTING_SIZE, config.batch, 1, 65536, "N", "images per step, 2N views"),
    STEP("threads", SETTING_SIZE, threads, 1, 1024, "T", "OpenMP threads (default: all)"),
    STEP("size", SETTING_SIZE, config.height, 8, 4096, "P", "view side in pixels"),
    STEP("channels", SETTING_SIZE, config.channels, 1, 64, "C", "view channels"),
    STEP("width", SETTING_DOUBLE, config.encoder.width, 1e-3, 64, "W",
         "channel width multiplier"),
    {"views-forward", NULL, SETTING_CHOICE, offsetof(step_bench, config.views_forward), 0, 0,
     run_settings_views_names, NULL, 0, NULL, "the views as one batch of 2N or two of N"},
    STEP("steps", SETTING_SIZE, steps, 1, 10000, "K", "timed steps")};

static const char step_bench_usage[] =
    "usage: simclr bench step [--arch A] [--stem S] [--batch N] [--threads T] [--size P] ...\n"
    "\n"
    "Times one full SimCLR training step — 2N views through the ResNet encoder and the\n"
    "projection head, NT-Xent, backward, SGD update — on random views, and prints the median\n"
    "of K timed steps (after 2 untimed ones) as views per second, with the peak resident memory.\n"
    "The settings match ../shared/bench/torch_step.py: SGD lr 0.06, momentum 0.9, weight decay\n"
    "5e-4, head Linear-BN-ReLU-Linear-BN with 128 outputs, temperature 0.5.\n"
    "Compare with: python3 ../shared/bench/torch_step.py --arch A --stem S --batch N --threads T\n\n";

static int bench_step(int argc, char **argv)
{
    step_bench bench;
    flag_table table;
    simclr_model model;
    simclr_error err;
    double times[10000];
    rng random;
    size_t i, count, s;
    int status;
    bench.config = simclr_config_default();
    bench.threads = (size_t)parallel_thread_count();
    bench.steps = 5;
    table = FLAGS_OF(step_bench_table, &bench);
    if ((status = command_flags(argc, argv, &table, 1, "bench step", step_bench_usage)) >= 0)
        return status;
    parallel_set_thread_count((int)bench.threads);
    bench.config.width = bench.config.height;
    if (simclr_model_create(&model, &bench.config, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: bench step: %s\n", err.message);
        return 1;
    }
    count = 2 * bench.config.batch * bench.config.channels * bench.config.height *
            bench.config.width;
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 1, 0, 0);
    for (i = 0; i < count; i++)
        model.views[i] = rng_uniform(&random);
    for (s = 0; s < bench.steps + 2; s++) { /* two untimed warm-up steps, as the PyTorch peer */
        const double start = timer_seconds();
        const float loss = simclr_train_step(&model, 0.06f);
        const double seconds = timer_seconds() - start;
        fprintf(stderr, "step %lu: loss %.4f, %.3f s\n", (unsigned long)s, (double)loss, seconds);
        if (s >= 2)
            times[s - 2] = seconds;
    }
    {
        const double median = bench_median(times, bench.steps);
        printf("simclr-c %s/%s width=%g batch=%lu threads=%d step_s=%.3f views_per_s=%.1f "
               "peak_rss_mib=%.0f\n",
               resnet_arch_name(bench.config.encoder.arch),
               resnet_stem_name(bench.config.encoder.stem), bench.config.encoder.width,
               (unsigned long)bench.config.batch, parallel_thread_count(), median,
               2.0 * (double)bench.config.batch / median, timer_peak_memory_mib());
    }
    simclr_model_destroy(&model);
    return 0;
}

static int command_bench(int argc, char **argv)
{
    size_t k;
    if (argc < 1 || is_help(argv[0])) {
        FILE *out = argc < 1 ? stderr : stdout;
        fprintf(out, "usage: simclr bench WHAT [options]\n\nBenchmarks, one result line each on "
                     "stdout (simclr bench WHAT --help). WHAT is one of:\n"
                     "  %-8s one SimCLR training step, views/s and peak memory\n", "step");
        for (k = 0; k < bench_kind_count; k++)
            fprintf(out, "  %-8s %s\n", bench_kinds[k].name, bench_kinds[k].summary);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "step") == 0)
        return bench_step(argc - 1, argv + 1);
    for (k = 0; k < bench_kind_count; k++) {
        const bench_kind *kind = &bench_kinds[k];
        char settings[8192], line[1024], usage[2048], command[32];
        flag_table table;
        simclr_error err;
        int status;
        if (strcmp(argv[0], kind->name) != 0)
            continue;
        kind->defaults(settings);
        table = flags_of(kind->settings, kind->setting_count, settings);
        snprintf(usage, sizeof usage, "usage: simclr bench %s [options]\n\n%s\n\n", kind->name,
                 kind->description);
        snprintf(command, sizeof command, "bench %s", kind->name);
        if ((status = command_flags(argc - 1, argv + 1, &table, 1, command, usage)) >= 0)
            return status;
        if (kind->run(settings, line, sizeof line, &err) != SIMCLR_OK) {
            fprintf(stderr, "simclr: bench %s: %s\n", kind->name, err.message);
            return 1;
        }
        printf("%s\n", line);
        return 0;
    }
    fprintf(stderr, "simclr: bench: unknown benchmark '%s' (see simclr bench --help)\n", argv[0]);
    return 2;
}

/* ---- main ----------------------------------------------------------------------------------- */

static const char main_usage[] =
    "usage: simclr COMMAND [options]\n"
    "\n"
    "simclr-c " SIMCLR_VERSION ": SimCLR (Chen et al. 2020) in portable C99.\n"
    "\n"
    "Commands:\n"
    "  train      train a SimCLR encoder\n"
    "  eval       linear probe and kNN of a checkpoint's encoder or of raw pixels\n"
    "  embed      write a checkpoint's features of a dataset to safetensors\n"
    "  export     write a checkpoint's encoder alone, for embedding images elsewhere\n"
    "  augment    preview SimCLR's augmentations as an image\n"
    "  golden     write reference outputs of every op for verifying other implementations\n"
    "  bench      benchmarks\n"
    "  version    print the version and build configuration\n"
    "\n"
    "Every command takes --help.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_usage, stderr);
        return 2;
    }
    if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        fputs(main_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "train") == 0)
        return command_train(argc - 2, argv + 2);
    if (strcmp(argv[1], "eval") == 0)
        return command_eval(argc - 2, argv + 2);
    if (strcmp(argv[1], "embed") == 0 || strcmp(argv[1], "export") == 0)
        return command_embed(argc - 2, argv + 2, strcmp(argv[1], "export") == 0);
    if (strcmp(argv[1], "augment") == 0)
        return command_augment(argc - 2, argv + 2);
    if (strcmp(argv[1], "golden") == 0)
        return command_golden(argc - 2, argv + 2);
    if (strcmp(argv[1], "bench") == 0)
        return command_bench(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("simclr-c %s openmp=%s threads=%d gemm_tile=%dx%d\n", SIMCLR_VERSION,
#ifdef _OPENMP
               "on",
#else
               "off",
#endif
               parallel_thread_count(), GEMM_MR, GEMM_NR);
        return 0;
    }
    fprintf(stderr, "simclr: unknown command '%s'\n%s", argv[1], main_usage);
    return 2;
}

#endif /* SIMCLR_LIBRARY_ONLY */
