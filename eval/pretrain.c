/*
 * eval/pretrain.c — a pretraining run's parts, opened together; see pretrain.h.
 */
#include "pretrain.h"

#include <string.h>

#include "../data/file_io.h"

typedef char pretrain_agreed_fits[PRETRAIN_AGREED <= RANKS_AGREE_MAX ? 1 : -1];

int pretrain_session_open(pretrain_session *s, simclr_training *training, const char *resume,
                          pretrain_online online, rank_group *ranks,
                          const pretrain_functions *simclr, simclr_error *err)
{
    const int resuming = resume != NULL && resume[0] != '\0';
    safetensors_file file;
    int restored;
    memset(s, 0, sizeof *s);
    s->simclr = simclr;
    if (dataset_open(&s->data, training->data, 1, training->model.seed, err) != SIMCLR_OK)
        goto failed;
    s->images = training->limit > 0 && training->limit < s->data.count ? training->limit
                                                                        : s->data.count;
    s->steps_per_epoch = simclr->steps_per_epoch(s->images, training->model.batch);
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
    if (simclr->model_create_ranks(&s->model, &training->model, ranks, err) != SIMCLR_OK)
        goto failed;
    training->model = s->model.config; /* with the defaults resolved, as the checkpoint records */
    if (training_log_create(&s->log, s->steps_per_epoch * training->epochs, err) != SIMCLR_OK ||
        (s->model.config.online_classes > 0 &&
         training_log_keep_accuracy(&s->log, "online_top1", err) != SIMCLR_OK))
        goto failed;
    if (resuming) {
        if (safetensors_read(&file, resume, err) != SIMCLR_OK)
            goto failed;
        restored = simclr->checkpoint_restore(&s->model, &file, resume, &s->log, err);
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
    if (s->simclr != NULL)
        s->simclr->model_destroy(&s->model);
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
