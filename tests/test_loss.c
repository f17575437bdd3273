/*
 * tests/test_loss.c — the contrastive losses (loss/contrastive.h, loss/memory_bank.h).
 *
 * References used here, all independent of the code under test:
 *  - closed forms of NT-Xent: all rows equal → log(2N−1); N = 1 → 0;
 *  - a 2-pair, 2-dimensional example worked by hand (loss and gradient);
 *  - a direct evaluation of each formula in double (reference_loss below, and
 *    reference_ntxent_anchors for NT-Xent over a subset of the anchors), and its gradient by
 *    central differences in double.
 * Tolerances: loss within 1e-6 relative of the double evaluation; gradient within 1e-5 of the
 * central differences, measured relative to the gradient's largest component (normwise), which
 * is what float rounding of the backward pass perturbs (with a floor of 1e-8 absolute where
 * the gradient is itself ~0, as for N = 1, well above central-difference noise of ~1e-10).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradient_check.h"
#include "test_helpers.h"

/* ---- the double-precision direct evaluation ------------------------------------------------ */

enum { REFERENCE_NTXENT, REFERENCE_NT_LOGISTIC, REFERENCE_MARGIN_TRIPLET };

static double reference_log_sigmoid(double x)
{
    return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x));
}

/* z: (2N, d) in double, rows 0..N-1 view 0. Straight from the formulas of loss/contrastive.h. */
static double reference_loss(int kind, const double *z, size_t N, size_t d, double temperature,
                             double margin)
{
    const size_t R = 2 * N;
    double *u = malloc(R * d * sizeof(double)), total = 0.0;
    size_t i, k, t;
    for (i = 0; i < R; i++) {
        double norm = 0.0;
        for (t = 0; t < d; t++)
            norm += z[i * d + t] * z[i * d + t];
        norm = sqrt(norm);
        if (norm < 1e-12)
            norm = 1e-12;
        for (t = 0; t < d; t++)
            u[i * d + t] = z[i * d + t] / norm;
    }
    for (i = 0; i < R; i++) {
        const size_t p = i < N ? i + N : i - N;
        double cosine_p = 0.0, row = 0.0;
        for (t = 0; t < d; t++)
            cosine_p += u[i * d + t] * u[p * d + t];
        if (kind == REFERENCE_NTXENT) {
            double sum = 0.0;
            for (k = 0; k < R; k++) {
                double c = 0.0;
                if (k == i)
                    continue;
                for (t = 0; t < d; t++)
                    c += u[i * d + t] * u[k * d + t];
                sum += exp(c / temperature);
            }
            row = -cosine_p / temperature + log(sum);
        } else {
            double negatives = 0.0;
            for (k = 0; k < R; k++) {
                double c = 0.0;
                if (k == i || k == p)
                    continue;
                for (t = 0; t < d; t++)
                    c += u[i * d + t] * u[k * d + t];
                if (kind == REFERENCE_NT_LOGISTIC)
                    negatives += -reference_log_sigmoid(-c / temperature);
                else
                    negatives += fmax(0.0, c - cosine_p + margin);
            }
            negatives = R > 2 ? negatives / (double)(R - 2) : 0.0;
            row = negatives +
                  (kind == REFERENCE_NT_LOGISTIC ? -reference_log_sigmoid(cosine_p / temperature)
                                                 : 0.0);
        }
        total += row;
    }
    free(u);
    return total / (double)R;
}

/* ---- running the code under test -------------------------------------------------------- */

typedef struct loss_run {
    float loss;
    float *dz; /* (2N, d): dz0 then dz1 */
} loss_run;

static loss_run run_loss(const contrastive_loss *config, const float *z, size_t N, size_t d)
{
    size_t floats;
    float *memory;
    contrastive_cache cache;
    loss_run run;
    cr_assert_eq(contrastive_cache_floats(N, d, &floats, NULL), SIMCLR_OK);
    memory = malloc(floats * sizeof(float));
    run.dz = malloc(2 * N * d * sizeof(float));
    cr_assert(memory && run.dz);
    contrastive_cache_bind(&cache, memory, N, d);
    run.loss = contrastive_loss_forward(&cache, z, z + N * d, config, N, d);
    contrastive_loss_backward(run.dz, run.dz + N * d, &cache, config, N, d);
    free(memory);
    return run;
}

static contrastive_loss make_loss(contrastive_loss_kind kind, float temperature, float margin)
{
    contrastive_loss loss = contrastive_loss_default();
    loss.kind = kind;
    loss.temperature = temperature;
    loss.margin = margin;
    return loss;
}

/* Checks value and gradient of `kind` on z against the double reference; `checked` coordinates
 * of the gradient (all when 0) are compared with central differences (h = 1e-6·max(1,|z|)). */
static void check_against_reference(contrastive_loss_kind kind, const float *z, size_t N,
                                    size_t d, float temperature, float margin, size_t checked)
{
    const size_t count = 2 * N * d;
    const contrastive_loss config = make_loss(kind, temperature, margin);
    const int reference_kind = kind == LOSS_NTXENT         ? REFERENCE_NTXENT
                               : kind == LOSS_NT_LOGISTIC ? REFERENCE_NT_LOGISTIC
                                                          : REFERENCE_MARGIN_TRIPLET;
    double *zd = malloc(count * sizeof(double)), exact, worst = 0.0, largest = 0.0;
    double *numeric = calloc(count, sizeof(double));
    unsigned char *selected = calloc(count, 1);
    loss_run run = run_loss(&config, z, N, d);
    rng pick;
    size_t i, n;
    cr_assert(zd && numeric && selected);
    for (i = 0; i < count; i++)
        zd[i] = z[i];
    exact = reference_loss(reference_kind, zd, N, d, temperature, margin);
    cr_expect(fabs(run.loss - exact) <= 1e-6 * fmax(fabs(exact), 1e-6),
              "%s N=%zu d=%zu: loss %.9g, double evaluation %.9g", contrastive_loss_name(kind), N,
              d, run.loss, exact);

    rng_stream(&pick, 77, RNG_DOMAIN_DATA, N, d, (uint64_t)kind);
    for (n = 0; n < (checked == 0 || checked > count ? count : checked); n++)
        selected[checked == 0 || checked > count ? n : (size_t)rng_randint(&pick, 0, (int64_t)count)] = 1;
    for (i = 0; i < count; i++) {
        double h, plus, minus;
        if (!selected[i])
            continue;
        h = 1e-6 * fmax(1.0, fabs(zd[i]));
        zd[i] = z[i] + h;
        plus = reference_loss(reference_kind, zd, N, d, temperature, margin);
        zd[i] = z[i] - h;
        minus = reference_loss(reference_kind, zd, N, d, temperature, margin);
        zd[i] = z[i];
        numeric[i] = (plus - minus) / (2 * h);
        if (fabs(numeric[i]) > largest)
            largest = fabs(numeric[i]);
    }
    for (i = 0; i < count; i++)
        if (selected[i] && fabs(run.dz[i] - numeric[i]) > worst)
            worst = fabs(run.dz[i] - numeric[i]);
    cr_expect(worst <= 1e-5 * fmax(largest, 1e-3),
              "%s N=%zu d=%zu: gradient off by %.3g (largest component %.3g)",
              contrastive_loss_name(kind), N, d, worst, largest);
    free(zd), free(numeric), free(selected), free(run.dz);
}

static float *random_rows(size_t N, size_t d, unsigned long tag)
{
    float *z = malloc(2 * N * d * sizeof(float));
    cr_assert_not_null(z);
    test_fill_uniform(z, 2 * N * d, -1.0f, 1.0f, tag);
    return z;
}

/* ---- NT-Xent ---------------------------------------------------------------------------- */

/* All 2N rows equal: every similarity is 1/τ, so ℓ_i = −1/τ + log((2N−1) e^{1/τ}) = log(2N−1). */
Test(ntxent, all_rows_equal_gives_log_2N_minus_1)
{
    const size_t Ns[3] = {2, 4, 32}, d = 8;
    int n;
    for (n = 0; n < 3; n++) {
        const size_t N = Ns[n];
        float *z = malloc(2 * N * d * sizeof(float));
        contrastive_loss config = make_loss(LOSS_NTXENT, 0.5f, 0.5f);
        loss_run run;
        size_t i;
        for (i = 0; i < 2 * N * d; i++)
            z[i] = (float)(i % d) - 2.5f;
        run = run_loss(&config, z, N, d);
        cr_expect(fabs(run.loss - log(2.0 * N - 1.0)) <= 1e-6 * log(2.0 * N - 1.0),
                  "N=%zu: %.9g vs log(2N-1) = %.9g", N, run.loss, log(2.0 * N - 1.0));
        free(z), free(run.dz);
    }
}

/* N = 1: the positive is the only other row, ℓ = −s + log e^s = 0 and nothing moves. */
Test(ntxent, one_pair_gives_zero)
{
    float *z = random_rows(1, 16, 1);
    contrastive_loss config = make_loss(LOSS_NTXENT, 0.1f, 0.5f);
    loss_run run = run_loss(&config, z, 1, 16);
    size_t i;
    cr_expect_eq(run.loss, 0.0f);
    for (i = 0; i < 32; i++)
        cr_expect(fabs(run.dz[i]) < 1e-7f, "dz[%zu] = %g", i, run.dz[i]);
    free(z), free(run.dz);
}

/* The worked example: z0 = z1 = [[1,0],[0,1]], τ = 0.5. For every anchor the positive has
 * s = 2 and the two negatives s = 0, so L = log(2 + e²) − 2; with a = 1/(2(2+e²)) the
 * gradient with respect to the similarity matrix is a on negatives and −2a on the positive,
 * and through the normalisation dz0 = dz1 = [[0, c], [c, 0]] with c = 2/(2+e²). */
Test(ntxent, hand_computed_two_pairs)
{
    const float z[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    const double e2 = exp(2.0), c = 2.0 / (2.0 + e2);
    const double expected_dz[8] = {0, c, c, 0, 0, c, c, 0};
    contrastive_loss config = make_loss(LOSS_NTXENT, 0.5f, 0.5f);
    loss_run run = run_loss(&config, z, 2, 2);
    int i;
    cr_expect(fabs(run.loss - (log(2.0 + e2) - 2.0)) < 1e-7, "loss %.9g, by hand %.9g", run.loss,
              log(2.0 + e2) - 2.0);
    for (i = 0; i < 8; i++)
        cr_expect(fabs(run.dz[i] - expected_dz[i]) < 1e-7, "dz[%d] = %.9g, by hand %.9g", i,
                  run.dz[i], expected_dz[i]);
    free(run.dz);
}

/* Swapping the views relabels the rows but changes nothing else: same loss, swapped grads. */
Test(ntxent, symmetric_in_the_two_views)
{
    const size_t N = 5, d = 7;
    float *z = random_rows(N, d, 2), *swapped = malloc(2 * N * d * sizeof(float));
    contrastive_loss config = make_loss(LOSS_NTXENT, 0.5f, 0.5f);
    loss_run a, b;
    size_t i;
    memcpy(swapped, z + N * d, N * d * sizeof(float));
    memcpy(swapped + N * d, z, N * d * sizeof(float));
    a = run_loss(&config, z, N, d);
    b = run_loss(&config, swapped, N, d);
    cr_expect(fabs(a.loss - b.loss) <= 1e-6 * fabs(a.loss));
    for (i = 0; i < N * d; i++) {
        cr_expect(fabs(a.dz[i] - b.dz[N * d + i]) < 1e-7);
        cr_expect(fabs(a.dz[N * d + i] - b.dz[i]) < 1e-7);
    }
    free(z), free(swapped), free(a.dz), free(b.dz);
}

/* Scaling a row by λ > 0 leaves u, hence the loss, unchanged; that row's gradient scales by 1/λ
 * (∂L/∂z = (g − u(u·g))/‖z‖). */
Test(ntxent, invariant_to_positive_row_scaling)
{
    const size_t N = 4, d = 6, row = 5;
    const float lambda = 7.25f;
    float *z = random_rows(N, d, 3), *scaled = malloc(2 * N * d * sizeof(float));
    contrastive_loss config = make_loss(LOSS_NTXENT, 0.5f, 0.5f);
    loss_run a, b;
    size_t t;
    memcpy(scaled, z, 2 * N * d * sizeof(float));
    for (t = 0; t < d; t++)
        scaled[row * d + t] *= lambda;
    a = run_loss(&config, z, N, d);
    b = run_loss(&config, scaled, N, d);
    cr_expect(fabs(a.loss - b.loss) <= 1e-6 * fabs(a.loss), "%.9g vs %.9g", a.loss, b.loss);
    for (t = 0; t < d; t++)
        cr_expect(fabs(b.dz[row * d + t] * lambda - a.dz[row * d + t]) <= 1e-6,
                  "component %zu", t);
    free(z), free(scaled), free(a.dz), free(b.dz);
}

/* Random inputs against the double evaluation of Eq. 1 and its central differences:
 * N = 1, 3, 64 and d = 2, 128 (for N = 64, d = 128, 300 sampled gradient coordinates). */
Test(ntxent, matches_double_evaluation_and_central_differences)
{
    const size_t Ns[3] = {1, 3, 64}, ds[2] = {2, 128};
    int n, m;
    for (n = 0; n < 3; n++)
        for (m = 0; m < 2; m++) {
            float *z = random_rows(Ns[n], ds[m], 10 + (unsigned long)(n * 2 + m));
            check_against_reference(LOSS_NTXENT, z, Ns[n], ds[m], 0.5f, 0.5f,
                                    Ns[n] * ds[m] > 1000 ? 300 : 0);
            free(z);
        }
}

Test(ntxent, low_temperature_matches_reference)
{
    float *z = random_rows(8, 16, 20);
    check_against_reference(LOSS_NTXENT, z, 8, 16, 0.07f, 0.5f, 0);
    free(z);
}

/* τ = 0.05, d = 128, rows of norm 1e6: similarities up to 20 but no exp overflow anywhere. */
Test(ntxent, stable_for_small_temperature_and_huge_rows)
{
    const size_t N = 16, d = 128;
    float *z = random_rows(N, d, 21);
    contrastive_loss config = make_loss(LOSS_NTXENT, 0.05f, 0.5f);
    loss_run run;
    size_t i, t;
    for (i = 0; i < 2 * N; i++) {
        double norm = 0.0;
        for (t = 0; t < d; t++)
            norm += (double)z[i * d + t] * z[i * d + t];
        for (t = 0; t < d; t++)
            z[i * d + t] = (float)(z[i * d + t] * 1e6 / sqrt(norm));
    }
    run = run_loss(&config, z, N, d);
    cr_expect(isfinite(run.loss), "loss %g", run.loss);
    for (i = 0; i < 2 * N * d; i++)
        cr_assert(isfinite(run.dz[i]), "dz[%zu] = %g", i, run.dz[i]);
    free(z), free(run.dz);
}

/* An all-zero row is normalised with the 1e-12 floor (u = 0): finite loss, no NaN. */
Test(ntxent, zero_row_is_finite)
{
    const size_t N = 4, d = 8;
    float *z = random_rows(N, d, 22);
    contrastive_loss config = make_loss(LOSS_NTXENT, 0.5f, 0.5f);
    loss_run run;
    size_t i;
    memset(z + 2 * d, 0, d * sizeof(float));
    run = run_loss(&config, z, N, d);
    cr_expect(isfinite(run.loss));
    for (i = 0; i < 2 * N * d; i++)
        cr_assert(!isnan(run.dz[i]) && isfinite(run.dz[i]), "dz[%zu] = %g", i, run.dz[i]);
    free(z), free(run.dz);
}

Test(ntxent, bit_identical_for_one_and_two_threads)
{
    const size_t N = 64, d = 128;
    float *z = random_rows(N, d, 23);
    contrastive_loss config = make_loss(LOSS_NTXENT, 0.5f, 0.5f);
    loss_run a, b;
    parallel_set_thread_count(1);
    a = run_loss(&config, z, N, d);
    parallel_set_thread_count(2);
    b = run_loss(&config, z, N, d);
    cr_expect(memcmp(&a.loss, &b.loss, sizeof(float)) == 0);
    cr_expect(memcmp(a.dz, b.dz, 2 * N * d * sizeof(float)) == 0);
    free(z), free(a.dz), free(b.dz);
}

/* ---- NT-Xent over a subset of anchors: one rank's loss with gathered rows ------------------- */

/* The anchors of the images [first, last) in double, straight from loss/contrastive.h: the mean
 * of ℓ_i over the rows i = image and N + image, each against all 2N − 1 other rows. */
typedef struct anchors_problem {
    double *z; /* (2N, d) */
    size_t N, d, first, last;
    double temperature;
} anchors_problem;

static double reference_ntxent_anchors(void *context)
{
    const anchors_problem *p = (const anchors_problem *)context;
    const size_t N = p->N, d = p->d, R = 2 * N;
    double *u = malloc(R * d * sizeof(double)), total = 0.0;
    size_t i, k, t;
    cr_assert_not_null(u);
    for (i = 0; i < R; i++) {
        double norm = 0.0;
        for (t = 0; t < d; t++)
            norm += p->z[i * d + t] * p->z[i * d + t];
        norm = fmax(sqrt(norm), 1e-12);
        for (t = 0; t < d; t++)
            u[i * d + t] = p->z[i * d + t] / norm;
    }
    for (i = 0; i < R; i++) {
        const size_t image = i % N, positive = i < N ? i + N : i - N;
        double sum = 0.0, s_positive = 0.0;
        if (image < p->first || image >= p->last)
            continue;
        for (k = 0; k < R; k++) {
            double c = 0.0;
            if (k == i)
                continue;
            for (t = 0; t < d; t++)
                c += u[i * d + t] * u[k * d + t];
            sum += exp(c / p->temperature);
            if (k == positive)
                s_positive = c / p->temperature;
        }
        total += -s_positive + log(sum);
    }
    free(u);
    return total / (double)(2 * (p->last - p->first));
}

/* The float loss and gradient (dz0 then dz1, (2N, d)) of the anchors [first, last). */
static float run_anchors(float *dz, const float *z, size_t N, size_t d, float temperature,
                         size_t first, size_t last)
{
    size_t floats;
    float *memory, loss;
    contrastive_cache cache;
    cr_assert_eq(contrastive_cache_floats(N, d, &floats, NULL), SIMCLR_OK);
    memory = malloc(floats * sizeof(float));
    cr_assert_not_null(memory);
    contrastive_cache_bind(&cache, memory, N, d);
    loss = ntxent_anchors_forward(&cache, z, z + N * d, temperature, N, d, first, last);
    ntxent_anchors_backward(dz, dz + N * d, &cache, temperature, N, d, first, last);
    free(memory);
    return loss;
}

/* Against the double evaluation (1e-6 relative) and its central differences at every coordinate
 * of z (1e-5 normwise, tests/gradient_check.h): the rows outside the anchors get a gradient too,
 * as the anchors' positives and negatives. The two halves of N = 8 (ranks of K = 2), a quarter
 * (K = 4), and odd sizes with the anchors inside, at the start and at the end. */
Test(ntxent_anchors, matches_double_evaluation_and_central_differences)
{
    static const size_t shapes[][4] = {/* N, d, first, last */
                                       {8, 16, 0, 4}, {8, 16, 4, 8}, {8, 16, 2, 4},
                                       {5, 7, 1, 3},  {3, 4, 0, 1},  {3, 4, 2, 3}};
    static const float temperatures[2] = {0.5f, 0.1f};
    size_t s, m, i;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (m = 0; m < 2; m++) {
            anchors_problem p;
            const size_t count = 2 * shapes[s][0] * shapes[s][1];
            float *z = random_rows(shapes[s][0], shapes[s][1], 50 + (unsigned long)s);
            float *dz = malloc(count * sizeof(float)), loss;
            double exact;
            char what[96];
            p.z = malloc(count * sizeof(double));
            cr_assert(dz != NULL && p.z != NULL);
            p.N = shapes[s][0], p.d = shapes[s][1];
            p.first = shapes[s][2], p.last = shapes[s][3];
            p.temperature = temperatures[m];
            for (i = 0; i < count; i++)
                p.z[i] = z[i];
            loss = run_anchors(dz, z, p.N, p.d, temperatures[m], p.first, p.last);
            exact = reference_ntxent_anchors(&p);
            cr_expect(fabs(loss - exact) <= 1e-6 * fabs(exact),
                      "N=%zu d=%zu anchors [%zu, %zu) tau %g: loss %.9g, double %.9g", p.N, p.d,
                      p.first, p.last, (double)temperatures[m], loss, exact);
            snprintf(what, sizeof what, "N=%zu d=%zu anchors [%zu, %zu) tau %g", p.N, p.d,
                     p.first, p.last, (double)temperatures[m]);
            check_gradient(what, p.z, count, dz, reference_ntxent_anchors, &p, 1e-5, 0);
            free(z), free(dz), free(p.z);
        }
}

/* K ranks of n = N/K images each: the mean of their losses is the whole loss and the mean of
 * their gradients the whole gradient (1e-6 relative, normwise: the same sums in another order),
 * for K = 1, 2, 4, 8; and the anchors [0, N) are the whole loss itself, bit for bit. */
Test(ntxent_anchors, mean_over_ranks_is_the_whole_loss)
{
    const size_t N = 8, d = 16, count = 2 * N * d;
    float *z = random_rows(N, d, 60), *dz = malloc(count * sizeof(float));
    float *whole_dz = malloc(count * sizeof(float));
    double *mean_dz = malloc(count * sizeof(double));
    contrastive_loss config = make_loss(LOSS_NTXENT, 0.5f, 0.5f);
    loss_run whole;
    size_t K, r, i;
    cr_assert(dz != NULL && whole_dz != NULL && mean_dz != NULL);
    whole = run_loss(&config, z, N, d);
    cr_expect_eq(run_anchors(whole_dz, z, N, d, 0.5f, 0, N), whole.loss);
    cr_expect_eq(memcmp(whole_dz, whole.dz, count * sizeof(float)), 0);
    for (K = 1; K <= 8; K *= 2) {
        double mean_loss = 0.0, worst = 0.0, largest = 0.0;
        for (i = 0; i < count; i++)
            mean_dz[i] = 0.0;
        for (r = 0; r < K; r++) {
            mean_loss += run_anchors(dz, z, N, d, 0.5f, r * N / K, (r + 1) * N / K) / (double)K;
            for (i = 0; i < count; i++)
                mean_dz[i] += dz[i] / (double)K;
        }
        for (i = 0; i < count; i++) {
            worst = fmax(worst, fabs(mean_dz[i] - whole.dz[i]));
            largest = fmax(largest, fabs(whole.dz[i]));
        }
        cr_expect(fabs(mean_loss - whole.loss) <= 1e-6 * fabs(whole.loss),
                  "K=%zu: mean of the ranks' losses %.9g, whole %.9g", K, mean_loss,
                  (double)whole.loss);
        cr_expect(worst <= 1e-6 * largest, "K=%zu: mean gradient off by %.3g (largest %.3g)",
                  K, worst, largest);
    }
    free(z), free(dz), free(whole_dz), free(mean_dz), free(whole.dz);
}

/* ---- the Table 2 alternatives ----------------------------------------------------------- */

Test(nt_logistic, matches_double_evaluation_and_central_differences)
{
    const size_t Ns[3] = {1, 3, 16}, ds[2] = {2, 32};
    int n, m;
    for (n = 0; n < 3; n++)
        for (m = 0; m < 2; m++) {
            float *z = random_rows(Ns[n], ds[m], 30 + (unsigned long)(n * 2 + m));
            check_against_reference(LOSS_NT_LOGISTIC, z, Ns[n], ds[m], 0.2f, 0.5f, 0);
            free(z);
        }
}

Test(margin_triplet, matches_double_evaluation_and_central_differences)
{
    const size_t Ns[3] = {1, 3, 16}, ds[2] = {2, 32};
    int n, m;
    for (n = 0; n < 3; n++)
        for (m = 0; m < 2; m++) {
            float *z = random_rows(Ns[n], ds[m], 40 + (unsigned long)(n * 2 + m));
            check_against_reference(LOSS_MARGIN_TRIPLET, z, Ns[n], ds[m], 0.5f, 0.5f, 0);
            free(z);
        }
}

/* Margin triplet by hand: orthonormal rows as in the NT-Xent example, margin 0.5: each anchor
 * has c⁺ = 1 and two negatives with c⁻ = 0, so max(0, 0 − 1 + 0.5) = 0 and L = 0; with margin
 * 1.5 every term is 0.5 and L = 0.5. */
Test(margin_triplet, hand_computed_two_pairs)
{
    const float z[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    contrastive_loss config = make_loss(LOSS_MARGIN_TRIPLET, 0.5f, 0.5f);
    loss_run run = run_loss(&config, z, 2, 2);
    cr_expect_eq(run.loss, 0.0f);
    free(run.dz);
    config.margin = 1.5f;
    run = run_loss(&config, z, 2, 2);
    cr_expect(fabs(run.loss - 0.5) < 1e-7, "%.9g", run.loss);
    free(run.dz);
}

Test(contrastive, names_parse_and_reject)
{
    contrastive_loss_kind kind;
    simclr_error err;
    cr_expect_eq(contrastive_loss_parse("nt-logistic", &kind, &err), SIMCLR_OK);
    cr_expect_eq(kind, LOSS_NT_LOGISTIC);
    cr_expect_str_eq(contrastive_loss_name(LOSS_MARGIN_TRIPLET), "margin-triplet");
    cr_expect_eq(contrastive_loss_parse("infonce", &kind, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "infonce"));
    cr_expect_eq(contrastive_cache_floats(0, 4, &(size_t){0}, &err), SIMCLR_FAILED);
    cr_expect_eq(contrastive_cache_floats((size_t)-1 / 4, 4, &(size_t){0}, &err), SIMCLR_FAILED);
}

/* ---- the memory bank -------------------------------------------------------------------- */

/* Direct double evaluation of the memory-bank loss (loss/memory_bank.h): anchors u0_i, positive u1_i, negatives the bank rows. */
static double reference_memory_bank_loss(const double *z, size_t N, size_t d, const float *bank,
                                         size_t K, double temperature)
{
    double total = 0.0;
    size_t i, j, t;
    for (i = 0; i < N; i++) {
        double n0 = 0, n1 = 0, positive = 0, sum;
        for (t = 0; t < d; t++) {
            n0 += z[i * d + t] * z[i * d + t];
            n1 += z[(N + i) * d + t] * z[(N + i) * d + t];
        }
        n0 = fmax(sqrt(n0), 1e-12), n1 = fmax(sqrt(n1), 1e-12);
        for (t = 0; t < d; t++)
            positive += z[i * d + t] / n0 * z[(N + i) * d + t] / n1;
        sum = exp(positive / temperature);
        for (j = 0; j < K; j++) {
            double c = 0;
            for (t = 0; t < d; t++)
                c += z[i * d + t] / n0 * bank[j * d + t];
            sum += exp(c / temperature);
        }
        total += -positive / temperature + log(sum);
    }
    return total / (double)N;
}

Test(memory_bank, loss_and_gradient_match_reference)
{
    const size_t N = 4, d = 8, K = 10, count = 2 * N * d;
    float *z = random_rows(N, d, 50), *entries = malloc(K * d * sizeof(float));
    float *dz = malloc(count * sizeof(float)), *memory, loss;
    double *zd = malloc(count * sizeof(double)), exact, worst = 0.0, largest = 0.0;
    memory_bank bank;
    memory_bank_cache cache;
    size_t floats, i, t;
    rng random;
    rng_stream(&random, 1, RNG_DOMAIN_INIT, 0, 0, 0);
    memory_bank_init(&bank, entries, K, d, &random);
    for (i = 0; i < K; i++) { /* the bank rows start normalised */
        double norm = 0;
        for (t = 0; t < d; t++)
            norm += (double)entries[i * d + t] * entries[i * d + t];
        cr_expect(fabs(sqrt(norm) - 1.0) < 1e-6);
    }
    cr_assert_eq(memory_bank_cache_floats(N, d, K, &floats, NULL), SIMCLR_OK);
    memory = malloc(floats * sizeof(float));
    memory_bank_cache_bind(&cache, memory, N, d, K);
    loss = memory_bank_loss_forward(&cache, z, z + N * d, &bank, 0.5f, N, d);
    memory_bank_loss_backward(dz, dz + N * d, &cache, &bank, 0.5f, N, d);
    for (i = 0; i < count; i++)
        zd[i] = z[i];
    exact = reference_memory_bank_loss(zd, N, d, entries, K, 0.5);
    cr_expect(fabs(loss - exact) <= 1e-6 * fabs(exact), "%.9g vs %.9g", loss, exact);
    for (i = 0; i < count; i++) {
        const double h = 1e-6;
        double plus, minus, numeric;
        zd[i] = z[i] + h;
        plus = reference_memory_bank_loss(zd, N, d, entries, K, 0.5);
        zd[i] = z[i] - h;
        minus = reference_memory_bank_loss(zd, N, d, entries, K, 0.5);
        zd[i] = z[i];
        numeric = (plus - minus) / (2 * h);
        largest = fmax(largest, fabs(numeric));
        worst = fmax(worst, fabs(numeric - dz[i]));
    }
    cr_expect(worst <= 1e-5 * largest, "gradient off by %.3g of %.3g", worst, largest);
    free(z), free(entries), free(dz), free(memory), free(zd);
}

/* FIFO as LightlySSL: with K = 5 and batches of 2, writes go to 0-1, 2-3, then 4 (the batch's
 * second row is dropped, the pointer wraps to 0), then 0-1 again. */
Test(memory_bank, update_is_lightly_fifo)
{
    const size_t N = 2, d = 3, K = 5;
    float entries[15], memory[512];
    memory_bank bank;
    memory_bank_cache cache;
    size_t floats, step, t;
    rng random;
    rng_stream(&random, 2, RNG_DOMAIN_INIT, 0, 0, 0);
    memory_bank_init(&bank, entries, K, d, &random);
    cr_assert_eq(memory_bank_cache_floats(N, d, K, &floats, NULL), SIMCLR_OK);
    cr_assert_leq(floats, 512u);
    memory_bank_cache_bind(&cache, memory, N, d, K);
    for (step = 0; step < 4; step++) {
        for (t = 0; t < N * d; t++)
            cache.unit1[t] = (float)(10 * (step + 1) + t);
        memory_bank_update(&bank, &cache, N);
    }
    /* step 0 → rows 0,1; step 1 → rows 2,3; step 2 → row 4 only; step 3 → rows 0,1 */
    cr_expect_eq(entries[0 * d], 40.0f);
    cr_expect_eq(entries[1 * d], 43.0f);
    cr_expect_eq(entries[2 * d], 20.0f);
    cr_expect_eq(entries[3 * d], 23.0f);
    cr_expect_eq(entries[4 * d], 30.0f);
    cr_expect_eq(bank.next, 2u);
}
