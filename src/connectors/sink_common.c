/*
 * Helpers shared by the built-in sinks: option parsing and the buffered
 * output file behind the jsonl, csv and stdout sinks.
 */
#include "connectors/sink_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agora/log.h"

/* ---- Output file --------------------------------------------------------- */

void sink_file_init(sink_file *f, const char *kind, char *path,
                    bool fsync_on_flush)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->path = path;
    f->fd = -1;
    f->fsync_on_flush = fsync_on_flush;
    f->size_at_open = -1;
    agora_buf_init(&f->buf);
}

int sink_file_open(sink_file *f, bool append, agora_error *err)
{
    struct stat st;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int rc;

    if (f->fd >= 0)
        return agora_error_set(err, AGORA_ESTATE,
                               "%s: %s is already open; close it before "
                               "opening it again", f->kind, f->path);

    rc = agora_mkdir_parents(f->path, err);
    if (rc < 0) {
        agora_error_prefix(err, "%s", f->kind);
        return rc;
    }

    f->fd = open(f->path, flags, 0644);
    if (f->fd < 0)
        return agora_error_set(err, AGORA_EIO,
                               "%s: cannot open %s for writing: %s; check "
                               "that its directory is writable", f->kind,
                               f->path, strerror(errno));

    f->owns_fd = true;
    f->size_at_open = -1;
    if (fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode))
        f->size_at_open = st.st_size;
    f->written = 0;
    f->batch_start = 0;
    f->buf.len = 0;
    return 0;
}

void sink_file_attach(sink_file *f, int fd)
{
    f->fd = fd;
    f->owns_fd = false;
    f->size_at_open = -1;
    f->written = 0;
    f->batch_start = 0;
    f->buf.len = 0;
}

void sink_file_begin_batch(sink_file *f)
{
    f->batch_start = f->written;
}

/*
 * Cuts the file back to where the failed batch began. Standard output is left
 * alone because the process that redirected it owns the file.
 * NOTE: this assumes no other process appends to the file at the same time.
 */
static void rollback_partial_batch(sink_file *f)
{
    if (!f->owns_fd || f->size_at_open < 0 || f->written == f->batch_start)
        return;
    if (ftruncate(f->fd, f->size_at_open + f->batch_start) == 0) {
        if (lseek(f->fd, f->size_at_open + f->batch_start, SEEK_SET) >= 0)
            f->written = f->batch_start;
        return;
    }
    AGORA_WARN("sink", "truncate_failed", NULL, NULL,
               "%s: cannot remove a partly written batch from %s: %s",
               f->kind, f->path, strerror(errno));
}

void sink_file_abort_batch(sink_file *f)
{
    f->buf.len = 0;
    if (f->fd >= 0)
        rollback_partial_batch(f);
}

int sink_file_write_pending(sink_file *f, agora_error *err)
{
    size_t done = 0;

    if (f->fd < 0)
        return agora_error_set(err, AGORA_ESTATE,
                               "%s: %s is not open; call open before writing",
                               f->kind, f->path);

    while (done < f->buf.len) {
        ssize_t n = write(f->fd, f->buf.data + done, f->buf.len - done);
        if (n < 0) {
            int saved = errno;
            if (saved == EINTR)
                continue;
            f->buf.len = 0;
            rollback_partial_batch(f);
            return agora_error_set(err, AGORA_EIO, "%s: cannot write to %s: %s",
                                   f->kind, f->path, strerror(saved));
        }
        done += (size_t)n;
        f->written += n;
    }
    f->buf.len = 0;
    return 0;
}

int sink_file_flush(sink_file *f, agora_error *err)
{
    int rc = sink_file_write_pending(f, err);

    if (rc < 0)
        return rc;
    if (f->fsync_on_flush && fsync(f->fd) != 0)
        return agora_error_set(err, AGORA_EIO, "%s: cannot fsync %s: %s",
                               f->kind, f->path, strerror(errno));
    return 0;
}

void sink_file_close(sink_file *f)
{
    if (f->fd >= 0 && f->owns_fd && close(f->fd) != 0)
        AGORA_WARN("sink", "close_failed", NULL, NULL,
                   "%s: closing %s failed: %s; data written since the last "
                   "flush may be lost", f->kind, f->path, strerror(errno));
    f->fd = -1;
    f->owns_fd = false;
    f->buf.len = 0;
}

void sink_file_clear(sink_file *f)
{
    sink_file_close(f);
    free(f->path);
    f->path = NULL;
    agora_buf_free(&f->buf);
}

/* ---- Column lists --------------------------------------------------------- */

void sink_columns_clear(sink_columns *cols)
{
    for (size_t i = 0; i < cols->count; i++)
        free(cols->names[i]);
    free(cols->names);
    cols->names = NULL;
    cols->count = 0;
}

bool sink_columns_contain(const sink_columns *cols, const char *name,
                          size_t len)
{
    for (size_t i = 0; i < cols->count; i++)
        if (strlen(cols->names[i]) == len && memcmp(cols->names[i], name, len) == 0)
            return true;
    return false;
}

int sink_columns_add(sink_columns *cols, const char *name, size_t len)
{
    /* Growing by one is fine: columns are added rarely, never per row. */
    char **grown = realloc(cols->names, (cols->count + 1) * sizeof(char *));
    char *copy;

    if (grown == NULL)
        return AGORA_ENOMEM;
    cols->names = grown;
    copy = strndup(name, len);
    if (copy == NULL)
        return AGORA_ENOMEM;
    cols->names[cols->count++] = copy;
    return 0;
}

void sink_columns_describe(const sink_columns *cols, char *out, size_t size)
{
    static const char more[] = ", ...";
    size_t used = 0;

    if (size == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < cols->count; i++) {
        const char *sep = i == 0 ? "" : ", ";
        size_t need = strlen(sep) + strlen(cols->names[i]);

        /* Keeps room for the ", ..." marker unless this is the last name. */
        if (used + need + (i + 1 < cols->count ? sizeof(more) - 1 : 0) >= size) {
            const char *marker = used == 0 ? more + 2 : more;

            if (used + strlen(marker) < size)
                memcpy(out + used, marker, strlen(marker) + 1);
            return;
        }
        used += (size_t)snprintf(out + used, size - used, "%s%s", sep,
                                 cols->names[i]);
    }
}

int sink_columns_from_option(sink_columns *cols, const agora_value *opts,
                             const char *key, agora_error *err)
{
    const agora_value *arr = agora_opt_value(opts, key);
    int rc = 0;

    sink_columns_clear(cols);
    if (arr == NULL)
        return 0;
    if (arr->type != AGORA_ARRAY)
        return agora_error_set_key(err, AGORA_ECONFIG, key,
                                   "option `%s` must be an array of column "
                                   "names, not a %s", key,
                                   agora_type_name(arr->type));
    if (arr->u.array.len == 0)
        return agora_error_set_key(err, AGORA_ECONFIG, key,
                                   "option `%s` is an empty list; name at "
                                   "least one column or leave the option out "
                                   "to use the keys of the first record", key);

    cols->names = calloc(arr->u.array.len, sizeof(char *));
    if (cols->names == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");

    for (size_t i = 0; i < arr->u.array.len; i++) {
        const agora_value *item = arr->u.array.items[i];

        if (item->type != AGORA_STRING) {
            rc = agora_error_set_key(err, AGORA_ECONFIG, key,
                                     "option `%s`: item %zu is a %s, not a "
                                     "column name string", key, i + 1,
                                     agora_type_name(item->type));
            goto cleanup;
        }
        if (item->u.string.len == 0 ||
            memchr(item->u.string.ptr, '\0', item->u.string.len) != NULL) {
            rc = agora_error_set_key(err, AGORA_ECONFIG, key,
                                     "option `%s`: item %zu is empty or "
                                     "contains a NUL byte; give a column name",
                                     key, i + 1);
            goto cleanup;
        }
        if (sink_columns_contain(cols, item->u.string.ptr, item->u.string.len)) {
            rc = agora_error_set_key(err, AGORA_ECONFIG, key,
                                     "option `%s`: column \"%s\" is listed "
                                     "twice; list each column once", key,
                                     item->u.string.ptr);
            goto cleanup;
        }
        cols->names[cols->count] = strndup(item->u.string.ptr, item->u.string.len);
        if (cols->names[cols->count] == NULL) {
            rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
            goto cleanup;
        }
        cols->count++;
    }

cleanup:
    if (rc < 0)
        sink_columns_clear(cols);
    return rc;
}

int sink_columns_from_record(sink_columns *cols, const agora_value *record)
{
    size_t n = record->u.object.len;

    sink_columns_clear(cols);
    if (n == 0)
        return 0;
    cols->names = calloc(n, sizeof(char *));
    if (cols->names == NULL)
        return AGORA_ENOMEM;

    for (size_t i = 0; i < n; i++) {
        const agora_string *key = &record->u.object.members[i].key;

        if (sink_columns_contain(cols, key->ptr, key->len))
            continue;
        cols->names[cols->count] = strndup(key->ptr, key->len);
        if (cols->names[cols->count] == NULL) {
            sink_columns_clear(cols);
            return AGORA_ENOMEM;
        }
        cols->count++;
    }
    return 0;
}

/* ---- Options -------------------------------------------------------------- */

int sink_opt_choice(const agora_value *opts, const char *key, const char *def,
                    const char *const *choices, agora_error *err)
{
    agora_error local;
    const char *value;
    char accepted[256] = "";
    size_t used = 0;

    agora_error_clear(&local);
    value = agora_opt_string(opts, key, def, &local);
    if (local.code != 0) {
        if (err != NULL)
            *err = local;
        return local.code;
    }

    for (size_t i = 0; choices[i] != NULL; i++) {
        if (strcmp(value, choices[i]) == 0)
            return (int)i;
        int n = snprintf(accepted + used, sizeof(accepted) - used, "%s\"%s\"",
                         i == 0 ? "" : ", ", choices[i]);
        if (n > 0 && (size_t)n < sizeof(accepted) - used)
            used += (size_t)n;
    }
    return agora_error_set_key(err, AGORA_ECONFIG, key,
                               "option `%s` has the unknown value \"%s\"; use "
                               "one of %s", key, value, accepted);
}

char *sink_opt_path(const agora_value *opts, const char *key,
                    const agora_component_context *ctx, agora_error *err)
{
    agora_error local;
    const char *path;
    char *resolved;

    agora_error_clear(&local);
    path = agora_opt_string(opts, key, NULL, &local);
    if (local.code != 0) {
        if (err != NULL)
            *err = local;
        return NULL;
    }
    if (path == NULL || path[0] == '\0') {
        agora_error_set_key(err, AGORA_ECONFIG, key,
                            "option `%s` is missing or empty; give the file "
                            "to write", key);
        return NULL;
    }

    if (ctx != NULL)
        resolved = agora_path_resolve(ctx, path);
    else
        resolved = strdup(path);
    if (resolved == NULL)
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
    return resolved;
}

char *sink_instance_name(const agora_component_context *ctx, const char *type)
{
    if (ctx != NULL && ctx->instance_name != NULL && ctx->instance_name[0] != '\0')
        return strdup(ctx->instance_name);
    return strdup(type);
}

const char *sink_record_error(agora_arena *arena, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    int n;
    char *copy;

    va_start(ap, fmt);
    n = vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (n < 0)
        return "sink rejected the record";
    if ((size_t)n >= sizeof(message))
        n = (int)sizeof(message) - 1;

    copy = arena != NULL ? agora_arena_strndup(arena, message, (size_t)n) : NULL;
    return copy != NULL ? copy : "sink rejected the record (message lost: out of memory)";
}

/*
 * Cuts a last line that has no '\n' from the file at path: the part of a
 * batch that a killed process wrote before it died. That batch was never
 * checkpointed, so the resumed run writes all of its records again. A
 * missing file or one that is not a regular file is left alone. sink_type
 * ("jsonl", "csv") and unit ("line", "row") word the messages, and event
 * names the warning logged after a cut.
 */
int sink_trim_partial_line(const char *path, const char *sink_type,
                           const char *unit, const char *event,
                           agora_error *err)
{
    char tail[4096];
    struct stat st;
    off_t end, keep = 0;
    int rc = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 0
                               : agora_error_set(err, AGORA_EIO,
                                                 "%s sink: cannot open %s: %s",
                                                 sink_type, path,
                                                 strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        goto cleanup;

    /* Scan back from the end for the last '\n'; keep = 0 when none. */
    end = st.st_size;
    while (end > 0 && keep == 0) {
        size_t chunk = end < (off_t)sizeof(tail) ? (size_t)end : sizeof(tail);
        ssize_t got = pread(fd, tail, chunk, end - (off_t)chunk);
        if (got != (ssize_t)chunk) {
            rc = agora_error_set(err, AGORA_EIO,
                                 "%s sink: cannot read the end of %s: %s",
                                 sink_type, path,
                                 got < 0 ? strerror(errno) : "short read");
            goto cleanup;
        }
        for (size_t i = chunk; i > 0; i--) {
            if (tail[i - 1] == '\n') {
                keep = end - (off_t)chunk + (off_t)i;
                break;
            }
        }
        end -= (off_t)chunk;
    }
    if (keep == st.st_size)
        goto cleanup;
    if (ftruncate(fd, keep) != 0) {
        rc = agora_error_set(err, AGORA_EIO,
                             "%s sink: cannot cut the incomplete last %s of "
                             "%s: %s",
                             sink_type, unit, path, strerror(errno));
        goto cleanup;
    }
    AGORA_WARN("sink", event, NULL, NULL,
               "%s sink: removed %lld bytes of an incomplete last %s from %s "
               "before resuming",
               sink_type, (long long)(st.st_size - keep), unit, path);

cleanup:
    close(fd);
    return rc;
}
