/*
 * The `jsonl` source: one JSON value per line (JSON Lines).
 *
 * The file is read in 1 MiB chunks and split on '\n' with memchr, so a line
 * costs one scan plus its parse. Each record carries its line as its text
 * (see agora_batch_push_text). The text points into the read buffer, so a
 * batch ends where the buffer must be refilled. When the run reads ahead
 * (batch->prefetching), the text is copied into the batch arena instead.
 * Blank lines are skipped. A line that does not parse, or is longer than
 * max_line_bytes, becomes a bad record and reading goes on. The checkpoint counts lines fully handled, blank and bad
 * lines included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connectors.h"
#include "connectors/source_util.h"

#define JSONL_DEFAULT_MAX_LINE_BYTES ((int64_t)16 << 20)

typedef struct jsonl_state {
    srcutil_reader reader;
    size_t max_line_bytes;
    agora_json_limits limits;
    uint64_t line_number;  /* lines fully handled since the start of the file */
    uint64_t resume_lines; /* from prepare_resume: lines to skip at open */
    uint64_t skip_lines;   /* lines still to skip in this run */
    bool discarding;       /* dropping the rest of an oversized line */
} jsonl_state;

static bool line_is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = line[i];
        if (c != ' ' && c != '\t' && c != '\r')
            return false;
    }
    return true;
}

static int jsonl_open(void *state, agora_error *err)
{
    jsonl_state *s = state;

    s->line_number = 0;
    s->skip_lines = s->resume_lines;
    s->resume_lines = 0; /* a checkpoint applies to the next open only */
    s->discarding = false;
    return srcutil_reader_open(&s->reader, err);
}

/* Pushes the bad record for an oversized line; raw is a prefix of it. */
static int push_long_line(jsonl_state *s, agora_batch *batch, const char *line,
                          size_t len)
{
    char message[512];
    size_t raw_len = len < SRCUTIL_RAW_PREFIX_BYTES ? len
                                                    : SRCUTIL_RAW_PREFIX_BYTES;

    snprintf(message, sizeof(message),
             "%s:%llu: line longer than max_line_bytes (%zu bytes); the DLQ "
             "row keeps at most its first %zu bytes; raise max_line_bytes to "
             "read such lines",
             s->reader.display, (unsigned long long)s->line_number + 1,
             s->max_line_bytes, (size_t)SRCUTIL_RAW_PREFIX_BYTES);
    return agora_batch_push_bad(batch, line, raw_len, message);
}

static int push_bad_line(jsonl_state *s, agora_batch *batch, const char *line,
                         size_t len, const agora_error *parse_err)
{
    char message[AGORA_ERROR_MESSAGE_MAX + 256];
    unsigned long long number = (unsigned long long)s->line_number + 1;
    size_t parser_line, column;
    const char *detail;

    /* A line contains no '\n', so the parser's line is always 1. Drop it.
     * A limit is not a syntax error: the text may well be valid JSON. */
    if (srcutil_json_error_split(parse_err->message, &parser_line, &column,
                                 &detail))
        snprintf(message, sizeof(message), "%s:%llu: %s at column %zu: %s",
                 s->reader.display, number,
                 parse_err->code == AGORA_ELIMIT ? "record past a limit"
                                                 : "invalid JSON",
                 column, detail);
    else
        snprintf(message, sizeof(message), "%s:%llu: %s", s->reader.display,
                 number, parse_err->message);
    return agora_batch_push_bad(batch, line, len, message);
}

/*
 * Drops bytes up to and including the next '\n', reading more as needed.
 * Returns 1 once the line or the file has ended, or a negative code.
 */
static int discard_rest_of_line(jsonl_state *s, agora_error *err)
{
    srcutil_reader *r = &s->reader;

    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        long n;

        if (nl != NULL) {
            r->start = (size_t)(nl - r->buf) + 1;
            return 1;
        }
        r->start = r->end;
        if (r->eof)
            return 1;
        n = srcutil_reader_fill(r, err);
        if (n < 0)
            return (int)n;
    }
}

static int jsonl_next_batch(void *state, agora_batch *batch, agora_error *err)
{
    jsonl_state *s = state;
    srcutil_reader *r = &s->reader;
    int added = 0;

    if (r->fd < 0)
        return agora_error_set(err, AGORA_ESTATE,
                               "jsonl source '%s' is not open", r->display);

    for (;;) {
        const char *line;
        size_t len, next;
        char *nl;
        agora_error parse_err;
        agora_value *value;
        bool valid;
        int rc;

        if (s->discarding) {
            if (batch->texts != NULL && !batch->prefetching && added > 0)
                break; /* discarding refills the buffer; see above */
            rc = discard_rest_of_line(s, err);
            if (rc < 0)
                return rc;
            s->discarding = false;
            s->line_number++;
            continue;
        }
        if (batch->count >= batch->cap)
            break;

        line = r->buf + r->start;
        len = r->end - r->start;
        nl = memchr(line, '\n', len);
        if (nl != NULL) {
            len = (size_t)(nl - line);
            next = r->start + len + 1;
            if (len > 0 && line[len - 1] == '\r')
                len--; /* CRLF line end */
        } else if (len > s->max_line_bytes) {
            next = r->end; /* the line goes on past the buffer */
        } else if (!r->eof) {
            long n;

            /* A fill moves the buffer, and the texts of this batch point
             * into it: end the batch first. */
            if (batch->texts != NULL && !batch->prefetching && added > 0)
                break;
            n = srcutil_reader_fill(r, err);
            if (n < 0)
                return (int)n;
            continue;
        } else if (len == 0) {
            break; /* end of file */
        } else {
            next = r->end; /* last line without a final '\n' */
        }

        if (len > s->max_line_bytes) {
            if (s->skip_lines > 0) {
                s->skip_lines--;
            } else {
                rc = push_long_line(s, batch, line, len);
                if (rc == AGORA_ELIMIT && added > 0)
                    break;
                if (rc < 0)
                    return agora_error_set(err, rc,
                                           "cannot store a bad record of "
                                           "'%s': %s",
                                           r->display, agora_strerror(rc));
                added++;
            }
            if (nl != NULL) {
                r->start = next;
                s->line_number++;
            } else {
                r->start = r->end;
                s->discarding = true; /* counts the line once it ends */
            }
            continue;
        }

        if (s->skip_lines > 0 || line_is_blank(line, len)) {
            if (s->skip_lines > 0)
                s->skip_lines--;
            r->start = next;
            s->line_number++;
            continue;
        }

        agora_error_clear(&parse_err);
        if (batch->texts_only) {
            /* Only the text is used: check it instead of building values. */
            value = NULL;
            valid = agora_json_check(batch->arena, line, len, &s->limits,
                                     &parse_err);
        } else {
            value = agora_json_parse(batch->arena, line, len, &s->limits,
                                     &parse_err);
            valid = value != NULL;
        }
        if (valid && batch->texts != NULL && batch->prefetching) {
            /* The next call reuses the buffer while this batch is still
             * processed: the text moves into the batch arena. */
            char *copy = agora_arena_alloc(batch->arena, len ? len : 1);
            if (copy == NULL)
                return agora_error_set(err, AGORA_ENOMEM,
                                       "out of memory reading %s:%llu",
                                       r->display,
                                       (unsigned long long)s->line_number + 1);
            memcpy(copy, line, len);
            rc = agora_batch_push_text(batch, value, copy, len);
        } else if (valid) {
            rc = agora_batch_push_text(batch, value, line, len);
        } else if (parse_err.code == AGORA_ENOMEM) {
            return agora_error_set(err, AGORA_ENOMEM,
                                   "out of memory parsing %s:%llu",
                                   r->display,
                                   (unsigned long long)s->line_number + 1);
        } else {
            rc = push_bad_line(s, batch, line, len, &parse_err);
        }
        if (rc == AGORA_ELIMIT && added > 0)
            break; /* the line stays unread for the next batch */
        if (rc < 0)
            return agora_error_set(err, rc, "cannot add a record of %s:%llu "
                                   "to the batch: %s",
                                   r->display,
                                   (unsigned long long)s->line_number + 1,
                                   agora_strerror(rc));
        added++;
        r->start = next;
        s->line_number++;
    }
    return added;
}

static int jsonl_prepare_resume(void *state, const agora_value *checkpoint,
                                agora_error *err)
{
    jsonl_state *s = state;

    return srcutil_checkpoint_read(checkpoint, "line_number", "jsonl",
                                   &s->resume_lines, err);
}

static agora_value *jsonl_checkpoint(void *state, agora_arena *arena)
{
    jsonl_state *s = state;

    return srcutil_checkpoint_new(arena, "line_number", s->line_number);
}

static void jsonl_close(void *state)
{
    jsonl_state *s = state;

    srcutil_reader_close(&s->reader);
}

static void jsonl_destroy(agora_source *self)
{
    jsonl_state *s;

    if (self == NULL)
        return;
    s = self->state;
    if (s != NULL) {
        srcutil_reader_destroy(&s->reader);
        free(s);
    }
    free(self);
}

static agora_source *jsonl_create(const agora_value *options,
                                  const agora_component_context *ctx,
                                  agora_error *err)
{
    agora_source *source = calloc(1, sizeof(*source));
    jsonl_state *s = calloc(1, sizeof(*s));
    int64_t max_line;

    if (source == NULL || s == NULL) {
        free(source);
        free(s);
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }
    s->reader.fd = -1;
    source->name = "jsonl";
    source->state = s;
    source->open = jsonl_open;
    source->next_batch = jsonl_next_batch;
    source->prepare_resume = jsonl_prepare_resume;
    source->checkpoint = jsonl_checkpoint;
    source->close = jsonl_close;
    source->destroy = jsonl_destroy;
    source->prefetch_safe = true;

    if (srcutil_opt_positive(options, "max_line_bytes",
                             JSONL_DEFAULT_MAX_LINE_BYTES, &max_line,
                             err) != 0)
        goto fail;
    s->max_line_bytes = (size_t)max_line;
    if (srcutil_json_limits(options, &s->limits, err) != 0)
        goto fail;
    if (srcutil_reader_init(&s->reader, options, ctx, err) != 0)
        goto fail;
    return source;

fail:
    jsonl_destroy(source);
    return NULL;
}

static const agora_option_spec jsonl_options[] = {
    {"path", AGORA_OPT_STRING, true, NULL,
     "input file, one JSON value per line; relative paths start at the "
     "directory of the config file"},
    {"max_line_bytes", AGORA_OPT_INT, false, "16777216",
     "maximum length of one line in bytes; a longer line becomes a bad "
     "record and reading goes on"},
    SRCUTIL_JSON_LIMIT_OPTIONS,
    {NULL, AGORA_OPT_ANY, false, NULL, NULL},
};

const agora_component_type agora_source_jsonl_type = {
    .kind = AGORA_COMPONENT_SOURCE,
    .type = "jsonl",
    .summary = "reads a JSON Lines file, one record per line",
    .options = jsonl_options,
    .create_source = jsonl_create,
};
