/*
 * The `csv` source: a CSV file with a header row, parsed by libcsv.
 *
 * libcsv handles RFC 4180 quoting, embedded newlines and CR, LF or CRLF row
 * ends, and skips blank lines. The first row names the columns; every later
 * row becomes an object with one member per column, in header order. Values
 * are strings unless infer_types is set.
 *
 * libcsv reports every row of a chunk at once, so completed rows wait in a
 * queue (bytes plus field and row boundaries) until next_batch turns them
 * into records. The queue contains at most the rows of one 1 MiB chunk
 * plus one unfinished row.
 *
 * Row numbers in messages count the header as row 1, so they match line
 * numbers in files without embedded newlines or blank lines. The checkpoint
 * counts data rows handled.
 */
#include <csv.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connectors.h"
#include "connectors/source_util.h"

/*
 * Largest field libcsv may buffer. It stops a quote that is never closed
 * from pulling the rest of a large file into memory.
 */
#define CSV_MAX_FIELD_BYTES ((size_t)64 << 20)

/* Growable array of size_t offsets. */
typedef struct csv_offsets {
    size_t *items;
    size_t len;
    size_t cap;
} csv_offsets;

typedef struct csv_state {
    srcutil_reader reader;
    unsigned char delimiter;
    bool infer_types;
    bool empty_as_null;

    struct csv_parser parser;
    bool parser_ready;
    bool finished; /* csv_fini has run: no more rows will come */
    int callback_error; /* AGORA_ENOMEM from a libcsv callback, or 0 */

    /* Header names, heap copies. */
    agora_string *columns;
    size_t column_count;
    bool header_done;
    int header_error; /* an invalid header fails open */
    char header_message[AGORA_ERROR_MESSAGE_MAX];

    /*
     * Queue of parsed rows: field bytes, the end offset of each field, and
     * per row the index one past its last field.
     */
    agora_buf bytes;
    csv_offsets field_ends;
    csv_offsets row_ends;
    size_t next_row;      /* first queued row not yet handed out */

    uint64_t rows_parsed;  /* data rows completed by libcsv */
    uint64_t row_number;   /* data rows fully handled */
    uint64_t resume_rows;  /* from prepare_resume: rows to skip at open */
    uint64_t skip_rows;    /* rows still to skip in this run */

    agora_buf scratch; /* re-joined raw text of a bad row */
} csv_state;

static int offsets_push(csv_offsets *o, size_t value)
{
    if (o->len == o->cap) {
        size_t new_cap = o->cap == 0 ? 256 : o->cap * 2;
        size_t *grown = realloc(o->items, new_cap * sizeof(*grown));

        if (grown == NULL)
            return AGORA_ENOMEM;
        o->items = grown;
        o->cap = new_cap;
    }
    o->items[o->len++] = value;
    return 0;
}

/* libcsv treats spaces around unquoted fields as padding by default; keep them. */
static int csv_no_space(unsigned char c)
{
    (void)c;
    return 0;
}

/* ---- Header ------------------------------------------------------------ */

static size_t field_start(const csv_state *s, size_t field)
{
    return field == 0 ? 0 : s->field_ends.items[field - 1];
}

/*
 * Takes the first queued row as the header: copies the names and checks
 * that each is valid UTF-8, non-empty and unique.
 */
static void take_header(csv_state *s)
{
    size_t count = s->row_ends.items[0];

    s->columns = calloc(count, sizeof(*s->columns));
    if (s->columns == NULL) {
        s->callback_error = AGORA_ENOMEM;
        return;
    }
    for (size_t i = 0; i < count; i++) {
        size_t start = field_start(s, i);
        size_t len = s->field_ends.items[i] - start;
        char *name = malloc(len + 1);

        if (name == NULL) {
            s->callback_error = AGORA_ENOMEM;
            return;
        }
        memcpy(name, s->bytes.data + start, len);
        name[len] = '\0';
        s->columns[i].ptr = name;
        s->columns[i].len = len;
        s->column_count = i + 1;
    }
    s->header_done = true;

    for (size_t i = 0; i < count && s->header_error == 0; i++) {
        const agora_string *name = &s->columns[i];

        if (name->len == 0) {
            s->header_error = AGORA_EPARSE;
            snprintf(s->header_message, sizeof(s->header_message),
                     "%s: row 1: column %zu of the header has an empty name; "
                     "give every column a name",
                     s->reader.display, i + 1);
        } else if (!srcutil_utf8_valid(name->ptr, name->len)) {
            s->header_error = AGORA_EPARSE;
            snprintf(s->header_message, sizeof(s->header_message),
                     "%s: row 1: column %zu of the header is not valid "
                     "UTF-8; convert the file to UTF-8",
                     s->reader.display, i + 1);
        }
        for (size_t j = 0; j < i && s->header_error == 0; j++) {
            if (s->columns[j].len == name->len &&
                memcmp(s->columns[j].ptr, name->ptr, name->len) == 0) {
                s->header_error = AGORA_EPARSE;
                snprintf(s->header_message, sizeof(s->header_message),
                         "%s: row 1: duplicate column name '%s' (columns %zu "
                         "and %zu); column names must be unique",
                         s->reader.display, name->ptr, j + 1, i + 1);
            }
        }
    }

    /* Drop the header row from the queue. */
    s->bytes.len = 0;
    s->field_ends.len = 0;
    s->row_ends.len = 0;
}

/* ---- libcsv callbacks -------------------------------------------------- */

static void on_field(void *data, size_t len, void *state)
{
    csv_state *s = state;

    if (s->callback_error != 0)
        return;
    if (agora_buf_append(&s->bytes, data, len) != 0 ||
        offsets_push(&s->field_ends, s->bytes.len) != 0)
        s->callback_error = AGORA_ENOMEM;
}

static void on_row(int terminator, void *state)
{
    csv_state *s = state;

    (void)terminator;
    if (s->callback_error != 0)
        return;
    if (offsets_push(&s->row_ends, s->field_ends.len) != 0) {
        s->callback_error = AGORA_ENOMEM;
        return;
    }
    if (!s->header_done)
        take_header(s);
    else
        s->rows_parsed++;
}

/* ---- Reading ----------------------------------------------------------- */

/*
 * Moves the fields of an unfinished row to the front of the queue once every
 * complete row was handed out.
 */
static void compact_queue(csv_state *s)
{
    size_t first_field, first_byte, partial_fields;

    if (s->next_row < s->row_ends.len)
        return;
    first_field = s->row_ends.len == 0
                      ? 0
                      : s->row_ends.items[s->row_ends.len - 1];
    first_byte = field_start(s, first_field);
    partial_fields = s->field_ends.len - first_field;

    memmove(s->bytes.data, s->bytes.data + first_byte,
            s->bytes.len - first_byte);
    s->bytes.len -= first_byte;
    for (size_t i = 0; i < partial_fields; i++)
        s->field_ends.items[i] = s->field_ends.items[first_field + i] -
                                 first_byte;
    s->field_ends.len = partial_fields;
    s->row_ends.len = 0;
    s->next_row = 0;
}

static int callback_failure(csv_state *s, agora_error *err)
{
    return agora_error_set(err, s->callback_error,
                           "out of memory while reading '%s'",
                           s->reader.display);
}

/*
 * Feeds the next chunk of the file to libcsv, or finishes parsing at end of
 * file. Returns 0 or a negative code.
 */
static int parse_more(csv_state *s, agora_error *err)
{
    srcutil_reader *r = &s->reader;
    size_t len;

    if (r->start == r->end && !r->eof) {
        long n = srcutil_reader_fill(r, err);
        if (n < 0)
            return (int)n;
    }

    len = r->end - r->start;
    if (len > 0) {
        if (csv_parse(&s->parser, r->buf + r->start, len, on_field, on_row,
                      s) != len)
            return agora_error_set(err, AGORA_EPARSE,
                                   "cannot parse '%s': %s", r->display,
                                   csv_strerror(csv_error(&s->parser)));
        r->start = r->end;
        if (s->callback_error != 0)
            return callback_failure(s, err);
        if (csv_get_buffer_size(&s->parser) > CSV_MAX_FIELD_BYTES)
            return agora_error_set(err, AGORA_EPARSE,
                                   "%s: row %llu: a field is longer than "
                                   "%zu bytes; check for a quote that is "
                                   "never closed",
                                   r->display,
                                   (unsigned long long)s->rows_parsed +
                                       (s->header_done ? 2 : 1),
                                   CSV_MAX_FIELD_BYTES);
        return 0;
    }

    /*
     * NOTE: libcsv 3.0.3 only reports an unterminated quoted field in strict
     * mode, which also rejects a stray quote inside an unquoted field. The
     * source runs in the lenient mode and checks the parser state here:
     * pstate 2 (FIELD_BEGUN) with quoted set means the last field still
     * waits for its closing quote.
     */
    if (s->parser.pstate == 2 && s->parser.quoted)
        return agora_error_set(err, AGORA_EPARSE,
                               "%s: row %llu: a quoted field has no closing "
                               "quote before the end of the file",
                               r->display,
                               (unsigned long long)s->rows_parsed +
                                   (s->header_done ? 2 : 1));
    csv_fini(&s->parser, on_field, on_row, s);
    s->finished = true;
    if (s->callback_error != 0)
        return callback_failure(s, err);
    return 0;
}

static void csv_close(void *state)
{
    csv_state *s = state;
    size_t i;

    srcutil_reader_close(&s->reader);
    if (s->parser_ready)
        csv_free(&s->parser);
    s->parser_ready = false;
    for (i = 0; i < s->column_count; i++)
        free((char *)s->columns[i].ptr);
    free(s->columns);
    s->columns = NULL;
    s->column_count = 0;
    s->header_done = false;
    s->bytes.len = 0;
    s->field_ends.len = 0;
    s->row_ends.len = 0;
    s->next_row = 0;
}

static int csv_open(void *state, agora_error *err)
{
    csv_state *s = state;
    int rc;

    csv_close(s);
    s->finished = false;
    s->callback_error = 0;
    s->header_error = 0;
    s->rows_parsed = 0;
    s->row_number = 0;
    s->skip_rows = s->resume_rows;
    s->resume_rows = 0; /* a checkpoint applies to the next open only */

    if (csv_init(&s->parser, 0) != 0)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    s->parser_ready = true;
    csv_set_delim(&s->parser, s->delimiter);
    csv_set_space_func(&s->parser, csv_no_space);

    rc = srcutil_reader_open(&s->reader, err);
    if (rc != 0)
        goto fail;

    /* Read up to the end of the header so a bad header fails here. */
    while (!s->header_done && !s->finished) {
        rc = parse_more(s, err);
        if (rc != 0)
            goto fail;
    }
    if (s->header_error != 0) {
        rc = agora_error_set(err, s->header_error, "%s", s->header_message);
        goto fail;
    }
    return 0;

fail:
    csv_close(s);
    return rc;
}

/* Returns true when text is an integer or decimal number in plain notation. */
static bool looks_numeric(const char *text, size_t len, bool *is_integer)
{
    size_t i = 0, digits = 0;

    *is_integer = true;
    if (i < len && (text[i] == '-' || text[i] == '+'))
        i++;
    while (i < len && text[i] >= '0' && text[i] <= '9') {
        i++;
        digits++;
    }
    if (i < len && text[i] == '.') {
        *is_integer = false;
        i++;
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        size_t exponent_digits = 0;

        *is_integer = false;
        i++;
        if (i < len && (text[i] == '-' || text[i] == '+'))
            i++;
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            i++;
            exponent_digits++;
        }
        if (exponent_digits == 0)
            return false;
    }
    return i == len;
}

/*
 * Builds the value of one field. With infer_types: integers become int,
 * other decimals double, "true"/"false" bool, empty null. An integer with a
 * leading zero ("007", a ZIP code) stays a string, and so does a number
 * outside the range of its type.
 */
static agora_value *field_value(const csv_state *s, agora_arena *arena,
                                const char *text, size_t len)
{
    bool is_integer;
    char digits[64];

    if (len == 0 && (s->empty_as_null || s->infer_types))
        return agora_value_null(arena);
    if (!s->infer_types)
        return agora_value_string(arena, text, len);

    if (len == 4 && memcmp(text, "true", 4) == 0)
        return agora_value_bool(arena, true);
    if (len == 5 && memcmp(text, "false", 5) == 0)
        return agora_value_bool(arena, false);

    if (len < sizeof(digits) && looks_numeric(text, len, &is_integer)) {
        const char *body = text + (text[0] == '-' || text[0] == '+');
        bool leading_zero = body[0] == '0' && body + 1 < text + len &&
                            body[1] >= '0' && body[1] <= '9';
        char *end;

        memcpy(digits, text, len);
        digits[len] = '\0';
        errno = 0;
        if (is_integer && !leading_zero) {
            long long integer = strtoll(digits, &end, 10);
            if (errno == 0 && *end == '\0')
                return agora_value_int(arena, (int64_t)integer);
        } else if (!is_integer && !leading_zero) {
            double number = strtod(digits, &end);
            if (errno == 0 && *end == '\0' && isfinite(number))
                return agora_value_double(arena, number);
        }
    }
    return agora_value_string(arena, text, len);
}

/* Re-joins the fields of a row as one CSV line for a bad record's raw text. */
static int join_row(csv_state *s, size_t first, size_t last)
{
    s->scratch.len = 0;
    for (size_t f = first; f < last; f++) {
        size_t start = field_start(s, f);
        size_t len = s->field_ends.items[f] - start;
        const char *text = s->bytes.data + start;
        bool quote = false;
        int rc;

        for (size_t i = 0; i < len && !quote; i++) {
            char c = text[i];
            quote = c == '"' || c == '\n' || c == '\r' ||
                    c == (char)s->delimiter;
        }
        if (f > first) {
            char delimiter = (char)s->delimiter;
            if ((rc = agora_buf_append(&s->scratch, &delimiter, 1)) != 0)
                return rc;
        }
        if (!quote) {
            if ((rc = agora_buf_append(&s->scratch, text, len)) != 0)
                return rc;
            continue;
        }
        if ((rc = agora_buf_append(&s->scratch, "\"", 1)) != 0)
            return rc;
        for (size_t i = 0; i < len; i++) {
            if (text[i] == '"' &&
                (rc = agora_buf_append(&s->scratch, "\"", 1)) != 0)
                return rc;
            if ((rc = agora_buf_append(&s->scratch, text + i, 1)) != 0)
                return rc;
        }
        if ((rc = agora_buf_append(&s->scratch, "\"", 1)) != 0)
            return rc;
    }
    return 0;
}

static int push_bad_row(csv_state *s, agora_batch *batch, size_t first,
                        size_t last, const char *message)
{
    int rc = join_row(s, first, last);

    if (rc != 0)
        return rc;
    return agora_batch_push_bad(batch, s->scratch.data, s->scratch.len,
                                message);
}

/*
 * Turns queued row `row` into a record or a bad record. Returns 0 or a
 * negative code (AGORA_ELIMIT when the batch has no room left).
 */
static int emit_row(csv_state *s, agora_batch *batch, size_t row)
{
    size_t first = row == 0 ? 0 : s->row_ends.items[row - 1];
    size_t last = s->row_ends.items[row];
    size_t count = last - first;
    /* Header is row 1, data row k is row k + 1. */
    unsigned long long row_in_file = (unsigned long long)s->row_number + 2;
    char message[512];
    agora_value *record;

    if (count != s->column_count) {
        snprintf(message, sizeof(message),
                 "%s: row %llu: expected %zu fields as in the header, found "
                 "%zu",
                 s->reader.display, row_in_file, s->column_count, count);
        return push_bad_row(s, batch, first, last, message);
    }

    record = agora_value_object(batch->arena, count);
    if (record == NULL)
        return AGORA_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        size_t start = field_start(s, first + i);
        size_t len = s->field_ends.items[first + i] - start;
        const char *text = s->bytes.data + start;
        agora_value *value;

        if (!srcutil_utf8_valid(text, len)) {
            snprintf(message, sizeof(message),
                     "%s: row %llu: field '%.100s' is not valid UTF-8",
                     s->reader.display, row_in_file, s->columns[i].ptr);
            return push_bad_row(s, batch, first, last, message);
        }
        value = field_value(s, batch->arena, text, len);
        if (value == NULL ||
            agora_object_push(batch->arena, record, s->columns[i].ptr,
                              s->columns[i].len, value) != 0)
            return AGORA_ENOMEM;
    }
    return agora_batch_push(batch, record);
}

static int csv_next_batch(void *state, agora_batch *batch, agora_error *err)
{
    csv_state *s = state;
    int added = 0;

    if (s->reader.fd < 0)
        return agora_error_set(err, AGORA_ESTATE,
                               "csv source '%s' is not open",
                               s->reader.display);

    while (batch->count < batch->cap) {
        int rc;

        if (s->next_row < s->row_ends.len) {
            if (s->skip_rows > 0) {
                s->skip_rows--;
            } else {
                rc = emit_row(s, batch, s->next_row);
                if (rc == AGORA_ELIMIT && added > 0)
                    break; /* the row stays queued for the next batch */
                if (rc < 0)
                    return agora_error_set(err, rc,
                                           "cannot add row %llu of '%s' to "
                                           "the batch: %s",
                                           (unsigned long long)s->row_number +
                                               2,
                                           s->reader.display,
                                           agora_strerror(rc));
                added++;
            }
            s->next_row++;
            s->row_number++;
            continue;
        }
        if (s->finished || !s->header_done)
            break;
        compact_queue(s);
        rc = parse_more(s, err);
        if (rc != 0)
            return rc;
    }
    return added;
}

static int csv_prepare_resume(void *state, const agora_value *checkpoint,
                              agora_error *err)
{
    csv_state *s = state;

    return srcutil_checkpoint_read(checkpoint, "row_number", "csv",
                                   &s->resume_rows, err);
}

static agora_value *csv_checkpoint(void *state, agora_arena *arena)
{
    csv_state *s = state;

    return srcutil_checkpoint_new(arena, "row_number", s->row_number);
}

static void csv_destroy(agora_source *self)
{
    csv_state *s;

    if (self == NULL)
        return;
    s = self->state;
    if (s != NULL) {
        csv_close(s);
        srcutil_reader_destroy(&s->reader);
        agora_buf_free(&s->bytes);
        agora_buf_free(&s->scratch);
        free(s->field_ends.items);
        free(s->row_ends.items);
        free(s);
    }
    free(self);
}

static agora_source *csv_create(const agora_value *options,
                                const agora_component_context *ctx,
                                agora_error *err)
{
    agora_source *source = calloc(1, sizeof(*source));
    csv_state *s = calloc(1, sizeof(*s));
    agora_error local;
    const char *delimiter;

    if (source == NULL || s == NULL) {
        free(source);
        free(s);
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }
    s->reader.fd = -1;
    agora_buf_init(&s->bytes);
    agora_buf_init(&s->scratch);
    source->name = "csv";
    source->state = s;
    source->open = csv_open;
    source->next_batch = csv_next_batch;
    source->prepare_resume = csv_prepare_resume;
    source->checkpoint = csv_checkpoint;
    source->close = csv_close;
    source->destroy = csv_destroy;

    agora_error_clear(&local);
    delimiter = agora_opt_string(options, "delimiter", ",", &local);
    if (local.code != 0) {
        if (err != NULL)
            *err = local;
        goto fail;
    }
    if (strlen(delimiter) != 1 || delimiter[0] == '"' ||
        delimiter[0] == '\n' || delimiter[0] == '\r') {
        agora_error_set_key(err, AGORA_ECONFIG, "delimiter",
                            "invalid delimiter '%s': use one ASCII character "
                            "other than a quote or a line break, such as "
                            "\",\", \";\" or \"\\t\"",
                            delimiter);
        goto fail;
    }
    if ((unsigned char)delimiter[0] >= 0x80) {
        agora_error_set_key(err, AGORA_ECONFIG, "delimiter",
                            "invalid delimiter '%s': use one ASCII character",
                            delimiter);
        goto fail;
    }
    s->delimiter = (unsigned char)delimiter[0];

    if (srcutil_opt_bool(options, "infer_types", false, &s->infer_types,
                         err) != 0 ||
        srcutil_opt_bool(options, "empty_as_null", false, &s->empty_as_null,
                         err) != 0)
        goto fail;
    if (srcutil_reader_init(&s->reader, options, ctx, err) != 0)
        goto fail;
    return source;

fail:
    csv_destroy(source);
    return NULL;
}

static const agora_option_spec csv_options[] = {
    {"path", AGORA_OPT_STRING, true, NULL,
     "input CSV file whose first row names the columns; relative paths start "
     "at the directory of the config file"},
    {"delimiter", AGORA_OPT_STRING, false, ",",
     "field separator, one ASCII character (\"\\t\" for tab-separated files)"},
    {"infer_types", AGORA_OPT_BOOL, false, "false",
     "convert integers to int, other decimals to double, true/false to bool "
     "and empty fields to null; integers with a leading zero stay strings"},
    {"empty_as_null", AGORA_OPT_BOOL, false, "false",
     "turn empty fields into null instead of empty strings"},
    {NULL, AGORA_OPT_ANY, false, NULL, NULL},
};

const agora_component_type agora_source_csv_type = {
    .kind = AGORA_COMPONENT_SOURCE,
    .type = "csv",
    .summary = "reads a CSV file with a header row, one record per row",
    .options = csv_options,
    .create_source = csv_create,
};
