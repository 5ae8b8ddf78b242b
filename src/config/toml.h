/*
 * TOML 1.0 parser producing a tree of nodes that remember their position.
 *
 * The config loader needs the line and column of every key and value to
 * report errors, so the tree keeps them. All nodes and strings of one parse
 * live in one allocation context freed by toml_free.
 *
 * Lines and columns are 1-based. A column counts bytes from the start of the
 * line, so a character outside ASCII advances it by its UTF-8 length.
 */
#ifndef AGORA_TOML_H
#define AGORA_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum toml_type {
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_DATETIME,       /* offset date-time, text kept as written (normalized) */
    TOML_DATETIME_LOCAL, /* local date-time */
    TOML_DATE_LOCAL,
    TOML_TIME_LOCAL,
    TOML_ARRAY,
    TOML_TABLE
} toml_type;

typedef struct toml_node toml_node;

typedef struct toml_kv {
    char *key; /* NUL-terminated; len excludes the NUL (keys may contain NUL) */
    size_t key_len;
    int line, column; /* position of the key (1-based) */
    toml_node *value;
} toml_kv;

struct toml_node {
    toml_type type;
    int line, column; /* position of the value; for tables, the header or '{' */
    union {
        struct {
            char *ptr; /* string value, or datetime text in RFC 3339 form */
            size_t len;
        } str;
        int64_t integer;
        double floating;
        bool boolean;
        struct {
            toml_node **items;
            size_t len;
        } array;
        struct {
            toml_kv *items; /* in the order the keys were defined */
            size_t len;
        } table;
    } u;
};

/* message reads "line 7, column 12: duplicate key \"path\" (first defined at
 * line 3, column 1)": the position, then one sentence. A file reader may
 * prefix the path. */
typedef struct toml_error {
    int line, column; /* 1-based position of the fault */
    char message[512];
} toml_error;

/* Parses a whole document of len bytes (no NUL terminator needed). Returns
 * the root table, or NULL with err filled. Tables and arrays nested more
 * than 128 levels deep are rejected. */
toml_node *toml_parse(const char *text, size_t len, toml_error *err);

/* Reads and parses a file. On a read error line and column are 0. */
toml_node *toml_parse_file(const char *path, toml_error *err);

/* Frees a tree returned by toml_parse or toml_parse_file, given its root
 * (never an inner node). Accepts NULL. */
void toml_free(toml_node *root);

/* Returns the entry for key in a table node, or NULL. */
const toml_kv *toml_table_get(const toml_node *table, const char *key);

/* Returns "string", "integer", "float", "boolean", "datetime", ..., "table". */
const char *toml_type_name(toml_type type);

#endif
