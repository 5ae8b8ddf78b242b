/*
 * Tests of the checkpoint store (a real SQLite file, read back with the
 * sqlite3 tool), of the `checkpoint` pipeline key in pipelines.toml, and of
 * how the built-in file and SQLite sinks keep their output when a run
 * resumes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/checkpoint.h"
#include "agora/config.h"
#include "agora/pipeline.h"
#include "agora/value.h"

/* ---- Fixture and helpers -------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    char store_path[128];
    agora_arena *arena;
    agora_error err;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/agora-test-checkpoint-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->store_path, sizeof(fx->store_path), "%s/sub/ckpt.db", fx->dir);
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

/* Runs `sqlite3 FILE SQL` and returns its trimmed output (static buffer). */
static const char *sqlite_query(const char *path, const char *sql)
{
    static char out[4096];
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"%s\"", path, sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    pclose(p);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return out;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Returns the whole file as a heap string (the caller frees it). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static agora_value *parse(fixture *fx, const char *json)
{
    agora_value *v = agora_json_parse(fx->arena, json, strlen(json), NULL,
                                      &fx->err);
    assert_non_null(v);
    return v;
}

static agora_checkpoint_store *open_store(fixture *fx)
{
    agora_checkpoint_store *store =
        agora_checkpoint_store_open(fx->store_path, true, &fx->err);
    assert_non_null(store);
    return store;
}

/* Saves {"line_number": n} for pipeline_id as run "run-1" of a jsonl source. */
static void save_line(fixture *fx, agora_checkpoint_store *store,
                      const char *pipeline_id, int n)
{
    char json[64];

    snprintf(json, sizeof(json), "{\"line_number\":%d}", n);
    char *doc = agora_checkpoint_document_new(pipeline_id, "run-1", "jsonl",
                                              parse(fx, json));
    assert_non_null(doc);
    assert_int_equal(agora_checkpoint_save(store, pipeline_id, doc, &fx->err), 0);
    free(doc);
}

/* ---- Store ---------------------------------------------------------------- */

static void checkpoint_save_then_load(void **state)
{
    fixture *fx = *state;
    agora_checkpoint_store *store = open_store(fx);
    char *json = NULL;

    save_line(fx, store, "movies", 1200);
    assert_int_equal(agora_checkpoint_load(store, "movies", &json, &fx->err), 1);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"value\":{\"line_number\":1200}"));
    free(json);
    agora_checkpoint_store_free(store);
}

static void checkpoint_document_fields(void **state)
{
    fixture *fx = *state;
    agora_checkpoint_store *store = open_store(fx);

    save_line(fx, store, "movies", 7);
    agora_checkpoint_store_free(store);

    const char *row = sqlite_query(
        fx->store_path,
        "SELECT key, json_extract(value, '$.pipeline_id'), "
        "json_extract(value, '$.run_id'), json_extract(value, '$.source'), "
        "json_extract(value, '$.value.line_number'), expires_at IS NULL "
        "FROM state_store");
    assert_string_equal(row, "checkpoint:movies|movies|run-1|jsonl|7|1");
    /* recorded_at is UTC ISO 8601, "YYYY-MM-DDTHH:MM:SS.ffffff+00:00". */
    const char *when = sqlite_query(
        fx->store_path,
        "SELECT json_extract(value, '$.recorded_at') GLOB "
        "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:"
        "[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00' FROM state_store");
    assert_string_equal(when, "1");
}

static void checkpoint_store_uses_wal(void **state)
{
    fixture *fx = *state;
    agora_checkpoint_store *store = open_store(fx);

    agora_checkpoint_store_free(store);
    assert_string_equal(sqlite_query(fx->store_path, "PRAGMA journal_mode"),
                        "wal");
}

static void checkpoint_load_missing_is_zero(void **state)
{
    fixture *fx = *state;
    agora_checkpoint_store *store = open_store(fx);
    char *json = (char *)"untouched";

    assert_int_equal(agora_checkpoint_load(store, "movies", &json, &fx->err), 0);
    assert_null(json);
    agora_checkpoint_store_free(store);
}

static void checkpoint_save_replaces(void **state)
{
    fixture *fx = *state;
    agora_checkpoint_store *store = open_store(fx);

    save_line(fx, store, "movies", 10);
    save_line(fx, store, "movies", 20);
    agora_checkpoint_store_free(store);
    assert_string_equal(sqlite_query(fx->store_path,
                                     "SELECT count(*), json_extract(value, "
                                     "'$.value.line_number') FROM state_store"),
                        "1|20");
}

static void checkpoint_pipelines_are_separate(void **state)
{
    fixture *fx = *state;
    agora_checkpoint_store *store = open_store(fx);
    char *json = NULL;

    save_line(fx, store, "a", 1);
    save_line(fx, store, "b", 2);
    assert_int_equal(agora_checkpoint_reset(store, "a", &fx->err), 1);
    assert_int_equal(agora_checkpoint_load(store, "a", &json, &fx->err), 0);
    assert_int_equal(agora_checkpoint_load(store, "b", &json, &fx->err), 1);
    assert_non_null(strstr(json, "\"line_number\":2"));
    free(json);
    agora_checkpoint_store_free(store);
}

static void checkpoint_reset_reports_absence(void **state)
{
    fixture *fx = *state;
    agora_checkpoint_store *store = open_store(fx);

    save_line(fx, store, "movies", 3);
    assert_int_equal(agora_checkpoint_reset(store, "movies", &fx->err), 1);
    assert_int_equal(agora_checkpoint_reset(store, "movies", &fx->err), 0);
    agora_checkpoint_store_free(store);
    assert_string_equal(sqlite_query(fx->store_path,
                                     "SELECT count(*) FROM state_store"),
                        "0");
}

static void checkpoint_expired_row_is_absent(void **state)
{
    fixture *fx = *state;
    agora_checkpoint_store *store = open_store(fx);
    char *json = NULL;

    agora_checkpoint_store_free(store);
    sqlite_query(fx->store_path,
                 "INSERT INTO state_store VALUES ('checkpoint:old', '{}', 1.0)");
    store = open_store(fx);
    assert_int_equal(agora_checkpoint_load(store, "old", &json, &fx->err), 0);
    assert_null(json);
    agora_checkpoint_store_free(store);
}

static void checkpoint_open_missing_without_create(void **state)
{
    fixture *fx = *state;

    assert_null(agora_checkpoint_store_open(fx->store_path, false, &fx->err));
    assert_int_equal(fx->err.code, AGORA_ENOTFOUND);
    assert_non_null(strstr(fx->err.message, fx->store_path));
    assert_int_equal(access(fx->store_path, F_OK), -1);
}

static void checkpoint_open_below_file_fails(void **state)
{
    fixture *fx = *state;
    char file[128], path[192];

    snprintf(file, sizeof(file), "%s/plain", fx->dir);
    write_file(file, "not a directory\n");
    snprintf(path, sizeof(path), "%s/ckpt.db", file);
    assert_null(agora_checkpoint_store_open(path, true, &fx->err));
    assert_true(fx->err.code < 0);
    assert_non_null(strstr(fx->err.message, "checkpoint store"));
    assert_non_null(strstr(fx->err.message, file));
}

static void checkpoint_open_rejects_empty_path(void **state)
{
    fixture *fx = *state;

    assert_null(agora_checkpoint_store_open("", true, &fx->err));
    assert_int_equal(fx->err.code, AGORA_EINVAL);
    assert_non_null(strstr(fx->err.message, "checkpoint.path"));
}

static void checkpoint_document_needs_value(void **state)
{
    (void)state;
    assert_null(agora_checkpoint_document_new("p", "r", "jsonl", NULL));
}

/* ---- The `checkpoint` key in pipelines.toml ------------------------------- */

static agora_config *load_toml(fixture *fx, const char *checkpoint_line)
{
    char path[128], text[1024];

    snprintf(path, sizeof(path), "%s/pipelines.toml", fx->dir);
    snprintf(text, sizeof(text),
             "format = \"agora/v1\"\n"
             "[pipelines.p]\n"
             "source = { type = \"jsonl\", path = \"in.jsonl\" }\n"
             "sinks = [{ type = \"jsonl\", path = \"out.jsonl\" }]\n"
             "%s\n",
             checkpoint_line);
    write_file(path, text);
    return agora_config_load(path, &fx->err);
}

static void checkpoint_config_path_is_resolved(void **state)
{
    fixture *fx = *state;
    char expected[160];

    agora_config *cfg = load_toml(fx, "checkpoint = { path = \"state/c.db\", every = 5 }");
    assert_non_null(cfg);
    snprintf(expected, sizeof(expected), "%s/state/c.db", fx->dir);
    assert_string_equal(agora_config_pipeline_checkpoint_path(cfg, 0), expected);
    agora_config_free(cfg);
}

static void checkpoint_config_absent_is_null(void **state)
{
    fixture *fx = *state;

    agora_config *cfg = load_toml(fx, "");
    assert_non_null(cfg);
    assert_null(agora_config_pipeline_checkpoint_path(cfg, 0));
    agora_config_free(cfg);
}

static void checkpoint_config_rejects_zero_every(void **state)
{
    fixture *fx = *state;

    assert_null(load_toml(fx, "checkpoint = { path = \"c.db\", every = 0 }"));
    assert_int_equal(fx->err.code, AGORA_ECONFIG);
    assert_non_null(strstr(fx->err.message, "pipelines.toml:5:39:"));
    assert_non_null(strstr(fx->err.message, "at least 1"));
}

static void checkpoint_config_rejects_unknown_key(void **state)
{
    fixture *fx = *state;

    assert_null(load_toml(fx, "checkpoint = { path = \"c.db\", evry = 10 }"));
    assert_non_null(strstr(fx->err.message, "pipelines.toml:5:31:"));
    assert_non_null(strstr(fx->err.message, "unknown checkpoint key 'evry'"));
}

static void checkpoint_config_rejects_wrong_type(void **state)
{
    fixture *fx = *state;

    assert_null(load_toml(fx, "checkpoint = { path = \"c.db\", every = \"10\" }"));
    assert_non_null(strstr(fx->err.message, "pipelines.toml:5:"));
    assert_non_null(strstr(fx->err.message, "every"));
}

static void checkpoint_config_needs_path(void **state)
{
    fixture *fx = *state;

    assert_null(load_toml(fx, "checkpoint = { every = 10 }"));
    assert_non_null(strstr(fx->err.message, "pipelines.toml:5:"));
    assert_non_null(strstr(fx->err.message, "checkpoint needs a 'path'"));
}

static void checkpoint_config_must_be_table(void **state)
{
    fixture *fx = *state;

    assert_null(load_toml(fx, "checkpoint = \"c.db\""));
    assert_non_null(strstr(fx->err.message, "pipelines.toml:5:"));
    assert_non_null(strstr(fx->err.message, "checkpoint"));
}

/* ---- Sinks on resume ------------------------------------------------------- */

/* Creates a built-in sink of type from JSON options. */
static agora_sink *make_sink(fixture *fx, const char *type, const char *options)
{
    const agora_component_type *t = agora_component_find(AGORA_COMPONENT_SINK, type);
    agora_component_context ctx = {.base_dir = fx->dir, .pipeline_id = "p",
                                   .instance_name = type};
    assert_non_null(t);
    agora_sink *sink = t->create_sink(parse(fx, options), &ctx, &fx->err);
    assert_non_null(sink);
    assert_non_null(sink->set_resume);
    return sink;
}

/* Opens sink (resuming or not), writes the records of json, closes it. */
static void write_through(fixture *fx, agora_sink *sink, bool resuming,
                          const char *json)
{
    agora_value *array = parse(fx, json);
    agora_record_result results[8];

    sink->set_resume(sink->state, resuming);
    assert_int_equal(sink->open(sink->state, &fx->err), 0);
    assert_int_equal(sink->write_batch(sink->state, array->u.array.items,
                                       array->u.array.len, results, fx->arena,
                                       &fx->err),
                     0);
    assert_int_equal(sink->flush(sink->state, &fx->err), 0);
    sink->close(sink->state);
}

static void checkpoint_jsonl_resume_appends(void **state)
{
    fixture *fx = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/out.jsonl", fx->dir);
    write_file(path, "{\"i\":0}\n{\"i\":1}\n");
    agora_sink *sink = make_sink(fx, "jsonl",
                                 "{\"path\": \"out.jsonl\", \"mode\": \"overwrite\"}");
    write_through(fx, sink, true, "[{\"i\":2}]");
    char *text = read_file(path);
    assert_string_equal(text, "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");
    free(text);
    agora_sink_free(sink);
}

static void checkpoint_jsonl_resume_cuts_partial_line(void **state)
{
    fixture *fx = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/out.jsonl", fx->dir);
    write_file(path, "{\"i\":0}\n{\"i\":1}\n{\"i\":2,\"na");
    agora_sink *sink = make_sink(fx, "jsonl",
                                 "{\"path\": \"out.jsonl\", \"mode\": \"overwrite\"}");
    write_through(fx, sink, true, "[{\"i\":2}]");
    char *text = read_file(path);
    assert_string_equal(text, "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");
    free(text);
    agora_sink_free(sink);
}

static void checkpoint_jsonl_partial_only_line(void **state)
{
    fixture *fx = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/out.jsonl", fx->dir);
    write_file(path, "{\"i\":0");
    agora_sink *sink = make_sink(fx, "jsonl", "{\"path\": \"out.jsonl\"}");
    write_through(fx, sink, true, "[{\"i\":0}]");
    char *text = read_file(path);
    assert_string_equal(text, "{\"i\":0}\n");
    free(text);
    agora_sink_free(sink);
}

static void checkpoint_jsonl_fresh_run_overwrites(void **state)
{
    fixture *fx = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/out.jsonl", fx->dir);
    write_file(path, "{\"i\":0}\n");
    agora_sink *sink = make_sink(fx, "jsonl", "{\"path\": \"out.jsonl\"}");
    /* A resumed open followed by a fresh one: the flag applies per open. */
    write_through(fx, sink, true, "[{\"i\":1}]");
    write_through(fx, sink, false, "[{\"i\":5}]");
    char *text = read_file(path);
    assert_string_equal(text, "{\"i\":5}\n");
    free(text);
    agora_sink_free(sink);
}

static void checkpoint_csv_resume_appends(void **state)
{
    fixture *fx = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/out.csv", fx->dir);
    write_file(path, "i,name\n0,a\n1,b\n2,\"c");
    agora_sink *sink = make_sink(fx, "csv", "{\"path\": \"out.csv\"}");
    write_through(fx, sink, true, "[{\"i\":2,\"name\":\"c\"}]");
    char *text = read_file(path);
    assert_string_equal(text, "i,name\n0,a\n1,b\n2,c\n");
    free(text);
    agora_sink_free(sink);
}

static void checkpoint_sqlite_resume_keeps_rows(void **state)
{
    fixture *fx = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/out.db", fx->dir);
    agora_sink *sink = make_sink(fx, "sqlite",
                                 "{\"path\": \"out.db\", \"table\": \"t\", "
                                 "\"mode\": \"replace\"}");
    write_through(fx, sink, false, "[{\"i\":0},{\"i\":1}]");
    write_through(fx, sink, true, "[{\"i\":2}]");
    assert_string_equal(sqlite_query(path, "SELECT group_concat(i) FROM t"),
                        "0,1,2");
    /* Without resume, replace empties the table as before. */
    write_through(fx, sink, false, "[{\"i\":9}]");
    assert_string_equal(sqlite_query(path, "SELECT group_concat(i) FROM t"), "9");
    agora_sink_free(sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(checkpoint_save_then_load, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_document_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_store_uses_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_load_missing_is_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_save_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_pipelines_are_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_reset_reports_absence, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_expired_row_is_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_open_missing_without_create, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_open_below_file_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_open_rejects_empty_path, setup, teardown),
        cmocka_unit_test(checkpoint_document_needs_value),
        cmocka_unit_test_setup_teardown(checkpoint_config_path_is_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_config_absent_is_null, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_config_rejects_zero_every, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_config_rejects_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_config_rejects_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_config_needs_path, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_config_must_be_table, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_jsonl_resume_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_jsonl_resume_cuts_partial_line, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_jsonl_partial_only_line, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_jsonl_fresh_run_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_csv_resume_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_sqlite_resume_keeps_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
