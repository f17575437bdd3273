/*
 * nn/memory.c — counted, overflow-checked allocation. See nn/memory.h.
 */
#include "memory.h"

#include "size_arithmetic.h"

#include <stdint.h>
#include <string.h>

static unsigned long allocation_count = 0;

/* Every block starts on a SIMCLR_ALIGNMENT-byte boundary (a cache line, and the width of the
 * widest vector loads), whatever the underlying allocator guarantees: the block is allocated
 * SIMCLR_ALIGNMENT + sizeof(void *) bytes larger, and the pointer the allocator returned is kept
 * just below the aligned start for simclr_free. */
#define SIMCLR_ALIGNMENT 64

void *simclr_calloc(size_t count, size_t size, const char *what, simclr_error *err)
{
    unsigned char *raw, *aligned;
    size_t bytes, padded;
    if (size_multiply_checked(count, size, &bytes) != SIMCLR_OK ||
        size_add_checked(bytes, SIMCLR_ALIGNMENT + sizeof(void *), &padded) != SIMCLR_OK) {
        simclr_fail(err, "%s: %lu × %lu bytes overflows size_t", what, (unsigned long)count,
                    (unsigned long)size);
        return NULL;
    }
    raw = (unsigned char *)SIMCLR_CALLOC(padded, 1);
    if (raw == NULL) {
        simclr_fail(err, "%s: out of memory allocating %lu bytes", what, (unsigned long)bytes);
        return NULL;
    }
    aligned = raw + sizeof(void *);
    aligned += (SIMCLR_ALIGNMENT - (size_t)((uintptr_t)aligned % SIMCLR_ALIGNMENT)) % SIMCLR_ALIGNMENT;
    memcpy(aligned - sizeof(void *), &raw, sizeof(void *));
#ifdef _OPENMP
#pragma omp atomic /* image folders decode (and allocate) in parallel loops */
#endif
    allocation_count++;
    return aligned;
}

void simclr_free(void *pointer)
{
    void *raw;
    if (pointer == NULL)
        return;
    memcpy(&raw, (unsigned char *)pointer - sizeof(void *), sizeof(void *));
    SIMCLR_FREE(raw);
}

unsigned long simclr_allocation_count(void)
{
    return allocation_count;
}
