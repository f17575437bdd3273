/*
 * nn/ranks.h — data-parallel training over K processes ("ranks"), and the fixed order of its sums
 * that makes the result the same bits for any K.
 *
 * Shape legend: N images in the global batch, G shards, K ranks, n = N/K images per rank,
 * g = N/G images per shard; K divides G, G is a power of two (so K is one too).
 *
 * The problem. A training step sums over the batch in three places whose order changes the
 * rounding: each convolution's weight gradient (over every view and pixel), and the two
 * per-channel sums of every batch norm, forward (Σx, Σx²) and backward (Σdy, Σdy·x̂). Cut the
 * batch across K ranks and let MPI add the K partial sums, and the order of the additions
 * depends on K (and, for MPI_Allreduce, on the library); the bits then change with K.
 *
 * The design. The order is fixed by the data, not by K:
 *   1. the global batch is cut into G shards of g images, in the batch's order (shard s holds
 *      images s·g … s·g + g − 1 and both views of each); rank r holds shards r·G/K … (r+1)·G/K − 1;
 *   2. each such sum is computed per shard, with the single-shard code (its order fixed by the
 *      shard's shape alone, as for threads);
 *   3. the G shard sums are combined by the balanced pairwise tree, for G = 4:
 *          (s0 + s1) + (s2 + s3)
 *      A rank combines its own G/K shards (pairwise_* below): a subtree of that tree. The ranks
 *      then combine their subtrees by recursive doubling: at level l = 1, 2, 4, … < K, rank r
 *      sends its partial sum to rank r xor l, receives that rank's, and both add the two. Float
 *      addition is commutative (a + b and b + a are the same bits), so both ranks get the same
 *      node of the tree; after log2 K levels every rank holds the root.
 * One process with G shards computes the same tree, so K = 1, 2, 4, … (any K dividing G) give
 * the same bits. Costs: log2 K messages of the array per sum, against 2(K−1)/K of MPI's ring
 * all-reduce, and G/K partial sums held on the way (log2(G/K) + 1 arrays).
 * Everything else of a step is either per view (convolutions' outputs and input gradients,
 * ReLU, pooling: each output element is one GEMM column or one sum over a kernel, the same bits
 * whatever the images beside it and however many there are) or computed identically by every
 * rank from gathered rows (the projection head, the loss and the online classifier on the
 * gathered h: see simclr.c), so it needs no sum.
 *
 * A rank_group is the interface; the implementation over MPI is nn/ranks_mpi.c (make MPI=1).
 * NULL (or a group of one) means one process: no exchange.
 */
#ifndef SIMCLR_NN_RANKS_H
#define SIMCLR_NN_RANKS_H

#include <stddef.h>

#include "error.h"

typedef struct rank_group rank_group;

/* What a rank's exchanges have cost so far, counted by the implementation. */
typedef struct rank_traffic {
    double seconds;   /* wall-clock time inside the three functions */
    double bytes;     /* sent by this rank (a gather: its row to each other rank) */
    double exchanges; /* calls */
} rank_traffic;

struct rank_group {
    int rank; /* this process, 0 … size − 1 */
    int size; /* K, a power of two */
    /* values := the sum over ranks by recursive doubling (above): the same bits on every rank */
    void (*sum_floats)(const rank_group *group, float *values, size_t count);
    void (*sum_doubles)(const rank_group *group, double *values, size_t count);
    /* all (size × count) := every rank's `mine` (count), in rank order */
    void (*gather_floats)(const rank_group *group, float *all, const float *mine, size_t count);
    double *scratch;        /* scratch_doubles, for the batch norms' per-channel sums */
    size_t scratch_doubles; /* at least 2 × the widest batch norm */
    void *context;          /* the implementation's */
    rank_traffic *traffic;  /* the implementation's count (NULL: not counted) */
};

/* 1 when sums must be exchanged: a group of more than one rank. */
int ranks_exchange(const rank_group *group);

/* ---- the batch across the ranks ---- */

/* Where the views of a batch of N images (two views each) sit: on this rank, n images, whose
 * view rows run shard by shard (joint views: view 0 of a shard's g images, then view 1, so
 * that every shard is a run of rows; separate views: view 0 of the rank's images, then view 1,
 * a pass each); in the whole batch (the head's input), view 0 of every image, then view 1. */
typedef struct rank_layout {
    size_t batch, local, shard; /* N, n = N/K, g = N/G */
    size_t rank, ranks;         /* r, K */
    int separate;               /* the views in two passes of N (else one of 2N) */
} rank_layout;

/* Fails unless G is a power of two dividing N and K (the group's size, 1 for NULL) divides G. */
int rank_layout_plan(rank_layout *layout, size_t batch, size_t shards, int separate,
                     const rank_group *group, simclr_error *err);

/* The rank's row of view v (0 or 1) of its image j (0 … n − 1). */
size_t rank_layout_view_row(const rank_layout *layout, size_t j, int v);

/* The row of the whole batch (of one pass, for separate views) that row i of a pass of `rank`
 * is: the inverse of rank_layout_view_row across the ranks. */
size_t rank_layout_batch_row(const rank_layout *layout, size_t rank, size_t i);

/* One pass's rows of every rank into the whole batch's order: batch (2N/passes, width) from
 * mine (2n/passes, width), through gathered (the same size as batch; unused with one rank). */
void rank_layout_gather(const rank_layout *layout, const rank_group *group, float *batch,
                        float *gathered, const float *mine, size_t width);

/* ---- agreeing ---- */

#define RANKS_AGREE_MAX 8

/* Every rank's `ok` and `values` (count ≤ RANKS_AGREE_MAX whole numbers below 2^32, so their
 * sums are exact), compared: 1 on every rank when every rank is ok and holds the same values,
 * else 0 on every rank, with *failed the number of ranks not ok and *differs the first of this
 * rank's values that differs from the others' (−1: none, or some rank failed). Two exchanges:
 * the values with the failures, then the verdicts (a rank may hold the mean of values that
 * differ). One process: ok. */
int ranks_agree(const rank_group *group, int ok, const double *values, size_t count,
                int *failed, int *differs);

/* ranks_agree with the reason as a message: SIMCLR_OK on every rank when it agrees, else
 * SIMCLR_FAILED on every rank, with err saying what this rank has to tell: where one of its
 * values differs, "rank R: its NAMES[i] differs from the other ranks' (…)"; on rank 0, when it
 * was ok itself, how many ranks failed; else nothing (err->message empty: a rank that failed
 * tells its own failure). One process: ok, or SIMCLR_FAILED with nothing to tell. */
int ranks_agree_reason(const rank_group *group, int ok, const double *values,
                       const char *const *names, size_t count, simclr_error *err);

/* ---- the pairwise tree over a rank's own shards ---- */

/* Shard k (0, 1, …) of a power-of-two count goes into level pairwise_level(k) of a stack of
 * levels (each an array of the sum's size); pairwise_merge_* then adds the pending lower levels
 * into it, so that after the last shard the top level, log2(count), holds the tree's root:
 *     k = 0 → level 0;  k = 1 → level 1 = L0 + L1;  k = 2 → level 0;  k = 3 → level 2 = (L0+L1) + (L2+L3)
 */
size_t pairwise_level(size_t k);

/* levels[level] (count) += levels[0 … level − 1], in that order. */
void pairwise_merge_floats(float *levels, /* (level + 1, stride) */
                           size_t stride, size_t level, size_t count);

/* log2 of a power of two. */
size_t pairwise_depth(size_t count);

#endif
