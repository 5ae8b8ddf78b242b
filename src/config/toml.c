/*
 * TOML 1.0 parser: reads a document into a tree of tables, arrays and
 * scalars that remember their line and column, and enforces the rules on
 * defining each key and table once. Scalars are scanned in toml_scalar.c.
 *
 * Everything one parse allocates lives in an arena released by toml_free,
 * so building the tree never frees single nodes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml_internal.h"

/* ---- arena --------------------------------------------------------------- */

struct toml_chunk {
    toml_chunk *next;
    size_t used, cap; /* bytes of the data area after the header */
};

#define ARENA_ALIGN _Alignof(max_align_t)
#define ARENA_HEADER \
    ((sizeof(toml_chunk) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)
#define ARENA_CHUNK_DATA (64 * 1024 - ARENA_HEADER)

void *toml_arena_alloc(toml_arena *arena, size_t size)
{
    toml_chunk *chunk = arena->head;
    unsigned char *ptr;

    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (size == 0)
        size = ARENA_ALIGN;

    if (!chunk || chunk->cap - chunk->used < size) {
        size_t cap = size > ARENA_CHUNK_DATA / 4 ? size : ARENA_CHUNK_DATA;
        toml_chunk *fresh = malloc(ARENA_HEADER + cap);

        if (!fresh)
            return NULL;
        fresh->used = 0;
        fresh->cap = cap;
        /* A large block goes behind the current chunk so the space left in
         * that chunk still serves later small requests. */
        if (chunk && cap != ARENA_CHUNK_DATA) {
            fresh->next = chunk->next;
            chunk->next = fresh;
        } else {
            fresh->next = chunk;
            arena->head = fresh;
        }
        chunk = fresh;
    }

    ptr = (unsigned char *)chunk + ARENA_HEADER + chunk->used;
    chunk->used += size;
    memset(ptr, 0, size);
    return ptr;
}

static void arena_release(toml_arena *arena)
{
    toml_chunk *chunk = arena->head;

    while (chunk) {
        toml_chunk *next = chunk->next;

        free(chunk);
        chunk = next;
    }
    arena->head = NULL;
}

/* ---- nodes and tables ---------------------------------------------------- */

/* How a table or array came to exist, which decides how it may be extended
 * later. */
typedef enum node_origin {
    ORIGIN_VALUE,       /* scalar, or array written as [...] */
    ORIGIN_IMPLICIT,    /* table named only as a prefix of a header, [a] in [a.b] */
    ORIGIN_HEADER,      /* table opened by [a] or by one [[a]], or the root */
    ORIGIN_DOTTED,      /* table created by a dotted key, a in a.b = 1 */
    ORIGIN_INLINE,      /* table written as {...}: complete once closed */
    ORIGIN_TABLE_ARRAY  /* array created by [[a]] */
} node_origin;

/* The parser's view of a node: the public part first, so a toml_node
 * pointer from this tree can be cast to a parse_node pointer. */
typedef struct parse_node {
    toml_node node;
    node_origin origin;
    int depth; /* root is 0, a value inside it 1 */
    size_t cap; /* capacity of the items array of a table or array */
    uint32_t *index; /* open-addressing hash of table keys: item index + 1 */
    size_t index_cap;
} parse_node;

/* The root node of a tree sits inside this block, so toml_free can find
 * the arena from the root pointer alone. */
typedef struct toml_tree {
    toml_arena arena;
    parse_node root;
} toml_tree;

/* Tables with fewer keys than this are searched linearly. */
#define TABLE_INDEX_MIN 8

static parse_node *as_parse_node(const toml_node *node)
{
    return (parse_node *)node;
}

static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a, 64-bit */

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

static toml_kv *table_find(const parse_node *table, const char *key, size_t len)
{
    const toml_kv *items = table->node.u.table.items;

    if (table->index) {
        size_t mask = table->index_cap - 1;

        for (size_t slot = hash_key(key, len) & mask;; slot = (slot + 1) & mask) {
            uint32_t entry = table->index[slot];

            if (entry == 0)
                return NULL;
            if (items[entry - 1].key_len == len &&
                memcmp(items[entry - 1].key, key, len) == 0)
                return (toml_kv *)&items[entry - 1];
        }
    }
    for (size_t i = 0; i < table->node.u.table.len; i++)
        if (items[i].key_len == len && memcmp(items[i].key, key, len) == 0)
            return (toml_kv *)&items[i];
    return NULL;
}

static void index_insert(parse_node *table, size_t item)
{
    const toml_kv *kv = &table->node.u.table.items[item];
    size_t mask = table->index_cap - 1;
    size_t slot = hash_key(kv->key, kv->key_len) & mask;

    while (table->index[slot] != 0)
        slot = (slot + 1) & mask;
    table->index[slot] = (uint32_t)(item + 1);
}

/* Keeps the hash index at most half full. A replaced index stays in the
 * arena until toml_free. */
static int index_update(toml_parser *p, parse_node *table)
{
    size_t len = table->node.u.table.len;
    size_t cap = table->index_cap;

    if (len < TABLE_INDEX_MIN)
        return 0;
    if (len > UINT32_MAX - 1)
        return toml_fail(p, p->line, toml_column(p, p->pos),
                         "a table has more than %u keys", UINT32_MAX - 1);
    if (table->index && len * 2 <= cap) {
        index_insert(table, len - 1);
        return 0;
    }

    cap = 32;
    while (cap < len * 4)
        cap *= 2;
    table->index = toml_arena_alloc(p->arena, cap * sizeof *table->index);
    if (!table->index)
        return toml_fail_nomem(p);
    table->index_cap = cap;
    for (size_t i = 0; i < len; i++)
        index_insert(table, i);
    return 0;
}

/* Doubles an items array in the arena when it is full. The previous array
 * stays allocated until toml_free, so the waste is at most the final size. */
static int items_grow(toml_parser *p, void **items, size_t len, size_t *cap,
                      size_t item_size)
{
    size_t fresh_cap = *cap ? *cap * 2 : 4;
    void *fresh;

    if (len < *cap)
        return 0;
    if (fresh_cap > SIZE_MAX / 2 / item_size)
        return toml_fail_nomem(p);
    fresh = toml_arena_alloc(p->arena, fresh_cap * item_size);
    if (!fresh)
        return toml_fail_nomem(p);
    if (len)
        memcpy(fresh, *items, len * item_size);
    *items = fresh;
    *cap = fresh_cap;
    return 0;
}

static parse_node *node_new(toml_parser *p, toml_type type, node_origin origin,
                            int depth, int line, int column)
{
    parse_node *node;

    if ((type == TOML_TABLE || type == TOML_ARRAY) && depth > TOML_MAX_DEPTH) {
        toml_fail(p, line, column,
                  "tables and arrays are nested more than %d levels deep; "
                  "flatten the document",
                  TOML_MAX_DEPTH);
        return NULL;
    }
    node = toml_arena_alloc(p->arena, sizeof *node);
    if (!node) {
        toml_fail_nomem(p);
        return NULL;
    }
    node->node.type = type;
    node->node.line = line;
    node->node.column = column;
    node->origin = origin;
    node->depth = depth;
    return node;
}

static toml_kv *table_add(toml_parser *p, parse_node *table, const toml_key *key,
                          parse_node *value)
{
    toml_kv *kv;
    void *items = table->node.u.table.items;

    if (items_grow(p, &items, table->node.u.table.len, &table->cap,
                   sizeof(toml_kv)) < 0)
        return NULL;
    table->node.u.table.items = items;
    kv = &table->node.u.table.items[table->node.u.table.len++];
    kv->key = key->ptr;
    kv->key_len = key->len;
    kv->line = key->line;
    kv->column = key->column;
    kv->value = &value->node;
    if (index_update(p, table) < 0)
        return NULL;
    return kv;
}

static int array_push(toml_parser *p, parse_node *array, parse_node *item)
{
    void *items = array->node.u.array.items;

    if (items_grow(p, &items, array->node.u.array.len, &array->cap,
                   sizeof(toml_node *)) < 0)
        return -1;
    array->node.u.array.items = items;
    array->node.u.array.items[array->node.u.array.len++] = &item->node;
    return 0;
}

/* ---- errors -------------------------------------------------------------- */

int toml_fail(toml_parser *p, int line, int column, const char *fmt, ...)
{
    char *message = p->err->message;
    size_t size = sizeof p->err->message;
    int prefix;
    va_list ap;

    if (p->failed)
        return -1;
    p->failed = true;
    p->err->line = line;
    p->err->column = column;
    prefix = snprintf(message, size, "line %d, column %d: ", line, column);
    if (prefix > 0 && (size_t)prefix < size) {
        va_start(ap, fmt);
        vsnprintf(message + prefix, size - (size_t)prefix, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int toml_fail_nomem(toml_parser *p)
{
    return toml_fail(p, p->line, toml_column(p, p->pos),
                     "out of memory while parsing the document");
}

int toml_column(const toml_parser *p, size_t pos)
{
    size_t column = pos - p->line_start + 1;

    return column > INT32_MAX ? INT32_MAX : (int)column;
}

void toml_quote(char *out, size_t out_size, const char *s, size_t len)
{
    const size_t shown_max = 48;
    size_t o = 0;
    size_t n = len > shown_max ? shown_max : len;

    /* Cut at a character boundary, never inside a UTF-8 sequence. */
    while (n < len && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    if (out_size < 16) {
        if (out_size)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < out_size; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, out_size - o, "\\u%04X", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (n < len && o + 4 < out_size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* Describes the byte at the current position for "found ..." messages. */
static void describe_here(const toml_parser *p, char *out, size_t out_size)
{
    size_t n = 1;

    if (p->pos >= p->len) {
        snprintf(out, out_size, "the end of the file");
        return;
    }
    if (p->text[p->pos] == '\n' ||
        (p->text[p->pos] == '\r' && p->pos + 1 < p->len &&
         p->text[p->pos + 1] == '\n')) {
        snprintf(out, out_size, "the end of the line");
        return;
    }
    if (p->text[p->pos] == '\r') {
        snprintf(out, out_size,
                 "a carriage return without a line feed after it");
        return;
    }
    while (p->pos + n < p->len && ((unsigned char)p->text[p->pos + n] & 0xc0) == 0x80)
        n++;
    toml_quote(out, out_size, p->text + p->pos, n);
}

static const char *describe_type(const toml_node *node)
{
    const parse_node *pn = as_parse_node(node);

    if (node->type == TOML_TABLE && pn->origin == ORIGIN_INLINE)
        return "inline table";
    if (node->type == TOML_ARRAY && pn->origin == ORIGIN_TABLE_ARRAY)
        return "array of tables";
    return toml_type_name(node->type);
}

/* Returns "a" or "an" for a type name from describe_type. */
static const char *article(const char *name)
{
    return strchr("aeiou", name[0]) ? "an" : "a";
}

/* Stores where the value of kv was first defined: the header for tables
 * and arrays of tables that headers created, else the key. */
static void first_definition(const toml_kv *kv, int *line, int *column)
{
    const parse_node *value = as_parse_node(kv->value);

    if (value->origin == ORIGIN_HEADER || value->origin == ORIGIN_TABLE_ARRAY ||
        value->origin == ORIGIN_IMPLICIT) {
        *line = value->node.line;
        *column = value->node.column;
    } else {
        *line = kv->line;
        *column = kv->column;
    }
}

/* ---- lexical helpers ----------------------------------------------------- */

static bool at_end(const toml_parser *p)
{
    return p->pos >= p->len;
}

static char peek(const toml_parser *p)
{
    return p->pos < p->len ? p->text[p->pos] : '\0';
}

static bool at_newline(const toml_parser *p)
{
    if (p->pos >= p->len)
        return false;
    if (p->text[p->pos] == '\n')
        return true;
    return p->text[p->pos] == '\r' && p->pos + 1 < p->len &&
           p->text[p->pos + 1] == '\n';
}

static void consume_newline(toml_parser *p)
{
    p->pos += p->text[p->pos] == '\r' ? 2 : 1;
    p->line++;
    p->line_start = p->pos;
}

static void skip_ws(toml_parser *p)
{
    while (p->pos < p->len && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t'))
        p->pos++;
}

/* Skips a comment up to (not including) the end of its line. */
static int skip_comment(toml_parser *p)
{
    if (peek(p) != '#')
        return 0;
    for (; p->pos < p->len; p->pos++) {
        unsigned char c = (unsigned char)p->text[p->pos];

        if (c == '\n' || (c == '\r' && p->pos + 1 < p->len &&
                          p->text[p->pos + 1] == '\n'))
            return 0;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return toml_fail(p, p->line, toml_column(p, p->pos),
                             "control character U+%04X is not allowed in a "
                             "comment",
                             c);
    }
    return 0;
}

/* Skips whitespace, comments and newlines, as allowed between array
 * elements. */
static int skip_blank(toml_parser *p)
{
    for (;;) {
        skip_ws(p);
        if (skip_comment(p) < 0)
            return -1;
        if (!at_newline(p))
            return 0;
        consume_newline(p);
    }
}

/* Requires the rest of the line to be empty or a comment. after names what
 * came before, for the message. */
static int expect_line_end(toml_parser *p, const char *after)
{
    char found[96];

    skip_ws(p);
    if (skip_comment(p) < 0)
        return -1;
    if (at_end(p))
        return 0;
    if (at_newline(p)) {
        consume_newline(p);
        return 0;
    }
    describe_here(p, found, sizeof found);
    return toml_fail(p, p->line, toml_column(p, p->pos),
                     "expected the end of the line after %s, found %s; put "
                     "each key/value pair and table header on its own line",
                     after, found);
}

/* ---- keys ---------------------------------------------------------------- */

static bool is_bare_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/*
 * Parses a possibly dotted key into p->keys[0..*count). Leading and
 * trailing spaces are skipped. The key parts are arena copies, but the
 * array itself is overwritten by the next key.
 */
static int parse_key(toml_parser *p, size_t *count)
{
    size_t n = 0;

    for (;;) {
        toml_key part;
        char found[96];

        skip_ws(p);
        part.line = p->line;
        part.column = toml_column(p, p->pos);

        if (peek(p) == '"' || peek(p) == '\'') {
            if (toml_scan_string(p, false, &part.ptr, &part.len) < 0)
                return -1;
        } else if (!at_end(p) && is_bare_key_char(peek(p))) {
            size_t start = p->pos;

            while (p->pos < p->len && is_bare_key_char(p->text[p->pos]))
                p->pos++;
            part.len = p->pos - start;
            part.ptr = toml_arena_alloc(p->arena, part.len + 1);
            if (!part.ptr)
                return toml_fail_nomem(p);
            memcpy(part.ptr, p->text + start, part.len);
        } else {
            describe_here(p, found, sizeof found);
            return toml_fail(p, part.line, part.column,
                             "expected a key, found %s; bare keys may "
                             "contain only A-Z, a-z, 0-9, '_' and '-', other "
                             "keys must be quoted",
                             found);
        }

        if (n == TOML_MAX_DEPTH)
            return toml_fail(p, part.line, part.column,
                             "a dotted key has more than %d parts",
                             TOML_MAX_DEPTH);
        if (n == p->keys_cap) {
            size_t cap = p->keys_cap ? p->keys_cap * 2 : 8;
            toml_key *keys = realloc(p->keys, cap * sizeof *keys);

            if (!keys)
                return toml_fail_nomem(p);
            p->keys = keys;
            p->keys_cap = cap;
        }
        p->keys[n++] = part;

        skip_ws(p);
        if (peek(p) != '.')
            break;
        p->pos++;
    }
    *count = n;
    return 0;
}

/*
 * Walks the first count parts of a dotted key down from table, creating
 * missing tables. A dotted key may enter tables that dotted keys created
 * and tables only named as header prefixes, never a table that a header
 * defined or an inline table. Returns the last table, or NULL after
 * toml_fail.
 */
static parse_node *walk_dotted_key(toml_parser *p, parse_node *table,
                                   const toml_key *parts, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const toml_key *part = &parts[i];
        toml_kv *kv = table_find(table, part->ptr, part->len);
        parse_node *child;
        char name[96];
        int first_line, first_column;

        if (!kv) {
            child = node_new(p, TOML_TABLE, ORIGIN_DOTTED, table->depth + 1,
                             part->line, part->column);
            if (!child || !table_add(p, table, part, child))
                return NULL;
            table = child;
            continue;
        }

        child = as_parse_node(kv->value);
        toml_quote(name, sizeof name, part->ptr, part->len);
        if (child->node.type == TOML_TABLE &&
            (child->origin == ORIGIN_DOTTED || child->origin == ORIGIN_IMPLICIT)) {
            child->origin = ORIGIN_DOTTED;
            table = child;
            continue;
        }
        if (child->node.type == TOML_TABLE && child->origin == ORIGIN_HEADER) {
            toml_fail(p, part->line, part->column,
                      "cannot add to table %s with a dotted key because its "
                      "header at line %d, column %d defines it; put the key "
                      "under that header",
                      name, child->node.line, child->node.column);
            return NULL;
        }
        first_definition(kv, &first_line, &first_column);
        toml_fail(p, part->line, part->column,
                  "cannot add to key %s with a dotted key because it is "
                  "already defined as %s %s (first defined at line %d, "
                  "column %d)",
                  name, article(describe_type(&child->node)),
                  describe_type(&child->node), first_line, first_column);
        return NULL;
    }
    return table;
}

static int fail_duplicate_key(toml_parser *p, const toml_key *key,
                              const toml_kv *first)
{
    char name[96];

    toml_quote(name, sizeof name, key->ptr, key->len);
    return toml_fail(p, key->line, key->column,
                     "duplicate key %s (first defined at line %d, column %d)",
                     name, first->line, first->column);
}

/* ---- values -------------------------------------------------------------- */

static parse_node *parse_value(toml_parser *p, int depth);

static parse_node *parse_array(toml_parser *p, int depth)
{
    int line = p->line;
    int column = toml_column(p, p->pos);
    parse_node *array = node_new(p, TOML_ARRAY, ORIGIN_VALUE, depth, line, column);
    char found[96];

    if (!array)
        return NULL;
    p->pos++;

    for (;;) {
        parse_node *item;

        if (skip_blank(p) < 0)
            return NULL;
        if (peek(p) == ']')
            break;
        if (at_end(p))
            goto unterminated;
        item = parse_value(p, depth + 1);
        if (!item || array_push(p, array, item) < 0)
            return NULL;
        if (skip_blank(p) < 0)
            return NULL;
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']')
            break;
        if (at_end(p))
            goto unterminated;
        describe_here(p, found, sizeof found);
        toml_fail(p, p->line, toml_column(p, p->pos),
                  "expected ',' or ']' after an array element, found %s",
                  found);
        return NULL;
    }
    p->pos++;
    return array;

unterminated:
    toml_fail(p, line, column,
              "unterminated array: the closing ']' is missing before the end "
              "of the file");
    return NULL;
}

static parse_node *parse_inline_table(toml_parser *p, int depth)
{
    int line = p->line;
    int column = toml_column(p, p->pos);
    parse_node *table;
    char found[96];

    /* Dotted keys inside the braces may still extend the tables they
     * create until the closing brace seals the whole value. */
    table = node_new(p, TOML_TABLE, ORIGIN_DOTTED, depth, line, column);
    if (!table)
        return NULL;
    p->pos++;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        table->origin = ORIGIN_INLINE;
        return table;
    }

    for (;;) {
        size_t count;
        toml_key key;
        parse_node *target, *value;
        toml_kv *first;

        if (at_newline(p) || at_end(p))
            goto bad_layout;
        if (parse_key(p, &count) < 0)
            return NULL;
        target = walk_dotted_key(p, table, p->keys, count - 1);
        if (!target)
            return NULL;
        key = p->keys[count - 1];
        first = table_find(target, key.ptr, key.len);
        if (first) {
            fail_duplicate_key(p, &key, first);
            return NULL;
        }
        if (peek(p) != '=') {
            describe_here(p, found, sizeof found);
            toml_fail(p, p->line, toml_column(p, p->pos),
                      "expected '=' after the key, found %s", found);
            return NULL;
        }
        p->pos++;
        skip_ws(p);
        value = parse_value(p, target->depth + 1);
        if (!value || !table_add(p, target, &key, value))
            return NULL;

        skip_ws(p);
        if (peek(p) == '}')
            break;
        if (peek(p) != ',')
            goto bad_layout;
        p->pos++;
        skip_ws(p);
        if (peek(p) == '}') {
            toml_fail(p, p->line, toml_column(p, p->pos),
                      "an inline table cannot end with a comma; remove the "
                      "comma before '}'");
            return NULL;
        }
    }
    p->pos++;
    table->origin = ORIGIN_INLINE;
    return table;

bad_layout:
    if (at_end(p)) {
        toml_fail(p, line, column,
                  "unterminated inline table: the closing '}' is missing "
                  "before the end of the file");
    } else if (at_newline(p) || peek(p) == '#') {
        toml_fail(p, p->line, toml_column(p, p->pos),
                  "an inline table must be on a single line in TOML 1.0; "
                  "close it with '}' on the line where it starts, or use a "
                  "[table] header");
    } else {
        describe_here(p, found, sizeof found);
        toml_fail(p, p->line, toml_column(p, p->pos),
                  "expected ',' or '}' in an inline table, found %s", found);
    }
    return NULL;
}

/* Parses the value at p->pos. depth is the depth the value will have in the
 * tree. */
static parse_node *parse_value(toml_parser *p, int depth)
{
    int line = p->line;
    int column = toml_column(p, p->pos);
    char c = peek(p);
    parse_node *node;
    char found[96];

    if (at_end(p) || at_newline(p) || c == '#' || c == ',' || c == ']' ||
        c == '}' || c == '=') {
        describe_here(p, found, sizeof found);
        toml_fail(p, line, column, "missing value: expected a value, found %s",
                  found);
        return NULL;
    }
    if (c == '[')
        return parse_array(p, depth);
    if (c == '{')
        return parse_inline_table(p, depth);

    node = node_new(p, TOML_STRING, ORIGIN_VALUE, depth, line, column);
    if (!node)
        return NULL;
    if (c == '"' || c == '\'') {
        if (toml_scan_string(p, true, &node->node.u.str.ptr,
                             &node->node.u.str.len) < 0)
            return NULL;
    } else if (toml_scan_scalar(p, &node->node) < 0) {
        return NULL;
    }
    return node;
}

/* ---- document structure -------------------------------------------------- */

/* Parses "key = value" into table, the table of the current section. */
static int parse_keyval(toml_parser *p, parse_node *table)
{
    size_t count;
    toml_key key;
    parse_node *target, *value;
    toml_kv *first;
    char found[96];

    if (parse_key(p, &count) < 0)
        return -1;
    target = walk_dotted_key(p, table, p->keys, count - 1);
    if (!target)
        return -1;
    key = p->keys[count - 1];
    first = table_find(target, key.ptr, key.len);
    if (first)
        return fail_duplicate_key(p, &key, first);
    if (peek(p) != '=') {
        describe_here(p, found, sizeof found);
        return toml_fail(p, p->line, toml_column(p, p->pos),
                         "expected '=' after the key, found %s", found);
    }
    p->pos++;
    skip_ws(p);
    value = parse_value(p, target->depth + 1);
    if (!value || !table_add(p, target, &key, value))
        return -1;
    return expect_line_end(p, "a value");
}

/*
 * Walks a header's key from the root and returns the table that the
 * following key/value pairs go into. A [[...]] header appends a new table
 * to its array of tables. A [...] header defines its table, which an
 * earlier header may have named only as a prefix.
 */
static parse_node *open_header(toml_parser *p, parse_node *root, bool is_array,
                               const toml_key *parts, size_t count, int line,
                               int column, const char *shown)
{
    parse_node *table = root;
    const toml_key *last = &parts[count - 1];
    toml_kv *kv;
    parse_node *found;
    int first_line, first_column;

    for (size_t i = 0; i + 1 < count; i++) {
        const toml_key *part = &parts[i];
        char name[96];

        kv = table_find(table, part->ptr, part->len);
        if (!kv) {
            found = node_new(p, TOML_TABLE, ORIGIN_IMPLICIT, table->depth + 1,
                             line, column);
            if (!found || !table_add(p, table, part, found))
                return NULL;
            table = found;
            continue;
        }
        found = as_parse_node(kv->value);
        if (found->node.type == TOML_TABLE && found->origin != ORIGIN_INLINE) {
            table = found;
            continue;
        }
        if (found->node.type == TOML_ARRAY &&
            found->origin == ORIGIN_TABLE_ARRAY) {
            /* [a.b] after [[a]] goes into the last table of a. */
            table = as_parse_node(
                found->node.u.array.items[found->node.u.array.len - 1]);
            continue;
        }
        toml_quote(name, sizeof name, part->ptr, part->len);
        first_definition(kv, &first_line, &first_column);
        toml_fail(p, part->line, part->column,
                  "header %s cannot add to key %s because it is already "
                  "defined as %s %s (first defined at line %d, column %d)%s",
                  shown, name, article(describe_type(&found->node)),
                  describe_type(&found->node), first_line, first_column,
                  found->origin == ORIGIN_INLINE
                      ? "; an inline table is complete once closed"
                      : "");
        return NULL;
    }

    kv = table_find(table, last->ptr, last->len);
    found = kv ? as_parse_node(kv->value) : NULL;

    if (!is_array) {
        if (!found) {
            found = node_new(p, TOML_TABLE, ORIGIN_HEADER, table->depth + 1,
                             line, column);
            if (!found || !table_add(p, table, last, found))
                return NULL;
            return found;
        }
        if (found->node.type == TOML_TABLE && found->origin == ORIGIN_IMPLICIT) {
            found->origin = ORIGIN_HEADER;
            found->node.line = line;
            found->node.column = column;
            kv->line = last->line;
            kv->column = last->column;
            return found;
        }
        if (found->node.type == TOML_TABLE && found->origin == ORIGIN_HEADER) {
            toml_fail(p, line, column,
                      "duplicate table %s (first defined at line %d, column "
                      "%d)",
                      shown, found->node.line, found->node.column);
            return NULL;
        }
        if (found->node.type == TOML_TABLE) {
            toml_fail(p, line, column,
                      "duplicate table %s (first defined at line %d, column "
                      "%d %s)",
                      shown, kv->line, kv->column,
                      found->origin == ORIGIN_DOTTED ? "by a dotted key"
                                                     : "as an inline table");
            return NULL;
        }
    } else {
        parse_node *element;

        if (!found) {
            found = node_new(p, TOML_ARRAY, ORIGIN_TABLE_ARRAY,
                             table->depth + 1, line, column);
            if (!found || !table_add(p, table, last, found))
                return NULL;
        } else if (found->node.type != TOML_ARRAY ||
                   found->origin != ORIGIN_TABLE_ARRAY) {
            found = NULL;
        }
        if (found) {
            element = node_new(p, TOML_TABLE, ORIGIN_HEADER, found->depth + 1,
                               line, column);
            if (!element || array_push(p, found, element) < 0)
                return NULL;
            return element;
        }
        found = as_parse_node(kv->value);
    }

    first_definition(kv, &first_line, &first_column);
    toml_fail(p, line, column,
              "header %s conflicts with %s %s defined at line %d, column %d",
              shown, article(describe_type(&found->node)),
              describe_type(&found->node), first_line, first_column);
    return NULL;
}

/* Parses a [table] or [[array]] header line; *current becomes its table. */
static int parse_header(toml_parser *p, parse_node *root, parse_node **current)
{
    int line = p->line;
    int column = toml_column(p, p->pos);
    bool is_array = p->pos + 1 < p->len && p->text[p->pos + 1] == '[';
    size_t key_start, key_end, count, shown_len;
    char shown[160], found[96];

    p->pos += is_array ? 2 : 1;
    key_start = p->pos;
    if (parse_key(p, &count) < 0)
        return -1;
    key_end = p->pos;
    while (key_end > key_start &&
           (p->text[key_end - 1] == ' ' || p->text[key_end - 1] == '\t'))
        key_end--;
    if (peek(p) != ']' || (is_array && (p->pos + 1 >= p->len ||
                                        p->text[p->pos + 1] != ']'))) {
        describe_here(p, found, sizeof found);
        return toml_fail(p, p->line, toml_column(p, p->pos),
                         "expected '%s' to close the %s header, found %s",
                         is_array ? "]]" : "]",
                         is_array ? "array of tables" : "table", found);
    }
    p->pos += is_array ? 2 : 1;

    /* The header as written, for messages: [a.b] or [[a.b]]. Quoted parts
     * contain no control characters once the key parsed, so the raw text is
     * printable. */
    shown_len = key_end - key_start;
    if (shown_len > 100) {
        shown_len = 100;
        while (shown_len > 0 &&
               ((unsigned char)p->text[key_start + shown_len] & 0xc0) == 0x80)
            shown_len--;
    }
    snprintf(shown, sizeof shown, "%s%.*s%s%s", is_array ? "[[" : "[",
             (int)shown_len, p->text + key_start,
             shown_len < key_end - key_start ? "..." : "",
             is_array ? "]]" : "]");

    *current = open_header(p, root, is_array, p->keys, count, line, column, shown);
    if (!*current)
        return -1;
    return expect_line_end(p, "the table header");
}

static int parse_document(toml_parser *p, parse_node *root)
{
    parse_node *current = root;

    /* A UTF-8 byte order mark at the start is allowed and ignored. */
    if (p->len >= 3 && memcmp(p->text, "\xEF\xBB\xBF", 3) == 0) {
        p->pos = 3;
        p->line_start = 3;
    }

    while (!p->failed) {
        skip_ws(p);
        if (at_end(p))
            return 0;
        if (peek(p) == '#') {
            if (expect_line_end(p, "a comment") < 0)
                return -1;
        } else if (at_newline(p)) {
            consume_newline(p);
        } else if (peek(p) == '[') {
            if (parse_header(p, root, &current) < 0)
                return -1;
        } else if (parse_keyval(p, current) < 0) {
            return -1;
        }
    }
    return -1;
}

/*
 * Finds the first byte that is not part of valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). Returns len when
 * the whole text is valid.
 */
static size_t find_invalid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            need = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            need = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += need + 1;
    }
    return len;
}

/* ---- public API ---------------------------------------------------------- */

toml_node *toml_parse(const char *text, size_t len, toml_error *err)
{
    toml_error local_err;
    toml_parser p = {0};
    toml_tree *tree = NULL;
    size_t bad;
    int rc = -1;

    if (!err)
        err = &local_err;
    memset(err, 0, sizeof *err);
    p.text = text ? text : "";
    p.len = text ? len : 0;
    p.line = 1;
    p.err = err;

    bad = find_invalid_utf8((const unsigned char *)p.text, p.len);
    if (bad < p.len) {
        for (size_t i = 0; i < bad; i++) {
            if (p.text[i] == '\n') {
                p.line++;
                p.line_start = i + 1;
            }
        }
        toml_fail(&p, p.line, toml_column(&p, bad),
                  "invalid UTF-8 byte 0x%02X; a TOML document must be "
                  "encoded as UTF-8",
                  (unsigned char)p.text[bad]);
        goto cleanup;
    }

    tree = calloc(1, sizeof *tree);
    if (!tree) {
        toml_fail_nomem(&p);
        goto cleanup;
    }
    p.arena = &tree->arena;
    tree->root.node.type = TOML_TABLE;
    tree->root.node.line = 1;
    tree->root.node.column = 1;
    tree->root.origin = ORIGIN_HEADER;
    rc = parse_document(&p, &tree->root);

cleanup:
    free(p.scratch.data);
    free(p.keys);
    if (rc < 0) {
        if (tree)
            arena_release(&tree->arena);
        free(tree);
        return NULL;
    }
    return &tree->root.node;
}

toml_node *toml_parse_file(const char *path, toml_error *err)
{
    toml_error local_err;
    FILE *file = NULL;
    char *text = NULL;
    size_t len = 0, cap = 0;
    toml_node *root = NULL;

    if (!err)
        err = &local_err;
    memset(err, 0, sizeof *err);
    file = fopen(path, "rb");
    if (!file) {
        snprintf(err->message, sizeof err->message, "cannot open %s: %s",
                 path, strerror(errno));
        goto cleanup;
    }
    for (;;) {
        size_t got;

        if (len == cap) {
            size_t fresh_cap = cap ? cap * 2 : 16384;
            char *fresh = realloc(text, fresh_cap);

            if (!fresh) {
                snprintf(err->message, sizeof err->message,
                         "out of memory while reading %s", path);
                goto cleanup;
            }
            text = fresh;
            cap = fresh_cap;
        }
        got = fread(text + len, 1, cap - len, file);
        len += got;
        if (got == 0)
            break;
        if (len > TOML_MAX_FILE_BYTES) {
            snprintf(err->message, sizeof err->message,
                     "the file is larger than %zu MiB, the limit for a "
                     "config file; check that the path names the config and "
                     "not a data file",
                     TOML_MAX_FILE_BYTES >> 20);
            goto cleanup;
        }
    }
    if (ferror(file)) {
        snprintf(err->message, sizeof err->message, "cannot read %s: %s", path,
                 strerror(errno));
        goto cleanup;
    }
    root = toml_parse(text, len, err);

cleanup:
    if (file)
        fclose(file);
    free(text);
    return root;
}

void toml_free(toml_node *root)
{
    toml_tree *tree;

    if (!root)
        return;
    tree = (toml_tree *)((char *)root - offsetof(toml_tree, root));
    arena_release(&tree->arena);
    free(tree);
}

const toml_kv *toml_table_get(const toml_node *table, const char *key)
{
    if (!table || table->type != TOML_TABLE || !key)
        return NULL;
    return table_find(as_parse_node(table), key, strlen(key));
}

const char *toml_type_name(toml_type type)
{
    switch (type) {
    case TOML_STRING: return "string";
    case TOML_INTEGER: return "integer";
    case TOML_FLOAT: return "float";
    case TOML_BOOL: return "boolean";
    case TOML_DATETIME: return "datetime";
    case TOML_DATETIME_LOCAL: return "datetime-local";
    case TOML_DATE_LOCAL: return "date-local";
    case TOML_TIME_LOCAL: return "time-local";
    case TOML_ARRAY: return "array";
    case TOML_TABLE: return "table";
    }
    return "unknown";
}
