/*
 * Tests of the SQLite dead-letter queue: schema, row contents, transactions,
 * counts and error paths, checked with the sqlite3 command-line tool and the
 * SQLite C API against the column list documented in agora/dlq.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agora/dlq.h"
#include "agora/value.h"

typedef struct fixture {
    char dir[64];
    char db[128];
    agora_arena *arena;
    agora_error err;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/agora-test-dlq-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->db, sizeof(fx->db), "%s/state/dlq.db", fx->dir);
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

static agora_value *parse(fixture *fx, const char *json)
{
    agora_error err;
    agora_value *v = agora_json_parse(fx->arena, json, strlen(json), NULL, &err);

    if (v == NULL)
        fail_msg("test JSON does not parse: %s: %s", json, err.message);
    return v;
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

static bool have_sqlite3_tool(void)
{
    if (system("command -v sqlite3 >/dev/null 2>&1") == 0)
        return true;
    print_message("sqlite3 command-line tool not found: skipping\n");
    return false;
}

static agora_dlq *open_dlq(fixture *fx)
{
    agora_dlq *dlq;

    agora_error_clear(&fx->err);
    dlq = agora_dlq_open(fx->db, &fx->err);
    if (dlq == NULL)
        fail_msg("agora_dlq_open failed: %s", fx->err.message);
    return dlq;
}

static agora_dlq_entry minimal_entry(const char *pipeline_id)
{
    agora_dlq_entry e = {
        .pipeline_id = pipeline_id,
        .run_id = "0123456789abcdef0123456789abcdef",
        .stage = AGORA_STAGE_MIDDLEWARE,
        .error_type = "ValidationError",
        .error_message = "field 'year' is missing",
    };

    return e;
}

/* Every column of the documented table, in order: name|type|notnull|default|pk. */
static void dlq_schema_matches_documented_columns(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq;
    char *text;

    if (!have_sqlite3_tool())
        return;
    dlq = open_dlq(fx);
    agora_dlq_free(dlq);

    text = run_command("sqlite3 '%s' \"SELECT name, type, \\\"notnull\\\", "
                       "quote(dflt_value), pk FROM pragma_table_info('dlq_records')\"",
                       fx->db);
    assert_string_equal(text,
                        "id|INTEGER|0|NULL|1\n"
                        "pipeline_id|TEXT|1|NULL|0\n"
                        "run_id|TEXT|1|NULL|0\n"
                        "stage|TEXT|1|NULL|0\n"
                        "error_type|TEXT|1|NULL|0\n"
                        "error_message|TEXT|1|NULL|0\n"
                        "record|TEXT|0|NULL|0\n"
                        "original_record|TEXT|0|NULL|0\n"
                        "processed_record|TEXT|0|NULL|0\n"
                        "source|TEXT|0|NULL|0\n"
                        "checkpoint|TEXT|0|NULL|0\n"
                        "middleware|TEXT|0|NULL|0\n"
                        "sink|TEXT|0|NULL|0\n"
                        "created_at|TEXT|1|NULL|0\n"
                        "attempt|INTEGER|1|'0'|0\n"
                        "max_attempts|INTEGER|0|NULL|0\n");
    free(text);

    /* AUTOINCREMENT shows in the stored CREATE statement only. */
    text = run_command("sqlite3 '%s' \"SELECT sql LIKE '%%id INTEGER PRIMARY KEY "
                       "AUTOINCREMENT%%' FROM sqlite_master WHERE name = "
                       "'dlq_records'\"", fx->db);
    assert_string_equal(text, "1\n");
    free(text);

    text = run_command("sqlite3 '%s' \"SELECT group_concat(ii.name, ',') FROM "
                       "pragma_index_list('dlq_records') AS il, "
                       "pragma_index_info(il.name) AS ii WHERE il.origin = 'c'\"",
                       fx->db);
    assert_string_equal(text, "pipeline_id,stage\n");
    free(text);

    text = run_command("sqlite3 '%s' 'PRAGMA journal_mode'", fx->db);
    assert_string_equal(text, "wal\n");
    free(text);
}

static void dlq_write_stores_all_fields(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq;
    agora_dlq_entry e;
    char *text;

    if (!have_sqlite3_tool())
        return;
    dlq = open_dlq(fx);
    e = minimal_entry("movies");
    e.stage = AGORA_STAGE_SINK_WRITE;
    e.error_type = "SinkError";
    e.error_message = "table \"t\" rejected the record: UNIQUE failed";
    e.record = parse(fx, "{\"title\":\"Heat\",\"year\":1995,\"r\":7.5}");
    e.original_record = parse(fx, "{\"title\":\" Heat \",\"tags\":[\"a\",null]}");
    e.processed_record = parse(fx, "{\"title\":\"Heat\",\"ok\":true}");
    e.source = "jsonl";
    e.checkpoint = "{\"line\":42}";
    e.middleware = "validate";
    e.sink = "db";

    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);

    text = run_command("sqlite3 -separator ' ~ ' '%s' 'SELECT id, pipeline_id, "
                       "run_id, stage, error_type, error_message, record, "
                       "original_record, processed_record, source, checkpoint, "
                       "middleware, sink, attempt, quote(max_attempts) FROM "
                       "dlq_records'", fx->db);
    assert_string_equal(text,
                        "1 ~ movies ~ 0123456789abcdef0123456789abcdef ~ "
                        "sink_write ~ SinkError ~ table \"t\" rejected the "
                        "record: UNIQUE failed ~ "
                        "{\"title\":\"Heat\",\"year\":1995,\"r\":7.5} ~ "
                        "{\"title\":\" Heat \",\"tags\":[\"a\",null]} ~ "
                        "{\"title\":\"Heat\",\"ok\":true} ~ jsonl ~ "
                        "{\"line\":42} ~ validate ~ db ~ 0 ~ NULL\n");
    free(text);

    /* The stored record is JSON that SQLite's own parser accepts. */
    text = run_command("sqlite3 '%s' \"SELECT json_extract(record, '$.year'), "
                       "json_extract(original_record, '$.tags[0]') FROM "
                       "dlq_records\"", fx->db);
    assert_string_equal(text, "1995|a\n");
    free(text);
}

/* created_at: UTC ISO 8601 with microseconds, whatever the local time zone. */
static void dlq_created_at_is_utc_iso8601(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq;
    agora_dlq_entry e = minimal_entry("p");
    regex_t re;
    char *text;

    if (!have_sqlite3_tool())
        return;
    setenv("TZ", "XYZ+05", 1);
    tzset();
    dlq = open_dlq(fx);
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);
    unsetenv("TZ");
    tzset();

    text = run_command("sqlite3 '%s' 'SELECT created_at FROM dlq_records'", fx->db);
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                             "[0-9]{2}\\.[0-9]{6}\\+00:00\n$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("created_at has the wrong form: %s", text);
    regfree(&re);
    free(text);

    /* SQLite's clock agrees within an hour, which a local-time bug (5 h) breaks. */
    text = run_command("sqlite3 '%s' \"SELECT abs(julianday(created_at) - "
                       "julianday('now')) < 1.0 / 24 FROM dlq_records\"", fx->db);
    assert_string_equal(text, "1\n");
    free(text);
}

static void dlq_raw_record_stored_verbatim(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq;
    agora_dlq_entry e = minimal_entry("p");
    static const char raw[] = "{\"broken\": tru";
    sqlite3 *db;
    sqlite3_stmt *stmt;

    dlq = open_dlq(fx);
    e.stage = AGORA_STAGE_SOURCE;
    e.error_type = "ParseError";
    e.record_raw = raw;
    e.record_raw_len = sizeof(raw) - 1;
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);

    assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT record, original_record, "
                                            "processed_record, sink, stage "
                                            "FROM dlq_records", -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), raw);
    assert_int_equal(sqlite3_column_type(stmt, 1), SQLITE_NULL);
    assert_int_equal(sqlite3_column_type(stmt, 2), SQLITE_NULL);
    assert_int_equal(sqlite3_column_type(stmt, 3), SQLITE_NULL);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 4), "source");
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void dlq_count_per_pipeline(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry a = minimal_entry("a");
    agora_dlq_entry b = minimal_entry("b");

    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 0);
    assert_int_equal(agora_dlq_begin(dlq, &fx->err), 0);
    assert_int_equal(agora_dlq_write(dlq, &a, &fx->err), 0);
    assert_int_equal(agora_dlq_write(dlq, &b, &fx->err), 0);
    assert_int_equal(agora_dlq_write(dlq, &a, &fx->err), 0);
    assert_int_equal(agora_dlq_commit(dlq, &fx->err), 0);

    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 3);
    assert_int_equal(agora_dlq_count(dlq, "a", &fx->err), 2);
    assert_int_equal(agora_dlq_count(dlq, "b", &fx->err), 1);
    assert_int_equal(agora_dlq_count(dlq, "c", &fx->err), 0);
    assert_string_equal(agora_dlq_path(dlq), fx->db);
    agora_dlq_free(dlq);
}

/* Free drops the rows of an uncommitted transaction but keeps earlier rows. */
static void dlq_uncommitted_rows_roll_back(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry e = minimal_entry("p");

    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    assert_int_equal(agora_dlq_begin(dlq, &fx->err), 0);
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);

    dlq = open_dlq(fx);
    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 1);
    agora_dlq_free(dlq);
}

static void dlq_reopen_keeps_rows(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry e = minimal_entry("p");

    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);

    dlq = open_dlq(fx);
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    assert_int_equal(agora_dlq_count(dlq, "p", &fx->err), 2);
    agora_dlq_free(dlq);
}

/* Two handles on one file (two pipelines of a worker) both get their rows in. */
static void dlq_two_handles_share_file(void **state)
{
    fixture *fx = *state;
    agora_dlq *first = open_dlq(fx);
    agora_dlq *second = open_dlq(fx);
    agora_dlq_entry a = minimal_entry("a");
    agora_dlq_entry b = minimal_entry("b");

    assert_int_equal(agora_dlq_write(first, &a, &fx->err), 0);
    assert_int_equal(agora_dlq_write(second, &b, &fx->err), 0);
    assert_int_equal(agora_dlq_count(first, NULL, &fx->err), 2);
    agora_dlq_free(first);
    agora_dlq_free(second);
}

/* A write that the database rejects (table dropped behind the handle's back). */
static void dlq_write_failure_names_path(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry e = minimal_entry("p");
    sqlite3 *other = NULL;

    assert_int_equal(sqlite3_open(fx->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "DROP TABLE dlq_records", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(other);

    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), AGORA_EDLQ);
    assert_non_null(strstr(fx->err.message, fx->db));
    assert_non_null(strstr(fx->err.message, "dlq_records"));
    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), -1);
    assert_int_equal(fx->err.code, AGORA_EDLQ);
    agora_dlq_free(dlq);
}

static void dlq_missing_required_field_rejected(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry e = minimal_entry("p");

    e.error_type = NULL;
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), AGORA_EINVAL);
    assert_non_null(strstr(fx->err.message, "error_type"));
    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 0);
    agora_dlq_free(dlq);
}

static void dlq_commit_without_begin_fails(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);

    assert_int_equal(agora_dlq_commit(dlq, &fx->err), AGORA_ESTATE);
    assert_int_equal(agora_dlq_begin(dlq, &fx->err), 0);
    assert_int_equal(agora_dlq_begin(dlq, &fx->err), AGORA_ESTATE);
    assert_int_equal(agora_dlq_commit(dlq, &fx->err), 0);
    agora_dlq_free(dlq);
}

static void dlq_open_failure_names_path(void **state)
{
    fixture *fx = *state;
    char plain[128], path[160];
    FILE *f;

    /* A regular file where a directory should be fails even for root. */
    snprintf(plain, sizeof(plain), "%s/plain", fx->dir);
    f = fopen(plain, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/dlq.db", plain);

    agora_error_clear(&fx->err);
    assert_null(agora_dlq_open(path, &fx->err));
    assert_true(fx->err.code < 0);
    assert_non_null(strstr(fx->err.message, path));
}

static void dlq_not_a_database_fails(void **state)
{
    fixture *fx = *state;
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/garbage.db", fx->dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an SQLite database, just some text that is long "
          "enough to fill the header of one.................................\n",
          f);
    fclose(f);

    agora_error_clear(&fx->err);
    assert_null(agora_dlq_open(path, &fx->err));
    assert_int_equal(fx->err.code, AGORA_EDLQ);
    assert_non_null(strstr(fx->err.message, path));
}

static void dlq_free_accepts_null(void **state)
{
    agora_dlq_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dlq_schema_matches_documented_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_write_stores_all_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_created_at_is_utc_iso8601, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_raw_record_stored_verbatim, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_count_per_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_uncommitted_rows_roll_back, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_reopen_keeps_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_two_handles_share_file, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_write_failure_names_path, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_missing_required_field_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_commit_without_begin_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_open_failure_names_path, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_not_a_database_fails, setup, teardown),
        cmocka_unit_test(dlq_free_accepts_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
