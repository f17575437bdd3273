/*
 * nn/ranks_mpi.c — a rank_group over MPI_COMM_WORLD: the sums by recursive doubling in pieces
 * of bounded size, the gather by MPI_Allgather. See nn/ranks_mpi.h for what is exchanged and
 * nn/ranks.h for why this order of additions gives the same bits for any number of ranks.
 * Compiled only by `make MPI=1`.
 */
#include "ranks_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"

typedef struct ranks_mpi_context {
    void *received;             /* (RANKS_MPI_PIECE_BYTES) the partner's piece of a sum */
    size_t piece_bytes;         /* the largest piece of a sum, at most RANKS_MPI_PIECE_BYTES */
    size_t gather_piece_floats; /* the largest piece of a gather, per rank: at most INT_MAX */
    MPI_Errhandler on_error;    /* print the rank and the reason, then end the job */
    rank_traffic traffic;       /* what the exchanges cost (group->traffic) */
} ranks_mpi_context;

/* Counts one exchange that started at `start` (MPI_Wtime) and sent `bytes`. */
static void count_traffic(const rank_group *group, double start, double bytes)
{
    rank_traffic *traffic = group->traffic;
    traffic->seconds += MPI_Wtime() - start;
    traffic->bytes += bytes;
    traffic->exchanges += 1.0;
}

/* log2 K: the rounds of recursive doubling. */
static double doubling_rounds(const rank_group *group)
{
    double rounds = 0.0;
    int width;
    for (width = 1; width < group->size; width *= 2)
        rounds += 1.0;
    return rounds;
}

/* 1 once ranks_mpi_open has started MPI: ranks_mpi_close then finalizes it (MPI is one per
 * process, and so is this). */
static int ranks_mpi_started_mpi;

/* ---- errors inside MPI: the reason with the rank, then the whole job ends ---- */

static void ranks_mpi_on_error(MPI_Comm *comm, int *code, ...)
{
    char reason[MPI_MAX_ERROR_STRING];
    int length = 0, rank = -1;
    if (MPI_Error_string(*code, reason, &length) != MPI_SUCCESS)
        snprintf(reason, sizeof reason, "error code %d", *code);
    MPI_Comm_rank(*comm, &rank);
    fprintf(stderr, "simclr: rank %d: MPI error: %s\n", rank, reason);
    fflush(stderr);
    MPI_Abort(*comm, 1);
}

/* ---- the sums: recursive doubling (nn/ranks.h), one piece at a time ---- */

/* part += received, element by element: floats or doubles (the one place the type matters). */
static void add_floats(void *part, const void *received, int count)
{
    float *to = (float *)part;
    const float *from = (const float *)received;
    int i;
    for (i = 0; i < count; i++)
        to[i] = to[i] + from[i];
}

static void add_doubles(void *part, const void *received, int count)
{
    double *to = (double *)part;
    const double *from = (const double *)received;
    int i;
    for (i = 0; i < count; i++)
        to[i] = to[i] + from[i];
}

/* The sum of values (count elements of `size` bytes, MPI type `type`) over the ranks, a piece
 * at a time: at level l = 1, 2, 4, … < K, swap the piece with rank r xor l's and add the two;
 * both partners compute the same sum (a + b and b + a are the same bits). Every element goes
 * through the same levels in the same order whatever the piece it falls in, so the pieces
 * change the messages, never the bits. */
static void sum_in_pieces(const rank_group *group, void *values, size_t count, size_t size,
                          MPI_Datatype type, void (*add)(void *, const void *, int))
{
    const ranks_mpi_context *context = (const ranks_mpi_context *)group->context;
    const size_t piece = context->piece_bytes / size;
    const double began = MPI_Wtime();
    size_t start;
    int level;
    if (group->size < 2)
        return;
    for (start = 0; start < count; start += piece) {
        const int n = (int)(count - start < piece ? count - start : piece);
        char *part = (char *)values + start * size;
        for (level = 1; level < group->size; level <<= 1) {
            const int partner = group->rank ^ level;
            MPI_Sendrecv(part, n, type, partner, level, context->received, n, type, partner,
                         level, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            add(part, context->received, n);
        }
    }
    count_traffic(group, began, (double)count * (double)size * doubling_rounds(group));
}

static void ranks_mpi_sum_floats(const rank_group *group, float *values, /* (count) */
                                 size_t count)
{
    sum_in_pieces(group, values, count, sizeof(float), MPI_FLOAT, add_floats);
}

static void ranks_mpi_sum_doubles(const rank_group *group, double *values, /* (count) */
                                  size_t count)
{
    sum_in_pieces(group, values, count, sizeof(double), MPI_DOUBLE, add_doubles);
}

/* ---- the gather ---- */

/* all (K, count) := every rank's mine (count) in rank order. `mine` may be this rank's own row
 * of `all` (all + rank × count): it is then sent in place. Beyond gather_piece_floats per rank
 * the rows go in column pieces: a piece of rank r lands at all + r × count + start, through a
 * datatype of n floats whose extent is a whole row, so every MPI count stays an int. */
static void ranks_mpi_gather_floats(const rank_group *group, float *all, /* (K, count) */
                                    const float *mine,                   /* (count) */
                                    size_t count)
{
    const ranks_mpi_context *context = (const ranks_mpi_context *)group->context;
    const int in_place = mine == all + (size_t)group->rank * count;
    const double began = MPI_Wtime();
    size_t start;
    if (count <= context->gather_piece_floats) {
        MPI_Allgather(in_place ? MPI_IN_PLACE : (const void *)mine, (int)count, MPI_FLOAT, all,
                      (int)count, MPI_FLOAT, MPI_COMM_WORLD);
        count_traffic(group, began, (double)count * sizeof(float) * (group->size - 1));
        return;
    }
    for (start = 0; start < count; start += context->gather_piece_floats) {
        const size_t rest = count - start;
        const size_t most = context->gather_piece_floats;
        const int n = (int)(rest < most ? rest : most);
        MPI_Datatype piece, row_spaced;
        MPI_Type_contiguous(n, MPI_FLOAT, &piece);
        MPI_Type_create_resized(piece, 0, (MPI_Aint)(count * sizeof(float)), &row_spaced);
        MPI_Type_commit(&row_spaced);
        MPI_Allgather(in_place ? MPI_IN_PLACE : (const void *)(mine + start), n, MPI_FLOAT,
                      all + start, 1, row_spaced, MPI_COMM_WORLD);
        MPI_Type_free(&row_spaced);
        MPI_Type_free(&piece);
    }
    count_traffic(group, began, (double)count * sizeof(float) * (group->size - 1));
}

/* ---- open, close, abort ---- */

/* The checks every rank makes alike (the size, the thread level), then the buffer. */
static int ranks_mpi_start(rank_group *group, int provided, simclr_error *err)
{
    ranks_mpi_context *context;
#ifdef _OPENMP
    if (provided < MPI_THREAD_FUNNELED)
        return simclr_fail(err,
                           "MPI: the library offers thread level %d, below MPI_THREAD_FUNNELED "
                           "which an OpenMP build needs (build with OPENMP=0, or use an MPI "
                           "built with thread support)",
                           provided);
#else
    (void)provided;
#endif
    if (group->size < 1 || (group->size & (group->size - 1)) != 0)
        return simclr_fail(err,
                           "MPI: %d processes; data-parallel training needs a power of two "
                           "(1, 2, 4, 8, ...) so that the sums form a balanced tree",
                           group->size);
    context = (ranks_mpi_context *)simclr_calloc(1, sizeof *context, "MPI ranks", err);
    if (context == NULL)
        return SIMCLR_FAILED;
    context->received = simclr_calloc(1, RANKS_MPI_PIECE_BYTES, "MPI receive buffer", err);
    if (context->received == NULL) {
        simclr_free(context);
        return SIMCLR_FAILED;
    }
    context->piece_bytes = RANKS_MPI_PIECE_BYTES;
    context->gather_piece_floats = INT_MAX;
    MPI_Comm_create_errhandler(ranks_mpi_on_error, &context->on_error);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, context->on_error);
    group->context = context;
    group->traffic = &context->traffic;
    return SIMCLR_OK;
}

int ranks_mpi_open(rank_group *group, int *argc, char ***argv, simclr_error *err)
{
    int initialized = 0, provided = MPI_THREAD_SINGLE, rank = 0, size = 1;
    int status, worst = SIMCLR_OK;
    memset(group, 0, sizeof *group);
    group->size = 1;
    MPI_Initialized(&initialized);
    if (initialized) {
        MPI_Query_thread(&provided); /* the program started MPI itself: it also ends it */
    } else {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return simclr_fail(err, "MPI: MPI_Init_thread failed");
        ranks_mpi_started_mpi = 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    group->rank = rank;
    group->size = size;
    status = ranks_mpi_start(group, provided, err);
    /* every rank fails if one does: none must go on to wait for it in an exchange */
    MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (worst == SIMCLR_OK) {
        group->sum_floats = ranks_mpi_sum_floats;
        group->sum_doubles = ranks_mpi_sum_doubles;
        group->gather_floats = ranks_mpi_gather_floats;
        return SIMCLR_OK;
    }
    if (status == SIMCLR_OK)
        simclr_fail(err, "MPI: another rank could not start (see its message)");
    return SIMCLR_FAILED;
}

/* The barrier first: a rank that printed why the group did not open has done so before any
 * rank ends (mpirun ends the job, unflushed output and all, when the first rank exits
 * non-zero). */
void ranks_mpi_close(rank_group *group)
{
    ranks_mpi_context *context = (ranks_mpi_context *)group->context;
    int finalized = 1;
    MPI_Finalized(&finalized);
    if (!finalized && (context != NULL || ranks_mpi_started_mpi)) {
        MPI_Barrier(MPI_COMM_WORLD);
        if (context != NULL) {
            MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
            MPI_Errhandler_free(&context->on_error);
        }
        if (ranks_mpi_started_mpi) {
            MPI_Finalize();
            ranks_mpi_started_mpi = 0;
        }
    }
    if (context != NULL) {
        simclr_free(context->received);
        simclr_free(context);
    }
    memset(group, 0, sizeof *group);
}

void ranks_mpi_abort(const rank_group *group, int status)
{
    (void)group;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    exit(status); /* MPI_Abort does not return; in case an MPI library's does */
}

int ranks_mpi_set_piece_bytes(rank_group *group, size_t bytes)
{
    ranks_mpi_context *context = (ranks_mpi_context *)group->context;
    if (context == NULL || bytes < 8 || bytes % 8 != 0 || bytes > RANKS_MPI_PIECE_BYTES)
        return SIMCLR_FAILED;
    context->piece_bytes = bytes;
    context->gather_piece_floats = bytes / sizeof(float);
    return SIMCLR_OK;
}
