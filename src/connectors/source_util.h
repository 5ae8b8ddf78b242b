/*
 * Helpers shared by the file sources (json, jsonl, csv): option handling,
 * a chunked file reader, checkpoint values and UTF-8 checks.
 */
#ifndef AGORA_SOURCE_UTIL_H
#define AGORA_SOURCE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agora/config.h"
#include "agora/pipeline.h"

/* Bytes requested from read() at a time, and the initial size of a reader buffer. */
#define SRCUTIL_CHUNK_BYTES ((size_t)1 << 20)

/* Bytes of an oversized line or element kept as the raw text of its bad record. */
#define SRCUTIL_RAW_PREFIX_BYTES ((size_t)4096)

/*
 * A file read in large chunks. Unconsumed bytes are buf[start..end); a fill
 * moves them to the front before reading more, so pointers into buf are
 * valid only until the next fill.
 */
typedef struct srcutil_reader {
    char *path;    /* resolved path, heap; used in open errors */
    char *display; /* path as configured, heap; used in record messages */
    int fd;        /* -1 when closed */
    char *buf;
    size_t cap;
    size_t start;
    size_t end;
    bool eof;
} srcutil_reader;

/*
 * Reads the `path` option, resolves it against ctx->base_dir and stores both
 * forms in reader (which starts closed). Returns 0 or a negative code.
 */
int srcutil_reader_init(srcutil_reader *reader, const agora_value *options,
                        const agora_component_context *ctx, agora_error *err);

/*
 * Opens the file and reads the first bytes, skipping a UTF-8 byte order mark.
 * Fails with "cannot open source file '<path>': <reason>".
 */
int srcutil_reader_open(srcutil_reader *reader, agora_error *err);

/*
 * Moves the unconsumed bytes to the front, doubles the buffer when they fill
 * it, and reads once. Returns the number of bytes read (0 at end of file) or
 * a negative code.
 */
long srcutil_reader_fill(srcutil_reader *reader, agora_error *err);

/* Closes the file and frees the buffer; the paths stay. Safe to repeat. */
void srcutil_reader_close(srcutil_reader *reader);

/* Closes the reader and frees the paths. */
void srcutil_reader_destroy(srcutil_reader *reader);

/*
 * Reads an optional positive integer option, or def when absent. Returns 0 or
 * AGORA_ECONFIG with the key set in err.
 */
int srcutil_opt_positive(const agora_value *options, const char *key,
                         int64_t def, int64_t *out, agora_error *err);

/*
 * Reads the JSON limit options max_depth (1 to AGORA_JSON_MAX_DEPTH_LIMIT,
 * default 512) and max_string_bytes (default 16 MiB) into out. Returns 0 or
 * AGORA_ECONFIG with the key set in err.
 */
int srcutil_json_limits(const agora_value *options, agora_json_limits *out,
                        agora_error *err);

/* The option table rows of the options srcutil_json_limits reads. */
#define SRCUTIL_JSON_LIMIT_OPTIONS                                            \
    {"max_depth", AGORA_OPT_INT, false, "512",                                \
     "maximum nesting of arrays and objects in a record (at most 1024); a "   \
     "deeper record becomes a bad record"},                                   \
    {"max_string_bytes", AGORA_OPT_INT, false, "16777216",                    \
     "maximum length of one string or key in bytes; a record with a longer "  \
     "one becomes a bad record"}

/* Reads an optional boolean option. Returns 0 or AGORA_ECONFIG. */
int srcutil_opt_bool(const agora_value *options, const char *key, bool def,
                     bool *out, agora_error *err);

/* Builds the checkpoint object {"<key>": count} in arena, or NULL on ENOMEM. */
agora_value *srcutil_checkpoint_new(agora_arena *arena, const char *key,
                                    uint64_t count);

/*
 * Reads the count from a checkpoint object {"<key>": n} with n a
 * non-negative integer. Returns 0 or AGORA_EINVAL naming the source type.
 */
int srcutil_checkpoint_read(const agora_value *checkpoint, const char *key,
                            const char *source_type, uint64_t *out,
                            agora_error *err);

/*
 * Splits a message of agora_json_parse, "invalid JSON at line L, column C
 * (byte offset O): detail", into L, C and a pointer to detail. Returns false
 * when the message has another form; callers then show it whole.
 */
bool srcutil_json_error_split(const char *message, size_t *line,
                              size_t *column, const char **detail);

/* Returns true when s[0..len) is valid UTF-8 (no overlongs or surrogates). */
bool srcutil_utf8_valid(const char *s, size_t len);

/* Returns the current buffer size of a json source, so tests can check streaming. */
size_t srcutil_json_buffer_capacity(const agora_source *source);

#endif
