/*
 * tests/cortex_m/arena.c — the static arena of arena.h: a first-fit allocator over one array.
 *
 * The array is a sequence of blocks, each a header (its size in bytes, header included, and
 * whether it is in use) followed by its memory; sizes are multiples of 8, so every block starts
 * 8-byte aligned. Allocation walks the blocks from the start, merging each free block with the
 * free blocks after it, takes the first that is large enough and splits off the rest when it
 * could hold another block. Freeing marks the block free (merged on the next walk). A few
 * hundred blocks at most live at once in the harness, so the walk is short.
 */
#include "arena.h"

#include <stdint.h>
#include <string.h>

typedef struct arena_header {
    size_t size;   /* bytes of the block, this header included; a multiple of 8 */
    size_t in_use; /* 1 in use, 0 free */
} arena_header;

#define ARENA_ALIGN 8
#define ARENA_HEADER_BYTES ((sizeof(arena_header) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

static union { /* the arena, aligned as its widest blocks need */
    unsigned char bytes[ARENA_BYTES];
    double alignment;
} arena;
static int arena_ready = 0;
static size_t bytes_in_use = 0, bytes_high_water = 0;

static arena_header *block_at(size_t offset)
{
    return (arena_header *)(void *)(arena.bytes + offset);
}

void *arena_calloc(size_t count, size_t size)
{
    size_t offset = 0, need;
    if (size != 0 && count > ((size_t)-1 - 2 * ARENA_HEADER_BYTES) / size)
        return NULL;
    need = (count * size + ARENA_HEADER_BYTES + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (!arena_ready) { /* one free block: the whole arena */
        block_at(0)->size = ARENA_BYTES / ARENA_ALIGN * ARENA_ALIGN;
        block_at(0)->in_use = 0;
        arena_ready = 1;
    }
    while (offset < ARENA_BYTES / ARENA_ALIGN * ARENA_ALIGN) {
        arena_header *block = block_at(offset);
        if (!block->in_use) {
            while (offset + block->size < ARENA_BYTES / ARENA_ALIGN * ARENA_ALIGN &&
                   !block_at(offset + block->size)->in_use) /* merge the free blocks after it */
                block->size += block_at(offset + block->size)->size;
            if (block->size >= need) {
                if (block->size - need >= ARENA_HEADER_BYTES + ARENA_ALIGN) { /* split */
                    arena_header *rest = block_at(offset + need);
                    rest->size = block->size - need;
                    rest->in_use = 0;
                    block->size = need;
                }
                block->in_use = 1;
                bytes_in_use += block->size;
                if (bytes_in_use > bytes_high_water)
                    bytes_high_water = bytes_in_use;
                memset(arena.bytes + offset + ARENA_HEADER_BYTES, 0,
                       block->size - ARENA_HEADER_BYTES);
                return arena.bytes + offset + ARENA_HEADER_BYTES;
            }
        }
        offset += block->size;
    }
    return NULL;
}

void arena_free(void *pointer)
{
    arena_header *block;
    if (pointer == NULL)
        return;
    block = (arena_header *)(void *)((unsigned char *)pointer - ARENA_HEADER_BYTES);
    block->in_use = 0;
    bytes_in_use -= block->size;
}

size_t arena_high_water(void)
{
    return bytes_high_water;
}

size_t arena_in_use(void)
{
    return bytes_in_use;
}

void arena_reset_high_water(void)
{
    bytes_high_water = bytes_in_use;
}
