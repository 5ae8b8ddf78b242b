/*
 * Definitions shared by the files of the TOML parser: the arena that contains
 * every node of one parse, the parser state, and the scanners for strings,
 * numbers and date-times that toml.c calls while it builds the tree.
 */
#ifndef AGORA_TOML_INTERNAL_H
#define AGORA_TOML_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/toml.h"

/* Maximum depth of the tree (tables and arrays inside each other), so that a
 * hostile document cannot exhaust the stack of the parser or of a consumer
 * that walks the tree recursively. */
#define TOML_MAX_DEPTH 128

/*
 * Maximum size of a config file, which also bounds every string and key in
 * it. A pipeline config is a few KiB, so a larger file is most likely a
 * wrong path, such as a data file given as --config.
 */
#define TOML_MAX_FILE_BYTES ((size_t)16 << 20)

typedef struct toml_chunk toml_chunk;

/* A bump allocator: blocks are only released all at once by toml_free. */
typedef struct toml_arena {
    toml_chunk *head;
} toml_arena;

/* Growable byte buffer owned by the parser (malloc), reused between tokens. */
typedef struct toml_buf {
    char *data;
    size_t len, cap;
} toml_buf;

/* One part of a dotted key, decoded, with the position where it starts. */
typedef struct toml_key {
    char *ptr; /* arena copy, NUL-terminated */
    size_t len;
    int line, column;
} toml_key;

typedef struct toml_parser {
    const char *text;
    size_t len;
    size_t pos;
    int line;          /* 1-based line of text[pos] */
    size_t line_start; /* offset of the first byte of that line */
    toml_arena *arena;
    toml_buf scratch; /* decoded string contents before they move to the arena */
    toml_key *keys;   /* parts of the key being parsed (malloc) */
    size_t keys_cap;
    toml_error *err;
    bool failed;
} toml_parser;

/* Allocates size bytes aligned for any type, zeroed. Returns NULL when out
 * of memory. */
void *toml_arena_alloc(toml_arena *arena, size_t size);

/* Records the first error of a parse; later calls are ignored so the message
 * names the original fault. Always returns -1. */
int toml_fail(toml_parser *p, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records an out-of-memory error at the current position. Returns -1. */
int toml_fail_nomem(toml_parser *p);

/* Column (1-based, in bytes) of the byte at offset pos on the current line. */
int toml_column(const toml_parser *p, size_t pos);

/* Writes a printable, quoted, truncated copy of s[0..len) into out, for use
 * in error messages. */
void toml_quote(char *out, size_t out_size, const char *s, size_t len);

/*
 * Scanners. Each starts at p->pos on the first byte of the token, advances
 * p->pos past it (keeping p->line current across newlines in multi-line
 * strings) and returns 0, or returns -1 after toml_fail.
 */

/* Scans any string form. Keys pass allow_multiline false. The decoded bytes
 * are copied to the arena with a terminating NUL. */
int toml_scan_string(toml_parser *p, bool allow_multiline, char **out,
                     size_t *out_len);

/* Scans an integer, float, boolean, date or time into node (type and u). */
int toml_scan_scalar(toml_parser *p, toml_node *node);

#endif
