/*
 * eval/knn.h — the weighted k-nearest-neighbour classifier of LightlySSL's benchmark protocol
 * (lightly.utils.benchmarking.knn_predict; Wu et al. 2018, "Unsupervised Feature Learning via
 * Non-Parametric Instance Discrimination", Eq. 7): the monitor LightlySSL's benchmarks report.
 *
 * Shape legend: n training rows, m query rows, d features, c classes.
 *     features are L2-normalised (x / max(‖x‖, 1e-12), as torch.nn.functional.normalize);
 *     sim_ij = ⟨q_i, t_j⟩, the cosine similarity of query i to training row j;
 *     N_k(i)  = the k training rows of largest sim_ij (ties: the lower row index first);
 *     score_ic = Σ_{j ∈ N_k(i), label_j = c} exp(sim_ij / t)
 * and the prediction ranks classes by score (ties: the lower class first). Defaults k = 200,
 * t = 0.1. k must lie in [1, n]: a k beyond the training set is an error naming both numbers
 * (torch.topk refuses it too), never silently clamped, so a reported kNN accuracy always used
 * the k it says. Similarities come from the GEMM (nn/gemm.h) in blocks of queries, each query's
 * neighbours from a bounded min-heap; queries are independent, so the scores are the same bits
 * for any thread count. A query with any NaN similarity (a non-finite feature on either side)
 * has no nearest neighbours: all its scores are NaN, which eval/report.h counts as a miss.
 */
#ifndef SIMCLR_EVAL_KNN_H
#define SIMCLR_EVAL_KNN_H

#include <stddef.h>

#include "../nn/error.h"

typedef struct knn_config {
    size_t k;            /* neighbours, 1 <= k <= n */
    double temperature;  /* t */
} knn_config;

knn_config knn_config_default(void);

/* Rows of x (n, d) divided by max(‖row‖, 1e-12), in place. */
void knn_normalize_rows(float *x, size_t n, size_t d);

/* scores (m, c) as above for queries against the training set; both already normalised. */
int knn_scores(float *scores,            /* (m, c) */
               const float *queries,     /* (m, d) */
               size_t m,
               const float *train,       /* (n, d) */
               const int *train_labels,  /* (n) in [0, c) */
               size_t n, size_t d, size_t classes, const knn_config *config,
               simclr_error *err);

/* The readable reference: every similarity in double, a full sort per query. */
int knn_scores_naive(double *scores,     /* (m, c) */
                     const float *queries, size_t m, const float *train,
                     const int *train_labels, size_t n, size_t d, size_t classes,
                     const knn_config *config, simclr_error *err);

#endif
