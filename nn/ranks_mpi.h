/*
 * nn/ranks_mpi.h — a rank_group (nn/ranks.h) over MPI: every process of the job
 * (MPI_COMM_WORLD) is one rank. Built only by `make MPI=1` (compiled with mpicc, SIMCLR_MPI
 * defined); the default build has neither this file's functions nor any MPI symbol.
 *
 * What is exchanged, and how:
 *   sum_floats, sum_doubles  the three batch sums of a training step (convolutions' weight
 *                            gradients, batch norms' Σx, Σx² forward and Σdy, Σdy·x̂ backward),
 *                            each already summed over the rank's own shards by the pairwise
 *                            tree; the ranks finish the tree by recursive doubling: at level
 *                            l = 1, 2, 4, … < K, rank r swaps its array with rank r xor l
 *                            (MPI_Sendrecv) and both set values[i] = values[i] + received[i].
 *                            Float addition is commutative, so the two partners get the same
 *                            bits, and after log2 K levels every rank holds the root of the
 *                            tree one process would have computed: the bits do not depend on
 *                            K (nn/ranks.h). MPI_Allreduce is not used: its order of additions
 *                            belongs to the MPI library and changes with K.
 *   gather_floats            rows every rank computes for its own images (the encoder's
 *                            outputs h), put together in rank order (MPI_Allgather), so every
 *                            rank then computes the head and the loss on the whole batch.
 *
 * Arrays travel in pieces of at most RANKS_MPI_PIECE_BYTES, received into one buffer of that
 * size allocated by ranks_mpi_open: a sum allocates nothing, however large its array (a
 * ResNet-50 weight gradient is 9.4 MB), and no MPI count exceeds INT_MAX whatever size_t
 * count it is given.
 *
 * The one part of the library that prints and ends the process: an error inside MPI, in an
 * exchange called from deep inside a layer, has no caller that could go on without the other
 * ranks (below).
 *
 * Only the thread that called ranks_mpi_open calls MPI (MPI_THREAD_FUNNELED): the layers call
 * these functions outside their OpenMP regions. An error inside MPI prints
 * "simclr: rank R: MPI error: …" and ends the whole job (MPI_Abort).
 *
 *     rank_group group;
 *     simclr_error err;
 *     if (ranks_mpi_open(&group, &argc, &argv, &err) != SIMCLR_OK) {
 *         if (group.rank == 0) fprintf(stderr, "simclr: %s\n", err.message);
 *         ranks_mpi_close(&group);
 *         return 1;
 *     }
 *     ... train with &group ...
 *     ranks_mpi_close(&group);
 */
#ifndef SIMCLR_NN_RANKS_MPI_H
#define SIMCLR_NN_RANKS_MPI_H

#include <stddef.h>

#include "error.h"
#include "ranks.h"

/* The largest piece of an array in one message, and the receive buffer's size (1 MiB). */
#define RANKS_MPI_PIECE_BYTES ((size_t)1 << 20)

/* Starts MPI (MPI_Init_thread with MPI_THREAD_FUNNELED; argc and argv as main got them, MPI
 * may remove its own arguments; a program that started MPI itself keeps it, and finalizes it
 * after ranks_mpi_close) and fills group: rank, size, the three functions, context
 * (the receive buffer); scratch and scratch_doubles are left NULL and 0 for the model to set.
 * Fails, with the reason in err, when the number of processes is not a power of two, when
 * the MPI library offers less than MPI_THREAD_FUNNELED to an OpenMP build, or when the buffer
 * cannot be allocated on any rank: every rank fails then, and group->rank and group->size
 * still say which process this is, so that the caller prints the reason once (rank 0) and
 * then calls ranks_mpi_close before it exits non-zero. Collective: every rank calls it. */
int ranks_mpi_open(rank_group *group, int *argc, char ***argv, simclr_error *err);

/* Waits for every rank (MPI_Barrier), finalizes MPI (if ranks_mpi_open started it) and frees
 * the buffer; group is emptied.
 * After a failed ranks_mpi_open too. Collective: every rank calls it. */
void ranks_mpi_close(rank_group *group);

/* Ends the whole job now, every rank, with exit status `status` (MPI_Abort): for an error on
 * one rank that the others cannot know of (a file that does not write), which would otherwise
 * leave them waiting in their next exchange. Does not return. */
void ranks_mpi_abort(const rank_group *group, int status);

/* For tests: pieces of `bytes` (a multiple of 8, at least 8, at most RANKS_MPI_PIECE_BYTES)
 * instead of RANKS_MPI_PIECE_BYTES, so small arrays cross many piece boundaries; gathers are
 * then pieced too (normally only beyond INT_MAX floats per rank). Every rank must set the
 * same. Returns SIMCLR_FAILED for a size out of range. */
int ranks_mpi_set_piece_bytes(rank_group *group, size_t bytes);

#endif
