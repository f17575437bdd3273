/*
 * nn/memory.h — every heap allocation of the library, counted.
 *
 * The library allocates only when something is created (a tensor, a model, a plan of
 * activations, an optimiser's state); a training step allocates nothing. (Reading an image
 * folder is the exception by nature: each image is decoded into memory of its own size when a
 * batch needs it, in parallel, so a replacement allocator must be thread-safe.) To make that checkable,
 * all allocations go through simclr_calloc, which counts them: a test reads
 * simclr_allocation_count() before and after a step and expects no change.
 *
 * The underlying allocator is SIMCLR_CALLOC / SIMCLR_FREE, replaceable all-or-nothing by
 * defining both before building the library (as stb does); by default calloc and free. The
 * counter is process-wide and only informative; it is never used to make a decision, so two
 * models in one process do not disturb each other.
 *
 * Replacing the allocator (a static arena on a microcontroller without a heap, a pool, a
 * tracking allocator): build the library with SIMCLR_ALLOCATOR_HEADER naming a header, e.g.
 *     make CFLAGS='-DSIMCLR_ALLOCATOR_HEADER=\"my_arena.h\" -I/path/to/it'
 * (the quotes escaped once more because make hands CFLAGS to the shell; a compiler called
 * directly takes -DSIMCLR_ALLOCATOR_HEADER='"my_arena.h"'), which this header includes first.
 * That header defines SIMCLR_CALLOC(count, size) (zero-filled memory or NULL, like calloc) and
 * SIMCLR_FREE(pointer) (NULL never passed), and declares what they call. The library asks for
 * every block through simclr_calloc, which adds 64 + sizeof(void *) bytes to align the block
 * to 64, so the replacement needs no alignment beyond void *'s. Frees come in any order, so a
 * pure bump allocator serves only a program that never frees (or frees everything at once);
 * tests/cortex_m/arena.c is a first-fit arena over a static array that reuses freed blocks and
 * records its high-water mark.
 */
#ifndef SIMCLR_NN_MEMORY_H
#define SIMCLR_NN_MEMORY_H

#include <stddef.h>

#include "error.h"

#ifdef SIMCLR_ALLOCATOR_HEADER
#include SIMCLR_ALLOCATOR_HEADER
#endif

#ifndef SIMCLR_CALLOC
#include <stdlib.h>
#define SIMCLR_CALLOC(count, size) calloc((count), (size))
#define SIMCLR_FREE(pointer) free(pointer)
#endif

/* Zero-filled count × size bytes (checked for overflow), or NULL with the reason in err. */
void *simclr_calloc(size_t count, size_t size, const char *what, simclr_error *err);

/* Frees what simclr_calloc returned; NULL is fine. */
void simclr_free(void *pointer);

/* How many allocations simclr_calloc has made in this process so far. */
unsigned long simclr_allocation_count(void);

#endif
