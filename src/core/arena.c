/*
 * Bump allocator behind every record: memory comes from large blocks and is
 * released all at once by agora_arena_reset or agora_arena_free.
 */
#include <stdlib.h>
#include <string.h>

#include "core/arena_impl.h"

#define ARENA_DEFAULT_BLOCK (64 * 1024)


static core_arena_block *block_new(size_t size)
{
    core_arena_block *block;

    if (size > SIZE_MAX - sizeof(*block))
        return NULL;
    block = malloc(sizeof(*block) + size);
    if (block == NULL)
        return NULL;
    block->next = NULL;
    block->size = size;
    return block;
}

static void block_list_free(core_arena_block *block)
{
    while (block != NULL) {
        core_arena_block *next = block->next;
        free(block);
        block = next;
    }
}

agora_arena *agora_arena_new(size_t block_size)
{
    agora_arena *arena;

    if (block_size == 0)
        block_size = ARENA_DEFAULT_BLOCK;
    block_size = (block_size + 7) & ~(size_t)7;
    if (block_size == 0)
        return NULL;

    arena = calloc(1, sizeof(*arena));
    if (arena == NULL)
        return NULL;
    arena->first = block_new(block_size);
    if (arena->first == NULL) {
        free(arena);
        return NULL;
    }
    arena->block_size = block_size;
    arena->keep_bytes = CORE_ARENA_KEEP_BYTES;
    arena->current = arena->first;
    arena->next = arena->first->data;
    arena->end = arena->first->data + block_size;
    return arena;
}

void agora_arena_free(agora_arena *arena)
{
    if (arena == NULL)
        return;
    block_list_free(arena->first);
    block_list_free(arena->large);
    free(arena);
}

void agora_arena_reset(agora_arena *arena)
{
    size_t kept;
    core_arena_block *last;

    if (arena == NULL)
        return;
    kept = arena->first->size;
    last = arena->first;
    while (last->next != NULL && kept + last->next->size <= arena->keep_bytes) {
        kept += last->next->size;
        last = last->next;
    }
    block_list_free(last->next);
    last->next = NULL;
    block_list_free(arena->large);
    arena->large = NULL;
    arena->current = arena->first;
    arena->next = arena->first->data;
    arena->end = arena->first->data + arena->first->size;
    arena->used = 0;
}

/*
 * Requests larger than a quarter block get a block of their own, so one big
 * string does not waste the rest of the current block. Smaller ones open a
 * fresh standard block; the unused tail of the old one is abandoned.
 */
void *core_arena_alloc_slow(agora_arena *arena, size_t size)
{
    size_t rounded = (size + 7) & ~(size_t)7;
    core_arena_block *block;

    if (rounded < size)
        return NULL;

    if (rounded > arena->block_size / 4) {
        block = block_new(rounded);
        if (block == NULL)
            return NULL;
        block->next = arena->large;
        arena->large = block;
        arena->used += rounded;
        return block->data;
    }

    if (arena->current->next != NULL) {
        /* A block kept by the last reset: the chain after current holds
         * only such unused standard blocks. */
        block = arena->current->next;
    } else {
        block = block_new(arena->block_size);
        if (block == NULL)
            return NULL;
        arena->current->next = block;
    }
    arena->current = block;
    arena->next = block->data + rounded;
    arena->end = block->data + block->size;
    arena->used += rounded;
    return block->data;
}

void *agora_arena_alloc(agora_arena *arena, size_t size)
{
    return core_arena_alloc(arena, size);
}

char *agora_arena_strndup(agora_arena *arena, const char *s, size_t len)
{
    char *copy;

    if (len == SIZE_MAX)
        return NULL;
    copy = core_arena_alloc(arena, len + 1);
    if (copy == NULL)
        return NULL;
    if (len > 0)
        memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

size_t agora_arena_used(const agora_arena *arena)
{
    return arena == NULL ? 0 : arena->used;
}
