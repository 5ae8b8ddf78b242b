/*
 * Tests of the json, jsonl and csv sources against real files in a
 * temporary directory, plus the shared datasets when AGORA_SHARED_DIR is set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/pipeline.h"
#include "agora/value.h"
#include "connectors/connectors.h"
#include "connectors/source_util.h"

/* ---- Fixture ----------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    agora_arena *arena; /* options, checkpoints and every record read */
} fixture;

/* The running test's fixture; create() uses its directory as base_dir. */
static fixture *current_fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/agora_sources_XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->arena = agora_arena_new(0);
    current_fixture = f;
    *state = f;
    return f->arena != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char command[128];

    snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
    if (system(command) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    agora_arena_free(f->arena);
    free(f);
    return 0;
}

/*
 * Writes len bytes to dir/name and returns name: sources are created with
 * the fixture directory as base_dir, so messages show the short name.
 */
static const char *write_file(fixture *f, const char *name, const char *data,
                              size_t len)
{
    char path[PATH_MAX];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    return name;
}

static const char *write_text(fixture *f, const char *name, const char *text)
{
    return write_file(f, name, text, strlen(text));
}

/*
 * Builds an options object: "path" plus key/value pairs given as JSON text,
 * ending with NULL, e.g. options(f, path, "delimiter", "\";\"", NULL).
 */
static agora_value *options(fixture *f, const char *path, ...)
{
    agora_value *object = agora_value_object(f->arena, 4);
    va_list ap;
    const char *key;

    assert_non_null(object);
    assert_int_equal(agora_object_push(f->arena, object, "path", 4,
                                       agora_value_string(f->arena, path,
                                                          strlen(path))),
                     0);
    va_start(ap, path);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *json = va_arg(ap, const char *);
        agora_value *value =
            agora_json_parse(f->arena, json, strlen(json), NULL, NULL);

        assert_non_null(value);
        assert_int_equal(agora_object_push(f->arena, object, key, strlen(key),
                                           value),
                         0);
    }
    va_end(ap);
    return object;
}

static agora_source *create(const agora_component_type *type,
                            const agora_value *opts)
{
    agora_component_context ctx = {.base_dir = current_fixture->dir,
                                   .pipeline_id = "test",
                                   .instance_name = type->type};
    agora_error err;
    agora_source *source;

    agora_error_clear(&err);
    source = type->create_source(opts, &ctx, &err);
    if (source == NULL)
        fail_msg("factory failed: %s", err.message);
    return source;
}

/* Everything a source produced, read in batches of `cap` records. */
typedef struct result {
    agora_value **records;
    size_t count;
    agora_bad_record *bad; /* copies; strings live in the fixture arena */
    size_t bad_count;
    size_t batches; /* calls of next_batch that returned > 0 */
    int rc;         /* 0, or the negative code that stopped reading */
    agora_error err;
} result;

static void result_free(result *r)
{
    free(r->records);
    free(r->bad);
}

/*
 * Calls next_batch until it returns 0 or fails, or until max_batches calls
 * returned records (0 = no limit). Records stay in the fixture arena, which
 * is never reset here.
 */
static void read_batches(fixture *f, agora_source *source, size_t cap,
                         size_t max_batches, result *out)
{
    agora_batch batch = {.arena = f->arena, .cap = cap};

    memset(out, 0, sizeof(*out));
    batch.records = calloc(cap, sizeof(*batch.records));
    assert_non_null(batch.records);

    for (;;) {
        int n;

        batch.count = 0;
        batch.bad_count = 0;
        agora_error_clear(&out->err);
        n = source->next_batch(source->state, &batch, &out->err);
        if (n < 0) {
            out->rc = n;
            break;
        }
        assert_int_equal((size_t)n, batch.count + batch.bad_count);
        assert_true(batch.count <= cap);
        if (n == 0)
            break;
        out->batches++;
        out->records = realloc(out->records, (out->count + batch.count) *
                                                 sizeof(*out->records));
        assert_non_null(out->records);
        memcpy(out->records + out->count, batch.records,
               batch.count * sizeof(*batch.records));
        out->count += batch.count;
        if (batch.bad_count > 0) {
            out->bad = realloc(out->bad, (out->bad_count + batch.bad_count) *
                                             sizeof(*out->bad));
            assert_non_null(out->bad);
            memcpy(out->bad + out->bad_count, batch.bad,
                   batch.bad_count * sizeof(*batch.bad));
            out->bad_count += batch.bad_count;
        }
        if (max_batches > 0 && out->batches == max_batches)
            break;
    }
    free(batch.records);
    free(batch.bad);
}

/* Opens source (after an optional resume) and reads it all. */
static void read_all(fixture *f, agora_source *source, size_t cap,
                     const agora_value *checkpoint, result *out)
{
    agora_error err;

    agora_error_clear(&err);
    if (checkpoint != NULL &&
        source->prepare_resume(source->state, checkpoint, &err) != 0)
        fail_msg("prepare_resume failed: %s", err.message);
    if (source->open(source->state, &err) != 0)
        fail_msg("open failed: %s", err.message);
    read_batches(f, source, cap, 0, out);
    source->close(source->state);
}

/* Asserts that value equals the JSON text expected. */
static void assert_json(fixture *f, const agora_value *value,
                        const char *expected)
{
    agora_value *want =
        agora_json_parse(f->arena, expected, strlen(expected), NULL, NULL);
    agora_buf got;

    assert_non_null(want);
    if (!agora_value_equal(value, want)) {
        agora_buf_init(&got);
        agora_json_write(&got, value);
        agora_buf_appendz(&got, "");
        fail_msg("expected %s, got %.*s", expected, (int)got.len, got.data);
    }
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Runs a shell command and reads one unsigned number from its output. */
static bool command_number(const char *command, unsigned long long *out)
{
    FILE *p = popen(command, "r");
    int matched;

    if (p == NULL)
        return false;
    matched = fscanf(p, "%llu", out);
    return pclose(p) == 0 && matched == 1;
}

static const char *shared_file(const char *name)
{
    static char path[PATH_MAX];
    const char *dir = getenv("AGORA_SHARED_DIR");

    if (dir == NULL || dir[0] == '\0')
        return NULL;
    snprintf(path, sizeof(path), "%s/data/%s", dir, name);
    return access(path, R_OK) == 0 ? path : NULL;
}

/* ---- jsonl ------------------------------------------------------------- */

static void sources_jsonl_reads_lines(void **state)
{
    fixture *f = *state;
    const char *path = write_text(f, "a.jsonl",
                                  "{\"a\":1}\n"
                                  "\n"
                                  "   \n"
                                  "{\"b\":\"x y\"}\r\n"
                                  "[1,2]\n"
                                  "\"last\"");
    agora_source *source = create(&agora_source_jsonl_type, options(f, path,
                                                                    NULL));
    agora_value *checkpoint;
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 4);
    assert_int_equal(r.bad_count, 0);
    assert_json(f, r.records[0], "{\"a\":1}");
    assert_json(f, r.records[1], "{\"b\":\"x y\"}");
    assert_json(f, r.records[2], "[1,2]");
    assert_json(f, r.records[3], "\"last\"");
    checkpoint = source->checkpoint(source->state, f->arena);
    assert_json(f, checkpoint, "{\"line_number\":6}");
    assert_string_equal(source->name, "jsonl");

    result_free(&r);
    agora_source_free(source);
}

static void sources_jsonl_bad_line(void **state)
{
    fixture *f = *state;
    const char *path = write_text(f, "bad.jsonl",
                                  "{\"a\":1}\n"
                                  "{\"a\":2}\n"
                                  "{\"a\": tru}\r\n"
                                  "{\"a\":4}\n");
    agora_source *source = create(&agora_source_jsonl_type, options(f, path,
                                                                    NULL));
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 3);
    assert_int_equal(r.bad_count, 1);
    assert_int_equal(r.bad[0].raw_len, strlen("{\"a\": tru}"));
    assert_memory_equal(r.bad[0].raw, "{\"a\": tru}", r.bad[0].raw_len);
    /* Column 7 is where "tru" starts in the line. */
    assert_true(starts_with(r.bad[0].error,
                            "bad.jsonl:3: invalid JSON at column 7: "));
    assert_json(f, r.records[2], "{\"a\":4}");

    result_free(&r);
    agora_source_free(source);
}

static void sources_jsonl_long_line(void **state)
{
    fixture *f = *state;
    /* Line 2 is 5000 bytes; max_line_bytes is 100. */
    size_t long_len = 5000;
    char *text = malloc(long_len + 64);
    const char *path;
    agora_source *source;
    result r;

    assert_non_null(text);
    strcpy(text, "{\"a\":1}\n\"");
    memset(text + 9, 'x', long_len - 2);
    strcpy(text + 9 + long_len - 2, "\"\n{\"a\":3}\n");
    path = write_text(f, "long.jsonl", text);
    source = create(&agora_source_jsonl_type,
                    options(f, path, "max_line_bytes", "100", NULL));

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.bad_count, 1);
    assert_int_equal(r.bad[0].raw_len, SRCUTIL_RAW_PREFIX_BYTES);
    assert_memory_equal(r.bad[0].raw, "\"xxx", 4);
    assert_true(starts_with(r.bad[0].error, "long.jsonl:2: "));
    assert_non_null(strstr(r.bad[0].error, "max_line_bytes"));
    assert_json(f, r.records[1], "{\"a\":3}");

    result_free(&r);
    agora_source_free(source);
    free(text);
}

/*
 * max_depth and max_string_bytes apply to each line, in the json source as
 * in the jsonl source: a record past either becomes a bad record naming the
 * limit, and the records around it are read.
 */
static void sources_json_limits_options(void **state)
{
    fixture *f = *state;
    const agora_component_type *types[] = {&agora_source_jsonl_type,
                                           &agora_source_json_type};
    const char *files[] = {
        "{\"a\":[1]}\n{\"a\":[[1]]}\n{\"s\":\"12345\"}\n{\"s\":\"123456\"}\n",
        "[{\"a\":[1]},{\"a\":[[1]]},{\"s\":\"12345\"},{\"s\":\"123456\"}]",
    };

    for (size_t k = 0; k < 2; k++) {
        agora_source *source;
        result r;
        const char *path = write_text(f, k == 0 ? "lim.jsonl" : "lim.json",
                                      files[k]);

        source = create(types[k], options(f, path, "max_depth", "2",
                                          "max_string_bytes", "5", NULL));
        read_all(f, source, 100, NULL, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.count, 2);
        assert_json(f, r.records[0], "{\"a\":[1]}");
        assert_json(f, r.records[1], "{\"s\":\"12345\"}");
        assert_int_equal(r.bad_count, 2);
        assert_non_null(strstr(r.bad[0].error, "limit of 2 arrays and objects"));
        assert_non_null(strstr(r.bad[1].error, "string of 6 bytes exceeds the "
                                               "limit of 5 bytes"));
        result_free(&r);
        agora_source_free(source);
    }
}

/* max_depth above the supported nesting is a configuration error. */
static void sources_json_depth_option_capped(void **state)
{
    fixture *f = *state;
    agora_component_context ctx = {.base_dir = f->dir, .pipeline_id = "test",
                                   .instance_name = "jsonl"};
    agora_error err;

    agora_error_clear(&err);
    assert_null(agora_source_jsonl_type.create_source(
        options(f, "x.jsonl", "max_depth", "1025", NULL), &ctx, &err));
    assert_int_equal(err.code, AGORA_ECONFIG);
    assert_string_equal(err.key, "max_depth");
    assert_non_null(strstr(err.message, "largest supported nesting of 1024"));
}

/* A line longer than the read buffer must be dropped across several reads. */
static void sources_jsonl_line_beyond_buffer(void **state)
{
    fixture *f = *state;
    size_t long_len = 3 * SRCUTIL_CHUNK_BYTES + 17;
    char *text = malloc(long_len + 64);
    const char *path;
    agora_source *source;
    agora_value *checkpoint;
    result r;

    assert_non_null(text);
    memset(text, ' ', long_len);
    memcpy(text + long_len, "\n{\"after\":true}\n", 17);
    path = write_file(f, "huge.jsonl", text, long_len + 16);
    source = create(&agora_source_jsonl_type,
                    options(f, path, "max_line_bytes", "1048576", NULL));

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.bad_count, 1);
    assert_int_equal(r.count, 1);
    assert_json(f, r.records[0], "{\"after\":true}");
    checkpoint = source->checkpoint(source->state, f->arena);
    assert_json(f, checkpoint, "{\"line_number\":2}");

    result_free(&r);
    agora_source_free(source);
    free(text);
}

static const char *write_numbered_jsonl(fixture *f, const char *name,
                                        size_t lines)
{
    agora_buf text;
    const char *path;

    agora_buf_init(&text);
    for (size_t i = 1; i <= lines; i++)
        assert_int_equal(agora_buf_printf(&text,
                                          "{\"n\":%zu,\"pad\":\"%s\"}\n", i,
                                          "abcdefghijklmnopqrstuvwxyz"),
                         0);
    path = write_file(f, name, text.data, text.len);
    agora_buf_free(&text);
    return path;
}

static void sources_jsonl_batch_boundaries(void **state)
{
    fixture *f = *state;
    const char *path = write_numbered_jsonl(f, "ten.jsonl", 10);
    agora_source *source = create(&agora_source_jsonl_type, options(f, path,
                                                                    NULL));
    result r;

    read_all(f, source, 3, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 10);
    assert_int_equal(r.batches, 4); /* 3 + 3 + 3 + 1 */
    for (size_t i = 0; i < r.count; i++) {
        agora_value *n = agora_object_getz(r.records[i], "n");
        assert_non_null(n);
        assert_int_equal(n->u.integer, (int64_t)i + 1);
    }

    result_free(&r);
    agora_source_free(source);
}

/* 100,000 lines of about 45 bytes span several 1 MiB reads. */
static void sources_jsonl_many_chunks(void **state)
{
    fixture *f = *state;
    const char *path = write_numbered_jsonl(f, "many.jsonl", 100000);
    agora_source *source = create(&agora_source_jsonl_type, options(f, path,
                                                                    NULL));
    result r;

    read_all(f, source, 1024, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 100000);
    assert_int_equal(r.bad_count, 0);
    for (size_t i = 0; i < r.count; i++) {
        agora_value *n = agora_object_getz(r.records[i], "n");
        assert_non_null(n);
        assert_int_equal(n->u.integer, (int64_t)i + 1);
    }

    result_free(&r);
    agora_source_free(source);
}

static void sources_jsonl_resume(void **state)
{
    fixture *f = *state;
    const char *path = write_numbered_jsonl(f, "resume.jsonl", 10);
    agora_source *source = create(&agora_source_jsonl_type, options(f, path,
                                                                    NULL));
    agora_value *checkpoint;
    agora_error err;
    result first, rest;

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), 0);
    read_batches(f, source, 4, 1, &first);
    assert_int_equal(first.count, 4);
    checkpoint = source->checkpoint(source->state, f->arena);
    assert_json(f, checkpoint, "{\"line_number\":4}");
    source->close(source->state);
    agora_source_free(source);

    source = create(&agora_source_jsonl_type, options(f, path, NULL));
    read_all(f, source, 100, checkpoint, &rest);
    assert_int_equal(rest.rc, 0);
    assert_int_equal(rest.count, 6);
    assert_json(f, rest.records[0],
                "{\"n\":5,\"pad\":\"abcdefghijklmnopqrstuvwxyz\"}");
    assert_json(f, source->checkpoint(source->state, f->arena),
                "{\"line_number\":10}");

    result_free(&first);
    result_free(&rest);
    agora_source_free(source);
}

/* A checkpoint applies to the next open only; a later open starts over. */
static void sources_jsonl_reopen(void **state)
{
    fixture *f = *state;
    const char *path = write_numbered_jsonl(f, "again.jsonl", 5);
    agora_source *source = create(&agora_source_jsonl_type, options(f, path,
                                                                    NULL));
    agora_value *checkpoint =
        agora_json_parse(f->arena, "{\"line_number\":3}", 17, NULL, NULL);
    result first, second;

    read_all(f, source, 100, checkpoint, &first);
    assert_int_equal(first.count, 2);
    read_all(f, source, 100, NULL, &second);
    assert_int_equal(second.count, 5);
    assert_json(f, source->checkpoint(source->state, f->arena),
                "{\"line_number\":5}");

    result_free(&first);
    result_free(&second);
    agora_source_free(source);
}

static void sources_jsonl_bad_checkpoint(void **state)
{
    fixture *f = *state;
    const char *path = write_numbered_jsonl(f, "cp.jsonl", 1);
    agora_source *source = create(&agora_source_jsonl_type, options(f, path,
                                                                    NULL));
    agora_value *checkpoint =
        agora_json_parse(f->arena, "{\"line_number\":-1}", 18, NULL, NULL);
    agora_error err;

    agora_error_clear(&err);
    assert_int_equal(source->prepare_resume(source->state, checkpoint, &err),
                     AGORA_EINVAL);
    assert_non_null(strstr(err.message, "line_number"));
    agora_source_free(source);
}

static void sources_jsonl_missing_file(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX];
    char expected[PATH_MAX + 64];
    agora_source *source;
    agora_error err;

    snprintf(path, sizeof(path), "%s/absent.jsonl", f->dir);
    snprintf(expected, sizeof(expected),
             "cannot open source file '%s': No such file or directory", path);
    source = create(&agora_source_jsonl_type, options(f, path, NULL));

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), AGORA_EIO);
    assert_string_equal(err.message, expected);
    source->close(source->state); /* safe after a failed open */
    agora_source_free(source);
}

static void sources_jsonl_empty_file(void **state)
{
    fixture *f = *state;
    const char *path = write_text(f, "empty.jsonl", "");
    agora_source *source = create(&agora_source_jsonl_type, options(f, path,
                                                                    NULL));
    result r;

    read_all(f, source, 10, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.bad_count, 0);
    result_free(&r);
    agora_source_free(source);
}

/* An absolute path ignores base_dir. */
static void sources_absolute_path(void **state)
{
    fixture *f = *state;
    agora_component_context ctx = {.base_dir = "/nonexistent",
                                   .pipeline_id = "test",
                                   .instance_name = "jsonl"};
    char path[PATH_MAX];
    agora_source *source;
    agora_error err;
    result r;

    write_text(f, "abs.jsonl", "{\"abs\":1}\n");
    snprintf(path, sizeof(path), "%s/abs.jsonl", f->dir);
    agora_error_clear(&err);
    source = agora_source_jsonl_type.create_source(options(f, path, NULL),
                                                   &ctx, &err);
    assert_non_null(source);
    read_all(f, source, 10, NULL, &r);
    assert_int_equal(r.count, 1);
    assert_json(f, r.records[0], "{\"abs\":1}");
    result_free(&r);
    agora_source_free(source);
}

static void sources_invalid_options(void **state)
{
    fixture *f = *state;
    agora_component_context ctx = {.base_dir = "/"};
    agora_value *empty = agora_value_object(f->arena, 0);
    agora_error err;

    agora_error_clear(&err);
    assert_null(agora_source_jsonl_type.create_source(empty, &ctx, &err));
    assert_string_equal(err.key, "path");

    agora_error_clear(&err);
    assert_null(agora_source_jsonl_type.create_source(
        options(f, "x.jsonl", "max_line_bytes", "0", NULL), &ctx, &err));
    assert_string_equal(err.key, "max_line_bytes");

    agora_error_clear(&err);
    assert_null(agora_source_csv_type.create_source(
        options(f, "x.csv", "delimiter", "\"ab\"", NULL), &ctx, &err));
    assert_string_equal(err.key, "delimiter");

    agora_error_clear(&err);
    assert_null(agora_source_csv_type.create_source(
        options(f, "x.csv", "infer_types", "\"yes\"", NULL), &ctx, &err));
    assert_string_equal(err.key, "infer_types");
}

static void sources_option_tables(void **state)
{
    const agora_component_type *types[] = {&agora_source_json_type,
                                           &agora_source_jsonl_type,
                                           &agora_source_csv_type};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(types[i]->kind, AGORA_COMPONENT_SOURCE);
        assert_non_null(types[i]->create_source);
        assert_string_equal(types[i]->options[0].key, "path");
        assert_true(types[i]->options[0].required);
    }
}

/* ---- json -------------------------------------------------------------- */

static agora_source *json_source(fixture *f, const char *name,
                                 const char *text)
{
    const char *path = write_text(f, name, text);
    return create(&agora_source_json_type, options(f, path, NULL));
}

/* Opens a json source on text and expects next_batch to fail. */
static void expect_json_failure(fixture *f, const char *text,
                                const char *message_part, size_t records)
{
    agora_source *source = json_source(f, "fail.json", text);
    agora_error err;
    result r;

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), 0);
    read_batches(f, source, 100, 0, &r);
    assert_int_equal(r.rc, AGORA_EPARSE);
    if (strstr(r.err.message, message_part) == NULL)
        fail_msg("expected '%s' in: %s", message_part, r.err.message);
    assert_int_equal(r.count, records);
    source->close(source->state);
    result_free(&r);
    agora_source_free(source);
}

static void sources_json_reads_array(void **state)
{
    fixture *f = *state;
    agora_source *source = json_source(
        f, "a.json",
        " \n[ {\"a\":1, \"s\":\"],}{[\\\"\\\\\"},\n  2 ,\"x,]\" ,[1,[2,{}]],"
        "null,true , -1.5e3\n]\n\n");
    agora_value *checkpoint;
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 7);
    assert_int_equal(r.bad_count, 0);
    assert_json(f, r.records[0], "{\"a\":1,\"s\":\"],}{[\\\"\\\\\"}");
    assert_json(f, r.records[1], "2");
    assert_json(f, r.records[2], "\"x,]\"");
    assert_json(f, r.records[3], "[1,[2,{}]]");
    assert_json(f, r.records[4], "null");
    assert_json(f, r.records[5], "true");
    assert_json(f, r.records[6], "-1500.0");
    checkpoint = source->checkpoint(source->state, f->arena);
    assert_json(f, checkpoint, "{\"record_number\":7}");
    assert_string_equal(source->name, "json");

    result_free(&r);
    agora_source_free(source);
}

static void sources_json_empty_inputs(void **state)
{
    fixture *f = *state;
    const char *inputs[] = {"", "  \n ", "[]", " [ \n ] \n"};

    for (size_t i = 0; i < 4; i++) {
        agora_source *source = json_source(f, "empty.json", inputs[i]);
        result r;

        read_all(f, source, 10, NULL, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.count, 0);
        assert_int_equal(r.bad_count, 0);
        result_free(&r);
        agora_source_free(source);
    }
}

static void sources_json_not_array(void **state)
{
    fixture *f = *state;
    agora_source *source = json_source(f, "obj.json", "\n  {\"a\":1}");
    agora_error err;

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), AGORA_EPARSE);
    assert_non_null(strstr(err.message, "obj.json:2:3:"));
    assert_non_null(strstr(err.message, "not an array"));
    source->close(source->state);
    agora_source_free(source);
}

static void sources_json_structure_errors(void **state)
{
    fixture *f = *state;

    /* The second '{' is at line 2, column 9. */
    expect_json_failure(f, "[\n{\"a\":1} {\"b\":2}]", ":2:9:", 0);
    expect_json_failure(f, "[{\"a\":1},", "end of file", 0);
    expect_json_failure(f, "[{\"a\":1}", "end of file", 0);
    expect_json_failure(f, "[1,,2]", ":1:4:", 0);
    expect_json_failure(f, "[1,]", ":1:4:", 0);
    expect_json_failure(f, "[{\"a\":[1}]", "expected ']' but found '}'", 0);
    expect_json_failure(f, "[1] x", "after the closing", 0);
    expect_json_failure(f, "[}]", ":1:2:", 0);
}

static void sources_json_bad_element(void **state)
{
    fixture *f = *state;
    agora_source *source =
        json_source(f, "bad.json", "[{\"a\":1},\n tru, {\"b\":[1 2]}, 4]");
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.bad_count, 2);
    assert_int_equal(r.bad[0].raw_len, 3);
    assert_memory_equal(r.bad[0].raw, "tru", 3);
    /* "tru" starts at line 2, column 2; the parser fails on its first byte. */
    assert_true(starts_with(r.bad[0].error,
                            "bad.json:2:2: invalid JSON in element 2: "));
    assert_int_equal(r.bad[1].raw_len, strlen("{\"b\":[1 2]}"));
    /* The element starts at column 7 and its 9th byte, the '2', is wrong. */
    assert_true(starts_with(r.bad[1].error,
                            "bad.json:2:15: invalid JSON in element 3: "));
    assert_json(f, r.records[1], "4");
    assert_json(f, source->checkpoint(source->state, f->arena),
                "{\"record_number\":4}");

    result_free(&r);
    agora_source_free(source);
}

static void sources_json_oversized_element(void **state)
{
    fixture *f = *state;
    const char *path = write_text(f, "big.json",
                                  "[{\"a\":\"0123456789012345678901234\"},"
                                  "{\"b\":1}]");
    agora_source *source = create(
        &agora_source_json_type,
        options(f, path, "max_element_bytes", "20", NULL));
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.bad_count, 1);
    assert_non_null(strstr(r.bad[0].error, "max_element_bytes"));
    assert_json(f, r.records[0], "{\"b\":1}");

    result_free(&r);
    agora_source_free(source);
}

/* Writes an array of `count` small objects, one per line, numbered from 1. */
static const char *write_array(fixture *f, const char *name, size_t count)
{
    agora_buf text;
    const char *path;

    agora_buf_init(&text);
    assert_int_equal(agora_buf_appendz(&text, "[\n"), 0);
    for (size_t i = 1; i <= count; i++)
        assert_int_equal(agora_buf_printf(&text,
                                          "%s{\"n\":%zu,\"s\":\"a\\\"]}[\"}",
                                          i > 1 ? ",\n" : "", i),
                         0);
    assert_int_equal(agora_buf_appendz(&text, "\n]\n"), 0);
    path = write_file(f, name, text.data, text.len);
    agora_buf_free(&text);
    return path;
}

/* An array of about 19 MB is read without the buffer growing past one chunk. */
static void sources_json_streams_large_file(void **state)
{
    fixture *f = *state;
    size_t count = 700000; /* about 30 bytes each */
    const char *path = write_array(f, "large.json", count);
    agora_source *source = create(&agora_source_json_type,
                                  options(f, path, NULL));
    agora_batch batch = {.arena = agora_arena_new(0), .cap = 1000};
    agora_error err;
    size_t total = 0;
    int n;

    batch.records = calloc(batch.cap, sizeof(*batch.records));
    assert_non_null(batch.records);
    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), 0);
    do {
        agora_arena_reset(batch.arena);
        batch.count = 0;
        n = source->next_batch(source->state, &batch, &err);
        assert_true(n >= 0);
        for (size_t i = 0; i < batch.count; i++) {
            agora_value *v = agora_object_getz(batch.records[i], "n");
            assert_non_null(v);
            assert_int_equal(v->u.integer, (int64_t)(total + i + 1));
        }
        total += batch.count;
        assert_int_equal(batch.bad_count, 0);
        assert_int_equal(srcutil_json_buffer_capacity(source),
                         SRCUTIL_CHUNK_BYTES);
    } while (n > 0);
    assert_int_equal(total, count);

    source->close(source->state);
    agora_source_free(source);
    agora_arena_free(batch.arena);
    free(batch.records);
    free(batch.bad);
}

/* One element larger than the read buffer makes it grow to hold it. */
static void sources_json_element_beyond_buffer(void **state)
{
    fixture *f = *state;
    size_t string_len = 3 * SRCUTIL_CHUNK_BYTES;
    char *text = malloc(string_len + 64);
    const char *path;
    agora_source *source;
    agora_value *s;
    agora_error err;
    result r;

    assert_non_null(text);
    strcpy(text, "[{\"s\":\"");
    memset(text + 7, 'q', string_len);
    strcpy(text + 7 + string_len, "\"},{\"n\":2}]");
    path = write_text(f, "wide.json", text);
    source = create(&agora_source_json_type, options(f, path, NULL));

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), 0);
    read_batches(f, source, 10, 0, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 2);
    s = agora_object_getz(r.records[0], "s");
    assert_non_null(s);
    assert_int_equal(s->u.string.len, string_len);
    assert_true(srcutil_json_buffer_capacity(source) > string_len);
    assert_json(f, r.records[1], "{\"n\":2}");

    source->close(source->state);
    result_free(&r);
    agora_source_free(source);
    free(text);
}

/* An element over max_element_bytes is dropped as it streams past. */
static void sources_json_oversized_beyond_buffer(void **state)
{
    fixture *f = *state;
    size_t string_len = 5 * SRCUTIL_CHUNK_BYTES;
    char *text = malloc(string_len + 64);
    const char *path;
    agora_source *source;
    agora_error err;
    result r;

    assert_non_null(text);
    strcpy(text, "[{\"s\":\"");
    memset(text + 7, 'q', string_len);
    strcpy(text + 7 + string_len, "\"},{\"n\":2}]");
    path = write_text(f, "wide.json", text);
    source = create(&agora_source_json_type,
                    options(f, path, "max_element_bytes", "1048576", NULL));

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), 0);
    read_batches(f, source, 10, 0, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.bad_count, 1);
    assert_int_equal(r.bad[0].raw_len, SRCUTIL_RAW_PREFIX_BYTES);
    assert_memory_equal(r.bad[0].raw, "{\"s\":\"qqq", 9);
    assert_true(srcutil_json_buffer_capacity(source) <=
                2 * SRCUTIL_CHUNK_BYTES);
    assert_json(f, r.records[0], "{\"n\":2}");

    source->close(source->state);
    result_free(&r);
    agora_source_free(source);
    free(text);
}

static void sources_json_resume(void **state)
{
    fixture *f = *state;
    const char *path = write_array(f, "resume.json", 10);
    agora_source *source = create(&agora_source_json_type,
                                  options(f, path, NULL));
    agora_value *checkpoint;
    agora_error err;
    result first, rest;
    agora_value *n;

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), 0);
    read_batches(f, source, 3, 2, &first);
    assert_int_equal(first.count, 6);
    checkpoint = source->checkpoint(source->state, f->arena);
    assert_json(f, checkpoint, "{\"record_number\":6}");
    source->close(source->state);
    agora_source_free(source);

    source = create(&agora_source_json_type, options(f, path, NULL));
    read_all(f, source, 100, checkpoint, &rest);
    assert_int_equal(rest.rc, 0);
    assert_int_equal(rest.count, 4);
    n = agora_object_getz(rest.records[0], "n");
    assert_non_null(n);
    assert_int_equal(n->u.integer, 7);

    result_free(&first);
    result_free(&rest);
    agora_source_free(source);
}

/* Compares every record of a shared JSON array with jq's compact output. */
static void sources_json_matches_jq(void **state)
{
    fixture *f = *state;
    const char *names[] = {"movies.json", "flights-200k.json"};

    for (size_t k = 0; k < 2; k++) {
        const char *path = shared_file(names[k]);
        char command[PATH_MAX + 64];
        agora_source *source;
        result r;
        FILE *p;
        char *line = NULL;
        size_t line_cap = 0, i = 0;
        ssize_t len;

        if (path == NULL) {
            printf("skipped: AGORA_SHARED_DIR/data/%s is not readable\n",
                   names[k]);
            continue;
        }
        source = create(&agora_source_json_type, options(f, path, NULL));
        read_all(f, source, 1024, NULL, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.bad_count, 0);

        snprintf(command, sizeof(command), "jq -c '.[]' '%s'", path);
        p = popen(command, "r");
        assert_non_null(p);
        while ((len = getline(&line, &line_cap, p)) > 0) {
            assert_true(i < r.count);
            assert_json(f, r.records[i], line);
            i++;
        }
        assert_int_equal(pclose(p), 0);
        assert_int_equal(i, r.count);

        free(line);
        result_free(&r);
        agora_source_free(source);
    }
}

/* ---- csv --------------------------------------------------------------- */

static agora_source *csv_source(fixture *f, const char *name,
                                const char *text, ...)
{
    const char *path = write_text(f, name, text);
    agora_value *opts = options(f, path, NULL);
    va_list ap;
    const char *key;

    va_start(ap, text);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *json = va_arg(ap, const char *);
        agora_object_push(f->arena, opts, key, strlen(key),
                          agora_json_parse(f->arena, json, strlen(json), NULL,
                                           NULL));
    }
    va_end(ap);
    return create(&agora_source_csv_type, opts);
}

static void sources_csv_quoting(void **state)
{
    fixture *f = *state;
    agora_source *source = csv_source(
        f, "q.csv",
        "name,quote,note\r\n"
        "plain, spaced ,x\r\n"
        "\"a,b\",\"he said \"\"hi\"\"\",\"line1\r\nline2\"\r\n"
        "\r\n"
        "\"\",,\"\"\"\"\r\n"
        "last,row,\"no final newline\"",
        NULL);
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.bad_count, 0);
    assert_int_equal(r.count, 4);
    assert_json(f, r.records[0],
                "{\"name\":\"plain\",\"quote\":\" spaced \",\"note\":\"x\"}");
    assert_json(f, r.records[1],
                "{\"name\":\"a,b\",\"quote\":\"he said \\\"hi\\\"\","
                "\"note\":\"line1\\r\\nline2\"}");
    assert_json(f, r.records[2],
                "{\"name\":\"\",\"quote\":\"\",\"note\":\"\\\"\"}");
    assert_json(f, r.records[3],
                "{\"name\":\"last\",\"quote\":\"row\","
                "\"note\":\"no final newline\"}");
    assert_json(f, source->checkpoint(source->state, f->arena),
                "{\"row_number\":4}");
    assert_string_equal(source->name, "csv");

    result_free(&r);
    agora_source_free(source);
}

static void sources_csv_field_count(void **state)
{
    fixture *f = *state;
    agora_source *source = csv_source(f, "count.csv",
                                      "a,b,c\n"
                                      "1,2,3\n"
                                      "4,\"x,y\"\n"
                                      "5,6,7,8\n"
                                      "9,10,11\n",
                                      NULL);
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.bad_count, 2);
    assert_int_equal(r.bad[0].raw_len, strlen("4,\"x,y\""));
    assert_memory_equal(r.bad[0].raw, "4,\"x,y\"", r.bad[0].raw_len);
    assert_string_equal(r.bad[0].error,
                        "count.csv: row 3: expected 3 fields as in the "
                        "header, found 2");
    assert_int_equal(r.bad[1].raw_len, strlen("5,6,7,8"));
    assert_memory_equal(r.bad[1].raw, "5,6,7,8", r.bad[1].raw_len);
    assert_json(f, r.records[1], "{\"a\":\"9\",\"b\":\"10\",\"c\":\"11\"}");
    assert_json(f, source->checkpoint(source->state, f->arena),
                "{\"row_number\":4}");

    result_free(&r);
    agora_source_free(source);
}

static void expect_csv_open_failure(fixture *f, const char *text,
                                    const char *message_part)
{
    agora_source *source = csv_source(f, "head.csv", text, NULL);
    agora_error err;

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), AGORA_EPARSE);
    if (strstr(err.message, message_part) == NULL)
        fail_msg("expected '%s' in: %s", message_part, err.message);
    source->close(source->state);
    agora_source_free(source);
}

static void sources_csv_bad_header(void **state)
{
    fixture *f = *state;

    expect_csv_open_failure(f, "a,b,a\n1,2,3\n", "duplicate column name 'a'");
    expect_csv_open_failure(f, "a,,c\n1,2,3\n", "column 2");
    expect_csv_open_failure(f, "a,,c\n1,2,3\n", "empty name");
    expect_csv_open_failure(f, "a,\xff\n1,2\n", "UTF-8");
}

static void sources_csv_unterminated_quote(void **state)
{
    fixture *f = *state;
    agora_source *source =
        csv_source(f, "open.csv", "a,b\n1,2\n3,\"never closed\n4,5\n", NULL);
    agora_error err;
    result r;

    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), 0);
    read_batches(f, source, 100, 0, &r);
    assert_int_equal(r.rc, AGORA_EPARSE);
    assert_non_null(strstr(r.err.message, "row 3"));
    assert_non_null(strstr(r.err.message, "closing quote"));
    source->close(source->state);
    result_free(&r);
    agora_source_free(source);
}

static void sources_csv_infer_types(void **state)
{
    fixture *f = *state;
    agora_source *source = csv_source(
        f, "types.csv",
        "i,neg,d,e,t,f,empty,zip,word,big,dot\n"
        "42,-7,3.25,1e3,true,false,,007,abc,99999999999999999999,.5\n",
        "infer_types", "true", NULL);
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 1);
    /* 99999999999999999999 is past INT64_MAX, so it stays a string. */
    assert_json(f, r.records[0],
                "{\"i\":42,\"neg\":-7,\"d\":3.25,\"e\":1000.0,\"t\":true,"
                "\"f\":false,\"empty\":null,\"zip\":\"007\",\"word\":\"abc\","
                "\"big\":\"99999999999999999999\",\"dot\":0.5}");
    assert_int_equal(agora_object_getz(r.records[0], "i")->type, AGORA_INT);
    assert_int_equal(agora_object_getz(r.records[0], "d")->type,
                     AGORA_DOUBLE);

    result_free(&r);
    agora_source_free(source);
}

static void sources_csv_empty_as_null(void **state)
{
    fixture *f = *state;
    agora_source *source = csv_source(f, "null.csv", "a,b\n,1\n", "empty_as_null",
                                      "true", NULL);
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.count, 1);
    assert_json(f, r.records[0], "{\"a\":null,\"b\":\"1\"}");
    result_free(&r);
    agora_source_free(source);
}

static void sources_csv_delimiter(void **state)
{
    fixture *f = *state;
    agora_source *source = csv_source(f, "semi.csv", "a;b\n\"1;2\";3,4\n",
                                      "delimiter", "\";\"", NULL);
    result r;

    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.count, 1);
    assert_json(f, r.records[0], "{\"a\":\"1;2\",\"b\":\"3,4\"}");
    result_free(&r);
    agora_source_free(source);

    source = csv_source(f, "tab.tsv", "a\tb\nx y\tz\n", "delimiter", "\"\\t\"",
                        NULL);
    read_all(f, source, 100, NULL, &r);
    assert_int_equal(r.count, 1);
    assert_json(f, r.records[0], "{\"a\":\"x y\",\"b\":\"z\"}");
    result_free(&r);
    agora_source_free(source);
}

static void sources_csv_empty_inputs(void **state)
{
    fixture *f = *state;
    const char *inputs[] = {"", "a,b,c\n", "a,b,c", "\xEF\xBB\xBF"};

    for (size_t i = 0; i < 4; i++) {
        agora_source *source = csv_source(f, "empty.csv", inputs[i], NULL);
        result r;

        read_all(f, source, 10, NULL, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.count, 0);
        assert_int_equal(r.bad_count, 0);
        result_free(&r);
        agora_source_free(source);
    }
}

static void sources_csv_byte_order_mark(void **state)
{
    fixture *f = *state;
    agora_source *source =
        csv_source(f, "bom.csv", "\xEF\xBB\xBFid,v\n1,2\n", NULL);
    result r;

    read_all(f, source, 10, NULL, &r);
    assert_int_equal(r.count, 1);
    assert_json(f, r.records[0], "{\"id\":\"1\",\"v\":\"2\"}");
    result_free(&r);
    agora_source_free(source);
}

static void sources_csv_batches_and_resume(void **state)
{
    fixture *f = *state;
    agora_buf text;
    const char *path;
    agora_source *source;
    agora_value *checkpoint;
    agora_error err;
    result first, rest;

    agora_buf_init(&text);
    assert_int_equal(agora_buf_appendz(&text, "n,text\n"), 0);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(agora_buf_printf(&text, "%d,\"row\n%d\"\n", i, i), 0);
    path = write_file(f, "rows.csv", text.data, text.len);
    agora_buf_free(&text);

    source = create(&agora_source_csv_type, options(f, path, NULL));
    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), 0);
    read_batches(f, source, 3, 2, &first);
    assert_int_equal(first.count, 6);
    assert_int_equal(first.batches, 2);
    assert_json(f, first.records[5], "{\"n\":\"6\",\"text\":\"row\\n6\"}");
    checkpoint = source->checkpoint(source->state, f->arena);
    assert_json(f, checkpoint, "{\"row_number\":6}");
    source->close(source->state);
    agora_source_free(source);

    source = create(&agora_source_csv_type, options(f, path, NULL));
    read_all(f, source, 3, checkpoint, &rest);
    assert_int_equal(rest.rc, 0);
    assert_int_equal(rest.count, 4);
    assert_json(f, rest.records[0], "{\"n\":\"7\",\"text\":\"row\\n7\"}");
    assert_json(f, rest.records[3], "{\"n\":\"10\",\"text\":\"row\\n10\"}");

    result_free(&first);
    result_free(&rest);
    agora_source_free(source);
}

static void sources_csv_missing_file(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX];
    agora_source *source;
    agora_error err;

    snprintf(path, sizeof(path), "%s/absent.csv", f->dir);
    source = create(&agora_source_csv_type, options(f, path, NULL));
    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), AGORA_EIO);
    assert_true(starts_with(err.message, "cannot open source file '"));
    assert_non_null(strstr(err.message, "No such file or directory"));
    source->close(source->state);
    agora_source_free(source);
}

/*
 * Compares every row of the shared CSV files with Python's csv.DictReader,
 * which also reads RFC 4180 and keeps header order.
 */
static void sources_csv_matches_python(void **state)
{
    fixture *f = *state;
    const char *names[] = {"birdstrikes.csv", "airports.csv",
                           "seattle-weather.csv"};

    for (size_t k = 0; k < 3; k++) {
        const char *path = shared_file(names[k]);
        char command[PATH_MAX + 256];
        unsigned long long rows = 0;
        agora_source *source;
        result r;
        FILE *p;
        char *line = NULL;
        size_t line_cap = 0, i = 0;
        ssize_t len;

        if (path == NULL) {
            printf("skipped: AGORA_SHARED_DIR/data/%s is not readable\n",
                   names[k]);
            continue;
        }
        source = create(&agora_source_csv_type, options(f, path, NULL));
        read_all(f, source, 1000, NULL, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.bad_count, 0);

        snprintf(command, sizeof(command),
                 "/usr/bin/python3 -c 'import csv,sys; "
                 "print(sum(1 for _ in csv.DictReader(open(sys.argv[1], "
                 "newline=\"\"))))' '%s'",
                 path);
        assert_true(command_number(command, &rows));
        assert_int_equal(r.count, rows);

        snprintf(command, sizeof(command),
                 "/usr/bin/python3 -c 'import csv,json,sys\n"
                 "for row in csv.DictReader(open(sys.argv[1], newline=\"\")):"
                 " print(json.dumps(row))' '%s'",
                 path);
        p = popen(command, "r");
        assert_non_null(p);
        while ((len = getline(&line, &line_cap, p)) > 0) {
            assert_true(i < r.count);
            assert_json(f, r.records[i], line);
            i++;
        }
        assert_int_equal(pclose(p), 0);
        assert_int_equal(i, r.count);

        free(line);
        result_free(&r);
        agora_source_free(source);
    }
}

/*
 * Compares the rows the csv source read from dir/name with Python's
 * csv.DictReader on the same file.
 */
static void assert_rows_match_python(fixture *f, const char *name,
                                     const result *r)
{
    char command[PATH_MAX + 256];
    char *line = NULL;
    size_t line_cap = 0, i = 0;
    ssize_t len;
    FILE *p;

    snprintf(command, sizeof(command),
             "/usr/bin/python3 -c 'import csv,json,sys\n"
             "for row in csv.DictReader(open(sys.argv[1], newline=\"\")):"
             " print(json.dumps(row))' '%s/%s'",
             f->dir, name);
    p = popen(command, "r");
    assert_non_null(p);
    while ((len = getline(&line, &line_cap, p)) > 0) {
        assert_true(i < r->count);
        assert_json(f, r->records[i], line);
        i++;
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(i, r->count);
    free(line);
}

/*
 * Lines without quotes are split by the source itself and the others by
 * libcsv. A file that mixes both, across several 1 MiB read chunks, must
 * read exactly as Python's csv module reads it. It has quoted delimiters,
 * quotes and line breaks inside fields, CRLF and lone CR line ends, blank
 * lines, empty fields and long rows.
 */
static void sources_csv_mixed_lines_match_python(void **state)
{
    fixture *f = *state;
    agora_buf text;
    agora_source *source;
    result r;
    unsigned long seed = 12345;

    agora_buf_init(&text);
    assert_int_equal(agora_buf_appendz(&text, "id,text,note\n"), 0);
    for (int i = 0; i < 40000; i++) {
        seed = seed * 1103515245UL + 12345UL;
        switch ((seed >> 16) % 9) {
        case 0:
            agora_buf_printf(&text, "%d,plain words,x\n", i);
            break;
        case 1:
            agora_buf_printf(&text, "%d,\"quoted, with comma\",y\n", i);
            break;
        case 2:
            agora_buf_printf(&text, "%d,\"two\nlines\",\"say \"\"hi\"\"\"\n", i);
            break;
        case 3:
            agora_buf_printf(&text, "%d,crlf end,z\r\n", i);
            break;
        case 4:
            agora_buf_printf(&text, "%d,lone cr end,w\r", i);
            break;
        case 5:
            agora_buf_printf(&text, "\n%d,,\n\n", i);
            break;
        case 6:
            agora_buf_printf(&text, "%d, spaced ,\" padded \"\n", i);
            break;
        case 7:
            agora_buf_printf(&text, "%d,caf\xc3\xa9 \xe2\x82\xac,\n", i);
            break;
        default:
            agora_buf_printf(&text, "%d,", i);
            for (int k = 0; k < 2000; k++)
                agora_buf_appendz(&text, "long ");
            agora_buf_appendz(&text, ",end\n");
            break;
        }
    }
    assert_true(text.len > 3 * (1u << 20)); /* several read chunks */
    write_file(f, "mixed.csv", text.data, text.len);
    agora_buf_free(&text);

    source = create(&agora_source_csv_type, options(f, "mixed.csv", NULL));
    read_all(f, source, 1000, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.bad_count, 0);
    assert_int_equal(r.count, 40000);
    assert_rows_match_python(f, "mixed.csv", &r);
    result_free(&r);
    agora_source_free(source);
}

/*
 * A line longer than max_row_bytes becomes a bad record that contains the
 * line, and the rows after it are read as usual. A long last line without a
 * line break does the same. A header longer than the limit fails open.
 */
static void sources_csv_long_row_becomes_bad(void **state)
{
    fixture *f = *state;
    char long_line[64];
    char data[256];
    agora_source *source;
    agora_error err;
    result r;

    memset(long_line, 'x', 60);
    long_line[60] = '\0';
    snprintf(data, sizeof(data), "a,b\n1,2\n%s,y\n3,4\n%s,z", long_line,
             long_line);
    write_text(f, "long.csv", data);
    source = create(&agora_source_csv_type,
                    options(f, "long.csv", "max_row_bytes", "50", NULL));
    read_all(f, source, 1000, NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 2);
    assert_json(f, r.records[0], "{\"a\":\"1\",\"b\":\"2\"}");
    assert_json(f, r.records[1], "{\"a\":\"3\",\"b\":\"4\"}");
    assert_int_equal(r.bad_count, 2);
    /* The 60 x's, the comma and the last field: 62 bytes. */
    assert_int_equal(r.bad[0].raw_len, 62);
    assert_memory_equal(r.bad[0].raw, long_line, 60);
    assert_non_null(strstr(r.bad[0].error, "long.csv: row 3: line longer "
                                            "than max_row_bytes (50 bytes)"));
    assert_int_equal(r.bad[1].raw_len, 62);
    assert_non_null(strstr(r.bad[1].error, "row 5"));
    result_free(&r);
    agora_source_free(source);

    snprintf(data, sizeof(data), "%s,b\n1,2\n", long_line);
    write_text(f, "long_header.csv", data);
    source = create(&agora_source_csv_type,
                    options(f, "long_header.csv", "max_row_bytes", "50", NULL));
    agora_error_clear(&err);
    assert_int_equal(source->open(source->state, &err), AGORA_EPARSE);
    assert_non_null(strstr(err.message, "header line is longer than "
                                        "max_row_bytes (50 bytes)"));
    source->close(source->state);
    agora_source_free(source);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sources_jsonl_reads_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_bad_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_long_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_line_beyond_buffer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_batch_boundaries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_many_chunks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_bad_checkpoint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_missing_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_jsonl_empty_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_absolute_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_invalid_options, setup,
                                        teardown),
        cmocka_unit_test(sources_option_tables),
        cmocka_unit_test_setup_teardown(sources_json_reads_array, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_empty_inputs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_not_array, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_structure_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_bad_element, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_oversized_element, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_streams_large_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_element_beyond_buffer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sources_json_oversized_beyond_buffer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sources_json_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_matches_jq, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_quoting, setup, teardown),
        cmocka_unit_test_setup_teardown(sources_csv_field_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_bad_header, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_unterminated_quote, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_infer_types, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_empty_as_null, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_delimiter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_empty_inputs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_byte_order_mark, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_batches_and_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_missing_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_matches_python, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_csv_mixed_lines_match_python,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sources_csv_long_row_becomes_bad,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sources_json_limits_options, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sources_json_depth_option_capped,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
