/*
 * Helpers shared by the file sources: the `path` option, a chunked reader
 * built on read(2), checkpoint objects and UTF-8 validation.
 */
#include "connectors/source_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int srcutil_reader_init(srcutil_reader *reader, const agora_value *options,
                        const agora_component_context *ctx, agora_error *err)
{
    agora_error local;
    const char *path;

    memset(reader, 0, sizeof(*reader));
    reader->fd = -1;

    agora_error_clear(&local);
    path = agora_opt_string(options, "path", NULL, &local);
    if (local.code != 0) {
        if (err != NULL)
            *err = local;
        return local.code;
    }
    if (path == NULL || path[0] == '\0')
        return agora_error_set_key(err, AGORA_ECONFIG, "path",
                                   "missing option 'path': set it to the "
                                   "input file");

    reader->display = strdup(path);
    reader->path = agora_path_resolve(ctx, path);
    if (reader->display == NULL || reader->path == NULL) {
        srcutil_reader_destroy(reader);
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    }
    return 0;
}

int srcutil_reader_open(srcutil_reader *reader, agora_error *err)
{
    long n;

    srcutil_reader_close(reader);
    reader->fd = open(reader->path, O_RDONLY | O_CLOEXEC);
    if (reader->fd < 0)
        return agora_error_set(err, AGORA_EIO,
                               "cannot open source file '%s': %s",
                               reader->path, strerror(errno));

    reader->buf = malloc(SRCUTIL_CHUNK_BYTES);
    if (reader->buf == NULL) {
        srcutil_reader_close(reader);
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    }
    reader->cap = SRCUTIL_CHUNK_BYTES;
    reader->start = 0;
    reader->end = 0;
    reader->eof = false;

    /* A BOM can arrive split across reads, so read until three bytes are in. */
    while (reader->end < 3 && !reader->eof) {
        n = srcutil_reader_fill(reader, err);
        if (n < 0) {
            srcutil_reader_close(reader);
            return (int)n;
        }
    }
    if (reader->end >= 3 && memcmp(reader->buf, "\xEF\xBB\xBF", 3) == 0)
        reader->start = 3;
    return 0;
}

long srcutil_reader_fill(srcutil_reader *reader, agora_error *err)
{
    size_t pending = reader->end - reader->start;
    ssize_t n;

    if (reader->eof)
        return 0;
    if (reader->start > 0) {
        memmove(reader->buf, reader->buf + reader->start, pending);
        reader->start = 0;
        reader->end = pending;
    }
    if (reader->end == reader->cap) {
        size_t new_cap = reader->cap * 2;
        char *grown = realloc(reader->buf, new_cap);

        if (grown == NULL)
            return agora_error_set(err, AGORA_ENOMEM,
                                   "out of memory growing the read buffer of "
                                   "'%s' to %zu bytes",
                                   reader->path, new_cap);
        reader->buf = grown;
        reader->cap = new_cap;
    }

    do {
        n = read(reader->fd, reader->buf + reader->end,
                 reader->cap - reader->end);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return agora_error_set(err, AGORA_EIO, "cannot read '%s': %s",
                               reader->path, strerror(errno));
    if (n == 0)
        reader->eof = true;
    reader->end += (size_t)n;
    return (long)n;
}

void srcutil_reader_close(srcutil_reader *reader)
{
    if (reader->fd >= 0)
        close(reader->fd);
    reader->fd = -1;
    free(reader->buf);
    reader->buf = NULL;
    reader->cap = 0;
    reader->start = 0;
    reader->end = 0;
    reader->eof = false;
}

void srcutil_reader_destroy(srcutil_reader *reader)
{
    srcutil_reader_close(reader);
    free(reader->path);
    free(reader->display);
    reader->path = NULL;
    reader->display = NULL;
}

int srcutil_opt_positive(const agora_value *options, const char *key,
                         int64_t def, int64_t *out, agora_error *err)
{
    agora_error local;
    int64_t value;

    agora_error_clear(&local);
    value = agora_opt_int(options, key, def, &local);
    if (local.code != 0) {
        if (err != NULL)
            *err = local;
        return local.code;
    }
    if (value <= 0)
        return agora_error_set_key(err, AGORA_ECONFIG, key,
                                   "option '%s' must be a positive integer, "
                                   "got %lld",
                                   key, (long long)value);
    *out = value;
    return 0;
}

int srcutil_json_limits(const agora_value *options, agora_json_limits *out,
                        agora_error *err)
{
    agora_json_limits defaults = agora_json_limits_default();
    int64_t depth, string_bytes;
    int rc;

    rc = srcutil_opt_positive(options, "max_depth",
                              (int64_t)defaults.max_depth, &depth, err);
    if (rc != 0)
        return rc;
    if (depth > AGORA_JSON_MAX_DEPTH_LIMIT)
        return agora_error_set_key(err, AGORA_ECONFIG, "max_depth",
                                   "option 'max_depth' is %lld, above the "
                                   "largest supported nesting of %d levels; "
                                   "flatten the records or use at most %d",
                                   (long long)depth,
                                   AGORA_JSON_MAX_DEPTH_LIMIT,
                                   AGORA_JSON_MAX_DEPTH_LIMIT);
    rc = srcutil_opt_positive(options, "max_string_bytes",
                              (int64_t)defaults.max_string_bytes,
                              &string_bytes, err);
    if (rc != 0)
        return rc;
    out->max_depth = (size_t)depth;
    out->max_string_bytes = (size_t)string_bytes;
    return 0;
}

int srcutil_opt_bool(const agora_value *options, const char *key, bool def,
                     bool *out, agora_error *err)
{
    agora_error local;
    bool value;

    agora_error_clear(&local);
    value = agora_opt_bool(options, key, def, &local);
    if (local.code != 0) {
        if (err != NULL)
            *err = local;
        return local.code;
    }
    *out = value;
    return 0;
}

agora_value *srcutil_checkpoint_new(agora_arena *arena, const char *key,
                                    uint64_t count)
{
    agora_value *object = agora_value_object(arena, 1);
    agora_value *number;

    if (object == NULL || count > INT64_MAX)
        return NULL;
    number = agora_value_int(arena, (int64_t)count);
    if (number == NULL)
        return NULL;
    if (agora_object_push(arena, object, key, strlen(key), number) != 0)
        return NULL;
    return object;
}

int srcutil_checkpoint_read(const agora_value *checkpoint, const char *key,
                            const char *source_type, uint64_t *out,
                            agora_error *err)
{
    const agora_value *count;

    if (checkpoint == NULL || checkpoint->type != AGORA_OBJECT)
        return agora_error_set(err, AGORA_EINVAL,
                               "invalid %s source checkpoint: expected an "
                               "object with key '%s'",
                               source_type, key);
    count = agora_object_getz(checkpoint, key);
    if (count == NULL || count->type != AGORA_INT || count->u.integer < 0)
        return agora_error_set(err, AGORA_EINVAL,
                               "invalid %s source checkpoint: '%s' must be a "
                               "non-negative integer; delete the saved "
                               "checkpoint to start from the beginning",
                               source_type, key);
    *out = (uint64_t)count->u.integer;
    return 0;
}

bool srcutil_json_error_split(const char *message, size_t *line,
                              size_t *column, const char **detail)
{
    size_t offset;
    int consumed = -1;

    if (sscanf(message, "invalid JSON at line %zu, column %zu (byte offset %zu): %n",
               line, column, &offset, &consumed) != 3 ||
        consumed < 0)
        return false;
    *detail = message + consumed;
    return true;
}

bool srcutil_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;

    while (p < end) {
        unsigned char c = *p;
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;

        if (c < 0x80) {
            /* ASCII runs are the common case: step over 16 bytes at a time
             * with SSE2 (every x86-64 CPU), then 8. */
#if defined(__SSE2__)
            while (end - p >= 16 &&
                   _mm_movemask_epi8(_mm_loadu_si128(
                       (const __m128i *)(const void *)p)) == 0)
                p += 16;
#endif
            while (end - p >= 8) {
                uint64_t v;

                memcpy(&v, p, 8);
                if ((v & 0x8080808080808080ULL) != 0)
                    break;
                p += 8;
            }
            while (p < end && *p < 0x80)
                p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return false;
        }
        if ((size_t)(end - p) <= need)
            return false;
        if (p[1] < lo || p[1] > hi)
            return false;
        for (size_t i = 2; i <= need; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
        }
        p += need + 1;
    }
    return true;
}
