/*
 * Helpers shared by the built-in sinks: option parsing (enumerated strings,
 * column lists, paths) and a buffered output file that writes a whole batch
 * with as few write(2) calls as possible.
 */
#ifndef AGORA_SINK_COMMON_H
#define AGORA_SINK_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agora/config.h"
#include "agora/error.h"
#include "agora/value.h"

/* ---- Output file --------------------------------------------------------- */

/*
 * An output file plus the bytes serialized for it but not yet written.
 * Sinks append to `buf` and call sink_file_write_pending at the end of each
 * batch, so a batch costs one write(2) in the common case.
 */
typedef struct sink_file {
    const char *kind;   /* static text for error messages, e.g. "jsonl sink" */
    char *path;         /* heap, owned, "<stdout>" for standard output */
    int fd;             /* -1 when closed */
    bool owns_fd;       /* false for standard output: close leaves it open */
    bool fsync_on_flush;
    off_t size_at_open; /* file size right after open, -1 for non-regular files */
    off_t written;      /* bytes this handle put in the file so far */
    off_t batch_start;  /* value of `written` when the current batch began */
    agora_buf buf;
} sink_file;

/* Prepares f for path (ownership of the heap string moves to f). */
void sink_file_init(sink_file *f, const char *kind, char *path,
                    bool fsync_on_flush);

/*
 * Opens the file for writing, creating it and its parent directories:
 * truncated unless append is true. Returns 0 or AGORA_EIO with err naming
 * the path and the system error.
 */
int sink_file_open(sink_file *f, bool append, agora_error *err);

/* Uses an already open descriptor (standard output) that f will not close. */
void sink_file_attach(sink_file *f, int fd);

/* Marks the start of a batch, the point a failed write rolls back to. */
void sink_file_begin_batch(sink_file *f);

/*
 * Writes everything in f->buf and empties it. Returns 0, or AGORA_EIO with
 * err naming the path and the system error. After a failed write a regular
 * file that this handle opened is truncated back to where the batch began, so
 * the failed batch leaves no partial line behind.
 */
int sink_file_write_pending(sink_file *f, agora_error *err);

/*
 * Drops pending bytes and removes what the current batch already wrote, the
 * same way a failed write does. For batches abandoned before their end.
 */
void sink_file_abort_batch(sink_file *f);

/* Writes pending bytes, then calls fsync when fsync_on_flush is set. */
int sink_file_flush(sink_file *f, agora_error *err);

/* Closes the descriptor (if owned) and drops pending bytes. */
void sink_file_close(sink_file *f);

/* Closes and frees everything f owns. */
void sink_file_clear(sink_file *f);

/* ---- Column lists --------------------------------------------------------- */

typedef struct sink_columns {
    char **names; /* heap strings, owned */
    size_t count;
} sink_columns;

void sink_columns_clear(sink_columns *cols);

/*
 * Reads an optional string-array option into cols (left empty when the key
 * is absent). Empty names and duplicates are errors naming the key.
 */
int sink_columns_from_option(sink_columns *cols, const agora_value *opts,
                             const char *key, agora_error *err);

/*
 * Fills cols with the keys of record, in order, each once (a key repeated
 * in the record keeps its first position). Returns 0 or AGORA_ENOMEM.
 */
int sink_columns_from_record(sink_columns *cols, const agora_value *record);

/* Returns true when cols has a column named exactly name (len bytes). */
bool sink_columns_contain(const sink_columns *cols, const char *name,
                          size_t len);

/* Appends a copy of name (len bytes) to cols. Returns 0 or AGORA_ENOMEM. */
int sink_columns_add(sink_columns *cols, const char *name, size_t len);

/*
 * Writes the column names into out as "a, b, c", ending in ", ..." when they
 * do not fit in size bytes, for error messages.
 */
void sink_columns_describe(const sink_columns *cols, char *out, size_t size);

/* ---- Options -------------------------------------------------------------- */

/*
 * Reads a string option that must be one of choices (NULL-terminated) and
 * returns its index, def's index when absent, or a negative code with err
 * naming the key, the value and the accepted ones.
 */
int sink_opt_choice(const agora_value *opts, const char *key, const char *def,
                    const char *const *choices, agora_error *err);

/*
 * Reads the required path option `key` and resolves it against the config
 * directory. Returns a heap string or NULL with err filled.
 */
char *sink_opt_path(const agora_value *opts, const char *key,
                    const agora_component_context *ctx, agora_error *err);

/* Returns a heap copy of the instance name, or of type when ctx has none. */
char *sink_instance_name(const agora_component_context *ctx, const char *type);

/*
 * Copies a formatted per-record error message into arena (falling back to a
 * static message when out of memory), for agora_record_result.error.
 */
const char *sink_record_error(agora_arena *arena, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * Cuts an incomplete last line (no '\n') left by a killed process from the
 * file at path before a resumed run appends to it. Returns 0 or AGORA_EIO.
 */
int sink_trim_partial_line(const char *path, const char *sink_type,
                           const char *unit, const char *event,
                           agora_error *err);

#endif
