/*
 * eval/logistic.c — softmax cross-entropy and the L-BFGS fit of the linear probe; see
 * logistic.h.
 */
#include "logistic.h"

#include <math.h>
#include <string.h>

#include "../nn/gemm.h"
#include "../nn/gemm_internal.h" /* the packed operands: gemm_pack_a, gemm_prepacked */
#include "../nn/linear.h"
#include "../nn/maths.h"
#include "../nn/memory.h"
#include "../nn/parallel.h"
#include "../nn/tensor.h"

double softmax_cross_entropy_forward(float *probabilities, double *row_loss, const float *logits,
                                     const int *labels, size_t n, size_t c)
{
    double total = 0.0;
    long row;
    size_t i;
    PARALLEL_FOR()
    for (row = 0; row < (long)n; row++) {
        const float *s = logits + (size_t)row * c;
        float *p = probabilities + (size_t)row * c;
        double largest = s[0], sum = 0.0;
        size_t j;
        for (j = 1; j < c; j++)
            if (s[j] > largest)
                largest = s[j];
        for (j = 0; j < c; j++) {
            const double e = maths_exp((double)s[j] - largest);
            p[j] = (float)e;
            sum += e;
        }
        for (j = 0; j < c; j++)
            p[j] = (float)((double)p[j] / sum);
        /* −log p_{i,y_i} = log Σ_j exp(s_j − max) − (s_y − max) */
        row_loss[row] = maths_log(sum) - ((double)s[labels[row]] - largest);
    }
    for (i = 0; i < n; i++) /* in order: the same sum for any thread count */
        total += row_loss[i];
    return total / (double)n;
}

void softmax_cross_entropy_backward(float *grad_logits, const float *probabilities,
                                    const int *labels, size_t n, size_t c)
{
    const double scale = 1.0 / (double)n;
    size_t i, j;
    for (i = 0; i < n; i++)
        for (j = 0; j < c; j++)
            grad_logits[i * c + j] =
                (float)(((double)probabilities[i * c + j] - (j == (size_t)labels[i])) * scale);
}

logistic_fit_config logistic_fit_config_default(void)
{
    logistic_fit_config config;
    config.l2 = 1e-4;
    config.lbfgs = lbfgs_config_default();
    config.lbfgs.max_iterations = 5000;
    config.lbfgs.gradient_tolerance = 1e-4;
    return config;
}

/* Everything one evaluation of the objective needs, planned once by logistic_fit. */
typedef struct logistic_problem {
    const float *x;          /* (n, d) */
    const int *labels;       /* (n) */
    size_t n, d, c;
    double l2;
    float *weight, *bias;    /* (c, d), (c): the point as floats */
    float *logits;           /* (n, c) */
    float *probabilities;    /* (n, c) */
    double *row_loss;        /* (n) */
    float *grad_weight;      /* (c, d) */
    float *grad_bias;        /* (c) */
    float *x_transposed;     /* xᵀ (d, n) packed once as the GEMM's right operand */
    float *x_as_b;           /* x (n, d) packed once as the GEMM's right operand */
    float *packed_small;     /* W (c, d) or (∂L/∂s)ᵀ (c, n), packed per evaluation */
    float *logits_t;         /* (c, n) sᵀ */
} logistic_problem;

/* The objective of logistic.h at point = [W (c·d) | b (c)], gradient in the same layout.
 * The two products are linear_forward/linear_backward's (nn/linear.h), with x packed once for
 * the whole fit instead of at every evaluation, and the c classes (few) as the GEMM's rows:
 * sᵀ = W·xᵀ and ∂L/∂W = (∂L/∂s)ᵀ·x, so the register tile is not mostly padding. */
static double logistic_objective(const double *point, double *gradient, void *context)
{
    logistic_problem *problem = context;
    const size_t n = problem->n, d = problem->d, c = problem->c;
    double loss, penalty = 0.0;
    size_t i, k;
    for (i = 0; i < c * d; i++) {
        problem->weight[i] = (float)point[i];
        penalty += point[i] * point[i];
    }
    for (i = 0; i < c; i++)
        problem->bias[i] = (float)point[c * d + i];
    /* s = x·Wᵀ + b, computed as sᵀ = W·xᵀ */
    gemm_pack_a(problem->packed_small, GEMM_NORMAL, problem->weight, d, c, d);
    gemm_prepacked(c, n, d, 1.0f, problem->packed_small, problem->x_transposed, 0.0f,
                   problem->logits_t, n);
    for (i = 0; i < n; i++)
        for (k = 0; k < c; k++)
            problem->logits[i * c + k] = problem->logits_t[k * n + i] + problem->bias[k];
    loss = softmax_cross_entropy_forward(problem->probabilities, problem->row_loss,
                                         problem->logits, problem->labels, n, c);
    /* ∂L/∂s into logits (no longer needed); ∂L/∂W = (∂L/∂s)ᵀ·x, ∂L/∂b = Σ_i ∂L/∂s_i */
    softmax_cross_entropy_backward(problem->logits, problem->probabilities, problem->labels, n, c);
    gemm_pack_a(problem->packed_small, GEMM_TRANSPOSED, problem->logits, c, c, n);
    gemm_prepacked(c, d, n, 1.0f, problem->packed_small, problem->x_as_b, 0.0f,
                   problem->grad_weight, d);
    for (k = 0; k < c; k++) {
        double sum = 0.0;
        for (i = 0; i < n; i++)
            sum += problem->logits[i * c + k];
        gradient[c * d + k] = sum;
    }
    for (i = 0; i < c * d; i++)
        gradient[i] = (double)problem->grad_weight[i] + problem->l2 * point[i];
    return loss + 0.5 * problem->l2 * penalty;
}

int logistic_fit(logistic_model *model, lbfgs_result *result, const float *x, const int *labels,
                 size_t n, size_t d, size_t classes, const logistic_fit_config *config,
                 simclr_error *err)
{
    logistic_problem problem;
    size_t unknowns, lbfgs_doubles, nc, small_floats, i;
    double *point = NULL, *lbfgs_memory = NULL;
    int status = SIMCLR_FAILED;
    memset(model, 0, sizeof *model);
    memset(&problem, 0, sizeof problem);
    if (n == 0 || d == 0 || classes < 2)
        return simclr_fail(err, "linear probe: needs samples, features and at least two classes");
    for (i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= classes)
            return simclr_fail(err, "linear probe: label %d of sample %lu is outside [0, %lu)",
                               labels[i], (unsigned long)i, (unsigned long)classes);
    if (size_multiply_checked(classes, d, &unknowns) != SIMCLR_OK ||
        size_add_checked(unknowns, classes, &unknowns) != SIMCLR_OK ||
        size_multiply_checked(n, classes, &nc) != SIMCLR_OK ||
        /* x packed twice, each rounded up to whole register tiles */
        size_multiply_checked(n + GEMM_MR + GEMM_NR, d + GEMM_MR + GEMM_NR, &small_floats) !=
            SIMCLR_OK)
        return simclr_fail(err, "linear probe: the problem's size overflows size_t");
    if (lbfgs_workspace_doubles(unknowns, config->lbfgs.memory, &lbfgs_doubles, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    small_floats = gemm_packed_a_floats(classes, d);
    if (gemm_packed_a_floats(classes, n) > small_floats)
        small_floats = gemm_packed_a_floats(classes, n);
    model->classes = classes;
    model->dim = d;
    model->weight = simclr_calloc(classes * d, sizeof(float), "linear probe: weight", err);
    model->bias = simclr_calloc(classes, sizeof(float), "linear probe: bias", err);
    problem.x = x;
    problem.labels = labels;
    problem.n = n;
    problem.d = d;
    problem.c = classes;
    problem.l2 = config->l2;
    problem.weight = simclr_calloc(classes * d, sizeof(float), "linear probe: weight", err);
    problem.bias = simclr_calloc(classes, sizeof(float), "linear probe: bias", err);
    problem.logits = simclr_calloc(nc, sizeof(float), "linear probe: logits", err);
    problem.probabilities = simclr_calloc(nc, sizeof(float), "linear probe: probabilities", err);
    problem.row_loss = simclr_calloc(n, sizeof(double), "linear probe: losses", err);
    problem.grad_weight = simclr_calloc(classes * d, sizeof(float), "linear probe: gradient", err);
    problem.grad_bias = simclr_calloc(classes, sizeof(float), "linear probe: gradient", err);
    problem.x_transposed = simclr_calloc(gemm_packed_b_floats(n, d), sizeof(float),
                                         "linear probe: x", err);
    problem.logits_t = simclr_calloc(nc, sizeof(float), "linear probe: logits", err);
    problem.x_as_b = simclr_calloc(gemm_packed_b_floats(d, n), sizeof(float), "linear probe: x",
                                   err);
    problem.packed_small = simclr_calloc(small_floats, sizeof(float), "linear probe: packing", err);
    point = simclr_calloc(unknowns, sizeof(double), "linear probe: point", err);
    lbfgs_memory = simclr_calloc(lbfgs_doubles, sizeof(double), "linear probe: L-BFGS", err);
    if (model->weight == NULL || model->bias == NULL || problem.weight == NULL ||
        problem.bias == NULL || problem.logits == NULL || problem.probabilities == NULL || problem.row_loss == NULL ||
        problem.grad_weight == NULL || problem.grad_bias == NULL || problem.x_transposed == NULL ||
        problem.logits_t == NULL ||
        problem.x_as_b == NULL || problem.packed_small == NULL ||
        point == NULL || lbfgs_memory == NULL)
        goto done;
    gemm_pack_b(problem.x_transposed, GEMM_TRANSPOSED, x, d, n, d);
    gemm_pack_b(problem.x_as_b, GEMM_NORMAL, x, d, d, n);
    lbfgs_minimize(point, unknowns, logistic_objective, &problem, &config->lbfgs, lbfgs_memory,
                   result);
    for (i = 0; i < classes * d; i++)
        model->weight[i] = (float)point[i];
    for (i = 0; i < classes; i++)
        model->bias[i] = (float)point[classes * d + i];
    status = SIMCLR_OK;
done:
    simclr_free(problem.weight);
    simclr_free(problem.bias);
    simclr_free(problem.logits);
    simclr_free(problem.probabilities);
    simclr_free(problem.row_loss);
    simclr_free(problem.grad_weight);
    simclr_free(problem.grad_bias);
    simclr_free(problem.x_transposed);
    simclr_free(problem.logits_t);
    simclr_free(problem.x_as_b);
    simclr_free(problem.packed_small);
    simclr_free(point);
    simclr_free(lbfgs_memory);
    if (status != SIMCLR_OK)
        logistic_model_destroy(model);
    return status;
}

int logistic_scores(float *scores, const logistic_model *model, const float *x, size_t m,
                    simclr_error *err)
{
    size_t floats;
    float *workspace;
    if (linear_workspace_floats(m, model->dim, model->classes, &floats, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    workspace = simclr_calloc(floats, sizeof(float), "linear probe: workspace", err);
    if (workspace == NULL)
        return SIMCLR_FAILED;
    linear_forward(scores, x, model->weight, model->bias, m, model->dim, model->classes,
                   workspace);
    simclr_free(workspace);
    return SIMCLR_OK;
}

void logistic_model_destroy(logistic_model *model)
{
    simclr_free(model->weight);
    simclr_free(model->bias);
    memset(model, 0, sizeof *model);
}
