/*
 * The `csv` source: a CSV file with a header row, parsed by libcsv.
 *
 * libcsv handles RFC 4180 quoting, embedded newlines and CR, LF or CRLF row
 * ends, and skips blank lines. The first row names the columns; every later
 * row becomes an object with one member per column, in header order. Values
 * are strings unless infer_types is set.
 *
 * Completed rows wait in a queue (bytes plus field and row boundaries) until
 * next_batch turns them into records. The queue contains at most the rows
 * of one 1 MiB chunk plus one unfinished row. Each field in the queue is
 * followed by a NUL byte, so a row's fields are copied into the batch arena
 * with one memcpy and are NUL-terminated there.
 *
 * Most lines contain no quote. Such a line is split on the delimiter
 * directly, which gives the fields libcsv would give without its per-byte
 * state machine and callbacks. A line with a quote or a lone CR goes through
 * libcsv, and so does everything until libcsv is back at the start of a row,
 * because a quoted field may span lines.
 *
 * A line longer than max_row_bytes becomes a bad record that contains its
 * first bytes, and reading resumes after its line break.
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
#include "core/arena_impl.h"
#include "core/json_keys.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/*
 * Largest field libcsv may buffer. It stops a quote that is never closed
 * from pulling the rest of a large file into memory.
 */
#define CSV_MAX_FIELD_BYTES ((size_t)64 << 20)

/*
 * Largest room push_row_text takes from the batch arena to render a row in
 * place. Above it, the row is rendered into a growing buffer and copied:
 * the worst case (every byte escaped) is six times the row, and a request
 * that large would get a block of its own.
 */
#define CSV_ARENA_TEXT_MAX ((size_t)8192)

#define CSV_DEFAULT_MAX_ROW_BYTES ((int64_t)16 << 20)

/* libcsv's parser state between rows (ROW_NOT_BEGUN in libcsv.c). */
#define CSV_PSTATE_ROW_NOT_BEGUN 0

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
    size_t max_row_bytes;
    bool discarding; /* dropping the rest of an oversized line */

    struct csv_parser parser;
    bool parser_ready;
    bool finished; /* csv_fini has run: no more rows will come */
    int callback_error; /* AGORA_ENOMEM from a libcsv callback, or 0 */

    /* Header names, heap copies. */
    agora_string *columns;
    size_t column_count;
    /* Copies of the names in the current batch's arena, NULL until the
     * batch's first record; every record of the batch shares them. */
    agora_string *batch_columns;
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
    csv_offsets long_rows; /* queued rows that are oversized lines, ascending */
    size_t next_long;      /* first entry of long_rows not yet handed out */
    size_t next_row;      /* first queued row not yet handed out */

    uint64_t rows_parsed;  /* data rows completed by libcsv */
    uint64_t row_number;   /* data rows fully handled */
    uint64_t resume_rows;  /* from prepare_resume: rows to skip at open */
    uint64_t skip_rows;    /* rows still to skip in this run */

    agora_buf scratch; /* re-joined raw text of a bad row */
    agora_buf json;    /* JSON text of one record (push_with_text) */
    size_t names_bound; /* core_json_string_row_names_bound of the columns */
    core_json_keys keys; /* rendered keys of the current batch */
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

/* Fields are stored with a NUL after each, so the next one starts one later. */
static size_t field_start(const csv_state *s, size_t field)
{
    return field == 0 ? 0 : s->field_ends.items[field - 1] + 1;
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
    s->names_bound = core_json_string_row_names_bound(s->columns, count);

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
    if (agora_buf_reserve(&s->bytes, len + 1) != 0 ||
        offsets_push(&s->field_ends, s->bytes.len + len) != 0) {
        s->callback_error = AGORA_ENOMEM;
        return;
    }
    if (len > 0)
        memcpy(s->bytes.data + s->bytes.len, data, len);
    s->bytes.data[s->bytes.len + len] = '\0';
    s->bytes.len += len + 1;
}

static int end_row(csv_state *s);

static void on_row(int terminator, void *state)
{
    csv_state *s = state;

    (void)terminator;
    if (s->callback_error != 0)
        return;
    if (end_row(s) != 0 && s->callback_error == 0)
        s->callback_error = AGORA_ENOMEM;
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
    s->long_rows.len = 0;
    s->next_long = 0;
}

static int callback_failure(csv_state *s, agora_error *err)
{
    return agora_error_set(err, s->callback_error,
                           "out of memory while reading '%s'",
                           s->reader.display);
}

static int callback_failure_code(csv_state *s, int code, agora_error *err)
{
    s->callback_error = code;
    return callback_failure(s, err);
}

/* Marks the end of a completed row in the queue. Returns 0 or a code. */
static int end_row(csv_state *s)
{
    if (offsets_push(&s->row_ends, s->field_ends.len) != 0)
        return AGORA_ENOMEM;
    if (!s->header_done)
        take_header(s);
    else
        s->rows_parsed++;
    return s->callback_error;
}

/* Makes room for extra more offsets. Returns 0 or AGORA_ENOMEM. */
static int offsets_reserve(csv_offsets *o, size_t extra)
{
    size_t need = o->len + extra;

    if (need <= o->cap)
        return 0;
    size_t new_cap = o->cap == 0 ? 256 : o->cap;
    while (new_cap < need)
        new_cap *= 2;
    size_t *grown = realloc(o->items, new_cap * sizeof(*grown));
    if (grown == NULL)
        return AGORA_ENOMEM;
    o->items = grown;
    o->cap = new_cap;
    return 0;
}

/*
 * Queues the line [line, end) (without its line break) as a row when it
 * contains no quote and no CR, splitting it on the delimiter. Returns 1 when
 * queued, 0 when the line needs libcsv (nothing queued), or a negative code.
 *
 * The line is copied once, and each delimiter in the copy becomes the NUL
 * that ends its field. With SSE2, the delimiters of 16 bytes come as one bit
 * mask that is walked bit by bit, so the loop runs once per field, not once
 * per byte.
 */
static int queue_plain_line(csv_state *s, const char *line, const char *end)
{
    size_t len = (size_t)(end - line);
    size_t base = s->bytes.len;
    size_t first_field = s->field_ends.len;
    size_t *ends;
    size_t n = 0;
    size_t i = 0;
    char *copy;

    /* At most one field per byte, plus the last one. */
    if (agora_buf_reserve(&s->bytes, len + 1) != 0 ||
        offsets_reserve(&s->field_ends, len + 1) != 0)
        return AGORA_ENOMEM;
    copy = s->bytes.data + base;
    ends = s->field_ends.items + first_field;
    memcpy(copy, line, len);
#if defined(__SSE2__)
    {
        const __m128i d = _mm_set1_epi8((char)s->delimiter);
        const __m128i q = _mm_set1_epi8('"');
        const __m128i cr = _mm_set1_epi8('\r');

        for (; len - i >= 16; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(line + i));
            unsigned delims = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, d));

            if (_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, q),
                                               _mm_cmpeq_epi8(v, cr))) != 0)
                return 0; /* nothing is committed until the end */
            while (delims != 0) {
                size_t at = i + (size_t)__builtin_ctz(delims);

                ends[n++] = base + at;
                copy[at] = '\0';
                delims &= delims - 1;
            }
        }
    }
#endif
    for (; i < len; i++) {
        char c = line[i];

        if (c == '"' || c == '\r')
            return 0;
        if (c == (char)s->delimiter) {
            ends[n++] = base + i;
            copy[i] = '\0';
        }
    }
    ends[n++] = base + len;
    copy[len] = '\0';
    s->field_ends.len = first_field + n;
    s->bytes.len = base + len + 1;
    return end_row(s) == 0 ? 1 : AGORA_ENOMEM;
}

/* Hands bytes to libcsv. Returns 0 or a negative code. */
static int feed_libcsv(csv_state *s, const char *data, size_t len,
                       agora_error *err)
{
    if (csv_parse(&s->parser, data, len, on_field, on_row, s) != len)
        return agora_error_set(err, AGORA_EPARSE, "cannot parse '%s': %s",
                               s->reader.display,
                               csv_strerror(csv_error(&s->parser)));
    if (s->callback_error != 0)
        return callback_failure(s, err);
    if (csv_get_buffer_size(&s->parser) > CSV_MAX_FIELD_BYTES)
        return agora_error_set(err, AGORA_EPARSE,
                               "%s: row %llu: a field is longer than %zu "
                               "bytes; check for a quote that is never closed",
                               s->reader.display,
                               (unsigned long long)s->rows_parsed +
                                   (s->header_done ? 2 : 1),
                               CSV_MAX_FIELD_BYTES);
    return 0;
}

/* Queues an oversized line as a bad row holding its first bytes. */
static int queue_long_line(csv_state *s, const char *line, size_t len)
{
    size_t keep = len < SRCUTIL_RAW_PREFIX_BYTES ? len : SRCUTIL_RAW_PREFIX_BYTES;
    size_t base = s->bytes.len;

    if (!s->header_done) {
        s->header_done = true;
        s->header_error = AGORA_EPARSE;
        snprintf(s->header_message, sizeof(s->header_message),
                 "%s: row 1: the header line is longer than max_row_bytes "
                 "(%zu bytes); raise max_row_bytes or check the line breaks "
                 "of the file",
                 s->reader.display, s->max_row_bytes);
        return 0;
    }
    /* One field with the prefix; emit_row finds the row in long_rows. */
    if (agora_buf_reserve(&s->bytes, keep + 1) != 0 ||
        offsets_push(&s->field_ends, base + keep) != 0 ||
        offsets_push(&s->long_rows, s->row_ends.len) != 0)
        return AGORA_ENOMEM;
    memcpy(s->bytes.data + base, line, keep);
    s->bytes.data[base + keep] = '\0';
    s->bytes.len = base + keep + 1;
    return end_row(s);
}

/*
 * Queues every complete line of the read buffer. While libcsv is at the
 * start of a row, lines without a quote or a lone CR are split here. Other
 * lines go to libcsv whole, line break included. A partial last line stays
 * in the buffer. Returns 0 or a negative code.
 */
static int queue_lines(csv_state *s, agora_error *err)
{
    srcutil_reader *r = &s->reader;

    while (r->start < r->end) {
        const char *line = r->buf + r->start;
        const char *nl = memchr(line, '\n', r->end - r->start);
        const char *body_end;
        int rc;

        if (s->discarding) {
            r->start = nl != NULL ? (size_t)(nl - r->buf) + 1 : r->end;
            s->discarding = nl == NULL;
            continue;
        }
        if (nl == NULL) {
            size_t pending = r->end - r->start;

            if (pending <= s->max_row_bytes)
                return 0; /* wait for the rest of the line */
            if (s->parser.pstate == CSV_PSTATE_ROW_NOT_BEGUN) {
                rc = queue_long_line(s, line, pending);
                if (rc != 0)
                    return callback_failure_code(s, rc, err);
                s->discarding = true;
            } else {
                /* Inside a quoted field: libcsv takes any piece, and its
                 * field limit bounds the memory, not the read buffer. */
                rc = feed_libcsv(s, line, pending, err);
                if (rc != 0)
                    return rc;
            }
            r->start = r->end;
            return 0;
        }
        body_end = nl;
        if (body_end > line && body_end[-1] == '\r')
            body_end--;
        if (s->parser.pstate == CSV_PSTATE_ROW_NOT_BEGUN) {
            if ((size_t)(body_end - line) > s->max_row_bytes) {
                rc = queue_long_line(s, line, (size_t)(body_end - line));
                if (rc != 0)
                    return callback_failure_code(s, rc, err);
                r->start = (size_t)(nl - r->buf) + 1;
                continue;
            }
            if (body_end == line) { /* blank line: libcsv skips these too */
                r->start = (size_t)(nl - r->buf) + 1;
                continue;
            }
            rc = queue_plain_line(s, line, body_end);
            if (rc < 0)
                return callback_failure_code(s, rc, err);
            if (rc == 1) {
                r->start = (size_t)(nl - r->buf) + 1;
                continue;
            }
        }
        rc = feed_libcsv(s, line, (size_t)(nl - line) + 1, err);
        if (rc != 0)
            return rc;
        r->start = (size_t)(nl - r->buf) + 1;
    }
    return 0;
}

/*
 * Queues the rows of the next chunk of the file, or finishes parsing at end
 * of file. Returns 0 or a negative code.
 */
static int parse_more(csv_state *s, agora_error *err)
{
    srcutil_reader *r = &s->reader;
    size_t rows_before = s->row_ends.len;
    int rc;

    for (;;) {
        rc = queue_lines(s, err);
        if (rc != 0)
            return rc;
        if (s->row_ends.len > rows_before || r->eof)
            break;
        long n = srcutil_reader_fill(r, err);
        if (n < 0)
            return (int)n;
    }
    if (!r->eof)
        return 0;

    if (r->start < r->end && !s->discarding) {
        /* The last line has no line break. */
        const char *line = r->buf + r->start;
        size_t len = r->end - r->start;

        if (len > s->max_row_bytes &&
            s->parser.pstate == CSV_PSTATE_ROW_NOT_BEGUN) {
            rc = queue_long_line(s, line, len);
            if (rc != 0)
                return callback_failure_code(s, rc, err);
        } else {
            rc = feed_libcsv(s, line, len, err);
            if (rc != 0)
                return rc;
        }
    }
    r->start = r->end;

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
    s->long_rows.len = 0;
    s->next_long = 0;
    s->discarding = false;
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
 * Builds the value of one field from text, a NUL-terminated copy in arena
 * that the value may point to. With infer_types: integers become int,
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
        return agora_value_string_ref(arena, text, len);

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
    return agora_value_string_ref(arena, text, len);
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
 * Pushes record (NULL for a text alone) with the JSON text rendered in
 * s->json, after copying the text into the batch arena.
 */
static int push_rendered(csv_state *s, agora_batch *batch, agora_value *record)
{
    char *text = agora_arena_alloc(batch->arena, s->json.len);

    if (text == NULL)
        return AGORA_ENOMEM;
    memcpy(text, s->json.data, s->json.len);
    return agora_batch_push_text(batch, record, text, s->json.len);
}

/*
 * Pushes record with its JSON text, for a run whose sinks use only texts.
 * The text is rendered here, on the thread that reads ahead when the run
 * prefetches, which leaves the sinks little more than a copy. The bytes are
 * those the sink would write for the record, because it is the same writer.
 */
static int push_with_text(csv_state *s, agora_batch *batch,
                          agora_value *record)
{
    s->json.len = 0;
    if (core_json_write_record(&s->json, record, &s->keys) != 0)
        return AGORA_ENOMEM;
    return push_rendered(s, batch, record);
}

/*
 * Pushes the row as its JSON text alone (record NULL), for a run whose
 * sinks use only texts and whose values are all strings. No value is built:
 * the row's fields are rendered from the queue straight into the batch
 * arena, followed by a line break, so that the texts of a batch lie one
 * after the other as JSON Lines. A row too long for the arena's blocks
 * takes the path through s->json instead.
 */
static int push_row_text(csv_state *s, agora_batch *batch, size_t first,
                         size_t count, size_t row_bytes)
{
    size_t bound = core_json_string_row_bound(s->names_bound, row_bytes);
    const size_t *ends = s->field_ends.items + first;

    if (bound <= CSV_ARENA_TEXT_MAX) {
        char *text = agora_arena_alloc(batch->arena, bound);
        size_t len;

        if (text == NULL)
            return AGORA_ENOMEM;
        len = core_json_render_string_row(text, &s->keys, s->columns,
                                          s->bytes.data, s->bytes.len,
                                          field_start(s, first), ends, count);
        text[len] = '\n';
        core_arena_shrink(batch->arena, text, bound, len + 1);
        return agora_batch_push_text(batch, NULL, text, len);
    }
    s->json.len = 0;
    if (core_json_write_string_row(&s->json, &s->keys, s->columns,
                                   s->bytes.data, s->bytes.len,
                                   field_start(s, first), ends, count) != 0)
        return AGORA_ENOMEM;
    return push_rendered(s, batch, NULL);
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

    if (s->next_long < s->long_rows.len &&
        s->long_rows.items[s->next_long] == row) {
        s->next_long++;
        snprintf(message, sizeof(message),
                 "%s: row %llu: line longer than max_row_bytes (%zu bytes); "
                 "the DLQ row keeps at most its first %zu bytes; raise "
                 "max_row_bytes to read such lines",
                 s->reader.display, row_in_file, s->max_row_bytes,
                 (size_t)SRCUTIL_RAW_PREFIX_BYTES);
        return agora_batch_push_bad(batch, s->bytes.data + field_start(s, first),
                                    s->field_ends.items[first] -
                                        field_start(s, first),
                                    message);
    }
    if (count != s->column_count) {
        snprintf(message, sizeof(message),
                 "%s: row %llu: expected %zu fields as in the header, found "
                 "%zu",
                 s->reader.display, row_in_file, s->column_count, count);
        return push_bad_row(s, batch, first, last, message);
    }

    size_t row_start = field_start(s, first);
    size_t row_bytes = s->field_ends.items[last - 1] + 1 - row_start;

    if (!srcutil_utf8_valid(s->bytes.data + row_start, row_bytes)) {
        for (size_t i = 0; i < count; i++) {
            size_t start = field_start(s, first + i);

            if (srcutil_utf8_valid(s->bytes.data + start,
                                   s->field_ends.items[first + i] - start))
                continue;
            snprintf(message, sizeof(message),
                     "%s: row %llu: field '%.100s' is not valid UTF-8",
                     s->reader.display, row_in_file, s->columns[i].ptr);
            break;
        }
        return push_bad_row(s, batch, first, last, message);
    }

    if (batch->texts_only && !s->infer_types && !s->empty_as_null)
        return push_row_text(s, batch, first, count, row_bytes);

    if (s->batch_columns == NULL) {
        agora_string *names = agora_arena_alloc(batch->arena,
                                                count * sizeof(*names));
        if (names == NULL)
            return AGORA_ENOMEM;
        for (size_t i = 0; i < count; i++) {
            names[i].ptr = agora_arena_strndup(batch->arena, s->columns[i].ptr,
                                               s->columns[i].len);
            names[i].len = s->columns[i].len;
            if (names[i].ptr == NULL)
                return AGORA_ENOMEM;
        }
        s->batch_columns = names;
    }

    /*
     * One copy of the row's bytes (fields with their NULs) serves every
     * string value, and the keys are the batch's copies of the names.
     */
    char *copy = agora_arena_alloc(batch->arena, row_bytes);
    agora_member *members = agora_arena_alloc(batch->arena,
                                              count * sizeof(agora_member));
    /* String values are laid out in one array rather than one by one. */
    agora_value *strings = agora_arena_alloc(batch->arena,
                                             count * sizeof(agora_value));
    record = agora_value_object(batch->arena, 0);
    if (copy == NULL || members == NULL || strings == NULL || record == NULL)
        return AGORA_ENOMEM;
    memcpy(copy, s->bytes.data + row_start, row_bytes);
    for (size_t i = 0; i < count; i++) {
        size_t start = field_start(s, first + i);
        size_t len = s->field_ends.items[first + i] - start;
        const char *text = copy + (start - row_start);
        agora_value *value = &strings[i];

        if (s->infer_types || (len == 0 && s->empty_as_null)) {
            value = field_value(s, batch->arena, text, len);
            if (value == NULL)
                return AGORA_ENOMEM;
        } else {
            value->type = AGORA_STRING;
            value->u.string.ptr = text;
            value->u.string.len = len;
        }
        members[i].key = s->batch_columns[i];
        members[i].value = value;
    }
    record->u.object.members = members;
    record->u.object.len = count;
    record->u.object.cap = count;
    if (batch->texts_only)
        return push_with_text(s, batch, record);
    return agora_batch_push(batch, record);
}

static int csv_next_batch(void *state, agora_batch *batch, agora_error *err)
{
    csv_state *s = state;
    int added = 0;

    s->batch_columns = NULL; /* the arena was reset or is a new one */
    core_json_keys_clear(&s->keys); /* its keys pointed into that arena */
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
        agora_buf_free(&s->json);
        free(s->field_ends.items);
        free(s->row_ends.items);
        free(s->long_rows.items);
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
    int64_t max_row;

    if (source == NULL || s == NULL) {
        free(source);
        free(s);
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }
    s->reader.fd = -1;
    agora_buf_init(&s->bytes);
    agora_buf_init(&s->scratch);
    agora_buf_init(&s->json);
    source->name = "csv";
    source->state = s;
    source->open = csv_open;
    source->next_batch = csv_next_batch;
    source->prepare_resume = csv_prepare_resume;
    source->checkpoint = csv_checkpoint;
    source->close = csv_close;
    source->destroy = csv_destroy;
    source->prefetch_safe = true;

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
    if (srcutil_opt_positive(options, "max_row_bytes",
                             CSV_DEFAULT_MAX_ROW_BYTES, &max_row, err) != 0)
        goto fail;
    s->max_row_bytes = (size_t)max_row;
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
    {"max_row_bytes", AGORA_OPT_INT, false, "16777216",
     "maximum length of one line in bytes; a longer line becomes a bad "
     "record and reading resumes after its line break"},
    {NULL, AGORA_OPT_ANY, false, NULL, NULL},
};

const agora_component_type agora_source_csv_type = {
    .kind = AGORA_COMPONENT_SOURCE,
    .type = "csv",
    .summary = "reads a CSV file with a header row, one record per row",
    .options = csv_options,
    .create_source = csv_create,
};
