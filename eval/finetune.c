/*
 * eval/finetune.c — fine-tuning the pretrained encoder with a linear classifier on a few labels
 * (the paper's semi-supervised protocol); see finetune.h for the network, loss, optimiser,
 * views, labelled subset and checkpoint.
 */
#include "finetune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../aug/color.h"
#include "../data/file_io.h"
#include "../data/run_files.h"
#include "../nn/memory.h"
#include "../nn/parallel.h"
#include "../nn/rng.h"
#include "../nn/size_arithmetic.h"
#include "../nn/tensor.h"
#include "../nn/timer.h"
#include "logistic.h"
#include "report.h"

/* ---- the settings ------------------------------------------------------------------------- */

static const char *const scaling_names[] = {"linear", "sqrt", NULL};
static const char *const fc_init_names[] = {"zero", "torchvision", NULL};

#define AT(field) offsetof(finetune_settings, field)
#define TEXT(flag, key, field, capacity, name, help) \
    {flag, key, SETTING_TEXT, AT(field), 0, 0, NULL, NULL, capacity, name, help}
#define NUMBER(type, flag, key, field, low, high, name, help) \
    {flag, key, type, AT(field), low, high, NULL, NULL, 0, name, help}

const setting finetune_table[] = {
    TEXT("checkpoint", "pretrained", pretrained, SIMCLR_DATA_MAX, "CKPT",
         "the pretrained encoder: a checkpoint of simclr train or an encoder of simclr export "
         "(required; --from-scratch takes only its architecture and views)"),
    TEXT("data", "data", data, SIMCLR_DATA_MAX, "SRC",
         "the labelled dataset (default: the pretraining run's)"),
    TEXT("test-data", "test_data", test_data, SIMCLR_DATA_MAX, "SRC",
         "the held-out images (default: the test split of --data)"),
    TEXT("labels", "labels", labels, FINETUNE_LABELS_MAX, "P",
         "the labelled subset: a fraction of every class (1%, 10%) or images per class (25)"),
    NUMBER(SETTING_SEED, "seed", "seed", seed, 0, 0, "S",
           "the labelled subset, the classifier's initialisation, the order and the views"),
    NUMBER(SETTING_PRESENT, "from-scratch", "from_scratch", from_scratch, 0, 1, NULL,
           "train the same network from random initialisation on the same labels (the "
           "baseline)"),
    NUMBER(SETTING_PRESENT, "from-head-layer", "from_head_layer", from_head, 0, 1, NULL,
           "fc after the projection head's first layer (Linear, BN, ReLU; pretrained), as "
           "SimCLRv2 fine-tunes; default: fc on h, as the paper"),
    {"fc-init", "fc_init", SETTING_CHOICE, AT(fc_init), 0, 0, fc_init_names, NULL, 0, NULL,
     "fc's initial values: nn.Linear's initialisation, or zero as the official code "
     "fine-tunes, its zero_init_logits_layer"},
    NUMBER(SETTING_SIZE, "epochs", "epochs", epochs, 0, 1e6, "E",
           "epochs (default 0: the paper's, 60 for at most 1% of the labels, else 30)"),
    NUMBER(SETTING_SIZE, "batch", "batch", batch, 1, 65536, "B", "labelled images per step"),
    NUMBER(SETTING_DOUBLE, "lr", "lr", base_lr, 1e-9, 1e3, "LR",
           "base learning rate, scaled by --lr-scaling (0.05: 0.05·B/256)"),
    {"lr-scaling", "lr_scaling", SETTING_CHOICE, AT(scaling), 0, 0, scaling_names, NULL, 0,
     NULL, "linear: LR·B/256, sqrt: LR·√B"},
    NUMBER(SETTING_FLOAT, "momentum", "momentum", momentum, 0, 0.9999, "M", "momentum"),
    NUMBER(SETTING_SWITCH, "nesterov", "nesterov", nesterov, 0, 1, NULL,
           "1: Nesterov momentum (the paper's), 0: classic"),
    NUMBER(SETTING_FLOAT, "weight-decay", "weight_decay", weight_decay, 0, 1, "WD",
           "weight decay (the paper's fine-tuning: none)"),
    NUMBER(SETTING_DOUBLE, "min-scale", "aug_min_scale", min_scale, 0, 1, "X",
           "smallest crop area fraction; 0: the pretraining run's, as the paper crops alike "
           "in both, or 0.08 for an encoder that does not record it"),
    NUMBER(SETTING_FLOAT, "p-hflip", "aug_p_hflip", p_hflip, 0, 1, "P",
           "probability of a horizontal flip"),
    NUMBER(SETTING_SIZE, "test-every", "test_every", test_every, 1, 1e6, "E",
           "test accuracy every E epochs and after the last")};

const size_t finetune_setting_count = sizeof finetune_table / sizeof finetune_table[0];

static const setting *finetune_min_scale_setting(void)
{
    return settings_find_key(finetune_table, finetune_setting_count, "aug_min_scale");
}

finetune_settings finetune_settings_default(void)
{
    finetune_settings s;
    memset(&s, 0, sizeof s);
    strcpy(s.labels, "10%");
    s.seed = simclr_training_default().model.seed;
    s.fc_init = FINETUNE_FC_TORCHVISION;
    s.batch = 64;
    s.base_lr = 0.05;
    s.scaling = LR_SCALING_LINEAR;
    s.momentum = 0.9f;
    s.nesterov = 1;
    s.min_scale = 0.0;
    s.p_hflip = 0.5f;
    s.test_every = 1;
    return s;
}

/* ---- the labelled subset ------------------------------------------------------------------ */

/* What --labels asks for: a percentage of every class (percent > 0) or a count per class. */
typedef struct labels_spec {
    double percent;
    size_t per_class;
} labels_spec;

static int labels_parse(labels_spec *spec, const char *labels, simclr_error *err)
{
    const size_t length = strlen(labels);
    char *end;
    double value;
    spec->percent = 0.0, spec->per_class = 0;
    if (length == 0)
        return simclr_fail(err, "--labels: empty (a fraction such as 1%% or a count per class)");
    value = strtod(labels, &end);
    if (labels[length - 1] == '%') {
        if (end != labels + length - 1 || !(value > 0.0 && value <= 100.0))
            return simclr_fail(err, "--labels: '%s' is not a percentage in (0, 100]", labels);
        spec->percent = value;
        return SIMCLR_OK;
    }
    if (end != labels + length || !(value >= 1.0 && value <= 1e12) || value != floor(value))
        return simclr_fail(err, "--labels: '%s' is neither a percentage (1%%) nor a whole "
                                "number of images per class", labels);
    spec->per_class = (size_t)value;
    return SIMCLR_OK;
}

/* How many of a class's `images` images the spec keeps: round(percent/100 · images), halves
 * up, or the count. */
static size_t labels_keep(const labels_spec *spec, size_t images)
{
    return spec->percent > 0.0 ? (size_t)floor(spec->percent / 100.0 * (double)images + 0.5)
                               : spec->per_class;
}

int finetune_label_subset(size_t **subset, size_t *count, const dataset *data,
                          const char *labels, uint64_t seed, simclr_error *err)
{
    const size_t K = data->classes > 0 ? (size_t)data->classes : 0;
    size_t *of_class = NULL, *kept = NULL, *chosen = NULL, c, i, total = 0;
    char *selected = NULL;
    labels_spec spec;
    *subset = NULL, *count = 0;
    if (labels_parse(&spec, labels, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (K < 2)
        return simclr_fail(err, "fine-tuning needs labels, and the data has %lu class%s (an "
                                "image folder without class folders has none)",
                           (unsigned long)K, K == 1 ? "" : "es");
    of_class = simclr_calloc(data->count + 1, sizeof *of_class, "labels: class lists", err);
    kept = simclr_calloc(K, sizeof *kept, "labels: counts", err);
    selected = simclr_calloc(data->count + 1, 1, "labels: marks", err);
    if (of_class == NULL || kept == NULL || selected == NULL)
        goto failed;
    for (c = 0; c < K; c++) {
        size_t n = 0, keep;
        rng random;
        for (i = 0; i < data->count; i++) /* class c's images in dataset order */
            if (dataset_label(data, i) == (int)c)
                of_class[n++] = i;
        keep = labels_keep(&spec, n);
        if (keep == 0 || keep > n) {
            simclr_fail(err, "--labels %s: class '%s' has %lu training image%s, so it would "
                             "keep %s%lu", labels, data->names[c], (unsigned long)n,
                        n == 1 ? "" : "s", keep > n ? "fewer than the " : "", (unsigned long)keep);
            goto failed;
        }
        rng_stream(&random, seed, RNG_DOMAIN_LABELS, c, 0, 0);
        rng_shuffle(&random, of_class, n); /* Fisher–Yates, as an epoch's order */
        for (i = 0; i < keep; i++)
            selected[of_class[i]] = 1;
        kept[c] = keep;
        total += keep;
    }
    chosen = simclr_calloc(total, sizeof *chosen, "labels: subset", err);
    if (chosen == NULL)
        goto failed;
    for (i = 0, c = 0; i < data->count; i++)
        if (selected[i])
            chosen[c++] = i;
    *subset = chosen, *count = total;
    simclr_free(of_class), simclr_free(kept), simclr_free(selected);
    return SIMCLR_OK;
failed:
    simclr_free(of_class), simclr_free(kept), simclr_free(selected);
    return SIMCLR_FAILED;
}

/* ---- the network ---------------------------------------------------------------------------- */

int finetune_model_create(finetune_model *model, const finetune_settings *settings,
                          const safetensors_file *source, const char *path, const char *prefix,
                          size_t classes, simclr_error *err)
{
    const size_t B = settings->batch;
    resnet_config config;
    optimizer_config optimiser;
    const safetensors_tensor *hidden = NULL;
    size_t view_floats, backbone;
    memset(model, 0, sizeof *model);
    param_store_init(&model->store);
    model->settings = *settings;
    model->classes = classes;
    if (B == 0 || classes < 2)
        return simclr_fail(err, "finetune: a batch of %lu images and %lu classes",
                           (unsigned long)B, (unsigned long)classes);
    if (run_settings_from_metadata(&model->network, source, path, run_settings_encoder_keys,
                                   err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    /* the views: crop and flip only, then the pretraining run's normalisation; the crop's
     * smallest scale, unless given, the pretraining run's (recorded as this run's) */
    if (model->settings.min_scale == 0.0) {
        const char *recorded = safetensors_metadata_value(source, "aug_min_scale");
        char where[600];
        snprintf(where, sizeof where, "%s: metadata 'aug_min_scale'", path);
        model->settings.min_scale = FINETUNE_PAPER_MIN_SCALE;
        if (recorded != NULL &&
            setting_parse(finetune_min_scale_setting(), &model->settings, recorded, where,
                          err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        if (model->settings.min_scale == 0.0)
            model->settings.min_scale = FINETUNE_PAPER_MIN_SCALE;
    }
    model->augment = model->network.augment;
    model->augment.min_scale = model->settings.min_scale;
    model->augment.max_scale = 1.0;
    model->augment.min_ratio = 3.0 / 4.0;
    model->augment.max_ratio = 4.0 / 3.0;
    model->augment.p_hflip = settings->p_hflip;
    model->augment.p_vflip = model->augment.p_jitter = model->augment.p_gray = 0.0f;
    model->augment.p_blur = 0.0f;
    model->augment.strength = 0.0f;
    model->augment.blur_sigma_min = model->augment.blur_sigma_max = 1.0f;
    config = model->network.model.encoder;
    config.in_channels = model->network.model.channels;
    config.num_classes = 0;
    if (settings->from_head &&
        ((hidden = safetensors_find(source, "projection_head.layers.0.weight")) == NULL ||
         hidden->ndim != 2 || safetensors_find(source, "projection_head.layers.1.weight") == NULL))
        return simclr_fail(err, "--from-head-layer: %s has no projection head with batch norm "
                                "(projection_head.layers.0 and .1; an exported encoder has no "
                                "head)", path);
    if (resnet_plan(&model->net, &config, &model->store, "", err) != SIMCLR_OK)
        goto failed;
    backbone = model->store.count;
    if (classifier_plan(&model->head, model->net.feature_dim,
                        settings->from_head ? (size_t)hidden->shape[0] : 0, classes,
                        &model->store, err) != SIMCLR_OK ||
        param_store_allocate(&model->store, err) != SIMCLR_OK)
        goto failed;
    param_store_init_torchvision(&model->store, settings->seed);
    if (settings->fc_init == FINETUNE_FC_ZERO) {
        const param_entry *weight = param_store_find(&model->store, "fc.weight");
        const param_entry *bias = param_store_find(&model->store, "fc.bias");
        memset(model->store.params + weight->offset, 0, weight->count * sizeof(float));
        memset(model->store.params + bias->offset, 0, bias->count * sizeof(float));
    }
    if (prefix != NULL &&
        (checkpoint_load_entries(&model->store, 0, backbone, source, prefix, path, err) !=
             SIMCLR_OK ||
         (settings->from_head && /* the head's layer, by its own names: the store's last but 2 */
          checkpoint_load_entries(&model->store, backbone, model->store.count - backbone - 2,
                                  source, "", path, err) != SIMCLR_OK)))
        goto failed;
    optimiser.kind = OPTIMIZER_SGD;
    optimiser.momentum = settings->momentum;
    optimiser.weight_decay = settings->weight_decay;
    optimiser.lars_eta = 0.001f;
    optimiser.nesterov = settings->nesterov;
    if (tensor_element_count(4, (const size_t[4]){B, config.in_channels, model->augment.size,
                                                  model->augment.size},
                             &view_floats, err) != SIMCLR_OK ||
        resnet_activations_create(&model->acts, &model->net, B, model->augment.size,
                                  model->augment.size, err) != SIMCLR_OK ||
        classifier_activations_create(&model->head_acts, &model->head, B, err) != SIMCLR_OK ||
        optimizer_create(&model->opt, &optimiser, &model->store, err) != SIMCLR_OK)
        goto failed;
    model->views = simclr_calloc(view_floats, sizeof(float), "finetune: views", err);
    model->labels = simclr_calloc(B, sizeof(int), "finetune: labels", err);
    model->probabilities = simclr_calloc(B * classes, sizeof(float), "finetune: softmax", err);
    model->row_loss = simclr_calloc(B, sizeof(double), "finetune: losses", err);
    if (model->views == NULL || model->labels == NULL || model->probabilities == NULL ||
        model->row_loss == NULL)
        goto failed;
    return SIMCLR_OK;
failed:
    finetune_model_destroy(model);
    return SIMCLR_FAILED;
}

void finetune_model_destroy(finetune_model *model)
{
    resnet_activations_destroy(&model->acts);
    classifier_activations_destroy(&model->head_acts);
    optimizer_destroy(&model->opt);
    simclr_free(model->views);
    simclr_free(model->labels);
    simclr_free(model->probabilities);
    simclr_free(model->row_loss);
    param_store_destroy(&model->store);
    memset(model, 0, sizeof *model);
}

/* ---- a batch and a step --------------------------------------------------------------------- */

/* What makes the one view of an image (aug_batch_each_image's callback). */
typedef struct view_job {
    finetune_model *model;
    const dataset *data;
    size_t epoch;
} view_job;

static void one_view(void *context, size_t b, size_t index, const float *image, size_t height,
                     size_t width, float *workspace)
{
    const view_job *job = context;
    finetune_model *model = job->model;
    const size_t C = model->network.model.channels, S = model->augment.size;
    rng random;
    rng_stream(&random, model->settings.seed, RNG_DOMAIN_VIEW, job->epoch, index, 0);
    aug_view(model->views + b * C * S * S, image, C, height, width, &model->augment, &random,
             workspace);
    model->labels[b] = dataset_label(job->data, index);
}

int finetune_batch_of_views(finetune_model *model, aug_batch *w, const dataset *data,
                            const size_t *order, size_t step, size_t epoch, simclr_error *err)
{
    const size_t B = model->settings.batch, C = model->network.model.channels;
    view_job job;
    if (data->channels != C)
        return simclr_fail(err, "finetune: the data has %lu channels, the network takes %lu",
                           (unsigned long)data->channels, (unsigned long)C);
    if (w->batch != B)
        return simclr_fail(err, "finetune: the views' workspace was made for another batch");
    job.model = model, job.data = data, job.epoch = epoch;
    return aug_batch_each_image(w, data, order + step * B, one_view, &job, err);
}

float finetune_train_step(finetune_model *model, float lr)
{
    const size_t B = model->settings.batch, K = model->classes;
    double loss;
    memset(model->store.grads, 0, model->store.param_floats * sizeof(float));
    /* s = fc(f(x)) with batch statistics, L = mean cross-entropy, ∂L/∂s back through fc and f */
    resnet_forward(&model->acts, model->views, &model->net, &model->store, 1);
    classifier_forward(&model->head_acts, model->acts.features, B, &model->head, &model->store,
                       1);
    loss = softmax_cross_entropy_forward(model->probabilities, model->row_loss,
                                         model->head_acts.scores, model->labels, B, K);
    softmax_cross_entropy_backward(model->head_acts.grad_scores, model->probabilities,
                                   model->labels, B, K);
    classifier_backward(model->acts.grad_features, &model->head_acts, &model->head,
                        &model->store);
    resnet_backward(&model->acts, &model->net, &model->store);
    optimizer_step(&model->opt, &model->store, lr);
    model->step++;
    return (float)loss;
}

/* ---- the run -------------------------------------------------------------------------------- */

lr_schedule finetune_schedule(const finetune_settings *settings, size_t labelled)
{
    lr_schedule schedule;
    schedule.base_lr = settings->base_lr;
    schedule.scaling = settings->scaling;
    schedule.batch = settings->batch;
    schedule.warmup_steps = 0;
    schedule.total_steps = labelled / settings->batch * finetune_epochs(settings);
    return schedule;
}

size_t finetune_epochs(const finetune_settings *settings)
{
    if (settings->epochs > 0)
        return settings->epochs;
    /* the paper's: 60 epochs for 1% of the labels, 30 for 10% */
    return strchr(settings->labels, '%') != NULL && strtod(settings->labels, NULL) <= 1.0 ? 60
                                                                                          : 30;
}

int finetune_evaluator(simclr_encoder *evaluator, const finetune_model *model, size_t capacity,
                       simclr_error *err)
{
    resnet_config config = model->net.config;
    config.num_classes = model->classes;
    memset(evaluator, 0, sizeof *evaluator);
    param_store_init(&evaluator->store);
    return simclr_encoder_create(evaluator, &config, model->head.hidden, &model->network.augment,
                                 model->settings.seed, model->settings.data, capacity, err);
}

int finetune_test_accuracy(double *top1, finetune_model *model, simclr_encoder *evaluator,
                           const dataset *test, size_t limit, simclr_error *err)
{
    classification_report report;
    *top1 = 0.0;
    if (simclr_encoder_copy_state(evaluator, &model->store, err) != SIMCLR_OK ||
        simclr_encoder_classify(&report, evaluator, test, limit, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    *top1 = report.top1;
    classification_report_destroy(&report);
    return SIMCLR_OK;
}

/* order = the labelled images in the epoch's shuffled order. */
static void finetune_epoch_order(size_t *order, const size_t *subset, size_t labelled,
                                 uint64_t seed, size_t epoch)
{
    rng random;
    memcpy(order, subset, labelled * sizeof *order);
    rng_stream(&random, seed, RNG_DOMAIN_FINETUNE, epoch, 0, 0);
    rng_shuffle(&random, order, labelled);
}

int finetune_run(finetune_model *model, const dataset *data, const size_t *subset,
                 size_t labelled, const dataset *test, simclr_encoder *evaluator,
                 training_log *history, finetune_progress_fn progress, void *context,
                 simclr_error *err)
{
    const size_t B = model->settings.batch;
    const size_t per_epoch = labelled / B; /* the last partial batch dropped */
    const size_t epochs = finetune_epochs(&model->settings);
    const lr_schedule schedule = finetune_schedule(&model->settings, labelled);
    finetune_progress report;
    aug_batch workspace;
    size_t epoch;
    int status = SIMCLR_OK, stop = 0;
    if (per_epoch == 0)
        return simclr_fail(err, "finetune: a batch of %lu is more than the %lu labelled images "
                                "(give a smaller --batch)", (unsigned long)B,
                           (unsigned long)labelled);
    if (model->step % per_epoch != 0 || model->step / per_epoch > epochs)
        return simclr_fail(err, "finetune: the network has taken %lu steps, not a whole number "
                                "of epochs of %lu steps up to %lu epochs",
                           (unsigned long)model->step, (unsigned long)per_epoch,
                           (unsigned long)epochs);
    if (history == NULL || history->accuracy == NULL || history->steps != model->step ||
        history->capacity < per_epoch * epochs)
        return simclr_fail(err, "finetune: the history must hold the %lu steps taken, keep an "
                                "accuracy and have room for %lu", (unsigned long)model->step,
                           (unsigned long)(per_epoch * epochs));
    if (aug_batch_create(&workspace, B, &model->augment, data, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    memset(&report, 0, sizeof report);
    report.steps_per_epoch = per_epoch;
    report.total_steps = per_epoch * epochs;
    report.first_step = model->step;
    for (epoch = model->step / per_epoch; epoch < epochs && !stop && status == SIMCLR_OK;
         epoch++) {
        size_t step;
        finetune_epoch_order(workspace.order, subset, labelled, model->settings.seed, epoch);
        for (step = 0; step < per_epoch && !stop; step++) {
            const size_t global = epoch * per_epoch + step;
            const double start = timer_seconds(), lr = lr_schedule_at(&schedule, global);
            float loss;
            if (finetune_batch_of_views(model, &workspace, data, workspace.order, step, epoch,
                                        err) != SIMCLR_OK) {
                status = SIMCLR_FAILED;
                break;
            }
            loss = finetune_train_step(model, (float)lr);
            if (!isfinite(loss)) {
                status = simclr_fail(err, "finetune: the loss became non-finite (%g) at epoch "
                                          "%lu, step %lu", (double)loss,
                                     (unsigned long)(epoch + 1), (unsigned long)(global + 1));
                break; /* before the callback: a diverged network is never saved */
            }
            report.seconds = timer_seconds() - start;
            report.step = global + 1, report.epoch = epoch, report.step_in_epoch = step;
            report.loss = loss, report.learning_rate = lr;
            report.epoch_done = step + 1 == per_epoch;
            report.accuracy = NAN; /* the test split's top-1, at a tested epoch's end */
            if (report.epoch_done &&
                ((epoch + 1) % model->settings.test_every == 0 || epoch + 1 == epochs) &&
                finetune_test_accuracy(&report.accuracy, model, evaluator, test, 0, err) !=
                    SIMCLR_OK) {
                status = SIMCLR_FAILED;
                break;
            }
            training_log_record(history, &report, (double)B);
            if (progress != NULL && progress(&report, model, history, context) != 0)
                stop = 1;
        }
    }
    aug_batch_destroy(&workspace);
    return status;
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

int finetune_checkpoint_write(const char *path, const finetune_model *model, size_t epoch,
                              size_t labelled, const training_log *history, simclr_error *err)
{
    safetensors_metadata metadata[RUN_SETTINGS_METADATA_MAX + 32];
    simclr_training network = model->network;
    size_t count, i;
    network.model.seed = model->settings.seed;
    snprintf(network.data, sizeof network.data, "%s", model->settings.data);
    count = run_settings_to_metadata(metadata, RUN_SETTINGS_FINETUNE_FORMAT, &network,
                                     run_settings_encoder_keys, 0, 0);
    for (i = 0; i < finetune_setting_count; i++) {
        const setting *s = &finetune_table[i];
        if (strcmp(s->key, "seed") == 0 || strcmp(s->key, "data") == 0)
            continue; /* written above, as an encoder file's */
        strcpy(metadata[count].key, s->key);
        setting_format(s, &model->settings, metadata[count++].value, sizeof metadata[0].value);
    }
    strcpy(metadata[count].key, "classes");
    sprintf(metadata[count++].value, "%lu", (unsigned long)model->classes);
    strcpy(metadata[count].key, "labelled");
    sprintf(metadata[count++].value, "%lu", (unsigned long)labelled);
    strcpy(metadata[count].key, "epoch");
    sprintf(metadata[count++].value, "%lu", (unsigned long)epoch);
    strcpy(metadata[count].key, "step");
    sprintf(metadata[count++].value, "%lu", (unsigned long)model->step);
    return checkpoint_write(path, &model->store, NULL, model->opt.velocity,
                            model->step > 0 ? history : NULL, metadata, count, err);
}

int finetune_checkpoint_settings(const safetensors_file *file, const char *path,
                                 finetune_settings *settings, size_t *classes, size_t *epoch,
                                 size_t *step, simclr_error *err)
{
    static const setting progress[3] = {
        {NULL, "classes", SETTING_SIZE, 0, 2, 1e6, NULL, NULL, 0, NULL, NULL},
        {NULL, "epoch", SETTING_SIZE, 0, 0, 1e12, NULL, NULL, 0, NULL, NULL},
        {NULL, "step", SETTING_SIZE, 0, 0, 1e15, NULL, NULL, 0, NULL, NULL}};
    size_t *const values[3] = {classes, epoch, step};
    /* keys added after the first checkpoints: fc was drawn as nn.Linear does, and sat on h */
    static const setting_added_later added_later[] = {{"fc_init", "torchvision"},
                                                      {"from_head_layer", "0"}};
    const char *format = safetensors_metadata_value(file, "format");
    char where[600];
    size_t i;
    if (format == NULL || strcmp(format, RUN_SETTINGS_FINETUNE_FORMAT) != 0)
        return simclr_fail(err, "%s: not a checkpoint of simclr finetune", path);
    *settings = finetune_settings_default();
    for (i = 0; i < finetune_setting_count + 3; i++) {
        const setting *s = i < finetune_setting_count ? &finetune_table[i]
                                                      : &progress[i - finetune_setting_count];
        const char *value = safetensors_metadata_value(file, s->key);
        void *object = i < finetune_setting_count ? (void *)settings
                                                  : (void *)values[i - finetune_setting_count];
        snprintf(where, sizeof where, "%s: metadata '%s'", path, s->key);
        value = setting_value_or_absent(value, s->key, added_later,
                                        sizeof added_later / sizeof added_later[0]);
        if (value == NULL)
            return simclr_fail(err, "%s is missing", where);
        if (setting_parse(s, object, value, where, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int finetune_resume_settings(const char *path, finetune_settings *settings, size_t *epoch,
                             simclr_error *err)
{
    safetensors_file file;
    size_t classes, step;
    int status;
    if (safetensors_read(&file, path, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = finetune_checkpoint_settings(&file, path, settings, &classes, epoch, &step, err);
    safetensors_free(&file);
    return status;
}

int finetune_checkpoint_restore(finetune_model *model, const safetensors_file *file,
                                const char *path, training_log *history, simclr_error *err)
{
    finetune_settings settings;
    size_t classes, epoch, step;
    if (finetune_checkpoint_settings(file, path, &settings, &classes, &epoch, &step, err) !=
            SIMCLR_OK ||
        checkpoint_load_store(&model->store, file, path, err) != SIMCLR_OK ||
        checkpoint_load_velocity(model->opt.velocity, &model->store, file, path, err) !=
            SIMCLR_OK ||
        (history != NULL && checkpoint_load_log(history, step, file, path, err) != SIMCLR_OK))
        return SIMCLR_FAILED;
    model->step = step;
    return SIMCLR_OK;
}

/* ---- the subset, for people and other tools ------------------------------------------------ */

int finetune_write_labelled(const char *path, const dataset *data, const size_t *subset,
                            size_t labelled, simclr_error *err)
{
    size_t capacity = 64, length = 0, i;
    char *text;
    int status;
    for (i = 0; i < labelled; i++) /* index, label, class name and path, quoted */
        capacity += 64 + 2 * (strlen(dataset_image_name(data, subset[i])) +
                              strlen(data->names[dataset_label(data, subset[i])]));
    if ((text = simclr_calloc(capacity, 1, path, err)) == NULL)
        return SIMCLR_FAILED;
    length += (size_t)sprintf(text, "index,label,class,path\n");
    for (i = 0; i < labelled; i++) {
        const int label = dataset_label(data, subset[i]);
        const char *fields[2];
        int f;
        fields[0] = data->names[label], fields[1] = dataset_image_name(data, subset[i]);
        length += (size_t)sprintf(text + length, "%lu,%d", (unsigned long)subset[i], label);
        for (f = 0; f < 2; f++) {
            text[length++] = ',';
            length += run_files_csv_field(text + length, fields[f]);
        }
        text[length++] = '\n';
    }
    status = file_write_atomically(path, (const uint8_t *)text, length, err);
    simclr_free(text);
    return status;
}

/* ---- a whole run's parts ------------------------------------------------------------------- */

int finetune_session_open(finetune_session *s, finetune_settings *settings, const char *from,
                          int resume, const char *labelled_csv, simclr_error *err)
{
    safetensors_file source;
    const char *format, *data;
    memset(s, 0, sizeof *s);
    if (safetensors_read(&source, from, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    format = safetensors_metadata_value(&source, "format");
    if (!resume && (format == NULL || (strcmp(format, RUN_SETTINGS_CHECKPOINT_FORMAT) != 0 &&
                                       strcmp(format, RUN_SETTINGS_ENCODER_FORMAT) != 0))) {
        simclr_fail(err, "%s is not an encoder: a checkpoint of simclr train or a file of "
                         "simclr export is", from);
        goto failed;
    }
    data = safetensors_metadata_value(&source, "data");
    if (settings->data[0] == '\0' && data != NULL) /* the pretraining run's data */
        snprintf(settings->data, sizeof settings->data, "%s", data);
    if (dataset_open_splits(&s->train, &s->test, settings->data, settings->test_data,
                            settings->seed, 0, err) != SIMCLR_OK)
        goto failed;
    s->opened = 1;
    if (!s->test.held_out) {
        simclr_fail(err, "%s has no held-out images to test on: give --test-data SRC",
                    settings->data);
        goto failed;
    }
    if (finetune_label_subset(&s->subset, &s->labelled, &s->train, settings->labels,
                              settings->seed, err) != SIMCLR_OK ||
        finetune_model_create(&s->model, settings, &source, from,
                              resume || settings->from_scratch ? NULL : "backbone.",
                              (size_t)s->train.classes, err) != SIMCLR_OK ||
        dataset_use_channels(&s->train, s->model.network.model.channels, settings->data, err) !=
            SIMCLR_OK ||
        dataset_use_channels(&s->test, s->model.network.model.channels, settings->data, err) !=
            SIMCLR_OK)
        goto failed;
    s->epochs = finetune_epochs(settings);
    s->steps_per_epoch = s->labelled / settings->batch;
    if (training_log_create(&s->log, s->steps_per_epoch * s->epochs, err) != SIMCLR_OK ||
        training_log_keep_accuracy(&s->log, "test_top1", err) != SIMCLR_OK ||
        (resume && finetune_checkpoint_restore(&s->model, &source, from, &s->log, err) !=
                       SIMCLR_OK) ||
        finetune_evaluator(&s->evaluator, &s->model, 64, err) != SIMCLR_OK ||
        (labelled_csv != NULL && finetune_write_labelled(labelled_csv, &s->train, s->subset,
                                                         s->labelled, err) != SIMCLR_OK))
        goto failed;
    safetensors_free(&source);
    return SIMCLR_OK;
failed:
    safetensors_free(&source);
    finetune_session_close(s);
    return SIMCLR_FAILED;
}

void finetune_session_close(finetune_session *s)
{
    simclr_free(s->subset);
    simclr_encoder_destroy(&s->evaluator);
    finetune_model_destroy(&s->model);
    training_log_destroy(&s->log);
    if (s->opened)
        dataset_close(&s->train), dataset_close(&s->test);
    memset(s, 0, sizeof *s);
}
