/*
 * eval/lbfgs.h — limited-memory BFGS (Nocedal & Wright, "Numerical Optimization", 2nd ed.,
 * Algorithm 7.4 "two-loop recursion" and Algorithm 7.5), minimising a smooth function of n
 * doubles. The linear probe uses it to fit multinomial logistic regression to convergence
 * (the stopping rule below), as scikit-learn's LogisticRegression(solver="lbfgs") does.
 *
 *   direction   d = −H·g from the last m pairs s_i = x_{i+1} − x_i, y_i = g_{i+1} − g_i
 *               (initial H0 = γI, γ = sᵀy / yᵀy of the newest pair; a pair is kept only when
 *               sᵀy > 1e-10·‖s‖‖y‖, so H stays positive definite)
 *   step        backtracking line search from α = 1 (first iteration: α = 1/‖g‖∞ capped at 1),
 *               halving until Armijo's condition f(x + αd) <= f(x) + 1e-4·α·gᵀd holds; a
 *               direction that is not a descent direction is replaced by −g
 *   stop        ‖g‖∞ <= gradient_tolerance·max(1, |f|)      (converged)
 *               |f_old − f_new| <= value_tolerance·max(1, |f|)  (converged: no more progress)
 *               max_iterations reached or the line search fails (not converged)
 *
 * The optimiser allocates nothing: the caller passes lbfgs_workspace_doubles(n, m) doubles.
 * Everything is sequential arithmetic in double; the objective may use threads inside, and the
 * result is as deterministic as the objective.
 */
#ifndef SIMCLR_EVAL_LBFGS_H
#define SIMCLR_EVAL_LBFGS_H

#include <stddef.h>

#include "../nn/error.h"

/* f(x), with ∇f(x) written to gradient (n doubles). */
typedef double (*lbfgs_objective)(const double *x, double *gradient, void *context);

typedef struct lbfgs_config {
    size_t memory;             /* m, pairs kept (10) */
    size_t max_iterations;     /* 1000 */
    double gradient_tolerance; /* 1e-6 */
    double value_tolerance;    /* 1e-12 */
} lbfgs_config;

typedef struct lbfgs_result {
    size_t iterations, evaluations;
    double value;              /* f at the returned x */
    double gradient_norm;      /* ‖g‖∞ there */
    int converged;             /* 1 when a tolerance was met */
} lbfgs_result;

lbfgs_config lbfgs_config_default(void);

/* Doubles of workspace for n unknowns and m pairs: (2m + 4)·n + m. */
int lbfgs_workspace_doubles(size_t n, size_t memory, size_t *doubles, simclr_error *err);

/* Minimises f from x (updated in place to the best point found). */
void lbfgs_minimize(double *x, /* (n) start, then the minimiser */
                    size_t n, lbfgs_objective f, void *context, const lbfgs_config *config,
                    double *workspace, /* lbfgs_workspace_doubles(n, m) */
                    lbfgs_result *result);

#endif
