/*
 * eval/evaluation.c — simclr eval's work: features, probes, the fine-tuned classifier's own
 * accuracy; see evaluation.h.
 */
#include "evaluation.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/timer.h"
#include "features.h"
#include "probe.h"

static const char *const feature_names[] = {"encoder", "raw", NULL};
static const char *const probe_names[] = {"both", "linear", "knn", NULL};
static const char *const init_names[] = {"checkpoint", "random", "both", NULL};

#define AT(field) offsetof(evaluation_settings, field)
#define FIELD(flag, type, field, low, high, name, help) \
    {flag, NULL, type, AT(field), low, high, NULL, NULL, sizeof(((evaluation_settings *)0)->field), \
     name, help}
#define CHOICE(flag, field, names, help) \
    {flag, NULL, SETTING_CHOICE, AT(field), 0, 0, names, NULL, 0, NULL, help}

const setting evaluation_table[] = {
    FIELD("checkpoint", SETTING_TEXT, checkpoint, 0, 0, "CKPT",
          "a checkpoint of simclr train or simclr finetune, or an encoder of simclr export"),
    CHOICE("features", features, feature_names,
           "encoder: the checkpoint's encoder (default) | raw: the pixels themselves"),
    FIELD("data", SETTING_TEXT, data, 0, 0, "SRC",
          "the dataset (default: the checkpoint's; builtin:shapes for raw)"),
    FIELD("test-data", SETTING_TEXT, test_data, 0, 0, "SRC",
          "the held-out images (default: the test split of --data: its test batch, or DIR/val "
          "or DIR/test next to DIR/train)"),
    CHOICE("probe", probe, probe_names, "which probes"),
    FIELD("k", SETTING_SIZE, knn.k, 1, 1e6, "K",
          "kNN neighbours (default 200, or every training image when there are fewer)"),
    FIELD("t", SETTING_DOUBLE, knn.temperature, 1e-4, 100, "T", "kNN temperature"),
    FIELD("l2", SETTING_DOUBLE, linear.l2, 0, 1e3, "L", "the linear probe's L2 penalty"),
    FIELD("max-iterations", SETTING_SIZE, linear.lbfgs.max_iterations, 1, 1e6, "N",
          "L-BFGS iterations at most"),
    CHOICE("init", init, init_names,
           "checkpoint: the trained weights | random: the run's initial weights, the encoder "
           "SimCLR started from | both"),
    FIELD("train-limit", SETTING_SIZE, train_limit, 0, 1e15, "N",
          "the first N training images only (0: all)"),
    FIELD("labels", SETTING_TEXT, labels, 0, 0, "P",
          "fit on the labelled subset simclr finetune --labels P --seed S draws (1%, 10%, N per "
          "class) instead of every training image"),
    FIELD("seed", SETTING_SEED, seed, 0, 0, "S", "the seed of --labels"),
    FIELD("test-limit", SETTING_SIZE, test_limit, 0, 1e15, "N",
          "the first N test images only (0: all)"),
    FIELD("batch", SETTING_SIZE, batch, 1, 4096, "B", "images per forward pass"),
    FIELD("threads", SETTING_SIZE, threads, 1, 1024, "T", SETTINGS_THREADS_HELP),
    FIELD("csv", SETTING_PRESENT, csv, 0, 1, NULL, "CSV instead of the table"),
    FIELD("confusion", SETTING_PRESENT, confusion, 0, 1, NULL,
          "each probe's confusion matrix under its line (table only)")};
const size_t evaluation_setting_count = sizeof evaluation_table / sizeof evaluation_table[0];

evaluation_settings evaluation_settings_default(void)
{
    evaluation_settings s;
    memset(&s, 0, sizeof s);
    s.knn = knn_config_default();
    s.knn.k = 0; /* 200, or fewer when there are fewer training images */
    s.linear = logistic_fit_config_default();
    s.batch = 64;
    s.seed = finetune_settings_default().seed;
    return s;
}

/* A formatted note to the callback. */
static void note_that(evaluation_note_fn note, void *context, const char *format, ...)
{
    char line[1024];
    va_list arguments;
    if (note == NULL)
        return;
    va_start(arguments, format);
    vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    note(context, line);
}

/* Appends `more` (freed here) to *text. */
static int append(char **text, char *more, simclr_error *err)
{
    const size_t had = *text != NULL ? strlen(*text) : 0, adding = strlen(more);
    char *both = simclr_calloc(had + adding + 1, 1, "eval: report", err);
    if (both != NULL) {
        if (had > 0)
            memcpy(both, *text, had);
        memcpy(both + had, more, adding);
        simclr_free(*text);
        *text = both;
    }
    simclr_free(more);
    return both != NULL ? SIMCLR_OK : SIMCLR_FAILED;
}

/* A fine-tuned network: its own classifier fc on the test split, no probe. */
static int classifier_evaluation(char **text, const evaluation_settings *s,
                                 simclr_encoder *encoder, simclr_error *err)
{
    const char *source = s->data[0] != '\0' ? s->data : encoder->data;
    dataset train, test;
    probe_outcome outcome;
    char *rows = NULL;
    int status;
    memset(&outcome, 0, sizeof outcome);
    if (simclr_encoder_open_splits(&train, &test, source, s->test_data, encoder, err) !=
        SIMCLR_OK)
        return SIMCLR_FAILED;
    outcome.probe = "fc", outcome.converged = 1;
    status = simclr_encoder_classify(&outcome.report, encoder, &test, s->test_limit, err);
    if (status == SIMCLR_OK &&
        (rows = probe_outcome_text("finetuned", &outcome, &train, train.count, s->csv, 1,
                                   s->confusion, err)) == NULL)
        status = SIMCLR_FAILED;
    if (status == SIMCLR_OK)
        status = append(text, rows, err);
    probe_outcome_destroy(&outcome);
    dataset_close(&train), dataset_close(&test);
    return status;
}

/* Keeps the rows of the labelled subset (indices in order) of the training features. */
static int keep_labelled(feature_set *train, const dataset *data, const evaluation_settings *s,
                         simclr_error *err)
{
    size_t *subset, kept, i;
    if (finetune_label_subset(&subset, &kept, data, s->labels, s->seed, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    for (i = 0; i < kept && subset[i] < train->count; i++) {
        memmove(train->values + i * train->dim, train->values + subset[i] * train->dim,
                train->dim * sizeof(float));
        train->labels[i] = train->labels[subset[i]];
    }
    train->count = i;
    simclr_free(subset);
    return SIMCLR_OK;
}

/* The probes of one set of features (random_init: the run's initial weights). */
static int evaluate_features(char **text, const evaluation_settings *s, int random_init,
                             int header, evaluation_note_fn note, void *context,
                             simclr_error *err)
{
    simclr_encoder encoder;
    dataset train_data, test_data;
    feature_set train, test;
    probe_outcome outcome;
    simclr_error why;
    knn_config knn = s->knn;
    const int raw = s->features == 1;
    const char *source = s->data[0] != '\0' ? s->data : "builtin:shapes";
    const double start = timer_seconds();
    char line[4400]; /* a folder's path and the sentence */
    int status = SIMCLR_OK, ready, p;
    memset(&encoder, 0, sizeof encoder);
    if (!raw && simclr_encoder_load(&encoder, s->checkpoint, random_init, s->batch, err) !=
                    SIMCLR_OK)
        return SIMCLR_FAILED;
    if (!raw && encoder.classes > 0) { /* fine-tuned: its own classifier */
        status = classifier_evaluation(text, s, &encoder, err);
        simclr_encoder_destroy(&encoder);
        return status;
    }
    source = !raw && s->data[0] == '\0' ? encoder.data : source;
    if (simclr_encoder_split_features(&train, &test, &train_data, &test_data, source,
                                      s->test_data, encoder.seed, raw ? NULL : &encoder,
                                      s->train_limit, s->test_limit, err) != SIMCLR_OK) {
        simclr_encoder_destroy(&encoder);
        return SIMCLR_FAILED;
    }
    if (s->labels[0] != '\0' && keep_labelled(&train, &train_data, s, err) != SIMCLR_OK)
        status = SIMCLR_FAILED;
    ready = status == SIMCLR_OK;
    if (status == SIMCLR_OK && dataset_skipped_note(&train_data, line, sizeof line))
        note_that(note, context, "%s", line);
    if (status == SIMCLR_OK && !train_data.held_out && header)
        note_that(note, context, "%s has no held-out images: \"again\" is accuracy on the "
                                 "training images, not a test accuracy", source);
    if (status == SIMCLR_OK)
        note_that(note, context, "features of %lu + %lu images (%lu each) in %.1f s",
                  (unsigned long)train.count, (unsigned long)test.count,
                  (unsigned long)train.dim, timer_seconds() - start);
    if (knn.k == 0) { /* the default: 200, or every training image when there are fewer */
        knn.k = train.count < 200 ? train.count : 200;
        if (status == SIMCLR_OK && knn.k < 200)
            note_that(note, context, "knn: k = %lu, every training image", (unsigned long)knn.k);
    }
    for (p = 1; ready && p <= 2; p++) { /* 1: linear, 2: knn; a failed one stops no other */
        char *rows;
        if (s->probe != 0 && s->probe != p)
            continue;
        if ((p == 1 ? probe_linear(&outcome, &train, &test, &s->linear, &why)
                    : probe_knn(&outcome, &train, &test, &knn, &why)) != SIMCLR_OK) {
            if (status == SIMCLR_OK) /* the first failure is the one returned */
                *err = why;
            status = SIMCLR_FAILED;
            continue;
        }
        if (p == 1)
            note_that(note, context, "linear probe: L-BFGS %s after %lu iterations (gradient "
                                     "%.2e, loss %.6f), %.1f s",
                      outcome.converged ? "converged" : "did NOT meet its tolerance",
                      (unsigned long)outcome.iterations, outcome.gradient_norm, outcome.loss,
                      outcome.seconds);
        rows = probe_outcome_text(raw ? "raw" : random_init ? "random" : "simclr", &outcome,
                                  &train_data, train.count, s->csv, header, s->confusion, &why);
        if (rows == NULL || append(text, rows, &why) != SIMCLR_OK) {
            if (status == SIMCLR_OK)
                *err = why;
            status = SIMCLR_FAILED;
        }
        header = 0;
        probe_outcome_destroy(&outcome);
    }
    feature_set_destroy(&train);
    feature_set_destroy(&test);
    dataset_close(&train_data);
    dataset_close(&test_data);
    simclr_encoder_destroy(&encoder);
    return status;
}

int evaluation_run(char **text, const evaluation_settings *s, evaluation_note_fn note,
                   void *context, simclr_error *err)
{
    simclr_error second;
    int status;
    *text = NULL;
    if ((s->checkpoint[0] == '\0') == (s->features == 0))
        return simclr_fail(err, "eval: give exactly one of --checkpoint CKPT and --features raw");
    if (s->init != 2) /* the trained encoder, or the one it started from */
        return evaluate_features(text, s, s->init == 1, 1, note, context, err);
    status = evaluate_features(text, s, 0, 1, note, context, err);
    if (evaluate_features(text, s, 1, 0, note, context, &second) != SIMCLR_OK) {
        if (status == SIMCLR_OK) /* the first failure is the one returned */
            *err = second;
        status = SIMCLR_FAILED;
    }
    return status;
}
