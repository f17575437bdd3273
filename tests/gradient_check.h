/*
 * tests/gradient_check.h — the backward pass against central differences computed in double.
 *
 * For a scalar loss L(v) evaluated in double by reference code, each checked coordinate gets
 *     numeric_i = (L(v + h e_i) − L(v − h e_i)) / 2h,   h = 1e-6 · max(1, |v_i|)
 * (truncation error ~h² ≈ 1e-12, rounding ~1e-16/h ≈ 1e-10: far below the tolerances used).
 * The analytic float gradient must satisfy
 *     max_i |analytic_i − numeric_i| <= tolerance · max(max_i |numeric_i|, 1e-3),
 * a normwise relative test (with an absolute floor for gradients that are ~0). When there are
 * more than `limit` coordinates, every (count/limit)-th one is checked.
 */
#ifndef SIMCLR_TEST_GRADIENT_CHECK_H
#define SIMCLR_TEST_GRADIENT_CHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>

typedef double (*reference_loss_fn)(void *context);

static inline void check_gradient(const char *what, double *v, size_t count,
                                  const float *analytic, reference_loss_fn loss, void *context,
                                  double tolerance, size_t limit)
{
    const size_t step = limit > 0 && count > limit ? count / limit : 1;
    double worst = 0.0, largest = 0.0;
    size_t i, worst_at = 0;
    for (i = 0; i < count; i += step) {
        const double saved = v[i], h = 1e-6 * fmax(1.0, fabs(saved));
        double plus, minus, numeric;
        v[i] = saved + h;
        plus = loss(context);
        v[i] = saved - h;
        minus = loss(context);
        v[i] = saved;
        numeric = (plus - minus) / (2.0 * h);
        if (fabs(numeric) > largest)
            largest = fabs(numeric);
        if (fabs(numeric - analytic[i]) > worst) {
            worst = fabs(numeric - analytic[i]);
            worst_at = i;
        }
    }
    cr_expect(worst <= tolerance * fmax(largest, 1e-3),
              "%s: gradient off by %.3g at %zu (largest component %.3g, tolerance %.1g)", what,
              worst, worst_at, largest, tolerance);
}

/* The normwise relative difference of a float result from a double reference. */
static inline double relative_difference(const float *got, const double *want, size_t count)
{
    double worst = 0.0, largest = 0.0;
    size_t i;
    for (i = 0; i < count; i++) {
        if (fabs(want[i]) > largest)
            largest = fabs(want[i]);
        if (fabs(got[i] - want[i]) > worst)
            worst = fabs(got[i] - want[i]);
    }
    return worst / fmax(largest, 1e-30);
}

#endif
