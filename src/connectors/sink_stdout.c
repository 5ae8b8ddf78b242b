/*
 * stdout sink: writes each record as one line of compact JSON to standard
 * output, one write(2) per batch. Standard output is never closed, and
 * stdio's buffer is flushed first so lines printed with printf keep their
 * order. A closed pipe reports EPIPE only when SIGPIPE is ignored; otherwise
 * the signal ends the process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/connectors.h"
#include "connectors/sink_common.h"

typedef struct stdout_sink {
    char *name;
    sink_file file;
} stdout_sink;

/* Only JSON lines so far; the option exists so other formats can follow. */
static const char *const stdout_formats[] = {"jsonl", NULL};

static int stdout_open(void *state, agora_error *err)
{
    stdout_sink *s = state;

    sink_file_attach(&s->file, STDOUT_FILENO);
    return 0;
}

static int stdout_write_batch(void *state, agora_value *const *records,
                              size_t n, agora_record_result *results,
                              agora_arena *arena, agora_error *err)
{
    stdout_sink *s = state;
    agora_buf *buf = &s->file.buf;
    int rc;

    for (size_t i = 0; i < n; i++) {
        results[i].error = NULL;
        rc = agora_json_write(buf, records[i]);
        if (rc == 0)
            rc = agora_buf_append(buf, "\n", 1);
        if (rc < 0) {
            buf->len = 0;
            return agora_error_set(err, rc, "stdout sink: cannot serialize "
                                   "record %zu of the batch: %s", i + 1,
                                   agora_strerror(rc));
        }
    }
    fflush(stdout);
    return sink_file_write_pending(&s->file, err);
}

static int stdout_flush(void *state, agora_error *err)
{
    stdout_sink *s = state;

    return sink_file_write_pending(&s->file, err);
}

static void stdout_close(void *state)
{
    stdout_sink *s = state;

    sink_file_close(&s->file);
}

static void stdout_destroy(agora_sink *self)
{
    stdout_sink *s;

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

static agora_sink *stdout_create(const agora_value *options,
                                 const agora_component_context *ctx,
                                 agora_error *err)
{
    agora_sink *sink = NULL;
    stdout_sink *s = NULL;
    char *path = NULL;
    int format;

    format = sink_opt_choice(options, "format", "jsonl", stdout_formats, err);
    if (format < 0)
        return NULL;

    sink = calloc(1, sizeof(*sink));
    s = calloc(1, sizeof(*s));
    path = strdup("<stdout>");
    if (sink == NULL || s == NULL || path == NULL)
        goto nomem;
    s->name = sink_instance_name(ctx, "stdout");
    if (s->name == NULL)
        goto nomem;
    sink_file_init(&s->file, "stdout sink", path, false);

    sink->name = s->name;
    sink->state = s;
    sink->open = stdout_open;
    sink->write_batch = stdout_write_batch;
    sink->flush = stdout_flush;
    sink->close = stdout_close;
    sink->destroy = stdout_destroy;
    return sink;

nomem:
    free(path);
    if (s != NULL)
        free(s->name);
    free(s);
    free(sink);
    agora_error_set(err, AGORA_ENOMEM, "out of memory");
    return NULL;
}

static const agora_option_spec stdout_options[] = {
    {"format", AGORA_OPT_STRING, false, "jsonl",
     "output format, only \"jsonl\" (one compact JSON value per line) for "
     "now"},
    {NULL, 0, false, NULL, NULL}};

const agora_component_type agora_sink_stdout_type = {
    .kind = AGORA_COMPONENT_SINK,
    .type = "stdout",
    .summary = "write records as JSON lines to standard output",
    .options = stdout_options,
    .create_sink = stdout_create,
};
