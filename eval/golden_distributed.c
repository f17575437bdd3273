/*
 * eval/golden_distributed.c — the ntxent_distributed and batchnorm_distributed reference cases:
 * K ranks simulated in one process; see golden_distributed.h.
 */
#include "golden_distributed.h"

#include <stdio.h>
#include <string.h>

#include "../loss/contrastive.h"
#include "../nn/batchnorm.h"
#include "../nn/memory.h"

/* ---- NT-Xent over gathered rows ------------------------------------------------------------ */

int golden_ntxent_distributed(golden_case *g, size_t K, size_t N, size_t d, float temperature)
{
    contrastive_cache cache;
    size_t floats, r;
    float *z0, *z1, *loss_per_rank, *dz_per_rank, *value, *dz0, *dz1, *memory;
    char name[96];
    if (K == 0 || N % K != 0)
        return simclr_fail(golden_case_error(g), "golden: %lu ranks do not divide N = %lu",
                           (unsigned long)K, (unsigned long)N);
    if (contrastive_cache_floats(N, d, &floats, golden_case_error(g)) != SIMCLR_OK)
        return SIMCLR_FAILED;
    golden_case_begin(g, "ntxent_distributed");
    golden_case_meta(g, "temperature", "%.9g", (double)temperature);
    golden_case_meta(g, "ranks", "%lu", (unsigned long)K);
    z0 = golden_case_tensor(g, "z0", 2, N, d, 0, 0);
    z1 = golden_case_tensor(g, "z1", 2, N, d, 0, 0);
    loss_per_rank = golden_case_tensor(g, "loss_per_rank", 1, K, 0, 0, 0);
    dz_per_rank = golden_case_tensor(g, "dz_per_rank", 4, K, 2, N, d);
    value = golden_case_tensor(g, "loss", 1, 1, 0, 0, 0);
    dz0 = golden_case_tensor(g, "dz0", 2, N, d, 0, 0);
    dz1 = golden_case_tensor(g, "dz1", 2, N, d, 0, 0);
    memory = simclr_calloc(floats, sizeof(float), "golden: loss cache", golden_case_error(g));
    if (golden_case_failed(g) || memory == NULL) {
        simclr_free(memory);
        golden_case_fail(g);
        return golden_case_finish(g, "ntxent_distributed");
    }
    golden_case_fill(g, z0, N * d, -1.0f, 1.0f, 0);
    golden_case_fill(g, z1, N * d, -1.0f, 1.0f, 1);
    contrastive_cache_bind(&cache, memory, N, d);
    /* rank r: the anchors of its images r·n … r·n + n − 1, against every gathered row; its
     * gradient reaches every row: (2, N, d), view 0's rows then view 1's */
    for (r = 0; r < K; r++) {
        float *mine = dz_per_rank + r * 2 * N * d;
        loss_per_rank[r] = ntxent_anchors_forward(&cache, z0, z1, temperature, N, d, r * (N / K),
                                                  (r + 1) * (N / K));
        ntxent_anchors_backward(mine, mine + N * d, &cache, temperature, N, d, r * (N / K),
                                (r + 1) * (N / K));
    }
    /* the mean over ranks: the whole batch's loss and gradient */
    value[0] = ntxent_forward(&cache, z0, z1, temperature, N, d);
    ntxent_backward(dz0, dz1, &cache, temperature, N, d);
    simclr_free(memory);
    snprintf(name, sizeof name, "ntxent_distributed_k%lu_n%lu_d%lu_t%g", (unsigned long)K,
             (unsigned long)N, (unsigned long)d, (double)temperature);
    return golden_case_finish(g, name);
}

/* ---- batch norm over the whole batch ------------------------------------------------------- */

int golden_batchnorm_distributed(golden_case *g, size_t K, size_t B, size_t C, size_t H,
                                 size_t W)
{
    const int two_d = H > 0;
    const int ndim = two_d ? 4 : 2;
    const size_t S = two_d ? H * W : 1, n = B * C * S;
    batchnorm_shape shape;
    batchnorm_state state;
    int64_t tracked = 0;
    float *x, *weight, *bias, *rm, *rv, *y, *mean, *invstd, *rm_out, *rv_out, *dy, *dx;
    float *dweight, *dbias;
    char name[96];
    /* through float variables, as golden.c's batch norm (FLT_EVAL_METHOD) */
    const float eps = BATCHNORM_EPS, momentum = BATCHNORM_MOMENTUM;
    if (K == 0 || B % K != 0)
        return simclr_fail(golden_case_error(g), "golden: %lu ranks do not divide B = %lu",
                           (unsigned long)K, (unsigned long)B);
    golden_case_begin(g, "batchnorm_distributed");
    golden_case_meta(g, "eps", "%.9g", (double)eps);
    golden_case_meta(g, "momentum", "%.9g", (double)momentum);
    golden_case_meta(g, "training", "1");
    golden_case_meta(g, "ranks", "%lu", (unsigned long)K);
    x = golden_case_tensor(g, "x", ndim, B, C, H, W);
    weight = golden_case_tensor(g, "weight", 1, C, 0, 0, 0);
    bias = golden_case_tensor(g, "bias", 1, C, 0, 0, 0);
    rm = golden_case_tensor(g, "running_mean", 1, C, 0, 0, 0);
    rv = golden_case_tensor(g, "running_var", 1, C, 0, 0, 0);
    y = golden_case_tensor(g, "y", ndim, B, C, H, W);
    mean = golden_case_tensor(g, "mean", 1, C, 0, 0, 0);
    invstd = golden_case_tensor(g, "invstd", 1, C, 0, 0, 0);
    rm_out = golden_case_tensor(g, "running_mean_out", 1, C, 0, 0, 0);
    rv_out = golden_case_tensor(g, "running_var_out", 1, C, 0, 0, 0);
    dy = golden_case_tensor(g, "dy", ndim, B, C, H, W);
    dx = golden_case_tensor(g, "dx", ndim, B, C, H, W);
    dweight = golden_case_tensor(g, "dweight", 1, C, 0, 0, 0);
    dbias = golden_case_tensor(g, "dbias", 1, C, 0, 0, 0);
    if (golden_case_failed(g))
        return golden_case_finish(g, "batchnorm_distributed");
    golden_case_fill(g, x, n, -1.0f, 3.0f, 0);
    golden_case_fill(g, weight, C, 0.5f, 1.5f, 1);
    golden_case_fill(g, bias, C, -0.5f, 0.5f, 2);
    golden_case_fill(g, rm, C, -0.5f, 0.5f, 3);
    golden_case_fill(g, rv, C, 0.5f, 2.0f, 4);
    golden_case_fill(g, dy, n, -1.0f, 1.0f, 5);
    memcpy(rm_out, rm, C * sizeof(float));
    memcpy(rv_out, rv, C * sizeof(float));
    memset(&shape, 0, sizeof shape);
    shape.batch = B;
    shape.channels = C;
    shape.spatial = S;
    shape.shards = K;   /* one shard per rank: each rank's sums, combined as the ranks' are */
    shape.ranks = NULL; /* in one process */
    state.running_mean = rm_out;
    state.running_var = rv_out;
    state.num_batches_tracked = &tracked;
    state.momentum = BATCHNORM_MOMENTUM;
    state.eps = BATCHNORM_EPS;
    batchnorm_forward_train(y, mean, invstd, x, weight, bias, &state, &shape);
    batchnorm_backward_train(dx, dweight, dbias, dy, x, mean, invstd, weight, &shape);
    if (two_d)
        snprintf(name, sizeof name, "batchnorm_distributed_k%lu_b%lu_c%lu_%lux%lu",
                 (unsigned long)K, (unsigned long)B, (unsigned long)C, (unsigned long)H,
                 (unsigned long)W);
    else
        snprintf(name, sizeof name, "batchnorm_distributed_k%lu_b%lu_c%lu", (unsigned long)K,
                 (unsigned long)B, (unsigned long)C);
    return golden_case_finish(g, name);
}

/* ---- README.txt ---------------------------------------------------------------------------- */

void golden_distributed_readme(golden_case *g)
{
    golden_readme(g, "%s",
        "\n"
        "Data-parallel training (ops ntxent_distributed, batchnorm_distributed)\n"
        "These cases simulate K ranks (metadata ranks) in one process, for checking a\n"
        "distributed implementation, e.g. PyTorch DDP with LightlySSL's\n"
        "NTXentLoss(gather_distributed=True) and torch.nn.SyncBatchNorm, one rank at a time.\n"
        "The global batch is split across the ranks in order: with n = N / K (or B / K), rank r\n"
        "holds rows r*n .. r*n + n - 1 of every batch tensor (z0 and z1; x, y, dy, dx).\n"
        "ntxent_distributed\n"
        "              NT-Xent over gathered rows. Rank r computes u = normalize(z) for its rows\n"
        "              of z0 and z1, gathers every rank's rows in rank order (so it sees the\n"
        "              whole [z0; z1] of the ntxent op), and its loss L_r is the mean of l_i\n"
        "              (as ntxent) over its 2n anchors only: rows r*n .. r*n + n - 1 of view 0\n"
        "              and the same images' rows of view 1, each against all 2N - 1 other rows,\n"
        "              its positive the other view of its image. loss_per_rank (K) holds L_r.\n"
        "              dz_per_rank (K, 2, N, d): [r, 0] = dL_r/dz0 and [r, 1] = dL_r/dz1 over\n"
        "              all N rows, what rank r's loss sends back into the gathered rows (its own\n"
        "              rows as anchors and as other anchors' positives and negatives; the other\n"
        "              ranks' rows as its negatives). The normalisation is per row, so\n"
        "              gathering z and normalising after gives the same values.\n"
        "              loss (1) and dz0, dz1 (N, d) are those of the whole batch, the ntxent\n"
        "              op's: loss = the mean of loss_per_rank, dz = the mean over r of\n"
        "              dz_per_rank[r] (up to rounding: ours are computed as the ntxent op).\n"
        "              Under DDP: a gather whose backward sums each rank's slice over all ranks\n"
        "              (a gather whose backward passes back only the rank's own loss's term\n"
        "              gives other gradients: check which one yours is) hands rank\n"
        "              r, for its own rows, the sum over ranks of dz_per_rank at those rows, i.e.\n"
        "              K * dz there; DDP then averages the parameter gradients over the K ranks,\n"
        "              so they equal those of the whole batch's loss. To compare: rank r's\n"
        "              L_r with loss_per_rank[r]; the gradient reaching its own rows of z0 and\n"
        "              z1 (e.g. by a hook) with K * dz0 and K * dz1 at rows r*n .. r*n + n - 1.\n");
    golden_readme(g, "%s",
        "batchnorm_distributed\n"
        "              Batch norm in training mode with the statistics of the whole batch\n"
        "              (SyncBatchNorm), x (B, C, H, W) or (B, C) for 1-D: per channel, over all\n"
        "              ranks' m = B*H*W values (m = B for 1-D), mean = sum(x) / m and the\n"
        "              biased variance var = sum(x^2) / m - mean^2 (each rank contributes its\n"
        "              count, sum(x) and sum(x^2), added over the ranks) normalise every\n"
        "              rank's rows:\n"
        "              y = weight * (x - mean) * invstd + bias, invstd = 1 / sqrt(var + eps),\n"
        "              eps = 1e-5. mean and invstd (C) are those statistics, the same on every\n"
        "              rank. Running statistics as batchnorm2d, from the whole batch: momentum\n"
        "              0.1, the unbiased variance var * m / (m - 1); running_mean and running_var\n"
        "              before, running_*_out after, the same on every rank.\n"
        "              Gradients of L = sum(y * dy) over the whole batch: rank r's dx is rows\n"
        "              r*n .. r*n + n - 1 of dx (its backward needs sum(dy) and sum(dy * x_hat)\n"
        "              added over the ranks, as SyncBatchNorm's does). dweight = sum(dy * x_hat)\n"
        "              and dbias = sum(dy) over the whole batch: each rank's SyncBatchNorm gives\n"
        "              the sums over its own rows, which add up to these; DDP averages them,\n"
        "              which gives dweight / K and dbias / K (the gradient of the mean of the\n"
        "              ranks' losses L_r = sum over rank r's rows of y * dy).\n"
        "              Ours come from one batch norm whose sums (sum(x), sum(x^2), sum(dy),\n"
        "              sum(dy * x_hat)) are taken per rank's rows and combined over the ranks by\n"
        "              a fixed pairwise tree, as our distributed training does; they differ from\n"
        "              the batchnorm2d op's in the last bits only.\n");
}
