/*
 * tests/cortex_m/arena.h — a static arena as the library's allocator, for the Cortex-M harness
 * (tests/cortex_m/harness.c), which has no heap of its own to rely on.
 *
 * The library is built with -DSIMCLR_ALLOCATOR_HEADER='"tests/cortex_m/arena.h"' (the hook of
 * nn/memory.h): every block it allocates then comes from one static array of ARENA_BYTES
 * (tests/cortex_m/arena.c), first fit, freed blocks merged with free neighbours and reused. The
 * harness reads the high-water mark (the most bytes ever in use, headers included) to report the
 * RAM a run needs. Not thread-safe: the harness builds without OpenMP.
 */
#ifndef SIMCLR_TESTS_CORTEX_M_ARENA_H
#define SIMCLR_TESTS_CORTEX_M_ARENA_H

#include <stddef.h>

/* The arena's size in bytes: 8 MiB unless the build says otherwise (-DARENA_BYTES=...). */
#ifndef ARENA_BYTES
#define ARENA_BYTES (8u << 20)
#endif

/* count × size zero-filled bytes (8-byte aligned), or NULL when the arena has no room. */
void *arena_calloc(size_t count, size_t size);
/* Returns a block of arena_calloc to the arena; NULL is ignored. */
void arena_free(void *pointer);
/* The most bytes ever in use at once (block headers included), and the bytes in use now. */
size_t arena_high_water(void);
size_t arena_in_use(void);
/* Starts a new high-water mark from the bytes in use now (to measure one phase of a run). */
void arena_reset_high_water(void);

#define SIMCLR_CALLOC(count, size) arena_calloc((count), (size))
#define SIMCLR_FREE(pointer) arena_free(pointer)

#endif
