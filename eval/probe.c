/*
 * eval/probe.c — the linear probe and the kNN monitor on copies of two feature sets; see
 * probe.h.
 */
#include "probe.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/timer.h"

/* Working copies of both feature sets (each probe transforms them in place) and a
 * (test, classes) score buffer. */
static int probe_copies(feature_set *train, feature_set *test, float **scores,
                        const feature_set *train_in, const feature_set *test_in,
                        simclr_error *err)
{
    const size_t train_floats = train_in->count * train_in->dim;
    const size_t test_floats = test_in->count * test_in->dim;
    *train = *train_in;
    *test = *test_in;
    train->values = simclr_calloc(train_floats > 0 ? train_floats : 1, sizeof(float),
                                  "probe: training features", err);
    test->values = simclr_calloc(test_floats > 0 ? test_floats : 1, sizeof(float),
                                 "probe: test features", err);
    *scores = simclr_calloc((test_in->count > 0 ? test_in->count : 1) * (size_t)train_in->classes,
                            sizeof(float), "probe: scores", err);
    if (train->values == NULL || test->values == NULL || *scores == NULL)
        return SIMCLR_FAILED;
    memcpy(train->values, train_in->values, train_floats * sizeof(float));
    memcpy(test->values, test_in->values, test_floats * sizeof(float));
    return SIMCLR_OK;
}

int probe_linear(probe_outcome *outcome, const feature_set *train_in, const feature_set *test_in,
                 const logistic_fit_config *config, simclr_error *err)
{
    feature_set train, test;
    logistic_model model;
    lbfgs_result result;
    float *scores = NULL;
    const double start = timer_seconds();
    int status = SIMCLR_FAILED;
    memset(outcome, 0, sizeof *outcome);
    memset(&model, 0, sizeof model);
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    outcome->probe = "linear";
    if (probe_copies(&train, &test, &scores, train_in, test_in, err) != SIMCLR_OK)
        goto done;
    features_standardize(&train, &test);
    if (logistic_fit(&model, &result, train.values, train.labels, train.count, train.dim,
                     (size_t)train.classes, config, err) != SIMCLR_OK ||
        logistic_scores(scores, &model, test.values, test.count, err) != SIMCLR_OK ||
        classification_report_compute(&outcome->report, scores, test.labels, test.count,
                                      (size_t)train.classes, err) != SIMCLR_OK)
        goto done;
    outcome->iterations = result.iterations;
    outcome->converged = result.converged;
    outcome->gradient_norm = result.gradient_norm;
    outcome->loss = result.value;
    status = SIMCLR_OK;
done:
    logistic_model_destroy(&model);
    outcome->seconds = timer_seconds() - start;
    simclr_free(train.values);
    simclr_free(test.values);
    simclr_free(scores);
    return status;
}

int probe_knn(probe_outcome *outcome, const feature_set *train_in, const feature_set *test_in,
              const knn_config *config, simclr_error *err)
{
    feature_set train, test;
    float *scores = NULL;
    const double start = timer_seconds();
    int status = SIMCLR_FAILED;
    memset(outcome, 0, sizeof *outcome);
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    outcome->probe = "knn";
    if (probe_copies(&train, &test, &scores, train_in, test_in, err) != SIMCLR_OK)
        goto done;
    knn_normalize_rows(train.values, train.count, train.dim);
    knn_normalize_rows(test.values, test.count, test.dim);
    if (knn_scores(scores, test.values, test.count, train.values, train.labels, train.count,
                   train.dim, (size_t)train.classes, config, err) != SIMCLR_OK ||
        classification_report_compute(&outcome->report, scores, test.labels, test.count,
                                      (size_t)train.classes, err) != SIMCLR_OK)
        goto done;
    outcome->converged = 1;
    status = SIMCLR_OK;
done:
    outcome->seconds = timer_seconds() - start;
    simclr_free(train.values);
    simclr_free(test.values);
    simclr_free(scores);
    return status;
}

void probe_outcome_destroy(probe_outcome *outcome)
{
    classification_report_destroy(&outcome->report);
}

/* Appends to out[*used ..), cut at size. */
static void append(char *out, size_t size, size_t *used, const char *format, ...)
{
    va_list args;
    int written;
    if (*used + 1 >= size)
        return;
    va_start(args, format);
    written = vsnprintf(out + *used, size - *used, format, args);
    va_end(args);
    *used += written > 0 ? (size_t)written : 0;
    if (*used >= size)
        *used = size - 1;
}

size_t probe_outcome_format(char *out, size_t size, const char *features,
                            const probe_outcome *outcome, const dataset *data,
                            size_t train_count, int csv, int header, int confusion)
{
    const classification_report *r = &outcome->report;
    size_t used = 0, c, p;
    out[0] = '\0';
    if (header && csv) {
        append(out, size, &used, "features,probe,train,%s,top1,top5",
               data->held_out ? "test" : "again");
        for (c = 0; c < r->classes; c++)
            append(out, size, &used, ",class_%lu", (unsigned long)c);
        append(out, size, &used, "\n");
    }
    if (header && !csv)
        append(out, size, &used, "%-10s %-7s %7s %7s %7s %7s\n", "features", "probe", "train",
               data->held_out ? "test" : "again", "top-1", "top-5");
    append(out, size, &used,
           csv ? "%s,%s,%lu,%lu,%.4f,%.4f" : "%-10s %-7s %7lu %7lu %7.4f %7.4f\n  per class:",
           features, outcome->probe, (unsigned long)train_count, (unsigned long)r->samples,
           r->top1, r->top5);
    for (c = 0; c < r->classes; c++)
        if (csv)
            append(out, size, &used, ",%.4f", r->per_class[c]);
        else
            append(out, size, &used, " %s %.3f", data->names[c], r->per_class[c]);
    append(out, size, &used, "\n");
    if (!confusion || csv)
        return used;
    append(out, size, &used, "  confusion (rows: true class, columns: predicted):\n");
    for (c = 0; c < r->classes; c++) {
        append(out, size, &used, "  %10.10s", data->names[c]);
        for (p = 0; p < r->classes; p++)
            append(out, size, &used, " %6lu", (unsigned long)r->confusion[c * r->classes + p]);
        append(out, size, &used, "\n");
    }
    return used;
}

char *probe_outcome_text(const char *features, const probe_outcome *outcome,
                         const dataset *data, size_t train_count, int csv, int header,
                         int confusion, simclr_error *err)
{
    /* a line per class of the confusion matrix, 7 characters a count, and room for the rest */
    const size_t classes = outcome->report.classes, size = 4096 + classes * (classes + 8) * 16;
    char *text = simclr_calloc(size, 1, "probe: report", err);
    if (text != NULL)
        probe_outcome_format(text, size, features, outcome, data, train_count, csv, header,
                             confusion);
    return text;
}
