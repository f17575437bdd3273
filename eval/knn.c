/*
 * eval/knn.c — weighted kNN voting; see knn.h.
 */
#include "knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/gemm.h"
#include "../nn/maths.h"
#include "../nn/memory.h"
#include "../nn/parallel.h"
#include "../nn/tensor.h"

#define KNN_QUERY_BLOCK 256

knn_config knn_config_default(void)
{
    knn_config config;
    config.k = 200;
    config.temperature = 0.1;
    return config;
}

void knn_normalize_rows(float *x, size_t n, size_t d)
{
    size_t i, j;
    for (i = 0; i < n; i++) {
        double sum = 0.0, norm;
        for (j = 0; j < d; j++)
            sum += (double)x[i * d + j] * x[i * d + j];
        norm = sqrt(sum);
        if (norm < 1e-12)
            norm = 1e-12;
        for (j = 0; j < d; j++)
            x[i * d + j] = (float)(x[i * d + j] / norm);
    }
}

/* Whether a training label lies outside [0, classes) (and then the error says which). */
static int labels_outside(const int *labels, size_t n, size_t classes, simclr_error *err)
{
    size_t j;
    for (j = 0; j < n; j++)
        if (labels[j] < 0 || (size_t)labels[j] >= classes) {
            simclr_fail(err, "knn: label %d of training row %lu is outside [0, %lu)", labels[j],
                        (unsigned long)j, (unsigned long)classes);
            return 1;
        }
    return 0;
}

/* The settings a query needs: training rows, 1 <= k <= n (more neighbours than rows is an
 * error, as torch.topk refuses k > n, not a silent clamp) and a positive temperature. */
static int knn_check_config(size_t n, const knn_config *config, simclr_error *err)
{
    if (n == 0 || config->k == 0 || !(config->temperature > 0.0))
        return simclr_fail(err, "knn: needs training rows, k >= 1 and a temperature > 0");
    if (config->k > n)
        return simclr_fail(err, "k = %lu is more than the %lu training images; "
                                "use --k %lu or fewer",
                           (unsigned long)config->k, (unsigned long)n, (unsigned long)n);
    return SIMCLR_OK;
}

/* A neighbour candidate; "a before b" means a is the nearer (larger similarity, then lower index). */
typedef struct neighbour {
    float similarity;
    size_t index;
} neighbour;

static int nearer(neighbour a, neighbour b)
{
    return a.similarity > b.similarity || (a.similarity == b.similarity && a.index < b.index);
}

/* heap[0] is the farthest of the kept neighbours; sift the root down. */
static void heap_sift_down(neighbour *heap, size_t size, size_t at)
{
    for (;;) {
        size_t left = 2 * at + 1, right = left + 1, farthest = at;
        neighbour swap;
        if (left < size && nearer(heap[farthest], heap[left]))
            farthest = left;
        if (right < size && nearer(heap[farthest], heap[right]))
            farthest = right;
        if (farthest == at)
            return;
        swap = heap[at];
        heap[at] = heap[farthest];
        heap[farthest] = swap;
        at = farthest;
    }
}

static void heap_sift_up(neighbour *heap, size_t at)
{
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        neighbour swap;
        if (!nearer(heap[parent], heap[at]))
            return;
        swap = heap[at];
        heap[at] = heap[parent];
        heap[parent] = swap;
        at = parent;
    }
}

/* Votes of one query's neighbours, summed in index order so the order of the heap never
 * matters: score_c = Σ exp(sim/t). */
static int compare_by_index(const void *a, const void *b)
{
    const neighbour *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

int knn_scores(float *scores, const float *queries, size_t m, const float *train,
               const int *train_labels, size_t n, size_t d, size_t classes,
               const knn_config *config, simclr_error *err)
{
    const size_t k = config->k;
    const size_t block = m < KNN_QUERY_BLOCK ? m : KNN_QUERY_BLOCK;
    const int slots = parallel_thread_count();
    size_t similarity_floats, gemm_floats, start;
    float *similarities = NULL, *gemm_workspace = NULL;
    neighbour *heaps = NULL;
    if (knn_check_config(n, config, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (labels_outside(train_labels, n, classes, err))
        return SIMCLR_FAILED;
    if (m == 0)
        return SIMCLR_OK;
    if (size_multiply_checked(block, n, &similarity_floats) != SIMCLR_OK ||
        gemm_workspace_floats(block, n, d, &gemm_floats, err) != SIMCLR_OK)
        return simclr_fail(err, "knn: %lu training rows are too many for this machine",
                           (unsigned long)n);
    similarities = simclr_calloc(similarity_floats, sizeof(float), "knn: similarities", err);
    gemm_workspace = simclr_calloc(gemm_floats, sizeof(float), "knn: workspace", err);
    heaps = simclr_calloc((size_t)slots * k, sizeof(neighbour), "knn: neighbours", err);
    if (similarities == NULL || gemm_workspace == NULL || heaps == NULL) {
        simclr_free(similarities);
        simclr_free(gemm_workspace);
        simclr_free(heaps);
        return SIMCLR_FAILED;
    }
    for (start = 0; start < m; start += block) {
        const size_t rows = m - start < block ? m - start : block;
        long row;
        /* sim = queries · trainᵀ for this block */
        gemm(GEMM_NORMAL, GEMM_TRANSPOSED, rows, n, d, 1.0f, queries + start * d, d, train, d,
             0.0f, similarities, n, gemm_workspace);
        PARALLEL_FOR()
        for (row = 0; row < (long)rows; row++) {
            neighbour *heap = heaps + (size_t)parallel_thread_index() * k;
            const float *sim = similarities + (size_t)row * n;
            float *score = scores + (start + (size_t)row) * classes;
            size_t size = 0, j, c;
            int unordered = 0; /* a NaN similarity: the query or a training row is not finite */
            for (j = 0; j < n; j++) {
                neighbour candidate;
                candidate.similarity = sim[j];
                unordered |= sim[j] != sim[j];
                candidate.index = j;
                if (size < k) {
                    heap[size] = candidate;
                    heap_sift_up(heap, size++);
                } else if (nearer(candidate, heap[0])) {
                    heap[0] = candidate;
                    heap_sift_down(heap, size, 0);
                }
            }
            qsort(heap, size, sizeof *heap, compare_by_index);
            for (c = 0; c < classes; c++) {
                double sum = 0.0;
                for (j = 0; j < size; j++)
                    if ((size_t)train_labels[heap[j].index] == c)
                        sum += maths_exp((double)heap[j].similarity / config->temperature);
                score[c] = unordered ? NAN : (float)sum;
            }
        }
    }
    simclr_free(similarities);
    simclr_free(gemm_workspace);
    simclr_free(heaps);
    return SIMCLR_OK;
}

/* Sort helper of the naive path: neighbours nearer first. */
static int compare_nearer_first(const void *a, const void *b)
{
    const neighbour *x = a, *y = b;
    return nearer(*x, *y) ? -1 : nearer(*y, *x) ? 1 : 0;
}

int knn_scores_naive(double *scores, const float *queries, size_t m, const float *train,
                     const int *train_labels, size_t n, size_t d, size_t classes,
                     const knn_config *config, simclr_error *err)
{
    const size_t k = config->k;
    neighbour *all;
    size_t i, j, p;
    if (knn_check_config(n, config, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (labels_outside(train_labels, n, classes, err))
        return SIMCLR_FAILED;
    all = simclr_calloc(n, sizeof *all, "knn: neighbours", err);
    if (all == NULL)
        return SIMCLR_FAILED;
    for (i = 0; i < m; i++) {
        int unordered = 0;
        for (j = 0; j < n; j++) {
            double sum = 0.0;
            for (p = 0; p < d; p++)
                sum += (double)queries[i * d + p] * train[j * d + p];
            all[j].similarity = (float)sum;
            all[j].index = j;
            unordered |= all[j].similarity != all[j].similarity;
        }
        for (p = 0; p < classes; p++)
            scores[i * classes + p] = unordered ? (double)NAN : 0.0;
        if (unordered)
            continue; /* no order to sort by */
        qsort(all, n, sizeof *all, compare_nearer_first);
        for (j = 0; j < k; j++)
            scores[i * classes + (size_t)train_labels[all[j].index]] +=
                maths_exp((double)all[j].similarity / config->temperature);
    }
    simclr_free(all);
    return SIMCLR_OK;
}
