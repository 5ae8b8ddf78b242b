/*
 * Layout of agora_arena, shared by the files of src/core so that the JSON
 * parser can inline the common allocation path.
 */
#ifndef AGORA_CORE_ARENA_IMPL_H
#define AGORA_CORE_ARENA_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "agora/value.h"

/*
 * Bytes of standard blocks that a reset keeps by default. Reusing blocks
 * spares each batch the malloc, page faults and zeroing of fresh memory,
 * which took about a tenth of the JSONL record path in a profile. The cap
 * bounds what one unusually large batch leaves behind.
 */
#define CORE_ARENA_KEEP_BYTES ((size_t)8 << 20)

typedef struct core_arena_block {
    struct core_arena_block *next;
    size_t size; /* usable bytes in data */
    /* Keeps data 8-byte aligned whatever the header size is. */
    _Alignas(8) unsigned char data[];
} core_arena_block;

struct agora_arena {
    core_arena_block *first; /* kept by reset */
    core_arena_block *current;
    unsigned char *next; /* next free byte in current */
    unsigned char *end;  /* one past the last byte of current */
    core_arena_block *large; /* dedicated blocks of oversized allocations */
    size_t block_size;
    size_t keep_bytes; /* standard block bytes a reset keeps */
    size_t used; /* bytes handed out since creation or the last reset */
};

/* Sets the bytes of standard blocks that later resets keep (the first
 * block is always kept). */
static inline void core_arena_set_keep(agora_arena *arena, size_t bytes)
{
    arena->keep_bytes = bytes;
}

/* Slow path of core_arena_alloc: opens a new block or a dedicated one. */
void *core_arena_alloc_slow(agora_arena *arena, size_t size);

/* Same contract as agora_arena_alloc; inlined for the hot paths of src/core. */
static inline void *core_arena_alloc(agora_arena *arena, size_t size)
{
    size_t rounded = (size + 7) & ~(size_t)7;

    if (rounded >= size && (size_t)(arena->end - arena->next) >= rounded) {
        void *p = arena->next;
        arena->next += rounded;
        arena->used += rounded;
        return p;
    }
    return core_arena_alloc_slow(arena, size);
}

/*
 * Gives back the end of the arena's latest allocation, ptr of size bytes, so
 * that it keeps only new_size (at most size) bytes. Does nothing when ptr is
 * not the latest allocation of the current block, or lives in a block of
 * its own.
 */
static inline void core_arena_shrink(agora_arena *arena, void *ptr,
                                     size_t size, size_t new_size)
{
    size_t rounded = (size + 7) & ~(size_t)7;
    size_t new_rounded = (new_size + 7) & ~(size_t)7;

    if ((unsigned char *)ptr + rounded == arena->next &&
        new_rounded <= rounded) {
        arena->next = (unsigned char *)ptr + new_rounded;
        arena->used -= rounded - new_rounded;
    }
}

#endif
