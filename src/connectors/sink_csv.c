/*
 * csv sink: writes object records as CSV rows (RFC 4180 quoting, "\n" line
 * ends).
 *
 * The columns come from the `columns` option or, without it, from the keys of
 * the first object record, in order. A column the record lacks is an empty
 * field. A record key that is not a column is ignored when `columns` is set
 * (the option is a deliberate selection). Without the option such a key makes
 * the whole record a per-record error, so the run loop sends it to the
 * dead-letter queue instead of dropping the field. Field text:
 *   string            as is
 *   int, double       decimal (doubles in the shortest form that parses back
 *                     to the same value); NaN and infinities are empty
 *   true / false      "true" / "false"
 *   null              empty
 *   array, object     compact JSON text
 * A field containing the delimiter, a double quote, CR or LF is enclosed in
 * double quotes with inner quotes doubled. A record that is not an object is
 * rejected on its own (a per-record error).
 *
 * The header row is written when `header` is true and the file is empty at
 * open. Appending to a file that has rows reads its header row instead: those
 * are the columns (and `columns`, when set, must match them), so new rows line
 * up with the old ones.
 *
 * A run that resumes from a checkpoint appends whatever the mode, and first
 * cuts off a last row without its '\n' that a killed run left behind.
 */
#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agora/log.h"
#include "connectors/connectors.h"
#include "connectors/sink_common.h"

typedef struct csv_sink {
    char *name;
    sink_file file;
    bool append;
    bool resuming; /* set by set_resume for the next open */
    bool header;
    char delimiter;
    sink_columns option_columns; /* from the option, empty when absent */
    sink_columns columns;        /* in use for the current open file */
    bool columns_ready;          /* columns known and header (if any) written */
    bool columns_from_file;      /* columns read from the file's header row */
    agora_buf scratch;           /* JSON text of nested values */
} csv_sink;

static const char *const csv_modes[] = {"overwrite", "append", NULL};

/* Appends one field, quoted when RFC 4180 requires it. */
static int csv_append_field(agora_buf *buf, const char *text, size_t len,
                            char delimiter)
{
    bool quote = false;
    int rc;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == delimiter || c == '"' || c == '\n' || c == '\r') {
            quote = true;
            break;
        }
    }
    if (!quote)
        return agora_buf_append(buf, text, len);

    rc = agora_buf_append(buf, "\"", 1);
    while (rc == 0 && len > 0) {
        const char *quote_char = memchr(text, '"', len);
        size_t part = quote_char != NULL ? (size_t)(quote_char - text) + 1 : len;

        rc = agora_buf_append(buf, text, part);
        if (rc == 0 && quote_char != NULL)
            rc = agora_buf_append(buf, "\"", 1); /* doubles the quote */
        text += part;
        len -= part;
    }
    if (rc < 0)
        return rc;
    return agora_buf_append(buf, "\"", 1);
}

/* Appends the field text of value (NULL = missing column) to buf. */
static int csv_append_value(csv_sink *s, const agora_value *value)
{
    agora_buf *buf = &s->file.buf;
    char number[64];
    size_t len;
    int rc;

    if (value == NULL)
        return 0;

    switch (value->type) {
    case AGORA_NULL:
        return 0;
    case AGORA_BOOL:
        return agora_buf_appendz(buf, value->u.boolean ? "true" : "false");
    case AGORA_INT:
        len = (size_t)snprintf(number, sizeof(number), "%lld",
                               (long long)value->u.integer);
        return agora_buf_append(buf, number, len);
    case AGORA_DOUBLE:
        if (!isfinite(value->u.number))
            return 0;
        len = agora_format_double(value->u.number, number);
        return agora_buf_append(buf, number, len);
    case AGORA_STRING:
        return csv_append_field(buf, value->u.string.ptr, value->u.string.len,
                                s->delimiter);
    case AGORA_ARRAY:
    case AGORA_OBJECT:
        s->scratch.len = 0;
        rc = agora_json_write(&s->scratch, value);
        if (rc < 0)
            return rc;
        return csv_append_field(buf, s->scratch.data, s->scratch.len,
                                s->delimiter);
    }
    return 0;
}

/*
 * Ends a row with a line feed. A row made of a single empty field is written
 * as "" because a blank line reads back as no row at all.
 */
static int csv_end_row(csv_sink *s, size_t row_start)
{
    agora_buf *buf = &s->file.buf;

    if (s->columns.count == 1 && buf->len == row_start)
        return agora_buf_append(buf, "\"\"\n", 3);
    return agora_buf_append(buf, "\n", 1);
}

static int csv_append_header(csv_sink *s)
{
    agora_buf *buf = &s->file.buf;
    size_t row_start = buf->len;
    int rc = 0;

    for (size_t i = 0; i < s->columns.count && rc == 0; i++) {
        if (i > 0)
            rc = agora_buf_append(buf, &s->delimiter, 1);
        if (rc == 0)
            rc = csv_append_field(buf, s->columns.names[i],
                                  strlen(s->columns.names[i]), s->delimiter);
    }
    if (rc == 0)
        rc = csv_end_row(s, row_start);
    return rc;
}

/* Fixes the columns (from the option or from record) and buffers the header. */
static int csv_prepare_columns(csv_sink *s, const agora_value *record)
{
    int rc;

    if (s->option_columns.count > 0) {
        sink_columns_clear(&s->columns);
        s->columns.names = calloc(s->option_columns.count, sizeof(char *));
        if (s->columns.names == NULL)
            return AGORA_ENOMEM;
        for (size_t i = 0; i < s->option_columns.count; i++) {
            s->columns.names[i] = strdup(s->option_columns.names[i]);
            if (s->columns.names[i] == NULL)
                return AGORA_ENOMEM;
            s->columns.count++;
        }
    } else {
        rc = sink_columns_from_record(&s->columns, record);
        if (rc < 0)
            return rc;
    }
    s->columns_from_file = false;

    if (s->header && s->columns.count > 0 && s->file.size_at_open <= 0) {
        rc = csv_append_header(s);
        if (rc < 0)
            return rc;
    }
    s->columns_ready = true;
    return 0;
}

/* Collects the fields of the first row that libcsv reports. */
typedef struct header_reader {
    sink_columns *columns;
    size_t cap;
    bool done;
    int rc;
} header_reader;

static void header_on_field(void *field, size_t len, void *data)
{
    header_reader *h = data;
    sink_columns *cols = h->columns;

    if (h->done || h->rc < 0)
        return;
    if (cols->count == h->cap) {
        size_t new_cap = h->cap == 0 ? 16 : h->cap * 2;
        char **grown = realloc(cols->names, new_cap * sizeof(char *));
        if (grown == NULL) {
            h->rc = AGORA_ENOMEM;
            return;
        }
        cols->names = grown;
        h->cap = new_cap;
    }
    cols->names[cols->count] = strndup(field != NULL ? field : "", len);
    if (cols->names[cols->count] == NULL) {
        h->rc = AGORA_ENOMEM;
        return;
    }
    cols->count++;
}

static void header_on_row(int terminator, void *data)
{
    header_reader *h = data;

    h->done = true;
}

/* Keeps spaces around fields: libcsv trims them by default. */
static int csv_no_space(unsigned char c)
{
    return 0;
}

/* Reads the header row of the existing file into cols. */
static int csv_read_existing_header(csv_sink *s, sink_columns *cols,
                                    agora_error *err)
{
    header_reader h = {.columns = cols};
    struct csv_parser parser;
    char chunk[8192];
    FILE *f;
    size_t n;
    int rc = 0;

    sink_columns_clear(cols);
    f = fopen(s->file.path, "rb");
    if (f == NULL)
        return agora_error_set(err, AGORA_EIO, "csv sink: cannot read the "
                               "header row of %s: %s", s->file.path,
                               strerror(errno));
    if (csv_init(&parser, 0) != 0) {
        fclose(f);
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    }
    csv_set_delim(&parser, (unsigned char)s->delimiter);
    csv_set_space_func(&parser, csv_no_space);

    while (!h.done && h.rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (csv_parse(&parser, chunk, n, header_on_field, header_on_row, &h) != n) {
            rc = agora_error_set(err, AGORA_EPARSE, "csv sink: cannot parse "
                                 "the header row of %s: %s", s->file.path,
                                 csv_strerror(csv_error(&parser)));
            goto cleanup;
        }
    }
    if (!h.done && h.rc == 0)
        csv_fini(&parser, header_on_field, header_on_row, &h);
    if (h.rc < 0)
        rc = agora_error_set(err, h.rc, "out of memory");

cleanup:
    csv_free(&parser);
    fclose(f);
    if (rc < 0)
        sink_columns_clear(cols);
    return rc;
}

static bool columns_equal(const sink_columns *a, const sink_columns *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return false;
    return true;
}

/*
 * Takes the columns from the header row of a file opened for appending. With
 * the `columns` option set, the header row must list the same columns.
 */
static int csv_adopt_existing_header(csv_sink *s, agora_error *err)
{
    int rc = csv_read_existing_header(s, &s->columns, err);

    if (rc < 0)
        return rc;
    if (s->columns.count == 0)
        return 0; /* no header row after all: proceed as for an empty file */
    if (s->option_columns.count > 0 &&
        !columns_equal(&s->columns, &s->option_columns)) {
        sink_columns_clear(&s->columns);
        return agora_error_set(err, AGORA_ESINK, "csv sink: the header row of "
                               "%s does not match the `columns` option; append "
                               "to a file with the same columns or write to a "
                               "new file", s->file.path);
    }
    s->columns_ready = true;
    s->columns_from_file = true;
    return 0;
}


static void csv_set_resume(void *state, bool resuming)
{
    csv_sink *s = state;

    s->resuming = resuming;
}

static int csv_open(void *state, agora_error *err)
{
    csv_sink *s = state;
    bool append = s->append || s->resuming;
    int rc;

    sink_columns_clear(&s->columns);
    s->columns_ready = false;
    if (s->resuming) {
        /* NOTE: a cut inside a quoted field that contains a line break keeps
         * the rows before that line break, so such a file can end with half
         * a row. */
        rc = sink_trim_partial_line(s->file.path, "csv", "row",
                                    "partial_row_removed", err);
        if (rc < 0)
            return rc;
    }
    rc = sink_file_open(&s->file, append, err);
    if (rc < 0)
        return rc;

    if (append && s->header && s->file.size_at_open > 0) {
        rc = csv_adopt_existing_header(s, err);
        if (rc < 0 || s->columns_ready)
            goto done;
    }

    /* Known columns: write the header now, so a run with no records still
     * leaves a file that names them. */
    if (s->option_columns.count > 0) {
        sink_file_begin_batch(&s->file);
        rc = csv_prepare_columns(s, NULL);
        if (rc < 0)
            return agora_error_set(err, rc, "csv sink: cannot prepare the "
                                   "header of %s: %s", s->file.path,
                                   agora_strerror(rc));
        rc = sink_file_write_pending(&s->file, err);
    }

done:
    if (rc < 0)
        sink_file_close(&s->file);
    return rc;
}

/*
 * Returns the per-record error for a record whose keys include names that are
 * not columns, or NULL when every key is a column (the record only repeated a
 * key). Used only without the `columns` option.
 */
static const char *csv_unknown_fields_error(const csv_sink *s,
                                            const agora_value *record,
                                            agora_arena *arena)
{
    char fields[160] = "";
    char columns[240];
    size_t used = 0, unknown = 0;
    bool one;

    for (size_t m = 0; m < record->u.object.len; m++) {
        const agora_string *key = &record->u.object.members[m].key;
        int n;

        if (sink_columns_contain(&s->columns, key->ptr, key->len))
            continue;
        unknown++;
        if (used >= sizeof(fields))
            continue; /* the list is already cut short; keep counting */
        n = snprintf(fields + used, sizeof(fields) - used, "%s'%.*s'",
                     unknown == 1 ? "" : ", ", (int)key->len, key->ptr);
        used = n < 0 ? sizeof(fields) : used + (size_t)n;
    }
    if (unknown == 0)
        return NULL;

    one = unknown == 1;
    sink_columns_describe(&s->columns, columns, sizeof(columns));
    if (s->columns_from_file)
        return sink_record_error(
            arena, "csv sink: %s %s%s %s not %s of the CSV file %s (columns: "
            "%s, taken from the header row already in the file); give the "
            "records only these keys or append to a new file",
            one ? "field" : "fields", fields,
            used >= sizeof(fields) ? "..." : "", one ? "is" : "are",
            one ? "a column" : "columns", s->file.path, columns);
    return sink_record_error(
        arena, "csv sink: %s %s%s %s not %s of the CSV file %s (columns: %s, "
        "taken from the first record); list every column in the sink's "
        "`columns` option", one ? "field" : "fields", fields,
        used >= sizeof(fields) ? "..." : "", one ? "is" : "are",
        one ? "a column" : "columns", s->file.path, columns);
}

static int csv_write_batch(void *state, agora_value *const *records, size_t n,
                           agora_record_result *results, agora_arena *arena,
                           agora_error *err)
{
    csv_sink *s = state;
    agora_buf *buf = &s->file.buf;
    int rc = 0;

    sink_file_begin_batch(&s->file);
    for (size_t i = 0; i < n; i++) {
        const agora_value *record = records[i];
        size_t row_start, matched;

        results[i].error = NULL;
        if (record->type != AGORA_OBJECT) {
            results[i].error = sink_record_error(
                arena, "csv sink: record is a %s, not an object; only objects "
                "map to CSV columns", agora_type_name(record->type));
            continue;
        }
        if (!s->columns_ready) {
            if (s->option_columns.count == 0 && record->u.object.len == 0) {
                /* Columns fixed by an empty record would reject every
                 * later record that has fields. */
                results[i].error = sink_record_error(
                    arena, "csv sink: the record has no fields, so it cannot "
                    "set the columns of %s; list the columns in the sink's "
                    "`columns` option", s->file.path);
                continue;
            }
            rc = csv_prepare_columns(s, record);
            if (rc < 0)
                goto fail;
        }

        row_start = buf->len;
        matched = 0;
        for (size_t c = 0; c < s->columns.count && rc == 0; c++) {
            const agora_value *value = agora_object_getz(record,
                                                         s->columns.names[c]);

            if (value != NULL)
                matched++;
            if (c > 0)
                rc = agora_buf_append(buf, &s->delimiter, 1);
            if (rc == 0)
                rc = csv_append_value(s, value);
        }
        if (rc == 0)
            rc = csv_end_row(s, row_start);
        if (rc < 0)
            goto fail;

        /* Fewer matched columns than keys means a key that is not a column
         * (or a repeated key, which the full check below lets through). */
        if (s->option_columns.count == 0 && matched < record->u.object.len) {
            results[i].error = csv_unknown_fields_error(s, record, arena);
            if (results[i].error != NULL)
                buf->len = row_start;
        }
    }
    return sink_file_write_pending(&s->file, err);

fail:
    buf->len = 0;
    return agora_error_set(err, rc, "csv sink: cannot format a row for %s: %s",
                           s->file.path, agora_strerror(rc));
}

static int csv_flush(void *state, agora_error *err)
{
    csv_sink *s = state;

    return sink_file_flush(&s->file, err);
}

static void csv_close(void *state)
{
    csv_sink *s = state;

    sink_file_close(&s->file);
    sink_columns_clear(&s->columns);
    s->columns_ready = false;
}

static void csv_destroy(agora_sink *self)
{
    csv_sink *s;

    if (self == NULL)
        return;
    s = self->state;
    if (s != NULL) {
        sink_file_clear(&s->file);
        sink_columns_clear(&s->columns);
        sink_columns_clear(&s->option_columns);
        agora_buf_free(&s->scratch);
        free(s->name);
        free(s);
    }
    free(self);
}

/* Reads `delimiter`: one ASCII character that cannot be confused with quoting. */
static int csv_opt_delimiter(const agora_value *options, char *out,
                             agora_error *err)
{
    const char *text = agora_opt_string(options, "delimiter", ",", err);

    if (err != NULL && err->code != 0)
        return err->code;
    if (strlen(text) != 1 || (unsigned char)text[0] >= 0x80 || text[0] == '"' ||
        text[0] == '\r' || text[0] == '\n')
        return agora_error_set_key(err, AGORA_ECONFIG, "delimiter",
                                   "option `delimiter` is \"%s\"; use one ASCII "
                                   "character other than a double quote, CR "
                                   "or LF, such as \",\", \";\" or \"\\t\"",
                                   text);
    *out = text[0];
    return 0;
}

static agora_sink *csv_create(const agora_value *options,
                              const agora_component_context *ctx,
                              agora_error *err)
{
    agora_sink *sink = NULL;
    csv_sink *s = NULL;
    agora_error local;
    char *path = NULL;
    int mode;
    bool fsync_on_flush;

    agora_error_clear(&local);
    sink = calloc(1, sizeof(*sink));
    s = calloc(1, sizeof(*s));
    if (sink == NULL || s == NULL) {
        agora_error_set(&local, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }
    agora_buf_init(&s->scratch);

    path = sink_opt_path(options, "path", ctx, &local);
    if (path == NULL)
        goto cleanup;
    mode = sink_opt_choice(options, "mode", "overwrite", csv_modes, &local);
    if (mode < 0)
        goto cleanup;
    if (sink_columns_from_option(&s->option_columns, options, "columns",
                                 &local) < 0)
        goto cleanup;
    if (csv_opt_delimiter(options, &s->delimiter, &local) < 0)
        goto cleanup;
    s->header = agora_opt_bool(options, "header", true, &local);
    fsync_on_flush = agora_opt_bool(options, "fsync", false, &local);
    if (local.code != 0)
        goto cleanup;
    s->name = sink_instance_name(ctx, "csv");
    if (s->name == NULL) {
        agora_error_set(&local, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }

    sink_file_init(&s->file, "csv sink", path, fsync_on_flush);
    path = NULL;
    s->append = mode == 1;

    sink->name = s->name;
    sink->state = s;
    sink->open = csv_open;
    sink->write_batch = csv_write_batch;
    sink->flush = csv_flush;
    sink->close = csv_close;
    sink->destroy = csv_destroy;
    sink->set_resume = csv_set_resume;
    return sink;

cleanup:
    free(path);
    if (s != NULL) {
        sink_columns_clear(&s->option_columns);
        agora_buf_free(&s->scratch);
        free(s->name);
    }
    free(s);
    free(sink);
    if (err != NULL)
        *err = local;
    return NULL;
}

static const agora_option_spec csv_options[] = {
    {"path", AGORA_OPT_STRING, true, NULL,
     "file to write; relative paths start at the config file's directory, "
     "missing parent directories are created"},
    {"mode", AGORA_OPT_STRING, false, "overwrite",
     "\"overwrite\" (the default) empties the file when the sink opens, so "
     "each run replaces the previous output. \"append\" adds rows to the end "
     "and reuses the header row already in the file. A run that resumes "
     "from a checkpoint always appends"},
    {"columns", AGORA_OPT_STRING_ARRAY, false, "keys of the first record",
     "columns to write, in order. The list is a deliberate selection: record "
     "keys not listed are ignored, and listed keys a record lacks are empty "
     "fields. Without this option the columns are the keys of the first "
     "record (or the header row of a file being appended to), and a later "
     "record with any other key is rejected as a per-record error, which "
     "sends it to the dead-letter queue"},
    {"delimiter", AGORA_OPT_STRING, false, ",",
     "field separator, one ASCII character"},
    {"header", AGORA_OPT_BOOL, false, "true",
     "write a header row of column names when the file is empty at open"},
    {"fsync", AGORA_OPT_BOOL, false, "false",
     "call fsync on every flush so written records survive a power loss"},
    {NULL, 0, false, NULL, NULL}};

const agora_component_type agora_sink_csv_type = {
    .kind = AGORA_COMPONENT_SINK,
    .type = "csv",
    .summary = "write object records as CSV rows to a file",
    .options = csv_options,
    .create_sink = csv_create,
};
