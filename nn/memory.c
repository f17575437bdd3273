/*
 * nn/memory.c — counted, overflow-checked allocation. See nn/memory.h.
 */
#include "memory.h"

#include "tensor.h"

static unsigned long allocation_count = 0;

void *simclr_calloc(size_t count, size_t size, const char *what, simclr_error *err)
{
    void *pointer;
    size_t bytes;
    if (size_multiply_checked(count, size, &bytes) != SIMCLR_OK) {
        simclr_fail(err, "%s: %lu × %lu bytes overflows size_t", what, (unsigned long)count,
                    (unsigned long)size);
        return NULL;
    }
    pointer = SIMCLR_CALLOC(count > 0 ? count : 1, size > 0 ? size : 1);
    if (pointer == NULL) {
        simclr_fail(err, "%s: out of memory allocating %lu bytes", what, (unsigned long)bytes);
        return NULL;
    }
    allocation_count++;
    return pointer;
}

void simclr_free(void *pointer)
{
    if (pointer != NULL)
        SIMCLR_FREE(pointer);
}

unsigned long simclr_allocation_count(void)
{
    return allocation_count;
}
