/*
 * tests/mpi/test_ranks.c — the MPI rank_group (nn/ranks_mpi.c) on its own, without training:
 *
 *     make MPI=1 tests/mpi/test_ranks
 *     mpirun -np K tests/mpi/test_ranks      K = 1, 2, 4 (8, …): exit 0; K = 3: refused, exit 1
 *     mpirun -np K tests/mpi/test_ranks --loop S     sums for S seconds (for killing a rank)
 *     mpirun -np K tests/mpi/test_ranks --abort      rank K − 1 calls ranks_mpi_abort(…, 3)
 *                                                    while the others wait in a sum
 *     mpirun -np K tests/mpi/test_ranks --mpi-error  rank 0 sends to a rank that does not
 *                                                    exist: the group's error handler prints
 *                                                    "simclr: rank 0: MPI error: …", exit 1
 *
 * Every rank fills its arrays from a generator seeded by the rank (and by the case), with
 * values of magnitudes 2^-24 … 2^24 and both signs, so that a different order of additions
 * almost surely changes the rounded sum. Any rank can make any rank's input again, so each
 * rank computes the expected results itself and checks, bit for bit:
 *   1. sum_floats and sum_doubles equal the balanced pairwise tree over the ranks' inputs in
 *      rank order, ((x0 + x1) + (x2 + x3)) for K = 4, computed by a plain recursive sum;
 *   2. the design of nn/ranks.h end to end: G = 8 shards, rank r combining its G/K shards with
 *      pairwise_level and pairwise_merge_floats, then sum_floats over the ranks, equals the
 *      tree over all 8 shards: the same bits for every K dividing 8;
 *   3. gather_floats puts every rank's row in rank order, also in place (mine inside all);
 *   4. every rank holds the same bits: the results gathered, compared row against row 0;
 * each for arrays of 0, 1, 7, 1000 elements and one of several pieces (3 MiB + 20 bytes of
 * floats, 4 pieces of RANKS_MPI_PIECE_BYTES), then again with pieces of 24 bytes (6 floats, 3
 * doubles) so that 1000 elements cross 167 piece boundaries and the gathers are pieced too.
 * Exits 0 when every rank passed every check, 1 otherwise (the verdict is agreed over MPI).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/error.h"
#include "nn/ranks.h"
#include "nn/ranks_mpi.h"

#define SHARDS 8 /* G */

static int failures;
static int checks;

/* ---- inputs: a 64-bit LCG (Knuth's MMIX constants) per (case, owner) ---- */

static uint64_t next_state(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return *state >> 11; /* the 53 high bits */
}

/* A value (−1, 1) × 2^e, e in −24 … 24, sign random. */
static double lcg_value(uint64_t *state)
{
    const double unit = (double)next_state(state) / 9007199254740992.0; /* [0, 1) */
    const int exponent = (int)(next_state(state) % 49) - 24;
    const double sign = next_state(state) & 1u ? -1.0 : 1.0;
    return sign * (0.5 + 0.5 * unit) * (exponent >= 0 ? (double)(1ul << exponent)
                                                       : 1.0 / (double)(1ul << -exponent));
}

static uint64_t seed_of(int test_case, int owner)
{
    return 0x9e3779b97f4a7c15u * (uint64_t)(test_case + 1) +
           0xbf58476d1ce4e5b9u * (uint64_t)(owner + 1);
}

static void fill_floats(float *values, size_t count, int test_case, int owner)
{
    uint64_t state = seed_of(test_case, owner);
    size_t i;
    for (i = 0; i < count; i++)
        values[i] = (float)lcg_value(&state);
}

static void fill_doubles(double *values, size_t count, int test_case, int owner)
{
    uint64_t state = seed_of(test_case, owner);
    size_t i;
    for (i = 0; i < count; i++)
        values[i] = lcg_value(&state);
}

/* ---- the expected sums: the balanced pairwise tree over owners first … first + n − 1 ---- */

static float tree_float(int first, int n, size_t i, const float *cache, size_t count)
{
    if (n == 1)
        return cache[(size_t)first * count + i];
    return tree_float(first, n / 2, i, cache, count) +
           tree_float(first + n / 2, n / 2, i, cache, count);
}

static double tree_double(int first, int n, size_t i, const double *cache, size_t count)
{
    if (n == 1)
        return cache[(size_t)first * count + i];
    return tree_double(first, n / 2, i, cache, count) +
           tree_double(first + n / 2, n / 2, i, cache, count);
}

/* ---- checking ---- */

static void *allocate(size_t count, size_t size)
{
    void *block = calloc(count == 0 ? 1 : count, size);
    if (block == NULL) {
        fprintf(stderr, "test_ranks: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return block;
}

static void fail(const rank_group *group, const char *what, size_t count, size_t i, double got,
                 double expected)
{
    if (failures < 10)
        fprintf(stderr,
                "test_ranks: rank %d of %d: %s (count %lu): element %lu is %.17g, expected %.17g\n",
                group->rank, group->size, what, (unsigned long)count, (unsigned long)i, got,
                expected);
    failures++;
}

static void expect_float_bits(const rank_group *group, const char *what, const float *got,
                              const float *expected, size_t count)
{
    size_t i;
    checks++;
    for (i = 0; i < count; i++)
        if (memcmp(&got[i], &expected[i], sizeof(float)) != 0) {
            fail(group, what, count, i, got[i], expected[i]);
            return;
        }
}

static void expect_double_bits(const rank_group *group, const char *what, const double *got,
                               const double *expected, size_t count)
{
    size_t i;
    checks++;
    for (i = 0; i < count; i++)
        if (memcmp(&got[i], &expected[i], sizeof(double)) != 0) {
            fail(group, what, count, i, got[i], expected[i]);
            return;
        }
}

/* Check 4: every rank's `result` (count floats, or count × 2 for doubles as float pairs) the
 * same bits as rank 0's, through the group's own gather (its correctness is check 3). */
static void expect_same_on_every_rank(const rank_group *group, const char *what,
                                      const void *result, size_t bytes)
{
    const size_t count = bytes / sizeof(float);
    float *all = (float *)allocate((size_t)group->size * count, sizeof(float));
    int r;
    group->gather_floats(group, all, (const float *)result, count);
    checks++;
    for (r = 1; r < group->size; r++)
        if (memcmp(all, all + (size_t)r * count, count * sizeof(float)) != 0) {
            if (group->rank == 0)
                fprintf(stderr, "test_ranks: %s (count %lu): rank %d's bits differ from rank 0's\n",
                        what, (unsigned long)count, r);
            failures++;
            break;
        }
    free(all);
}

/* ---- the cases ---- */

/* Check 1 (and 4) for floats and doubles of `count` elements. */
static void check_sums(const rank_group *group, int test_case, size_t count)
{
    float *floats = (float *)allocate(count, sizeof(float));
    float *float_inputs = (float *)allocate((size_t)group->size * count, sizeof(float));
    float *float_expected = (float *)allocate(count, sizeof(float));
    double *doubles = (double *)allocate(count, sizeof(double));
    double *double_inputs = (double *)allocate((size_t)group->size * count, sizeof(double));
    double *double_expected = (double *)allocate(count, sizeof(double));
    size_t i;
    int owner;
    for (owner = 0; owner < group->size; owner++) {
        fill_floats(float_inputs + (size_t)owner * count, count, test_case, owner);
        fill_doubles(double_inputs + (size_t)owner * count, count, test_case + 1000, owner);
    }
    for (i = 0; i < count; i++) {
        float_expected[i] = tree_float(0, group->size, i, float_inputs, count);
        double_expected[i] = tree_double(0, group->size, i, double_inputs, count);
    }
    fill_floats(floats, count, test_case, group->rank);
    fill_doubles(doubles, count, test_case + 1000, group->rank);
    group->sum_floats(group, floats, count);
    group->sum_doubles(group, doubles, count);
    expect_float_bits(group, "sum_floats against the pairwise tree", floats, float_expected, count);
    expect_double_bits(group, "sum_doubles against the pairwise tree", doubles, double_expected,
                       count);
    expect_same_on_every_rank(group, "sum_floats", floats, count * sizeof(float));
    expect_same_on_every_rank(group, "sum_doubles", doubles, count * sizeof(double));
    free(floats);
    free(float_inputs);
    free(float_expected);
    free(doubles);
    free(double_inputs);
    free(double_expected);
}

/* Check 2: SHARDS shards, this rank's SHARDS / K through the stack of levels of nn/ranks.h,
 * then sum_floats; one process's tree over all shards is the expected result. */
static void check_shards(const rank_group *group, int test_case, size_t count)
{
    const int mine = SHARDS / group->size;
    const size_t depth = pairwise_depth((size_t)mine);
    float *levels = (float *)allocate((depth + 1) * count, sizeof(float));
    float *shard_inputs = (float *)allocate((size_t)SHARDS * count, sizeof(float));
    float *expected = (float *)allocate(count, sizeof(float));
    size_t i;
    int k;
    for (k = 0; k < SHARDS; k++)
        fill_floats(shard_inputs + (size_t)k * count, count, test_case, k);
    for (i = 0; i < count; i++)
        expected[i] = tree_float(0, SHARDS, i, shard_inputs, count);
    for (k = 0; k < mine; k++) {
        const size_t level = pairwise_level((size_t)k);
        memcpy(levels + level * count, shard_inputs + (size_t)(group->rank * mine + k) * count,
               count * sizeof(float));
        pairwise_merge_floats(levels, count, level, count);
    }
    group->sum_floats(group, levels + depth * count, count);
    expect_float_bits(group, "8 shards: pairwise_merge_floats, then sum_floats",
                      levels + depth * count, expected, count);
    free(levels);
    free(shard_inputs);
    free(expected);
}

/* Check 3: rows in rank order, from a separate array and in place. */
static void check_gather(const rank_group *group, int test_case, size_t count)
{
    float *all = (float *)allocate((size_t)group->size * count, sizeof(float));
    float *expected = (float *)allocate((size_t)group->size * count, sizeof(float));
    float *mine = (float *)allocate(count, sizeof(float));
    int owner;
    for (owner = 0; owner < group->size; owner++)
        fill_floats(expected + (size_t)owner * count, count, test_case, owner);
    fill_floats(mine, count, test_case, group->rank);
    group->gather_floats(group, all, mine, count);
    expect_float_bits(group, "gather_floats", all, expected, (size_t)group->size * count);
    memset(all, 0, (size_t)group->size * count * sizeof(float));
    memcpy(all + (size_t)group->rank * count, mine, count * sizeof(float));
    group->gather_floats(group, all, all + (size_t)group->rank * count, count);
    expect_float_bits(group, "gather_floats in place", all, expected, (size_t)group->size * count);
    free(all);
    free(expected);
    free(mine);
}

static void check_all(const rank_group *group, int first_case, int pieces_too)
{
    static const size_t counts[] = {0, 1, 7, 1000};
    const size_t several_pieces = 3 * (RANKS_MPI_PIECE_BYTES / sizeof(float)) + 5;
    size_t c;
    for (c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        check_sums(group, first_case + (int)c, counts[c]);
        check_shards(group, first_case + 10 + (int)c, counts[c]);
        check_gather(group, first_case + 20 + (int)c, counts[c]);
    }
    if (pieces_too) {
        check_sums(group, first_case + 30, several_pieces);
        check_shards(group, first_case + 31, several_pieces);
        check_gather(group, first_case + 32, several_pieces);
    }
}

/* --loop: sums of 1000 floats for `seconds` (every rank stops at the same step: rank 0's
 * clock decides, its verdict summed in with the values), then exit 0. */
static int loop_for(const rank_group *group, double seconds)
{
    const double start = MPI_Wtime();
    float values[1001];
    for (;;) {
        fill_floats(values, 1000, 7, group->rank);
        values[1000] = group->rank == 0 && MPI_Wtime() - start > seconds ? 1.0f : 0.0f;
        group->sum_floats(group, values, 1001);
        if (values[1000] > 0.0f)
            return 0;
    }
}

/* --abort: the last rank ends the job while the others wait for it in a sum. */
static int abort_from_last_rank(const rank_group *group)
{
    float values[1000];
    fill_floats(values, 1000, 8, group->rank);
    if (group->rank == group->size - 1)
        ranks_mpi_abort(group, 3);
    group->sum_floats(group, values, 1000);
    fprintf(stderr, "test_ranks: rank %d: the sum returned after another rank's abort\n",
            group->rank);
    return 0; /* exit 0: the check fails */
}

/* --mpi-error: an MPI call that fails (a destination beyond the last rank). */
static int mpi_error_on_rank_0(const rank_group *group)
{
    float value = 1.0f;
    if (group->rank == 0)
        MPI_Send(&value, 1, MPI_FLOAT, group->size + 5, 0, MPI_COMM_WORLD);
    group->sum_floats(group, &value, 1);
    fprintf(stderr, "test_ranks: rank %d: went on after an MPI error\n", group->rank);
    return 0; /* exit 0: the check fails */
}

int main(int argc, char **argv)
{
    rank_group group;
    simclr_error err;
    int any_failed = 0;
    if (ranks_mpi_open(&group, &argc, &argv, &err) != SIMCLR_OK) {
        if (group.rank == 0)
            fprintf(stderr, "test_ranks: %s\n", err.message);
        ranks_mpi_close(&group);
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "--loop") == 0) {
        const int status = loop_for(&group, atof(argv[2]));
        ranks_mpi_close(&group);
        return status;
    }
    if (argc == 2 && strcmp(argv[1], "--abort") == 0)
        return abort_from_last_rank(&group);
    if (argc == 2 && strcmp(argv[1], "--mpi-error") == 0)
        return mpi_error_on_rank_0(&group);
    if (SHARDS % group.size != 0) {
        if (group.rank == 0)
            fprintf(stderr, "test_ranks: %d ranks do not divide %d shards\n", group.size, SHARDS);
        ranks_mpi_close(&group);
        return 1;
    }
    check_all(&group, 0, 1);
    if (ranks_mpi_set_piece_bytes(&group, 24) != SIMCLR_OK ||
        ranks_mpi_set_piece_bytes(&group, 4) == SIMCLR_OK ||
        ranks_mpi_set_piece_bytes(&group, 2 * RANKS_MPI_PIECE_BYTES) == SIMCLR_OK) {
        fprintf(stderr,
                "test_ranks: rank %d: ranks_mpi_set_piece_bytes took or refused the wrong sizes\n",
                group.rank);
        failures++;
    }
    check_all(&group, 100, 0);
    MPI_Allreduce(&failures, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (group.rank == 0)
        printf("test_ranks: %d rank%s: %s (%d checks on each rank)\n", group.size,
               group.size == 1 ? "" : "s", any_failed ? "FAILED" : "every check passed", checks);
    ranks_mpi_close(&group);
    return any_failed ? 1 : 0;
}
