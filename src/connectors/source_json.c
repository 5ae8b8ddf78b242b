/*
 * The `json` source: a file holding one JSON array, read as a stream.
 *
 * The array is never loaded whole. A scanner walks the bytes once and tracks
 * nesting, strings and escapes to find where each element begins and ends.
 * Each element is then parsed on its own with agora_json_parse. The read
 * buffer starts at 1 MiB and grows only to hold one element, so memory does
 * not grow with the file.
 *
 * A fault in the array structure (a missing comma, a mismatched bracket, a
 * truncated file) ends the run with file, line and column, because the
 * element boundaries after it are unknown. An element whose boundaries are
 * clear but whose text does not parse (a bad literal, invalid UTF-8) becomes
 * a bad record, and so does one longer than max_element_bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connectors.h"
#include "connectors/source_util.h"

#define JSON_DEFAULT_MAX_ELEMENT_BYTES ((int64_t)16 << 20)

/*
 * Maximum nesting the scanner tracks inside one element: the largest
 * max_depth the parser can be given. The parser then applies max_depth.
 */
#define JSON_SCAN_MAX_DEPTH AGORA_JSON_MAX_DEPTH_LIMIT

typedef enum json_phase {
    PHASE_START,         /* before '[' */
    PHASE_FIRST_ELEMENT, /* after '[': an element or ']' */
    PHASE_ELEMENT,       /* after ',': an element */
    PHASE_IN_ELEMENT,    /* inside an element */
    PHASE_AFTER_ELEMENT, /* after an element: ',' or ']' */
    PHASE_TRAILER,       /* after ']': only whitespace */
    PHASE_DONE
} json_phase;

typedef struct json_state {
    srcutil_reader reader;
    size_t max_element_bytes;
    agora_json_limits limits;
    uint64_t record_number;  /* elements fully handled */
    uint64_t resume_records; /* from prepare_resume: elements to skip at open */
    uint64_t skip_records;   /* elements still to skip in this run */

    json_phase phase;
    size_t scan; /* offset in reader.buf of the next byte to scan */
    uint64_t line, column; /* position of that byte, 1-based, columns in bytes */

    /* The element being scanned starts at reader.start unless oversized. */
    uint64_t element_line, element_column;
    unsigned depth;
    bool in_string, escape;
    unsigned char is_object[JSON_SCAN_MAX_DEPTH / 8]; /* bit per open level */
    bool oversized;
    size_t oversized_bytes; /* bytes dropped so far from an oversized element */
    char prefix[SRCUTIL_RAW_PREFIX_BYTES];
    size_t prefix_len;
} json_state;

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int structure_error(json_state *s, agora_error *err, const char *what)
{
    return agora_error_set(err, AGORA_EPARSE,
                           "%s:%llu:%llu: invalid JSON array: %s",
                           s->reader.display, (unsigned long long)s->line,
                           (unsigned long long)s->column, what);
}

static int json_open(void *state, agora_error *err)
{
    json_state *s = state;
    int rc;

    s->record_number = 0;
    s->skip_records = s->resume_records;
    s->resume_records = 0; /* a checkpoint applies to the next open only */
    s->phase = PHASE_START;
    s->line = 1;
    s->column = 1;
    s->depth = 0;
    s->in_string = false;
    s->escape = false;
    s->oversized = false;

    rc = srcutil_reader_open(&s->reader, err);
    if (rc != 0)
        return rc;
    s->scan = s->reader.start;

    /* Check the top level now so a wrong file fails at open. */
    while (s->scan < s->reader.end && is_json_space(s->reader.buf[s->scan])) {
        if (s->reader.buf[s->scan] == '\n') {
            s->line++;
            s->column = 1;
        } else {
            s->column++;
        }
        s->scan++;
    }
    if (s->scan < s->reader.end && s->reader.buf[s->scan] != '[') {
        rc = agora_error_set(err, AGORA_EPARSE,
                             "%s:%llu:%llu: the top level is not an array: "
                             "the json source reads a file holding one array "
                             "of records (use the jsonl source for one value "
                             "per line)",
                             s->reader.display, (unsigned long long)s->line,
                             (unsigned long long)s->column);
        srcutil_reader_close(&s->reader);
        return rc;
    }
    return 0;
}

/*
 * Hands one complete element, buf[start..end), to the batch: parsed as a
 * record, as a bad record, or skipped while resuming. Returns 1 when a
 * record or bad record was added, 0 when skipped, or a negative code.
 */
static int emit_element(json_state *s, agora_batch *batch, size_t end,
                        agora_error *err)
{
    srcutil_reader *r = &s->reader;
    const char *text = r->buf + r->start;
    size_t len = end - r->start;
    size_t total = s->oversized ? s->oversized_bytes + len : len;
    unsigned long long number = (unsigned long long)s->record_number + 1;
    char message[AGORA_ERROR_MESSAGE_MAX + 256];
    agora_error parse_err;
    agora_value *value;
    size_t line, column;
    const char *detail;
    int rc;

    if (s->skip_records > 0) {
        s->skip_records--;
        return 0;
    }

    if (s->oversized || total > s->max_element_bytes) {
        const char *raw = s->oversized ? s->prefix : text;
        size_t raw_len = s->oversized ? s->prefix_len
                                      : (len < SRCUTIL_RAW_PREFIX_BYTES
                                             ? len
                                             : SRCUTIL_RAW_PREFIX_BYTES);

        snprintf(message, sizeof(message),
                 "%s:%llu:%llu: element %llu is longer than "
                 "max_element_bytes (%zu bytes); the DLQ row keeps at most its "
                 "first %zu bytes; raise max_element_bytes to read such "
                 "elements",
                 r->display, (unsigned long long)s->element_line,
                 (unsigned long long)s->element_column, number,
                 s->max_element_bytes, (size_t)SRCUTIL_RAW_PREFIX_BYTES);
        rc = agora_batch_push_bad(batch, raw, raw_len, message);
        goto pushed;
    }

    agora_error_clear(&parse_err);
    value = agora_json_parse(batch->arena, text, len, &s->limits, &parse_err);
    if (value != NULL) {
        rc = agora_batch_push(batch, value);
        goto pushed;
    }
    if (parse_err.code == AGORA_ENOMEM)
        return agora_error_set(err, AGORA_ENOMEM,
                               "out of memory parsing element %llu of '%s'",
                               number, r->display);
    /* Turn the parser's position inside the element into one in the file. */
    if (srcutil_json_error_split(parse_err.message, &line, &column,
                                 &detail)) {
        unsigned long long file_line = s->element_line + line - 1;
        unsigned long long file_column =
            line == 1 ? s->element_column + column - 1 : column;

        snprintf(message, sizeof(message),
                 "%s:%llu:%llu: invalid JSON in element %llu: %s", r->display,
                 file_line, file_column, number, detail);
    } else {
        snprintf(message, sizeof(message), "%s:%llu:%llu: element %llu: %s",
                 r->display, (unsigned long long)s->element_line,
                 (unsigned long long)s->element_column, number,
                 parse_err.message);
    }
    rc = agora_batch_push_bad(batch, text, len, message);

pushed:
    /*
     * NOTE: a full bad-record array (AGORA_ELIMIT) is an error here, unlike
     * in the jsonl source, because the scanner state has moved past the
     * element and cannot step back.
     */
    if (rc < 0)
        return agora_error_set(err, rc,
                               "cannot add element %llu of '%s' to the "
                               "batch: %s",
                               number, r->display, agora_strerror(rc));
    return 1;
}

/* Begins an element at s->scan (its first byte, not yet scanned). */
static void begin_element(json_state *s)
{
    s->reader.start = s->scan;
    s->element_line = s->line;
    s->element_column = s->column;
    s->depth = 0;
    s->in_string = false;
    s->escape = false;
    s->oversized = false;
    s->oversized_bytes = 0;
    s->prefix_len = 0;
}

/*
 * Makes room before a read: keeps the element being scanned unless it is
 * already longer than max_element_bytes, in which case its first bytes are
 * saved as the raw text and the rest is dropped as it is scanned.
 */
static void release_scanned(json_state *s)
{
    srcutil_reader *r = &s->reader;
    size_t scanned = s->scan - r->start;

    if (s->phase != PHASE_IN_ELEMENT) {
        r->start = s->scan;
        return;
    }
    if (!s->oversized && scanned > s->max_element_bytes) {
        s->prefix_len = scanned < sizeof(s->prefix) ? scanned
                                                     : sizeof(s->prefix);
        memcpy(s->prefix, r->buf + r->start, s->prefix_len);
        s->oversized = true;
    }
    if (s->oversized) {
        s->oversized_bytes += scanned;
        r->start = s->scan;
    }
}

static int end_of_input(json_state *s, agora_error *err)
{
    switch (s->phase) {
    case PHASE_START:
    case PHASE_TRAILER:
    case PHASE_DONE:
        s->phase = PHASE_DONE;
        return 0;
    default:
        return structure_error(s, err,
                               "unexpected end of file before the closing "
                               "']'; the file may be truncated");
    }
}

static int json_next_batch(void *state, agora_batch *batch, agora_error *err)
{
    json_state *s = state;
    srcutil_reader *r = &s->reader;
    int added = 0;

    if (r->fd < 0)
        return agora_error_set(err, AGORA_ESTATE,
                               "json source '%s' is not open", r->display);

    while (s->phase != PHASE_DONE) {
        char c;

        if (s->scan == r->end) {
            size_t offset;
            long n;

            if (r->eof) {
                int rc = end_of_input(s, err);
                if (rc < 0)
                    return rc;
                break;
            }
            release_scanned(s);
            offset = s->scan - r->start;
            n = srcutil_reader_fill(r, err);
            if (n < 0)
                return (int)n;
            s->scan = r->start + offset;
            continue;
        }

        /* Fast path: skip ordinary bytes inside a string in one loop. */
        if (s->phase == PHASE_IN_ELEMENT && s->in_string && !s->escape) {
            size_t from = s->scan;

            while (s->scan < r->end) {
                c = r->buf[s->scan];
                if (c == '"' || c == '\\' || c == '\n')
                    break;
                s->scan++;
            }
            s->column += s->scan - from;
            if (s->scan == r->end)
                continue;
        }

        c = r->buf[s->scan];
        switch (s->phase) {
        case PHASE_START:
            if (c == '[') {
                s->phase = PHASE_FIRST_ELEMENT;
            } else if (!is_json_space(c)) {
                return structure_error(s, err, "the top level is not an "
                                               "array");
            }
            break;

        case PHASE_FIRST_ELEMENT:
        case PHASE_ELEMENT:
            if (is_json_space(c))
                break;
            if (c == ']' && s->phase == PHASE_FIRST_ELEMENT) {
                s->phase = PHASE_TRAILER;
                break;
            }
            if (c == ']' || c == ',' || c == '}')
                return structure_error(s, err, "expected an element");
            if (batch->count >= batch->cap)
                return added; /* resume at this element next time */
            begin_element(s);
            s->phase = PHASE_IN_ELEMENT;
            continue; /* scan c again as the element's first byte */

        case PHASE_IN_ELEMENT: {
            bool ends_before = false, ends_after = false;

            if (s->in_string) {
                if (s->escape)
                    s->escape = false;
                else if (c == '\\')
                    s->escape = true;
                else if (c == '"') {
                    s->in_string = false;
                    ends_after = s->depth == 0;
                }
            } else if (c == '"') {
                s->in_string = true;
            } else if (c == '{' || c == '[') {
                unsigned bit = 1u << (s->depth % 8);

                if (s->depth == JSON_SCAN_MAX_DEPTH)
                    return structure_error(s, err, "nesting deeper than 1024 "
                                                   "levels");
                if (c == '{')
                    s->is_object[s->depth / 8] |= (unsigned char)bit;
                else
                    s->is_object[s->depth / 8] &= (unsigned char)~bit;
                s->depth++;
            } else if (c == '}' || c == ']') {
                bool object;

                if (s->depth == 0) {
                    if (c == '}')
                        return structure_error(s, err, "unexpected '}'");
                    ends_before = true; /* the array's own ']' */
                } else {
                    s->depth--;
                    object = s->is_object[s->depth / 8] &
                             (1u << (s->depth % 8));
                    if (object && c == ']')
                        return structure_error(s, err, "expected '}' but "
                                                       "found ']'");
                    if (!object && c == '}')
                        return structure_error(s, err, "expected ']' but "
                                                       "found '}'");
                    ends_after = s->depth == 0;
                }
            } else if (s->depth == 0 && (c == ',' || is_json_space(c))) {
                ends_before = true; /* end of a number or literal */
            }

            if (ends_before || ends_after) {
                int rc = emit_element(s, batch, s->scan + (ends_after ? 1 : 0),
                                      err);
                if (rc < 0)
                    return rc;
                added += rc;
                s->record_number++;
                s->phase = PHASE_AFTER_ELEMENT;
                if (ends_before)
                    continue; /* c belongs to the array, scan it again */
            }
            break;
        }

        case PHASE_AFTER_ELEMENT:
            if (c == ',')
                s->phase = PHASE_ELEMENT;
            else if (c == ']')
                s->phase = PHASE_TRAILER;
            else if (!is_json_space(c))
                return structure_error(s, err, "expected ',' or ']' after an "
                                               "element");
            break;

        case PHASE_TRAILER:
            if (!is_json_space(c))
                return structure_error(s, err, "unexpected content after the "
                                               "closing ']'");
            break;

        case PHASE_DONE:
            break;
        }

        if (c == '\n') {
            s->line++;
            s->column = 1;
        } else {
            s->column++;
        }
        s->scan++;
    }
    return added;
}

static int json_prepare_resume(void *state, const agora_value *checkpoint,
                               agora_error *err)
{
    json_state *s = state;

    return srcutil_checkpoint_read(checkpoint, "record_number", "json",
                                   &s->resume_records, err);
}

static agora_value *json_checkpoint(void *state, agora_arena *arena)
{
    json_state *s = state;

    return srcutil_checkpoint_new(arena, "record_number", s->record_number);
}

static void json_close(void *state)
{
    json_state *s = state;

    srcutil_reader_close(&s->reader);
}

static void json_destroy(agora_source *self)
{
    json_state *s;

    if (self == NULL)
        return;
    s = self->state;
    if (s != NULL) {
        srcutil_reader_destroy(&s->reader);
        free(s);
    }
    free(self);
}

size_t srcutil_json_buffer_capacity(const agora_source *source)
{
    const json_state *s = source->state;

    return s->reader.cap;
}

static agora_source *json_create(const agora_value *options,
                                 const agora_component_context *ctx,
                                 agora_error *err)
{
    agora_source *source = calloc(1, sizeof(*source));
    json_state *s = calloc(1, sizeof(*s));
    int64_t max_element;

    if (source == NULL || s == NULL) {
        free(source);
        free(s);
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }
    s->reader.fd = -1;
    source->name = "json";
    source->state = s;
    source->open = json_open;
    source->next_batch = json_next_batch;
    source->prepare_resume = json_prepare_resume;
    source->checkpoint = json_checkpoint;
    source->close = json_close;
    source->destroy = json_destroy;
    source->prefetch_safe = true;

    if (srcutil_opt_positive(options, "max_element_bytes",
                             JSON_DEFAULT_MAX_ELEMENT_BYTES, &max_element,
                             err) != 0)
        goto fail;
    s->max_element_bytes = (size_t)max_element;
    if (srcutil_json_limits(options, &s->limits, err) != 0)
        goto fail;
    if (srcutil_reader_init(&s->reader, options, ctx, err) != 0)
        goto fail;
    return source;

fail:
    json_destroy(source);
    return NULL;
}

static const agora_option_spec json_options[] = {
    {"path", AGORA_OPT_STRING, true, NULL,
     "input file holding one JSON array of records, read as a stream; "
     "relative paths start at the directory of the config file"},
    {"max_element_bytes", AGORA_OPT_INT, false, "16777216",
     "maximum size of one array element in bytes; a larger element becomes a "
     "bad record and reading goes on"},
    SRCUTIL_JSON_LIMIT_OPTIONS,
    {NULL, AGORA_OPT_ANY, false, NULL, NULL},
};

const agora_component_type agora_source_json_type = {
    .kind = AGORA_COMPONENT_SOURCE,
    .type = "json",
    .summary = "reads a file holding one JSON array, one record per element",
    .options = json_options,
    .create_source = json_create,
};
