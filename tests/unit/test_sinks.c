/*
 * Tests of the built-in sinks (jsonl, csv, stdout, sqlite): each writes real
 * files in a temporary directory, and the output is compared with
 * hand-written text or read back with a reference tool (jq, python3's csv
 * module, the sqlite3 command-line tool).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/pipeline.h"
#include "agora/value.h"
#include "connectors/connectors.h"

/* ---- Fixture and helpers -------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    agora_arena *arena;
    agora_error err;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/agora-test-sinks-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    fx->arena = agora_arena_new(0);
    agora_error_clear(&fx->err);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    agora_arena_free(fx->arena);
    free(fx);
    return 0;
}

/* Returns a path inside the fixture directory (static buffer rotation). */
static const char *path_in(fixture *fx, const char *name)
{
    static char paths[4][512];
    static int next;
    char *out = paths[next++ % 4];

    snprintf(out, sizeof(paths[0]), "%s/%s", fx->dir, name);
    return out;
}

static agora_value *parse(fixture *fx, const char *json)
{
    agora_error err;
    agora_value *v = agora_json_parse(fx->arena, json, strlen(json), NULL, &err);

    if (v == NULL)
        fail_msg("test JSON does not parse: %s: %s", json, err.message);
    return v;
}

/* Parses a JSON array of records into records[] and returns their number. */
static size_t parse_records(fixture *fx, const char *json, agora_value **records,
                            size_t max)
{
    agora_value *arr = parse(fx, json);

    assert_int_equal(arr->type, AGORA_ARRAY);
    assert_true(arr->u.array.len <= max);
    for (size_t i = 0; i < arr->u.array.len; i++)
        records[i] = arr->u.array.items[i];
    return arr->u.array.len;
}

/* Reads a whole file into a heap string (NULL when it cannot be read). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0, cap = 0, n;

    if (f == NULL)
        return NULL;
    do {
        if (cap - len < 4096) {
            cap = cap * 2 + 4096;
            data = realloc(data, cap + 1);
            assert_non_null(data);
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    data[len] = '\0';
    return data;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* Runs a shell command and returns its standard output (heap string). */
static char *run_command(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    FILE *p;
    char *out = NULL;
    size_t len = 0, cap = 0, n;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);

    p = popen(cmd, "r");
    assert_non_null(p);
    do {
        if (cap - len < 4096) {
            cap = cap * 2 + 4096;
            out = realloc(out, cap + 1);
            assert_non_null(out);
        }
        n = fread(out + len, 1, cap - len, p);
        len += n;
    } while (n > 0);
    out[len] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

static bool tool_available(const char *name)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static agora_sink *create_sink(fixture *fx, const agora_component_type *type,
                               const char *options_json)
{
    agora_component_context ctx = {.base_dir = fx->dir,
                                   .pipeline_id = "test",
                                   .instance_name = NULL};
    agora_sink *sink;

    agora_error_clear(&fx->err);
    sink = type->create_sink(parse(fx, options_json), &ctx, &fx->err);
    if (sink == NULL)
        fail_msg("%s factory failed: %s", type->type, fx->err.message);
    return sink;
}

/* Writes records (a JSON array) as one batch and returns write_batch's code. */
static int write_json_batch(fixture *fx, agora_sink *sink, const char *json,
                            agora_record_result *results)
{
    agora_value *records[32];
    size_t n = parse_records(fx, json, records, 32);

    agora_error_clear(&fx->err);
    return sink->write_batch(sink->state, records, n, results, fx->arena,
                             &fx->err);
}

/* Opens, writes one batch, flushes, closes and frees, asserting success. */
static void write_all(fixture *fx, const agora_component_type *type,
                      const char *options_json, const char *records_json)
{
    agora_sink *sink = create_sink(fx, type, options_json);
    agora_record_result results[32];

    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, records_json, results), 0);
    assert_int_equal(sink->flush(sink->state, &fx->err), 0);
    sink->close(sink->state);
    agora_sink_free(sink);
}

/* ---- jsonl ------------------------------------------------------------------ */

static const char jsonl_records[] =
    "[{\"a\":1,\"b\":\"x\"},"
    " {\"n\":null,\"arr\":[1,2.5,true],\"o\":{\"k\":\"v\"}},"
    " {\"s\":\"quote\\\" nl\\n tab\\t \\u00e9\"},"
    " [1,2]]";

static const char jsonl_expected[] =
    "{\"a\":1,\"b\":\"x\"}\n"
    "{\"n\":null,\"arr\":[1,2.5,true],\"o\":{\"k\":\"v\"}}\n"
    "{\"s\":\"quote\\\" nl\\n tab\\t \xc3\xa9\"}\n"
    "[1,2]\n";

static void sinks_jsonl_writes_compact_lines(void **state)
{
    fixture *fx = *state;
    char *text;

    write_all(fx, &agora_sink_jsonl_type, "{\"path\":\"out.jsonl\"}",
              jsonl_records);

    text = read_file(path_in(fx, "out.jsonl"));
    assert_non_null(text);
    assert_string_equal(text, jsonl_expected);
    free(text);

    if (!tool_available("jq")) {
        print_message("jq not found: skipping the jq cross-check\n");
        return;
    }
    /* jq re-serializes every line; identical compact output means valid JSON. */
    text = run_command("jq -c . '%s'", path_in(fx, "out.jsonl"));
    assert_string_equal(text, jsonl_expected);
    free(text);
}

static void sinks_jsonl_overwrite_truncates(void **state)
{
    fixture *fx = *state;
    char *text;

    write_file(path_in(fx, "out.jsonl"), "{\"old\":true}\n{\"old\":2}\n");
    write_all(fx, &agora_sink_jsonl_type, "{\"path\":\"out.jsonl\"}",
              "[{\"new\":1}]");

    text = read_file(path_in(fx, "out.jsonl"));
    assert_string_equal(text, "{\"new\":1}\n");
    free(text);
}

static void sinks_jsonl_append_keeps_content(void **state)
{
    fixture *fx = *state;
    char *text;

    write_file(path_in(fx, "out.jsonl"), "{\"old\":true}\n");
    write_all(fx, &agora_sink_jsonl_type,
              "{\"path\":\"out.jsonl\",\"mode\":\"append\",\"fsync\":true}",
              "[{\"new\":1},{\"new\":2}]");

    text = read_file(path_in(fx, "out.jsonl"));
    assert_string_equal(text, "{\"old\":true}\n{\"new\":1}\n{\"new\":2}\n");
    free(text);
}

static void sinks_jsonl_creates_parent_dirs(void **state)
{
    fixture *fx = *state;
    char *text;

    write_all(fx, &agora_sink_jsonl_type, "{\"path\":\"a/b/c/out.jsonl\"}",
              "[{\"x\":1}]");

    text = read_file(path_in(fx, "a/b/c/out.jsonl"));
    assert_non_null(text);
    assert_string_equal(text, "{\"x\":1}\n");
    free(text);
}

static void sinks_jsonl_several_batches(void **state)
{
    fixture *fx = *state;
    agora_sink *sink = create_sink(fx, &agora_sink_jsonl_type,
                                   "{\"path\":\"out.jsonl\"}");
    agora_record_result results[4];
    char *text;

    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{\"i\":1},{\"i\":2}]", results), 0);
    assert_int_equal(write_json_batch(fx, sink, "[]", results), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{\"i\":3}]", results), 0);
    assert_null(results[0].error);
    assert_int_equal(sink->flush(sink->state, &fx->err), 0);
    sink->close(sink->state);

    text = read_file(path_in(fx, "out.jsonl"));
    assert_string_equal(text, "{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n");
    free(text);
    agora_sink_free(sink);
}

static void sinks_jsonl_disk_full_fails_batch(void **state)
{
    fixture *fx = *state;
    agora_sink *sink;
    agora_record_result results[2];
    int rc;

    if (access("/dev/full", W_OK) != 0) {
        print_message("/dev/full is not writable here: skipping\n");
        return;
    }
    sink = create_sink(fx, &agora_sink_jsonl_type, "{\"path\":\"/dev/full\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);

    rc = write_json_batch(fx, sink, "[{\"a\":1},{\"b\":2}]", results);
    assert_int_equal(rc, AGORA_EIO);
    assert_int_equal(fx->err.code, AGORA_EIO);
    assert_non_null(strstr(fx->err.message, "/dev/full"));
    assert_non_null(strstr(fx->err.message, strerror(ENOSPC)));

    sink->close(sink->state);
    agora_sink_free(sink);
}

/*
 * A batch that fails halfway (file size limit reached) is cut back out of
 * the file, so the file ends with the last complete batch.
 */
static void sinks_jsonl_failed_batch_leaves_no_partial_line(void **state)
{
    fixture *fx = *state;
    agora_sink *sink;
    agora_record_result results[8];
    struct rlimit saved, limited;
    void (*old_handler)(int);
    char *text;
    int rc;

    sink = create_sink(fx, &agora_sink_jsonl_type, "{\"path\":\"out.jsonl\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{\"first\":1}]", results), 0);

    /* Past 40 bytes write(2) fails with EFBIG instead of raising SIGXFSZ. */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    limited = saved;
    limited.rlim_cur = 40;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limited), 0);

    rc = write_json_batch(fx, sink,
                          "[{\"second\":\"aaaaaaaaaa\"},{\"third\":\"bbbbbbbbbb\"}]",
                          results);

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(rc, AGORA_EIO);
    assert_non_null(strstr(fx->err.message, "out.jsonl"));
    assert_non_null(strstr(fx->err.message, strerror(EFBIG)));

    /* The file keeps working after the failure. */
    assert_int_equal(write_json_batch(fx, sink, "[{\"fourth\":4}]", results), 0);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = read_file(path_in(fx, "out.jsonl"));
    assert_string_equal(text, "{\"first\":1}\n{\"fourth\":4}\n");
    free(text);
}

static void sinks_jsonl_unwritable_path_fails_open(void **state)
{
    fixture *fx = *state;
    agora_sink *sink;
    int rc;

    /* A regular file where a directory should be fails even for root. */
    write_file(path_in(fx, "plain"), "x");
    sink = create_sink(fx, &agora_sink_jsonl_type,
                       "{\"path\":\"plain/out.jsonl\"}");

    rc = sink->open(sink->state, &fx->err);
    assert_true(rc < 0);
    assert_non_null(strstr(fx->err.message, "plain/out.jsonl"));

    sink->close(sink->state);
    agora_sink_free(sink);
}

static void sinks_jsonl_write_before_open_fails(void **state)
{
    fixture *fx = *state;
    agora_sink *sink = create_sink(fx, &agora_sink_jsonl_type,
                                   "{\"path\":\"out.jsonl\"}");
    agora_record_result results[1];

    assert_int_equal(write_json_batch(fx, sink, "[{\"a\":1}]", results),
                     AGORA_ESTATE);
    agora_sink_free(sink);
}

static void sinks_jsonl_rejects_bad_options(void **state)
{
    fixture *fx = *state;
    agora_component_context ctx = {.base_dir = fx->dir};
    agora_error err;
    agora_sink *sink;

    agora_error_clear(&err);
    sink = agora_sink_jsonl_type.create_sink(parse(fx, "{}"), &ctx, &err);
    assert_null(sink);
    assert_string_equal(err.key, "path");

    agora_error_clear(&err);
    sink = agora_sink_jsonl_type.create_sink(
        parse(fx, "{\"path\":\"x\",\"mode\":\"truncate\"}"), &ctx, &err);
    assert_null(sink);
    assert_int_equal(err.code, AGORA_ECONFIG);
    assert_string_equal(err.key, "mode");
    assert_non_null(strstr(err.message, "truncate"));

    agora_error_clear(&err);
    sink = agora_sink_jsonl_type.create_sink(
        parse(fx, "{\"path\":\"x\",\"fsync\":\"yes\"}"), &ctx, &err);
    assert_null(sink);
    assert_string_equal(err.key, "fsync");
}

/* ---- csv -------------------------------------------------------------------- */

static void sinks_csv_quotes_and_formats_fields(void **state)
{
    fixture *fx = *state;
    char *text;
    static const char expected[] =
        "id,name,note,score,ok,tags,none\n"
        "1,\"Ann, Jr.\",\"say \"\"hi\"\"\",2.5,true,\"[\"\"a\"\",1]\",\n"
        "2,\"line\nbreak\",,-0.125,false,\"{\"\"k\"\":null}\",\n"
        "3,\"cr\rhere\",,,,,\n";

    write_all(fx, &agora_sink_csv_type, "{\"path\":\"out.csv\"}",
              "[{\"id\":1,\"name\":\"Ann, Jr.\",\"note\":\"say \\\"hi\\\"\","
              "  \"score\":2.5,\"ok\":true,\"tags\":[\"a\",1],\"none\":null},"
              " {\"id\":2,\"name\":\"line\\nbreak\",\"score\":-0.125,"
              "  \"ok\":false,\"tags\":{\"k\":null}},"
              " {\"name\":\"cr\\rhere\",\"id\":3}]");

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, expected);
    free(text);
}

/* Python's csv module, an independent RFC 4180 reader, gets the same fields. */
static void sinks_csv_reads_back_with_python(void **state)
{
    fixture *fx = *state;
    char *text;

    if (!tool_available("python3")) {
        print_message("python3 not found: skipping\n");
        return;
    }
    write_all(fx, &agora_sink_csv_type, "{\"path\":\"out.csv\"}",
              "[{\"a\":\"x,y\",\"b\":\"q\\\"q\",\"c\":\"l1\\nl2\"},"
              " {\"a\":\"\",\"b\":7,\"c\":[1,\"two\"]}]");

    text = run_command("python3 -c 'import csv,json,sys; "
                       "print(json.dumps(list(csv.reader(open(sys.argv[1], "
                       "newline=\"\")))))' '%s'",
                       path_in(fx, "out.csv"));
    assert_string_equal(text,
                        "[[\"a\", \"b\", \"c\"], [\"x,y\", \"q\\\"q\", "
                        "\"l1\\nl2\"], [\"\", \"7\", \"[1,\\\"two\\\"]\"]]\n");
    free(text);
}

static void sinks_csv_columns_option_and_delimiter(void **state)
{
    fixture *fx = *state;
    char *text;

    write_all(fx, &agora_sink_csv_type,
              "{\"path\":\"out.csv\",\"columns\":[\"b\",\"a\",\"missing\"],"
              " \"delimiter\":\";\",\"header\":false}",
              "[{\"a\":1,\"b\":\"x;y\",\"c\":3},{\"a\":\"p,q\"}]");

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "\"x;y\";1;\n;p,q;\n");
    free(text);
}

static void sinks_csv_tab_delimiter(void **state)
{
    fixture *fx = *state;
    char *text;

    write_all(fx, &agora_sink_csv_type, "{\"path\":\"out.tsv\",\"delimiter\":\"\\t\"}",
              "[{\"a\":1,\"b\":\"t\\tab\"}]");

    text = read_file(path_in(fx, "out.tsv"));
    assert_string_equal(text, "a\tb\n1\t\"t\tab\"\n");
    free(text);
}

static void sinks_csv_non_object_is_record_error(void **state)
{
    fixture *fx = *state;
    agora_sink *sink = create_sink(fx, &agora_sink_csv_type,
                                   "{\"path\":\"out.csv\"}");
    agora_record_result results[4];
    char *text;

    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink,
                                      "[[1,2],{\"a\":1},\"text\",{\"a\":2}]",
                                      results),
                     0);
    assert_non_null(results[0].error);
    assert_non_null(strstr(results[0].error, "array"));
    assert_null(results[1].error);
    assert_non_null(results[2].error);
    assert_non_null(strstr(results[2].error, "string"));
    assert_null(results[3].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "a\n1\n2\n");
    free(text);
}

static void sinks_csv_append_writes_header_once(void **state)
{
    fixture *fx = *state;
    char *text;

    write_all(fx, &agora_sink_csv_type, "{\"path\":\"out.csv\",\"mode\":\"append\"}",
              "[{\"a\":1,\"b\":2}]");
    write_all(fx, &agora_sink_csv_type, "{\"path\":\"out.csv\",\"mode\":\"append\"}",
              "[{\"a\":3,\"b\":4}]");

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "a,b\n1,2\n3,4\n");
    free(text);

    write_all(fx, &agora_sink_csv_type, "{\"path\":\"out.csv\"}",
              "[{\"a\":5,\"b\":6}]");
    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "a,b\n5,6\n");
    free(text);
}

/* Appending to a file with rows follows its header row, not the record's key order. */
static void sinks_csv_append_follows_existing_header(void **state)
{
    fixture *fx = *state;
    char *text;

    write_file(path_in(fx, "out.csv"), "b,\"x,y\",a\n1,,2\n");
    write_all(fx, &agora_sink_csv_type, "{\"path\":\"out.csv\",\"mode\":\"append\"}",
              "[{\"a\":3,\"b\":4,\"x,y\":\"q\"}]");

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "b,\"x,y\",a\n1,,2\n4,q,3\n");
    free(text);
}

static void sinks_csv_append_header_mismatch_fails(void **state)
{
    fixture *fx = *state;
    agora_sink *sink;
    char *text;

    write_file(path_in(fx, "out.csv"), "a,b\n1,2\n");
    sink = create_sink(fx, &agora_sink_csv_type,
                       "{\"path\":\"out.csv\",\"mode\":\"append\","
                       " \"columns\":[\"b\",\"a\"]}");

    assert_int_equal(sink->open(sink->state, &fx->err), AGORA_ESINK);
    assert_non_null(strstr(fx->err.message, "out.csv"));
    sink->close(sink->state);
    agora_sink_free(sink);

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "a,b\n1,2\n");
    free(text);
}

static void sinks_csv_header_without_records(void **state)
{
    fixture *fx = *state;
    char *text;

    write_all(fx, &agora_sink_csv_type,
              "{\"path\":\"out.csv\",\"columns\":[\"x\",\"y z\",\"q,r\"]}", "[]");

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "x,y z,\"q,r\"\n");
    free(text);
}

/* A blank line would read back as no row, so one empty field is "". */
static void sinks_csv_single_empty_field_quoted(void **state)
{
    fixture *fx = *state;
    char *text;

    write_all(fx, &agora_sink_csv_type, "{\"path\":\"out.csv\"}",
              "[{\"v\":\"\"},{\"v\":null},{\"v\":\"z\"}]");

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "v\n\"\"\n\"\"\nz\n");
    free(text);
}

static void sinks_csv_rejects_bad_options(void **state)
{
    fixture *fx = *state;
    agora_component_context ctx = {.base_dir = fx->dir};
    static const char *const bad[][2] = {
        {"{\"path\":\"x\",\"delimiter\":\"ab\"}", "delimiter"},
        {"{\"path\":\"x\",\"delimiter\":\"\\\"\"}", "delimiter"},
        {"{\"path\":\"x\",\"delimiter\":\"\"}", "delimiter"},
        {"{\"path\":\"x\",\"columns\":[]}", "columns"},
        {"{\"path\":\"x\",\"columns\":[\"a\",\"a\"]}", "columns"},
        {"{\"path\":\"x\",\"columns\":[\"a\",3]}", "columns"},
        {"{\"path\":\"x\",\"header\":1}", "header"},
        {"{\"path\":\"x\",\"mode\":\"replace\"}", "mode"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        agora_error err;
        agora_sink *sink;

        agora_error_clear(&err);
        sink = agora_sink_csv_type.create_sink(parse(fx, bad[i][0]), &ctx, &err);
        if (sink != NULL)
            fail_msg("options %s were accepted", bad[i][0]);
        assert_int_equal(err.code, AGORA_ECONFIG);
        assert_string_equal(err.key, bad[i][1]);
    }
}

/* Without `columns`, a key outside the first record's keys rejects the record. */
static void sinks_csv_unknown_field_is_record_error(void **state)
{
    fixture *fx = *state;
    agora_sink *sink = create_sink(fx, &agora_sink_csv_type,
                                   "{\"path\":\"out.csv\"}");
    agora_record_result results[4];
    char *text;

    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink,
                                      "[{\"a\":1,\"c\":2},"
                                      " {\"a\":3,\"b\":4,\"c\":5},"
                                      " {\"c\":6},"
                                      " {\"b\":7,\"d\":8,\"a\":9}]",
                                      results),
                     0);
    assert_null(results[0].error);
    assert_non_null(results[1].error);
    assert_non_null(strstr(results[1].error, "field 'b' is not a column"));
    assert_non_null(strstr(results[1].error,
                           "(columns: a, c, taken from the first record)"));
    assert_non_null(strstr(results[1].error, "`columns` option"));
    assert_non_null(strstr(results[1].error, "out.csv"));
    assert_null(results[2].error);
    assert_non_null(results[3].error);
    assert_non_null(strstr(results[3].error, "fields 'b', 'd' are not columns"));

    /* The sink keeps working after rejected records. */
    assert_int_equal(write_json_batch(fx, sink, "[{\"c\":11,\"a\":10}]", results), 0);
    assert_null(results[0].error);
    assert_int_equal(sink->flush(sink->state, &fx->err), 0);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "a,c\n1,2\n,6\n10,11\n");
    free(text);

    if (!tool_available("python3")) {
        print_message("python3 not found: skipping the csv module cross-check\n");
        return;
    }
    text = run_command("python3 -c 'import csv,json,sys; "
                       "print(json.dumps(list(csv.reader(open(sys.argv[1], "
                       "newline=\"\")))))' '%s'",
                       path_in(fx, "out.csv"));
    assert_string_equal(text, "[[\"a\", \"c\"], [\"1\", \"2\"], [\"\", \"6\"], "
                              "[\"10\", \"11\"]]\n");
    free(text);
}

/* With `columns`, keys outside the list are ignored, not errors. */
static void sinks_csv_columns_option_ignores_extra_keys(void **state)
{
    fixture *fx = *state;
    agora_sink *sink = create_sink(fx, &agora_sink_csv_type,
                                   "{\"path\":\"out.csv\",\"columns\":[\"a\"]}");
    agora_record_result results[2];
    char *text;

    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{\"a\":1,\"b\":2},{\"z\":3}]",
                                      results),
                     0);
    assert_null(results[0].error);
    assert_null(results[1].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "a\n1\n\"\"\n");
    free(text);
}

/* Appending follows the file's header row, so other keys reject the record. */
static void sinks_csv_append_unknown_field_is_record_error(void **state)
{
    fixture *fx = *state;
    agora_sink *sink;
    agora_record_result results[2];
    char *text;

    write_file(path_in(fx, "out.csv"), "a,b\n1,2\n");
    sink = create_sink(fx, &agora_sink_csv_type,
                       "{\"path\":\"out.csv\",\"mode\":\"append\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{\"a\":3,\"z\":4},{\"b\":5}]",
                                      results),
                     0);
    assert_non_null(results[0].error);
    assert_non_null(strstr(results[0].error, "field 'z' is not a column"));
    assert_non_null(strstr(results[0].error, "columns: a, b"));
    assert_non_null(strstr(results[0].error, "header row"));
    assert_null(results[1].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "a,b\n1,2\n,5\n");
    free(text);
}

/* An empty first record cannot fix the columns, so it is rejected instead. */
static void sinks_csv_empty_first_record_is_record_error(void **state)
{
    fixture *fx = *state;
    agora_sink *sink = create_sink(fx, &agora_sink_csv_type,
                                   "{\"path\":\"out.csv\"}");
    agora_record_result results[3];
    char *text;

    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{},{\"a\":1},{}]", results), 0);
    assert_non_null(results[0].error);
    assert_non_null(strstr(results[0].error, "no fields"));
    assert_null(results[1].error);
    assert_null(results[2].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = read_file(path_in(fx, "out.csv"));
    assert_string_equal(text, "a\n1\n\"\"\n");
    free(text);
}

/* ---- stdout ------------------------------------------------------------------ */

static void sinks_stdout_writes_json_lines(void **state)
{
    fixture *fx = *state;
    agora_sink *sink = create_sink(fx, &agora_sink_stdout_type, "{}");
    agora_record_result results[4];
    const char *path = path_in(fx, "stdout.txt");
    int saved, fd, rc;
    char *text;

    /* Point file descriptor 1 at a file for the duration of the writes. */
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    close(fd);

    rc = sink->open(sink->state, &fx->err);
    if (rc == 0)
        rc = write_json_batch(fx, sink, "[{\"a\":1},{\"b\":[true,null]}]", results);
    if (rc == 0)
        rc = sink->flush(sink->state, &fx->err);
    sink->close(sink->state);

    fflush(stdout);
    assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
    close(saved);
    agora_sink_free(sink);

    assert_int_equal(rc, 0);
    text = read_file(path);
    assert_string_equal(text, "{\"a\":1}\n{\"b\":[true,null]}\n");
    free(text);
}

static void sinks_stdout_rejects_unknown_format(void **state)
{
    fixture *fx = *state;
    agora_error err;

    agora_error_clear(&err);
    assert_null(agora_sink_stdout_type.create_sink(
        parse(fx, "{\"format\":\"xml\"}"), NULL, &err));
    assert_string_equal(err.key, "format");
    assert_non_null(strstr(err.message, "xml"));
}

/* ---- sqlite ------------------------------------------------------------------ */

static bool need_sqlite3_tool(void)
{
    if (tool_available("sqlite3"))
        return true;
    print_message("sqlite3 command-line tool not found: skipping\n");
    return false;
}

static long long count_rows(const char *db_path, const char *table)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", table);
    long long n = -1;

    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    sqlite3_free(sql);
    return n;
}

static void sinks_sqlite_creates_typed_table(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "db/out.db");
    char *text;

    if (!need_sqlite3_tool())
        return;
    write_all(fx, &agora_sink_sqlite_type,
              "{\"path\":\"db/out.db\",\"table\":\"items\"}",
              "[{\"id\":1,\"name\":\"a\",\"score\":1.5,\"ok\":true,"
              "  \"tags\":[1,\"x\"],\"meta\":{\"k\":\"v\"},\"unset\":null},"
              " {\"id\":2,\"name\":\"b\"},"
              " {\"unset\":7,\"name\":\"it's\",\"id\":3}]");

    text = run_command("sqlite3 '%s' \"SELECT name || ':' || type FROM "
                       "pragma_table_info('items')\"", db);
    assert_string_equal(text, "id:INTEGER\nname:TEXT\nscore:REAL\nok:INTEGER\n"
                              "tags:TEXT\nmeta:TEXT\nunset:\n");
    free(text);

    text = run_command("sqlite3 '%s' \"SELECT id, name, score, ok, tags, meta, "
                       "quote(unset), typeof(unset) FROM items ORDER BY id\"",
                       db);
    assert_string_equal(text, "1|a|1.5|1|[1,\"x\"]|{\"k\":\"v\"}|NULL|null\n"
                              "2|b|||||NULL|null\n"
                              "3|it's|||||7|integer\n");
    free(text);

    text = run_command("sqlite3 '%s' 'PRAGMA journal_mode'", db);
    assert_string_equal(text, "wal\n");
    free(text);

    assert_int_equal(count_rows(db, "items"), 3);
}

static void sinks_sqlite_constraint_is_record_error(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    agora_sink *sink;
    agora_record_result results[5];
    char *text;

    if (!need_sqlite3_tool())
        return;
    free(run_command("sqlite3 '%s' 'CREATE TABLE t (id INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, n INTEGER CHECK (n >= 0))'", db));

    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink,
                                      "[{\"id\":1,\"name\":\"a\",\"n\":0},"
                                      " {\"id\":1,\"name\":\"dup\"},"
                                      " {\"id\":2},"
                                      " {\"id\":3,\"name\":\"c\",\"n\":-1},"
                                      " {\"id\":4,\"name\":\"d\"}]",
                                      results),
                     0);
    assert_null(results[0].error);
    assert_non_null(results[1].error);
    assert_non_null(strstr(results[1].error, "UNIQUE"));
    assert_non_null(results[2].error);
    assert_non_null(strstr(results[2].error, "NOT NULL"));
    assert_non_null(results[3].error);
    assert_non_null(strstr(results[3].error, "CHECK"));
    assert_null(results[4].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = run_command("sqlite3 '%s' 'SELECT id, name, quote(n) FROM t ORDER BY id'",
                       db);
    assert_string_equal(text, "1|a|0\n4|d|NULL\n");
    free(text);
}

static void sinks_sqlite_non_object_is_record_error(void **state)
{
    fixture *fx = *state;
    agora_sink *sink = create_sink(fx, &agora_sink_sqlite_type,
                                   "{\"path\":\"out.db\",\"table\":\"t\"}");
    agora_record_result results[3];

    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[42,{\"a\":1},null]", results), 0);
    assert_non_null(results[0].error);
    assert_null(results[1].error);
    assert_non_null(results[2].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    assert_int_equal(count_rows(path_in(fx, "out.db"), "t"), 1);
}

static void sinks_sqlite_append_and_replace(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");

    write_all(fx, &agora_sink_sqlite_type, "{\"path\":\"out.db\",\"table\":\"t\"}",
              "[{\"a\":1},{\"a\":2}]");
    write_all(fx, &agora_sink_sqlite_type, "{\"path\":\"out.db\",\"table\":\"t\"}",
              "[{\"a\":3}]");
    assert_int_equal(count_rows(db, "t"), 3);

    write_all(fx, &agora_sink_sqlite_type,
              "{\"path\":\"out.db\",\"table\":\"t\",\"mode\":\"replace\"}",
              "[{\"a\":4}]");
    assert_int_equal(count_rows(db, "t"), 1);
}

static void sinks_sqlite_quotes_identifiers(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    char *text;

    if (!need_sqlite3_tool())
        return;
    write_all(fx, &agora_sink_sqlite_type,
              "{\"path\":\"out.db\",\"table\":\"my \\\"odd\\\" table; DROP\"}",
              "[{\"select\":1,\"col \\\"q\\\"\":\"v\"}]");

    text = run_command("sqlite3 '%s' 'SELECT \"select\", \"col \"\"q\"\"\" FROM "
                       "\"my \"\"odd\"\" table; DROP\"'", db);
    assert_string_equal(text, "1|v\n");
    free(text);
}

/* With `columns`, keys outside the list are ignored, not errors. */
static void sinks_sqlite_columns_option(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    agora_sink *sink;
    agora_record_result results[2];
    char *text;

    if (!need_sqlite3_tool())
        return;
    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\","
                       " \"columns\":[\"b\",\"c\"]}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink,
                                      "[{\"a\":1,\"b\":2.0,\"c\":\"x\"},{\"b\":3}]",
                                      results),
                     0);
    assert_null(results[0].error);
    assert_null(results[1].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = run_command("sqlite3 '%s' \"SELECT group_concat(name, ',') FROM "
                       "pragma_table_info('t')\"", db);
    assert_string_equal(text, "b,c\n");
    free(text);
    text = run_command("sqlite3 '%s' 'SELECT b, quote(c) FROM t ORDER BY rowid'", db);
    assert_string_equal(text, "2.0|'x'\n3.0|NULL\n");
    free(text);
}

/* A column listed in `columns` that the existing table lacks fails the open. */
static void sinks_sqlite_selected_column_missing_fails(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    agora_sink *sink;
    char *text;

    if (!need_sqlite3_tool())
        return;
    free(run_command("sqlite3 '%s' 'CREATE TABLE t (a INTEGER)'", db));

    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\","
                       " \"columns\":[\"a\",\"zz\"]}");
    assert_int_equal(sink->open(sink->state, &fx->err), AGORA_EDB);
    assert_non_null(strstr(fx->err.message, "\"zz\""));
    assert_non_null(strstr(fx->err.message, "out.db"));
    sink->close(sink->state);
    agora_sink_free(sink);

    /* The selection is deliberate, so the table is not extended. */
    text = run_command("sqlite3 '%s' \"SELECT group_concat(name, ',') FROM "
                       "pragma_table_info('t')\"", db);
    assert_string_equal(text, "a\n");
    free(text);
}

/* Without `columns`, each new key becomes a column typed by its first value. */
static void sinks_sqlite_adds_columns_for_new_keys(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    agora_sink *sink;
    agora_record_result results[3];
    char *text;

    if (!need_sqlite3_tool())
        return;
    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink,
                                      "[{\"a\":1},{\"a\":2,\"b\":\"x\"},"
                                      " {\"c\":1.5,\"a\":3}]",
                                      results),
                     0);
    assert_null(results[0].error);
    assert_null(results[1].error);
    assert_null(results[2].error);
    assert_int_equal(write_json_batch(fx, sink,
                                      "[{\"d\":null,\"e\":true},{\"d\":[1]}]",
                                      results),
                     0);
    assert_null(results[0].error);
    assert_null(results[1].error);
    assert_int_equal(write_json_batch(fx, sink, "[{\"e\":false,\"a\":4}]", results),
                     0);
    assert_null(results[0].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = run_command("sqlite3 '%s' \"SELECT name || ':' || type FROM "
                       "pragma_table_info('t')\"", db);
    assert_string_equal(text, "a:INTEGER\nb:TEXT\nc:REAL\nd:\ne:INTEGER\n");
    free(text);
    text = run_command("sqlite3 '%s' 'SELECT quote(a), quote(b), quote(c), "
                       "quote(d), quote(e) FROM t ORDER BY rowid'", db);
    assert_string_equal(text, "1|NULL|NULL|NULL|NULL\n"
                              "2|'x'|NULL|NULL|NULL\n"
                              "3|NULL|1.5|NULL|NULL\n"
                              "NULL|NULL|NULL|NULL|1\n"
                              "NULL|NULL|NULL|'[1]'|NULL\n"
                              "4|NULL|NULL|NULL|0\n");
    free(text);
}

/* A table that exists at open is read with table_info and extended. */
static void sinks_sqlite_extends_existing_table(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    char *text;

    if (!need_sqlite3_tool())
        return;
    free(run_command("sqlite3 '%s' 'CREATE TABLE t (id INTEGER PRIMARY KEY, "
                     "Name TEXT); INSERT INTO t VALUES (1, \"old\")'", db));

    /* "name" is the existing column "Name": SQLite ignores ASCII case. */
    write_all(fx, &agora_sink_sqlite_type,
              "{\"path\":\"out.db\",\"table\":\"t\",\"mode\":\"append\"}",
              "[{\"id\":2,\"name\":\"n2\",\"score\":9},"
              " {\"id\":3,\"tags\":[\"x\"]}]");

    text = run_command("sqlite3 '%s' \"SELECT name || ':' || type FROM "
                       "pragma_table_info('t')\"", db);
    assert_string_equal(text, "id:INTEGER\nName:TEXT\nscore:INTEGER\ntags:TEXT\n");
    free(text);
    text = run_command("sqlite3 '%s' 'SELECT id, quote(Name), quote(score), "
                       "quote(tags) FROM t ORDER BY id'", db);
    assert_string_equal(text, "1|'old'|NULL|NULL\n"
                              "2|'n2'|9|NULL\n"
                              "3|NULL|NULL|'[\"x\"]'\n");
    free(text);

    /* Mode replace empties the table at open and extends it the same way. */
    write_all(fx, &agora_sink_sqlite_type,
              "{\"path\":\"out.db\",\"table\":\"t\",\"mode\":\"replace\"}",
              "[{\"id\":7,\"extra\":1.5}]");
    text = run_command("sqlite3 '%s' \"SELECT group_concat(name || ':' || type, "
                       "',') FROM pragma_table_info('t')\"", db);
    assert_string_equal(text, "id:INTEGER,Name:TEXT,score:INTEGER,tags:TEXT,"
                              "extra:REAL\n");
    free(text);
    text = run_command("sqlite3 '%s' 'SELECT id, quote(Name), quote(score), "
                       "quote(tags), quote(extra) FROM t'", db);
    assert_string_equal(text, "7|NULL|NULL|NULL|1.5\n");
    free(text);
}

/* Keys that SQLite would take for the same column reject the record. */
static void sinks_sqlite_case_conflict_is_record_error(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    agora_sink *sink;
    agora_record_result results[4];
    char *text;

    if (!need_sqlite3_tool())
        return;
    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink,
                                      "[{\"a\":1},{\"A\":2},{\"b\":1,\"B\":2},"
                                      " {\"b\":3}]",
                                      results),
                     0);
    assert_null(results[0].error);
    assert_non_null(results[1].error);
    assert_non_null(strstr(results[1].error, "field 'A' and column 'a'"));
    assert_non_null(strstr(results[1].error, "letter case"));
    assert_non_null(results[2].error);
    assert_non_null(strstr(results[2].error, "fields 'b' and 'B'"));
    assert_null(results[3].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = run_command("sqlite3 '%s' \"SELECT group_concat(name, ',') FROM "
                       "pragma_table_info('t')\"", db);
    assert_string_equal(text, "a,b\n");
    free(text);
    text = run_command("sqlite3 '%s' 'SELECT quote(a), quote(b) FROM t "
                       "ORDER BY rowid'", db);
    assert_string_equal(text, "1|NULL\nNULL|3\n");
    free(text);
}

/* A rolled-back batch takes its new column with it; the next batch re-adds it. */
static void sinks_sqlite_rollback_undoes_new_column(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    agora_sink *sink;
    agora_record_result results[2];
    char *text;

    if (!need_sqlite3_tool())
        return;
    free(run_command("sqlite3 '%s' 'CREATE TABLE t (id INTEGER PRIMARY KEY "
                     "ON CONFLICT ROLLBACK)'", db));

    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{\"id\":1,\"x\":\"a\"},{\"id\":1}]",
                                      results),
                     AGORA_EDB);
    text = run_command("sqlite3 '%s' \"SELECT group_concat(name, ',') FROM "
                       "pragma_table_info('t')\"", db);
    assert_string_equal(text, "id\n");
    free(text);

    assert_int_equal(write_json_batch(fx, sink, "[{\"id\":2,\"x\":\"b\"}]", results),
                     0);
    assert_null(results[0].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = run_command("sqlite3 '%s' \"SELECT group_concat(name, ',') FROM "
                       "pragma_table_info('t')\"", db);
    assert_string_equal(text, "id,x\n");
    free(text);
    text = run_command("sqlite3 '%s' 'SELECT id, x FROM t'", db);
    assert_string_equal(text, "2|b\n");
    free(text);
}

/*
 * An empty record cannot create a table, but into an existing table it is a
 * row of column defaults.
 */
static void sinks_sqlite_empty_record(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    agora_sink *sink;
    agora_record_result results[3];
    char *text;

    if (!need_sqlite3_tool())
        return;
    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{},{\"a\":1},{}]", results), 0);
    assert_non_null(results[0].error);
    assert_non_null(strstr(results[0].error, "no fields"));
    assert_null(results[1].error);
    assert_null(results[2].error);
    sink->close(sink->state);
    agora_sink_free(sink);

    text = run_command("sqlite3 '%s' 'SELECT quote(a) FROM t ORDER BY rowid'", db);
    assert_string_equal(text, "1\nNULL\n");
    free(text);

    free(run_command("sqlite3 '%s' \"CREATE TABLE d (a, b DEFAULT 'dflt')\"", db));
    write_all(fx, &agora_sink_sqlite_type, "{\"path\":\"out.db\",\"table\":\"d\"}",
              "[{},{\"a\":5},{}]");
    text = run_command("sqlite3 '%s' 'SELECT quote(a), quote(b) FROM d "
                       "ORDER BY rowid'", db);
    assert_string_equal(text, "NULL|'dflt'\n5|'dflt'\nNULL|'dflt'\n");
    free(text);
}

/* A conflict clause of ROLLBACK undoes the whole batch, so the batch fails. */
static void sinks_sqlite_rollback_conflict_fails_batch(void **state)
{
    fixture *fx = *state;
    const char *db = path_in(fx, "out.db");
    agora_sink *sink;
    agora_record_result results[3];

    if (!need_sqlite3_tool())
        return;
    free(run_command("sqlite3 '%s' 'CREATE TABLE t (id INTEGER PRIMARY KEY "
                     "ON CONFLICT ROLLBACK)'", db));

    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\"}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink,
                                      "[{\"id\":1},{\"id\":1},{\"id\":2}]",
                                      results),
                     AGORA_EDB);
    assert_non_null(strstr(fx->err.message, "rolled back"));
    assert_int_equal(count_rows(db, "t"), 0);

    /* The next batch starts a fresh transaction. */
    assert_int_equal(write_json_batch(fx, sink, "[{\"id\":3}]", results), 0);
    sink->close(sink->state);
    agora_sink_free(sink);
    assert_int_equal(count_rows(db, "t"), 1);
}

/* A lock held by another connection past the busy timeout fails the batch. */
static void sinks_sqlite_locked_database_fails_batch(void **state)
{
    fixture *fx = *state;
    const char *db_path = path_in(fx, "out.db");
    agora_sink *sink;
    agora_record_result results[1];
    sqlite3 *other = NULL;

    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"out.db\",\"table\":\"t\","
                       " \"busy_timeout_ms\":10}");
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(write_json_batch(fx, sink, "[{\"a\":1}]", results), 0);

    assert_int_equal(sqlite3_open(db_path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);

    assert_int_equal(write_json_batch(fx, sink, "[{\"a\":2}]", results),
                     AGORA_EDB);
    assert_non_null(strstr(fx->err.message, "out.db"));
    assert_non_null(strstr(fx->err.message, "locked"));

    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);

    assert_int_equal(write_json_batch(fx, sink, "[{\"a\":3}]", results), 0);
    sink->close(sink->state);
    agora_sink_free(sink);
    assert_int_equal(count_rows(db_path, "t"), 2);
}

static void sinks_sqlite_unwritable_path_fails_open(void **state)
{
    fixture *fx = *state;
    agora_sink *sink;
    int rc;

    write_file(path_in(fx, "plain"), "x");
    sink = create_sink(fx, &agora_sink_sqlite_type,
                       "{\"path\":\"plain/out.db\",\"table\":\"t\"}");

    rc = sink->open(sink->state, &fx->err);
    assert_true(rc < 0);
    assert_non_null(strstr(fx->err.message, "plain/out.db"));
    sink->close(sink->state);
    agora_sink_free(sink);
}

static void sinks_sqlite_rejects_bad_options(void **state)
{
    fixture *fx = *state;
    agora_component_context ctx = {.base_dir = fx->dir};
    static const char *const bad[][2] = {
        {"{\"path\":\"x.db\"}", "table"},
        {"{\"path\":\"x.db\",\"table\":\"\"}", "table"},
        {"{\"table\":\"t\"}", "path"},
        {"{\"path\":\"x.db\",\"table\":\"t\",\"mode\":\"overwrite\"}", "mode"},
        {"{\"path\":\"x.db\",\"table\":\"t\",\"busy_timeout_ms\":-1}",
         "busy_timeout_ms"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        agora_error err;
        agora_sink *sink;

        agora_error_clear(&err);
        sink = agora_sink_sqlite_type.create_sink(parse(fx, bad[i][0]), &ctx, &err);
        if (sink != NULL)
            fail_msg("options %s were accepted", bad[i][0]);
        assert_string_equal(err.key, bad[i][1]);
    }
}

/* Option tables end with a NULL key and name every option the factory reads. */
static void sinks_option_tables_terminated(void **state)
{
    const agora_component_type *types[] = {
        &agora_sink_jsonl_type, &agora_sink_csv_type, &agora_sink_stdout_type,
        &agora_sink_sqlite_type};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t n = 0;

        assert_int_equal(types[i]->kind, AGORA_COMPONENT_SINK);
        assert_non_null(types[i]->create_sink);
        while (types[i]->options[n].key != NULL && n < 32)
            n++;
        assert_true(n < 32);
        assert_ptr_equal(agora_component_find(AGORA_COMPONENT_SINK,
                                              types[i]->type), types[i]);
    }
}

static const char *option_help(const agora_component_type *type,
                               const char *key)
{
    for (size_t i = 0; type->options[i].key != NULL; i++)
        if (strcmp(type->options[i].key, key) == 0)
            return type->options[i].help;
    fail_msg("%s sink has no option %s", type->type, key);
    return NULL;
}

/* The help texts state the defaults and what `columns` does to other keys. */
static void sinks_option_help_states_behaviour(void **state)
{
    assert_non_null(strstr(option_help(&agora_sink_csv_type, "mode"),
                           "\"overwrite\" (the default)"));
    assert_non_null(strstr(option_help(&agora_sink_csv_type, "columns"),
                           "keys not listed are ignored"));
    assert_non_null(strstr(option_help(&agora_sink_sqlite_type, "mode"),
                           "\"append\" (the default)"));
    assert_non_null(strstr(option_help(&agora_sink_sqlite_type, "mode"),
                           "again on every run"));
    assert_non_null(strstr(option_help(&agora_sink_sqlite_type, "mode"),
                           "\"replace\" empties the table"));
    assert_non_null(strstr(option_help(&agora_sink_sqlite_type, "columns"),
                           "keys not listed are ignored"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sinks_jsonl_writes_compact_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_overwrite_truncates, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_append_keeps_content, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_creates_parent_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_several_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_disk_full_fails_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_failed_batch_leaves_no_partial_line, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_unwritable_path_fails_open, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_write_before_open_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_jsonl_rejects_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_quotes_and_formats_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_reads_back_with_python, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_columns_option_and_delimiter, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_tab_delimiter, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_non_object_is_record_error, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_append_writes_header_once, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_append_follows_existing_header, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_append_header_mismatch_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_header_without_records, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_single_empty_field_quoted, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_rejects_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_unknown_field_is_record_error, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_columns_option_ignores_extra_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_append_unknown_field_is_record_error, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_csv_empty_first_record_is_record_error, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_stdout_writes_json_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_stdout_rejects_unknown_format, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_creates_typed_table, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_constraint_is_record_error, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_non_object_is_record_error, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_append_and_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_quotes_identifiers, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_columns_option, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_selected_column_missing_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_adds_columns_for_new_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_extends_existing_table, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_case_conflict_is_record_error, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_rollback_undoes_new_column, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_empty_record, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_rollback_conflict_fails_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_locked_database_fails_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_unwritable_path_fails_open, setup, teardown),
        cmocka_unit_test_setup_teardown(sinks_sqlite_rejects_bad_options, setup, teardown),
        cmocka_unit_test(sinks_option_tables_terminated),
        cmocka_unit_test(sinks_option_help_states_behaviour),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
