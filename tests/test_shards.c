/*
 * tests/test_shards.c — the batch's sums per shard, added by the pairwise tree, and the same
 * bits for any number of ranks holding the shards (nn/ranks.h).
 *
 * A convolution's weight gradient with S shards must be, bit for bit, the pairwise tree of the
 * shards' own weight gradients, each computed as a batch of its own: for S = 4,
 * (L0 + L1) + (L2 + L3), added to what dW held. A batch norm with shards is held to the double
 * definition (forward 1e-5, gradients by central differences, as tests/test_layers.c).
 *
 * Ranks without MPI: a scripted rank_group plays rank r of K in one process. In a first pass it
 * records what the layer would send (the rank's own tree root); the test adds the K roots the
 * way recursive doubling does ((R0 + R1) + (R2 + R3) for K = 4); in a second pass the group
 * hands that total back, as the exchange would. Every rank's outputs must then be the same bits
 * as one process with all the shards.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simclr.h"
#include "test_helpers.h"

/* ---- a rank of K, scripted ------------------------------------------------------------------ */

#define SCRIPT_CALLS 4

/* The exchanges of one rank, numbered in the order the layer makes them: call k below `known`
 * hands back total[k] (the sum of every rank's, as the exchange would); a later one records what
 * the rank sends in sent[k] and leaves its values as they are. */
typedef struct scripted_ranks {
    rank_group group;
    size_t calls, known, count;
    double *sent[SCRIPT_CALLS];         /* (count) each; floats and doubles both fit exactly */
    const double *total[SCRIPT_CALLS];
} scripted_ranks;

static double *script_call(const rank_group *group, size_t count, const double **total)
{
    scripted_ranks *s = group->context;
    const size_t k = s->calls++;
    cr_assert(k < SCRIPT_CALLS && count <= s->count);
    *total = k < s->known ? s->total[k] : NULL;
    return s->sent[k];
}

static void scripted_doubles(const rank_group *group, double *values, size_t count)
{
    const double *total;
    double *sent = script_call(group, count, &total);
    size_t i;
    for (i = 0; i < count; i++) {
        sent[i] = values[i];
        if (total != NULL)
            values[i] = total[i];
    }
}

static void scripted_floats(const rank_group *group, float *values, size_t count)
{
    const double *total;
    double *sent = script_call(group, count, &total);
    size_t i;
    for (i = 0; i < count; i++) {
        sent[i] = values[i];
        if (total != NULL)
            values[i] = (float)total[i];
    }
}

static void scripted_init(scripted_ranks *s, int rank, int size, size_t count, double *scratch)
{
    size_t k;
    memset(s, 0, sizeof *s);
    s->group.rank = rank;
    s->group.size = size;
    s->group.sum_floats = scripted_floats;
    s->group.sum_doubles = scripted_doubles;
    s->group.scratch = scratch;
    s->group.scratch_doubles = count;
    s->group.context = s;
    s->count = count;
    for (k = 0; k < SCRIPT_CALLS; k++) {
        s->sent[k] = calloc(count, sizeof(double));
        cr_assert_not_null(s->sent[k]);
    }
}

static void scripted_free(scripted_ranks *s)
{
    size_t k;
    for (k = 0; k < SCRIPT_CALLS; k++)
        free(s->sent[k]);
}

/* total = the recursive-doubling sum of K ranks' arrays, in the precision of `as_float`. */
static void butterfly(double *total, double *const *sent, size_t K, size_t count, int as_float)
{
    double *level = malloc(K * count * sizeof(double));
    size_t width, r, i;
    cr_assert_not_null(level);
    for (r = 0; r < K; r++)
        memcpy(level + r * count, sent[r], count * sizeof(double));
    for (width = 1; width < K; width *= 2)
        for (r = 0; r < K; r += 2 * width)
            for (i = 0; i < count; i++) {
                if (as_float)
                    level[r * count + i] =
                        (double)((float)level[r * count + i] + (float)level[(r + width) * count + i]);
                else
                    level[r * count + i] += level[(r + width) * count + i];
            }
    memcpy(total, level, count * sizeof(double));
    free(level);
}

/* ---- convolution ---------------------------------------------------------------------------- */

typedef struct conv_case {
    size_t B, C, H, W, O, k, s, p;
} conv_case;

static float *conv_workspace(const conv2d_shape *shape)
{
    size_t floats;
    simclr_error err;
    float *workspace;
    cr_assert_eq(conv2d_workspace_floats(shape, &floats, &err), SIMCLR_OK, "%s", err.message);
    workspace = malloc(floats * sizeof(float));
    cr_assert_not_null(workspace);
    return workspace;
}

static void init_shape(conv2d_shape *shape, const conv_case *c, size_t batch, size_t shards,
                       const rank_group *ranks)
{
    simclr_error err;
    cr_assert_eq(conv2d_shape_init(shape, batch, c->C, c->H, c->W, c->O, c->k, c->s, c->p, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(conv2d_shape_shard(shape, shards, ranks, &err), SIMCLR_OK, "%s", err.message);
}

/* dW with `shards` shards against the pairwise tree of each shard's own, bit for bit; dx against
 * the whole batch's, bit for bit; then K ranks of shards/K each against one process. */
static void check_conv_shards(conv_case c, size_t shards, size_t K, unsigned long tag)
{
    const size_t in = c.C * c.H * c.W, weights = c.O * c.C * c.k * c.k;
    const size_t images = c.B / shards;
    conv2d_shape whole, sharded, part;
    size_t out, k, r, i;
    float *x, *weight, *dy, *dw0, *dw, *dx, *dx_whole, *leaves, *expect, *workspace;
    init_shape(&whole, &c, c.B, 1, NULL);
    out = whole.out_channels * whole.out_height * whole.out_width;
    x = malloc(c.B * in * sizeof(float)), weight = malloc(weights * sizeof(float));
    dy = malloc(c.B * out * sizeof(float)), dw0 = malloc(weights * sizeof(float));
    dw = malloc(weights * sizeof(float)), dx = malloc(c.B * in * sizeof(float));
    dx_whole = malloc(c.B * in * sizeof(float));
    leaves = calloc(shards * weights, sizeof(float)), expect = malloc(weights * sizeof(float));
    cr_assert(x && weight && dy && dw0 && dw && dx && dx_whole && leaves && expect);
    test_fill_uniform(x, c.B * in, -1, 1, tag);
    test_fill_uniform(weight, weights, -0.5f, 0.5f, tag + 1);
    test_fill_uniform(dy, c.B * out, -1, 1, tag + 2);
    test_fill_uniform(dw0, weights, -0.1f, 0.1f, tag + 3); /* dW accumulates */

    /* one process, `shards` shards */
    init_shape(&sharded, &c, c.B, shards, NULL);
    workspace = conv_workspace(&sharded);
    memcpy(dw, dw0, weights * sizeof(float));
    conv2d_backward(dx, dw, NULL, dy, x, weight, &sharded, workspace);
    free(workspace);

    /* each shard as a batch of its own, then the tree by hand */
    init_shape(&part, &c, images, 1, NULL);
    workspace = conv_workspace(&part);
    for (k = 0; k < shards; k++)
        conv2d_backward(NULL, leaves + k * weights, NULL, dy + k * images * out,
                        x + k * images * in, weight, &part, workspace);
    free(workspace);
    for (i = 0; i < weights; i++) {
        float level[64];
        size_t width;
        for (k = 0; k < shards; k++)
            level[k] = leaves[k * weights + i];
        for (width = 1; width < shards; width *= 2)
            for (k = 0; k < shards; k += 2 * width)
                level[k] = level[k] + level[k + width];
        expect[i] = dw0[i] + level[0];
    }
    cr_expect_arr_eq(dw, expect, weights * sizeof(float),
                     "conv B=%zu C=%zu O=%zu k=%zu s=%zu: dW of %zu shards is not the pairwise "
                     "tree of the shards' own", c.B, c.C, c.O, c.k, c.s, shards);
    workspace = conv_workspace(&whole);
    conv2d_backward(dx_whole, expect, NULL, dy, x, weight, &whole, workspace);
    free(workspace);
    cr_expect_arr_eq(dx, dx_whole, c.B * in * sizeof(float), "dx with shards differs");

    /* K ranks of shards/K shards each: the same bits as the one process above */
    if (K > 1) {
        scripted_ranks rank[8];
        double *sent[8], *total = malloc(weights * sizeof(double));
        const size_t rank_images = c.B / K;
        float *rank_dw = malloc(weights * sizeof(float));
        size_t round;
        cr_assert(K <= 8 && total && rank_dw);
        for (r = 0; r < K; r++) {
            scripted_init(&rank[r], (int)r, (int)K, weights, NULL);
            sent[r] = rank[r].sent[0];
        }
        for (round = 0; round < 2; round++) { /* record, then replay the exchange */
            if (round == 1)
                butterfly(total, sent, K, weights, 1);
            for (r = 0; r < K; r++) {
                conv2d_shape mine;
                rank[r].calls = 0, rank[r].known = round, rank[r].total[0] = total;
                init_shape(&mine, &c, rank_images, shards / K, &rank[r].group);
                workspace = conv_workspace(&mine);
                memcpy(rank_dw, dw0, weights * sizeof(float));
                conv2d_backward(dx, rank_dw, NULL, dy + r * rank_images * out,
                                x + r * rank_images * in, weight, &mine, workspace);
                free(workspace);
                cr_assert_eq(rank[r].calls, 1, "one exchange per weight gradient");
                if (round == 1)
                    cr_expect_arr_eq(rank_dw, dw, weights * sizeof(float),
                                     "rank %zu of %zu: dW differs from one process's", r, K);
            }
        }
        for (r = 0; r < K; r++)
            scripted_free(&rank[r]);
        free(total), free(rank_dw);
    }
    free(x), free(weight), free(dy), free(dw0), free(dw), free(dx), free(dx_whole);
    free(leaves), free(expect);
}

Test(shards, conv_im2col_3x3_stride_1) { check_conv_shards((conv_case){8, 3, 9, 7, 5, 3, 1, 1}, 4, 2, 10); }
Test(shards, conv_stride_2_and_8_shards_of_one_image) { check_conv_shards((conv_case){8, 4, 10, 10, 6, 3, 2, 1}, 8, 4, 20); }
Test(shards, conv_pointwise_1x1) { check_conv_shards((conv_case){4, 6, 8, 8, 5, 1, 1, 0}, 4, 4, 30); }
Test(shards, conv_winograd_3x3) { check_conv_shards((conv_case){4, 16, 8, 8, 16, 3, 1, 1}, 2, 2, 40); }
Test(shards, conv_stem_7x7_stride_2) { check_conv_shards((conv_case){4, 3, 16, 16, 8, 7, 2, 3}, 4, 2, 50); }

Test(shards, conv_refuses_shards_that_do_not_cut_the_batch)
{
    conv2d_shape shape;
    simclr_error err;
    cr_assert_eq(conv2d_shape_init(&shape, 6, 2, 5, 5, 3, 3, 1, 1, &err), SIMCLR_OK);
    cr_expect_eq(conv2d_shape_shard(&shape, 3, NULL, &err), SIMCLR_FAILED); /* not a power of 2 */
    cr_expect_eq(conv2d_shape_shard(&shape, 4, NULL, &err), SIMCLR_FAILED); /* 4 ∤ 6 */
    cr_expect_eq(conv2d_shape_shard(&shape, 0, NULL, &err), SIMCLR_FAILED);
    cr_expect_eq(conv2d_shape_shard(&shape, 2, NULL, &err), SIMCLR_OK);
}

/* ---- batch norm ----------------------------------------------------------------------------- */

/* The training-mode forward and backward of a batch norm over (B, C, S) with `shards` shards,
 * against the double definition: mean and biased variance over all B·S values of a channel,
 * y within 4e-6 (|y| stays below about 4 here: normwise 1e-6, sums in double either way); dx
 * within 1e-5 relative, dweight and dbias likewise, against the same formulas. Then
 * K scripted ranks against the one process, bit for bit. */
static void check_batchnorm_shards(size_t B, size_t C, size_t S, size_t shards, size_t K,
                                   unsigned long tag)
{
    const size_t count = B * C * S, n = B * S;
    float *x = malloc(count * sizeof(float)), *dy = malloc(count * sizeof(float));
    float *y = malloc(count * sizeof(float)), *dx = malloc(count * sizeof(float));
    float weight[8], bias[8], rm[8] = {0}, rv[8] = {1, 1, 1, 1, 1, 1, 1, 1}, mean[8], istd[8];
    float dweight[8] = {0}, dbias[8] = {0};
    int64_t tracked = 0;
    batchnorm_state state = {rm, rv, &tracked, 0.1f, 1e-5f};
    batchnorm_shape shape;
    double worst_y = 0.0, worst_dx = 0.0;
    size_t c, b, t;
    cr_assert(C <= 8 && x && dy && y && dx);
    test_fill_uniform(x, count, -2, 3, tag);
    test_fill_uniform(dy, count, -1, 1, tag + 1);
    test_fill_uniform(weight, C, 0.5f, 1.5f, tag + 2);
    test_fill_uniform(bias, C, -1, 1, tag + 3);
    memset(&shape, 0, sizeof shape);
    shape.batch = B, shape.channels = C, shape.spatial = S, shape.shards = shards;
    batchnorm_forward_train(y, mean, istd, x, weight, bias, &state, &shape);
    batchnorm_backward_train(dx, dweight, dbias, dy, x, mean, istd, weight, &shape);
    for (c = 0; c < C; c++) {
        double sum = 0, squares = 0, dsum = 0, dsum_hat = 0, mu, var, inv;
        for (b = 0; b < B; b++)
            for (t = 0; t < S; t++)
                sum += x[(b * C + c) * S + t];
        mu = sum / (double)n;
        for (b = 0; b < B; b++)
            for (t = 0; t < S; t++)
                squares += (x[(b * C + c) * S + t] - mu) * (x[(b * C + c) * S + t] - mu);
        var = squares / (double)n;
        inv = 1.0 / sqrt(var + 1e-5);
        for (b = 0; b < B; b++)
            for (t = 0; t < S; t++) {
                const size_t at = (b * C + c) * S + t;
                const double hat = (x[at] - mu) * inv;
                worst_y = fmax(worst_y, fabs(y[at] - (weight[c] * hat + bias[c])));
                dsum += dy[at], dsum_hat += dy[at] * hat;
            }
        for (b = 0; b < B; b++)
            for (t = 0; t < S; t++) {
                const size_t at = (b * C + c) * S + t;
                const double hat = (x[at] - mu) * inv;
                const double want = weight[c] * inv * (dy[at] - dsum / n - hat * dsum_hat / n);
                worst_dx = fmax(worst_dx, fabs(dx[at] - want) / fmax(1.0, fabs(want)));
            }
        cr_expect_leq(fabs(dweight[c] - dsum_hat), 1e-5 * fmax(1.0, fabs(dsum_hat)));
        cr_expect_leq(fabs(dbias[c] - dsum), 1e-5 * fmax(1.0, fabs(dsum)));
        cr_expect_leq(fabs(rv[c] - (0.9 + 0.1 * var * n / (n - 1))), 1e-6);
    }
    cr_expect_leq(worst_y, 4e-6, "batchnorm with %zu shards: forward off by %g", shards, worst_y);
    cr_expect_leq(worst_dx, 1e-5, "batchnorm with %zu shards: dx off by %g", shards, worst_dx);

    if (K > 1) { /* the ranks: round k replays the first k exchanges, records the next */
        scripted_ranks rank[8];
        double scratch[8][16], *sent[8], total[2][16];
        const size_t rows = B / K;
        float *ry = malloc(count * sizeof(float)), *rdx = malloc(count * sizeof(float));
        float rmean[8], ristd[8], rdw[8], rdb[8], rrm[8], rrv[8];
        int64_t rtracked;
        size_t r, round;
        cr_assert(K <= 8 && ry && rdx);
        for (r = 0; r < K; r++)
            scripted_init(&rank[r], (int)r, (int)K, 2 * C, scratch[r]);
        for (round = 0; round < 3; round++) {
            if (round > 0) { /* the exchange recorded in the last round, summed */
                for (r = 0; r < K; r++)
                    sent[r] = rank[r].sent[round - 1];
                butterfly(total[round - 1], sent, K, 2 * C, 0);
            }
            for (r = 0; r < K; r++) {
                batchnorm_state rs = {rrm, rrv, &rtracked, 0.1f, 1e-5f};
                batchnorm_shape mine = shape;
                const size_t at = r * rows * C * S;
                mine.batch = rows, mine.shards = shards / K, mine.ranks = &rank[r].group;
                rank[r].calls = 0, rank[r].known = round;
                rank[r].total[0] = total[0], rank[r].total[1] = total[1];
                for (c = 0; c < C; c++)
                    rrm[c] = 0.0f, rrv[c] = 1.0f, rdw[c] = rdb[c] = 0.0f;
                rtracked = 0;
                batchnorm_forward_train(ry + at, rmean, ristd, x + at, weight, bias, &rs, &mine);
                batchnorm_backward_train(rdx + at, rdw, rdb, dy + at, x + at, rmean, ristd,
                                         weight, &mine);
                cr_assert_eq(rank[r].calls, 2, "one exchange per pass");
                if (round == 2) {
                    cr_expect_arr_eq(rmean, mean, C * sizeof(float), "rank %zu: mean", r);
                    cr_expect_arr_eq(ristd, istd, C * sizeof(float), "rank %zu: 1/std", r);
                    cr_expect_arr_eq(rrv, rv, C * sizeof(float), "rank %zu: running_var", r);
                    cr_expect_arr_eq(rdw, dweight, C * sizeof(float), "rank %zu: dweight", r);
                    cr_expect_arr_eq(rdb, dbias, C * sizeof(float), "rank %zu: dbias", r);
                }
            }
        }
        cr_expect_arr_eq(ry, y, count * sizeof(float), "the ranks' y differ from one process's");
        cr_expect_arr_eq(rdx, dx, count * sizeof(float), "the ranks' dx differ from one process's");
        for (r = 0; r < K; r++)
            scripted_free(&rank[r]);
        free(ry), free(rdx);
    }
    free(x), free(dy), free(y), free(dx);
}

Test(shards, batchnorm_2d_4_shards_2_ranks) { check_batchnorm_shards(8, 3, 5, 4, 2, 100); }
Test(shards, batchnorm_1d_8_shards_of_one_row_4_ranks) { check_batchnorm_shards(8, 5, 1, 8, 4, 110); }
Test(shards, batchnorm_2d_2_shards_2_ranks) { check_batchnorm_shards(4, 2, 9, 2, 2, 120); }

/* ---- the model ------------------------------------------------------------------------------ */

static simclr_config small_config(size_t batch, size_t shards, simclr_views_forward views)
{
    simclr_config config = simclr_config_default();
    config.encoder.width = 0.0625;
    config.head.hidden_dim = 16;
    config.head.out_dim = 8;
    config.batch = batch;
    config.shards = shards;
    config.seed = 5;
    config.height = config.width = 8;
    config.views_forward = views;
    return config;
}

/* Joint views with G shards: shard by shard, view 0 of the shard's g images, then view 1;
 * every row taken once. Separate views and one shard: view 0 of every image, then view 1. */
Test(shards, the_views_rows_run_shard_by_shard)
{
    simclr_model model;
    simclr_config config = small_config(8, 4, SIMCLR_VIEWS_JOINT);
    simclr_error err;
    unsigned char taken[16] = {0};
    size_t j;
    int v;
    cr_assert_eq(simclr_model_create(&model, &config, &err), SIMCLR_OK, "%s", err.message);
    for (j = 0; j < 8; j++)
        for (v = 0; v < 2; v++) {
            const size_t row = rank_layout_view_row(&model.layout, j, v);
            cr_assert_lt(row, 16);
            cr_expect_eq(row, j / 2 * 4 + (size_t)v * 2 + j % 2, "image %zu view %d", j, v);
            taken[row]++;
        }
    for (j = 0; j < 16; j++)
        cr_expect_eq(taken[j], 1, "row %zu", j);
    simclr_model_destroy(&model);
    config = small_config(8, 1, SIMCLR_VIEWS_JOINT);
    cr_assert_eq(simclr_model_create(&model, &config, &err), SIMCLR_OK, "%s", err.message);
    for (j = 0; j < 8; j++)
        cr_expect_eq(rank_layout_view_row(&model.layout, j, 1), 8 + j);
    simclr_model_destroy(&model);
    config = small_config(8, 4, SIMCLR_VIEWS_SEPARATE);
    cr_assert_eq(simclr_model_create(&model, &config, &err), SIMCLR_OK, "%s", err.message);
    for (j = 0; j < 8; j++)
        cr_expect_eq(rank_layout_view_row(&model.layout, j, 1), 8 + j);
    simclr_model_destroy(&model);
}

/* The same step, its sums cut into shards: the loss and every parameter within float rounding
 * of the step without shards (normwise 1e-5), both ways of forwarding the views. */
static void check_step_with_shards(simclr_views_forward views)
{
    simclr_model whole, sharded;
    simclr_config one = small_config(8, 1, views), four = small_config(8, 4, views);
    simclr_error err;
    const size_t view_floats = 3 * 8 * 8;
    float loss_whole, loss_sharded;
    double worst = 0.0, largest = 0.0;
    size_t j, i;
    int v;
    cr_assert_eq(simclr_model_create(&whole, &one, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_model_create(&sharded, &four, &err), SIMCLR_OK, "%s", err.message);
    for (j = 0; j < 8; j++)
        for (v = 0; v < 2; v++) {
            float view[3 * 8 * 8];
            test_fill_uniform(view, view_floats, 0, 1, 1000 + 2 * j + (size_t)v);
            memcpy(whole.views + rank_layout_view_row(&whole.layout, j, v) * view_floats, view, sizeof view);
            memcpy(sharded.views + rank_layout_view_row(&sharded.layout, j, v) * view_floats, view,
                   sizeof view);
        }
    loss_whole = simclr_train_step(&whole, 0.5f);
    loss_sharded = simclr_train_step(&sharded, 0.5f);
    cr_expect_leq(fabsf(loss_whole - loss_sharded), 1e-5f * fabsf(loss_whole), "losses %.9g %.9g",
                  (double)loss_whole, (double)loss_sharded);
    cr_assert_eq(whole.store.param_floats, sharded.store.param_floats);
    for (i = 0; i < whole.store.param_floats; i++) {
        largest = fmax(largest, fabs((double)whole.store.params[i]));
        worst = fmax(worst, fabs((double)whole.store.params[i] - sharded.store.params[i]));
    }
    cr_expect_leq(worst / largest, 1e-5, "parameters differ by %g normwise", worst / largest);
    simclr_model_destroy(&whole);
    simclr_model_destroy(&sharded);
}

Test(shards, a_step_with_shards_is_the_same_step_joint) { check_step_with_shards(SIMCLR_VIEWS_JOINT); }
Test(shards, a_step_with_shards_is_the_same_step_separate) { check_step_with_shards(SIMCLR_VIEWS_SEPARATE); }

Test(shards, the_model_refuses_shards_and_ranks_that_do_not_fit)
{
    simclr_model model;
    simclr_config config = small_config(8, 3, SIMCLR_VIEWS_JOINT);
    simclr_error err;
    rank_group two;
    cr_expect_eq(simclr_model_create(&model, &config, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "power of two") != NULL, "%s", err.message);
    config.shards = 16; /* more shards than images */
    cr_expect_eq(simclr_model_create(&model, &config, &err), SIMCLR_FAILED);
    memset(&two, 0, sizeof two);
    two.size = 2, two.rank = 1;
    config.shards = 1; /* 2 ranks, 1 shard */
    cr_expect_eq(simclr_model_create_ranks(&model, &config, &two, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "ranks need --shards") != NULL, "%s", err.message);
}

/* ---- the forward pass is per image ---------------------------------------------------------- */

/* A rank runs the forward pass on its part of the batch only: each image's output must be the
 * same bits whatever the images beside it (its GEMM columns, its Winograd tiles), for the
 * convolutions' every path: im2col, the 1×1 fast path (chunks of one image), Winograd. */
static void check_forward_per_image(conv_case c, unsigned long tag)
{
    const size_t in = c.C * c.H * c.W, weights = c.O * c.C * c.k * c.k;
    conv2d_shape whole, part;
    size_t out, k;
    float *x, *weight, *y, *y_parts, *workspace;
    init_shape(&whole, &c, c.B, 1, NULL);
    out = whole.out_channels * whole.out_height * whole.out_width;
    x = malloc(c.B * in * sizeof(float)), weight = malloc(weights * sizeof(float));
    y = malloc(c.B * out * sizeof(float)), y_parts = malloc(c.B * out * sizeof(float));
    cr_assert(x && weight && y && y_parts);
    test_fill_uniform(x, c.B * in, -1, 1, tag);
    test_fill_uniform(weight, weights, -0.5f, 0.5f, tag + 1);
    workspace = conv_workspace(&whole);
    conv2d_forward(y, x, weight, NULL, &whole, workspace);
    free(workspace);
    for (k = 1; k <= c.B; k *= 2) { /* K = 1, 2, 4, … ranks of B/K images */
        size_t r;
        init_shape(&part, &c, c.B / k, 1, NULL);
        workspace = conv_workspace(&part);
        for (r = 0; r < k; r++)
            conv2d_forward(y_parts + r * (c.B / k) * out, x + r * (c.B / k) * in, weight, NULL,
                           &part, workspace);
        free(workspace);
        cr_expect_arr_eq(y_parts, y, c.B * out * sizeof(float),
                         "conv C=%zu O=%zu k=%zu s=%zu: %zu parts of the batch differ", c.C, c.O,
                         c.k, c.s, k);
    }
    free(x), free(weight), free(y), free(y_parts);
}

Test(shards, forward_im2col_per_image) { check_forward_per_image((conv_case){8, 3, 9, 7, 5, 3, 2, 1}, 200); }
Test(shards, forward_pointwise_per_image) { check_forward_per_image((conv_case){8, 6, 20, 20, 5, 1, 1, 0}, 210); }
Test(shards, forward_winograd_per_image) { check_forward_per_image((conv_case){4, 16, 8, 8, 16, 3, 1, 1}, 220); }
/* 8×8 maps: chunks of 4 images for the whole batch, of 1 (the 1×1 fast path) for one image */
Test(shards, forward_pointwise_switch_per_image) { check_forward_per_image((conv_case){8, 6, 8, 8, 5, 1, 1, 0}, 230); }
