/*
 * Records: JSON-like values that live in an arena.
 *
 * An arena hands out memory in large blocks and frees it all at once on
 * reset or free, so a batch of records costs no per-field malloc/free.
 * Values never own their memory: every pointer inside a value points into
 * the arena that built it (or into static storage). A value is valid until
 * its arena is reset or freed.
 *
 * Values are not modified in place once a pipeline stage has handed them on:
 * a middleware that changes a record builds a new value in the same arena
 * (sharing unchanged parts), so the original stays available for the DLQ.
 */
#ifndef AGORA_VALUE_H
#define AGORA_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agora/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Arena ------------------------------------------------------------- */

typedef struct agora_arena agora_arena;

/*
 * Creates an arena whose blocks are at least block_size bytes (0 selects
 * 64 KiB). Returns NULL when out of memory. Free with agora_arena_free.
 */
agora_arena *agora_arena_new(size_t block_size);

/* Frees the arena and everything allocated from it. Accepts NULL. */
void agora_arena_free(agora_arena *arena);

/*
 * Releases every allocation at once but keeps the standard blocks (up to
 * 8 MiB of them) for reuse, so a steady stream of similar batches allocates
 * nothing after warm-up. Blocks of oversized allocations are freed.
 */
void agora_arena_reset(agora_arena *arena);

/* Returns size bytes aligned to 8, or NULL when out of memory. */
void *agora_arena_alloc(agora_arena *arena, size_t size);

/* Copies len bytes and adds a terminating NUL. Returns NULL when out of memory. */
char *agora_arena_strndup(agora_arena *arena, const char *s, size_t len);

/* Bytes currently handed out (for tests and memory accounting). */
size_t agora_arena_used(const agora_arena *arena);

/* ---- Values ------------------------------------------------------------ */

typedef enum agora_type {
    AGORA_NULL = 0,
    AGORA_BOOL,
    AGORA_INT,    /* int64_t, exact */
    AGORA_DOUBLE, /* IEEE 754 binary64 */
    AGORA_STRING, /* bytes with explicit length, valid UTF-8, may hold NUL */
    AGORA_ARRAY,
    AGORA_OBJECT  /* members in insertion order */
} agora_type;

typedef struct agora_value agora_value;

typedef struct agora_string {
    const char *ptr; /* NUL-terminated for convenience; len is authoritative */
    size_t len;
} agora_string;

typedef struct agora_member {
    agora_string key;
    agora_value *value;
} agora_member;

struct agora_value {
    agora_type type;
    union {
        bool boolean;
        int64_t integer;
        double number;
        agora_string string;
        struct {
            agora_value **items;
            size_t len;
            size_t cap;
        } array;
        struct {
            agora_member *members;
            size_t len;
            size_t cap;
        } object;
    } u;
};

/* Constructors. Each returns NULL when the arena is out of memory. */
agora_value *agora_value_null(agora_arena *arena);
agora_value *agora_value_bool(agora_arena *arena, bool b);
agora_value *agora_value_int(agora_arena *arena, int64_t i);
agora_value *agora_value_double(agora_arena *arena, double d);
/* Copies s (len bytes) into the arena. */
agora_value *agora_value_string(agora_arena *arena, const char *s, size_t len);
/* Wraps s without copying: s must outlive the value (arena or static). */
agora_value *agora_value_string_ref(agora_arena *arena, const char *s,
                                    size_t len);
agora_value *agora_value_array(agora_arena *arena, size_t cap_hint);
agora_value *agora_value_object(agora_arena *arena, size_t cap_hint);

/* Appends item to an array. Returns 0 or AGORA_ENOMEM. */
int agora_array_push(agora_arena *arena, agora_value *array,
                     agora_value *item);

/*
 * Appends a member without checking for an existing key (the JSON parser
 * keeps duplicates as they come; lookups return the last one). The key is
 * copied into the arena. Returns 0 or AGORA_ENOMEM.
 */
int agora_object_push(agora_arena *arena, agora_value *object,
                      const char *key, size_t key_len, agora_value *value);

/*
 * Replaces the value of the last member named key (the one lookups return)
 * or appends a member when the key is absent. Earlier duplicates are left
 * alone. The key is copied into the arena only when a member is appended.
 * Call it only on an object you own, such as the result of
 * agora_object_clone, never on a record a pipeline stage received, because
 * the received record must stay unchanged for the dead-letter queue.
 * Returns 0, AGORA_EINVAL (object not an object, value NULL) or AGORA_ENOMEM.
 */
int agora_object_set(agora_arena *arena, agora_value *object,
                     const char *key, size_t key_len, agora_value *value);

/* Returns the value of the last member named key, or NULL. */
agora_value *agora_object_get(const agora_value *object, const char *key,
                              size_t key_len);

/* Same as agora_object_get for a NUL-terminated key. */
agora_value *agora_object_getz(const agora_value *object, const char *key);

/*
 * Returns a shallow copy of object (new member array, same keys and values)
 * with room for extra more members, for middlewares that rebuild a record.
 */
agora_value *agora_object_clone(agora_arena *arena, const agora_value *object,
                                size_t extra);

/* Deep copy of value into arena (used to move a record between arenas). */
agora_value *agora_value_copy(agora_arena *arena, const agora_value *value);

/*
 * Structural equality: same type and contents, objects compared member by
 * member in order. An int and a double are equal when they denote the same
 * number.
 */
bool agora_value_equal(const agora_value *a, const agora_value *b);

/* Returns "null", "bool", "int", "double", "string", "array" or "object". */
const char *agora_type_name(agora_type type);

/* ---- JSON -------------------------------------------------------------- */

/* Limits applied by the parser; agora_json_limits_default() gives the defaults. */
typedef struct agora_json_limits {
    size_t max_depth;        /* nesting of arrays and objects, default 512 */
    size_t max_string_bytes; /* one string or key, default 16 MiB */
} agora_json_limits;

agora_json_limits agora_json_limits_default(void);

/*
 * The largest max_depth a source accepts. Code that walks a value (the
 * writers, copies, comparisons) recurses once per level, and a worker thread
 * has a 256 KiB stack; 1,024 levels fit with a wide margin.
 */
#define AGORA_JSON_MAX_DEPTH_LIMIT 1024

/*
 * Limits for reading JSON that a source already checked with its own
 * limits (DLQ rows, replays): the largest depth and no string limit.
 */
agora_json_limits agora_json_limits_widest(void);

/*
 * Parses exactly one JSON document (RFC 8259, surrounding whitespace allowed)
 * from text[0..len) into arena. Rejects invalid UTF-8, lone surrogates
 * escapes, trailing garbage, and input past the limits (limits may be NULL for
 * the defaults). Integers that fit int64 become AGORA_INT, other numbers
 * AGORA_DOUBLE; a number that overflows a double is rejected.
 *
 * On error returns NULL and fills err with the byte offset, line and column
 * (1-based) and what was expected.
 */
agora_value *agora_json_parse(agora_arena *arena, const char *text, size_t len,
                              const agora_json_limits *limits,
                              agora_error *err);

/*
 * Checks that text[0..len) is a JSON document that agora_json_parse would
 * accept (same grammar, UTF-8 rules and limits, same error in err), without
 * building values. Strings with escapes are decoded into scratch, which must
 * be an arena. Returns true when valid.
 */
bool agora_json_check(agora_arena *scratch, const char *text, size_t len,
                      const agora_json_limits *limits, agora_error *err);

/* Growable byte buffer used by writers. Owns its heap memory. */
typedef struct agora_buf {
    char *data;
    size_t len;
    size_t cap;
} agora_buf;

void agora_buf_init(agora_buf *buf);
void agora_buf_free(agora_buf *buf);
/* Each returns 0 or AGORA_ENOMEM. */
int agora_buf_reserve(agora_buf *buf, size_t extra);
int agora_buf_append(agora_buf *buf, const void *data, size_t len);
int agora_buf_appendz(agora_buf *buf, const char *s);
int agora_buf_printf(agora_buf *buf, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * Appends value as compact JSON (no spaces, keys in order, doubles in the
 * shortest form that parses back to the same bits, non-finite doubles as
 * null). Returns 0 or AGORA_ENOMEM.
 */
int agora_json_write(agora_buf *buf, const agora_value *value);

/* Appends s as a quoted JSON string with the required escapes. */
int agora_json_write_string(agora_buf *buf, const char *s, size_t len);

/*
 * Writes the shortest decimal form of d that parses back to the same double
 * into out (at least 32 bytes). Returns the length. Used by JSON and CSV.
 */
size_t agora_format_double(double d, char *out);

#ifdef __cplusplus
}
#endif

#endif
