/*
 * data/run_settings.c — the table of a SimCLR run's settings and their metadata; see
 * run_settings.h.
 */
#include "run_settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The enums of the table are stored as int. */
typedef char run_settings_enums_are_ints[
    sizeof(resnet_arch) == sizeof(int) && sizeof(resnet_stem) == sizeof(int) &&
            sizeof(simclr_views_forward) == sizeof(int) && sizeof(optimizer_kind) == sizeof(int) &&
            sizeof(lr_scaling) == sizeof(int) && sizeof(contrastive_loss_kind) == sizeof(int)
        ? 1
        : -1];

const char *const run_settings_arch_names[] = {"resnet18", "resnet34", "resnet50", NULL};
const int run_settings_arch_values[] = {RESNET18, RESNET34, RESNET50};
const char *const run_settings_stem_names[] = {"imagenet", "cifar", NULL};
const int run_settings_stem_values[] = {STEM_IMAGENET, STEM_CIFAR};
const char *const run_settings_views_names[] = {"joint", "separate", NULL};
static const char *const optimizer_names[] = {"sgd", "lars", NULL};
static const char *const scaling_names[] = {"linear", "sqrt", NULL};
static const char *const loss_names[] = {"ntxent", "nt-logistic", "margin-triplet", NULL};

#define AT(field) offsetof(simclr_training, field)
#define SIZE(flag, key, field, low, high, name, help) \
    {flag, key, SETTING_SIZE, AT(field), low, high, NULL, NULL, 0, name, help}
#define REAL(type, flag, key, field, low, high, name, help) \
    {flag, key, type, AT(field), low, high, NULL, NULL, 0, name, help}
#define CHOICE(flag, key, field, names, values, help) \
    {flag, key, SETTING_CHOICE, AT(field), 0, 0, names, values, 0, NULL, help}
#define SINGLE SETTING_FLOAT
#define DOUBLE SETTING_DOUBLE

/* Every setting of a run, in the order of `simclr train --help`. A flag's default is the value
 * in simclr_training_default() unless its help says otherwise; a checkpoint records every entry
 * that has a key, and its reader checks each against the same range as the flag. */
const setting run_settings[] = {
    {"data", "data", SETTING_TEXT, AT(data), 0, 0, NULL, NULL, SIMCLR_DATA_MAX, "SRC",
     "builtin:shapes, an IDX folder such as Fashion-MNIST's, a CIFAR-10/100 binary .tar.gz or "
     "its folder, a folder of images (PNG, JPEG, PPM, PGM; class sub-folders; DIR/train + "
     "DIR/val)"},
    SIZE("limit", "limit", limit, 0, 1e15, "N", "train on the first N training images (0: all)"),
    {"seed", "seed", SETTING_SEED, AT(model.seed), 0, 0, NULL, NULL, 0, "S",
     "weights, data order and views"},
    CHOICE("arch", "arch", model.encoder.arch, run_settings_arch_names, run_settings_arch_values, "the encoder f"),
    CHOICE("stem", "stem", model.encoder.stem, run_settings_stem_names, run_settings_stem_values,
           "the ResNet stem (default: cifar for views of 64 pixels or less, else imagenet)"),
    REAL(DOUBLE, "width", "width", model.encoder.width, 1.0 / 64.0, 16.0, "W",
         "channel multiplier; 0.25 gives widths 16-32-64-128"),
    SIZE("head-layers", "head_layers", model.head.num_layers, 2, HEAD_MAX_LAYERS, "L",
         "projection head layers"),
    SIZE("hidden", "hidden", model.head.hidden_dim, 0, 65536, "H",
         "head hidden width (0: the encoder's feature size)"),
    SIZE("out-dim", "out_dim", model.head.out_dim, 1, 65536, "D", "head output size"),
    {"head-bn", "head_batch_norm", SETTING_SWITCH, AT(model.head.batch_norm), 0, 1, NULL, NULL,
     0, NULL, "batch norm in the head: 1 LightlySSL's head, 0 the paper's v1 head"},
    CHOICE("views-forward", "views_forward", model.views_forward, run_settings_views_names, NULL,
           "joint: the 2N views as one batch, as the official code; separate: two batches of N "
           "with batch-norm statistics per view, as LightlySSL's examples"),
    SIZE("epochs", "epochs", epochs, 1, 1e6, "E", "epochs of the whole run"),
    SIZE("batch", "batch", model.batch, 1, 65536, "N", "images per step, 2N views"),
    SIZE("shards", "shards", model.shards, 1, 65536, "G",
         "the batch's sums are made per shard of N/G images and added pairwise; a power of two "
         "dividing N: a run on any number of ranks dividing G gives the same bits"),
    CHOICE("optimizer", "optimizer", model.optimizer.kind, optimizer_names, NULL, "optimiser"),
    REAL(DOUBLE, "lr", "lr", base_lr, 1e-9, 1e3, "LR", "base learning rate, scaled by --lr-scaling"),
    CHOICE("lr-scaling", "lr_scaling", scaling, scaling_names, NULL,
           "linear: LR·N/256, sqrt: LR·√N"),
    REAL(DOUBLE, "warmup", "warmup_epochs", warmup_epochs, 0, 1e6, "E",
         "linear warm-up epochs, then cosine decay to 0"),
    REAL(SINGLE, "momentum", "momentum", model.optimizer.momentum, 0, 0.9999, "M", "momentum"),
    REAL(SINGLE, "weight-decay", "weight_decay", model.optimizer.weight_decay, 0, 1, "WD",
         "weight decay (default 5e-4 for sgd, 1e-6 for lars)"),
    REAL(SINGLE, "lars-eta", "lars_eta", model.optimizer.lars_eta, 1e-9, 1, "ETA",
         "LARS trust coefficient"),
    CHOICE("loss", "loss", model.loss.kind, loss_names, NULL, "contrastive loss"),
    REAL(SINGLE, "temperature", "temperature", model.loss.temperature, 1e-3, 100, "T",
         "NT-Xent / NT-Logistic temperature"),
    REAL(SINGLE, "margin", "margin", model.loss.margin, 0, 100, "M", "margin-triplet margin"),
    {"preset", "preset", SETTING_TEXT, AT(preset), 0, 0, NULL, NULL, 16, "P",
     "augmentation preset cifar | imagenet | gray (default: gray for 1-channel data, cifar for "
     "32x32, imagenet otherwise); the flags below override it"},
    SIZE("size", "aug_size", augment.size, 8, 4096, "S", "view side (the preset's)"),
    REAL(DOUBLE, "min-scale", "aug_min_scale", augment.min_scale, 1e-4, 1, "X",
         "smallest crop area fraction (the preset's)"),
    REAL(DOUBLE, "max-scale", "aug_max_scale", augment.max_scale, 1e-4, 1, "X",
         "largest crop area fraction (the preset's)"),
    REAL(DOUBLE, "min-ratio", "aug_min_ratio", augment.min_ratio, 1e-2, 1e2, "X",
         "smallest crop aspect ratio (the preset's)"),
    REAL(DOUBLE, "max-ratio", "aug_max_ratio", augment.max_ratio, 1e-2, 1e2, "X",
         "largest crop aspect ratio (the preset's)"),
    REAL(SINGLE, "strength", "aug_strength", augment.strength, 0, 10, "S",
         "colour jitter strength s (the preset's)"),
    REAL(SINGLE, "p-jitter", "aug_p_jitter", augment.p_jitter, 0, 1, "P",
         "probability of colour jitter (the preset's)"),
    REAL(SINGLE, "p-gray", "aug_p_gray", augment.p_gray, 0, 1, "P",
         "probability of grayscale (the preset's)"),
    REAL(SINGLE, "p-blur", "aug_p_blur", augment.p_blur, 0, 1, "P",
         "probability of Gaussian blur (the preset's)"),
    REAL(SINGLE, "blur-sigma-min", "aug_blur_sigma_min", augment.blur_sigma_min, 1e-3, 100, "S",
         "smallest blur sigma (the preset's)"),
    REAL(SINGLE, "blur-sigma-max", "aug_blur_sigma_max", augment.blur_sigma_max, 1e-3, 100, "S",
         "largest blur sigma (the preset's)"),
    REAL(SINGLE, "p-hflip", "aug_p_hflip", augment.p_hflip, 0, 1, "P",
         "probability of a horizontal flip (the preset's)"),
    REAL(SINGLE, "p-vflip", "aug_p_vflip", augment.p_vflip, 0, 1, "P",
         "probability of a vertical flip (the preset's)"),
    {NULL, "aug_normalize", SETTING_SWITCH, AT(augment.normalize), 0, 1, NULL, NULL, 0, NULL,
     "normalise the views with the mean and std below"},
    REAL(SINGLE, NULL, "aug_mean_0", augment.mean, -100, 100, NULL, "normalisation mean, channel 0"),
    {NULL, "aug_mean_1", SETTING_FLOAT, AT(augment.mean) + sizeof(float), -100, 100, NULL, NULL,
     0, NULL, "normalisation mean, channel 1"},
    {NULL, "aug_mean_2", SETTING_FLOAT, AT(augment.mean) + 2 * sizeof(float), -100, 100, NULL,
     NULL, 0, NULL, "normalisation mean, channel 2"},
    REAL(SINGLE, NULL, "aug_std_0", augment.std, 1e-6, 100, NULL, "normalisation std, channel 0"),
    {NULL, "aug_std_1", SETTING_FLOAT, AT(augment.std) + sizeof(float), 1e-6, 100, NULL, NULL, 0,
     NULL, "normalisation std, channel 1"},
    {NULL, "aug_std_2", SETTING_FLOAT, AT(augment.std) + 2 * sizeof(float), 1e-6, 100, NULL,
     NULL, 0, NULL, "normalisation std, channel 2"},
    SIZE(NULL, "channels", model.channels, 1, 3, NULL, "channels of the images (the data's)"),
    SIZE(NULL, "image_size", model.height, 8, 4096, NULL, "side of the views the model takes")};

const size_t run_setting_count = sizeof run_settings / sizeof run_settings[0];

/* format, every setting, epoch and step fit in a metadata table of RUN_SETTINGS_METADATA_MAX */
typedef char run_settings_metadata_fits[
    sizeof run_settings / sizeof run_settings[0] + 3 <= RUN_SETTINGS_METADATA_MAX ? 1 : -1];

/* What an encoder file (simclr export) records: enough to rebuild f and its input transform. */
const char *const run_settings_encoder_keys[] = {
    "arch", "stem", "width", "channels", "image_size", "aug_size", "aug_normalize", "aug_mean_0",
    "aug_mean_1", "aug_mean_2", "aug_std_0", "aug_std_1", "aug_std_2", "seed", "data", NULL};

int run_settings_check_augment(const simclr_training *t, const char *source, simclr_error *err)
{
    const aug_config *a = &t->augment;
    aug_config preset;
    if (aug_config_preset(&preset, t->preset, err) != SIMCLR_OK)
        return simclr_fail(err, "%s: preset '%s' is not cifar, imagenet or gray", source,
                           t->preset);
    if (a->min_scale > a->max_scale || a->min_ratio > a->max_ratio ||
        a->blur_sigma_min > a->blur_sigma_max)
        return simclr_fail(err, "%s: a range of the augmentation is reversed (scale %g..%g, "
                                "ratio %g..%g, blur sigma %g..%g)",
                           source, a->min_scale, a->max_scale, a->min_ratio, a->max_ratio,
                           (double)a->blur_sigma_min, (double)a->blur_sigma_max);
    return SIMCLR_OK;
}

int run_settings_check(const simclr_training *t, const char *source, simclr_error *err)
{
    const aug_config *a = &t->augment;
    char where[512];
    size_t i;
    for (i = 0; i < run_setting_count; i++) {
        const setting *s = &run_settings[i];
        snprintf(where, sizeof where, "%s: %s%s", source, s->flag != NULL ? "--" : "",
                 s->flag != NULL ? s->flag : s->key);
        if (setting_check(s, t, where, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    if (run_settings_check_augment(t, source, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if ((t->model.shards & (t->model.shards - 1)) != 0 || t->model.batch % t->model.shards != 0)
        return simclr_fail(err, "%s: --shards %lu is not a power of two dividing --batch %lu",
                           source, (unsigned long)t->model.shards, (unsigned long)t->model.batch);
    if (t->model.height != a->size || t->model.width != a->size)
        return simclr_fail(err, "%s: the model takes %lux%lu views, the augmentation makes %lu",
                           source, (unsigned long)t->model.height,
                           (unsigned long)t->model.width, (unsigned long)a->size);
    return SIMCLR_OK;
}

/* Is `key` in the NULL-terminated list (NULL: every key)? */
static int key_listed(const char *const *keys, const char *key)
{
    for (; keys != NULL && *keys != NULL; keys++)
        if (strcmp(*keys, key) == 0)
            return 1;
    return keys == NULL;
}

/* The metadata of a run: format, the listed settings (NULL: all), then epoch and step. */
size_t run_settings_to_metadata(safetensors_metadata *table, const char *format,
                                const simclr_training *t, const char *const *keys, size_t epoch,
                                size_t step)
{
    size_t count = 0, i;
    strcpy(table[count].key, "format");
    strcpy(table[count++].value, format);
    for (i = 0; i < run_setting_count; i++) {
        const setting *s = &run_settings[i];
        if (s->key == NULL || !key_listed(keys, s->key))
            continue;
        strcpy(table[count].key, s->key);
        setting_format(s, t, table[count++].value, sizeof table[0].value);
    }
    if (keys == NULL) {
        strcpy(table[count].key, "epoch");
        sprintf(table[count++].value, "%lu", (unsigned long)epoch);
        strcpy(table[count].key, "step");
        sprintf(table[count++].value, "%lu", (unsigned long)step);
    }
    return count;
}

/* Reads the listed settings (NULL: all) from a file's metadata, each checked against its
 * flag's range, then the ranges of the augmentation in order (smallest ≤ largest). */
int run_settings_from_metadata(simclr_training *t, const safetensors_file *file,
                               const char *path, const char *const *keys, simclr_error *err)
{
    static const char *const ordered[][2] = {{"aug_min_scale", "aug_max_scale"},
                                             {"aug_min_ratio", "aug_max_ratio"},
                                             {"aug_blur_sigma_min", "aug_blur_sigma_max"}};
    /* keys added after the first checkpoints: a run before shards made the batch's sums as
     * one shard */
    static const setting_added_later added_later[] = {{"shards", "1"}};
    char where[600];
    size_t i;
    memset(t, 0, sizeof *t);
    for (i = 0; i < run_setting_count; i++) {
        const setting *s = &run_settings[i];
        const char *value;
        if (s->key == NULL || !key_listed(keys, s->key))
            continue;
        value = setting_value_or_absent(safetensors_metadata_value(file, s->key), s->key,
                                        added_later, sizeof added_later / sizeof added_later[0]);
        if (value == NULL)
            return simclr_fail(err, "%s: the metadata has no '%s'", path, s->key);
        snprintf(where, sizeof where, "%s: metadata '%s'", path, s->key);
        if (setting_parse(s, t, value, where, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    for (i = 0; i < sizeof ordered / sizeof ordered[0]; i++) {
        const setting *low = settings_find_key(run_settings, run_setting_count, ordered[i][0]);
        const setting *high = settings_find_key(run_settings, run_setting_count, ordered[i][1]);
        char low_text[64], high_text[64];
        if (!key_listed(keys, low->key) || !key_listed(keys, high->key))
            continue;
        setting_format(low, t, low_text, sizeof low_text);
        setting_format(high, t, high_text, sizeof high_text);
        if (strtod(low_text, NULL) > strtod(high_text, NULL))
            return simclr_fail(err, "%s: metadata '%s' (%s) is larger than '%s' (%s)", path,
                               low->key, low_text, high->key, high_text);
    }
    t->model.width = t->model.height;
    return SIMCLR_OK;
}


int simclr_checkpoint_training(const safetensors_file *file, const char *path,
                               simclr_training *training, size_t *epoch, size_t *step,
                               simclr_error *err)
{
    static const setting progress[] = {
        {NULL, "epoch", SETTING_SIZE, 0, 0, 1e6, NULL, NULL, 0, NULL, NULL},
        {NULL, "step", SETTING_SIZE, 0, 0, 1e15, NULL, NULL, 0, NULL, NULL}};
    const char *format = safetensors_metadata_value(file, "format");
    const safetensors_tensor *online = safetensors_find(file, "online_classifier.bias");
    char where[600], shown[96];
    size_t i;
    if (format == NULL || strcmp(format, RUN_SETTINGS_CHECKPOINT_FORMAT) != 0)
        return simclr_fail(err, "%s: not a checkpoint of this simclr-c (format '%s', expected "
                                "'%s')", path,
                           format != NULL ? simclr_escape(shown, sizeof shown, format) : "none",
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
    training->model.online_classes = online != NULL && online->ndim == 1 ? online->shape[0] : 0;
    return SIMCLR_OK;
}

/* Was the entry with metadata key `key` given? */
static int was_given(const unsigned char *given, const char *key)
{
    const setting *s = settings_find_key(run_settings, run_setting_count, key);
    return given != NULL && s != NULL && given[s - run_settings];
}

int run_settings_preset(simclr_training *t, const unsigned char *given, const dataset *data,
                        simclr_error *err)
{
    if (!was_given(given, "preset"))
        strcpy(t->preset, data->channels == 1                        ? "gray"
                          : data->height == 32 && data->width == 32 ? "cifar"
                                                                    : "imagenet");
    return aug_config_preset(&t->augment, t->preset, err);
}

void run_settings_derive(simclr_training *t, const unsigned char *given, const dataset *data)
{
    if (!was_given(given, "stem"))
        t->model.encoder.stem = t->augment.size <= 64 ? STEM_CIFAR : STEM_IMAGENET;
    if (!was_given(given, "weight_decay") && t->model.optimizer.kind == OPTIMIZER_LARS)
        t->model.optimizer.weight_decay = 1e-6f;
    t->model.height = t->model.width = t->augment.size;
    t->model.channels = data->channels;
}

/* ---- the defaults ---------------------------------------------------------------------------- */

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
    config.shards = 1;
    config.channels = 3;
    config.height = config.width = 32;
    config.views_forward = SIMCLR_VIEWS_JOINT;
    return config;
}

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
