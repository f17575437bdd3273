/*
 * tests/test_hostile_data.c — files written by an attacker or a careless user, class by class:
 *   non-finite state   a NaN or ±inf parameter, running statistic or optimiser state is never
 *                      written, never read back, never trained on past the step that made it,
 *                      and a NaN score never counts as a right answer (data/checkpoint.h,
 *                      eval/report.h, eval/knn.h);
 *   metadata           every checkpoint value is checked like its flag, ranges in order, the
 *                      key named (data/run_settings.h);
 *   safetensors        duplicate names and keys, control characters and NUL in names, shapes
 *                      whose byte count overflows (data/safetensors.h);
 *   messages           simclr_fail may quote err->message itself; names print escaped, one
 *                      line (nn/error.h);
 *   archives           a ustar member with a full 155-byte prefix and 100-byte name (data/tar.h).
 * Each test states the case it builds; none depends on a file outside the test.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

#define SIDE 16

/* A tiny run on builtin:shapes, as tests/test_algorithm.c makes it. */
static simclr_training tiny_training(void)
{
    simclr_training t = simclr_training_default();
    t.model.encoder.width = 0.0625;
    t.model.head.hidden_dim = 16;
    t.model.head.out_dim = 8;
    t.model.batch = 8;
    t.model.seed = 7;
    t.model.channels = 3;
    t.model.height = t.model.width = SIDE;
    t.augment.size = SIDE;
    t.limit = 32;
    t.epochs = 2;
    t.base_lr = 1.2;
    t.warmup_epochs = 0.5;
    return t;
}

static void create_model(simclr_model *model, simclr_training *t)
{
    simclr_error err;
    cr_assert_eq(simclr_model_create(model, &t->model, &err), SIMCLR_OK, "%s", err.message);
    t->model = model->config;
}

/* The store entry holding float `offset` of params (trainable) or buffers (running statistics). */
static const char *entry_at(const param_store *store, int trainable, size_t offset)
{
    size_t i;
    for (i = 0; i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        if (e->role != BUFFER_NUM_BATCHES_TRACKED && param_role_is_trainable(e->role) == trainable &&
            offset >= e->offset && offset < e->offset + e->count)
            return e->name;
    }
    return "(none)";
}

static int file_exists(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file != NULL)
        fclose(file);
    return file != NULL;
}

/* ---- non-finite state ------------------------------------------------------------------------ */

Test(hostile_data, an_infinite_weight_or_running_variance_is_never_written)
{
    const char *path = "/tmp/simclr_hostile_nonfinite.safetensors";
    simclr_training t = tiny_training();
    simclr_model model;
    simclr_error err;
    const size_t weight = 5, statistic = 0;
    create_model(&model, &t);
    remove(path);
    model.store.params[weight] = INFINITY;
    cr_expect_eq(simclr_checkpoint_write(path, &model, &t, 0, NULL, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, entry_at(&model.store, 1, weight)), "%s", err.message);
    cr_expect(!file_exists(path), "nothing is written");

    model.store.params[weight] = 0.5f;
    model.store.buffers[model.store.buffer_floats - 1] = NAN; /* the last running variance */
    cr_expect_eq(simclr_checkpoint_write(path, &model, &t, 0, NULL, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message,
                              entry_at(&model.store, 0, model.store.buffer_floats - 1)),
                       "%s", err.message);
    cr_expect_not_null(strstr(err.message, "NaN"), "%s", err.message);
    cr_expect(!file_exists(path), "nothing is written");

    model.store.buffers[model.store.buffer_floats - 1] = 1.0f;
    model.opt.velocity[statistic] = -INFINITY;
    cr_expect_eq(simclr_checkpoint_write(path, &model, &t, 0, NULL, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "optimizer."), "%s", err.message);
    cr_expect(!file_exists(path), "nothing is written");
    simclr_model_destroy(&model);
}

/* The bytes of a sound checkpoint with one float of tensor `name` replaced by `bits`. */
static uint8_t *checkpoint_with(const char *name, size_t element, uint32_t bits, size_t *size)
{
    const char *path = "/tmp/simclr_hostile_sound.safetensors";
    simclr_training t = tiny_training();
    simclr_model model;
    simclr_error err;
    safetensors_file file;
    const safetensors_tensor *stored;
    uint8_t *bytes, *at;
    int k;
    create_model(&model, &t);
    remove(path);
    cr_assert_eq(simclr_checkpoint_write(path, &model, &t, 0, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    simclr_model_destroy(&model);
    bytes = test_load_file(path, size);
    cr_assert_eq(safetensors_view(&file, bytes, *size, path, &err), SIMCLR_OK, "%s", err.message);
    stored = safetensors_find(&file, name);
    cr_assert_not_null(stored, "%s", name);
    at = (uint8_t *)file.data + stored->begin + 4 * element;
    for (k = 0; k < 4; k++) /* little-endian */
        at[k] = (uint8_t)(bits >> (8 * k));
    safetensors_free(&file);
    return bytes;
}

Test(hostile_data, a_checkpoint_with_one_infinite_weight_is_rejected_naming_it)
{
    static const struct {
        const char *name;
        uint32_t bits;
    } cases[] = {{"backbone.conv1.weight", 0x7f800000u},           /* +inf */
                 {"backbone.bn1.running_var", 0x7fc00000u},        /* NaN */
                 {"optimizer.backbone.conv1.weight.momentum", 0xff800000u}}; /* -inf */
    size_t c;
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        simclr_training t = tiny_training(), read;
        simclr_model model;
        simclr_encoder encoder;
        simclr_error err;
        safetensors_file file;
        size_t size;
        uint8_t *bytes = checkpoint_with(cases[c].name, 3, cases[c].bits, &size);
        const int optimiser = strncmp(cases[c].name, "optimizer.", 10) == 0;
        size_t epoch, step;
        /* resuming */
        create_model(&model, &t);
        cr_assert_eq(safetensors_view(&file, bytes, size, "poisoned.safetensors", &err),
                     SIMCLR_OK);
        cr_assert_eq(simclr_checkpoint_training(&file, "poisoned.safetensors", &read, &epoch,
                                                &step, &err), SIMCLR_OK, "%s", err.message);
        cr_expect_eq(simclr_checkpoint_restore(&model, &file, "poisoned.safetensors", NULL, &err),
                     SIMCLR_FAILED, "%s must be rejected", cases[c].name);
        cr_expect_not_null(strstr(err.message, cases[c].name), "%s", err.message);
        cr_expect_not_null(strstr(err.message, "poisoned.safetensors"), "%s", err.message);
        safetensors_free(&file);
        simclr_model_destroy(&model);
        /* evaluating (the encoder reads no optimiser state) */
        if (!optimiser) {
            cr_expect_eq(simclr_encoder_load_bytes(&encoder, bytes, size, "poisoned.safetensors",
                                                   0, 1, &err),
                         SIMCLR_FAILED, "%s must be rejected", cases[c].name);
            cr_expect_not_null(strstr(err.message, cases[c].name), "%s", err.message);
        }
        free(bytes);
    }
}

/* Makes the first running variance +inf after the first step (as an overflowing batch would
 * with a loss still finite), and counts the calls. */
static int poison_running_statistics(const simclr_progress *progress, simclr_model *model,
                                     const training_log *history, void *context)
{
    (void)progress;
    (void)history;
    model->store.buffers[model->store.buffer_floats - 1] = INFINITY;
    ++*(int *)context;
    return 0;
}

Test(hostile_data, a_diverging_run_stops_before_its_callback_can_save_poisoned_statistics)
{
    simclr_training t = tiny_training();
    simclr_model model;
    training_log history;
    simclr_error err;
    dataset data;
    int calls = 0;
    cr_assert_eq(dataset_open(&data, "builtin:shapes", 1, t.model.seed, &err), SIMCLR_OK, "%s",
                 err.message);
    create_model(&model, &t);
    cr_assert_eq(training_log_create(&history, 8, &err), SIMCLR_OK);
    cr_expect_eq(simclr_train(&model, &t, &data, &history, poison_running_statistics, &calls,
                              &err), SIMCLR_FAILED, "the run must stop");
    cr_expect_eq(calls, 1, "the callback (which saves checkpoints) sees no poisoned state");
    cr_expect_not_null(strstr(err.message, entry_at(&model.store, 0, model.store.buffer_floats - 1)),
                       "%s", err.message);
    cr_expect_not_null(strstr(err.message, "step 2"), "%s", err.message);
    training_log_destroy(&history);
    simclr_model_destroy(&model);
    dataset_close(&data);
}

Test(hostile_data, a_nan_score_is_never_a_right_answer)
{
    /* sample 0: every score NaN (label 0, which a "ties to the lower class" rule would award);
     * sample 1: its true class scored NaN, the others numbers; sample 2: a sound row */
    const float scores[3 * 3] = {NAN, NAN, NAN, NAN, 1.0f, 2.0f, 0.1f, 0.9f, 0.3f};
    const int labels[3] = {0, 0, 1};
    classification_report report;
    simclr_error err;
    cr_assert_eq(classification_report_compute(&report, scores, labels, 3, 3, &err), SIMCLR_OK);
    cr_expect_float_eq(report.top1, 1.0 / 3.0, 1e-12, "top-1 %g", report.top1);
    cr_expect_float_eq(report.top5, 1.0 / 3.0, 1e-12, "top-5 %g: NaN is no hit in any top-k",
                       report.top5);
    cr_expect_eq(report.confusion[0 * 3 + 0], 0, "no class predicted for an all-NaN row");
    cr_expect_eq(report.confusion[0 * 3 + 2], 1, "sample 1 predicts its largest number");
    cr_expect_eq(classification_rank(scores + 3, 3, 0), 3);
    classification_report_destroy(&report);
}

Test(hostile_data, features_with_nan_never_score_top1_of_one)
{
    /* two classes, perfectly separable, but every test row holds a NaN (the features of a
     * diverged encoder); the kNN and linear probes must not report them as right */
    float train_values[8 * 2], test_values[4 * 2];
    int train_labels[8], test_labels[4];
    feature_set train = {train_values, train_labels, 8, 2, 2};
    feature_set test = {test_values, test_labels, 4, 2, 2};
    probe_outcome outcome;
    knn_config knn = knn_config_default();
    logistic_fit_config linear = logistic_fit_config_default();
    simclr_error err;
    size_t i;
    for (i = 0; i < 8; i++) {
        train_labels[i] = (int)(i % 2);
        train_values[2 * i] = i % 2 ? 1.0f : -1.0f;
        train_values[2 * i + 1] = 0.1f * (float)i;
    }
    for (i = 0; i < 4; i++) {
        test_labels[i] = 0; /* class 0: the class a NaN-blind argmax would pick */
        test_values[2 * i] = NAN;
        test_values[2 * i + 1] = 0.5f;
    }
    knn.k = 3;
    cr_assert_eq(probe_knn(&outcome, &train, &test, &knn, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_lt(outcome.report.top1, 1.0, "kNN top-1 %g", outcome.report.top1);
    cr_expect_eq(outcome.report.top1, 0.0, "kNN top-1 %g", outcome.report.top1);
    probe_outcome_destroy(&outcome);
    if (probe_linear(&outcome, &train, &test, &linear, &err) == SIMCLR_OK)
        cr_expect_lt(outcome.report.top1, 1.0, "linear top-1 %g", outcome.report.top1);
    probe_outcome_destroy(&outcome);
}

/* ---- checkpoint metadata --------------------------------------------------------------------- */

/* A checkpoint's metadata with `key` set to `value` (NULL: as written), checked as a resume does.
 * Returns the status; the reason in err. */
static int read_metadata_with(const char *key, const char *value, const char *key2,
                              const char *value2, simclr_error *err)
{
    const char *path = "/tmp/simclr_hostile_metadata.safetensors";
    safetensors_metadata table[RUN_SETTINGS_METADATA_MAX];
    simclr_training t = tiny_training(), read;
    safetensors_file file;
    size_t count, i, epoch, step;
    int status;
    count = run_settings_to_metadata(table, RUN_SETTINGS_CHECKPOINT_FORMAT, &t, NULL, 0, 0);
    for (i = 0; i < count; i++) {
        if (key != NULL && strcmp(table[i].key, key) == 0)
            strcpy(table[i].value, value);
        if (key2 != NULL && strcmp(table[i].key, key2) == 0)
            strcpy(table[i].value, value2);
    }
    remove(path);
    cr_assert_eq(safetensors_write(path, NULL, 0, table, count, err), SIMCLR_OK, "%s",
                 err->message);
    cr_assert_eq(safetensors_read(&file, path, err), SIMCLR_OK, "%s", err->message);
    status = simclr_checkpoint_training(&file, path, &read, &epoch, &step, err);
    safetensors_free(&file);
    return status;
}

Test(hostile_data, checkpoint_metadata_is_checked_like_its_flag_naming_the_key)
{
    static const struct {
        const char *key, *value, *key2, *value2, *named;
    } cases[] = {{"temperature", "0", NULL, NULL, "temperature"},
                 {"temperature", "nan", NULL, NULL, "temperature"},
                 {"lr", "-0.1", NULL, NULL, "lr"},
                 {"lr", "NaN", NULL, NULL, "lr"},
                 {"momentum", "1", NULL, NULL, "momentum"},
                 {"momentum", "inf", NULL, NULL, "momentum"},
                 {"aug_std_1", "0", NULL, NULL, "aug_std_1"},
                 {"margin", "nan", NULL, NULL, "margin"},
                 {"width", "nan", NULL, NULL, "width"},
                 {"limit", "1e300", NULL, NULL, "limit"},
                 {"batch", "2.5", NULL, NULL, "batch"},
                 {"epoch", "-1", NULL, NULL, "epoch"},
                 {"aug_min_scale", "0.9", "aug_max_scale", "0.5", "aug_min_scale"},
                 {"aug_min_ratio", "2", "aug_max_ratio", "1.5", "aug_min_ratio"},
                 {"aug_blur_sigma_min", "3", "aug_blur_sigma_max", "1", "aug_blur_sigma_min"}};
    simclr_error err;
    size_t c;
    cr_assert_eq(read_metadata_with(NULL, NULL, NULL, NULL, &err), SIMCLR_OK, "%s", err.message);
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char quoted[64];
        memset(&err, 0, sizeof err);
        cr_expect_eq(read_metadata_with(cases[c].key, cases[c].value, cases[c].key2,
                                        cases[c].value2, &err),
                     SIMCLR_FAILED, "%s = %s must be rejected", cases[c].key, cases[c].value);
        snprintf(quoted, sizeof quoted, "'%s'", cases[c].named);
        cr_expect_not_null(strstr(err.message, quoted), "%s = %s: %s", cases[c].key,
                           cases[c].value, err.message);
    }
}

Test(hostile_data, a_bad_arch_in_metadata_gives_a_clean_message)
{
    simclr_error err;
    const char *path = "/tmp/simclr_hostile_metadata.safetensors";
    cr_expect_eq(read_metadata_with("arch", "resnet99", NULL, NULL, &err), SIMCLR_FAILED);
    cr_expect_str_eq(err.message, "/tmp/simclr_hostile_metadata.safetensors: metadata 'arch': "
                                  "'resnet99' is not one of the choices "
                                  "(resnet18|resnet34|resnet50)", "%s", path);
}

/* No byte of the message is a control character. */
static void expect_one_line(const char *message)
{
    size_t i;
    for (i = 0; message[i] != '\0'; i++)
        cr_expect((unsigned char)message[i] >= 0x20 && message[i] != 0x7f,
                  "a control byte at %zu of: %s", i, message);
}

Test(hostile_data, metadata_values_print_escaped_on_one_line)
{
    simclr_error err;
    cr_expect_eq(read_metadata_with("arch", "resnet18\n\x01", NULL, NULL, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "'resnet18\\x0a\\x01' is not one of"), "%s",
                       err.message);
    expect_one_line(err.message);
    cr_expect_eq(read_metadata_with("lr", "1\r\n", NULL, NULL, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "not '1\\x0d\\x0a'"), "%s", err.message);
    expect_one_line(err.message);
    cr_expect_eq(read_metadata_with("format", "simclr-c\ncheckpoint", NULL, NULL, &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "'simclr-c\\x0acheckpoint'"), "%s", err.message);
    expect_one_line(err.message);
}

/* ---- safetensors ----------------------------------------------------------------------------- */

static size_t build(uint8_t *buffer, const char *header, size_t data_size)
{
    const size_t n = strlen(header);
    size_t k;
    for (k = 0; k < 8; k++)
        buffer[k] = (uint8_t)((uint64_t)n >> (8 * k));
    memcpy(buffer + 8, header, n);
    memset(buffer + 8 + n, 0, data_size);
    return 8 + n + data_size;
}

/* The header is rejected with `reason` in a one-line message naming the file. */
static void expect_rejected(const char *header, size_t data_size, const char *reason)
{
    uint8_t buffer[1024];
    const size_t size = build(buffer, header, data_size);
    safetensors_file file;
    simclr_error err;
    size_t i;
    memset(&err, 0, sizeof err);
    cr_expect_eq(safetensors_parse(&file, buffer, size, "bad.safetensors", &err), SIMCLR_FAILED,
                 "must be rejected: %s", header);
    cr_expect_not_null(strstr(err.message, "bad.safetensors"), "%s", err.message);
    cr_expect_not_null(strstr(err.message, reason), "wanted '%s', got: %s", reason, err.message);
    for (i = 0; err.message[i] != '\0'; i++)
        cr_expect((unsigned char)err.message[i] >= 0x20 && err.message[i] != 0x7f,
                  "a control byte at %zu of: %s", i, err.message);
}

Test(hostile_data, safetensors_names_are_unique_and_printable)
{
    /* a second tensor of the same name would shadow (or be shadowed by) the first */
    expect_rejected("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                    " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                    8, "'a' appears twice");
    expect_rejected("{\"__metadata__\": {\"format\": \"pt\", \"lr\": \"1\", \"format\": \"x\"}}",
                    0, "'format' appears twice");
    expect_rejected("{\"__metadata__\": {\"format\": \"pt\"}, \"__metadata__\": {\"lr\": \"1\"}}",
                    0, "two __metadata__");
    /* "backbone.conv1.weight\u0000x" would read as "backbone.conv1.weight" */
    expect_rejected("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                    " \"a\\u0000x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                    8, "invalid JSON");
    expect_rejected("{\"__metadata__\": {\"lr\\u0000x\": \"1\"}}", 0, "invalid JSON");
    /* control characters: rejected, and printed escaped */
    expect_rejected("{\"a\\nb\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                    4, "'a\\x0ab' holds a control character");
    expect_rejected("{\"__metadata__\": {\"x\\u007f\": \"1\"}}", 0,
                    "'x\\x7f' holds a control character");
}

Test(hostile_data, an_overflowing_byte_count_prints_no_garbage)
{
    /* 2^62 floats: the element count fits in 64 bits, its bytes do not */
    expect_rejected("{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], "
                    "\"data_offsets\": [0, 8]}}", 8, "tensor 'a': its shape's byte count overflows");
}

/* ---- messages ------------------------------------------------------------------------------ */

Test(hostile_data, simclr_fail_may_quote_its_own_message)
{
    simclr_error err;
    strcpy(err.message, "metadata 'arch': 'resnet99' is not one of the choices");
    cr_expect_eq(simclr_fail(&err, "run/checkpoint.safetensors: %s (%d)", err.message, 3),
                 SIMCLR_FAILED);
    cr_expect_str_eq(err.message, "run/checkpoint.safetensors: metadata 'arch': 'resnet99' is "
                                  "not one of the choices (3)");
}

Test(hostile_data, names_escape_to_one_line)
{
    char out[64];
    cr_expect_str_eq(simclr_escape(out, sizeof out, "a\nb\x7f\x01z/\xc3\xa9"),
                     "a\\x0ab\\x7f\\x01z/\xc3\xa9", "%s", out);
    cr_expect_str_eq(simclr_escape(out, 6, "ab\ncd"), "ab", "an escape is never cut in half");
    cr_expect_str_eq(simclr_escape(out, 1, "abc"), "");
}

/* ---- archives ------------------------------------------------------------------------------ */

Test(hostile_data, a_ustar_member_with_full_prefix_and_name_fields_loads)
{
    uint8_t archive[3 * 512];
    char expected[257];
    tar_member member;
    simclr_error err;
    size_t offset = 0, i;
    unsigned long sum = 0;
    memset(archive, 0, sizeof archive);
    memset(archive, 'n', 100);           /* name: 100 bytes, no NUL */
    memcpy(archive + 100, "0000644", 8); /* mode */
    memcpy(archive + 124, "00000000003", 12);
    archive[156] = '0';
    memcpy(archive + 257, "ustar", 6);
    memcpy(archive + 263, "00", 2);
    memset(archive + 345, 'p', 155);     /* prefix: 155 bytes, no NUL */
    memset(archive + 148, ' ', 8);
    for (i = 0; i < 512; i++)
        sum += archive[i];
    sprintf((char *)archive + 148, "%06lo", sum);
    memcpy(archive + 512, "abc", 3);
    memset(expected, 'p', 155);
    expected[155] = '/';
    memset(expected + 156, 'n', 100);
    expected[256] = '\0';
    cr_assert_eq(tar_next(archive, sizeof archive, &offset, &member, "long.tar", &err), 1, "%s",
                 err.message);
    cr_expect_eq(strlen(member.name), 256);
    cr_expect_str_eq(member.name, expected);
    cr_expect_eq(member.size, 3);
    cr_expect(memcmp(member.data, "abc", 3) == 0);
    cr_expect_eq(tar_next(archive, sizeof archive, &offset, &member, "long.tar", &err), 0);
}
