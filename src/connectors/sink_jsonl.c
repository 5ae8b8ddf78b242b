/*
 * jsonl sink: writes each record as one line of compact JSON.
 *
 * A batch is serialized into one buffer and written with one write(2) (or a
 * few, past JSONL_CHUNK bytes), which is what keeps this sink fast. Every
 * value is written as is, so a record that is not an object still makes a
 * valid JSON line.
 *
 * A run that resumes from a checkpoint appends whatever the mode, and first
 * cuts off a last line without its '\n' that a killed run left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agora/log.h"
#include "connectors/connectors.h"
#include "connectors/sink_common.h"
#include "core/json_keys.h"

/* Bytes buffered before a write inside a batch; bounds memory for huge batches. */
#define JSONL_CHUNK (1u << 20)

typedef struct jsonl_sink {
    char *name;
    sink_file file;
    core_json_keys keys; /* valid within one write_batch call */
    bool append;
    bool resuming; /* set by set_resume for the next open */
} jsonl_sink;

static const char *const jsonl_modes[] = {"overwrite", "append", NULL};

static int jsonl_open(void *state, agora_error *err)
{
    jsonl_sink *s = state;

    if (s->resuming) {
        int rc = sink_trim_partial_line(s->file.path, "jsonl", "line",
                                        "partial_line_removed", err);
        if (rc < 0)
            return rc;
    }
    return sink_file_open(&s->file, s->append || s->resuming, err);
}

static void jsonl_set_resume(void *state, bool resuming)
{
    jsonl_sink *s = state;

    s->resuming = resuming;
}

/*
 * Writes each record that has a text (read from JSON and not replaced by a
 * middleware) as that text, byte for byte. The text is the same record, a
 * copy is cheaper than a serialization, and numbers keep their input form.
 */
static int jsonl_write_batch_texts(void *state, agora_value *const *records,
                                   const agora_string *texts, size_t n,
                                   agora_record_result *results,
                                   agora_arena *arena, agora_error *err)
{
    jsonl_sink *s = state;
    agora_buf *buf = &s->file.buf;
    int rc;

    sink_file_begin_batch(&s->file);
    core_json_keys_clear(&s->keys);
    for (size_t i = 0; i < n; i++) {
        results[i].error = NULL;
        if (texts != NULL && texts[i].ptr != NULL) {
            rc = agora_buf_reserve(buf, texts[i].len + 1);
            if (rc == 0) {
                memcpy(buf->data + buf->len, texts[i].ptr, texts[i].len);
                buf->data[buf->len + texts[i].len] = '\n';
                buf->len += texts[i].len + 1;
            }
        } else {
            rc = core_json_write_record(buf, records[i], &s->keys);
            if (rc == 0)
                rc = agora_buf_append(buf, "\n", 1);
        }
        if (rc < 0) {
            sink_file_abort_batch(&s->file);
            return agora_error_set(err, rc, "jsonl sink: cannot serialize "
                                   "record %zu of the batch for %s: %s", i + 1,
                                   s->file.path, agora_strerror(rc));
        }
        if (buf->len >= JSONL_CHUNK) {
            rc = sink_file_write_pending(&s->file, err);
            if (rc < 0)
                return rc;
        }
    }
    return sink_file_write_pending(&s->file, err);
}

static int jsonl_write_batch(void *state, agora_value *const *records, size_t n,
                             agora_record_result *results, agora_arena *arena,
                             agora_error *err)
{
    return jsonl_write_batch_texts(state, records, NULL, n, results, arena,
                                   err);
}

static int jsonl_flush(void *state, agora_error *err)
{
    jsonl_sink *s = state;

    return sink_file_flush(&s->file, err);
}

static void jsonl_close(void *state)
{
    jsonl_sink *s = state;

    sink_file_close(&s->file);
}

static void jsonl_destroy(agora_sink *self)
{
    jsonl_sink *s;

    if (self == NULL)
        return;
    s = self->state;
    if (s != NULL) {
        sink_file_clear(&s->file);
        free(s->name);
        free(s);
    }
    free(self);
}

static agora_sink *jsonl_create(const agora_value *options,
                                const agora_component_context *ctx,
                                agora_error *err)
{
    agora_sink *sink = NULL;
    jsonl_sink *s = NULL;
    agora_error local;
    char *path = NULL;
    int mode;
    bool fsync_on_flush;

    agora_error_clear(&local);
    path = sink_opt_path(options, "path", ctx, &local);
    if (path == NULL)
        goto cleanup;
    mode = sink_opt_choice(options, "mode", "overwrite", jsonl_modes, &local);
    if (mode < 0)
        goto cleanup;
    fsync_on_flush = agora_opt_bool(options, "fsync", false, &local);
    if (local.code != 0)
        goto cleanup;

    sink = calloc(1, sizeof(*sink));
    s = calloc(1, sizeof(*s));
    if (sink == NULL || s == NULL) {
        agora_error_set(&local, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }
    s->name = sink_instance_name(ctx, "jsonl");
    if (s->name == NULL) {
        agora_error_set(&local, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }
    sink_file_init(&s->file, "jsonl sink", path, fsync_on_flush);
    path = NULL;
    s->append = mode == 1;

    sink->name = s->name;
    sink->state = s;
    sink->open = jsonl_open;
    sink->write_batch = jsonl_write_batch;
    sink->write_batch_texts = jsonl_write_batch_texts;
    sink->flush = jsonl_flush;
    sink->close = jsonl_close;
    sink->destroy = jsonl_destroy;
    sink->set_resume = jsonl_set_resume;
    return sink;

cleanup:
    free(path);
    if (s != NULL) {
        if (s->file.path != NULL)
            sink_file_clear(&s->file);
        free(s->name);
    }
    free(s);
    free(sink);
    if (err != NULL)
        *err = local;
    return NULL;
}

static const agora_option_spec jsonl_options[] = {
    {"path", AGORA_OPT_STRING, true, NULL,
     "file to write; relative paths start at the config file's directory, "
     "missing parent directories are created"},
    {"mode", AGORA_OPT_STRING, false, "overwrite",
     "\"overwrite\" truncates the file when the sink opens, \"append\" adds "
     "to its end; a run that resumes from a checkpoint always appends"},
    {"fsync", AGORA_OPT_BOOL, false, "false",
     "call fsync on every flush so written records survive a power loss"},
    {NULL, 0, false, NULL, NULL}};

const agora_component_type agora_sink_jsonl_type = {
    .kind = AGORA_COMPONENT_SINK,
    .type = "jsonl",
    .summary = "write records as JSON lines to a file",
    .options = jsonl_options,
    .create_sink = jsonl_create,
};
