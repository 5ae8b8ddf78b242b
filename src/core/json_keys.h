/*
 * A cache of rendered object keys for writers that serialize many records
 * of the same shape, such as the rows of one CSV batch, whose records share
 * their key strings.
 *
 * Slot i remembers the key of member i of the last record (its pointer and
 * length) and its rendered text `"key":`. A member whose key has the same
 * pointer and length is the same string as long as the memory it points
 * into is not reused, so the cache must be cleared whenever that can
 * happen: at the start of every batch, before the batch arena is reset.
 */
#ifndef AGORA_CORE_JSON_KEYS_H
#define AGORA_CORE_JSON_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "agora/value.h"

#define CORE_KEY_SLOTS 64
#define CORE_KEY_TEXT 48 /* rendered `"key":`, so keys up to 45 bytes */

typedef struct core_key_slot {
    const char *ptr; /* NULL = empty */
    size_t len;
    unsigned char text_len;
    char text[CORE_KEY_TEXT];
} core_key_slot;

typedef struct core_json_keys {
    core_key_slot slots[CORE_KEY_SLOTS];
} core_json_keys;

/* Empties every slot. */
void core_json_keys_clear(core_json_keys *keys);

/*
 * Appends value as agora_json_write does (the same bytes), taking the keys
 * of a top-level object from keys where they match. Returns 0 or
 * AGORA_ENOMEM.
 */
int core_json_write_record(agora_buf *buf, const agora_value *value,
                           core_json_keys *keys);

/*
 * Rows of string values, for the CSV source. The object
 * {"names[0]":"value 0",...} has count string values laid out in text one
 * after the other, each followed by one separator byte: value i spans
 * [first_start, ends[0]) for i = 0 and [ends[i-1] + 1, ends[i]) after it.
 * text_len is the number of readable bytes at text; the renderer reads up
 * to 16 bytes from a value's start when they are there. The bytes written
 * are those core_json_write_record gives for the same record. names[i] must
 * keep its address while keys is in use.
 */

/* What the names add to the bound below; depends on the names only. */
size_t core_json_string_row_names_bound(const agora_string *names,
                                        size_t count);

/*
 * Bytes of room core_json_render_string_row needs for a row whose values
 * hold text_bytes bytes in all (separators included or not), plus one byte
 * the caller may add, such as a line break.
 */
size_t core_json_string_row_bound(size_t names_bound, size_t text_bytes);

/*
 * Writes the row's object at dest, which has core_json_string_row_bound
 * bytes of room, and returns the number of bytes of the object (no NUL).
 */
size_t core_json_render_string_row(char *dest, core_json_keys *keys,
                                   const agora_string *names,
                                   const char *text, size_t text_len,
                                   size_t first_start, const size_t *ends,
                                   size_t count);

/* The same row appended to buf, NUL-terminated. Returns 0 or AGORA_ENOMEM. */
int core_json_write_string_row(agora_buf *buf, core_json_keys *keys,
                               const agora_string *names, const char *text,
                               size_t text_len, size_t first_start,
                               const size_t *ends, size_t count);

#endif
