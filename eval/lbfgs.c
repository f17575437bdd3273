/*
 * eval/lbfgs.c — L-BFGS with a backtracking Armijo line search; see lbfgs.h.
 */
#include "lbfgs.h"

#include <math.h>
#include <string.h>

#include "../nn/tensor.h"

lbfgs_config lbfgs_config_default(void)
{
    lbfgs_config config;
    config.memory = 10;
    config.max_iterations = 1000;
    config.gradient_tolerance = 1e-6;
    config.value_tolerance = 1e-12;
    return config;
}

int lbfgs_workspace_doubles(size_t n, size_t memory, size_t *doubles, simclr_error *err)
{
    size_t vectors, total;
    if (memory == 0)
        return simclr_fail(err, "lbfgs: the memory must keep at least one pair");
    if (size_multiply_checked(memory, 2, &vectors) != SIMCLR_OK ||
        size_add_checked(vectors, 4, &vectors) != SIMCLR_OK ||
        size_multiply_checked(vectors, n, &total) != SIMCLR_OK ||
        size_add_checked(total, memory, &total) != SIMCLR_OK)
        return simclr_fail(err, "lbfgs: the workspace for %lu unknowns overflows size_t",
                           (unsigned long)n);
    *doubles = total;
    return SIMCLR_OK;
}

static double dot(const double *a, const double *b, size_t n)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

static double max_abs(const double *a, size_t n)
{
    double largest = 0.0;
    size_t i;
    for (i = 0; i < n; i++)
        if (fabs(a[i]) > largest)
            largest = fabs(a[i]);
    return largest;
}

void lbfgs_minimize(double *x, size_t n, lbfgs_objective f, void *context,
                    const lbfgs_config *config, double *workspace, lbfgs_result *result)
{
    const size_t m = config->memory;
    double *s = workspace;           /* (m, n) ring of steps */
    double *y = s + m * n;           /* (m, n) ring of gradient changes */
    double *g = y + m * n;           /* (n) gradient at x */
    double *d = g + n;               /* (n) search direction */
    double *x_new = d + n;           /* (n) trial point */
    double *g_new = x_new + n;       /* (n) gradient there */
    double *alpha = g_new + n;       /* (m) two-loop coefficients */
    size_t stored = 0, newest = 0, iteration, i, j;
    double value = f(x, g, context);
    memset(result, 0, sizeof *result);
    result->evaluations = 1;

    for (iteration = 0; iteration < config->max_iterations; iteration++) {
        double slope, step, value_new = value, gamma = 1.0;
        int accepted = 0;
        if (max_abs(g, n) <= config->gradient_tolerance * fmax(1.0, fabs(value))) {
            result->converged = 1;
            break;
        }
        /* two-loop recursion: d = −H·g */
        for (i = 0; i < n; i++)
            d[i] = -g[i];
        for (j = 0; j < stored; j++) {
            size_t k = (newest + m - j) % m;
            alpha[k] = dot(s + k * n, d, n) / dot(y + k * n, s + k * n, n);
            for (i = 0; i < n; i++)
                d[i] -= alpha[k] * y[k * n + i];
        }
        if (stored > 0) {
            const double *sk = s + newest * n, *yk = y + newest * n;
            gamma = dot(sk, yk, n) / dot(yk, yk, n);
        }
        for (i = 0; i < n; i++)
            d[i] *= gamma;
        for (j = stored; j-- > 0;) {
            size_t k = (newest + m - j) % m;
            double beta = dot(y + k * n, d, n) / dot(y + k * n, s + k * n, n);
            for (i = 0; i < n; i++)
                d[i] += s[k * n + i] * (alpha[k] - beta);
        }
        slope = dot(g, d, n);
        if (!(slope < 0.0)) { /* not a descent direction (or NaN): fall back to −g */
            for (i = 0; i < n; i++)
                d[i] = -g[i];
            slope = -dot(g, g, n);
            stored = 0;
        }
        step = stored == 0 ? fmin(1.0, 1.0 / max_abs(g, n)) : 1.0;
        /* backtracking until Armijo's sufficient decrease */
        for (j = 0; j < 60; j++) {
            for (i = 0; i < n; i++)
                x_new[i] = x[i] + step * d[i];
            value_new = f(x_new, g_new, context);
            result->evaluations++;
            if (isfinite(value_new) && value_new <= value + 1e-4 * step * slope) {
                accepted = 1;
                break;
            }
            step *= 0.5;
        }
        if (!accepted)
            break;
        /* the new pair (s, y), kept only when the curvature condition holds */
        {
            size_t slot = stored == 0 ? 0 : (newest + 1) % m;
            double *sk = s + slot * n, *yk = y + slot * n, sy;
            for (i = 0; i < n; i++) {
                sk[i] = x_new[i] - x[i];
                yk[i] = g_new[i] - g[i];
            }
            sy = dot(sk, yk, n);
            if (sy > 1e-10 * sqrt(dot(sk, sk, n)) * sqrt(dot(yk, yk, n))) {
                newest = slot;
                if (stored < m)
                    stored++;
            } else if (stored == m) {
                stored--; /* the slot held the oldest pair, now overwritten */
            }
        }
        memcpy(x, x_new, n * sizeof(double));
        memcpy(g, g_new, n * sizeof(double));
        result->iterations = iteration + 1;
        if (fabs(value - value_new) <= config->value_tolerance * fmax(1.0, fabs(value_new))) {
            value = value_new;
            result->converged = 1;
            break;
        }
        value = value_new;
    }
    result->value = value;
    result->gradient_norm = max_abs(g, n);
}
