/*
 * eval/probe.h — the two ways this project judges a frozen representation, on feature sets of a
 * training and a test split (eval/features.h):
 *
 *   linear  the linear evaluation protocol of the paper (§4, Appendix B.6) as a convex problem:
 *           features standardised with the training split's mean and standard deviation, then
 *           multinomial logistic regression with an L2 penalty, fitted to convergence with
 *           L-BFGS (eval/logistic.h), scored on the test split
 *   knn     LightlySSL's kNN monitor: L2-normalised features, cosine similarity to every
 *           training feature, the top k neighbours vote exp(similarity / t) (eval/knn.h)
 *
 * Each probe works on its own copies, so the caller's feature sets stay as they were and both
 * probes can run on the same sets. Nothing is printed: the outcome says what was measured.
 */
#ifndef SIMCLR_EVAL_PROBE_H
#define SIMCLR_EVAL_PROBE_H

#include <stddef.h>

#include "../nn/error.h"
#include "features.h"
#include "knn.h"
#include "logistic.h"
#include "report.h"

typedef struct probe_outcome {
    const char *probe;             /* "linear" or "knn" */
    classification_report report;  /* top-1, top-5, per class, confusion */
    size_t iterations;             /* L-BFGS iterations (linear) */
    int converged;                 /* L-BFGS met its tolerance (linear; 1 for knn) */
    double gradient_norm, loss;    /* where L-BFGS stopped (linear) */
    double seconds;                /* wall-clock time of the probe */
} probe_outcome;

int probe_linear(probe_outcome *outcome, const feature_set *train, const feature_set *test,
                 const logistic_fit_config *config, simclr_error *err);

int probe_knn(probe_outcome *outcome, const feature_set *train, const feature_set *test,
              const knn_config *config, simclr_error *err);

void probe_outcome_destroy(probe_outcome *outcome);

/* The outcome as text for people: a table line "features probe train test top-1 top-5" then
 * "  per class: <name> <accuracy> ..." (and, with confusion, the confusion matrix, rows true
 * classes), or with csv one CSV row "features,probe,train,test,top1,top5,class_0,...", where
 * "test" reads "again" when the data has no held-out split (data->held_out 0: the "test"
 * images are the training images again). header:
 * the table's (or CSV's) header line first; the classes are named as in `data`. Returns the
 * length (cut at size). */
size_t probe_outcome_format(char *out, size_t size, const char *features,
                            const probe_outcome *outcome, const dataset *data,
                            size_t train_count, int csv, int header, int confusion);

/* The same in a string made to fit (freed with simclr_free); NULL when out of memory. */
char *probe_outcome_text(const char *features, const probe_outcome *outcome,
                         const dataset *data, size_t train_count, int csv, int header,
                         int confusion, simclr_error *err);

#endif
