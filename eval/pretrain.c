/*
 * eval/pretrain.c — the SimCLR model's plan, its checkpoints, and a pretraining run's parts
 * opened together; see pretrain.h. Algorithm 1 itself (the views, the step, the epochs) is
 * simclr.c's, which calls this file (never the other way round).
 */
#include "pretrain.h"

#include <string.h>

#include "../data/file_io.h"

typedef char pretrain_agreed_fits[PRETRAIN_AGREED <= RANKS_AGREE_MAX ? 1 : -1];

/* ---- the model ------------------------------------------------------------------------------ */

int simclr_model_create(simclr_model *model, const simclr_config *config, simclr_error *err)
{
    return simclr_model_create_ranks(model, config, NULL, err);
}

int simclr_model_create_ranks(simclr_model *model, const simclr_config *config,
                              rank_group *ranks, simclr_error *err)
{
    const size_t N = config->batch, passes = config->views_forward == SIMCLR_VIEWS_SEPARATE ? 2 : 1;
    const size_t per_pass = 2 * N / passes; /* views through the head at once */
    size_t loss_floats, view_floats, feature_floats, local_per_pass, local_shards = 1, p;
    memset(model, 0, sizeof *model);
    model->config = *config;
    model->config.encoder.num_classes = 0;
    model->config.encoder.in_channels = config->channels;
    param_store_init(&model->store);
    if (N == 0)
        return simclr_fail(err, "pretrain: the batch must hold at least one image");
    if (rank_layout_plan(&model->layout, N, config->shards, passes == 2, ranks, err) !=
        SIMCLR_OK)
        return SIMCLR_FAILED;
    model->ranks = ranks;
    local_shards = (config->shards > 1 ? config->shards : 1) / model->layout.ranks;
    local_per_pass = 2 * model->layout.local / passes; /* views through the encoder at once */
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
        (config->online_classes > 0 &&
         online_classifier_plan(&model->online, &model->store, config->online_classes,
                                model->encoder.feature_dim, 2 * N, err) != SIMCLR_OK) ||
        param_store_allocate(&model->store, err) != SIMCLR_OK)
        goto failed;
    param_store_init_torchvision(&model->store, config->seed);
    if (ranks_exchange(ranks)) { /* the widest batch norm of the encoder is its last */
        model->rank_scratch = simclr_calloc(2 * model->encoder.feature_dim, sizeof(double),
                                            "pretrain: the ranks' sums", err);
        if (model->rank_scratch == NULL)
            goto failed;
        ranks->scratch = model->rank_scratch;
        ranks->scratch_doubles = 2 * model->encoder.feature_dim;
    }
    for (p = 0; p < passes; p++)
        if (resnet_activations_create_sharded(&model->encoder_acts[p], &model->encoder,
                                              local_per_pass, config->height, config->width,
                                              local_shards, ranks, err) != SIMCLR_OK ||
            head_activations_create(&model->head_acts[p], &model->head, per_pass, err) !=
                SIMCLR_OK)
            goto failed;
    if (contrastive_cache_floats(N, model->config.head.out_dim, &loss_floats, err) != SIMCLR_OK ||
        tensor_element_count(4, (const size_t[4]){2 * model->layout.local, config->channels,
                                                  config->height, config->width},
                             &view_floats, err) != SIMCLR_OK)
        goto failed;
    model->loss_memory = simclr_calloc(loss_floats, sizeof(float), "pretrain: loss cache", err);
    model->views = simclr_calloc(view_floats, sizeof(float), "pretrain: views", err);
    if (tensor_element_count(2, (const size_t[2]){2 * N, model->encoder.feature_dim},
                             &feature_floats, err) != SIMCLR_OK)
        goto failed;
    model->features = simclr_calloc(feature_floats, sizeof(float), "pretrain: the batch's h", err);
    if (ranks_exchange(ranks)) /* one pass's h of every rank, before they take their rows */
        model->gathered = simclr_calloc(feature_floats / passes, sizeof(float),
                                        "pretrain: the ranks' h", err);
    if (model->loss_memory == NULL || model->views == NULL || model->features == NULL ||
        (ranks_exchange(ranks) && model->gathered == NULL) ||
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
    online_classifier_destroy(&model->online);
    if (model->ranks != NULL && model->ranks->scratch == model->rank_scratch) {
        model->ranks->scratch = NULL;
        model->ranks->scratch_doubles = 0;
    }
    simclr_free(model->rank_scratch);
    simclr_free(model->loss_memory);
    simclr_free(model->views);
    simclr_free(model->features);
    simclr_free(model->gathered);
    param_store_destroy(&model->store);
    memset(model, 0, sizeof *model);
}

size_t simclr_steps_per_epoch(size_t images, size_t batch)
{
    return batch == 0 ? 0 : images / batch;
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

int simclr_checkpoint_write(const char *path, const simclr_model *model,
                            const simclr_training *training, size_t epoch,
                            const training_log *history, simclr_error *err)
{
    safetensors_metadata metadata[RUN_SETTINGS_METADATA_MAX];
    size_t count;
    if (model->step > 0 && (history == NULL || history->steps != model->step))
        return simclr_fail(err, "%s: the model has taken %lu steps but the history holds %lu",
                           path, (unsigned long)model->step,
                           (unsigned long)(history != NULL ? history->steps : 0));
    count = run_settings_to_metadata(metadata, RUN_SETTINGS_CHECKPOINT_FORMAT, training, NULL,
                                     epoch, model->step);
    return checkpoint_write(path, &model->store, NULL, model->opt.velocity,
                            model->step > 0 ? history : NULL, metadata, count, err);
}

int simclr_checkpoint_restore(simclr_model *model, const safetensors_file *file, const char *path,
                              training_log *history, simclr_error *err)
{
    simclr_training training;
    size_t epoch, step;
    if (simclr_checkpoint_training(file, path, &training, &epoch, &step, err) != SIMCLR_OK ||
        checkpoint_load_store(&model->store, file, path, err) != SIMCLR_OK ||
        checkpoint_load_velocity(model->opt.velocity, &model->store, file, path, err) !=
            SIMCLR_OK ||
        (history != NULL && checkpoint_load_log(history, step, file, path, err) != SIMCLR_OK))
        return SIMCLR_FAILED;
    model->step = step;
    return SIMCLR_OK;
}

/* ---- a pretraining run ---------------------------------------------------------------------- */

int pretrain_resume_settings(const char *path, simclr_training *training, size_t *epoch,
                             simclr_error *err)
{
    safetensors_file file;
    size_t step;
    int status;
    if (safetensors_read(&file, path, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = simclr_checkpoint_training(&file, path, training, epoch, &step, err);
    safetensors_free(&file);
    return status;
}

int pretrain_session_open(pretrain_session *s, simclr_training *training, const char *resume,
                          pretrain_online online, rank_group *ranks, simclr_error *err)
{
    const int resuming = resume != NULL && resume[0] != '\0';
    safetensors_file file;
    int restored;
    memset(s, 0, sizeof *s);
    if (dataset_open(&s->data, training->data, 1, training->model.seed, err) != SIMCLR_OK)
        goto failed;
    s->images = training->limit > 0 && training->limit < s->data.count ? training->limit
                                                                        : s->data.count;
    s->steps_per_epoch = simclr_steps_per_epoch(s->images, training->model.batch);
    if (s->steps_per_epoch == 0) {
        simclr_fail(err, "--batch: %lu is more than the %lu training images",
                    (unsigned long)training->model.batch, (unsigned long)s->images);
        goto failed;
    }
    if (!resuming) /* (a resumed run's comes from its checkpoint) */
        training->model.online_classes =
            online == PRETRAIN_ONLINE_OFF || (online == PRETRAIN_ONLINE_AUTO && s->data.classes < 2)
                ? 0
                : (size_t)s->data.classes;
    if (training->model.online_classes == 1 || training->model.online_classes > 1000000) {
        simclr_fail(err, "--online-classifier: %s has no classes to learn", training->data);
        goto failed;
    }
    if (simclr_model_create_ranks(&s->model, &training->model, ranks, err) != SIMCLR_OK)
        goto failed;
    training->model = s->model.config; /* with the defaults resolved, as the checkpoint records */
    if (training_log_create(&s->log, s->steps_per_epoch * training->epochs, err) != SIMCLR_OK ||
        (s->model.config.online_classes > 0 &&
         training_log_keep_accuracy(&s->log, "online_top1", err) != SIMCLR_OK))
        goto failed;
    if (resuming) {
        if (safetensors_read(&file, resume, err) != SIMCLR_OK)
            goto failed;
        restored = simclr_checkpoint_restore(&s->model, &file, resume, &s->log, err);
        safetensors_free(&file);
        if (restored != SIMCLR_OK)
            goto failed;
    }
    return SIMCLR_OK;
failed:
    pretrain_session_close(s);
    return SIMCLR_FAILED;
}

void pretrain_session_close(pretrain_session *s)
{
    training_log_destroy(&s->log);
    simclr_model_destroy(&s->model);
    dataset_close(&s->data);
    memset(s, 0, sizeof *s);
}

uint32_t pretrain_model_fingerprint(const simclr_model *model)
{
    const size_t P = model->store.param_floats * sizeof(float);
    uint32_t crc = crc32_update(0, (const uint8_t *)model->store.params, P);
    crc = crc32_update(crc, (const uint8_t *)model->store.buffers,
                       model->store.buffer_floats * sizeof(float));
    if (model->opt.velocity != NULL)
        crc = crc32_update(crc, (const uint8_t *)model->opt.velocity, P);
    return crc;
}

const char *const pretrain_agreed_names[PRETRAIN_AGREED] = {
    "number of training images", "number of classes", "channels", "largest height",
    "largest width", "training images (a fingerprint)", "model (a fingerprint)", "step"};

void pretrain_session_agreed(const pretrain_session *s, double values[PRETRAIN_AGREED])
{
    values[0] = (double)s->images;
    values[1] = (double)s->data.classes;
    values[2] = (double)s->data.channels;
    values[3] = (double)s->data.max_height;
    values[4] = (double)s->data.max_width;
    values[5] = (double)dataset_fingerprint(&s->data);
    values[6] = (double)pretrain_model_fingerprint(&s->model);
    values[7] = (double)s->model.step;
}
